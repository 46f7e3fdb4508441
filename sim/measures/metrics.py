"""The arithmetic behind the measures: lags (Epoch's definition), the historical gap and lag,
and summaries over runs.

The measured quantities themselves (gaps, lags, shares, ... with units and dims) are defined
once, in :mod:`sim.measures.registry`; this module holds the functions they and the figures
share.

Definitions (DESIGN.md sections 2 and 5):

* **Gap in points** between a leading and a trailing camp at month t is the difference of
  their released frontiers (running maxima of released bench scores, ECI points).
* **Lag in months** (Epoch's definition) is how long ago the leading camp's released frontier
  first reached the trailing camp's current released level. The leader's series is Epoch's
  monthly ECI record (``history``, from its first month through the month before the
  simulation starts) followed by the simulated frontier, so lags early in a run can reach
  back into 2023-2025.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.vocab import PAIRS


def _history_series(history: Any, camp: str) -> np.ndarray:
    """(H,) Epoch's monthly running-max ECI of a camp (NaN before the camp's first model)."""
    return np.asarray(getattr(history, camp), dtype=float)


# --------------------------------------------------------------------------- lags


def _lag_core(leader: np.ndarray, trailing: np.ndarray, now: np.ndarray) -> np.ndarray:
    """Lag in months, vectorized.

    ``leader`` (R, N): the leader's full monthly series (history then simulation), index 0 =
    the first history month. ``trailing`` (R, T): the trailing level at months ``now`` (T,),
    given as indices into the leader's series. Returns (R, T).
    """
    lead = np.where(np.isnan(leader), -np.inf, leader)
    lead = np.maximum.accumulate(lead, axis=1)  # a released frontier never falls
    n = lead.shape[1]
    y = trailing[:, :, None]  # (R, T, 1)
    # Leader series is non-decreasing: the first month it reaches y is the count of months
    # strictly below y. Only months up to `now` can count (future releases are unknown).
    upto = np.arange(n)[None, :] <= now[:, None]  # (T, N)
    below = (lead[:, None, :] < y) & upto[None]  # (R, T, N)
    j = below.sum(axis=2)  # (R, T) first index with lead >= y (if any up to now)
    rows = np.arange(lead.shape[0])[:, None]
    lead_now = lead[rows, now[None, :]]  # (R, T)
    jc = np.clip(j, 0, n - 1)
    at = lead[rows, jc]
    before = lead[rows, np.clip(j - 1, 0, n - 1)]
    yy = trailing
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = (yy - before) / (at - before)
    # Crossing between month j-1 and j by linear interpolation; when month j-1 has no model
    # yet (-inf) the crossing is at month j; when j == 0 (trailing below the first history
    # value) the crossing is taken at the start of history (the lag is a lower bound).
    crossing = np.where(np.isfinite(before) & (j > 0), j - 1 + frac, j.astype(float))
    lag = now[None, :] - crossing
    lag = np.where(yy >= lead_now, 0.0, lag)  # level or ahead
    lag = np.where(np.isnan(yy) | np.isneginf(yy), np.nan, lag)  # no trailing model
    lag = np.where(np.isposinf(yy), 0.0, lag)
    lag = np.where(np.isneginf(lead_now), np.nan, lag)  # no leader model yet
    return np.maximum(lag, 0.0)


def lag_months(leader: np.ndarray, trailing: np.ndarray,
               history_leader: np.ndarray) -> np.ndarray:
    """Lag in months (R, T) of ``trailing`` behind ``leader`` (both (R, T), simulated months).

    ``history_leader`` (H,) is the leader's Epoch monthly running-max ECI for the H months
    before the simulation's first month (``EciHistory.first_month`` .. 2026-03); the
    simulated months follow it directly. At each month t the lag is ``t - s`` where s is the
    first (fractional) month at which the leader's released frontier reached the trailing
    camp's level at t, with linear interpolation between months. Conventions:

    * 0 when the trailing camp is level with or ahead of the leader at t;
    * NaN values in the history (no model of that camp yet) count as -inf; if the trailing
      level is below the leader's first recorded value, the lag is measured to that first
      recorded month: a lower bound, since the record starts there;
    * NaN when the trailing camp has no released model (frontier NaN or -inf), or the
      leader has none yet.
    """
    leader = np.asarray(leader, dtype=float)
    trailing = np.asarray(trailing, dtype=float)
    hist = np.asarray(history_leader, dtype=float)
    n_runs, n_months = leader.shape
    full = np.concatenate([np.broadcast_to(hist, (n_runs, len(hist))), leader], axis=1)
    now = len(hist) + np.arange(n_months)
    return _lag_core(full, trailing, now)


def history_lag(history_leader: np.ndarray, history_trailing: np.ndarray) -> np.ndarray:
    """(H,) lag in months over the Epoch record itself (same conventions as
    :func:`lag_months`), NaN where the trailing camp has no model yet."""
    lead = np.asarray(history_leader, dtype=float)[None, :]
    trail = np.asarray(history_trailing, dtype=float)[None, :]
    return _lag_core(lead, trail, np.arange(lead.shape[1]))[0]


def history_gap_by_pair(history: Any) -> dict[str, np.ndarray]:
    """(H,) historical gap in points per pair from Epoch's record (NaN before both camps
    have a model)."""
    return {name: _history_series(history, lead) - _history_series(history, trail)
            for name, (lead, trail) in PAIRS.items()}


def history_lag_by_pair(history: Any) -> dict[str, np.ndarray]:
    """(H,) historical lag in months per pair from Epoch's record."""
    return {name: history_lag(_history_series(history, lead), _history_series(history, trail))
            for name, (lead, trail) in PAIRS.items()}


# --------------------------------------------------------------------------- summaries


def quantiles(x: np.ndarray, qs: tuple[float, ...] = (0.1, 0.5, 0.9)) -> np.ndarray:
    """Quantiles over runs (axis 0), ignoring NaN; shape (len(qs), ...)."""
    x = np.asarray(x, dtype=float)
    nan = np.isnan(x)
    if not nan.any():
        # The same numbers as nanquantile, which without NaN takes each column's quantiles
        # one column at a time (a Python loop: most of a fan chart's time at 1,000 runs).
        return np.quantile(x, qs, axis=0)
    if nan.all():
        return np.full((len(qs), *x.shape[1:]), np.nan)
    with np.errstate(all="ignore"):
        return np.nanquantile(x, qs, axis=0)


def months_until(reached: np.ndarray, start: int) -> np.ndarray:
    """(R,) months from step ``start`` to the first step ``t >= start`` where ``reached[:, t]``
    holds (0 if at ``start``), or -1 if it never does within the horizon (censored).

    ``reached`` is an (R, T) boolean array, e.g. ``paired_gap_change >= 2``."""
    window = np.asarray(reached, dtype=bool)[:, start:]
    hit = window.any(axis=1)
    return np.where(hit, np.argmax(window, axis=1), -1)


def censored_median(delays: np.ndarray) -> float:
    """Median of delays where -1 marks "not within the horizon" (counted as longer than
    anything observed): NaN when fewer than half of the runs are observed."""
    delays = np.asarray(delays)
    observed = np.sort(delays[delays >= 0])
    n = len(delays)
    if n == 0 or 2 * len(observed) < n:
        return float("nan")
    lo, hi = (n - 1) // 2, n // 2  # the middle order statistics; censored ones sort last
    return float((observed[lo] + observed[hi]) / 2) if hi < len(observed) else float("nan")
