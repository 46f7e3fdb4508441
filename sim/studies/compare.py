"""Counterfactual comparison on common random numbers (DESIGN.md section 7).

Every scenario of a comparison is simulated with the same seed and run numbers. Run r of
seed s draws each mechanism's random numbers from its own stream
``SeedSequence(s, spawn_key=(r, k))`` in fixed-shape monthly blocks (:mod:`sim.core.rng`), so run r
of two scenarios shares every draw the intervention does not touch. The effect of an
intervention in run r is then the **paired difference** ``d_r = alt_r - base_r`` of an
outcome, and

* the paired standard error of the mean effect is ``sd(d) / sqrt(n)``;
* the unpaired one (what independent seeds would give) is
  ``sqrt(var(alt) / n + var(base) / n)``.

When the worlds' outcomes are positively correlated run by run (they share most draws) the
paired one is much smaller: ``var(d) = var(alt) + var(base) - 2 cov(alt, base)``. Two identical
scenarios give ``d_r = 0`` exactly, which :func:`identical_check` verifies by re-simulating.

Outcomes are measures of :mod:`sim.measures.registry` read at a month
(:meth:`~sim.measures.registry.Measure.at`), named for the tables by
:func:`headline_outcomes`.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from sim.calendar import format_month
from sim.core.parameter_draws import run_draws_table
from sim.measures.registry import Measure, measure
from sim.vocab import OPEN_CAMPS

#: Quantiles of the paired difference reported as its 90% interval.
LOW_Q, HIGH_Q = 0.05, 0.95
#: Month of the CN-open capability outcome (issue #4: "CN-open capability at 2027-12").
CN_CAPABILITY_MONTH = "2027-12"

#: Headline outcomes read at each month compared: table text -> registry measure.
HEADLINES: tuple[tuple[str, str], ...] = (
    ("gap closed vs open", "gap_points[closed_vs_open]"),
    ("gap closed vs CN open", "gap_points[closed_vs_cn]"),
    ("lag closed vs open", "lag_months[closed_vs_open]"),
    ("lag closed vs CN open", "lag_months[closed_vs_cn]"),
    ("open token share", "token_share[all,open]"),
    ("open dollar share", "dollar_share[all,open]"),
    ("US open labs' share of open tokens", "open_usage_share[open_us]"),
)


def _outcome(text: str, name: str, month: int) -> Measure:
    """Registry measure ``name`` at calendar ``month``, named ``text month`` for tables."""
    when = format_month(month)
    return replace(measure(name).at(when), name=f"{text} {when}")


def headline_outcomes(months: Sequence[int], cn_month: int) -> list[Measure]:
    """The headline outcomes at calendar ``months``: gap (ECI points) and lag (months) of the
    best open and the China open camp behind closed, open token and dollar share (fraction,
    all segments), the US open camp's share of open-weight tokens (fraction); alive labs per
    camp (labs) at the last of ``months``; the China open frontier (ECI points) at
    ``cn_month``. Each is a registry measure at a month whose ``name`` is the table's text
    (``gap closed vs open 2027-12``)."""
    out = [_outcome(text, name, m) for m in months for text, name in HEADLINES]
    last = max(months)
    out += [_outcome(f"alive labs {camp}", f"alive_{camp}", last)
            for camp in ("closed", *OPEN_CAMPS)]
    out.append(_outcome("CN open frontier", "frontier_open_cn", cn_month))
    return out


@dataclass(frozen=True)
class Delta:
    """Summary of the paired difference ``alt - base`` of one outcome over runs."""

    outcome: Measure
    alt: str
    base_median: float
    alt_median: float
    median: float
    low: float
    high: float
    mean: float
    paired_se: float
    unpaired_se: float
    runs: int

    @property
    def se_ratio(self) -> float:
        """Unpaired SE / paired SE (inf when the paired SE is 0 and the unpaired is not)."""
        if self.paired_se == 0:
            return float("inf") if self.unpaired_se > 0 else float("nan")
        return self.unpaired_se / self.paired_se


def _se(x: np.ndarray) -> float:
    return float(np.std(x, ddof=1) / np.sqrt(len(x))) if len(x) > 1 else float("nan")


def paired_delta(outcome: Measure, alt_name: str, base: np.ndarray, alt: np.ndarray) -> Delta:
    """Paired statistics over runs where both values are defined (unpaired SE over each
    world's defined values)."""
    both = np.isfinite(base) & np.isfinite(alt)
    d = alt[both] - base[both]
    b, a = base[np.isfinite(base)], alt[np.isfinite(alt)]
    if len(d) == 0:
        nan = float("nan")
        return Delta(outcome, alt_name, nan, nan, nan, nan, nan, nan, nan, nan, 0)
    var_b = np.var(b, ddof=1) / len(b) if len(b) > 1 else np.nan
    var_a = np.var(a, ddof=1) / len(a) if len(a) > 1 else np.nan
    return Delta(outcome=outcome, alt=alt_name, base_median=float(np.median(b)),
                 alt_median=float(np.median(a)), median=float(np.median(d)),
                 low=float(np.quantile(d, LOW_Q)), high=float(np.quantile(d, HIGH_Q)),
                 mean=float(d.mean()), paired_se=_se(d),
                 unpaired_se=float(np.sqrt(var_a + var_b)), runs=int(len(d)))


def compare_worlds(base: Any, alts: Sequence[Any], outcomes: Sequence[Measure]) -> list[Delta]:
    """Paired deltas of every outcome for each alternative world against ``base`` (Results
    with the same run numbers)."""
    deltas = []
    for alt in alts:
        if not np.array_equal(alt.run_ids, base.run_ids) or alt.seed != base.seed:
            raise ValueError("paired comparison needs the same seed and run numbers")
        for o in outcomes:
            deltas.append(paired_delta(o, alt.scenario.name, o.value(base), o.value(alt)))
    return deltas


def identical_check(base: Any, again: Any, outcomes: Sequence[Measure]) -> float:
    """Largest |paired difference| over outcomes and runs between ``base`` and ``again``, an
    independent simulation of the same scenario on the same seed and (a prefix of) its run
    numbers. Exactly 0 when draws are common random numbers."""
    n = again.n_runs
    if not np.array_equal(base.run_ids[:n], again.run_ids):
        raise ValueError("identical check needs the same run numbers")
    worst = 0.0
    for o in outcomes:
        a, b = o.value(again), o.value(base)[:n]
        if not np.array_equal(np.isnan(a), np.isnan(b)):
            return float("inf")
        ok = np.isfinite(a)
        if ok.any():
            worst = max(worst, float(np.max(np.abs(a[ok] - b[ok]))))
    return worst


# --------------------------------------------------------------------------- attribution

#: Parameters listed per delta: the strongest rank correlations.
TOP_PARAMETERS = 3


@dataclass(frozen=True)
class Attribution:
    """Spearman rank correlation ``rho`` over runs of one outcome's paired delta with one
    drawn parameter (``parameter``, ``table.field``); ``rank`` 1 = largest ``|rho|``."""

    outcome: Measure
    alt: str
    rank: int
    parameter: str
    rho: float
    runs: int


def parameter_values(results: Any) -> dict[str, np.ndarray] | None:
    """Each run's drawn parameters (name -> (R,) schema units) of ``results``, or None at
    fixed parameters (:func:`sim.core.parameter_draws.run_draws_table`)."""
    table = run_draws_table(results.scenario, results.seed, results.run_ids)
    if table is None:
        return None
    return {k: v for k, v in table.items() if k not in ("run", "particle")}


def attribute(base: Any, alts: Sequence[Any], outcomes: Sequence[Measure],
              top: int = TOP_PARAMETERS) -> list[Attribution] | None:
    """Which drawn parameters each paired delta depends on most: for each alternative and
    outcome, the ``top`` parameters by ``|rho|``, ``rho`` the Spearman rank correlation
    (``scipy.stats.spearmanr``) over runs of ``d_r = alt_r - base_r`` with run ``r``'s draw
    of the parameter (base and alternative share it). Runs where the delta is undefined are
    left out; a delta or parameter constant over runs has no correlation (left out). None
    at fixed parameters: nothing to attribute."""
    from scipy.stats import spearmanr

    values = parameter_values(base)
    if values is None:
        return None
    out = []
    for alt in alts:
        for o in outcomes:
            b, a = o.value(base), o.value(alt)
            both = np.isfinite(b) & np.isfinite(a)
            d = a[both] - b[both]
            found = []
            if len(d) > 2 and np.ptp(d) > 0:
                for name, x in values.items():
                    x = x[both]
                    if np.ptp(x) > 0:
                        rho = float(spearmanr(d, x).statistic)
                        if rho == rho:
                            found.append((name, rho))
            found.sort(key=lambda item: -abs(item[1]))
            out += [Attribution(o, alt.scenario.name, k + 1, name, rho, int(len(d)))
                    for k, (name, rho) in enumerate(found[:top])]
    return out


# --------------------------------------------------------------------------- tables

CSV_COLUMNS = ("alternative", "outcome", "unit", "month", "runs", "base_median", "alt_median",
               "delta_median", "delta_p05", "delta_p95", "delta_mean", "paired_se",
               "unpaired_se", "se_ratio")


def _g(x: float) -> str:
    return "" if x != x else f"{x:.6g}"


def deltas_csv(deltas: Sequence[Delta]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for d in deltas:
        w.writerow([d.alt, d.outcome.name, d.outcome.unit, d.outcome.when,
                    d.runs, _g(d.base_median), _g(d.alt_median), _g(d.median), _g(d.low),
                    _g(d.high), _g(d.mean), _g(d.paired_se), _g(d.unpaired_se),
                    _g(d.se_ratio)])
    return buf.getvalue()


def _fmt(x: float, unit: str) -> str:
    if x != x:
        return "n/a"
    if unit == "fraction":
        return f"{100 * x:+.1f} pp" if x else "0"
    return f"{x:+.2f}" if x else "0"


def _fmt_level(x: float, unit: str) -> str:
    if x != x:
        return "n/a"
    return f"{x:.1%}" if unit == "fraction" else f"{x:.1f}"


ATTRIBUTION_COLUMNS = ("alternative", "outcome", "unit", "month", "runs", "rank", "parameter",
                       "spearman_rho")


def attribution_csv(found: Sequence[Attribution]) -> str:
    """``attribution.csv``: one row per (alternative, outcome, rank)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(ATTRIBUTION_COLUMNS)
    for a in found:
        w.writerow([a.alt, a.outcome.name, a.outcome.unit, a.outcome.when, a.runs, a.rank,
                    a.parameter, _g(a.rho)])
    return buf.getvalue()


def attribution_text(found: Sequence[Attribution], alt: str, outcome: str) -> str:
    """``"p1 (rho +0.62), p2 (-0.31), p3 (+0.10)"`` for one delta, or a dash."""
    parts = [f"{a.parameter} ({a.rho:+.2f})" for a in found
             if a.alt == alt and a.outcome.name == outcome]
    return ", ".join(parts) if parts else "-"


def deltas_markdown(deltas: Sequence[Delta], *, base: str, command: str, seed: int,
                    runs: int, check: float | None, check_runs: int,
                    parameters: str = "at fixed parameters",
                    attribution: Sequence[Attribution] | None = None) -> str:
    """One table per alternative: outcome, base and alt medians, median paired delta with its
    90% interval, paired and unpaired standard errors of the mean delta; under posterior
    draws (``attribution`` given) also the parameters each delta depends on most."""
    drawn = attribution is not None
    shared = ("each mechanism's random stream and its parameter draw" if drawn
              else "each mechanism's random stream")
    lines = [f"# Counterfactual comparison against '{base}'", "",
             f"{runs} runs per world on seed {seed}, common random numbers (run r of every "
             f"world shares {shared}). Delta = alternative minus base, run "
             f"by run; median and {int(100 * LOW_Q)}-{int(100 * HIGH_Q)}% interval over runs. "
             "SEs are of the mean delta: paired sd(d)/sqrt(n) vs unpaired "
             "sqrt(var(alt)/n + var(base)/n). Shares in percentage points (pp).", "",
             f"{parameters[:1].upper()}{parameters[1:]}: " + (
                 "the spread over runs holds both the random draws and the parameter draws; "
                 "column 'depends most on' gives the drawn parameters with the largest "
                 "Spearman rank correlation (rho) of the run's delta with the run's draw."
                 if drawn else "the spread over runs is over random draws only; with no "
                 "parameter draws there is nothing to attribute."), "",
             f"Command: `{command}`", ""]
    if check is not None:
        lines += [f"Identical-scenario check: '{base}' re-simulated for runs 0..{check_runs - 1}"
                  f" gives a paired delta of every outcome of exactly {check:g}.", ""]
    for alt in dict.fromkeys(d.alt for d in deltas):
        lines += [f"## {alt} vs {base}", "",
                  "| outcome | unit | base median | alt median | delta median [90%] | "
                  "paired SE | unpaired SE | ratio |" + (" depends most on (rho) |" if drawn
                                                          else ""),
                  "|:--|:--|--:|--:|--:|--:|--:|--:|" + (":--|" if drawn else "")]
        for d in (x for x in deltas if x.alt == alt):
            u = d.outcome.unit
            ratio = "" if d.se_ratio != d.se_ratio else (
                "inf" if d.se_ratio == float("inf") else f"{d.se_ratio:.1f}x")
            lines.append(
                f"| {d.outcome.name} | {u} | {_fmt_level(d.base_median, u)} | "
                f"{_fmt_level(d.alt_median, u)} | {_fmt(d.median, u)} "
                f"[{_fmt(d.low, u)}, {_fmt(d.high, u)}] | {_g_short(d.paired_se, u)} | "
                f"{_g_short(d.unpaired_se, u)} | {ratio} |"
                + (f" {attribution_text(attribution or (), alt, d.outcome.name)} |" if drawn
                   else ""))
        lines.append("")
    return "\n".join(lines)


def _g_short(x: float, unit: str) -> str:
    if x != x:
        return "n/a"
    return f"{100 * x:.2f} pp" if unit == "fraction" else f"{x:.3f}"
