"""Gaps, lags and shares on hand-made series with known answers."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from sim.measures.metrics import history_lag, lag_months
from sim.measures.registry import MEASURES, measure


def _lag1(history, leader, trailing):
    out = lag_months(np.array([leader], float), np.array([trailing], float),
                     np.array(history, float))
    assert out.shape == (1, len(leader))
    return out[0]


def test_lag_interpolates_between_months():
    # leader: history months 0..4 then simulated months 5..7
    history = [np.nan, 10, 10, 12, 14]
    lag = _lag1(history, [15, 16, 16], [11, 14, 20])
    # t=5: level 11 reached between month 2 (10) and 3 (12), at 2.5 -> lag 2.5
    # t=6: level 14 first reached at month 4 exactly -> lag 2
    # t=7: trailing ahead -> 0
    np.testing.assert_allclose(lag, [2.5, 2.0, 0.0])


def test_lag_zero_when_level_or_ahead():
    history = [10, 12, 14]
    lag = _lag1(history, [15, 15, 15], [15, 16, 14.999])
    assert lag[0] == 0.0 and lag[1] == 0.0
    # t = 5, just below the current level: crossing between month 2 (14) and 3 (15)
    np.testing.assert_allclose(lag[2], 5 - (2 + 0.999), atol=1e-9)


def test_lag_flat_leader_counts_from_first_reach():
    # leader reached 20 at month 2 and stayed there; trailing at 19 at t = 5, 6
    history = [np.nan, np.nan, 20, 20, 20]
    lag = _lag1(history, [20, 20], [19, 19])
    # month 1 has no model (NaN -> -inf) so the crossing is month 2 itself
    np.testing.assert_allclose(lag, [3.0, 4.0])


def test_lag_below_start_of_history_is_lower_bound():
    # trailing below the first recorded value: lag measured to the start of the record
    np.testing.assert_allclose(_lag1([10, 12], [13], [5]), [2.0])
    # with NaN (no model) at the start, to the first month with a model
    np.testing.assert_allclose(_lag1([np.nan, 10, 12], [13], [5]), [2.0])


def test_lag_nan_when_trailing_has_no_model():
    lag = _lag1([10, 12], [13, 14], [np.nan, -np.inf])
    assert np.isnan(lag).all()


def test_history_lag_nan_before_leader_or_trailing_exists():
    lead = np.array([np.nan, np.nan, 10, 10, 12])
    trail = np.array([np.nan, 8, np.nan, 9, 9])
    lag = history_lag(lead, trail)
    assert np.isnan(lag[:3]).all()
    np.testing.assert_allclose(lag[3:], [1.0, 2.0])


def _reference_lag(full: np.ndarray, y: float, now: int) -> float:
    """Plain-Python lag of level y at index now of a non-decreasing series."""
    lead = np.where(np.isnan(full), -np.inf, full)
    if np.isnan(y) or y == -np.inf or lead[now] == -np.inf:
        return np.nan
    if y >= lead[now]:
        return 0.0
    for j in range(now + 1):
        if lead[j] >= y:
            if j == 0 or lead[j - 1] == -np.inf:
                return float(now - j)
            frac = (y - lead[j - 1]) / (lead[j] - lead[j - 1])
            return float(now - (j - 1 + frac))
    raise AssertionError("unreachable")


def test_lag_vectorized_matches_reference():
    rng = np.random.default_rng(3)
    n_runs, n_hist, n_sim = 7, 9, 6
    history = np.maximum.accumulate(rng.uniform(0, 2, n_hist).cumsum())
    history[:2] = np.nan
    steps = rng.choice([0.0, 0.0, 1.0, 2.5], size=(n_runs, n_sim))
    leader = np.nanmax(history) + np.cumsum(steps, axis=1)
    trailing = leader - rng.uniform(-1, 12, size=(n_runs, n_sim))
    trailing[0, 0] = np.nan
    got = lag_months(leader, trailing, history)
    for r in range(n_runs):
        full = np.concatenate([history, leader[r]])
        for t in range(n_sim):
            want = _reference_lag(full, trailing[r, t], n_hist + t)
            np.testing.assert_allclose(got[r, t], want, atol=1e-9, err_msg=f"run {r} t {t}")


def _fake_results(tokens: np.ndarray, spend: np.ndarray) -> SimpleNamespace:
    segments = [f"seg{k}" for k in range(tokens.shape[2])]
    world = SimpleNamespace(population=SimpleNamespace(segments=segments, sovereign_ids=[]))
    return SimpleNamespace(arrays={"tokens": tokens, "spend": spend}, world=world)


def test_shares_sum_to_one_where_demand_else_undefined():
    rng = np.random.default_rng(0)
    tokens = rng.uniform(0, 5, size=(4, 6, 3, 4))
    tokens[:, 2, 1, :] = 0.0  # a segment with no served demand in month 2
    tokens[1, :, 0, 2] = 0.0  # a camp absent from a segment
    res = _fake_results(tokens, 2 * tokens)
    share = MEASURES["token_share"].series(res)[..., :4]  # the camps (last column: open)
    assert MEASURES["token_share"].series(res).shape == (4, 6, 4, 5)
    served = np.concatenate([tokens.sum(axis=3), tokens.sum(axis=(2, 3))[..., None]], axis=2) > 0
    assert np.isfinite(share[served]).all() and (share[served] >= 0).all()
    # A share of nothing is undefined (registry docstring): NaN for every camp.
    assert np.isnan(share[~served]).all()
    np.testing.assert_allclose(share.sum(axis=3)[served], 1.0)
    # the all-segments aggregate is the token-weighted share
    total = tokens.sum(axis=2)
    np.testing.assert_allclose(share[:, :, -1], total / total.sum(axis=2, keepdims=True))
    np.testing.assert_allclose(MEASURES["dollar_share"].series(res)[..., :4], share)
    assert MEASURES["token_share"].labels(res.world)[0] == ("seg0", "seg1", "seg2", "all")


def test_open_share_is_sum_of_open_camps():
    tokens = np.zeros((1, 1, 2, 4))
    tokens[0, 0, 0] = [6, 1, 2, 1]  # closed 6, open 4
    tokens[0, 0, 1] = [0, 0, 0, 0]
    res = _fake_results(tokens, tokens)
    assert measure("open_token_share").series(res)[0, 0] == pytest.approx(0.4)
    # token_share[.., open] is the open camps' tokens over the total (its own column).
    assert measure("token_share[seg0,open]").series(res)[0, 0] == pytest.approx(0.4)
    assert measure("token_share[seg0,open_cn]").series(res)[0, 0] == pytest.approx(0.1)
    assert np.isnan(measure("token_share[seg1,open]").series(res)[0, 0])


def test_gap_points_pairs():
    frontier = np.zeros((2, 3, 5))
    frontier[..., 0] = 100  # closed
    frontier[..., 1] = 95  # best open
    frontier[..., 2] = 95  # open_cn
    frontier[..., 3] = 90  # open_us
    frontier[..., 4] = 80  # open_other
    res = SimpleNamespace(arrays={"bench_frontier": frontier}, world=None)
    gaps = MEASURES["gap_points"].series(res)
    assert MEASURES["gap_points"].labels(None) == (
        ("closed_vs_open", "closed_vs_cn", "closed_vs_us", "cn_vs_us"),)
    assert (gaps[..., 0] == 5).all() and (gaps[..., 2] == 10).all()
    assert (gaps[..., 3] == 5).all()
    assert (measure("gap_points").series(res) == 5).all()  # the default pair
    assert (measure("gap_points_us").series(res) == 10).all()
