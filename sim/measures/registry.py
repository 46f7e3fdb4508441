"""The one registry of measured quantities: every number read from a batch's Results.

A :class:`Measure` says what a quantity is (name, unit, description), how it is computed
from a batch's :class:`~sim.core.engine.Results` (a pure function returning a float array
shaped ``(runs, months, *dims)``), what its extra axes are (:class:`Dim`: camps, camp pairs,
segments, sovereigns, jurisdictions, policies, with their labels) and whether it is a monthly
**time series** (``when`` is None) or an **outcome** read at one month (``when`` =
``YYYY-MM``, ``start`` or ``end``; :meth:`Measure.at`). :data:`MEASURES` holds them all, in
the order of the tidy table's metric dictionary. Every reader goes through it:

* the tidy table and its manifest (:mod:`sim.report.outputs`: measures with ``tidy=True``);
* sweep outcomes ``NAME@WHEN`` (:mod:`sim.measures.outcomes`), hence sensitivity and
  scenario discovery, which read the sweep's outcome columns;
* the series that bets reduce over windows (:mod:`sim.measures.indicators`,
  :mod:`sim.studies.bets`) and the headline outcomes of ``compare``
  (:mod:`sim.studies.compare`);
* the dashboard's bands and the Mesa model's DataCollector (:mod:`sim.model`), which
  evaluates the same functions on a one-run Results of the months simulated so far.

**Adding a measure** is one call to :func:`_add` below: a name, a unit, a description, a
compute function and its dims. Nothing else needs to change.

**Names and selections.** A measure with dims can be narrowed to one label per dim,
written ``name[label,...]`` in dim order (``gap_points[closed_vs_cn]``,
``token_share[agentic_coding,open]``). A label may also be a *sum* a dim allows, for
quantities that add up (``alive[open]``: the open camps' labs together; ``all``: every
sovereign or policy), or an *aggregate* column the measure computes itself where they do not
(``token_share[...,open]``: the open camps' tokens over the total). A dim with a ``default``
may be left out, so a bare ``gap_points`` is the closed-vs-best-open gap and
``sovereign_grants`` the grants of every sovereign together. Some selections have names of
their own, kept from the sweep outcomes (``gap_points_cn``, ``frontier_open_cn``,
``alive_open``, ...), and three measures keep the shorter names the bets file uses as aliases
(``gap``, ``lag``, ``frontier``).

**One known double.** ``open_token_share`` / ``open_dollar_share`` (the sweep outcomes, the
dashboard, ``opengap run``'s summary) add up the open camps' shares, while
``token_share[all,open]`` / ``dollar_share[all,open]`` (``compare``, the bets) divide the open
camps' total by the market's. They are the same quantity and differ only in the rounding of
the last bit; both are kept so that every output stays bit-identical to the code this
registry replaced (a ``compare`` table prints such a last-bit difference, ``-5.8e-17`` vs
``-5.6e-17``, in a paired 5% quantile). Choose one when a last-bit change is acceptable.

**Zero demand.** A share of tokens or of spend in a (run, month, segment) where nothing was
served is **NaN** (undefined), not 0: a share of nothing has no value, and 0 would read as
"the closed camp (or the open camps) lost that market". This is the convention the bets and
indicators always used (a NaN month does not hold and is skipped by window means), and the
one the Mesa model used; the tidy table, sweeps and the dashboard used 0. NaN values are left
out of the tidy table (as lags without a released model already were), so a zero-demand month
has no share rows there. No shipped scenario has a segment without served demand (checked
on every shipped scenario, 50 runs: the smallest segment-month serves 0.02 trillion tokens),
so no shipped output changes.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from sim.calendar import format_month, parse_month
from sim.core.engine import LAB_ARRAYS
from sim.errors import InputError
from sim.measures.metrics import lag_months
from sim.vocab import (
    ALL,
    ALL_OPEN,
    CAMPS,
    JURISDICTIONS,
    OPEN_CAMPS,
    OUTPUT_CAMPS,
    PAIRS,
    POLICIES,
)

if TYPE_CHECKING:
    from sim.core.engine import Results
    from sim.core.world import World

Compute = Callable[["Results"], np.ndarray]


class MeasureError(InputError):
    """A measure name, selection or month that cannot be read; ``str(err)`` says what is
    allowed."""


# --------------------------------------------------------------------------- dims


@dataclass(frozen=True)
class Dim:
    """An extra axis of a measure, after (runs, months).

    ``name`` is the key used to pick a label (``pair="closed_vs_cn"`` in a bet); ``what`` says
    what its labels name (the tidy table's ``camp`` column holds them, so the manifest
    reports it). Labels are ``labels``, or come from the world when ``source`` is
    ``"segments"`` (its segments, then ``all`` for every segment together) or
    ``"sovereigns"`` (its sovereign ids). ``sums`` lists extra labels that select the sum of
    several labels (``None``: every label), allowed only where the quantity adds up.
    ``default`` is the label read when none is given (None: one must be given).
    ``aggregates`` are labels of columns the measure computes itself after the plain labels
    (``open`` in a share: the open camps' tokens over the total), for quantities that do not
    add up; the tidy table leaves them out (a reader forms them from the parts).
    """

    name: str
    doc: str
    what: str
    labels: tuple[str, ...] = ()
    source: str | None = None
    sums: tuple[tuple[str, tuple[str, ...] | None], ...] = ()
    default: str | None = None
    aggregates: tuple[str, ...] = ()

    def labels_of(self, segments: Sequence[str], sovereigns: Sequence[str],
                  labs: Sequence[str] = ()) -> tuple[str, ...]:
        """The axis labels for a world with these segments, sovereign ids and lab ids."""
        if self.source == "segments":
            return (*segments, ALL)
        if self.source == "sovereigns":
            return tuple(sovereigns)
        if self.source == "labs":
            return tuple(labs)
        return (*self.labels, *self.aggregates)

    def labels_in(self, world: World) -> tuple[str, ...]:
        if self.source is None:  # fixed labels: the world is not read (nor needed)
            return (*self.labels, *self.aggregates)
        pop = world.population
        if self.source == "labs":
            return tuple(pop.lab_ids)
        return self.labels_of(pop.segments, pop.sovereign_ids)

    def choices_of(self, segments: Sequence[str], sovereigns: Sequence[str],
                   labs: Sequence[str] = ()) -> tuple[str, ...]:
        """Every label that may be asked for: the axis labels, then the sums."""
        labels = self.labels_of(segments, sovereigns, labs)
        return (*labels, *(name for name, _ in self.sums if name not in labels))

    def pick(self, label: str, world: World) -> int | list[int]:
        """Index of ``label`` on the axis, or the list of indices a sum adds up."""
        labels = self.labels_in(world)
        if label in labels:
            return labels.index(label)
        for name, members in self.sums:
            if name == label:
                return list(range(len(labels))) if members is None else [
                    labels.index(m) for m in members]
        allowed = (*labels, *(name for name, _ in self.sums if name not in labels))
        raise MeasureError(f"unknown {self.name} {label!r}; allowed: {', '.join(allowed)}")


OUTPUT_CAMP = Dim("camp", "output camp (open: the best of the open camps)", "output camp",
                  OUTPUT_CAMPS)
LAB_CAMP = Dim("camp", "lab camp, or open for all open camps", "lab camp", CAMPS,
               sums=((ALL_OPEN, OPEN_CAMPS),))
OPEN_CAMP = Dim("camp", "open lab camp", "open lab camp", OPEN_CAMPS)
#: Lab camps with "open" as its own column, for ratios that do not add up over camps.
SHARE_CAMP = Dim("camp", "lab camp, or open for all open camps", "lab camp", CAMPS,
                 aggregates=(ALL_OPEN,))
PAIR = Dim("pair", "camp pair (leader_vs_trailing)", "camp pair", tuple(PAIRS),
           default="closed_vs_open")
SEGMENT = Dim("segment", "market segment, or all", "segment", source="segments")
SOVEREIGN = Dim("sovereign", "sovereign id", "sovereign id", source="sovereigns")
SOVEREIGN_OR_ALL = Dim("sovereign", "sovereign id, or all", "sovereign id",
                       source="sovereigns", sums=((ALL, None),), default=ALL)
JURISDICTION = Dim("jurisdiction", "jurisdiction", "jurisdiction", JURISDICTIONS)
JURISDICTION_OR_ALL = Dim("jurisdiction", "jurisdiction, or all", "jurisdiction",
                          JURISDICTIONS, sums=((ALL, None),), default=ALL)
LAB = Dim("lab", "lab id (seeds/labs.csv lab_id)", "lab id", source="labs")
POLICY = Dim("policy", "policy, or all", "policy", POLICIES, sums=((ALL, None),))


# --------------------------------------------------------------------------- measures


@dataclass(frozen=True)
class Measure:
    """A measured quantity.

    ``compute(results)`` returns ``(runs, months, *dims)`` in ``unit`` (one axis per
    :class:`Dim` of ``dims``, labels from :meth:`labels`); NaN where the quantity is
    undefined. ``when`` is None for a monthly time series; for an outcome it is the month
    read (``YYYY-MM``, ``start`` or ``end``) and :meth:`value` gives ``(runs, *dims)``.
    ``tidy`` measures are written to the tidy table. Every function a measure holds is a
    module-level function or a ``functools.partial`` of one, so measures pickle (sweep
    workers receive their outcomes).
    """

    name: str
    unit: str
    description: str
    compute: Compute
    dims: tuple[Dim, ...] = ()
    tidy: bool = False
    aliases: tuple[str, ...] = ()
    when: str | None = None

    @property
    def is_outcome(self) -> bool:
        """True for an outcome at a month, False for a monthly time series."""
        return self.when is not None

    @property
    def label(self) -> str:
        """``name`` for a series, ``name@when`` for an outcome (a sweep's column name)."""
        return self.name if self.when is None else f"{self.name}@{self.when}"

    def labels(self, world: World) -> tuple[tuple[str, ...], ...]:
        """Labels of each dim for ``world``, in axis order."""
        return tuple(d.labels_in(world) for d in self.dims)

    def series(self, results: Results) -> np.ndarray:
        """(runs, months, *dims) float64."""
        return np.asarray(self.compute(results), dtype=float)

    def series_by_runs(self, results: Results, part: tuple[Any, ...] = (), *,
                       runs: int = 1000) -> np.ndarray:
        """:meth:`series` of at most ``runs`` runs at a time, keeping of each block only
        ``part`` (an index into the dims, e.g. ``(-1,)`` for the last label of the first
        dim): (runs, months, *the dims left) float64. Every measure is a function of each
        run's own outputs, so the numbers are those of :meth:`series`; what this bounds is
        the temporaries, several arrays the size of the whole series for a share, which at
        10,000 runs are hundreds of MB."""
        n = len(results.run_ids)
        index = (slice(None), slice(None), *part)
        blocks = [self.series(replace(results, run_ids=results.run_ids[lo:lo + runs],
                                      arrays={k: v[lo:lo + runs]
                                              for k, v in results.arrays.items()}))[index]
                  for lo in range(0, n, runs)]
        return blocks[0] if len(blocks) == 1 else np.concatenate(blocks)

    def select(self, labels: dict[str, str] | None = None, *, name: str | None = None
               ) -> Measure:
        """This measure at one label per dim (a dim left out takes its default): a
        measure without dims named ``name``, by default ``self.name[label,...]``."""
        labels = dict(labels or {})
        unknown = set(labels) - {d.name for d in self.dims}
        if unknown:
            raise MeasureError(f"{self.name}: no dim {', '.join(sorted(unknown))}; dims: "
                               f"{', '.join(d.name for d in self.dims) or 'none'}")
        picks = []
        for d in self.dims:
            label = labels.get(d.name, d.default)
            if label is None:
                raise MeasureError(f"{self.name}: give a {d.name} ({d.doc})")
            allowed = (*d.labels, *d.aggregates, *(n for n, _ in d.sums))
            if d.source is None and label not in allowed:  # world labels: checked on use
                raise MeasureError(f"{self.name}: unknown {d.name} {label!r}; allowed: "
                                   f"{', '.join(allowed)}")
            picks.append(label)
        if not self.dims:
            return self if name is None else replace(self, name=name)
        text = f"{self.name}[{','.join(picks)}]"
        return replace(self, name=name or text, dims=(), tidy=False, aliases=(),
                       compute=partial(_selected, self.compute, self.dims, tuple(picks)))

    def at(self, when: str) -> Measure:
        """The outcome of this measure at month ``when`` (``YYYY-MM``, start or end)."""
        if when not in ("start", "end"):
            try:
                when = format_month(parse_month(when))
            except (ValueError, TypeError):
                raise MeasureError(f"{self.name}@{when}: after '@' give a month YYYY-MM, "
                                   "'start' or 'end'") from None
        return replace(self, when=when)

    def step(self, start_month: int, n_months: int) -> int:
        """Step index (0 = first simulated month) an outcome reads."""
        if self.when is None:
            raise MeasureError(f"{self.name}: a time series, not an outcome at a month")
        if self.when == "start":
            return 0
        if self.when == "end":
            return n_months - 1
        step = parse_month(self.when) - start_month
        if not 0 <= step < n_months:
            first, last = format_month(start_month), format_month(start_month + n_months - 1)
            raise MeasureError(f"outcome {self.label}: month outside the horizon "
                               f"{first}..{last}")
        return step

    def value(self, results: Results) -> np.ndarray:
        """(runs, *dims) float64: an outcome's value in each run."""
        p = results.world.params
        return self.series(results)[:, self.step(p.start_month, p.n_months)].copy()


def _selected(compute: Compute, dims: tuple[Dim, ...], picks: tuple[str, ...],
              results: Results) -> np.ndarray:
    """``compute(results)`` at one label (or sum of labels) per dim: (runs, months)."""
    return _pick(np.asarray(compute(results), dtype=float), dims, picks, results)


def _pick(values: np.ndarray, dims: tuple[Dim, ...], picks: tuple[str, ...],
          results: Results) -> np.ndarray:
    """``values`` (runs, months, *dims) at one label (or sum of labels) per dim."""
    where = [d.pick(p, results.world) for d, p in zip(dims, picks, strict=True)]
    # Single labels first (plain indexing), then sums over what is left, last axis first:
    # the same reductions, in the same order, as the per-quantity code this replaced.
    for axis in reversed(range(len(dims))):
        if isinstance(where[axis], int):
            values = values[(slice(None),) * (2 + axis) + (where[axis],)]
    summed = [i for i in where if not isinstance(i, int)]
    for k in reversed(range(len(summed))):
        values = np.take(values, summed[k], axis=2 + k).sum(axis=2 + k)
    return values


#: Every measure by name (and alias), in the order of the tidy table's metric dictionary.
MEASURES: dict[str, Measure] = {}


def _add(name: str, unit: str, description: str, compute: Compute,
         dims: tuple[Dim, ...] = (), *, tidy: bool = False, aliases: tuple[str, ...] = ()
         ) -> Measure:
    measure = Measure(name, unit, description, compute, dims, tidy, aliases)
    for key in (name, *aliases):
        if key in MEASURES:
            raise ValueError(f"measure {key!r} registered twice")
        MEASURES[key] = measure
    return measure


def _name(parent: Measure, name: str, description: str, **labels: str) -> Measure:
    """Register a selection of ``parent`` under a name of its own."""
    measure = replace(parent.select(labels, name=name), description=description)
    if name in MEASURES:
        raise ValueError(f"measure {name!r} registered twice")
    MEASURES[name] = measure
    return measure


# --------------------------------------------------------------------------- computations


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """num / den, NaN where den is 0 (or below)."""
    with np.errstate(all="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _with_all(values: np.ndarray, axis: int = 2) -> np.ndarray:
    """Append the sum over ``axis`` (segments) as a last entry."""
    values = np.asarray(values, dtype=float)
    return np.concatenate([values, values.sum(axis=axis, keepdims=True)], axis=axis)


def _camp_columns(camp: str) -> list[int]:
    """Columns of a (.., C4) array summed for ``camp`` (a lab camp or ``open``)."""
    return [CAMPS.index(c) for c in (OPEN_CAMPS if camp == ALL_OPEN else (camp,))]


def _array(name: str, results: Results) -> np.ndarray:
    """A recorded output as it is."""
    return results.arrays[name]


def _summed(name: str, results: Results) -> np.ndarray:
    """(R, T) a per-agent output summed over its last axis (every host)."""
    return results.arrays[name].sum(axis=-1)


def _demand_by_segment(results: Results) -> np.ndarray:
    """(R, T, K+1) tokens demanded per segment, with all segments last."""
    demand = results.arrays["demand"]
    return np.concatenate([demand, demand.sum(axis=-1, keepdims=True)], axis=-1)


def _by_segment(name: str, results: Results) -> np.ndarray:
    """(R, T, K+1, C4) a per-segment output with the all-segments sum last."""
    return _with_all(results.arrays[name])


def _shares(name: str, results: Results) -> np.ndarray:
    """(R, T, K+1, C4) each camp's share of a per-segment output (K segments, then all
    together); NaN where the segment served nothing (see the module docstring)."""
    full = _with_all(results.arrays[name])
    total = full.sum(axis=3, keepdims=True)
    with np.errstate(all="ignore"):
        return np.where(total > 0, full / np.where(total > 0, total, 1.0), np.nan)


def _shares_with_open(name: str, results: Results) -> np.ndarray:
    """(R, T, K+1, C4+1) :func:`_shares`, then the open camps' share as its own column: the
    open camps' total over the segment's total (NaN where the segment served nothing)."""
    full = _with_all(results.arrays[name])
    opens = _safe_div(full[..., _camp_columns(ALL_OPEN)].sum(axis=3), full.sum(axis=3))
    return np.concatenate([_shares(name, results), opens[..., None]], axis=3)


def _open_share_sum(name: str, results: Results) -> np.ndarray:
    """(R, T) the open camps' shares of all segments together, added up."""
    return _shares(name, results)[:, :, -1, _camp_columns(ALL_OPEN)].sum(axis=2)


def _pair_difference(name: str, results: Results) -> np.ndarray:
    """(R, T, P) leader's minus trailing camp's frontier per pair of :data:`PAIRS`."""
    f = results.arrays[name]
    return np.stack([f[:, :, OUTPUT_CAMPS.index(lead)] - f[:, :, OUTPUT_CAMPS.index(trail)]
                     for lead, trail in PAIRS.values()], axis=2)


def _lag(results: Results) -> np.ndarray:
    """(R, T, P) lag in months per pair (:func:`sim.measures.metrics.lag_months`); the
    leader's Epoch history is ``history.closed`` for the closed pairs and
    ``history.open_cn`` for ``cn_vs_us``."""
    f = results.arrays["bench_frontier"]
    hist = results.world.population.history
    return np.stack([lag_months(f[:, :, OUTPUT_CAMPS.index(lead)],
                                f[:, :, OUTPUT_CAMPS.index(trail)],
                                np.asarray(getattr(hist, lead), dtype=float))
                     for lead, trail in PAIRS.values()], axis=2)


def _robust_minus_bench_gap(results: Results) -> np.ndarray:
    return _pair_difference("robust_frontier", results) - _pair_difference("bench_frontier",
                                                                           results)


def _open_usage_share(results: Results) -> np.ndarray:
    """(R, T, 3) each open camp's share of all open-weight tokens."""
    tokens = results.arrays["tokens"].sum(axis=2)  # (R, T, C4)
    open_total = tokens[:, :, _camp_columns(ALL_OPEN)].sum(axis=2)
    return np.stack([_safe_div(tokens[:, :, CAMPS.index(c)], open_total) for c in OPEN_CAMPS],
                    axis=2)


def _open_segment_share(results: Results) -> np.ndarray:
    """(R, T, K+1) share of all open-weight tokens used in each segment (all: 1)."""
    tokens = _with_all(results.arrays["tokens"][:, :, :, _camp_columns(ALL_OPEN)].sum(axis=3))
    return _safe_div(tokens, tokens[:, :, -1:])


def _served_robust_gap(results: Results) -> np.ndarray:
    """(R, T, K+1) token-weighted robustness of the closed models served minus that of the
    open models served, per segment."""
    tokens = _with_all(results.arrays["tokens"])
    weighted = _with_all(results.arrays["served_robust_tokens"])
    closed, opens = _camp_columns("closed"), _camp_columns(ALL_OPEN)
    return (_safe_div(weighted[..., closed].sum(axis=3), tokens[..., closed].sum(axis=3))
            - _safe_div(weighted[..., opens].sum(axis=3), tokens[..., opens].sum(axis=3)))


def _large_open_share(results: Results) -> np.ndarray:
    return _safe_div(results.arrays["large_open_tokens"],
                     results.arrays["open_tokens_by_jurisdiction"])


def _policies_enacted(results: Results) -> np.ndarray:
    """(R, T, P, S) enactments of each policy by each sovereign, cumulated over months."""
    enacted = (results.arrays["policy_change"] > 0).transpose(0, 1, 3, 2)
    return np.cumsum(enacted, axis=1).astype(float)


def _large_open_by_camp(results: Results) -> np.ndarray:
    """(R, T, G, C_open) large-open tokens by jurisdiction and serving open camp."""
    cols = [CAMPS.index(c) for c in OPEN_CAMPS]
    return results.arrays["large_open_tokens_by_camp"][:, :, :, cols]


def _large_open_source_share(results: Results) -> np.ndarray:
    """(R, T, G, C_open) each open camp's share of a jurisdiction's large-open tokens."""
    by_camp = _large_open_by_camp(results)
    return _safe_div(by_camp, by_camp.sum(axis=3, keepdims=True))


def _token_share_excess(results: Results) -> np.ndarray:
    """(R, T, K+1, C4+1) token share in each segment minus the share over all segments (the
    last segment label, whose own excess is 0)."""
    shares = _shares_with_open("tokens", results)
    return shares - shares[:, :, -1:, :]


def _grant_share_of_open_funding(results: Results) -> np.ndarray:
    """(R, T) open camps' grants / (grants + rounds raised + corporate parents' budgets)."""
    arr = results.arrays
    cols = [CAMPS.index(c) for c in OPEN_CAMPS]
    grants = arr["grants"][:, :, cols].sum(axis=2)
    total = grants + (arr["raised"][:, :, cols] + arr["parent_funds"][:, :, cols]).sum(axis=2)
    return _safe_div(grants, total)


def _raise_failure_share(results: Results, fails_key: str = "raise_failures",
                         alive_key: str = "alive") -> np.ndarray:
    """(R, T, C4+1) share of a camp's labs (last: all open camps) alive at the start of the
    month that tried to raise and failed (``fails_key``, among ``alive_key``)."""
    out = []
    for camp in SHARE_CAMP.labels_in(results.world):
        cols = _camp_columns(camp)
        fails = results.arrays[fails_key][:, :, cols].sum(axis=2)
        alive = results.arrays[alive_key][:, :, cols].sum(axis=2)
        # Exits happen within the month: labs alive before it are those alive after it
        # plus exits.
        before = np.concatenate([alive[:, :1] + 0.0, alive[:, :-1]], axis=1)
        out.append(_safe_div(fails, np.maximum(before, alive)))
    return np.stack(out, axis=2)


def _policies_in_force(results: Results) -> np.ndarray:
    """(R, T, S) bans + crackdowns in force + the sovereign's own export tightening in force
    (enactments minus lapses so far)."""
    arr = results.arrays
    tightening = np.cumsum(arr["policy_change"][..., POLICIES.index("export_tightening")],
                           axis=1) > 0
    return (arr["ban_active"] + arr["crackdown_active"] + tightening).astype(float)


def _lab_frontier(results: Results) -> np.ndarray:
    """(R, T, L) running maximum of each lab's released benchmark score."""
    return np.fmax.accumulate(results.arrays["lab_bench"], axis=1)


# --------------------------------------------------------------------------- the registry
# Tidy measures first, in the order of the tidy table's metric dictionary.

FRONTIER = _add("bench_frontier", "ECI points", "released benchmark frontier (running max)",
                partial(_array, "bench_frontier"), (OUTPUT_CAMP,), tidy=True,
                aliases=("frontier",))
_add("robust_frontier", "ECI points", "released robustness frontier",
     partial(_array, "robust_frontier"), (OUTPUT_CAMP,), tidy=True)
GAP = _add("gap_points", "ECI points", "leader frontier minus trailing frontier",
           partial(_pair_difference, "bench_frontier"), (PAIR,), tidy=True, aliases=("gap",))
LAG = _add("lag_months", "months",
           "how long ago the leader first reached the trailing camp's level (Epoch's "
           "definition; NaN if a camp has no released model)", _lag, (PAIR,), tidy=True,
           aliases=("lag",))
_add("token_share", "fraction",
                   "share of tokens served (NaN, so no row, where the segment served none)",
                   partial(_shares_with_open, "tokens"), (SEGMENT, SHARE_CAMP), tidy=True)
_add("dollar_share", "fraction",
                    "share of buyer spend (NaN, so no row, where the segment spent nothing)",
                    partial(_shares_with_open, "spend"), (SEGMENT, SHARE_CAMP), tidy=True)
_add("token_share_excess", "fraction",
     "a camp's token share in a segment minus its token share over all segments: where the "
     "camp does better (+) or worse (-) than in the market as a whole",
     _token_share_excess, (SEGMENT, SHARE_CAMP))
_add("tokens", "trillion tokens/month", "tokens served", partial(_by_segment, "tokens"),
     (SEGMENT, LAB_CAMP), tidy=True)
_add("spend", "USD bn/month", "buyer spend on the camp's models", partial(_by_segment, "spend"),
     (SEGMENT, LAB_CAMP), tidy=True)
for _metric, _unit, _text in (
        ("cash", "USD bn", "cash held by the camp's labs"),
        ("compute", "H100e", "compute stock"),
        ("alive", "labs", "labs still operating"),
        ("revenue", "USD bn/month", "lab revenue"),
        ("raised", "USD bn/month", "private funding raised"),
        ("grants", "USD bn/month", "sovereign grants received"),
        ("releases", "models/month", "flagship releases")):
    _add(_metric, _unit, _text, partial(_array, _metric), (LAB_CAMP,), tidy=True)
for _metric, _unit, _text in (
        ("spend_total", "USD bn/month", "buyer spend, all models"),
        ("lab_revenue_total", "USD bn/month", "revenue of all labs"),
        ("host_margin", "USD bn/month", "third-party hosts' revenue over their serving cost "
         "(negative where a licence share exceeds a thin margin)"),
        ("opex_total", "USD bn/month", "operating costs of all labs"),
        ("compute_spend_total", "USD bn/month", "compute-contract payments of all labs"),
        ("written_off_total", "USD bn/month", "debts written off at lab exits"),
        ("safety_shocks", "events/month", "safety shocks (random and scheduled)")):
    _add(_metric, _unit, _text, partial(_array, _metric), tidy=True)
# Inference hosts and demand (sim/core/mechanisms/market.py).
_add("host_revenue_total", "USD bn/month", "what third-party hosts kept of buyers' spend on "
     "open models (after the labs' licence share)", partial(_summed, "host_revenue"), tidy=True)
_add("host_tokens_total", "trillion tokens/month", "open-model tokens served by third-party "
     "hosts (the rest by the labs' own APIs or on users' own hardware)",
     partial(_summed, "host_tokens"), tidy=True)
_add("demand", "trillion tokens/month", "tokens the buyers of a segment wanted (served or "
     "not): seeded demand x adoption x capability pull x price of capability",
     partial(_demand_by_segment), (SEGMENT,), tidy=True)
# Financed training runs (sim/core/mechanisms/{funding,compute,research}.py), not in the
# tidy table.
for _metric, _unit, _text in (
        ("parent_funds", "USD bn/month", "corporate parents' budgets paid to the camp's labs"),
        ("runs_planned", "labs/month", "labs that signed a compute contract for their next run"),
        ("runs_delayed", "labs/month", "labs that could not afford a run worth training"),
        ("runs_cancelled", "labs/month", "labs whose run or signed contract was cancelled"),
        ("runs_started", "labs/month", "runs that came online"),
        ("runs_ended", "labs/month", "runs that ended (released or written off)"),
        ("runs_in_progress", "labs", "labs with a training run in progress"),
        ("planned_flop", "FLOP/month", "FLOP of the runs planned this month"),
        ("contracted_h100e", "H100e", "compute under contract for runs in progress"),
        ("distill_paid", "USD bn/month", "distillation payments received less paid")):
    _add(_metric, _unit, _text, partial(_array, _metric), (LAB_CAMP,))
_add("largest_run_flop", "FLOP", "training FLOP of the largest released model of any lab",
     partial(_array, "largest_run_flop"))
_add("pressure", "pressure units", "regulatory pressure", partial(_array, "pressure"),
     (SOVEREIGN,), tidy=True)
_add("ban_active", "flag", "1 while an open-weight ban is in force",
     partial(_array, "ban_active"), (SOVEREIGN,), tidy=True)
_add("crackdown_active", "flag", "1 while a distillation crackdown is in force",
     partial(_array, "crackdown_active"), (SOVEREIGN,), tidy=True)
_add("export_multiplier", "multiplier",
     "compute price multiplier from export controls on the region",
     partial(_array, "export_multiplier"), (JURISDICTION,), tidy=True)
_add("sentiment", "multiplier", "investor sentiment (1 = normal)", partial(_array, "sentiment"),
     (JURISDICTION,), tidy=True)
_add("sovereign_grants", "USD bn/month", "grants paid to open labs",
     partial(_array, "sovereign_grants"), (SOVEREIGN_OR_ALL,), tidy=True)
_add("open_tokens", "trillion tokens/month", "open-model tokens used by the jurisdiction's buyers",
     partial(_array, "open_tokens_by_jurisdiction"), (JURISDICTION,), tidy=True)
_add("large_open_tokens", "trillion tokens/month",
     "tokens of open models trained above policy.ban_threshold_flop",
     partial(_array, "large_open_tokens"), (JURISDICTION_OR_ALL,), tidy=True)
_add("large_open_tokens_by_camp", "trillion tokens/month",
     "tokens of open models trained above policy.ban_threshold_flop that a jurisdiction's "
     "buyers took from one open camp's labs", _large_open_by_camp, (JURISDICTION, OPEN_CAMP))
_add("large_open_source_share", "fraction",
     "share of a jurisdiction's use of large open models (trained above "
     "policy.ban_threshold_flop) served by one open camp's labs: whose large open models "
     "it uses (NaN in a month with none)", _large_open_source_share,
     (JURISDICTION, OPEN_CAMP))
_add("random_funding_shock", "flag", "1 in a month a random funding shock hit",
     partial(_array, "random_funding_shocks"), (JURISDICTION,), tidy=True)

# Derived series, not in the tidy table.
_add("robust_gap", "ECI points", "leader's released robustness frontier minus the trailing "
     "camp's", partial(_pair_difference, "robust_frontier"), (PAIR,))
_add("robust_minus_bench_gap", "ECI points", "robustness gap minus bench gap; positive when "
     "the leader's lead is larger on robustness than on benchmarks", _robust_minus_bench_gap,
     (PAIR,))
OPEN_USAGE = _add("open_usage_share", "fraction", "one open camp's share of all open-weight "
                  "tokens served to buyers in every market and segment (the labs' camp, not "
                  "the buyers' country)", _open_usage_share, (OPEN_CAMP,))
_add("open_segment_share", "fraction", "share of all open-weight tokens used in one segment",
     _open_segment_share, (SEGMENT,))
_add("served_robust_gap", "ECI points", "token-weighted robustness of the closed models buyers "
     "use in a segment minus that of the open models they use (NaN when either serves no "
     "tokens there)", _served_robust_gap, (SEGMENT,))
_add("large_open_share", "fraction", "share of a jurisdiction's open-weight tokens taken from "
     "open models trained above policy.ban_threshold_flop (NaN when it uses none)",
     _large_open_share, (JURISDICTION,))
_add("policies_enacted", "count", "enactments of a policy by a sovereign from the first month "
     "through this one (lapses do not subtract)", _policies_enacted, (POLICY, SOVEREIGN_OR_ALL))
_add("raise_failure_share", "fraction", "share of a camp's labs alive at the start of the "
     "month that tried to raise (short runway, or short of its next run) and failed (NaN "
     "when none is alive)", _raise_failure_share, (SHARE_CAMP,))
_add("investor_raise_failure_share", "fraction", "share of a camp's labs that must raise "
     "outside money (no corporate parent's budget this month: startups, nonprofits) that "
     "tried to raise and failed; NaN when the camp has none",
     partial(_raise_failure_share, fails_key="investor_raise_failures",
             alive_key="investor_funded"), (SHARE_CAMP,))

_add("grant_share_of_open_funding", "fraction", "share of the outside money open labs "
     "receive (sovereign grants and programmes, rounds raised, corporate parents' budgets) "
     "that comes as grants: funding from stakeholders other than investors and a single "
     "for-profit parent (NaN in a month with none)", _grant_share_of_open_funding)
_add("policies_in_force", "count", "policies in force in a sovereign's jurisdiction (an "
     "open-weight ban, a distillation crackdown, its own export tightening), scheduled or "
     "enacted; all: summed over sovereigns", _policies_in_force, (SOVEREIGN_OR_ALL,))
# Per lab: one column per lab of the world (lab ids of seeds/labs.csv).
for _metric, (_unit, _text) in LAB_ARRAYS.items():
    _add(_metric, _unit, _text, partial(_array, _metric), (LAB,))
_add("lab_frontier", "ECI points", "best benchmark score the lab has released so far "
     "(running max of lab_bench)", _lab_frontier, (LAB,))

# Named selections: the sweep outcomes' names, and the Mesa model's columns.
_PAIR_TEXT = {"closed_vs_open": "the best open-weight", "closed_vs_cn": "the Chinese open",
              "closed_vs_us": "the US open"}
for _suffix, _pair in (("_cn", "closed_vs_cn"), ("_us", "closed_vs_us")):
    _name(GAP, f"gap_points{_suffix}", f"closed released frontier minus {_PAIR_TEXT[_pair]} "
          "frontier (positive: closed ahead)", pair=_pair)
    _name(LAG, f"lag_months{_suffix}", f"how long ago the closed frontier first reached "
          f"{_PAIR_TEXT[_pair]} frontier's current level (Epoch's definition; NaN if that camp "
          "has no model)", pair=_pair)
for _camp in OUTPUT_CAMPS:
    _name(FRONTIER, f"frontier_{_camp}", "released benchmark frontier (running max) of the "
          f"{_camp} camp", camp=_camp)
# The open camps' shares added up: token_share[all,open] up to rounding in the last bit (a
# sum of quotients, not a quotient of sums). Both roundings are kept so that every output
# stays bit-identical to the per-consumer code they replaced; unifying them changes sweep
# and compare outputs in the 16th digit.
_add("open_token_share", "fraction", "share of all tokens served on open-weight models (the "
     "open camps' shares added up)", partial(_open_share_sum, "tokens"))
_add("open_dollar_share", "fraction", "share of all buyer spend on open-weight models (the "
     "open camps' shares added up)", partial(_open_share_sum, "spend"))
_ALIVE = MEASURES["alive"]
for _camp in CAMPS:
    _name(_ALIVE, f"alive_{_camp}", f"{_camp} labs still operating", camp=_camp)
_name(_ALIVE, "alive_open", "open-weight labs still operating (all open camps)", camp=ALL_OPEN)


# --------------------------------------------------------------------------- lookups

_SELECTION = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)(?:\[([^\]]*)\])?$")


def measure(text: str) -> Measure:
    """The measure named ``text``: a registered name or alias, or ``name[label,...]`` (one
    label per dim, in dim order), or a bare name whose dims all have defaults (then read at
    them, keeping the bare name). Raises :class:`MeasureError` naming what is allowed."""
    match = _SELECTION.match(text.strip()) if isinstance(text, str) else None
    if match is None or match.group(1) not in MEASURES:
        raise MeasureError(f"unknown measure {text!r}; allowed: {', '.join(names())}")
    base, inner = MEASURES[match.group(1)], match.group(2)
    if inner is None:
        if all(d.default is not None for d in base.dims):
            return base.select(name=match.group(1))
        return base
    picks = [p.strip() for p in inner.split(",")] if inner.strip() else []
    if len(picks) != len(base.dims):
        raise MeasureError(f"{text}: give {len(base.dims)} label(s) in brackets, one per dim "
                           f"({', '.join(d.name for d in base.dims) or 'none'})")
    return base.select({d.name: p for d, p in zip(base.dims, picks, strict=True)})


def names() -> list[str]:
    """Registered measure names (aliases left out), in registry order."""
    return list(dict.fromkeys(m.name for m in MEASURES.values()))


def unique() -> Iterator[Measure]:
    """Every registered measure once, in registry order."""
    seen: set[str] = set()
    for m in MEASURES.values():
        if m.name not in seen:
            seen.add(m.name)
            yield m


def tidy_measures() -> list[Measure]:
    """Measures written to the tidy table, in the order of its metric dictionary."""
    return [m for m in unique() if m.tidy]


def scalar_series() -> list[Measure]:
    """One value per (run, month): every measure without dims, and every measure whose dims
    all have defaults read at them under its bare name. The Mesa model reports these."""
    out = []
    for m in unique():
        if not m.dims:
            out.append(m)
        elif all(d.default is not None for d in m.dims):
            out.append(m.select(name=m.name))
    return out


def series_of(measures: Sequence[Measure], results: Results) -> dict[str, np.ndarray]:
    """``{name: m.series(results)}`` for several measures, computing each underlying
    quantity once: selections of one measure (``lag_months``, ``lag_months_cn``,
    ``lag_months_us``) share its computation. Values are those of :meth:`Measure.series`,
    bit for bit."""
    base: dict[int, np.ndarray] = {}
    out: dict[str, np.ndarray] = {}
    for m in measures:
        c = m.compute
        if isinstance(c, partial) and c.func is _selected:
            compute, dims, picks = c.args
            if id(compute) not in base:
                base[id(compute)] = np.asarray(compute(results), dtype=float)
            out[m.name] = np.asarray(_pick(base[id(compute)], dims, picks, results),
                                     dtype=float)
        else:
            out[m.name] = m.series(results)
    return out


def flat_labels(m: Measure, world: World) -> list[tuple[str, ...]]:
    """One label tuple per column of ``m.series(...)`` reshaped to (runs, months, -1)."""
    return list(itertools.product(*m.labels(world)))


def is_aggregate(m: Measure, labels: tuple[str, ...]) -> bool:
    """True if a column (its label tuple) is an aggregate a dim computes (:class:`Dim`)."""
    return any(label in d.aggregates for d, label in zip(m.dims, labels, strict=True))


def describe() -> str:
    """The registry as text, one measure a line: name[dims], unit, meaning."""
    rows = [(m.name + (f"[{','.join(d.name for d in m.dims)}]" if m.dims else ""), m)
            for m in unique()]
    width = max(len(r[0]) for r in rows)
    return "\n".join(f"{text.ljust(width)}  [{m.unit}] {m.description}" for text, m in rows)


__all__ = ["MEASURES", "Dim", "Measure", "MeasureError", "describe", "flat_labels",
           "is_aggregate", "measure", "names", "scalar_series", "series_of", "tidy_measures",
           "unique"]
