"""Per-run indicators over a batch's :class:`~sim.core.engine.Results`: the measurable side of
the bets (``experiments/bets.toml``, :mod:`sim.studies.bets`) and of counterfactual comparisons.

Two layers, both pure functions over ``results.arrays``:

* **Series** (:data:`SERIES`): a named monthly quantity, one value per run and month,
  shape (R, T), with its unit (ECI points, months, fraction, USD bn/month, ...). NaN where
  the quantity is undefined (e.g. a share of zero tokens).
* **Indicators** (:data:`INDICATORS`): reduce a series over a window of months to one number
  per run, shape (R,): its value at a month, mean, min, max, OLS slope per year, change,
  smallest year-on-year change; plus two event-timing indicators for funding difficulties.

Months are step indices (0 = the scenario's first month); :func:`window` converts ``YYYY-MM``
dates. Parameters are declared (:class:`Param`) so a data file can be validated before any
simulation runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.measures import metrics
from sim.vocab import ALL, ALL_OPEN, CAMPS, JURISDICTIONS, OPEN_CAMPS, OUTPUT_CAMPS, PAIRS, POLICIES

#: Months per year, for slopes quoted per year.
MONTHS_PER_YEAR = 12.0
#: Label for "every segment" / "every sovereign" / "any policy" parameters.
ANY = ALL  # kept as the parameter-default name in this module


@dataclass(frozen=True)
class Param:
    """A parameter of a series or indicator. ``choices`` lists the allowed strings (None:
    any value of ``kind``); the string ``"segments"`` / ``"segments+all"`` / ``"sovereigns"``
    in ``choices_from`` means the choices come from the world (:func:`resolve_choices`)."""

    name: str
    doc: str
    kind: type = str
    choices: tuple[str, ...] | None = None
    choices_from: str | None = None
    default: Any = None


def resolve_choices(param: Param, segments: list[str], sovereigns: list[str]) -> tuple | None:
    """Allowed values of ``param`` for a world with these segments and sovereigns."""
    if param.choices_from == "segments":
        return (*segments, ANY)
    if param.choices_from == "sovereigns":
        return (*sovereigns, ANY)
    return param.choices


# --------------------------------------------------------------------------- series


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is 0."""
    with np.errstate(all="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _segment_index(results: Any, segment: str) -> int:
    """Index into a share array's segment axis (K segments then all)."""
    return metrics.segment_labels(results).index(segment)


def _camp_columns(camp: str) -> list[int]:
    """Columns of a (.., C4) array summed for ``camp`` (a lab camp or ``open``)."""
    names = OPEN_CAMPS if camp == ALL_OPEN else (camp,)
    return [CAMPS.index(c) for c in names]


def _with_all(values: np.ndarray, axis: int = 2) -> np.ndarray:
    """Append the sum over ``axis`` (segments) as a last entry."""
    return np.concatenate([values, values.sum(axis=axis, keepdims=True)], axis=axis)


def series_gap(results: Any, pair: str) -> np.ndarray:
    """Bench gap (ECI points): leader's released frontier minus the trailing camp's."""
    return metrics.gap_points(results)[pair]


def series_robust_gap(results: Any, pair: str) -> np.ndarray:
    """Robustness gap (ECI points): as :func:`series_gap` on the robustness frontiers."""
    lead, trail = PAIRS[pair]
    rob = results.arrays["robust_frontier"]
    return rob[:, :, OUTPUT_CAMPS.index(lead)] - rob[:, :, OUTPUT_CAMPS.index(trail)]


def series_robust_minus_bench_gap(results: Any, pair: str) -> np.ndarray:
    """Robustness gap minus bench gap (ECI points); positive when the leader's lead is larger
    on robustness than on benchmarks."""
    return series_robust_gap(results, pair) - series_gap(results, pair)


def series_lag(results: Any, pair: str) -> np.ndarray:
    """Lag in months of the trailing camp behind the leader
    (:func:`sim.measures.metrics.lag_months`), for this pair only."""
    lead, trail = PAIRS[pair]
    frontier = results.arrays["bench_frontier"]
    history = np.asarray(getattr(results.world.population.history, lead), dtype=float)
    return metrics.lag_months(frontier[:, :, OUTPUT_CAMPS.index(lead)],
                              frontier[:, :, OUTPUT_CAMPS.index(trail)], history)


def series_frontier(results: Any, camp: str) -> np.ndarray:
    """Released bench frontier of an output camp (ECI points)."""
    return results.arrays["bench_frontier"][:, :, OUTPUT_CAMPS.index(camp)]


def series_robust_frontier(results: Any, camp: str) -> np.ndarray:
    """Released robustness frontier of an output camp (ECI points)."""
    return results.arrays["robust_frontier"][:, :, OUTPUT_CAMPS.index(camp)]


def _share(values: np.ndarray, results: Any, segment: str, camp: str) -> np.ndarray:
    full = _with_all(np.asarray(values, dtype=float))  # (R, T, K+1, C4)
    k = _segment_index(results, segment)
    return _safe_div(full[:, :, k, _camp_columns(camp)].sum(axis=2), full[:, :, k].sum(axis=2))


def series_token_share(results: Any, segment: str, camp: str) -> np.ndarray:
    """Share of a segment's tokens (fraction) served by a lab camp or by all open camps."""
    return _share(results.arrays["tokens"], results, segment, camp)


def series_dollar_share(results: Any, segment: str, camp: str) -> np.ndarray:
    """Share of a segment's buyer spend (fraction) going to a lab camp or all open camps."""
    return _share(results.arrays["spend"], results, segment, camp)


def series_open_usage_share(results: Any, camp: str) -> np.ndarray:
    """Share of all open-weight tokens (every segment) served by one open camp (fraction)."""
    tokens = results.arrays["tokens"].sum(axis=2)  # (R, T, C4)
    return _safe_div(tokens[:, :, CAMPS.index(camp)], tokens[:, :, _camp_columns(ALL_OPEN)]
                     .sum(axis=2))


def series_open_segment_share(results: Any, segment: str) -> np.ndarray:
    """Share of all open-weight tokens that are used in one segment (fraction)."""
    tokens = _with_all(results.arrays["tokens"][:, :, :, _camp_columns(ALL_OPEN)].sum(axis=3))
    return _safe_div(tokens[:, :, _segment_index(results, segment)], tokens[:, :, -1])


def series_served_robust_gap(results: Any, segment: str) -> np.ndarray:
    """Token-weighted robustness of the closed models buyers use in a segment minus that of
    the open models they use (ECI points); NaN when either side serves no tokens there."""
    tokens = _with_all(results.arrays["tokens"])
    weighted = _with_all(results.arrays["served_robust_tokens"])
    k = _segment_index(results, segment)
    closed, opens = _camp_columns("closed"), _camp_columns(ALL_OPEN)
    return (_safe_div(weighted[:, :, k, closed].sum(axis=2), tokens[:, :, k, closed].sum(axis=2))
            - _safe_div(weighted[:, :, k, opens].sum(axis=2), tokens[:, :, k, opens].sum(axis=2)))


def series_alive(results: Any, camp: str) -> np.ndarray:
    """Labs alive in a lab camp or in all open camps (count)."""
    return results.arrays["alive"][:, :, _camp_columns(camp)].sum(axis=2)


def series_large_open_share(results: Any, jurisdiction: str) -> np.ndarray:
    """Share of a jurisdiction's open-weight tokens taken from large open models (trained
    above ``policy.ban_threshold_flop``), fraction; NaN when it uses no open model."""
    j = JURISDICTIONS.index(jurisdiction)
    return _safe_div(results.arrays["large_open_tokens"][:, :, j],
                     results.arrays["open_tokens_by_jurisdiction"][:, :, j])


def series_large_open_tokens(results: Any, jurisdiction: str) -> np.ndarray:
    """Trillion tokens per month a jurisdiction's buyers take from large open models."""
    return results.arrays["large_open_tokens"][:, :, JURISDICTIONS.index(jurisdiction)]


def _sovereign_columns(results: Any, sovereign: str) -> list[int]:
    ids = list(results.world.population.sovereign_ids)
    return list(range(len(ids))) if sovereign == ANY else [ids.index(sovereign)]


def series_sovereign_grants(results: Any, sovereign: str) -> np.ndarray:
    """Grants paid to open labs by one sovereign or all of them (USD bn/month)."""
    return results.arrays["sovereign_grants"][:, :, _sovereign_columns(results, sovereign)] \
        .sum(axis=2)


def series_policies_enacted(results: Any, policy: str, sovereign: str) -> np.ndarray:
    """Cumulative number of enactments (count) of a policy (or any policy) by a sovereign (or
    any sovereign) from the first month through month t; lapses do not subtract."""
    change = results.arrays["policy_change"][:, :, _sovereign_columns(results, sovereign)]
    cols = list(range(len(POLICIES))) if policy == ANY else [POLICIES.index(policy)]
    enacted = (change[:, :, :, cols] > 0).sum(axis=(2, 3))
    return np.cumsum(enacted, axis=1).astype(float)


def series_raise_failure_share(results: Any, camp: str) -> np.ndarray:
    """Share of a camp's labs alive at the start of the month that tried to raise and failed
    (fraction; NaN when none is alive). A lab tries when its runway is below
    ``funding.runway_trigger_months``."""
    cols = _camp_columns(camp)
    fails = results.arrays["raise_failures"][:, :, cols].sum(axis=2)
    alive = results.arrays["alive"][:, :, cols].sum(axis=2)
    # Exits happen within the month: labs alive before it are those alive after it plus exits.
    before = np.concatenate([alive[:, :1] + 0.0, alive[:, :-1]], axis=1)
    return _safe_div(fails, np.maximum(before, alive))


@dataclass(frozen=True)
class Series:
    name: str
    unit: str
    fn: Callable[..., np.ndarray]
    params: tuple[Param, ...]

    @property
    def doc(self) -> str:
        return (self.fn.__doc__ or "").strip().splitlines()[0]


_PAIR = Param("pair", "camp pair (leader_vs_trailing)", choices=tuple(PAIRS))
_OUT_CAMP = Param("camp", "output camp", choices=OUTPUT_CAMPS)
_LAB_CAMP = Param("camp", "lab camp, or open for all open camps", choices=(*CAMPS, ALL_OPEN))
_OPEN_CAMP = Param("camp", "open lab camp", choices=OPEN_CAMPS)
_SEGMENT = Param("segment", "market segment, or all", choices_from="segments")
_JUR = Param("jurisdiction", "jurisdiction", choices=JURISDICTIONS)
_SOV = Param("sovereign", "sovereign id, or all", choices_from="sovereigns", default=ANY)

SERIES: dict[str, Series] = {s.name: s for s in (
    Series("gap", "ECI points", series_gap, (_PAIR,)),
    Series("robust_gap", "ECI points", series_robust_gap, (_PAIR,)),
    Series("robust_minus_bench_gap", "ECI points", series_robust_minus_bench_gap, (_PAIR,)),
    Series("lag", "months", series_lag, (_PAIR,)),
    Series("frontier", "ECI points", series_frontier, (_OUT_CAMP,)),
    Series("robust_frontier", "ECI points", series_robust_frontier, (_OUT_CAMP,)),
    Series("token_share", "fraction", series_token_share, (_SEGMENT, _LAB_CAMP)),
    Series("dollar_share", "fraction", series_dollar_share, (_SEGMENT, _LAB_CAMP)),
    Series("open_usage_share", "fraction", series_open_usage_share, (_OPEN_CAMP,)),
    Series("open_segment_share", "fraction", series_open_segment_share, (_SEGMENT,)),
    Series("served_robust_gap", "ECI points", series_served_robust_gap, (_SEGMENT,)),
    Series("alive", "labs", series_alive, (_LAB_CAMP,)),
    Series("large_open_share", "fraction", series_large_open_share, (_JUR,)),
    Series("large_open_tokens", "trillion tokens/month", series_large_open_tokens, (_JUR,)),
    Series("sovereign_grants", "USD bn/month", series_sovereign_grants, (_SOV,)),
    Series("policies_enacted", "count", series_policies_enacted,
           (Param("policy", "policy, or all", choices=(*POLICIES, ANY)), _SOV)),
    Series("raise_failure_share", "fraction", series_raise_failure_share, (_LAB_CAMP,)),
)}


def series_values(results: Any, name: str, params: dict[str, Any]) -> np.ndarray:
    """(R, T) values of series ``name`` with ``params`` (defaults filled in)."""
    spec = SERIES[name]
    kwargs = {p.name: params.get(p.name, p.default) for p in spec.params}
    return np.asarray(spec.fn(results, **kwargs), dtype=float)


# --------------------------------------------------------------------------- reducers


def _nan_reduce(fn: Callable[..., np.ndarray], x: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        import warnings

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


# --------------------------------------------------------------------------- funding onset


def difficulty_onset(results: Any, camp: str, level: float, months: int) -> np.ndarray:
    """(R,) first step at which a camp meets **funding difficulties**: the mean over the last
    ``months`` months (fewer at the start) of :func:`series_raise_failure_share` reaches
    ``level``. ``T`` (one past the last step) when it never does."""
    share = np.nan_to_num(series_raise_failure_share(results, camp), nan=0.0)
    kernel = np.ones(months) / months
    # Trailing mean: pad the start with the first month so early months average what exists.
    padded = np.concatenate([np.repeat(share[:, :1], months - 1, axis=1), share], axis=1)
    trailing = np.stack([np.convolve(row, kernel, mode="valid") for row in padded])
    hit = trailing >= level
    return np.where(hit.any(axis=1), hit.argmax(axis=1), share.shape[1]).astype(float)


def onset_lead(results: Any, first: str, second: str, level: float, months: int) -> np.ndarray:
    """(R,) months by which camp ``first`` meets funding difficulties (:func:`difficulty_onset`)
    before camp ``second``; a camp that never meets them counts as meeting them one month
    past the horizon. NaN when neither does (nothing to order)."""
    a = difficulty_onset(results, first, level, months)
    b = difficulty_onset(results, second, level, months)
    t = results.n_months
    return np.where((a >= t) & (b >= t), np.nan, b - a)


def gap_response(results: Any, camp: str, pair: str, level: float, months: int,
                 after_from: int, after_to: int, before: int) -> np.ndarray:
    """(R,) how much faster the ``pair`` gap widens ``after_from``..``after_to`` months after
    ``camp``'s funding-difficulty onset than over the ``before`` months up to the onset:
    ``slope(after) - slope(before)`` in ECI points per year (:func:`reduce_slope`). Positive
    means the difficulty shows in capability. NaN when the camp never meets difficulties or
    the windows do not fit in the horizon."""
    onset = difficulty_onset(results, camp, level, months)
    gap = series_gap(results, pair)
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


_LEVEL = Param("level", "difficulty level: trailing mean share of labs failing to raise",
               kind=float, default=0.5)
_MONTHS = Param("months", "months in the trailing mean", kind=int, default=3)

INDICATORS: dict[str, Indicator] = {i.name: i for i in (
    Indicator("at", "series", "value at a month", reduce_at),
    Indicator("mean", "series", "mean over the window", reduce_mean),
    Indicator("min", "series", "smallest value over the window", reduce_min),
    Indicator("max", "series", "largest value over the window", reduce_max),
    Indicator("change", "series", "value at end minus value at start", reduce_change),
    Indicator("slope", "series", "OLS slope over the window, per year", reduce_slope),
    Indicator("yoy_min_change", "series", "smallest year-on-year change of 12-month means",
              reduce_yoy_min_change),
    Indicator("onset_lead", "event", "months by which camp `first` meets funding "
              "difficulties before camp `second`", onset_lead,
              (Param("first", "open lab camp", choices=CAMPS),
               Param("second", "open lab camp", choices=CAMPS), _LEVEL, _MONTHS), "months"),
    Indicator("gap_response", "event", "gap widening after a camp's funding-difficulty onset "
              "minus before it", gap_response,
              (Param("camp", "lab camp", choices=CAMPS), _PAIR, _LEVEL, _MONTHS,
               Param("after_from", "months after onset", kind=int, default=3),
               Param("after_to", "months after onset", kind=int, default=9),
               Param("before", "months before onset", kind=int, default=6)),
              "ECI points/year"),
)}


def indicator_unit(indicator: str, series: str | None) -> str:
    """Unit of an indicator's value."""
    ind = INDICATORS[indicator]
    if ind.unit is not None:
        return ind.unit
    unit = SERIES[series].unit if series else ""
    return f"{unit}/year" if indicator == "slope" else unit


def evaluate(results: Any, indicator: str, *, series: str | None = None,
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
    end = results.n_months - 1 if end is None else end
    if not 0 <= start <= end < results.n_months:
        return np.full(results.n_runs, np.nan)
    return np.asarray(ind.fn(series_values(results, series, params), start, end), dtype=float)
