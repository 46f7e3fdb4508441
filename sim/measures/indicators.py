"""Per-run indicators over a batch's :class:`~sim.core.engine.Results`: the measurable side of
the bets (``experiments/bets.toml``, :mod:`sim.studies.bets`).

An indicator reduces a monthly series to one number per run, shape (R,). The series are the
measures of :mod:`sim.measures.registry` (any name or alias there, with one label per dim
given as parameters: ``series = "gap"``, ``pair = "closed_vs_open"``); this module only
reduces them:

* **Series indicators** (:data:`INDICATORS`, ``kind = "series"``): a series' value at a
  month, mean, min, max, OLS slope per year, change, smallest year-on-year change, change
  between the first and last 12 months of a window of months;
* **Event indicators** (``kind = "event"``): two event-timing indicators for funding
  difficulties, with their own parameters.

Months are step indices (0 = the scenario's first month). Parameters are declared
(:class:`Param`) so a data file can be validated before any simulation runs.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.measures import registry
from sim.vocab import CAMPS

if TYPE_CHECKING:
    from sim.core.engine import Results

#: Months per year, for slopes quoted per year.
MONTHS_PER_YEAR = 12.0


@dataclass(frozen=True)
class Param:
    """A parameter of a series or indicator. ``choices`` lists the allowed values (None:
    any value of ``kind``); ``choices_of(segments, sovereigns)``, when given, computes them
    for a world with those segments and sovereign ids instead."""

    name: str
    doc: str
    kind: type = str
    choices: tuple[str, ...] | None = None
    choices_of: Callable[[Sequence[str], Sequence[str]], tuple[str, ...]] | None = None
    default: Any = None


def resolve_choices(param: Param, segments: list[str], sovereigns: list[str]) -> tuple | None:
    """Allowed values of ``param`` for a world with these segments and sovereigns."""
    if param.choices_of is not None:
        return param.choices_of(segments, sovereigns)
    return param.choices


# --------------------------------------------------------------------------- series


def series_names() -> list[str]:
    """Names a series indicator may reduce: the registry's measures."""
    return registry.names()


def is_series(name: str) -> bool:
    """True if ``name`` is a measure (or alias) of the registry."""
    return name in registry.MEASURES


def series_params(name: str) -> tuple[Param, ...]:
    """The parameters of series ``name``: one per dim of the measure, its labels as choices."""
    return tuple(Param(d.name, d.doc, choices_of=d.choices_of, default=d.default)
                 for d in registry.MEASURES[name].dims)


def series_values(results: Results, name: str, params: dict[str, Any]) -> np.ndarray:
    """(R, T) values of series ``name`` at the labels ``params`` (defaults filled in)."""
    return registry.MEASURES[name].select(params).series(results)


# --------------------------------------------------------------------------- reducers


def _nan_reduce(fn: Callable[..., np.ndarray], x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            return fn(x, axis=1)


def reduce_at(x: np.ndarray, start: int, end: int) -> np.ndarray:
    """Value at the window's last month (``end``); use start = end = the month."""
    return x[:, end]


def reduce_mean(x: np.ndarray, start: int, end: int) -> np.ndarray:
    """Mean over the months of the window (NaN months ignored)."""
    return _nan_reduce(np.nanmean, x[:, start:end + 1])


def reduce_min(x: np.ndarray, start: int, end: int) -> np.ndarray:
    """Smallest value over the window (NaN months ignored)."""
    return _nan_reduce(np.nanmin, x[:, start:end + 1])


def reduce_max(x: np.ndarray, start: int, end: int) -> np.ndarray:
    """Largest value over the window (NaN months ignored)."""
    return _nan_reduce(np.nanmax, x[:, start:end + 1])


def reduce_change(x: np.ndarray, start: int, end: int) -> np.ndarray:
    """Value at ``end`` minus value at ``start`` (series units)."""
    return x[:, end] - x[:, start]


def reduce_slope(x: np.ndarray, start: int, end: int) -> np.ndarray:
    """Ordinary least-squares slope over the window, in series units per year:
    ``12 * sum((t - tbar)(x - xbar)) / sum((t - tbar)^2)`` over the months with a value."""
    y = x[:, start:end + 1]
    t = np.broadcast_to(np.arange(y.shape[1], dtype=float), y.shape)
    ok = np.isfinite(y)
    n = ok.sum(axis=1)
    with np.errstate(all="ignore"):
        tbar = np.where(ok, t, 0).sum(axis=1) / n
        ybar = np.where(ok, y, 0).sum(axis=1) / n
        dt = np.where(ok, t - tbar[:, None], 0.0)
        dy = np.where(ok, y - ybar[:, None], 0.0)
        slope = (dt * dy).sum(axis=1) / (dt * dt).sum(axis=1)
    return np.where(n >= 2, slope * MONTHS_PER_YEAR, np.nan)


def reduce_yoy_min_change(x: np.ndarray, start: int, end: int) -> np.ndarray:
    """Smallest year-on-year change of the yearly means: the window is cut into consecutive
    12-month blocks from ``start`` (a last partial block is dropped) and the result is the
    minimum over blocks of ``mean(block i+1) - mean(block i)``; positive means the series rose
    every year. NaN with fewer than two full blocks."""
    n_blocks = (end - start + 1) // 12
    if n_blocks < 2:
        return np.full(x.shape[0], np.nan)
    blocks = x[:, start:start + 12 * n_blocks].reshape(x.shape[0], n_blocks, 12)
    means = _nan_reduce(np.nanmean, blocks.transpose(0, 2, 1))  # (R, n_blocks)
    return np.min(np.diff(means, axis=1), axis=1)


def reduce_year_change(x: np.ndarray, start: int, end: int) -> np.ndarray:
    """Mean over the window's last 12 months minus the mean over its first 12 months (series
    units; NaN months ignored): how far the series moved between the first and last year of
    the window, without the month-to-month steps of releases that make one month's value
    (``change``) noisy. NaN when the window is shorter than 24 months."""
    if end - start + 1 < 24:
        return np.full(x.shape[0], np.nan)
    first = _nan_reduce(np.nanmean, x[:, start:start + 12])
    last = _nan_reduce(np.nanmean, x[:, end - 11:end + 1])
    return last - first


def months_until(x: np.ndarray, start: int, end: int, level: float,
                 hold: int = 1) -> np.ndarray:
    """Months from the window's start until the series reaches ``level`` and stays there
    for ``hold`` months in a row (0: from the start on); ``inf`` when it does not within the
    window (not a number of months: such a run counts as undefined, and so as not holding,
    in a bet). ``hold`` > 1 keeps one month's spike from counting as a return."""
    hit = x[:, start:end + 1] >= level
    n = hit.shape[1] - hold + 1
    if n <= 0:
        return np.full(x.shape[0], np.inf)
    held = np.ones((x.shape[0], n), dtype=bool)
    for k in range(hold):
        held &= hit[:, k:k + n]
    return np.where(held.any(axis=1), held.argmax(axis=1), np.inf).astype(float)


def reduce_year_ratio(x: np.ndarray, start: int, end: int) -> np.ndarray:
    """Mean over the window's last 12 months divided by the mean over its first 12 months
    (a multiple; NaN when the window is shorter than 24 months or the first mean is not
    positive): relative growth between the first and last year of the window."""
    if end - start + 1 < 24:
        return np.full(x.shape[0], np.nan)
    first = _nan_reduce(np.nanmean, x[:, start:start + 12])
    last = _nan_reduce(np.nanmean, x[:, end - 11:end + 1])
    with np.errstate(all="ignore"):
        return np.where(first > 0, last / np.where(first > 0, first, 1.0), np.nan)


# --------------------------------------------------------------------------- funding onset


#: ``funded_by`` -> the registry share whose trailing mean marks funding difficulty: every
#: lab's failed raises, or only those of labs with no corporate parent's budget (a corporate
#: open line, Gemma or Qwen, is a budget line of its parent: its money follows the parent's
#: strategy, so its raises are not the investors' verdict the essay's "funding
#: difficulties" are about).
FUNDED_BY = {"any": "raise_failure_share", "investors": "investor_raise_failure_share"}


def difficulty_onset(results: Results, camp: str, level: float, months: int,
                     funded_by: str = "any", after: int = 0) -> np.ndarray:
    """(R,) first step at or after ``after`` at which a camp meets **funding difficulties**:
    the mean over the last ``months`` months (fewer at the start) of the registry's
    ``raise_failure_share`` (with ``funded_by = "investors"``:
    ``investor_raise_failure_share``) reaches ``level``. ``T`` (one past the last step) when
    it never does. ``after = months`` leaves month 0 out of every trailing window: its raises
    answer the seeded cash positions (a snapshot; a lab seeded below its runway trigger tries
    to raise at once), not the simulated economics."""
    share = np.nan_to_num(series_values(results, FUNDED_BY[funded_by], {"camp": camp}),
                          nan=0.0)
    kernel = np.ones(months) / months
    # Trailing mean: pad the start with the first month so early months average what exists.
    padded = np.concatenate([np.repeat(share[:, :1], months - 1, axis=1), share], axis=1)
    trailing = np.stack([np.convolve(row, kernel, mode="valid") for row in padded])
    hit = trailing >= level
    hit[:, :after] = False
    return np.where(hit.any(axis=1), hit.argmax(axis=1), share.shape[1]).astype(float)


def onset_lead(results: Results, first: str, second: str, level: float, months: int,
               funded_by: str = "any", after: int = 0) -> np.ndarray:
    """(R,) months by which camp ``first`` meets funding difficulties (:func:`difficulty_onset`)
    before camp ``second``; a camp that never meets them counts as meeting them one month
    past the horizon. NaN when neither does (nothing to order)."""
    a = difficulty_onset(results, first, level, months, funded_by, after)
    b = difficulty_onset(results, second, level, months, funded_by, after)
    t = results.n_months
    return np.where((a >= t) & (b >= t), np.nan, b - a)


def gap_response(results: Results, camp: str, pair: str, level: float, months: int,
                 after_from: int, after_to: int, before: int,
                 funded_by: str = "any", after: int = 0) -> np.ndarray:
    """(R,) how much faster the ``pair`` gap widens ``after_from``..``after_to`` months after
    ``camp``'s funding-difficulty onset than over the ``before`` months up to the onset:
    ``slope(after) - slope(before)`` in ECI points per year (:func:`reduce_slope`). Positive
    means the difficulty shows in capability. NaN when the camp never meets difficulties or
    the windows do not fit in the horizon."""
    onset = difficulty_onset(results, camp, level, months, funded_by, after)
    gap = series_values(results, "gap_points", {"pair": pair})
    t = results.n_months
    out = np.full(gap.shape[0], np.nan)
    for r, o in enumerate(onset.astype(int)):
        lo, hi = o + after_from, o + after_to
        if o >= t or hi >= t or o - before < 0:
            continue
        row = gap[r:r + 1]
        out[r] = (reduce_slope(row, lo, hi) - reduce_slope(row, o - before, o))[0]
    return out


# --------------------------------------------------------------------------- indicators


@dataclass(frozen=True)
class Indicator:
    """A per-run scalar. ``kind`` is ``"series"`` (a reducer applied to a named series over
    a window ``start``..``end``; ``at`` reads one ``month``) or ``"event"`` (own params)."""

    name: str
    kind: str
    doc: str
    fn: Callable[..., np.ndarray]
    params: tuple[Param, ...] = ()
    unit: str | None = None


_PAIR = Param("pair", registry.PAIR.doc, choices=registry.PAIR.labels)
_LEVEL = Param("level", "difficulty level: trailing mean share of labs failing to raise",
               kind=float, default=0.5)
_MONTHS = Param("months", "months in the trailing mean", kind=int, default=3)
_FUNDED_BY = Param("funded_by", "whose failed raises count: any lab, or only labs with no "
                   "corporate parent's budget (investors)", choices=tuple(FUNDED_BY),
                   default="any")
_AFTER = Param("after", "first month (step) at which an onset counts", kind=int, default=0)

INDICATORS: dict[str, Indicator] = {i.name: i for i in (
    Indicator("at", "series", "value at a month", reduce_at),
    Indicator("mean", "series", "mean over the window", reduce_mean),
    Indicator("min", "series", "smallest value over the window", reduce_min),
    Indicator("max", "series", "largest value over the window", reduce_max),
    Indicator("change", "series", "value at end minus value at start", reduce_change),
    Indicator("slope", "series", "OLS slope over the window, per year", reduce_slope),
    Indicator("yoy_min_change", "series", "smallest year-on-year change of 12-month means",
              reduce_yoy_min_change),
    Indicator("year_change", "series", "mean over the window's last 12 months minus mean "
              "over its first 12", reduce_year_change),
    Indicator("year_ratio", "series", "mean over the window's last 12 months divided by mean "
              "over its first 12", reduce_year_ratio, unit="multiple"),
    Indicator("months_until", "series", "months from the window's start until the series "
              "reaches level and stays there hold months (inf: not within the window)",
              months_until,
              (Param("level", "the level the series must reach (series units)", kind=float),
               Param("hold", "months in a row it must stay at or above level", kind=int,
                     default=1)),
              unit="months"),
    Indicator("onset_lead", "event", "months by which camp `first` meets funding "
              "difficulties before camp `second`", onset_lead,
              (Param("first", "open lab camp", choices=CAMPS),
               Param("second", "open lab camp", choices=CAMPS), _LEVEL, _MONTHS, _FUNDED_BY,
               _AFTER), "months"),
    Indicator("gap_response", "event", "gap widening after a camp's funding-difficulty onset "
              "minus before it", gap_response,
              (Param("camp", "lab camp", choices=CAMPS), _PAIR, _LEVEL, _MONTHS,
               Param("after_from", "months after onset", kind=int, default=3),
               Param("after_to", "months after onset", kind=int, default=9),
               Param("before", "months before onset", kind=int, default=6), _FUNDED_BY,
               _AFTER),
              "ECI points/year"),
)}


def indicator_unit(indicator: str, series: str | None) -> str:
    """Unit of an indicator's value."""
    ind = INDICATORS[indicator]
    if ind.unit is not None:
        return ind.unit
    unit = registry.MEASURES[series].unit if series else ""
    return f"{unit}/year" if indicator == "slope" else unit


def evaluate(results: Results, indicator: str, *, series: str | None = None,
             params: dict[str, Any] | None = None, start: int = 0,
             end: int | None = None) -> np.ndarray:
    """(R,) value of ``indicator`` per run. Series indicators reduce ``series`` (with its
    ``params``) over steps ``start..end`` inclusive (default the whole horizon); a window
    reaching outside the horizon gives all-NaN. Event indicators take ``params`` only."""
    params = dict(params or {})
    ind = INDICATORS[indicator]
    if ind.kind == "event":
        kwargs = {p.name: params.get(p.name, p.default) for p in ind.params}
        return np.asarray(ind.fn(results, **kwargs), dtype=float)
    own = {p.name: params.pop(p.name, p.default) for p in ind.params}
    end = results.n_months - 1 if end is None else end
    if not 0 <= start <= end < results.n_months:
        return np.full(results.n_runs, np.nan)
    return reduce_series(indicator, series_values(results, series, params), start, end, own)


def series_params_of(indicator: str, params: dict[str, Any]) -> tuple[dict, dict]:
    """``params`` split into (the series' own, the series indicator's own)."""
    names = {p.name for p in INDICATORS[indicator].params}
    return ({k: v for k, v in params.items() if k not in names},
            {p.name: params.get(p.name, p.default) for p in INDICATORS[indicator].params})


def reduce_series(indicator: str, x: np.ndarray, start: int, end: int,
                  own: dict[str, Any] | None = None) -> np.ndarray:
    """(R,) series indicator ``indicator`` of an (R, T) series ``x`` over steps
    ``start..end`` (``own``: the indicator's own parameters, e.g. ``level``)."""
    return np.asarray(INDICATORS[indicator].fn(x, start, end, **(own or {})), dtype=float)
