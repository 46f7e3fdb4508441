"""The sweep spec: a TOML file naming a base scenario, uncertain parameters and a design.

Example (``experiments/sweeps/baseline-lhs.toml``)::

    scenario = "baseline"          # shipped scenario name, or a path relative to this file
    design = "lhs"                 # grid | lhs | sobol
    samples = 200                  # parameter sets (sobol: a power of 2; grid: not used)
    replicates = 10                # runs per parameter set
    seed = 20260401                # sweep seed
    outcomes = ["gap_points@2027-12", "open_token_share@end"]

    [overrides]                    # fixed changes to the base scenario (dotted paths)
    "time.end" = "2028-12"

    [parameters."capability.distill_efficiency"]
    range = [0.1, 0.6]             # uniform between the bounds (scale = "log": log-uniform)
    [parameters."capability.fast_follow_lag_months"]
    choices = [3, 6, 12]           # equally likely values

Parameters are dotted paths into the scenario, validated against its schema at both ends of
each range and at every choice. A range over an integer field is rounded to integers. The
grid design takes ``levels`` evenly spaced values per range (a top-level default, or per
parameter) and every choice, and runs their Cartesian product.

**Events** are addressed by their ``id`` (``[[events]] id = "us_ban"`` in the scenario):
``events.us_ban.enforcement``, ``events.us_ban.threshold_flop`` (a range; ``scale = "log"``
suits it), ``events.us_ban.month`` (``choices = ["2027-01", "2028-01"]``), a funding shock's
``events.<id>.size``. ``events.<index>.<field>`` addresses an event without an id.

**A choice among scenarios** is the parameter ``scenario``
(``[parameters.scenario] choices = ["baseline", "us-open-ban"]``: shipped names or paths
relative to the spec); the spec's ``scenario`` key is then the first choice's role model
only for validation and may be omitted. The fixed ``[overrides]`` and the other parameters
apply to every chosen scenario (each must accept them), and the ``scenario`` column of
``runs.parquet`` names the one a run used.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sim
from sim.calendar import parse_month
from sim.files import SLUG_RULE, is_slug
from sim.inputs.scenario import Scenario, ScenarioError, load_scenario, resolve_scenario_path
from sim.inputs.tomlfile import read_toml
from sim.measures.outcomes import OutcomeError, check_outcomes, parse_outcome
from sim.measures.registry import Measure
from sim.studies.sweeps import SweepError

DESIGNS = ("grid", "lhs", "sobol")
TOP_KEYS = ("name", "description", "scenario", "design", "samples", "levels", "replicates",
            "seed", "outcomes", "overrides", "parameters")
PARAM_KEYS = ("range", "choices", "scale", "levels")
DEFAULT_LEVELS = 5
MAX_RUNS = 100_000_000


@dataclass(frozen=True)
class Parameter:
    """One uncertain parameter: a ``range`` (low, high; ``integer`` if the field is an int;
    ``log`` for log-uniform) or a tuple of ``choices``."""

    path: str
    low: float | None = None
    high: float | None = None
    choices: tuple[Any, ...] | None = None
    integer: bool = False
    log: bool = False
    levels: int = DEFAULT_LEVELS

    @property
    def kind(self) -> str:
        return "choices" if self.choices is not None else "range"

    def value(self, u: float) -> Any:
        """The parameter's value at ``u`` in [0, 1): the quantile of its distribution."""
        if self.choices is not None:
            return self.choices[min(int(u * len(self.choices)), len(self.choices) - 1)]
        assert self.low is not None and self.high is not None
        if self.log:
            x = math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        else:
            x = self.low + u * (self.high - self.low)
        x = min(max(x, self.low), self.high)
        return int(round(x)) if self.integer else float(x)

    def grid_values(self) -> list[Any]:
        """Evenly spaced values for the grid design (every choice; ``levels`` for a range)."""
        if self.choices is not None:
            return list(self.choices)
        if self.levels == 1:
            return [self.value(0.5)]
        values = [self.value(i / (self.levels - 1)) for i in range(self.levels)]
        return list(dict.fromkeys(values))  # integer ranges may repeat values

    def as_json(self) -> dict[str, Any]:
        if self.choices is not None:
            return {"path": self.path, "choices": list(self.choices)}
        return {"path": self.path, "range": [self.low, self.high], "integer": self.integer,
                "scale": "log" if self.log else "linear", "levels": self.levels}


@dataclass(frozen=True)
class SweepSpec:
    """A validated sweep spec; ``base`` is the scenario with the fixed overrides applied."""

    source: str
    name: str
    base: Scenario
    design: str
    samples: int
    replicates: int
    seed: int
    parameters: tuple[Parameter, ...]
    outcomes: tuple[Measure, ...]
    #: For a ``scenario`` parameter: each choice and its scenario (fixed overrides applied).
    bases: tuple[tuple[str, Scenario], ...] = ()

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(p.path for p in self.parameters)

    @property
    def n_runs(self) -> int:
        return self.samples * self.replicates

    def digest(self) -> str:
        """SHA-256 of everything that determines the results (not of the file's text)."""
        blob = json.dumps({
            "scenario": self.base.content_hash(), "design": self.design,
            "samples": self.samples, "replicates": self.replicates, "seed": self.seed,
            "parameters": [p.as_json() for p in self.parameters],
            "outcomes": [o.label for o in self.outcomes], "opengap": sim.__version__,
            # Only when scenarios are a factor, so other specs keep their digest.
            **({"bases": {n: b.content_hash() for n, b in self.bases}} if self.bases else {}),
        }, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()


def _fail(source: str, field: str, message: str) -> SweepError:
    return SweepError(f"{source}: {field}: {message}")


def _leaf(data: dict[str, Any], path: str) -> Any:
    """The value at a dotted path of a scenario dump (an event by its ``id`` or index), or
    KeyError."""
    node: Any = data
    for key in path.split("."):
        if isinstance(node, list):
            hits = [e for i, e in enumerate(node)
                    if (isinstance(e, dict) and e.get("id") == key) or str(i) == key]
            if not hits:
                raise KeyError(path)
            node = hits[0]
        elif not isinstance(node, dict) or key not in node:
            raise KeyError(path)
        else:
            node = node[key]
    return node


#: The parameter that chooses among scenarios.
SCENARIO_PARAMETER = "scenario"


def scenario_for(base: Scenario, bases: tuple[tuple[str, Scenario], ...],
                 paths: tuple[str, ...], values: tuple[Any, ...]) -> Scenario:
    """The scenario of one parameter set: the chosen scenario (``bases``, when scenarios
    are a factor) or ``base``, with the other parameters' values applied."""
    overrides = dict(zip(paths, values, strict=True))
    if SCENARIO_PARAMETER in overrides:
        base = dict(bases)[overrides.pop(SCENARIO_PARAMETER)]
    return base.with_overrides(overrides) if overrides else base


def _is_number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _int(raw: dict[str, Any], key: str, source: str, default: int | None, low: int,
         high: int = MAX_RUNS) -> int:
    value = raw.get(key, default)
    if value is None:
        raise _fail(source, key, "required field is missing")
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise _fail(source, key, f"expected an integer from {low} to {high} (got {value!r})")
    return value


def _check_value(base: Scenario, path: str, value: Any, source: str, field: str) -> None:
    try:
        base.with_overrides({path: value})
    except ScenarioError as exc:
        reason = str(exc).removeprefix("<overrides>: ").removeprefix(f"{path}: ")
        raise _fail(source, field, f"value {value!r} is not allowed: {reason}") from None


def _parameter(path: str, raw: Any, base: Scenario, data: dict[str, Any], source: str,
               default_levels: int) -> Parameter:
    where = f"parameters.{path}"
    if not isinstance(raw, dict):
        raise _fail(source, where, "expected a table with 'range = [low, high]' or "
                    "'choices = [...]'")
    unknown = sorted(set(raw) - set(PARAM_KEYS))
    if unknown:
        raise _fail(source, f"{where}.{unknown[0]}", f"unknown key; allowed keys here: "
                    f"{', '.join(PARAM_KEYS)}")
    try:
        current = _leaf(data, path)
    except KeyError:
        raise _fail(source, where, "unknown parameter path; give a dotted path to a scenario "
                    "value such as capability.distill_efficiency") from None
    if isinstance(current, dict | list):
        raise _fail(source, where, "is a table or list, not a single value")
    if ("range" in raw) == ("choices" in raw):
        raise _fail(source, where, "give exactly one of 'range = [low, high]' or "
                    "'choices = [...]'")
    levels = _int(raw, "levels", f"{source}: {where}", default_levels, 1, 1000)
    if "choices" in raw:
        choices = raw["choices"]
        if not isinstance(choices, list) or not choices:
            raise _fail(source, f"{where}.choices", "expected a non-empty list of values")
        if len(set(map(repr, choices))) != len(choices):
            raise _fail(source, f"{where}.choices", "values must be distinct")
        for value in choices:
            _check_value(base, path, value, source, f"{where}.choices")
        if "scale" in raw:
            raise _fail(source, f"{where}.scale", "only applies to a range")
        return Parameter(path, choices=tuple(choices), levels=len(choices))
    bounds = raw["range"]
    if (not isinstance(bounds, list) or len(bounds) != 2
            or not all(_is_number(b) for b in bounds) or not bounds[0] < bounds[1]):
        raise _fail(source, f"{where}.range", f"expected [low, high] numbers with low < high "
                    f"(got {bounds!r})")
    if not _is_number(current):
        raise _fail(source, f"{where}.range", f"a range needs a numeric parameter (it holds "
                    f"{current!r}); use choices = [...]")
    integer = isinstance(current, int)
    if integer and not all(float(b).is_integer() for b in bounds):
        raise _fail(source, f"{where}.range", f"{path} is an integer; give integer bounds")
    scale = raw.get("scale", "linear")
    if scale not in ("linear", "log"):
        raise _fail(source, f"{where}.scale", f"allowed: linear, log (got {scale!r})")
    if scale == "log" and bounds[0] <= 0:
        raise _fail(source, f"{where}.range", "a log scale needs low > 0")
    low, high = (int(b) for b in bounds) if integer else (float(b) for b in bounds)
    for b in (low, high):
        _check_value(base, path, b, source, f"{where}.range")
    return Parameter(path, low=float(low), high=float(high), integer=integer,
                     log=scale == "log", levels=levels)


def _scenario_choices(raw: dict[str, Any], path: Path, source: str
                      ) -> tuple[tuple[str, Scenario], ...]:
    """The ``scenario`` parameter's choices, each loaded with the fixed overrides."""
    param = raw.get("parameters", {}).get(SCENARIO_PARAMETER) if isinstance(
        raw.get("parameters"), dict) else None
    if param is None:
        return ()
    where = f"parameters.{SCENARIO_PARAMETER}"
    if not isinstance(param, dict) or set(param) != {"choices"}:
        raise _fail(source, where, "expected only 'choices = [\"baseline\", ...]' (scenario "
                    "names or paths relative to the spec)")
    names = param["choices"]
    if (not isinstance(names, list) or len(names) < 2
            or not all(isinstance(n, str) and n for n in names)
            or len(set(names)) != len(names)):
        raise _fail(source, f"{where}.choices", "expected a list of at least two distinct "
                    "scenario names")
    return tuple((name, _base_scenario({**raw, "scenario": name}, path, source))
                 for name in names)


def _base_scenario(raw: dict[str, Any], path: Path, source: str) -> Scenario:
    name = raw.get("scenario")
    if not isinstance(name, str) or not name:
        raise _fail(source, "scenario", "expected a shipped scenario name (e.g. 'baseline') or "
                    "a path to a scenario TOML file, relative to the spec")
    relative = path.parent / name
    scenario_path = relative if relative.suffix == ".toml" and relative.is_file() \
        else resolve_scenario_path(name)
    if not scenario_path.is_file():
        raise _fail(source, "scenario", f"no scenario file or shipped scenario {name!r}")
    try:
        base = load_scenario(scenario_path)
    except ScenarioError as exc:
        raise SweepError(f"{source}: scenario: {exc}") from None
    overrides = raw.get("overrides", {})
    if not isinstance(overrides, dict):
        raise _fail(source, "overrides", "expected a table of dotted paths and values")
    for key, value in overrides.items():
        try:
            base = base.with_overrides({key: value})
        except ScenarioError as exc:
            reason = str(exc).removeprefix("<overrides>: ")
            raise _fail(source, f"overrides.{key}", reason) from None
    return base


def load_spec(path: str | Path) -> SweepSpec:
    """Read and validate a sweep spec; raise :class:`SweepError` (one line) if it is bad."""
    path = Path(path)
    source = str(path)
    raw = read_toml(path, SweepError, "sweep spec file")
    unknown = sorted(set(raw) - set(TOP_KEYS))
    if unknown:
        raise _fail(source, unknown[0], f"unknown key; allowed keys: {', '.join(TOP_KEYS)}")
    bases = _scenario_choices(raw, path, source)
    if bases and "scenario" not in raw:
        raw = {**raw, "scenario": bases[0][0]}
    base = _base_scenario(raw, path, source)
    design = raw.get("design")
    if design not in DESIGNS:
        raise _fail(source, "design", f"allowed: {', '.join(DESIGNS)} (got {design!r})")
    levels = _int(raw, "levels", source, DEFAULT_LEVELS, 1, 1000)
    params_raw = raw.get("parameters")
    if not isinstance(params_raw, dict) or not params_raw:
        raise _fail(source, "parameters", "expected at least one [parameters.\"dotted.path\"] "
                    "table")
    parameters = tuple(
        Parameter(p, choices=tuple(n for n, _ in bases), levels=len(bases))
        if p == SCENARIO_PARAMETER and bases else
        _parameter(p, r, b, b.model_dump(mode="json"), source, levels)
        for p, r in params_raw.items()
        # Every other parameter is checked against each chosen scenario.
        for b in ([s for _, s in bases] if bases and p != SCENARIO_PARAMETER else [base])
    )
    parameters = tuple(dict((q.path, q) for q in parameters).values())
    if design == "grid":
        if "samples" in raw:
            raise _fail(source, "samples", "not used by the grid design (its size is the "
                        "product of the parameters' levels); remove it")
        samples = math.prod(len(p.grid_values()) for p in parameters)
    else:
        samples = _int(raw, "samples", source, None, 1)
        if design == "sobol" and samples & (samples - 1):
            raise _fail(source, "samples", f"the sobol design needs a power of 2 (got {samples})")
    replicates = _int(raw, "replicates", source, 1, 1, 100_000)
    if samples * replicates > MAX_RUNS:
        raise _fail(source, "samples", f"samples x replicates must be at most {MAX_RUNS:,}")
    seed = _int(raw, "seed", source, 0, 0, 2**63 - 1)
    outcomes_raw = raw.get("outcomes")
    if not isinstance(outcomes_raw, list) or not outcomes_raw:
        raise _fail(source, "outcomes", "expected a non-empty list such as "
                    "[\"gap_points@2027-12\", \"open_token_share@end\"]")
    try:
        outcomes = tuple(parse_outcome(o) for o in outcomes_raw)
        check_outcomes(outcomes, parse_month(base.time.start), base.time.n_months)
    except OutcomeError as exc:
        raise _fail(source, "outcomes", str(exc)) from None
    if len({o.label for o in outcomes}) != len(outcomes):
        raise _fail(source, "outcomes", "an outcome is listed twice")
    name = raw.get("name", path.stem)
    if not is_slug(name):  # it names the default output folder results/sweeps/<name>
        raise _fail(source, "name", f"expected {SLUG_RULE} (got {name!r})")
    return SweepSpec(source, name, base, design, samples, replicates, seed, parameters,
                     outcomes, bases)
