"""Scenario files: a pydantic schema for TOML scenarios and a loader with one-line errors.

A scenario is a TOML file. ``extends = "baseline"`` loads ``baseline.toml`` from the same
folder first and deep-merges this file over it: tables merge key by key, scalars replace,
and the ``events`` list is appended to the parent's (a counterfactual adds events to the
baseline's schedule rather than restating it).

``include = ["fragments/calibrated.toml"]`` merges parameter-only fragments (such as the
output of ``opengap calibrate``) under the file's own values; a key set both in the file and
in a fragment is an error. ``inherit_events = false`` drops the ``extends`` parent's events
(for a scenario on another seed world whose horizon excludes them).

Every model parameter is required (no hidden defaults in code): ``scenarios/baseline.toml``
is the single documented source of values and other scenarios inherit from it.
"""

from __future__ import annotations

import hashlib
import json
import operator
from functools import reduce
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from sim.calendar import format_month, parse_month
from sim.errors import InputError
from sim.inputs.packaged import scenarios_dir
from sim.inputs.tomlfile import read_toml
from sim.vocab import Jurisdiction

#: The default seed world: ``seeds/`` describes the world as of this month.
SEED_WORLD_MONTH = "2026-04"

#: Seed worlds a scenario can start from: first month -> folder under ``seeds/`` that
#: describes the world as of that month (``[time] start`` picks the world).
SEED_WORLDS: dict[str, str] = {SEED_WORLD_MONTH: ".", "2023-01": "history-2023"}

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
Positive = Annotated[float, Field(gt=0.0)]
NonNegative = Annotated[float, Field(ge=0.0)]


class ScenarioError(InputError):
    """A scenario could not be loaded; ``str(err)`` is one line: file, field, what is allowed."""


class StrictModel(BaseModel):
    """Base of every input-file schema: unknown keys and loose types are errors."""

    # strict: TOML has real types, so "0.5" or true where a number belongs is a mistake.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)



def check_month(value: Any) -> str:
    """A pydantic ``mode="before"`` validator: a 'YYYY-MM' string, normalised."""
    if not isinstance(value, str):
        raise ValueError("expected a month string 'YYYY-MM'")
    return format_month(parse_month(value))


class Time(StrictModel):
    start: str = Field(description="first simulated month, YYYY-MM")
    end: str = Field(description="last simulated month (inclusive), YYYY-MM")

    _months = field_validator("start", "end", mode="before")(staticmethod(check_month))

    @model_validator(mode="after")
    def _order(self) -> Time:
        if self.start not in SEED_WORLDS:
            raise ValueError(
                f"start must be a month with a seed world ({', '.join(SEED_WORLDS)}), "
                f"got {self.start}"
            )
        if parse_month(self.end) <= parse_month(self.start):
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        if parse_month(self.end) - parse_month(self.start) > 600:
            raise ValueError("horizon must be at most 600 months")
        return self

    @property
    def n_months(self) -> int:
        return parse_month(self.end) - parse_month(self.start) + 1


class Population(StrictModel):
    buyers_per_segment: int = Field(ge=1, le=1_000_000)


class Capability(StrictModel):
    eci_per_log10_flop: Annotated[float, Field(gt=0.0, le=50.0)]
    algo_progress_per_year: Annotated[float, Field(ge=0.0, le=3.0)]
    flop_per_h100e_month: Annotated[float, Field(gt=0.0, le=1e24)]
    training_share: Annotated[float, Field(gt=0.0, le=1.0)]
    max_run_months: Annotated[float, Field(ge=1.0, le=60.0)]
    release_interval_months: Annotated[float, Field(ge=1.0, le=60.0)]
    min_release_gap_months: Annotated[int, Field(ge=0, le=24)]
    release_noise_points: Annotated[float, Field(ge=0.0, le=20.0)]
    bench_focus_points: Annotated[float, Field(ge=0.0, le=30.0)]
    robust_cost_points: Annotated[float, Field(ge=0.0, le=30.0)]
    fast_follow_rate: Fraction
    fast_follow_lag_months: Annotated[int, Field(ge=0, le=36)]
    distill_efficiency: Fraction
    distill_robust_carry: Fraction
    flywheel_points_per_month: Annotated[float, Field(ge=0.0, le=5.0)]
    flywheel_half_life_months: Annotated[float, Field(gt=0.0, le=600.0)]
    open_flywheel_factor: Fraction
    usage_scale_t_tokens: Positive


class Compute(StrictModel):
    price_usd_per_h100e: Annotated[float, Field(gt=0.0, le=1e7)]
    price_decline_per_year: Annotated[float, Field(ge=0.0, lt=1.0)]
    depreciation_per_month: Fraction
    capex_share_of_cash: Fraction
    opex_usd_per_h100e_month: Annotated[float, Field(ge=0.0, le=1e6)]


class Funding(StrictModel):
    runway_trigger_months: Annotated[float, Field(gt=0.0, le=120.0)]
    random_shock_rate_per_year: Annotated[float, Field(ge=0.0, le=12.0)]
    random_shock_size: Annotated[float, Field(ge=0.0, lt=1.0)]
    random_shock_half_life_months: Annotated[float, Field(gt=0.0, le=600.0)]
    raise_base_probability: Fraction
    narrative_points_scale: Positive
    round_months_of_burn: Annotated[float, Field(gt=0.0, le=120.0)]
    sentiment_reversion_per_month: Fraction
    sentiment_volatility: Annotated[float, Field(ge=0.0, le=2.0)]
    acquisition_probability: Fraction
    serving_cost_share: Fraction


class Market(StrictModel):
    open_capture_share: Fraction
    closed_price_decline_per_year: Annotated[float, Field(ge=0.0, lt=1.0)]
    open_price_decline_per_year: Annotated[float, Field(ge=0.0, lt=1.0)]
    local_agents_growth_per_month: Annotated[float, Field(ge=0.0, le=1.0)]


class Policy(StrictModel):
    """Safety shocks, regulatory pressure, sovereigns' policy decisions and grants."""

    safety_shock_rate_per_year: Annotated[float, Field(ge=0.0, le=100.0)]
    pressure_half_life_months: Annotated[float, Field(gt=0.0, le=600.0)]
    ban_probability_per_month: Fraction
    crackdown_probability_per_month: Fraction
    export_tightening_probability_per_month: Fraction
    lapse_probability_per_month: Fraction
    lapse_pressure_share: Fraction
    ban_threshold_flop: Annotated[float, Field(gt=0.0, le=1e32)]
    ban_leakage: Fraction
    crackdown_enforcement: Fraction
    export_tightening_price_factor: Annotated[float, Field(ge=1.0, le=100.0)]
    export_tightening_cap_factor: Fraction
    grant_scale: Annotated[float, Field(ge=0.0, le=1000.0)]
    grant_pressure_weight: Annotated[float, Field(ge=0.0, le=100.0)]
    grant_dependency_weight: Annotated[float, Field(ge=0.0, le=100.0)]
    grant_ban_response: Annotated[float, Field(ge=0.0, le=100.0)]


class _Event(StrictModel):
    month: str
    _month = field_validator("month", mode="before")(staticmethod(check_month))


class BanEvent(_Event):
    """Open-weight ban: no open release above ``threshold_flop`` at home; foreign open models
    above it reach this market only at the ``leakage`` share of their normal availability."""

    kind: Literal["ban"]
    sovereign: Jurisdiction
    threshold_flop: Annotated[float, Field(gt=0.0, le=1e32)]
    leakage: Fraction


class CrackdownEvent(_Event):
    """Distillation crackdown: distillation from this sovereign's closed labs keeps only
    ``enforcement`` (0 = fully stopped, 1 = no effect) of its efficiency."""

    kind: Literal["distillation_crackdown"]
    sovereign: Jurisdiction
    enforcement: Fraction


class ExportControlEvent(_Event):
    """Export controls on ``target`` labs: compute costs ``price_multiplier`` times more and
    each lab may add at most ``cap_h100e_per_month`` H100e a month."""

    kind: Literal["export_controls"]
    sovereign: Jurisdiction
    target: Jurisdiction
    price_multiplier: Annotated[float, Field(ge=1.0, le=100.0)]
    cap_h100e_per_month: NonNegative


class FundingShockEvent(_Event):
    """Investor sentiment in ``region`` is multiplied by ``1 - size`` and recovers with a
    half-life of ``half_life_months``. A negative size is a boom (``-0.5``: sentiment x1.5)."""

    kind: Literal["funding_shock"]
    region: Jurisdiction
    size: Annotated[float, Field(ge=-3.0, lt=1.0)]
    half_life_months: Annotated[float, Field(gt=0.0, le=600.0)]


class OpenProgramEvent(_Event):
    """From ``month`` on, ``sovereign`` adds ``usd_bn_per_month`` of grants, split equally
    over the alive open labs in ``scope``: the labs it already backs (``backed``) or every
    open lab based in its jurisdiction (``domestic_open``)."""

    kind: Literal["open_program"]
    sovereign: Jurisdiction
    usd_bn_per_month: Annotated[float, Field(ge=0.0, le=100.0)]
    scope: Literal["backed", "domestic_open"]


class SafetyShockEvent(_Event):
    """A scheduled safety incident: every sovereign's pressure rises by ``size`` x stance."""

    kind: Literal["safety_shock"]
    size: Annotated[float, Field(gt=0.0, le=100.0)]


#: Scenario event kind -> its schema model; each kind is compiled to its own record by
#: ``sim.core.events.EVENT_TYPES``.
EVENT_MODELS: dict[str, type[_Event]] = {
    get_args(model.model_fields["kind"].annotation)[0]: model
    for model in (BanEvent, CrackdownEvent, ExportControlEvent, FundingShockEvent,
                  SafetyShockEvent, OpenProgramEvent)
}
EVENT_KINDS = tuple(EVENT_MODELS)
Event = Annotated[reduce(operator.or_, EVENT_MODELS.values()), Field(discriminator="kind")]


class Scenario(StrictModel):
    name: str = Field(min_length=1)
    description: str = ""
    time: Time
    population: Population
    capability: Capability
    compute: Compute
    funding: Funding
    market: Market
    policy: Policy
    events: list[Event] = Field(default_factory=list)

    @model_validator(mode="after")
    def _events_in_horizon(self) -> Scenario:
        start, end = parse_month(self.time.start), parse_month(self.time.end)
        for i, event in enumerate(self.events):
            if not start <= parse_month(event.month) <= end:
                raise ValueError(
                    f"events[{i}].month {event.month} is outside the horizon "
                    f"{self.time.start}..{self.time.end}"
                )
        return self

    def content_hash(self) -> str:
        """SHA-256 of the resolved scenario (after inheritance), stable across key order."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def with_overrides(self, overrides: dict[str, Any]) -> Scenario:
        """A validated copy with dotted-path overrides, e.g. ``{"funding.size": 0.3}``."""
        data = self.model_dump(mode="json")
        for dotted, value in overrides.items():
            node = data
            keys = dotted.split(".")
            for key in keys[:-1]:
                if not isinstance(node, dict) or key not in node:
                    raise ScenarioError(f"<overrides>: {dotted}: unknown parameter path")
                node = node[key]
            if not isinstance(node, dict) or keys[-1] not in node:
                raise ScenarioError(f"<overrides>: {dotted}: unknown parameter path")
            node[keys[-1]] = value
        return validate_scenario(data, source="<overrides>")


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in EVENT_KINDS:
            continue  # the discriminator tag pydantic inserts; the index already says which
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts) or "<root>"


def _allowed_keys(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """Names of the fields allowed at the parent of ``loc`` (for unknown-key errors)."""
    model: Any = Scenario
    node: Any = data
    for item in loc[:-1]:
        if isinstance(item, int):
            node = node[item] if isinstance(node, list) and item < len(node) else {}
            continue
        if item == "events" and model is Scenario:
            node = node.get("events", []) if isinstance(node, dict) else []
            continue  # the next items are the index and the kind tag, which picks the model
        if item in EVENT_KINDS:
            model = EVENT_MODELS[item]
            continue
        field = model.model_fields.get(item)
        if field is None:
            return ""
        node = node.get(item, {}) if isinstance(node, dict) else {}
        annotation = field.annotation
        model = annotation if isinstance(annotation, type) else None
        if model is None or not issubclass(model, BaseModel):
            return ""
    return ", ".join(model.model_fields) if model is not None else ""


def field_error(where: str, err: dict[str, Any], allowed_keys: str) -> str:
    """One line for a pydantic error at ``where`` (a dotted field): unknown key (with the
    keys allowed there), missing field, or the validator's message with the value given."""
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown key; allowed keys here: {allowed_keys}"
    if err["type"] == "missing":
        return f"{where}: required field is missing"
    msg = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    suffix = f" (got {got!r})" if got is not None and not isinstance(got, dict | list) else ""
    return f"{where}: {msg}{suffix}"


def _describe(err: dict[str, Any], data: dict[str, Any]) -> str:
    loc = tuple(err["loc"])
    where = _format_loc(loc)
    if err["type"] == "union_tag_invalid":
        return f"{where}: unknown event kind; allowed: {', '.join(EVENT_KINDS)}"
    if err["type"] == "union_tag_not_found":
        return f"{where}: event needs a 'kind'; allowed: {', '.join(EVENT_KINDS)}"
    allowed = _allowed_keys(loc, data) if err["type"] == "extra_forbidden" else ""
    return field_error(where, err, allowed)


def validate_scenario(data: dict[str, Any], *, source: str) -> Scenario:
    """Validate merged scenario data; raise ScenarioError with one line naming the field."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = _describe(errors[0], data)
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ScenarioError(f"{source}: {first}{more}") from None


def _deep_merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    merged = dict(parent)
    for key, value in child.items():
        if key == "events":
            merged[key] = list(parent.get("events", [])) + list(value)
        elif isinstance(value, dict) and isinstance(parent.get(key), dict):
            merged[key] = _deep_merge(parent[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    return read_toml(path, ScenarioError, "scenario file")


#: Tables a fragment named in ``include`` may set (parameters only: no name, time or events).
FRAGMENT_TABLES: tuple[str, ...] = (
    "population", "capability", "compute", "funding", "market", "policy",
)


def _apply_includes(path: Path, data: dict[str, Any]) -> dict[str, Any]:
    """Merge the parameter fragments named in ``include = ["fragments/x.toml", ...]`` (paths
    relative to ``path``'s folder) under this file's own values.

    Precedence is ``extends`` parent < fragments < this file, but a key may not be set both
    in this file and in one of its fragments, nor in two fragments: a silently shadowed
    calibrated value is a bug, so the overlap is an error naming the key.
    """
    names = data.pop("include", None)
    if names is None:
        return data
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ScenarioError(f"{path}: include: expected a list of fragment files, "
                            "e.g. [\"fragments/calibrated.toml\"]")
    merged: dict[str, dict[str, Any]] = {}
    origin: dict[tuple[str, str], str] = {}
    for name in names:
        frag_path = path.parent / (name if name.endswith(".toml") else name + ".toml")
        if not frag_path.is_file():
            raise ScenarioError(f"{path}: include: no fragment '{name}' ({frag_path})")
        for table, values in _read_toml(frag_path).items():
            if table not in FRAGMENT_TABLES or not isinstance(values, dict):
                raise ScenarioError(f"{frag_path}: {table}: a fragment may only set the "
                                    f"parameter tables {', '.join(FRAGMENT_TABLES)}")
            for key, value in values.items():
                if (table, key) in origin:
                    raise ScenarioError(f"{frag_path}: {table}.{key}: also set in included "
                                        f"{origin[table, key]}; keep one")
                origin[table, key] = name
                merged.setdefault(table, {})[key] = value
    for (table, key), name in origin.items():
        own = data.get(table)
        if isinstance(own, dict) and key in own:
            raise ScenarioError(f"{path}: {table}.{key}: set both here and in included "
                                f"{name}; keep one")
    return _deep_merge(merged, data)


def load_raw(path: Path, _seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    """Read a scenario file and its ``extends`` chain into one merged dict (not validated)."""
    path = path.resolve()
    if path in _seen:
        chain = " -> ".join(p.name for p in (*_seen, path))
        raise ScenarioError(f"{path}: extends: inheritance cycle ({chain})")
    data = _apply_includes(path, _read_toml(path))
    parent_name = data.pop("extends", None)
    inherit_events = data.pop("inherit_events", True)
    if not isinstance(inherit_events, bool):
        raise ScenarioError(f"{path}: inherit_events: expected true or false")
    if parent_name is None:
        return data
    if not isinstance(parent_name, str) or not parent_name:
        raise ScenarioError(f"{path}: extends: expected a scenario name such as 'baseline'")
    file_name = parent_name if parent_name.endswith(".toml") else parent_name + ".toml"
    parent_path = path.parent / file_name
    if not parent_path.is_file():
        raise ScenarioError(
            f"{path}: extends: no scenario '{parent_name}' next to this file ({parent_path})"
        )
    parent = load_raw(parent_path, (*_seen, path))
    parent.pop("name", None)
    parent.pop("description", None)
    if not inherit_events:
        # A scenario on another seed world (e.g. history-2023) keeps the parent's parameters
        # but not its schedule, whose months lie outside its horizon.
        parent.pop("events", None)
    return _deep_merge(parent, data)


def load_scenario(path: str | Path) -> Scenario:
    """Load, merge (``extends``) and validate a scenario file."""
    path = Path(path)
    data = load_raw(path)
    return validate_scenario(data, source=str(path))


def resolve_scenario_path(name_or_path: str) -> Path:
    """Accept a path, or a bare name of a shipped scenario (``baseline``)."""
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" or candidate.exists():
        return candidate
    return scenarios_dir() / f"{name_or_path}.toml"
