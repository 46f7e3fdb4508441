"""Runs with different parameter values in one engine batch.

The engine's mechanisms read scalar parameters from :class:`sim.core.world.Params`. Most of them
only ever multiply, add to or compare with arrays shaped ``(runs, labs)``, ``(runs,
sovereigns)`` or ``(runs, regions)``; for those, a ``(runs, 1)`` array of per-run values
broadcasts exactly like the scalar and each element meets the same IEEE operations in the
same order, so a run's numbers are bit for bit those of a batch holding only its own
parameter set. :data:`BATCHABLE` lists these fields (``tests/test_stacked.py`` checks every
one against separate simulations). Some of them also set the capability anchor and the
initial state: the anchor (and the seeded robustness the first month's brand calibration
reads) is stacked the same way and each set starts from its own initial state. The others
shape the world itself (buffer lengths, the horizon, the population, scheduled events), enter
through ``**`` or feed arrays of other shapes; worlds that differ in them cannot share a batch.

Sweeps (:mod:`sim.studies.sweeps.stacked`) and per-run parameter draws from a posterior
(:mod:`sim.core.parameter_draws`) both stack their worlds with :func:`stacked_world`.
"""

from __future__ import annotations

import hashlib
import pickle
from collections.abc import Sequence
from dataclasses import fields, replace
from typing import Any

import numpy as np

from sim.core.world import World, WorldState

#: Params fields that may differ between the runs of one batch (see the module docstring).
BATCHABLE: frozenset[str] = frozenset({
    "acquisition_probability", "algo_progress_per_month",
    "depreciation_per_month", "distill_efficiency", "distill_robust_carry",
    "fast_follow_rate", "flywheel_points_per_month", "flywheel_retention",
    "narrative_points_scale", "non_compute_cost_ratio", "open_capture_share",
    "open_flywheel_factor", "opex_usd_bn_per_h100e_month", "pressure_retention",
    "raise_base_probability", "release_noise_points",
    "runway_trigger_months", "sentiment_reversion_per_month",
    "sentiment_volatility", "usage_scale_t_tokens",
    # The demand core's multipliers on the seeded per-segment values (mechanism 5).
    "adoption_growth_scale", "capability_pull_scale", "price_elasticity_scale",
    # These also set the capability anchor and the initial state, which are stacked too.
    "eci_per_log10_flop", "bench_focus_points", "robust_cost_points", "training_share",
    "flop_per_h100e_month",
})


def world_key(world: World) -> str:
    """Digest of everything in ``world`` except its batchable parameters and the anchor (a
    function of the population and the parameters): worlds with equal keys can share a
    batch."""
    rest = {f.name: getattr(world, f.name) for f in fields(world)
            if f.name not in ("params", "initial_anchor", "start_robust")}
    fixed = {f.name: getattr(world.params, f.name) for f in fields(world.params)
             if f.name not in BATCHABLE}
    blob = pickle.dumps((sorted(rest.items()), sorted(fixed.items())), protocol=5)
    return hashlib.sha256(blob).hexdigest()


def stacked_world(worlds: Sequence[World], replicates: int) -> World:
    """One world whose differing batchable parameters (and anchor) are ``(sets x
    replicates, 1)`` arrays, set ``i``'s values in rows ``i * replicates .. (i + 1) *
    replicates - 1``."""
    first = worlds[0].params
    stacked: dict[str, Any] = {}
    for f in fields(first):
        values = [getattr(w.params, f.name) for w in worlds]
        if any(v != values[0] for v in values[1:]):
            if f.name not in BATCHABLE:
                raise ValueError(f"parameter {f.name} differs between the worlds of a batch")
            stacked[f.name] = np.repeat(np.asarray(values), replicates)[:, None]
    anchors = [w.initial_anchor for w in worlds]
    anchor: Any = anchors[0]
    if any(a != anchor for a in anchors[1:]):
        anchor = np.repeat(np.asarray(anchors), replicates)[:, None]
    # The seeded robustness depends on batchable parameters too: per run where it differs
    # (the first month's brand calibration reads it, mechanism 5).
    robust = worlds[0].start_robust
    if any(not np.array_equal(w.start_robust, robust) for w in worlds[1:]):
        robust = np.repeat(np.stack([w.start_robust for w in worlds]), replicates, axis=0)
    return replace(worlds[0], params=replace(first, **stacked), initial_anchor=anchor,
                   start_robust=robust)


def concat_states(states: Sequence[WorldState]) -> WorldState:
    """The states of several batches as one batch (runs in order, the first axis of every
    array field)."""
    out: dict[str, Any] = {}
    for f in fields(WorldState):
        values = [getattr(s, f.name) for s in states]
        if isinstance(values[0], np.ndarray):
            out[f.name] = np.concatenate(values, axis=0)
        else:
            if any(v != values[0] for v in values[1:]):
                raise ValueError(f"state field {f.name} differs between batches")
            out[f.name] = values[0]
    return WorldState(**out)
