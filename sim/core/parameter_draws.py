"""Per-run parameter draws from a posterior, with common random numbers.

A scenario that names a posterior (``posterior = "DIR"``, :mod:`sim.inputs.posterior`) and
does not ask for ``fixed_parameters`` gives each run its own particle. Run ``r`` of seed
``s`` takes particle

    i_r = min(searchsorted(cumsum(w), u_r, side="right"), last particle with w > 0)

with ``w`` the normalised weights and ``u_r`` the first uniform of the run's own stream
``SeedSequence(s, spawn_key=(r, k_parameters))`` (:func:`sim.core.rng.run_uniforms`), so
``P(i_r = i) = w_i`` and the draw depends only on (seed, r): not on batch size, chunking,
worker processes or the scenario. Baseline run ``r`` and counterfactual run ``r`` therefore
share their particle, as they share every other random stream.

A run's drawn parameters are the particle's values of the calibrated parameters that are not
the scenario's levers (:attr:`sim.inputs.scenario.Scenario.levers`: set by a file below the
one naming the posterior, or by a sweep's design); the others keep the scenario's value.
Every drawn parameter must be batchable (:data:`sim.core.stacking.BATCHABLE`), so a batch of
runs with different draws stays one engine batch: :func:`drawn_world` stacks the per-run
values into ``(runs, 1)`` arrays, with each run's capability anchor, seeded robustness and
initial state (:func:`sim.core.world.with_params`), bit for bit what a batch of the one run
at those values written in its scenario gives.

Every path that simulates goes through this module: the engine's ``simulate_world`` (and so
``opengap run``, ``compare``, ``bets`` and the dashboard's ensemble), sweeps' stacked
batches, the dashboard's stepped world and the Mesa model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from sim.core.params import engine_value
from sim.core.rng import run_uniforms
from sim.core.stacking import BATCHABLE, concat_states, stacked_world
from sim.core.world import World, WorldState, initial_state, with_params
from sim.inputs.posterior import TABLE_FILE, Posterior, PosteriorError, load_posterior
from sim.inputs.scenario import Scenario
from sim.inputs.seeds import Seeds

#: The random stream a run's particle is drawn from (:data:`sim.core.rng.STREAMS`).
STREAM = "parameters"


@dataclass(frozen=True)
class Draws:
    """What the runs of a scenario draw from its posterior.

    ``names`` (D,): the drawn parameters (``table.field``, schema units), ``columns`` their
    columns in ``posterior.values``, ``engine`` their :class:`~sim.core.world.Params` fields;
    ``held``: calibrated parameters the scenario sets itself (levers), not drawn.
    """

    posterior: Posterior
    names: tuple[str, ...]
    columns: tuple[int, ...]
    engine: tuple[str, ...]
    held: tuple[str, ...]

    def indices(self, seed: int, run_ids: np.ndarray | Sequence[int]) -> np.ndarray:
        """(R,) int64 particle of each run (:func:`particle_indices`)."""
        return particle_indices(self.posterior.weights, seed, run_ids)

    def values(self, indices: np.ndarray) -> np.ndarray:
        """(R, D) the drawn parameters' values (schema units) of particles ``indices``."""
        return self.posterior.values[np.asarray(indices)][:, list(self.columns)]

    def describe(self) -> dict[str, Any]:
        """For a manifest: the posterior (path, label, cut, sha256) and the parameters drawn
        and held."""
        return {**self.posterior.describe(), "drawn": list(self.names), "held": list(self.held)}


def particle_indices(weights: np.ndarray, seed: int,
                     run_ids: np.ndarray | Sequence[int]) -> np.ndarray:
    """(R,) the particle of each run: ``searchsorted(cumsum(w), u_r, side="right")`` with
    ``u_r`` the run's first uniform of stream :data:`STREAM`; a ``u_r`` past the last
    cumulative weight (rounding) takes the last particle of positive weight."""
    w = np.asarray(weights, dtype=float)
    u = run_uniforms(seed, run_ids, STREAM)
    last = int(np.flatnonzero(w > 0)[-1])
    return np.minimum(np.searchsorted(np.cumsum(w), u, side="right"), last).astype(np.int64)


def scenario_draws(scenario: Scenario) -> Draws | None:
    """The draws of ``scenario``: None at fixed parameters (no posterior, or
    ``fixed_parameters``); a :class:`~sim.inputs.posterior.PosteriorError` (one line, exit
    2) for a posterior folder that cannot be used or a drawn parameter that is not
    batchable."""
    if scenario.posterior is None or scenario.fixed_parameters:
        return None
    posterior = load_posterior(scenario.posterior)
    names, columns, engine, held = [], [], [], []
    for j, name in enumerate(posterior.names):
        if name in scenario.levers:
            held.append(name)
            continue
        field, _ = engine_value(name, 0.0)
        if field not in BATCHABLE:
            raise PosteriorError(
                f"{Path(posterior.path) / TABLE_FILE}: column {name}: not a batchable parameter "
                "(runs with different values of it cannot share an engine batch); allowed: "
                "the parameters of sim.core.stacking.BATCHABLE, or set it in the scenario "
                "(a lever) so that it is not drawn")
        names.append(name)
        columns.append(j)
        engine.append(field)
    return Draws(posterior, tuple(names), tuple(columns), tuple(engine), tuple(held))


def drawn_world(worlds: Sequence[World], seeds: Seeds, draws: Draws, seed: int,
                run_ids: np.ndarray | Sequence[int]) -> tuple[World, WorldState]:
    """One world and initial state for runs ``run_ids``, run ``j`` being ``worlds[j]`` (a
    scenario's world, or a sweep's parameter set) with the drawn parameters of its particle:
    fields that differ between runs become ``(runs, 1)`` arrays (:func:`stacked_world`),
    each run starts from its own initial state. Each distinct (world, particle) is built once."""
    run_ids = np.asarray(run_ids, dtype=np.int64)
    if len(worlds) != len(run_ids):
        raise ValueError("drawn_world needs one world per run")
    indices = draws.indices(seed, run_ids)
    values = draws.values(indices)
    built: dict[tuple[int, int], int] = {}
    unique_worlds: list[World] = []
    states: list[WorldState] = []
    slot = np.empty(len(run_ids), dtype=np.int64)
    for j, (world, particle) in enumerate(zip(worlds, indices, strict=True)):
        key = (id(world), int(particle))
        if key not in built:
            converted = dict(engine_value(name, float(v))
                             for name, v in zip(draws.names, values[j], strict=True))
            w = with_params(world, seeds, replace(world.params, **converted))
            built[key] = len(unique_worlds)
            unique_worlds.append(w)
            states.append(initial_state(w, seeds, 1))
        slot[j] = built[key]
    stacked = stacked_world([unique_worlds[k] for k in slot], 1)
    state = concat_states(states).select(slot)
    return stacked, state


def runs_world(scenario: Scenario, world: World, seeds: Seeds, seed: int,
               run_ids: np.ndarray | Sequence[int]) -> tuple[World, WorldState | None]:
    """``world`` and its initial state for runs ``run_ids`` of ``scenario``: under posterior
    draws the stacked world of :func:`drawn_world` and its state; at fixed parameters
    ``(world, None)`` (the engine seeds its initial state itself)."""
    draws = scenario_draws(scenario)
    if draws is None:
        return world, None
    return drawn_world([world] * len(run_ids), seeds, draws, seed, run_ids)


def run_draws_table(scenario: Scenario, seed: int,
                    run_ids: np.ndarray | Sequence[int]) -> dict[str, np.ndarray] | None:
    """Columns of the per-run draw table (``parameter_draws.parquet``): ``run``,
    ``particle``, and one column per drawn parameter (schema units); None at fixed
    parameters."""
    draws = scenario_draws(scenario)
    if draws is None:
        return None
    runs = np.asarray(run_ids, dtype=np.int64)
    indices = draws.indices(seed, runs)
    values = draws.values(indices)
    return {"run": runs, "particle": indices,
            **{name: values[:, j] for j, name in enumerate(draws.names)}}


def parameters_note(scenario: Scenario) -> dict[str, Any]:
    """What a manifest records about a scenario's parameters: ``{"parameters": "posterior"
    | "fixed", "posterior": {path, label, cut, sha256, particles, parameters, drawn, held}
    or None}``."""
    draws = scenario_draws(scenario)
    if draws is None:
        return {"parameters": "fixed", "posterior": None}
    return {"parameters": "posterior", "posterior": draws.describe()}


def parameters_phrase(scenario: Scenario) -> str:
    """``"parameters drawn from the posterior (LABEL)"`` or ``"at fixed parameters"``."""
    draws = scenario_draws(scenario)
    if draws is None:
        return "at fixed parameters"
    return f"parameters drawn from the posterior ({draws.posterior.label})"


def band_note(scenario: Scenario, n_runs: int, band: str = "10-90%") -> str:
    """What a figure's bands are: ``"10-90% over N runs, parameters drawn from the posterior
    (LABEL)"`` or ``"10-90% over N runs at fixed parameters"``."""
    phrase = parameters_phrase(scenario)
    sep = " " if phrase.startswith("at ") else ", "
    return f"{band} over {n_runs} runs{sep}{phrase}"
