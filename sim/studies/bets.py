"""Bets: named, dated, falsifiable statements about simulated outcomes, read from a data file
(``experiments/bets.toml``) and scored over an ensemble of runs.

File format (TOML)::

    [[bets]]
    id = "no-growing-bench-margin"       # unique; letters, digits, '-' and '_'
    title = "Closed models show no growing benchmark margin"
    statement = "..."                    # the claim in words
    scenario = "baseline"                # world the bet is about (default "baseline")
    control = "baseline"                 # optional: makes the bet *paired* (see below)
    contrast = "difference"              # with control: difference | abs_difference | ratio
    contrast_on = "indicator"            # with control: indicator (default) | series: the
                                         # contrast month by month, then the indicator
    decided_by = "..."                   # optional: the inputs that set the outcome when it
                                         # holds in all runs or none (shown with "decided")

    [[bets.conditions]]                  # one or more; the bet holds when all hold
    indicator = "slope"                  # a name in sim.measures.indicators.INDICATORS
    series = "gap"                       # series indicators: a measure of sim.measures.registry
    pair = "closed_vs_open"              # the series' / indicator's own parameters
    start = "2026-04"                    # window (default: the whole horizon) ...
    end = "2027-03"
    # month = "2027-12"                  # ... or, for indicator "at", one month
    holds_if = "<= 0"                    # <, <=, > or >= and a number, in the indicator's unit

**Per run**, each condition's indicator is computed
(:func:`sim.measures.indicators.evaluate`); for a
paired bet it is ``contrast(value in scenario, value in control)`` on the *same run number*,
which under common random numbers isolates the intervention's effect in that run. The bet
holds in a run when every condition holds; a run where an indicator is undefined (NaN, e.g. a
share of zero tokens, or no funding-difficulty onset) counts as *not holding* and is counted
in ``undefined_runs``. A condition whose window lies outside the horizon makes the cell n/a.

**Probability**: ``k / n`` over the n runs, with a 90% Jeffreys interval: the 5% and 95%
quantiles of Beta(k + 1/2, n - k + 1/2) (lower bound 0 when k = 0, upper 1 when k = n). The
Jeffreys interval has close to nominal coverage for small n and for k near 0 or n, where the
Wald interval collapses (Brown, Cai and DasGupta 2001, Statistical Science 16:101). Under
posterior draws each run is an independent draw of (parameters, random streams), so k is
binomial in the probability over both, and the interval is over both: it measures how well
n runs pin down that probability, not how wrong the model may be.

**Columns.** The scorecard always has the column ``stated``: each bet in the world its
definition names. For each scenario S asked for, a column ``S`` re-evaluates the bets that
are about any world (stated in the baseline, unpaired) with S in place of the baseline. A
bet about one world (paired, or stated in another scenario: the ban, the crackdown, the
safety-shock wave) is scored only in its own world: under S it is "not this world" unless S
is that world (:meth:`Bet.applies`). The name ``baseline`` anywhere in the file means the
baseline world (by default the shipped baseline; replaceable, e.g. by a small test world).

**Decided by the inputs.** A cell whose bet holds in every run or in none
(:attr:`Cell.decided`) does not vary over the posterior draws and the scenario's randomness:
the scorecard shows it as decided by the inputs, with the indicator's range over the runs
against the threshold, not as a probability.

Scenario names are looked up next to the bets file first, then among the shipped scenarios.
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.calendar import format_month, parse_month
from sim.errors import InputError
from sim.inputs.scenario import resolve_scenario_path, scenarios_dir
from sim.inputs.tomlfile import read_toml
from sim.measures import indicators as ind

BASELINE = "baseline"
STATED = "stated"
CONTRASTS: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "difference": lambda a, b: a - b,
    "abs_difference": lambda a, b: np.abs(a - b),
    "ratio": lambda a, b: np.divide(a, b, out=np.full_like(a, np.nan), where=b != 0),
}
OPS: dict[str, Callable[[Any, Any], Any]] = {
    "<=": operator.le, ">=": operator.ge, "<": operator.lt, ">": operator.gt}
INTERVAL = 0.90

_BET_KEYS = ("id", "title", "statement", "scenario", "control", "contrast", "contrast_on",
             "decided_by", "conditions")
CONTRAST_ON = ("indicator", "series")
_COND_KEYS = ("indicator", "series", "start", "end", "month", "holds_if")
_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*$")
_HOLDS_RE = re.compile(r"^\s*(<=|>=|<|>)\s*([-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?)\s*$")


class BetsError(InputError):
    """A bets file could not be used; ``str(err)`` is one line: file, field, what is allowed."""


@dataclass(frozen=True)
class Condition:
    indicator: str
    series: str | None
    params: dict[str, Any]
    start: int | None  # month index (calendar), None = horizon start
    end: int | None  # month index, None = horizon end
    op: str
    threshold: float

    @property
    def unit(self) -> str:
        return ind.indicator_unit(self.indicator, self.series)

    def describe(self) -> str:
        """Short text of the test, e.g. ``slope(gap closed_vs_open, 2026-04..2027-03) <= 0``."""
        args = " ".join(str(v) for v in self.params.values())
        what = f"{self.series} {args}".strip() if self.series else args
        if self.indicator == "at" and self.end is not None:
            when = f", {format_month(self.end)}"
        elif self.start is not None or self.end is not None:
            a = format_month(self.start) if self.start is not None else "start"
            b = format_month(self.end) if self.end is not None else "end"
            when = f", {a}..{b}"
        else:
            when = ""
        return f"{self.indicator}({what}{when}) {self.op} {self.threshold:g}"


@dataclass(frozen=True)
class Bet:
    number: int  # 1-based position in the file
    id: str
    title: str
    statement: str
    scenario: str
    control: str | None
    contrast: str | None
    conditions: tuple[Condition, ...]
    contrast_on: str = "indicator"
    decided_by: str = ""  # the inputs that set the outcome when it does not vary (text)

    @property
    def bound(self) -> bool:
        """True for a bet about one world: paired (a scenario against its control) or stated
        in a world other than the baseline. Such a bet is scored only in its own world."""
        return self.control is not None or self.scenario != BASELINE

    def applies(self, column: str) -> bool:
        """Whether the bet is scored in a scorecard column: always as stated; under a named
        scenario only if the bet is about any world (stated in the baseline, unpaired) or
        the column is its own world. (Under ``cn-funding-crunch`` the ban bet is not asked:
        that world has no ban.)"""
        return column == STATED or not self.bound or column == self.scenario

    def worlds(self, column: str) -> tuple[str, str | None] | None:
        """(scenario, control or None) the bet is scored in for a scorecard column; None
        when it does not apply there (:meth:`applies`)."""
        if not self.applies(column):
            return None
        treatment = self.scenario if column == STATED else column
        return treatment, self.control

    def describe(self) -> str:
        text = " and ".join(c.describe() for c in self.conditions)
        if self.control is not None:
            by = " month by month" if self.contrast_on == "series" else ""
            text = f"{self.contrast}{by} vs {self.control}: {text}"
        return text


# --------------------------------------------------------------------------- loading


def _fail(source: str, where: str, message: str) -> BetsError:
    return BetsError(f"{source}: {where}: {message}")


def _month(source: str, where: str, value: Any) -> int:
    if not isinstance(value, str):
        raise _fail(source, where, f"expected a month 'YYYY-MM' (got {value!r})")
    try:
        return parse_month(value)
    except ValueError as exc:
        raise _fail(source, where, str(exc)) from None


def _param(source: str, where: str, spec: ind.Param, value: Any, segments: list[str],
           sovereigns: list[str]) -> Any:
    if spec.kind is str:
        if not isinstance(value, str):
            raise _fail(source, where, f"expected a string (got {value!r})")
    elif spec.kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(source, where, f"expected an integer (got {value!r})")
    elif isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(
            value):
        raise _fail(source, where, f"expected a number (got {value!r})")
    choices = ind.resolve_choices(spec, segments, sovereigns)
    if choices is not None and value not in choices:
        raise _fail(source, where, f"unknown {spec.name} {value!r}; allowed: {', '.join(choices)}")
    if spec.kind is int and value < 0:
        raise _fail(source, where, f"must be >= 0 (got {value})")
    return value


def _condition(source: str, where: str, raw: Any, segments: list[str],
               sovereigns: list[str]) -> Condition:
    if not isinstance(raw, dict):
        raise _fail(source, where, "expected a table ([[bets.conditions]])")
    name = raw.get("indicator")
    if name is None:
        raise _fail(source, f"{where}.indicator", "required field is missing")
    if name not in ind.INDICATORS:
        raise _fail(source, f"{where}.indicator",
                    f"unknown indicator {name!r}; allowed: {', '.join(ind.INDICATORS)}")
    spec = ind.INDICATORS[name]
    params_spec = list(spec.params)
    series = raw.get("series")
    if spec.kind == "series":
        if series is None:
            raise _fail(source, f"{where}.series",
                        f"required for indicator {name!r}; allowed: "
                        f"{', '.join(ind.series_names())}")
        if not ind.is_series(series):
            raise _fail(source, f"{where}.series",
                        f"unknown series {series!r}; allowed: {', '.join(ind.series_names())}")
        params_spec += list(ind.series_params(series))
        timing = ("month",) if name == "at" else ("start", "end")
    else:
        timing = ()
    allowed = ["indicator", *(("series",) if spec.kind == "series" else ()), *timing,
               "holds_if", *(p.name for p in params_spec)]
    for key in raw:
        if key not in allowed:
            raise _fail(source, f"{where}.{key}",
                        f"unknown key for indicator {name!r}; allowed keys: {', '.join(allowed)}")
    params: dict[str, Any] = {}
    for p in params_spec:
        if p.name in raw:
            params[p.name] = _param(source, f"{where}.{p.name}", p, raw[p.name], segments,
                                    sovereigns)
        elif p.default is None:
            choices = ind.resolve_choices(p, segments, sovereigns)
            hint = f"; allowed: {', '.join(choices)}" if choices else f" ({p.doc})"
            raise _fail(source, f"{where}.{p.name}", f"required field is missing{hint}")
        else:
            params[p.name] = p.default
    start = end = None
    if name == "at":
        if "month" not in raw:
            raise _fail(source, f"{where}.month", "required for indicator 'at' (YYYY-MM)")
        start = end = _month(source, f"{where}.month", raw["month"])
    elif timing:
        if "start" in raw:
            start = _month(source, f"{where}.start", raw["start"])
        if "end" in raw:
            end = _month(source, f"{where}.end", raw["end"])
        if start is not None and end is not None and end < start:
            raise _fail(source, f"{where}.end", f"must not be before start "
                        f"({format_month(end)} < {format_month(start)})")
    holds = raw.get("holds_if")
    if holds is None:
        raise _fail(source, f"{where}.holds_if", "required field is missing (e.g. \"<= 0\")")
    match = _HOLDS_RE.match(holds) if isinstance(holds, str) else None
    if match is None:
        raise _fail(source, f"{where}.holds_if", f"expected an operator (<, <=, >, >=) and a "
                    f"number, e.g. \"<= 0\" (got {holds!r})")
    return Condition(indicator=name, series=series, params=params, start=start, end=end,
                     op=match.group(1), threshold=float(match.group(2)))


def scenario_path(name: str, bets_dir: Path | None) -> Path:
    """Path of a scenario named in a bets file: next to the file, then shipped."""
    if bets_dir is not None and not name.endswith(".toml"):
        local = bets_dir / f"{name}.toml"
        if local.is_file():
            return local
    if bets_dir is not None and name.endswith(".toml") and not Path(name).is_absolute():
        local = bets_dir / name
        if local.is_file():
            return local
    return resolve_scenario_path(name)


def _scenario_name(source: str, where: str, value: Any, bets_dir: Path | None) -> str:
    if not isinstance(value, str) or not value:
        raise _fail(source, where, f"expected a scenario name (got {value!r})")
    if value != BASELINE and not scenario_path(value, bets_dir).is_file():
        shipped = sorted(p.stem for p in scenarios_dir().glob("*.toml"))
        raise _fail(source, where, f"no such scenario {value!r}; shipped: {', '.join(shipped)}")
    return value


def _text(source: str, where: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _fail(source, where, f"expected a non-empty string (got {value!r})")
    return value.strip()


def parse_bets(data: dict[str, Any], *, source: str, segments: list[str],
               sovereigns: list[str], bets_dir: Path | None = None) -> list[Bet]:
    """Validate parsed TOML ``data``; raise :class:`BetsError` naming the first bad field."""
    for key in data:
        if key != "bets":
            raise _fail(source, key, "unknown key; allowed keys here: bets")
    raw_bets = data.get("bets")
    if not isinstance(raw_bets, list) or not raw_bets:
        raise _fail(source, "bets", "expected at least one [[bets]] table")
    bets: list[Bet] = []
    seen: set[str] = set()
    for i, raw in enumerate(raw_bets):
        where = f"bets[{i}]"
        if not isinstance(raw, dict):
            raise _fail(source, where, "expected a table ([[bets]])")
        for key in raw:
            if key not in _BET_KEYS:
                raise _fail(source, f"{where}.{key}",
                            f"unknown key; allowed keys here: {', '.join(_BET_KEYS)}")
        for key in ("id", "title", "statement", "conditions"):
            if key not in raw:
                raise _fail(source, f"{where}.{key}", "required field is missing")
        bet_id = raw["id"]
        if not isinstance(bet_id, str) or not _ID_RE.match(bet_id):
            raise _fail(source, f"{where}.id", f"expected letters, digits, '-' or '_' "
                        f"(got {bet_id!r})")
        if bet_id in seen:
            raise _fail(source, f"{where}.id", f"duplicate id {bet_id!r}")
        seen.add(bet_id)
        scenario = _scenario_name(source, f"{where}.scenario", raw.get("scenario", BASELINE),
                                  bets_dir)
        control = raw.get("control")
        contrast = raw.get("contrast")
        if control is not None:
            control = _scenario_name(source, f"{where}.control", control, bets_dir)
            contrast = "difference" if contrast is None else contrast
            if contrast not in CONTRASTS:
                raise _fail(source, f"{where}.contrast", f"unknown contrast {contrast!r}; "
                            f"allowed: {', '.join(CONTRASTS)}")
        elif contrast is not None:
            raise _fail(source, f"{where}.contrast", "only allowed with a control scenario")
        contrast_on = raw.get("contrast_on", "indicator")
        if contrast_on not in CONTRAST_ON:
            raise _fail(source, f"{where}.contrast_on", f"unknown value {contrast_on!r}; "
                        f"allowed: {', '.join(CONTRAST_ON)}")
        if contrast_on == "series" and control is None:
            raise _fail(source, f"{where}.contrast_on", "only allowed with a control scenario")
        conds = raw["conditions"]
        if not isinstance(conds, list) or not conds:
            raise _fail(source, f"{where}.conditions",
                        "expected at least one [[bets.conditions]] table")
        conditions = tuple(_condition(source, f"{where}.conditions[{j}]", c, segments,
                                      sovereigns) for j, c in enumerate(conds))
        if contrast_on == "series":
            for j, c in enumerate(conditions):
                if c.series is None:
                    raise _fail(source, f"{where}.conditions[{j}].indicator",
                                "contrast_on = \"series\" needs a series indicator")
        bets.append(Bet(number=i + 1, id=bet_id, title=_text(source, f"{where}.title",
                                                             raw["title"]),
                        statement=_text(source, f"{where}.statement", raw["statement"]),
                        scenario=scenario, control=control, contrast=contrast,
                        conditions=conditions, contrast_on=contrast_on,
                        decided_by=_text(source, f"{where}.decided_by", raw["decided_by"])
                        if "decided_by" in raw else ""))
    return bets


def load_bets(path: str | Path, *, segments: list[str], sovereigns: list[str]) -> list[Bet]:
    """Read and validate a bets file (see the module docstring for the format)."""
    path = Path(path)
    data = read_toml(path, BetsError, "bets file")
    return parse_bets(data, source=str(path), segments=segments, sovereigns=sovereigns,
                      bets_dir=path.parent)


# --------------------------------------------------------------------------- scoring


def jeffreys_interval(k: int, n: int, level: float = INTERVAL) -> tuple[float, float]:
    """Equal-tailed Jeffreys interval for a binomial proportion k/n (see module docstring)."""
    # scipy.special, not scipy.stats: the same inverse regularized incomplete beta function
    # without the seconds-long import of scipy.stats.
    from scipy.special import betaincinv

    if n <= 0:
        return (math.nan, math.nan)
    tail = (1.0 - level) / 2.0
    lo = 0.0 if k == 0 else float(betaincinv(k + 0.5, n - k + 0.5, tail))
    hi = 1.0 if k == n else float(betaincinv(k + 0.5, n - k + 0.5, 1.0 - tail))
    return lo, hi


def _steps(cond: Condition, results: Any) -> tuple[int, int | None]:
    start_month = results.world.params.start_month
    start = 0 if cond.start is None else cond.start - start_month
    end = None if cond.end is None else cond.end - start_month
    return start, end


def condition_values(cond: Condition, treatment: Any, control: Any | None,
                     contrast: str | None, contrast_on: str = "indicator") -> np.ndarray:
    """(R,) the condition's indicator per run (paired contrast when ``control`` is given: of
    the two indicators, or with ``contrast_on = "series"`` of the two series month by month,
    then reduced by the indicator)."""
    start, end = _steps(cond, treatment)
    if control is not None and contrast_on == "series":
        if not np.array_equal(control.run_ids, treatment.run_ids):
            raise ValueError("paired bets need the same run numbers in both worlds")
        series_params, own = ind.series_params_of(cond.indicator, cond.params)
        a, b = (ind.series_values(res, cond.series, series_params)
                for res in (treatment, control))
        last = treatment.n_months - 1 if end is None else end
        if not 0 <= start <= last < treatment.n_months:
            return np.full(treatment.n_runs, np.nan)
        return ind.reduce_series(cond.indicator, CONTRASTS[contrast or "difference"](a, b),
                                 start, last, own)

    def value(res: Any) -> np.ndarray:
        return ind.evaluate(res, cond.indicator, series=cond.series, params=cond.params,
                            start=start, end=end)

    v = value(treatment)
    if control is not None:
        if not np.array_equal(control.run_ids, treatment.run_ids):
            raise ValueError("paired bets need the same run numbers in both worlds")
        v = CONTRASTS[contrast or "difference"](v, value(control))
    return v


@dataclass
class Cell:
    """A bet scored in one scorecard column."""

    bet: Bet
    column: str
    world: str
    runs: int
    holds: int = 0
    undefined_runs: int = 0
    scored: bool = True
    applies: bool = True
    median_value: float = math.nan
    value_range: tuple[float, float] = field(default=(math.nan, math.nan))
    interval: tuple[float, float] = field(default=(math.nan, math.nan))
    values: np.ndarray | None = field(default=None, repr=False)  # (R,) first condition
    outcomes: np.ndarray | None = field(default=None, repr=False)  # (R,) bool, bet holds

    @property
    def probability(self) -> float:
        return self.holds / self.runs if self.scored and self.runs else math.nan

    @property
    def decided(self) -> bool:
        """True when the outcome does not vary over the runs (holds in all or in none): over
        the posterior draws and the scenario's randomness the bet is then decided by the
        inputs (seeds, fixed parameters, scheduled events), not a probability."""
        return self.scored and self.runs > 0 and self.holds in (0, self.runs)

    def decided_text(self) -> str:
        """What a decided cell shows: the outcome, and the indicator's range over the runs
        against the threshold (how far the inputs put it from the line)."""
        cond = self.bet.conditions[0]
        outcome = "holds" if self.holds == self.runs else "fails"
        lo, hi = self.value_range
        span = "" if lo != lo else (f"; {cond.indicator} {_fmt(lo)}" if lo == hi else
                                    f"; {cond.indicator} {_fmt(lo)} to {_fmt(hi)}")
        if self.undefined_runs:
            span += f" ({self.undefined_runs} runs undefined: never, or nothing to measure)"
        by = f"; set by {self.bet.decided_by}" if self.bet.decided_by else ""
        return (f"decided by the inputs: {outcome} in all {self.runs} runs{span} "
                f"vs {cond.op} {cond.threshold:g} {cond.unit}{by}")


def _fmt(x: float) -> str:
    return f"{x:.3g}"


def score_bet(bet: Bet, column: str, worlds: dict[str, Any]) -> Cell:
    """Score ``bet`` in a scorecard column from simulated ``worlds`` (name -> Results)."""
    pair = bet.worlds(column)
    if pair is None:
        return Cell(bet=bet, column=column, world="not this world", runs=0, scored=False,
                    applies=False)
    treatment_name, control_name = pair
    treatment = worlds[treatment_name]
    control = worlds[control_name] if control_name is not None else None
    world = treatment.scenario.name if control is None else \
        f"{treatment.scenario.name} vs {control.scenario.name}"
    n = treatment.n_runs
    holds = np.ones(n, dtype=bool)
    undefined = np.zeros(n, dtype=bool)
    cell = Cell(bet=bet, column=column, world=world, runs=n)
    for j, cond in enumerate(bet.conditions):
        v = condition_values(cond, treatment, control, bet.contrast, bet.contrast_on)
        if np.all(np.isnan(v)) and _outside(cond, treatment):
            cell.scored = False
            return cell
        ok = np.isfinite(v)
        undefined |= ~ok
        holds &= ok & OPS[cond.op](np.where(ok, v, 0.0), cond.threshold)
        if j == 0:
            cell.values = v
            if ok.any():
                cell.median_value = float(np.median(v[ok]))
                cell.value_range = (float(np.min(v[ok])), float(np.max(v[ok])))
    cell.outcomes = holds
    cell.holds, cell.undefined_runs = int(holds.sum()), int(undefined.sum())
    cell.interval = jeffreys_interval(cell.holds, n)
    return cell


def _outside(cond: Condition, results: Any) -> bool:
    """True if the condition's window is not inside the simulated horizon."""
    if ind.INDICATORS[cond.indicator].kind != "series":
        return False
    start, end = _steps(cond, results)
    end = results.n_months - 1 if end is None else end
    return not 0 <= start <= end < results.n_months


def needed_worlds(bets: list[Bet], columns: list[str]) -> list[str]:
    """Scenario names to simulate for these bets and columns, in first-use order."""
    names: list[str] = []
    for column in columns:
        for bet in bets:
            for name in bet.worlds(column) or ():
                if name is not None and name not in names:
                    names.append(name)
    return names


def scorecard(bets: list[Bet], columns: list[str], worlds: dict[str, Any]) -> list[Cell]:
    """Every bet in every column (``stated`` first), bet-major."""
    return [score_bet(bet, column, worlds) for bet in bets for column in columns]


# --------------------------------------------------------------------------- drivers

#: A driver is reported only if its rank correlation is this unlikely under no association
#: (two-sided p of scipy's Spearman test), Bonferroni-corrected over the inputs tried: with
#: 200 runs and ~15 inputs, |rho| above ~0.24. Anything weaker is not told apart from noise.
DRIVER_ALPHA = 0.01
#: A "holds when" box must hold this share of the runs on each side of its cut, so that its
#: two probabilities each rest on enough runs (at 200 runs: 40).
RULE_MIN_SUPPORT = 0.2
_CUTS = np.linspace(0.2, 0.8, 13)  # candidate cuts: quantiles of the input over the runs


@dataclass(frozen=True)
class Driver:
    """An input whose per-run value moves a bet's indicator: ``rho`` is the Spearman rank
    correlation over the runs of the input with the bet's first indicator (in the bet's own
    world; for a paired bet, its contrast), ``p_value`` its two-sided p."""

    name: str
    kind: str  # "parameter" (a posterior draw) or "event" (a random event count in the run)
    rho: float
    p_value: float


@dataclass(frozen=True)
class Rule:
    """"Holds when NAME OP CUT": the one-cut box on a driver that best separates the runs
    where the bet holds from those where it fails (a one-step PRIM peel, Friedman and Fisher
    1999): ``p_in`` of ``n_in`` runs inside the box against ``p_out`` of ``n_out`` outside."""

    name: str
    op: str
    cut: float
    p_in: float
    n_in: int
    p_out: float
    n_out: int

    def text(self) -> str:
        return (f"holds when {self.name} {self.op} {self.cut:.3g}: {self.p_in:.0%} of "
                f"{self.n_in} runs, against {self.p_out:.0%} of {self.n_out} otherwise")


def run_inputs(results: Any) -> dict[str, tuple[str, np.ndarray]]:
    """Per-run inputs a bet's outcome can depend on, name -> (kind, (R,) values): each drawn
    parameter of the run's posterior particle (schema units; none at fixed parameters,
    :mod:`sim.core.parameter_draws`) and counts of the run's random events over the horizon
    (safety shocks, random funding shocks: drawn from their own streams, not outcomes;
    policy enactments, which follow from pressure, are outcomes and are left out)."""
    from sim.core.parameter_draws import scenario_draws

    out: dict[str, tuple[str, np.ndarray]] = {}
    draws = scenario_draws(results.scenario)
    if draws is not None:
        values = draws.values(draws.indices(results.seed, results.run_ids))
        for j, name in enumerate(draws.names):
            out[name] = ("parameter", values[:, j].astype(float))
    arr = results.arrays
    out["safety shocks (count)"] = ("event", arr["safety_shocks"].sum(axis=1).astype(float))
    out["random funding shocks (count)"] = (
        "event", arr["random_funding_shocks"].sum(axis=(1, 2)).astype(float))
    return out


def bet_drivers(cell: Cell, inputs: dict[str, tuple[str, np.ndarray]],
                top: int = 3) -> tuple[list[Driver], Rule | None]:
    """The ``top`` inputs with the strongest significant rank correlation with the cell's
    indicator (:data:`DRIVER_ALPHA`), and the best one-cut "holds when" box on them
    (:data:`RULE_MIN_SUPPORT`). Nothing for a decided cell or one without values."""
    from scipy.stats import spearmanr

    if not cell.scored or cell.decided or cell.values is None or cell.outcomes is None:
        return [], None
    v, holds = cell.values, cell.outcomes
    ok = np.isfinite(v)
    found: list[Driver] = []
    varying = {n: kx for n, kx in inputs.items() if np.ptp(kx[1][ok]) > 0} if ok.sum() > 3 \
        else {}
    for name, (kind, x) in varying.items():
        rho, p = spearmanr(x[ok], v[ok])
        if np.isfinite(rho) and p * len(varying) < DRIVER_ALPHA:
            found.append(Driver(name, kind, float(rho), float(p)))
    found.sort(key=lambda d: -abs(d.rho))
    found = found[:top]
    best: Rule | None = None
    n = len(holds)
    for d in found:
        x = inputs[d.name][1]
        for cut in np.unique(np.quantile(x, _CUTS)):
            for op, inside in ((">", x > cut), ("<=", x <= cut)):
                n_in = int(inside.sum())
                if min(n_in, n - n_in) < RULE_MIN_SUPPORT * n:
                    continue
                p_in, p_out = holds[inside].mean(), holds[~inside].mean()
                if p_in > p_out and (best is None or p_in - p_out > best.p_in - best.p_out):
                    best = Rule(d.name, op, float(cut), float(p_in), n_in, float(p_out),
                                n - n_in)
    return found, best
