"""Reproducibility: a run's numbers depend only on (scenario, seed, run number)."""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pytest

from sim.core.engine import Results, simulate, step
from sim.core.rng import BLOCK_MONTHS, RandomStreams
from sim.core.world import build_world, initial_state
from sim.inputs.scenario import Scenario
from sim.inputs.seeds import Seeds

SEED = 20260401
R = 4

# A small world with a few scheduled events so that every mechanism has something to do.
EVENTS = [
    {"kind": "ban", "month": "2026-09", "sovereign": "US", "threshold_flop": 1e26,
     "enforcement": 0.7},
    {"kind": "funding_shock", "month": "2026-07", "region": "CN", "size": 0.5,
     "half_life_months": 6.0},
    {"kind": "distillation_crackdown", "month": "2026-11", "sovereign": "US",
     "enforcement": 0.2},
    {"kind": "safety_shock", "month": "2026-05", "size": 3.0},
]


@pytest.fixture(scope="module")
def scenario(small_scenario: Scenario) -> Scenario:
    events = [e.model_dump(mode="json") for e in small_scenario.events] + EVENTS
    # Enough volatility that runs differ visibly; a horizon that spans two draw blocks.
    return small_scenario.with_overrides({
        "events": events, "funding.sentiment_volatility": 0.3,
        "policy.safety_shock_rate_per_year": 6.0, "time.end": "2027-09",
    })


@pytest.fixture(scope="module")
def batch(scenario: Scenario, seeds: Seeds) -> Results:
    return simulate(scenario, n_runs=R, seed=SEED, seeds=seeds)


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray],
                 rows: slice = slice(None)) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name][rows], b[name], err_msg=name)


def test_horizon_spans_several_draw_blocks(batch: Results) -> None:
    assert batch.n_months > BLOCK_MONTHS


def test_same_seed_same_results(scenario: Scenario, seeds: Seeds, batch: Results) -> None:
    again = simulate(scenario, n_runs=R, seed=SEED, seeds=seeds)
    _assert_same(batch.arrays, again.arrays)
    np.testing.assert_array_equal(again.run_ids, np.arange(R))


def test_seeds_loaded_lazily_give_same_results(scenario: Scenario, batch: Results) -> None:
    _assert_same(batch.arrays, simulate(scenario, n_runs=R, seed=SEED).arrays)


def test_different_seed_different_results(scenario: Scenario, seeds: Seeds,
                                          batch: Results) -> None:
    other = simulate(scenario, n_runs=R, seed=SEED + 1, seeds=seeds)
    for name in ("cash", "tokens", "sentiment", "bench_frontier"):
        assert not np.array_equal(batch.arrays[name], other.arrays[name]), name


def test_runs_in_a_batch_differ(batch: Results) -> None:
    cash = batch.arrays["cash"]
    for r in range(1, R):
        assert not np.array_equal(cash[0], cash[r])


def test_batch_equals_single_runs(scenario: Scenario, seeds: Seeds, batch: Results) -> None:
    for r in range(R):
        single = simulate(scenario, n_runs=1, first_run=r, seed=SEED, seeds=seeds)
        np.testing.assert_array_equal(single.run_ids, [r])
        _assert_same(batch.arrays, single.arrays, rows=slice(r, r + 1))


@pytest.mark.parametrize("split", [1, 2, 3])
def test_split_batch_equals_whole(scenario: Scenario, seeds: Seeds, batch: Results,
                                  split: int) -> None:
    head = simulate(scenario, n_runs=split, first_run=0, seed=SEED, seeds=seeds)
    tail = simulate(scenario, n_runs=R - split, first_run=split, seed=SEED, seeds=seeds)
    np.testing.assert_array_equal(tail.run_ids, np.arange(split, R))
    _assert_same(batch.arrays, head.arrays, rows=slice(0, split))
    _assert_same(batch.arrays, tail.arrays, rows=slice(split, R))


def test_run_numbers_beyond_batch(scenario: Scenario, seeds: Seeds) -> None:
    """Run 9 is the same whether simulated alone or inside a wide batch of runs 3..18."""
    wide = simulate(scenario, n_runs=16, first_run=3, seed=SEED, seeds=seeds)
    alone = simulate(scenario, n_runs=1, first_run=9, seed=SEED, seeds=seeds)
    _assert_same(wide.arrays, alone.arrays, rows=slice(6, 7))


def test_common_random_numbers_across_scenarios(scenario: Scenario, seeds: Seeds) -> None:
    """A parameter that no random draw depends on does not shift any stream: a change in
    the flywheel's gain (which acts after the month's market) leaves the month-0 buyer
    choices and the shocks the same."""
    other = scenario.with_overrides({"capability.flywheel_points_per_month": 0.5})
    a = simulate(scenario, n_runs=2, seed=SEED, seeds=seeds).arrays
    b = simulate(other, n_runs=2, seed=SEED, seeds=seeds).arrays
    np.testing.assert_array_equal(a["safety_shocks"], b["safety_shocks"])
    np.testing.assert_array_equal(a["sentiment"], b["sentiment"])
    np.testing.assert_array_equal(a["tokens"][:, 0], b["tokens"][:, 0])


def test_random_streams_independent_of_batch(seeds: Seeds) -> None:
    sizes = dict(n_labs=5, n_regions=7, n_buyers=9, n_sovereigns=4)
    batch = RandomStreams(7, [0, 1, 2], **sizes)
    singles = [RandomStreams(7, [r], **sizes) for r in range(3)]
    for t in range(2 * BLOCK_MONTHS + 1):
        drawn = batch.month(t)
        for r, single in enumerate(singles):
            one = single.month(t)
            for name in ("shock_u", "sentiment_z", "raise_u", "acquire_u", "release_u",
                         "release_z", "choice_u", "decision_u", "funding_shock_u"):
                np.testing.assert_array_equal(getattr(drawn, name)[r], getattr(one, name)[0])


def test_random_streams_must_be_drawn_in_order() -> None:
    streams = RandomStreams(1, [0], n_labs=2, n_regions=7, n_buyers=3, n_sovereigns=2)
    streams.month(0)
    with pytest.raises(ValueError):
        streams.month(BLOCK_MONTHS + 1)


def test_batch_state_is_bit_identical(scenario: Scenario, seeds: Seeds) -> None:
    """Stepping runs 0..3 together or run 2 alone gives bit-identical state and flows."""
    world = build_world(scenario, seeds)
    pop = world.population

    def start(run_ids: list[int]):
        streams = RandomStreams.for_population(SEED, run_ids, pop)
        return initial_state(world, seeds, len(run_ids)), streams

    whole, whole_rng = start([0, 1, 2, 3])
    alone, alone_rng = start([2])
    for t in range(world.params.n_months):
        whole, whole_flows = step(world, whole, whole_rng.month(t))
        alone, alone_flows = step(world, alone, alone_rng.month(t))
        for f in fields(whole):
            value = getattr(whole, f.name)
            if not isinstance(value, np.ndarray):
                assert value == getattr(alone, f.name)
            else:
                np.testing.assert_array_equal(value[2:3], getattr(alone, f.name),
                                              err_msg=f"{f.name} at month {t}")
        for name, flow in whole_flows.items():
            np.testing.assert_array_equal(np.asarray(flow)[2:3], alone_flows[name],
                                          err_msg=f"flow {name} at month {t}")
