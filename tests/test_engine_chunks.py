"""``simulate`` goes through a batch in chunks of ``CHUNK_RUNS`` runs; the chunking must not
show in the results or in the progress reported."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from sim.core import engine
from sim.core.engine import simulate
from sim.core.world import build_world
from sim.inputs.scenario import Scenario
from sim.inputs.seeds import Seeds
from sim.studies.sweeps.stacked import simulate_stack


def test_chunked_batch_equals_one_chunk(small_scenario: Scenario, seeds: Seeds,
                                        monkeypatch) -> None:
    whole = simulate(small_scenario, n_runs=7, first_run=2, seed=5, seeds=seeds)
    monkeypatch.setattr(engine, "CHUNK_RUNS", 3)
    calls: list[tuple[int, int]] = []
    chunked = simulate(small_scenario, n_runs=7, first_run=2, seed=5, seeds=seeds,
                       progress=lambda done, total: calls.append((done, total)))
    assert whole.arrays.keys() == chunked.arrays.keys()
    for name in whole.arrays:
        np.testing.assert_array_equal(whole.arrays[name], chunked.arrays[name], err_msg=name)
    months = whole.n_months
    assert len(calls) == 3 * months  # chunks of 3, 3 and 1 runs
    assert all(total == 7 * months for _, total in calls)
    done = [d for d, _ in calls]
    assert done == sorted(done) and done[-1] == 7 * months


def test_chunked_stacked_sets_equal_one_chunk(small_scenario: Scenario, seeds: Seeds,
                                              monkeypatch) -> None:
    """Stacked parameter sets (per-run parameters, anchor and initial state) cut into
    chunks that split a set's replicates."""
    base = build_world(small_scenario, seeds)
    other = replace(base, params=replace(base.params, distill_efficiency=0.2,
                                         raise_base_probability=0.1),
                    initial_anchor=base.initial_anchor + 0.5)
    whole = simulate_stack([small_scenario] * 2, [base, other], 3, 11, seeds)
    monkeypatch.setattr(engine, "CHUNK_RUNS", 4)
    chunked = simulate_stack([small_scenario] * 2, [base, other], 3, 11, seeds)
    for name in whole.arrays:
        np.testing.assert_array_equal(whole.arrays[name], chunked.arrays[name], err_msg=name)
    assert not np.array_equal(whole.arrays["cash"][:3], whole.arrays["cash"][3:])
