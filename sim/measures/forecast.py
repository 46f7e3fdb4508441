"""Scores of a forecast against the record: RMSE, CRPS, band coverage, and the two naive
forecasts a model must beat.

A forecast of one monthly series over ``T`` months is an ensemble ``(N, T)`` of simulated
values (one row per run, each run with its own parameter draw and random numbers); the
record is ``(T,)``, NaN where there is no observation. Every score skips months without an
observation.

* RMSE of the ensemble median: ``sqrt(mean_t (median_n x_nt - y_t)^2)`` [series units].
* CRPS of the ensemble (Gneiting and Raftery 2007), averaged over months:
  ``CRPS_t = E|X - y_t| - 1/2 E|X - X'|`` for ``X, X'`` independent draws of the ensemble
  [series units]; a point forecast's CRPS is its absolute error, a perfect one scores 0.
  Computed by ``scoringrules.crps_ensemble`` (its default quantile-decomposition estimator,
  exact for the empirical distribution).
* Coverage of the central ``level`` band (``level`` = 0.8: the 10-90% band): share of
  months whose observation lies between the ensemble's quantiles (inclusive). An honest 80%
  band covers about 80% of the months out of sample.

The naive forecasts are fitted on the months up to the forecast origin and extrapolated:

* persistence: the last observed value, carried forward;
* linear trend: least squares of the observed values on the month index.

Each is scored as a point forecast (CRPS = absolute error, RMSE of the point) and, for a
fairer probabilistic comparison, as a Gaussian whose spread comes from the fitting window:
persistence as a random walk, ``sigma_h = sd(monthly changes) x sqrt(h)`` at horizon ``h``
months; the trend with the s.d. of its residuals, constant over the horizon.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scoringrules

#: The central band whose coverage is scored: 10-90%.
BAND_LEVEL = 0.8


@dataclass(frozen=True)
class Scores:
    """Scores of one forecast of one series over the scored months.

    ``rmse`` and ``crps`` in the series' units (ECI points for a frontier); ``coverage`` the
    share of scored months inside the central ``BAND_LEVEL`` band (NaN for a point forecast);
    ``n_months`` how many months had an observation.
    """

    rmse: float
    crps: float
    coverage: float
    n_months: int


def observed_months(observed: np.ndarray) -> np.ndarray:
    """Boolean mask of the months with an observation."""
    return np.isfinite(np.asarray(observed, float))


def ensemble_scores(observed: np.ndarray, ensemble: np.ndarray,
                    level: float = BAND_LEVEL) -> Scores:
    """Scores of an ensemble ``(N, T)`` against the record ``(T,)`` (see the module
    docstring)."""
    y = np.asarray(observed, float)
    x = np.asarray(ensemble, float)
    if x.ndim != 2 or x.shape[1] != y.shape[0]:
        raise ValueError(f"ensemble shape {x.shape} does not match {y.shape[0]} months")
    ok = observed_months(y)
    if not ok.any():
        return Scores(float("nan"), float("nan"), float("nan"), 0)
    y, x = y[ok], x[:, ok]
    median = np.median(x, axis=0)
    low, high = np.quantile(x, [(1 - level) / 2, (1 + level) / 2], axis=0)
    crps = scoringrules.crps_ensemble(y, x.T, m_axis=-1)
    return Scores(rmse=float(np.sqrt(np.mean((median - y) ** 2))),
                  crps=float(np.mean(crps)),
                  coverage=float(np.mean((y >= low) & (y <= high))),
                  n_months=int(ok.sum()))


def point_scores(observed: np.ndarray, forecast: np.ndarray) -> Scores:
    """Scores of a point forecast ``(T,)``: its CRPS is the mean absolute error."""
    y = np.asarray(observed, float)
    f = np.asarray(forecast, float)
    ok = observed_months(y)
    if not ok.any():
        return Scores(float("nan"), float("nan"), float("nan"), 0)
    err = f[ok] - y[ok]
    return Scores(rmse=float(np.sqrt(np.mean(err ** 2))), crps=float(np.mean(np.abs(err))),
                  coverage=float("nan"), n_months=int(ok.sum()))


def gaussian_scores(observed: np.ndarray, mean: np.ndarray, sd: np.ndarray,
                    level: float = BAND_LEVEL) -> Scores:
    """Scores of a Gaussian forecast with per-month ``mean`` and ``sd`` (``(T,)`` each)."""
    from scipy.stats import norm

    y = np.asarray(observed, float)
    ok = observed_months(y)
    if not ok.any():
        return Scores(float("nan"), float("nan"), float("nan"), 0)
    mu, sigma = np.asarray(mean, float)[ok], np.maximum(np.asarray(sd, float)[ok], 1e-9)
    z = norm.ppf((1 + level) / 2)
    inside = np.abs(y[ok] - mu) <= z * sigma
    crps = scoringrules.crps_normal(y[ok], mu, sigma)
    return Scores(rmse=float(np.sqrt(np.mean((mu - y[ok]) ** 2))), crps=float(np.mean(crps)),
                  coverage=float(np.mean(inside)), n_months=int(ok.sum()))


@dataclass(frozen=True)
class NaiveForecast:
    """A naive forecast over the scored months: point values and the s.d. of its Gaussian
    version (series units)."""

    name: str
    mean: np.ndarray
    sd: np.ndarray


def persistence(history: np.ndarray, horizon: int) -> NaiveForecast:
    """The last observed value of ``history`` carried ``horizon`` months forward; its spread
    grows as a random walk with the s.d. of the observed monthly changes."""
    h = np.asarray(history, float)
    ok = observed_months(h)
    if not ok.any():
        raise ValueError("persistence needs at least one observed month")
    last = h[ok][-1]
    changes = np.diff(h[ok])
    step_sd = float(np.std(changes, ddof=1)) if changes.size > 1 else 0.0
    steps = np.arange(1, horizon + 1, dtype=float)
    return NaiveForecast("persistence", np.full(horizon, last), step_sd * np.sqrt(steps))


def linear_trend(history: np.ndarray, horizon: int) -> NaiveForecast:
    """A least-squares line through the observed months of ``history``, extended
    ``horizon`` months; its spread is the s.d. of the residuals."""
    h = np.asarray(history, float)
    ok = observed_months(h)
    if ok.sum() < 2:
        raise ValueError("a linear trend needs at least two observed months")
    months = np.arange(h.size, dtype=float)
    slope, intercept = np.polyfit(months[ok], h[ok], 1)
    residual = h[ok] - (intercept + slope * months[ok])
    sd = float(np.std(residual, ddof=2)) if ok.sum() > 2 else 0.0
    ahead = np.arange(h.size, h.size + horizon, dtype=float)
    return NaiveForecast("linear trend", intercept + slope * ahead, np.full(horizon, sd))
