"""The compiled buyer tallies (``sim.core.kernels``) against plain per-buyer loops, bit for bit:
unserved buyers (choice -1) count nowhere, sums run in buyer order, and a run's tallies do
not depend on the other runs in its batch. (``choose_models`` is checked against the
per-buyer choice rule in ``test_market_choice.py``.)"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from conftest import BASELINE_PATH, SMALL
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core.kernels import (
    compiled,
    market_money,
    param_at,
    tokens_by_jurisdiction,
)
from sim.core.recording import buyer_outputs_into

N_K, N_G, N_C = 3, 4, 2
ROOT = Path(__file__).resolve().parents[1]


@st.composite
def served_buyers(draw):
    n_runs, n_buyers, n_labs = draw(st.integers(1, 4)), draw(st.integers(1, 30)), \
        draw(st.integers(1, 6))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    return dict(
        choice=rng.integers(-1, n_labs, (n_runs, n_buyers)),
        tokens=rng.lognormal(0.0, 3.0, (n_runs, n_buyers)),
        segment=rng.integers(0, N_K, n_buyers),
        jurisdiction=rng.integers(0, N_G, n_buyers),
        camp=rng.integers(0, N_C, n_labs),
        weight=rng.normal(100.0, 30.0, (n_runs, n_labs)),
        is_open=rng.random(n_labs) < 0.5,
        flop=rng.choice([1e24, 1e25, 1e26], (n_runs, n_labs)),
        per_jurisdiction_mask=rng.random((2, N_G, n_labs)) < 0.5,
    )


def _loop(case, r, cell, amount):
    """Per-buyer sums of ``amount(b, lab)`` into ``cell(b, lab)`` (None: not counted)."""
    sums: dict = {}
    for b, lab in enumerate(case["choice"][r]):
        if lab < 0:
            continue
        key = cell(b, lab)
        if key is not None:
            sums[key] = sums.get(key, 0.0) + amount(b, lab)
    return sums


def _dense(sums: dict, shape: tuple) -> np.ndarray:
    out = np.zeros(shape)
    for key, value in sums.items():
        out[key] = value
    return out


def _served(case, choice, tokens, runs=slice(None)):
    """``buyer_outputs_into`` of one month for buyers using ``tokens`` (R, B): each buyer
    its own group whose demand multiplier is its tokens, at 1.0 seeded tokens (exact)."""
    n_runs, n_buyers = choice.shape
    outs = (np.zeros((n_runs, 1, N_K)), np.zeros((n_runs, 1, N_K, N_C)),
            np.zeros((n_runs, 1, N_G)), np.zeros((n_runs, 1, N_G)),
            np.zeros((n_runs, 1, N_G, N_C)))
    buyer_outputs_into(choice, tokens, np.ones(n_buyers), np.arange(n_buyers),
                       case["segment"], case["jurisdiction"], case["camp"], case["is_open"],
                       case["weight"][runs], case["flop"][runs], np.full((n_runs, 1), 1e25),
                       0, *outs)
    return tuple(out[:, 0] for out in outs)


@settings(max_examples=60, deadline=None)
@given(served_buyers())
def test_tallies_are_per_buyer_sums_in_buyer_order(case):
    choice, tokens = case["choice"], case["tokens"]
    n_runs, n_labs = case["weight"].shape
    demand, weighted, open_tokens, large_open, large_by_camp = _served(case, choice, tokens)
    # Each buyer its own group with demand multiplier = its tokens: 1.0 x tokens exactly.
    n_buyers = choice.shape[1]
    by_jurisdiction = tokens_by_jurisdiction(choice, np.ones(n_buyers), tokens,
                                             np.arange(n_buyers), case["jurisdiction"],
                                             case["per_jurisdiction_mask"], N_G)
    for r in range(n_runs):
        # Demand counts every buyer, served or not, by segment, in buyer order.
        want = np.zeros(N_K)
        for b in range(choice.shape[1]):
            want[case["segment"][b]] += tokens[r, b]
        np.testing.assert_array_equal(demand[r], want)
        np.testing.assert_array_equal(weighted[r], _dense(_loop(
            case, r, lambda b, lab: (case["segment"][b], case["camp"][lab]),
            lambda b, lab, r=r: tokens[r, b] * case["weight"][r, lab]), (N_K, N_C)))
        np.testing.assert_array_equal(open_tokens[r], _dense(_loop(
            case, r, lambda b, lab: case["jurisdiction"][b] if case["is_open"][lab] else None,
            lambda b, lab, r=r: tokens[r, b]), (N_G,)))
        np.testing.assert_array_equal(large_open[r], _dense(_loop(
            case, r, lambda b, lab, r=r: case["jurisdiction"][b]
            if case["is_open"][lab] and case["flop"][r, lab] > 1e25 else None,
            lambda b, lab, r=r: tokens[r, b]), (N_G,)))
        np.testing.assert_array_equal(large_by_camp[r], _dense(_loop(
            case, r, lambda b, lab, r=r: (case["jurisdiction"][b], case["camp"][lab])
            if case["is_open"][lab] and case["flop"][r, lab] > 1e25 else None,
            lambda b, lab, r=r: tokens[r, b]), (N_G, N_C)))
        for i in range(2):
            np.testing.assert_array_equal(by_jurisdiction[i, r], _dense(_loop(
                case, r, lambda b, lab, i=i: case["jurisdiction"][b]
                if case["per_jurisdiction_mask"][i, case["jurisdiction"][b], lab] else None,
                lambda b, lab, r=r: tokens[r, b]), (N_G,)))
        # The same run alone gives the same tallies.
        alone = _served(case, choice[r:r + 1], tokens[r:r + 1], runs=slice(r, r + 1))
        for got, batch in zip(alone, (demand, weighted, open_tokens, large_open,
                                      large_by_camp), strict=True):
            np.testing.assert_array_equal(got[0], batch[r])


@settings(max_examples=60, deadline=None)
@given(served_buyers())
def test_market_money_tallies_each_groups_tokens_in_buyer_order(case):
    """``market_money`` adds each buyer's ``buyer_tokens0 x group_demand`` into its (group,
    lab) in buyer order, then a segment's groups in jurisdiction order; tokens of every
    segment count by segment, and those outside the local segment are the lab's users."""
    choice = case["choice"]
    n_runs, n_labs = case["weight"].shape
    n_buyers = choice.shape[1]
    group = case["jurisdiction"] * N_K + case["segment"]
    rng = np.random.default_rng(n_buyers * 7 + n_labs)
    tokens0 = rng.lognormal(0.0, 2.0, n_buyers)
    demand = rng.lognormal(0.0, 1.0, (n_runs, N_G * N_K))
    local = np.arange(N_K) == N_K - 1
    ones = np.ones((n_runs, N_G, n_labs))
    _, by_segment, users, *_ = market_money(
        choice, tokens0, demand, group, local, case["is_open"], np.ones((n_runs, n_labs)),
        np.zeros((n_runs, n_labs)), ones, ones, ones, np.ones((N_G, 1)), np.ones(1),
        np.ones(1), np.full((n_runs, 1), 0.5), 1e-3)
    for r in range(n_runs):
        cells = _dense(_loop(case, r, lambda b, lab: (group[b], lab),
                             lambda b, lab, r=r: tokens0[b] * demand[r, group[b]]),
                       (N_G * N_K, n_labs)).reshape(N_G, N_K, n_labs)
        expected = np.zeros((N_K, n_labs))
        for g in range(N_G):
            expected += cells[g]
        np.testing.assert_array_equal(by_segment[r], expected)
        np.testing.assert_allclose(users[r], expected[~local].sum(axis=0), rtol=1e-12)


def test_param_at_reads_numbers_and_per_run_values_in_compiled_code():
    @compiled
    def scaled(values, factor):
        out = np.empty(len(values))
        for r in range(len(values)):
            out[r] = values[r] * param_at(factor, r)
        return out

    values = np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(scaled(values, 2.0), [2.0, 4.0, 6.0])
    np.testing.assert_array_equal(scaled(values, np.array([[1.0], [10.0], [100.0]])),
                                  [1.0, 20.0, 300.0])
    # Integer parameters (min_release_gap_months): a Python int, or int64 values per run.
    np.testing.assert_array_equal(scaled(values, 3), [3.0, 6.0, 9.0])
    np.testing.assert_array_equal(scaled(values, np.array([[0], [4], [5]])), [0.0, 8.0, 15.0])
    assert param_at(np.array([[1.5], [2.5]]), 1) == 2.5 and param_at(3, 0) == 3.0


#: Simulates a small world, then two stacked parameter sets whose parameters differ (a
#: float and an int, so both are (runs, 1) arrays in the batch): every compiled loop is
#: typed with numbers and with per-run values.
FRESH_BUILD = """
import numpy as np
from sim.core.engine import simulate
from sim.inputs.scenario import load_scenario
from sim.inputs.seeds import load_seeds
from sim.studies.sweeps.stacked import simulate_stack
from sim.core.world import build_world

seeds = load_seeds()
small = load_scenario({path!r}).with_overrides({small!r})
assert np.isfinite(simulate(small, n_runs=2, seed=1, seeds=seeds).arrays["cash"]).all()
sets = [small, small.with_overrides({{"funding.raise_base_probability": 0.2,
                                      "capability.release_noise_points": 2.0}})]
worlds = [build_world(s, seeds) for s in sets]
stacked = simulate_stack(sets, worlds, 2, 1, seeds)
assert np.isfinite(stacked.arrays["cash"]).all()
"""


def test_compiled_loops_build_from_an_empty_cache(tmp_path):
    """A fresh machine compiles every loop from scratch. Numba reuses a cached build until
    the function's own file changes, so on a developer's machine a stale build can hide a
    typing error (say, in ``param_at``, which other files' loops call): build afresh, in
    a process with an empty cache folder."""
    script = FRESH_BUILD.format(path=str(BASELINE_PATH), small=SMALL)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(tmp_path / "numba-cache")}
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]


def test_one_build_of_each_loop_serves_fixed_drawn_and_stacked_parameters(seeds):
    """Parameters reach the compiled loops as per-run arrays whatever varies between runs
    (``per_run_parameters``), so runs at fixed parameters, under posterior draws and in a
    stacked sweep call the same builds: nothing is compiled after the first batch (a new
    variant is 5-10 s on a user's first run or sweep, docs/performance.md)."""
    from dataclasses import replace

    from sim.core.engine import simulate
    from sim.core.kernels import market_money
    from sim.core.mechanisms.compute import plan_runs
    from sim.core.mechanisms.funding import fundraising
    from sim.core.mechanisms.research import runs_and_releases
    from sim.core.recording import buyer_outputs_into, camp_sums_into, frontiers_into
    from sim.core.world import build_world
    from sim.inputs.scenario import load_scenario
    from sim.studies.sweeps.stacked import simulate_stack

    loops = (plan_runs, fundraising, runs_and_releases, market_money, buyer_outputs_into,
             camp_sums_into, frontiers_into)
    drawn = load_scenario(BASELINE_PATH).with_overrides(SMALL)
    fixed = drawn.model_copy(update={"fixed_parameters": True})
    simulate(fixed, n_runs=2, seed=3, seeds=seeds)
    builds = [len(loop.signatures) for loop in loops]
    simulate(drawn, n_runs=8, seed=3, seeds=seeds)  # eight runs draw several particles
    base = build_world(fixed, seeds)
    other = replace(base, params=replace(base.params, open_capture_share=0.4,
                                         training_share=base.params.training_share * 0.9))
    simulate_stack([fixed] * 2, [base, other], 2, 3, seeds)
    assert [len(loop.signatures) for loop in loops] == builds
