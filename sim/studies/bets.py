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
Wald interval collapses.

**Columns.** The scorecard always has the column ``stated``: each bet in the world its
definition names. For each scenario S asked for, a column ``S`` re-evaluates every bet with S
in place of the bet's ``scenario``: a single-world bet is scored in S; a paired bet is scored
as S (treatment) against its ``control``. The name ``baseline`` anywhere in the file means the
baseline world (by default the shipped baseline; replaceable, e.g. by a small test world).

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

_BET_KEYS = ("id", "title", "statement", "scenario", "control", "contrast", "conditions")
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

    def worlds(self, column: str) -> tuple[str, str | None]:
        """(scenario, control or None) the bet is scored in for a scorecard column."""
        treatment = self.scenario if column == STATED else column
        return treatment, self.control

    def describe(self) -> str:
        text = " and ".join(c.describe() for c in self.conditions)
        if self.control is not None:
            text = f"{self.contrast} vs {self.control}: {text}"
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
        conds = raw["conditions"]
        if not isinstance(conds, list) or not conds:
            raise _fail(source, f"{where}.conditions",
                        "expected at least one [[bets.conditions]] table")
        conditions = tuple(_condition(source, f"{where}.conditions[{j}]", c, segments,
                                      sovereigns) for j, c in enumerate(conds))
        bets.append(Bet(number=i + 1, id=bet_id, title=_text(source, f"{where}.title",
                                                             raw["title"]),
                        statement=_text(source, f"{where}.statement", raw["statement"]),
                        scenario=scenario, control=control, contrast=contrast,
                        conditions=conditions))
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
                     contrast: str | None) -> np.ndarray:
    """(R,) the condition's indicator per run (paired contrast when ``control`` is given)."""
    start, end = _steps(cond, treatment)

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
    median_value: float = math.nan
    interval: tuple[float, float] = field(default=(math.nan, math.nan))

    @property
    def probability(self) -> float:
        return self.holds / self.runs if self.scored and self.runs else math.nan


def score_bet(bet: Bet, column: str, worlds: dict[str, Any]) -> Cell:
    """Score ``bet`` in a scorecard column from simulated ``worlds`` (name -> Results)."""
    treatment_name, control_name = bet.worlds(column)
    treatment = worlds[treatment_name]
    control = worlds[control_name] if control_name is not None else None
    world = treatment.scenario.name if control is None else \
        f"{treatment.scenario.name} vs {control.scenario.name}"
    n = treatment.n_runs
    holds = np.ones(n, dtype=bool)
    undefined = np.zeros(n, dtype=bool)
    cell = Cell(bet=bet, column=column, world=world, runs=n)
    for j, cond in enumerate(bet.conditions):
        v = condition_values(cond, treatment, control, bet.contrast)
        if np.all(np.isnan(v)) and _outside(cond, treatment):
            cell.scored = False
            return cell
        ok = np.isfinite(v)
        undefined |= ~ok
        holds &= ok & OPS[cond.op](np.where(ok, v, 0.0), cond.threshold)
        if j == 0 and ok.any():
            cell.median_value = float(np.median(v[ok]))
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
            for name in bet.worlds(column):
                if name is not None and name not in names:
                    names.append(name)
    return names


def scorecard(bets: list[Bet], columns: list[str], worlds: dict[str, Any]) -> list[Cell]:
    """Every bet in every column (``stated`` first), bet-major."""
    return [score_bet(bet, column, worlds) for bet in bets for column in columns]
