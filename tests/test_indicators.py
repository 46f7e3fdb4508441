"""Indicator library: reducers on known inputs, series from the measure registry consistent
with each other and with the engine's stored outputs."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core.engine import Results, simulate
from sim.inputs.scenario import Scenario
from sim.inputs.seeds import Seeds
from sim.measures import indicators as ind
from sim.measures.registry import MEASURES
from sim.vocab import ALL, ALL_OPEN, CAMPS, OPEN_CAMPS


@pytest.fixture(scope="module")
def results(small_scenario: Scenario, seeds: Seeds) -> Results:
    return simulate(small_scenario, n_runs=4, seed=11, seeds=seeds)


@given(a=st.floats(-50, 50), b=st.floats(-100, 100), n=st.integers(2, 40))
@settings(max_examples=50, deadline=None)
def test_slope_of_a_line_is_its_rate_per_year(a: float, b: float, n: int) -> None:
    x = (b + a * np.arange(n, dtype=float))[None, :]
    assert ind.reduce_slope(x, 0, n - 1)[0] == pytest.approx(12 * a, abs=1e-6)


def test_slope_skips_undefined_months_and_needs_two() -> None:
    x = np.array([[1.0, np.nan, 3.0, 4.0], [np.nan, np.nan, 5.0, np.nan]])
    slope = ind.reduce_slope(x, 0, 3)
    assert slope[0] == pytest.approx(12.0)
    assert np.isnan(slope[1])


def test_window_reducers_on_known_series() -> None:
    x = np.arange(30, dtype=float)[None, :]
    assert ind.reduce_at(x, 5, 5)[0] == 5
    assert ind.reduce_mean(x, 2, 4)[0] == 3
    assert ind.reduce_min(x, 2, 4)[0] == 2 and ind.reduce_max(x, 2, 4)[0] == 4
    assert ind.reduce_change(x, 3, 10)[0] == 7
    assert ind.reduce_yoy_min_change(x, 0, 29)[0] == 12  # two full years; partial dropped
    assert np.isnan(ind.reduce_yoy_min_change(x, 0, 22)[0])  # only one full year
    dip = np.concatenate([np.zeros(12), np.ones(12), np.full(12, 0.5)])[None, :]
    assert ind.reduce_yoy_min_change(dip, 0, 35)[0] == -0.5


def test_window_outside_horizon_is_undefined(results: Results) -> None:
    t = results.n_months
    v = ind.evaluate(results, "mean", series="gap", params={"pair": "closed_vs_open"},
                     start=0, end=t)
    assert np.isnan(v).all()


def _series(results: Results, name: str, **params: str) -> np.ndarray:
    return ind.series_values(results, name, params)


def test_share_series_are_selections_of_the_registry(results: Results) -> None:
    shares = MEASURES["token_share"].series(results)
    assert np.array_equal(_series(results, "token_share", segment=ALL, camp=ALL_OPEN),
                          shares[:, :, -1, -1])
    # The open camps' shares added up: the same quantity, rounded differently.
    np.testing.assert_allclose(_series(results, "token_share", segment=ALL, camp=ALL_OPEN),
                               _series(results, "open_token_share"), rtol=1e-14)
    assert np.array_equal(
        _series(results, "dollar_share", segment="knowledge_work", camp="closed"),
        MEASURES["dollar_share"].series(results)[:, :, 0, CAMPS.index("closed")])
    usage = sum(_series(results, "open_usage_share", camp=c) for c in OPEN_CAMPS)
    np.testing.assert_allclose(usage, 1.0)
    segs = sum(_series(results, "open_segment_share", segment=s)
               for s in results.world.population.segments)
    np.testing.assert_allclose(segs, 1.0)
    # The bets file's short names are aliases of the tidy table's measures.
    assert np.array_equal(_series(results, "gap", pair="closed_vs_cn"),
                          MEASURES["gap_points"].series(results)[:, :, 1])


def test_served_robustness_is_bounded_by_the_released_frontier(results: Results) -> None:
    tokens, weighted = results.arrays["tokens"], results.arrays["served_robust_tokens"]
    closed = CAMPS.index("closed")
    with np.errstate(all="ignore"):
        served = weighted[..., closed] / tokens[..., closed]  # (R, T, K)
    frontier = results.arrays["robust_frontier"][:, :, 0][:, :, None]
    ok = tokens[..., closed] > 0
    assert ok.any()
    assert np.all(served[ok] <= np.broadcast_to(frontier, served.shape)[ok] + 1e-9)


def test_raise_counts_and_policy_counts_are_consistent(results: Results) -> None:
    a = results.arrays
    assert np.all(a["raise_failures"] <= a["raise_attempts"])
    assert np.all(a["raise_attempts"] <= results.world.population.n_labs)
    share = _series(results, "raise_failure_share", camp="open")
    assert np.all((share[np.isfinite(share)] >= 0) & (share[np.isfinite(share)] <= 1))
    enacted = _series(results, "policies_enacted", policy=ALL, sovereign=ALL)
    assert np.all(np.diff(enacted, axis=1) >= 0)


def _fake(fail_cn: np.ndarray, fail_us: np.ndarray) -> SimpleNamespace:
    """Results-like object with 2 labs alive per camp and given failed-raise counts."""
    r, t = fail_cn.shape
    fails = np.zeros((r, t, len(CAMPS)))
    fails[:, :, CAMPS.index("open_cn")] = fail_cn
    fails[:, :, CAMPS.index("open_us")] = fail_us
    gap = np.zeros((r, t, 5))
    return SimpleNamespace(arrays={"raise_failures": fails, "alive": np.full((r, t, 4), 2.0),
                                   "bench_frontier": gap}, n_months=t, n_runs=r, world=None)


def test_funding_difficulty_onset_and_lead() -> None:
    t = 20
    cn = np.zeros((3, t))
    us = np.zeros((3, t))
    cn[0, 5:] = 2  # CN: every lab fails from month 5
    us[0, 9:] = 2  # US from month 9
    us[1, 3:] = 2  # run 1: US first, CN never
    onset_cn = ind.difficulty_onset(_fake(cn, us), "open_cn", level=0.5, months=1)
    assert list(onset_cn) == [5, t, t]
    lead = ind.onset_lead(_fake(cn, us), "open_cn", "open_us", level=0.5, months=1)
    assert lead[0] == 4 and lead[1] == 3 - t
    assert np.isnan(lead[2])  # neither camp meets difficulties
    # A 3-month trailing mean delays the onset until the mean reaches the level.
    assert ind.difficulty_onset(_fake(cn, us), "open_cn", level=0.99, months=3)[0] == 7


def test_onset_after_leaves_the_start_up_months_out() -> None:
    t = 20
    cn = np.zeros((1, t))
    us = np.zeros((1, t))
    us[0, 0] = 2  # US: every lab fails in month 0 only (the seeded cash snapshot)
    us[0, 9:] = 2  # ... and again from month 9
    cn[0, 5:] = 2
    fake = _fake(cn, us)
    assert ind.difficulty_onset(fake, "open_us", level=0.5, months=3)[0] == 0
    assert ind.difficulty_onset(fake, "open_us", level=0.5, months=3, after=3)[0] == 10
    assert ind.onset_lead(fake, "open_cn", "open_us", 0.5, 3)[0] < 0
    assert ind.onset_lead(fake, "open_cn", "open_us", 0.5, 3, after=3)[0] > 0


def test_funded_by_investors_counts_only_labs_without_a_parent() -> None:
    t = 12
    fake = _fake(np.zeros((1, t)), np.full((1, t), 2.0))  # both US labs fail every month
    inv = np.zeros((1, t, len(CAMPS)))
    fake.arrays["investor_raise_failures"] = inv  # ... but both have a parent's budget
    fake.arrays["investor_funded"] = np.zeros((1, t, len(CAMPS)))
    fake.world = SimpleNamespace()
    assert ind.difficulty_onset(fake, "open_us", 0.5, 1)[0] == 0
    assert ind.difficulty_onset(fake, "open_us", 0.5, 1, funded_by="investors")[0] == t


@given(st.lists(st.floats(-1e3, 1e3), min_size=24, max_size=60),
       st.floats(-1e3, 1e3))
def test_year_change_and_ratio_follow_a_shift_of_the_last_year(xs: list[float],
                                                                 shift: float) -> None:
    x = np.array([xs])
    n = x.shape[1]
    base = ind.reduce_year_change(x, 0, n - 1)[0]
    y = x.copy()
    y[0, n - 12:] += shift
    assert ind.reduce_year_change(y, 0, n - 1)[0] == pytest.approx(
        base + shift if n >= 24 else np.nan, abs=1e-6)
    # direction: raising the last year raises the change; a short window is undefined
    assert np.isnan(ind.reduce_year_change(x, 0, 22)[0])
    pos = np.abs(x) + 1.0
    r = ind.reduce_year_ratio(pos, 0, n - 1)[0]
    pos2 = pos.copy()
    pos2[0, n - 12:] *= 2.0
    assert ind.reduce_year_ratio(pos2, 0, n - 1)[0] == pytest.approx(2.0 * r, rel=1e-9)
