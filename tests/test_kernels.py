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
    group_utility,
    market_money,
    market_prices,
    models_above,
    param_at,
    tokens_by_jurisdiction,
)
from sim.core.mechanisms.market import Endpoints, MarketView
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
    from sim.core.kernels import market_money, market_prices
    from sim.core.mechanisms.compute import plan_runs
    from sim.core.mechanisms.funding import fundraising
    from sim.core.mechanisms.research import runs_and_releases
    from sim.core.recording import buyer_outputs_into, camp_sums_into, frontiers_into
    from sim.core.world import build_world
    from sim.inputs.scenario import load_scenario
    from sim.studies.sweeps.stacked import simulate_stack

    loops = (plan_runs, fundraising, runs_and_releases, market_money, market_prices,
             buyer_outputs_into,
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


# The forms market_prices and group_utility replaced (commit c9b8d90): numpy's
# endpoints, then group_prices and group_utility over (R, G, K, L) arrays, compiled like
# them (Numba's log, not numpy's: the two may differ in the last bit).
def _endpoints_numpy(up, own_weight, own_endpoint, is_open, a, b):
    own = np.where(own_endpoint[None], own_weight[:, None, :], 0.0)
    is_open = is_open[None, None, :]
    total = own + np.where(is_open, a[None, :, None], 0.0)
    paid = own * up[:, None, :] + np.where(is_open, b[None, :, None], 0.0)
    factor = np.where(is_open, paid / np.where(total > 0, total, 1.0), up[:, None, :])
    return own, total, factor


@compiled
def _group_prices_before(cost, factor, total, offered, available, reachable, local, is_open,
                         self_host, gap, sigma, bench):
    n_runs, n_g, n_labs = factor.shape
    n_k = local.shape[0]
    log_price = np.empty((n_runs, n_g, n_k, n_labs))
    usable = np.zeros((n_runs, n_g, n_k, n_labs), dtype=np.bool_)
    log_index = np.full((n_runs, n_g, n_k), np.inf)
    best = np.full((n_runs, n_g, n_k), -np.inf)
    log_self = np.log(self_host)
    for r in range(n_runs):
        for lab in range(n_labs):
            log_cost = np.log(cost[r, lab])
            moved = gap[r, lab] / sigma
            for g in range(n_g):
                sold = total[r, g, lab] > 0
                hosted = log_cost + np.log(factor[r, g, lab] if sold else 1.0)
                ok = offered[r, lab] and reachable[r, g, lab]
                for k in range(n_k):
                    if local[k]:
                        lp = log_cost + log_self
                        here = is_open[lab]
                    else:
                        lp = hosted
                        here = sold
                    log_price[r, g, k, lab] = lp
                    if here and ok and available[g, k, lab]:
                        usable[r, g, k, lab] = True
                        value = lp - moved
                        if value < log_index[r, g, k]:
                            log_index[r, g, k] = value
                        if bench[r, lab] > best[r, g, k]:
                            best[r, g, k] = bench[r, lab]
    return log_price, usable, log_index, best


@compiled
def _group_utility_before(bench, robust, log_price, usable, w_bench, w_robust, alpha,
                          open_bonus, brand, domestic, penalty):
    n_runs, n_g, n_k, n_labs = log_price.shape
    u = np.empty((n_runs, n_g, n_k, n_labs))
    for r in range(n_runs):
        for g in range(n_g):
            for k in range(n_k):
                for lab in range(n_labs):
                    if not usable[r, g, k, lab]:
                        u[r, g, k, lab] = -np.inf
                        continue
                    quality = w_bench[k] * bench[r, lab] + w_robust[k] * robust[r, lab]
                    x = quality - alpha[k] * log_price[r, g, k, lab]
                    x = x + (open_bonus[k, lab] + brand[r, lab])
                    x = x + domestic[g, k, lab]
                    u[r, g, k, lab] = x + penalty[r, g, lab]
    return u


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 4), st.integers(1, 7), st.integers(0, 2**32 - 1))
def test_market_prices_and_utilities_match_the_group_arrays_they_replaced(n_runs, n_labs,
                                                                          seed):
    """``market_prices`` (endpoints, log prices by jurisdiction, demand index) and
    ``group_utility`` (utilities from those) give, bit for bit, what numpy's endpoints,
    ``group_prices`` and ``group_utility`` over (R, G, K, L) arrays gave; the view's
    ``log_price`` and ``usable`` spell out the arrays ``group_prices`` stored."""
    rng = np.random.default_rng(seed)
    n_g, n_k = N_G, N_K
    cost = rng.lognormal(0.0, 1.0, (n_runs, n_labs))
    up = 1.0 + rng.choice([0.0, 0.3, 2.0], (n_runs, n_labs))
    own_weight = up ** -1.7
    own_endpoint = rng.random((n_g, n_labs)) < 0.6
    is_open = rng.random(n_labs) < 0.6
    host_markets = rng.random(n_g) < 0.7  # some jurisdictions have no host: total 0
    a = np.where(host_markets, rng.lognormal(0.0, 0.5, n_g), 0.0)
    b = np.where(host_markets, rng.lognormal(0.0, 0.5, n_g), 0.0)
    shared = rng.random(n_g) < 0.4  # jurisdictions with the first one's hosts
    a, b = np.where(shared, a[0], a), np.where(shared, b[0], b)
    offered = rng.random((n_runs, n_labs)) < 0.8
    reachable = rng.random((n_runs, n_g, n_labs)) < 0.8
    available = rng.random((n_g, n_k, n_labs)) < 0.8
    local = np.arange(n_k) == n_k - 1
    self_host, sigma = 0.6, 3.5
    gap = -rng.exponential(5.0, (n_runs, n_labs))
    bench = rng.choice([120.0, 125.0, 131.5], (n_runs, n_labs))  # ties too
    robust = rng.normal(100.0, 10.0, (n_runs, n_labs))
    own, total, factor, log_hosted, log_local, log_index, best = market_prices(
        cost, up, own_weight, own_endpoint, is_open, a, b, offered, reachable, available,
        local, np.full((n_runs, 1), self_host), gap, np.full((n_runs, 1), sigma), bench)
    for got, want in zip((own, total, factor),
                         _endpoints_numpy(up, own_weight, own_endpoint, is_open, a, b),
                         strict=True):
        np.testing.assert_array_equal(got, want)
    log_price, usable, index_before, best_before = _group_prices_before(
        cost, factor, total, offered, available, reachable, local, is_open, self_host, gap,
        sigma, bench)
    np.testing.assert_array_equal(log_index, index_before)
    np.testing.assert_array_equal(best, best_before)
    view = MarketView(cost=cost, markup=up - 1.0, ends=Endpoints(
        own=own, host_weight=np.zeros((n_g, 1)), total=total, price_factor=factor,
        host_price=np.ones(1)), frontier=np.zeros(n_runs), price_index=np.exp(log_index),
        group_best=best, penalty=np.zeros(reachable.shape), log_hosted=log_hosted,
        log_local=log_local, offered=offered, reachable=reachable, available=available,
        local=local, is_open=is_open)
    np.testing.assert_array_equal(view.usable, usable)
    np.testing.assert_array_equal(np.where(usable, view.log_price, 0.0),
                                  np.where(usable, log_price, 0.0))
    weights = [rng.normal(1.0, 0.3, n_k) for _ in range(3)]
    open_bonus = rng.normal(0.0, 1.0, (n_k, n_labs))
    brand = rng.normal(0.0, 1.0, (n_runs, n_labs))
    domestic = np.broadcast_to(rng.normal(0.0, 1.0, (n_g, 1, n_labs)), (n_g, n_k, n_labs))
    penalty = np.where(rng.random(reachable.shape) < 0.3, rng.normal(-1.0, 0.5), 0.0)
    u = group_utility(bench, robust, log_hosted, log_local, total, offered, reachable,
                      available, local, is_open, *weights, open_bonus, brand, domestic,
                      penalty)
    np.testing.assert_array_equal(u, _group_utility_before(
        bench, robust, log_price, usable, *weights, open_bonus, brand, domestic, penalty))


def _best_of_others_by_sorting(scores):
    """The form ``best_of_others`` replaced (commit c9b8d90): a stable sort of each row."""
    order = np.argsort(-scores, axis=-1, kind="stable")
    top = np.take_along_axis(scores, order[..., :1], axis=-1)
    second = (np.take_along_axis(scores, order[..., 1:2], axis=-1) if scores.shape[-1] > 1
              else np.full_like(top, -np.inf))
    is_top = np.arange(scores.shape[-1]) == order[..., :1]
    return np.where(is_top, second, top)


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 5), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_best_of_others_matches_the_sort_it_replaced(n_rows, n_labs, seed):
    """Ties, -inf (models not on offer), signed zeros and NaN give, bit for bit, what the
    stable sort of each row gave."""
    from sim.core.arrays import best_of_others

    rng = np.random.default_rng(seed)
    scores = rng.choice([-np.inf, -1.5, -0.0, 0.0, 2.0, 3.0, np.nan], (n_rows, n_labs))
    got, want = best_of_others(scores), _best_of_others_by_sorting(scores)
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.view(np.uint64), want.view(np.uint64))
    np.testing.assert_array_equal(best_of_others(scores[0]), _best_of_others_by_sorting(
        scores[0]))


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 6), st.integers(0, 2**32 - 1))
def test_models_above_lists_what_the_mask_and_nonzero_listed(n_runs, n_labs, seed):
    """``models_above`` gives ``np.nonzero`` of the (R, G, L) mask it replaced, in order."""
    rng = np.random.default_rng(seed)
    flop = rng.choice([0.0, 1e24, 1e25, 1e26, np.nan], (n_runs, n_labs))
    threshold = rng.choice([1e25, np.inf], (n_runs, N_G))
    counted = rng.random((N_G, n_labs)) < 0.5
    want = np.nonzero(counted[None] & (flop[:, None, :] > threshold[:, :, None]))
    for got, expected in zip(models_above(flop, threshold, counted), want, strict=True):
        np.testing.assert_array_equal(got, expected)
