"""The calibration spec: which parameters, with which priors, on which data, cut when.

A spec is a TOML file::

    scenario = "history-2023"      # shipped scenario name, or a path relative to the spec
    cut = "2026-03"                # last month of data; the scenario is simulated to it
    seed = 20230101                # the whole calibration is a function of (spec, seed)
    population_size = 600          # accepted particles per generation
    batch_size = 200               # proposals simulated in one engine batch

    [stop]                         # the first rule met ends the calibration
    max_generations = 8
    min_acceptance = 0.03          # a generation needing more than population_size /
                                   # min_acceptance evaluations is abandoned
    min_epsilon = 0.0              # tolerance (distance units) reached

    [data]
    eci_series = ["closed", "open", "open_cn", "open_us"]
    eci_every_months = 3           # the ECI record at the cut and every 3 months before it
    economic = ["closed_revenue"]   # series of seeds/observations/economic.csv

    [fixed]                        # overrides applied to the scenario, not calibrated
    "population.buyers_per_segment" = 20

    [priors."capability.algo_progress_per_year"]
    distribution = "uniform"       # or "loguniform", or "normal" (truncated to min..max:
    min = 0.2                      # then also mean and sd)
    max = 1.5
    reason = "..."                 # source or reasoning of the prior (required)

Every calibrated parameter must be batchable (``sim.core.stacking.BATCHABLE``: its
per-run values go through one engine batch) and its bounds inside the schema's. Every mistake
is reported as one line naming the spec file and the field (:class:`CalibrationError`).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationError, field_validator

from sim.calendar import format_month, parse_month
from sim.core.params import engine_value
from sim.core.stacking import BATCHABLE
from sim.errors import InputError
from sim.inputs.observations import Observation, ObservationError, load_observations
from sim.inputs.scenario import (
    Scenario,
    ScenarioError,
    StrictModel,
    check_month,
    field_error,
    load_scenario,
    resolve_scenario_path,
)
from sim.inputs.seeds import EciHistory, load_eci_record
from sim.inputs.tomlfile import read_toml

#: Observed ECI series a spec may fit: monthly released-model running maxima (Epoch ECI).
ECI_SERIES: tuple[str, ...] = ("closed", "open", "open_cn", "open_us")
DISTRIBUTIONS: tuple[str, ...] = ("uniform", "loguniform", "normal")


class CalibrationError(InputError):
    """A calibration spec could not be used; ``str(err)`` is one line: file, field, what."""


def _float(value: Any) -> Any:
    # TOML integers are fine where a number is expected.
    return float(value) if isinstance(value, int) and not isinstance(value, bool) else value


class PriorFile(StrictModel):
    distribution: Literal["uniform", "loguniform", "normal"]
    min: float
    max: float
    mean: float | None = None
    sd: float | None = None
    reason: str = Field(min_length=10)
    _numbers = field_validator("min", "max", "mean", "sd", mode="before")(staticmethod(_float))


class StopFile(StrictModel):
    max_generations: int = Field(ge=1, le=100)
    min_acceptance: float = Field(0.0, ge=0.0, lt=1.0)
    min_epsilon: float = Field(0.0, ge=0.0)
    _numbers = field_validator("min_acceptance", "min_epsilon", mode="before")(
        staticmethod(_float))


class DataFile(StrictModel):
    eci_series: list[Literal["closed", "open", "open_cn", "open_us"]] = Field(min_length=1)
    eci_every_months: int = Field(3, ge=1, le=24)
    economic: list[str] = Field(default_factory=list)


class SpecFile(StrictModel):
    scenario: str = Field(min_length=1)
    cut: str
    seed: int = Field(ge=0, lt=2 ** 63)
    population_size: int = Field(ge=10, le=100_000)
    batch_size: int = Field(ge=1, le=10_000)
    stop: StopFile
    data: DataFile
    fixed: dict[str, Any] = Field(default_factory=dict)
    priors: dict[str, PriorFile] = Field(min_length=1)
    _month = field_validator("cut", mode="before")(staticmethod(check_month))


@dataclass(frozen=True)
class Prior:
    """A calibrated parameter: dotted scenario path (schema units), its prior distribution
    on ``lower .. upper`` (a normal one truncated there) and why."""

    path: str
    distribution: str
    lower: float
    upper: float
    mean: float | None
    sd: float | None
    reason: str

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"distribution": self.distribution, "min": self.lower,
                               "max": self.upper, "reason": self.reason}
        if self.distribution == "normal":
            out |= {"mean": self.mean, "sd": self.sd}
        return out


@dataclass(frozen=True)
class CalibrationSpec:
    """A validated spec: its scenario resolved (``fixed`` applied, simulated to the cut),
    the observed data up to the cut, and the priors."""

    source: str
    digest: str  # SHA-256 of the spec's content (and its scenario's): what a resume checks
    scenario: Scenario  # simulated to the cut, events after it dropped
    full_scenario: Scenario  # the same over its whole horizon (posterior predictive checks)
    scenario_path: Path
    cut: int  # month index of the last month of data
    seed: int
    population_size: int
    batch_size: int
    max_generations: int
    min_acceptance: float
    min_epsilon: float
    eci_series: tuple[str, ...]
    eci_every_months: int
    history: EciHistory
    observations: tuple[Observation, ...]  # the economic rows used (dated up to the cut)
    priors: tuple[Prior, ...]

    @property
    def names(self) -> list[str]:
        return [p.path for p in self.priors]

    @property
    def cut_label(self) -> str:
        return format_month(self.cut)


def _format(err: dict[str, Any]) -> str:
    where = ".".join(str(x) for x in err["loc"]) or "<root>"
    models: dict[str, type[StrictModel]] = {"priors": PriorFile, "stop": StopFile,
                                            "data": DataFile}
    model = models.get(str(err["loc"][0]), SpecFile) if len(err["loc"]) > 1 else SpecFile
    return field_error(where, err, ", ".join(model.model_fields))


def _scenario_value(scenario: Scenario, path: str) -> Any:
    node: Any = scenario.model_dump(mode="json")
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            raise KeyError(path)
        node = node[key]
    return node


def _prior(path: str, raw: PriorFile, scenario: Scenario, source: str) -> Prior:
    where = f"{source}: priors.{path}"
    if path.startswith(("time.", "name", "description", "events", "population.")):
        raise CalibrationError(f"{where}: only model parameters can be calibrated")
    try:
        current = _scenario_value(scenario, path)
    except KeyError:
        raise CalibrationError(f"{where}: unknown parameter path") from None
    if isinstance(current, bool) or not isinstance(current, float):
        raise CalibrationError(f"{where}: not a real-valued parameter")
    if engine_value(path, current)[0] not in BATCHABLE:
        raise CalibrationError(f"{where}: not batchable (allowed: parameters in "
                               "sim.core.stacking.BATCHABLE)")
    if not raw.min < raw.max:
        raise CalibrationError(f"{where}: min ({raw.min}) must be below max ({raw.max})")
    if raw.distribution == "loguniform" and not raw.min > 0:
        raise CalibrationError(f"{where}: a loguniform prior needs min > 0 (got {raw.min})")
    if raw.distribution == "normal":
        if raw.mean is None or raw.sd is None or not raw.sd > 0:
            raise CalibrationError(f"{where}: a normal prior needs mean and sd > 0")
    elif raw.mean is not None or raw.sd is not None:
        raise CalibrationError(f"{where}: mean and sd belong to a normal prior only")
    for value in (raw.min, raw.max):
        try:
            scenario.with_overrides({path: value})
        except ScenarioError as exc:
            detail = str(exc).removeprefix("<overrides>: ")
            raise CalibrationError(f"{where}: bound {value} is not allowed: {detail}") from None
    return Prior(path, raw.distribution, raw.min, raw.max, raw.mean, raw.sd, raw.reason)


def _scenario(raw: SpecFile, source: str, base_dir: Path) -> tuple[Scenario, Scenario, Path]:
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
    if scenario.posterior is not None:  # calibrated from its priors, not an earlier posterior
        scenario = scenario.model_copy(update={"fixed_parameters": True})
    cut = parse_month(raw.cut)
    start, end = parse_month(scenario.time.start), parse_month(scenario.time.end)
    if not start < cut <= end:
        raise CalibrationError(f"{source}: cut: {raw.cut} must lie after the scenario's start "
                               f"and within its horizon {scenario.time.start}.."
                               f"{scenario.time.end}")
    # Nothing after the cut is simulated (it could not inform the fit anyway).
    events = [e for e in scenario.events if parse_month(e.month) <= cut]
    try:
        full = scenario
        scenario = scenario.model_copy(update={"events": events}).with_overrides(
            {"time.end": raw.cut})
    except ScenarioError as exc:
        raise CalibrationError(f"{source}: scenario {raw.scenario!r} cut at {raw.cut}: {exc}") \
            from None
    return scenario, full, scenario_path


def parse_spec(data: dict[str, Any], *, source: str, base_dir: Path) -> CalibrationSpec:
    """Validate spec data (a parsed TOML table); raise :class:`CalibrationError`."""
    try:
        raw = SpecFile.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise CalibrationError(f"{source}: {_format(errors[0])}{more}") from None
    scenario, full, scenario_path = _scenario(raw, source, base_dir)
    cut = parse_month(raw.cut)

    if len(set(raw.data.eci_series)) != len(raw.data.eci_series):
        raise CalibrationError(f"{source}: data.eci_series: each series may appear once")
    history = load_eci_record()
    last_record = history.first_month + len(history.closed) - 1
    if cut > last_record:
        raise CalibrationError(f"{source}: cut: {raw.cut} is after the last month of the ECI "
                               f"record ({format_month(last_record)})")
    try:
        rows = load_observations()
    except ObservationError as exc:
        raise CalibrationError(f"{source}: data.economic: {exc}") from None
    known = sorted({r.series for r in rows})
    used = []
    for name in raw.data.economic:
        if name not in known:
            raise CalibrationError(f"{source}: data.economic: unknown series {name!r} "
                                   f"(allowed: {', '.join(known)})")
        dated = [r for r in rows if r.series == name
                 and parse_month(scenario.time.start) <= r.month_index <= cut]
        if not dated:
            raise CalibrationError(f"{source}: data.economic: {name} has no observation "
                                   f"between {scenario.time.start} and the cut {raw.cut}")
        used.extend(dated)

    priors = tuple(_prior(path, prior, scenario, source) for path, prior in raw.priors.items())
    digest = hashlib.sha256(json.dumps(
        {"spec": raw.model_dump(mode="json"), "scenario": scenario.content_hash(),
         "observations": [r.__dict__ for r in used]},
        sort_keys=True).encode()).hexdigest()
    return CalibrationSpec(
        source=source, digest=digest, scenario=scenario, full_scenario=full,
        scenario_path=scenario_path, cut=cut,
        seed=raw.seed, population_size=raw.population_size, batch_size=raw.batch_size,
        max_generations=raw.stop.max_generations, min_acceptance=raw.stop.min_acceptance,
        min_epsilon=raw.stop.min_epsilon, eci_series=tuple(raw.data.eci_series),
        eci_every_months=raw.data.eci_every_months, history=history,
        observations=tuple(used), priors=priors,
    )


def load_spec(path: str | Path) -> CalibrationSpec:
    """Read and validate a calibration spec file."""
    path = Path(path)
    data = read_toml(path, CalibrationError, "calibration spec")
    return parse_spec(data, source=str(path), base_dir=path.parent)
