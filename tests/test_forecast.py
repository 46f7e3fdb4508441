"""Forecast scores: CRPS, coverage and the naive forecasts (sim/measures/forecast.py)."""

from __future__ import annotations

import numpy as np
import pytest

from sim.measures.forecast import (
    ensemble_scores,
    gaussian_scores,
    linear_trend,
    persistence,
    point_scores,
)


def test_point_forecast_crps_is_the_absolute_error() -> None:
    y = np.array([1.0, 2.0, np.nan, 4.0])
    f = np.array([2.0, 2.0, 9.0, 1.0])
    s = point_scores(y, f)
    assert s.n_months == 3
    assert s.crps == pytest.approx((1 + 0 + 3) / 3)
    assert s.rmse == pytest.approx(np.sqrt((1 + 0 + 9) / 3))


def test_ensemble_of_identical_members_scores_like_a_point() -> None:
    y = np.array([1.0, 5.0, 3.0])
    f = np.array([2.0, 2.0, 2.0])
    ens = np.tile(f, (7, 1))
    a, b = ensemble_scores(y, ens), point_scores(y, f)
    assert a.crps == pytest.approx(b.crps)
    assert a.rmse == pytest.approx(b.rmse)


def test_wider_honest_ensemble_beats_a_confident_wrong_one() -> None:
    y = np.zeros(10)
    members = np.linspace(-1.0, 1.0, 41)
    honest = np.repeat(members[:, None], 10, axis=1)
    wrong = honest * 0.01 + 2.0
    assert ensemble_scores(y, honest).crps < ensemble_scores(y, wrong).crps
    assert ensemble_scores(y, honest).coverage == 1.0
    assert ensemble_scores(y, wrong).coverage == 0.0


def test_coverage_counts_months_inside_the_10_90_band() -> None:
    ens = np.repeat(np.arange(101, dtype=float)[:, None], 4, axis=1)  # 10%..90% = 10..90
    y = np.array([5.0, 10.0, 50.0, 95.0])
    assert ensemble_scores(y, ens).coverage == pytest.approx(0.5)


def test_naive_forecasts() -> None:
    history = np.array([np.nan, 1.0, 2.0, 3.0, 4.0])
    p = persistence(history, 3)
    assert np.all(p.mean == 4.0)
    assert p.sd[2] == pytest.approx(0.0)  # constant changes: no spread
    t = linear_trend(history, 3)
    assert t.mean == pytest.approx([5.0, 6.0, 7.0])
    g = gaussian_scores(np.array([5.0, 6.0, 7.0]), t.mean, t.sd)
    assert g.crps == pytest.approx(0.0, abs=1e-6)

