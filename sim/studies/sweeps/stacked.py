"""Many parameter sets through the vectorized engine at once.

Which parameters may differ between the runs of one batch, and why a run's numbers are then
bit for bit those of a batch holding only its own parameter set, is explained once in
:mod:`sim.core.stacking` (``BATCHABLE``; ``tests/test_stacked.py`` checks every field against
separate simulations). Parameter sets that differ in any other field go to separate batches.

:func:`simulate_sets` groups parameter sets that share a world (equal population,
schedule and non-batchable parameters), stacks each group's differing batchable
fields into ``(runs, 1)`` arrays, and runs the group as one batch in which replicate ``j``
of every set is engine run ``j`` (same random numbers as ``simulate(scenario_i, seed)``).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from sim.core.engine import Results, simulate_world
from sim.core.parameter_draws import drawn_world, scenario_draws
from sim.core.stacking import (  # noqa: F401  (BATCHABLE, world_key: re-exported)
    BATCHABLE,
    concat_states,
    stacked_world,
    world_key,
)
from sim.core.world import World, initial_state
from sim.inputs.scenario import Scenario
from sim.inputs.seeds import Seeds


def simulate_stack(scenarios: Sequence[Scenario], worlds: Sequence[World], replicates: int,
                   seed: int, seeds: Seeds, first_replicate: int = 0) -> Results:
    """Simulate replicates ``first_replicate .. first_replicate + replicates - 1`` of each
    scenario (all sharing one world key) in one batch, set by set. Under posterior draws
    replicate ``j`` of every set takes run ``j``'s draw of the parameters the design does
    not set (:func:`sim.core.parameter_draws.drawn_world`; the design's parameters are the
    scenarios' levers)."""
    run_ids = np.tile(np.arange(first_replicate, first_replicate + replicates), len(worlds))
    draws = scenario_draws(scenarios[0])
    if draws is not None:
        per_run = [w for w in worlds for _ in range(replicates)]
        world, state = drawn_world(per_run, seeds, draws, seed, run_ids)
        return simulate_world(scenarios[0], world, seeds=seeds, seed=seed, run_ids=run_ids,
                              state=state)
    world = stacked_world(worlds, replicates)
    state = concat_states([initial_state(w, seeds, replicates) for w in worlds])
    return simulate_world(scenarios[0], world, seeds=seeds, seed=seed, run_ids=run_ids,
                          state=state)


def group_by_world(worlds: Sequence[World], max_sets: int) -> list[list[int]]:
    """Indices of ``worlds`` grouped by :func:`world_key`, in first-seen order, each group
    at most ``max_sets`` long."""
    groups: dict[str, list[list[int]]] = {}
    for i, w in enumerate(worlds):
        lists = groups.setdefault(world_key(w), [[]])
        if len(lists[-1]) == max_sets:
            lists.append([])
        lists[-1].append(i)
    return [g for lists in groups.values() for g in lists]
