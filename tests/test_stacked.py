"""Stacked batches (several parameter sets in one engine batch) give every run exactly the
numbers of a batch holding only its own parameter set."""

from __future__ import annotations

from dataclasses import fields, replace

import numpy as np
import pytest

from sim.core.engine import simulate_world
from sim.core.world import Params, build_world
from sim.studies.sweeps.stacked import BATCHABLE, group_by_world, simulate_stack, world_key


def _variant(world, factor: float):
    """The world with every batchable parameter moved by ``factor`` (kept valid)."""
    changes = {}
    for name in BATCHABLE:
        value = getattr(world.params, name)
        if name.endswith("_scale") and value == 1.0:  # a multiplier at its default
            changes[name] = value * factor
        elif isinstance(value, int):
            changes[name] = max(0, value + (1 if factor > 1 else -1))
        elif 0 < value <= 1 and factor > 1:
            changes[name] = value + (1 - value) * (factor - 1)  # stays a valid share
        else:
            changes[name] = value * factor
    return replace(world, params=replace(world.params, **changes))


def test_batchable_names_are_params_fields() -> None:
    assert BATCHABLE <= {f.name for f in fields(Params)}


def test_stacked_batch_equals_separate_batches_bit_for_bit(small_scenario, seeds) -> None:
    base = build_world(small_scenario, seeds)
    worlds = [base, _variant(base, 0.6), _variant(base, 1.3)]
    # As build_world would: the anchor follows the parameters.
    worlds = [replace(w, initial_anchor=build_world(small_scenario, seeds).initial_anchor
                      + 0.7 * i) for i, w in enumerate(worlds)]
    assert len({world_key(w) for w in worlds}) == 1
    for name in BATCHABLE:  # every batchable field really differs between the sets
        assert len({getattr(w.params, name) for w in worlds}) > 1, name
    reps = 3
    stacked = simulate_stack([small_scenario] * 3, worlds, reps, 17, seeds)
    for i, world in enumerate(worlds):
        alone = simulate_world(small_scenario, world, seeds=seeds, seed=17,
                               run_ids=np.arange(reps))  # its own initial state
        rows = slice(i * reps, (i + 1) * reps)
        for key, value in alone.arrays.items():
            mine = stacked.arrays[key][rows]
            assert mine.shape == value.shape, key
            if value.dtype.kind == "f":
                assert np.array_equal(mine.view(np.uint64), value.view(np.uint64)), key
            else:
                assert np.array_equal(mine, value), key


@pytest.mark.parametrize("path, value", [
    ("capability.fast_follow_lag_months", 3),
    ("time.end", "2027-03"),
    ("population.buyers_per_segment", 7),
    ("policy.safety_shock_rate_per_year", 2.0),
])
def test_sets_that_shape_the_world_go_to_separate_batches(small_scenario, seeds, path,
                                                         value) -> None:
    worlds = [build_world(s, seeds) for s in
              (small_scenario, small_scenario.with_overrides({path: value}),
               small_scenario.with_overrides({"capability.distill_efficiency": 0.5}))]
    assert group_by_world(worlds, max_sets=10) == [[0, 2], [1]]
    assert group_by_world(worlds, max_sets=1) == [[0], [2], [1]]
