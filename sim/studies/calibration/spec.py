"""The calibration spec: which parameters to fit, within which bounds, to which series.

A spec is a TOML file::

    scenario = "history-2023"      # shipped scenario name, or a path relative to the spec
    series = ["closed", "open", "open_cn", "open_us"]
    runs = 48                      # ensemble size per loss evaluation
    seed = 20230101                # one seed for every evaluation (common random numbers)
    max_evaluations = 150          # optimiser budget (loss evaluations)
    method = "nelder-mead"         # or "powell"

    [period]                       # months whose observed values enter the loss
    start = "2023-01"
    end = "2024-12"

    [fixed]                        # overrides applied before fitting, not fitted
    "population.buyers_per_segment" = 20

    [parameters."capability.algo_progress_per_year"]
    min = 0.2
    max = 1.5
    start = 0.7                    # optional; default: the scenario's value

Every mistake is reported as one line naming the spec file and the field
(:class:`CalibrationError`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from sim.calendar import parse_month
from sim.errors import InputError
from sim.inputs.scenario import (
    Scenario,
    ScenarioError,
    StrictModel,
    check_month,
    field_error,
    load_scenario,
    resolve_scenario_path,
)
from sim.inputs.tomlfile import read_toml

#: Observed series a spec may fit: monthly released-model running maxima in the ECI record.
SERIES: tuple[str, ...] = ("closed", "open", "open_cn", "open_us")
METHODS: tuple[str, ...] = ("nelder-mead", "powell")


class CalibrationError(InputError):
    """A calibration spec could not be used; ``str(err)`` is one line: file, field, what."""


class Period(StrictModel):
    start: str
    end: str
    _months = field_validator("start", "end", mode="before")(staticmethod(check_month))


class Bounds(StrictModel):
    min: float
    max: float
    start: float | None = None

    @field_validator("min", "max", "start", mode="before")
    @classmethod
    def _number(cls, value: Any) -> Any:
        # TOML integers are fine where a bound is expected (e.g. a lag of 6 months).
        return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


class SpecFile(StrictModel):
    scenario: str = Field(min_length=1)
    series: list[Literal["closed", "open", "open_cn", "open_us"]] = Field(min_length=1)
    runs: int = Field(ge=4, le=1000)
    seed: int = Field(ge=0)
    max_evaluations: int = Field(ge=1, le=100_000)
    method: Literal["nelder-mead", "powell"] = "nelder-mead"
    period: Period
    fixed: dict[str, Any] = Field(default_factory=dict)
    parameters: dict[str, Bounds] = Field(min_length=1)
    weights: dict[str, float] = Field(default_factory=dict)


@dataclass(frozen=True)
class Parameter:
    """A fitted parameter: dotted scenario path, bounds, start value, integer flag."""

    path: str
    lower: float
    upper: float
    start: float
    integer: bool


@dataclass(frozen=True)
class CalibrationSpec:
    """A validated spec with its scenario resolved (``fixed`` overrides applied)."""

    source: str
    scenario: Scenario
    scenario_path: Path
    series: tuple[str, ...]
    weights: tuple[float, ...]
    runs: int
    seed: int
    max_evaluations: int
    method: str
    period_start: int  # month index
    period_end: int
    parameters: tuple[Parameter, ...]

    @property
    def names(self) -> list[str]:
        return [p.path for p in self.parameters]


def _format(err: dict[str, Any]) -> str:
    where = ".".join(str(x) for x in err["loc"]) or "<root>"
    model: type[StrictModel] = SpecFile
    if len(err["loc"]) > 1:
        model = Bounds if err["loc"][0] == "parameters" else Period
    return field_error(where, err, ", ".join(model.model_fields))


def _scenario_value(scenario: Scenario, path: str) -> Any:
    node: Any = scenario.model_dump(mode="json")
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(path)
        node = node[key]
    return node


def parse_spec(data: dict[str, Any], *, source: str, base_dir: Path) -> CalibrationSpec:
    """Validate spec data (a parsed TOML table); raise :class:`CalibrationError`."""
    try:
        raw = SpecFile.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise CalibrationError(f"{source}: {_format(errors[0])}{more}") from None

    candidate = Path(raw.scenario)
    if not candidate.is_absolute() and (base_dir / candidate).exists():
        scenario_path = base_dir / candidate
    else:
        scenario_path = resolve_scenario_path(raw.scenario)
    if not scenario_path.is_file():
        raise CalibrationError(f"{source}: scenario: no scenario file or shipped scenario "
                               f"{raw.scenario!r}")
    try:
        scenario = load_scenario(scenario_path)
        if raw.fixed:
            scenario = scenario.with_overrides(raw.fixed)
    except ScenarioError as exc:
        raise CalibrationError(f"{source}: scenario {raw.scenario!r}: {exc}") from None

    start, end = parse_month(raw.period.start), parse_month(raw.period.end)
    s0, s1 = parse_month(scenario.time.start), parse_month(scenario.time.end)
    if not s0 <= start <= end <= s1:
        raise CalibrationError(
            f"{source}: period: {raw.period.start}..{raw.period.end} must be a non-empty range "
            f"inside the scenario's horizon {scenario.time.start}..{scenario.time.end}")

    if len(set(raw.series)) != len(raw.series):
        raise CalibrationError(f"{source}: series: each series may appear once")
    for name, weight in raw.weights.items():
        if name not in raw.series:
            raise CalibrationError(f"{source}: weights.{name}: not one of the fitted series "
                                   f"({', '.join(raw.series)})")
        if not weight > 0:
            raise CalibrationError(f"{source}: weights.{name}: must be > 0 (got {weight})")

    params = []
    for path, bounds in raw.parameters.items():
        where = f"{source}: parameters.{path}"
        if path.startswith(("time.", "name", "description", "events")):
            raise CalibrationError(f"{where}: only model parameters can be fitted, not time, "
                                   "name or events")
        try:
            current = _scenario_value(scenario, path)
        except KeyError:
            raise CalibrationError(f"{where}: unknown parameter path") from None
        if isinstance(current, bool) or not isinstance(current, int | float):
            raise CalibrationError(f"{where}: not a numeric parameter")
        if not bounds.min < bounds.max:
            raise CalibrationError(f"{where}: min ({bounds.min}) must be below max "
                                   f"({bounds.max})")
        integer = isinstance(current, int)
        start_value = float(current) if bounds.start is None else bounds.start
        if not bounds.min <= start_value <= bounds.max:
            raise CalibrationError(f"{where}: start {start_value} is outside "
                                   f"[{bounds.min}, {bounds.max}]")
        for value in (bounds.min, bounds.max):
            try:
                scenario.with_overrides({path: int(round(value)) if integer else value})
            except ScenarioError as exc:
                detail = str(exc).removeprefix("<overrides>: ")
                raise CalibrationError(f"{where}: bound {value} is not allowed: {detail}") \
                    from None
        params.append(Parameter(path, bounds.min, bounds.max, start_value, integer))

    return CalibrationSpec(
        source=source, scenario=scenario, scenario_path=scenario_path,
        series=tuple(raw.series),
        weights=tuple(float(raw.weights.get(s, 1.0)) for s in raw.series),
        runs=raw.runs, seed=raw.seed, max_evaluations=raw.max_evaluations,
        method=raw.method, period_start=start, period_end=end, parameters=tuple(params),
    )


def load_spec(path: str | Path) -> CalibrationSpec:
    """Read and validate a calibration spec file."""
    path = Path(path)
    data = read_toml(path, CalibrationError, "calibration spec")
    return parse_spec(data, source=str(path), base_dir=path.parent)
