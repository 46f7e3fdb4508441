"""What the dashboard's controls set, and how a set of values becomes a scenario.

The controls never edit a scenario file: :func:`apply_settings` takes a loaded scenario and
returns a validated copy (plus the seed tables to simulate it with) in which

* ``capability.distill_efficiency``, ``policy.safety_shock_rate_per_year`` and
  ``policy.grant_scale`` (the scale of the sovereigns' seeded grants) are replaced;
* the export-control price multiplier is that of the scenario's first ``export_controls``
  event; moving it scales every export-control event's ``price_multiplier`` by the same
  ratio (at least 1, at most 100; caps kept), so a scenario that tightens later stays
  tighter later. A scenario without export controls gets a US -> CN one at the first month,
  uncapped, when the multiplier is above 1;
* a ``funding_shock`` event is appended when its size is above 0, and a ``ban`` event when a
  sovereign is chosen; both add to whatever the scenario already schedules.

Values are validated by the scenario schema, so a control can never produce a world the
command line would refuse. Before that, every value a browser sends is checked on the server
(:func:`checked_changes`): a choice must be one of the choices offered, a number finite and
within its control's bounds (:data:`NUMBER_CONTROLS`), an integer control an integer; the
browser is trusted for nothing.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, replace
from typing import Any

from sim.calendar import format_month, parse_month
from sim.errors import InputError
from sim.inputs.scenario import (
    Scenario,
    ScenarioError,
    load_scenario,
    scenarios_dir,
    shipped_scenario_names,
    validate_scenario,
)
from sim.vocab import JURISDICTIONS

#: Recovery half-life of the dashboard's funding shock, months. A shock's depth is the
#: interesting control; one year matches the baseline's sentiment reversion (~14 months).
FUNDING_SHOCK_HALF_LIFE_MONTHS = 12.0

#: H100e a month per lab: "no cap" for an export control the dashboard adds (far above any
#: lab's purchases; the schema needs a finite number).
UNCAPPED_H100E_PER_MONTH = 1e12

#: Sovereign code meaning "no ban" in the ban dropdown.
NO_BAN = "none"


@dataclass(frozen=True)
class Settings:
    """Values of the dashboard's controls.

    Months are step indices (0 = the scenario's first month). ``ban_threshold_log10_flop``
    is log10 of the training-compute threshold (FLOP); ``grant_scale`` multiplies every
    sovereign's seeded grants to open labs (``policy.grant_scale``); ``n_runs`` and ``seed``
    define the ensemble (run 0 of it is the world that is stepped month by month).
    """

    scenario: str
    distill_efficiency: float
    safety_shock_rate_per_year: float
    export_price_multiplier: float
    grant_scale: float
    funding_shock_size: float = 0.0
    funding_shock_region: str = "CN"
    funding_shock_month: int = 12
    ban_sovereign: str = NO_BAN
    ban_threshold_log10_flop: float = 26.0
    ban_enforcement: float = 0.8
    ban_month: int = 6
    n_runs: int = 50
    seed: int = 0

    def updated(self, **changes: Any) -> Settings:
        return replace(self, **changes)


#: Bounds of the number controls: (min, max, step, integer). The page draws its sliders
#: from this table and the server refuses any value outside it. Month controls (step
#: indices) are bounded by the scenario's horizon in :func:`checked_changes`.
NUMBER_CONTROLS: dict[str, tuple[float, float, float, bool]] = {
    "distill_efficiency": (0.0, 1.0, 0.05, False),
    "export_price_multiplier": (1.0, 10.0, 0.25, False),
    "grant_scale": (0.0, 10.0, 0.25, False),
    "safety_shock_rate_per_year": (0.0, 5.0, 0.1, False),
    "funding_shock_size": (0.0, 0.9, 0.05, False),
    "ban_threshold_log10_flop": (24.0, 28.0, 0.25, False),
    "ban_enforcement": (0.0, 1.0, 0.05, False),
    "n_runs": (1, 200, 1, True),
    "seed": (0, 2**31 - 1, 1, True),
}
#: Month controls: step indices from 0 to the scenario's last month.
MONTH_CONTROLS = ("funding_shock_month", "ban_month")
#: Choice controls and what they may be.
CHOICE_CONTROLS: dict[str, tuple[str, ...]] = {
    "funding_shock_region": tuple(JURISDICTIONS),
    "ban_sovereign": (NO_BAN, *JURISDICTIONS),
}


class SettingsError(InputError):
    """A control value the server refuses; ``str`` is one plain line for the page."""


def checked_changes(changes: dict[str, Any], n_months: int) -> dict[str, Any]:
    """``changes`` with every value checked and normalised (floats finite and within
    :data:`NUMBER_CONTROLS`, integers integral, months within the horizon of ``n_months``,
    choices from :data:`CHOICE_CONTROLS`); anything else raises :class:`SettingsError`."""
    out: dict[str, Any] = {}
    for name, value in changes.items():
        if name in CHOICE_CONTROLS:
            if not isinstance(value, str) or value not in CHOICE_CONTROLS[name]:
                raise SettingsError(f"{name}: not one of the choices offered")
            out[name] = value
            continue
        if name in NUMBER_CONTROLS:
            low, high, _, integer = NUMBER_CONTROLS[name]
        elif name in MONTH_CONTROLS:
            low, high, integer = 0, max(n_months - 1, 0), True
        else:
            raise SettingsError(f"{name}: not a control of this page")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SettingsError(f"{name}: expected a number")
        if not math.isfinite(value) or not low <= value <= high:
            raise SettingsError(f"{name}: expected a number from {low:g} to {high:g}")
        if integer and value != int(value):
            raise SettingsError(f"{name}: expected a whole number")
        out[name] = int(value) if integer else float(value)
    return out


def shipped_scenarios() -> list[str]:
    """Names of the scenarios in :func:`sim.inputs.scenario.scenarios_dir`, baseline first."""
    return sorted(shipped_scenario_names(), key=lambda n: n != "baseline")


def load_named(name: str) -> Scenario:
    """Load a shipped scenario by name (raises ScenarioError with one line if it is bad).
    Only the names in :func:`shipped_scenarios` are looked up, so a name such as
    ``../../x/evil`` reaches no file, and the message does not depend on what exists."""
    if not isinstance(name, str) or name not in shipped_scenarios():
        raise ScenarioError(f"{str(name)[:60]!r}: not one of the shipped scenarios "
                            f"({', '.join(shipped_scenarios()) or 'none'})")
    return load_scenario(scenarios_dir() / f"{name}.toml")


def export_multiplier_of(scenario: Scenario) -> float:
    """Price multiplier of the scenario's first export control (1 if it has none)."""
    for event in scenario.events:
        if event.kind == "export_controls":
            return float(event.price_multiplier)
    return 1.0


def default_settings(name: str, scenario: Scenario, **extra: Any) -> Settings:
    """Controls positioned on the scenario's own values (no added events)."""
    n_months = scenario.time.n_months
    return Settings(
        scenario=name,
        distill_efficiency=float(scenario.capability.distill_efficiency),
        safety_shock_rate_per_year=float(scenario.policy.safety_shock_rate_per_year),
        export_price_multiplier=export_multiplier_of(scenario),
        grant_scale=float(scenario.policy.grant_scale),
        funding_shock_month=min(12, n_months - 1),
        ban_month=min(6, n_months - 1),
        **extra,
    )


def apply_settings(base: Scenario, s: Settings) -> Scenario:
    """The scenario (validated) that the controls ``s`` describe on top of ``base``."""
    data = base.model_dump(mode="json")
    start = parse_month(base.time.start)
    last = base.time.n_months - 1
    data["capability"]["distill_efficiency"] = float(s.distill_efficiency)
    data["policy"]["safety_shock_rate_per_year"] = float(s.safety_shock_rate_per_year)
    data["policy"]["grant_scale"] = float(s.grant_scale)

    events = data["events"]
    controls = [e for e in events if e["kind"] == "export_controls"]
    ratio = s.export_price_multiplier / export_multiplier_of(base)
    if not math.isclose(ratio, 1.0):
        for event in controls:
            event["price_multiplier"] = min(max(event["price_multiplier"] * ratio, 1.0), 100.0)
    if not controls and s.export_price_multiplier > 1.0:
        events.append({"kind": "export_controls", "month": format_month(start),
                       "sovereign": "US", "target": "CN",
                       "price_multiplier": float(s.export_price_multiplier),
                       "cap_h100e_per_month": UNCAPPED_H100E_PER_MONTH})
    if s.funding_shock_size > 0:
        month = format_month(start + min(max(s.funding_shock_month, 0), last))
        events.append({"kind": "funding_shock", "month": month,
                       "region": s.funding_shock_region, "size": float(s.funding_shock_size),
                       "half_life_months": FUNDING_SHOCK_HALF_LIFE_MONTHS})
    if s.ban_sovereign != NO_BAN:
        month = format_month(start + min(max(s.ban_month, 0), last))
        events.append({"kind": "ban", "month": month, "sovereign": s.ban_sovereign,
                       "threshold_flop": float(10.0 ** s.ban_threshold_log10_flop),
                       "enforcement": float(s.ban_enforcement)})
    scenario = validate_scenario(data, source=f"<dashboard: {s.scenario}>")
    # A control moved away from the scenario's value is a lever: a posterior does not draw
    # it (docs/posterior.md); the scenario's own levers stay levers.
    moved = {f"{table}.{key}" for table, key in CONTROLLED_PARAMETERS
             if getattr(getattr(scenario, table), key) != getattr(getattr(base, table), key)}
    return scenario.with_levers(base.levers | moved)


#: The parameters (table, field) the controls replace.
CONTROLLED_PARAMETERS: tuple[tuple[str, str], ...] = (
    ("capability", "distill_efficiency"), ("policy", "safety_shock_rate_per_year"),
    ("policy", "grant_scale"))


def settings_summary(base: Scenario, s: Settings) -> str:
    """One line naming what the controls changed from the scenario's own values."""
    start = parse_month(base.time.start)
    parts = []
    if not math.isclose(s.distill_efficiency, base.capability.distill_efficiency):
        parts.append(f"distillation {s.distill_efficiency:.2f}")
    if not math.isclose(s.safety_shock_rate_per_year, base.policy.safety_shock_rate_per_year):
        parts.append(f"safety shocks {s.safety_shock_rate_per_year:.2f}/yr")
    if not math.isclose(s.export_price_multiplier, export_multiplier_of(base)):
        parts.append(f"export price x{s.export_price_multiplier:.2f}")
    if s.funding_shock_size > 0:
        parts.append(f"{s.funding_shock_region} funding shock -{s.funding_shock_size:.0%} "
                     f"in {format_month(start + s.funding_shock_month)}")
    if s.ban_sovereign != NO_BAN:
        parts.append(f"{s.ban_sovereign} ban > 1e{s.ban_threshold_log10_flop:g} FLOP "
                     f"(enforcement {s.ban_enforcement:.0%}) from "
                     f"{format_month(start + s.ban_month)}")
    if not math.isclose(s.grant_scale, base.policy.grant_scale):
        parts.append(f"grant scale {s.grant_scale:g}")
    return ", ".join(parts) if parts else "scenario as written"




def _toml_value(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string uses the same escapes
    return repr(float(value)) if isinstance(value, float) else str(value)


def settings_toml(base: Scenario, s: Settings) -> str:
    """A scenario file that ``extends`` the chosen scenario with what the controls changed,
    to save under ``scenarios/`` and run with ``opengap run`` (or sweep from).

    Inheritance appends events, so a changed export-control multiplier (which rescales the
    parent's own export-control events) cannot be written this way; it is noted in a comment.
    """
    lines = [f"extends = {_toml_value(s.scenario)}",
             f"name = {_toml_value(s.scenario + '-dashboard')}",
             f"description = {_toml_value(settings_summary(base, s))}"]
    tables: dict[str, dict[str, float]] = {"capability": {}, "policy": {}}
    if not math.isclose(s.distill_efficiency, base.capability.distill_efficiency):
        tables["capability"]["distill_efficiency"] = float(s.distill_efficiency)
    if not math.isclose(s.safety_shock_rate_per_year, base.policy.safety_shock_rate_per_year):
        tables["policy"]["safety_shock_rate_per_year"] = float(s.safety_shock_rate_per_year)
    if not math.isclose(s.grant_scale, base.policy.grant_scale):
        tables["policy"]["grant_scale"] = float(s.grant_scale)
    for table, values in tables.items():
        if values:
            lines += ["", f"[{table}]", *(f"{k} = {_toml_value(v)}" for k, v in values.items())]
    if not math.isclose(s.export_price_multiplier, export_multiplier_of(base)):
        lines += ["", f"# export-control price multiplier x{s.export_price_multiplier:g}: edit "
                  f"the export_controls events of '{s.scenario}' (inheritance appends events)"]
    scenario = apply_settings(base, s)
    for event in scenario.events[len(base.events):]:
        if event.kind == "export_controls":
            continue  # only added when the parent has none; covered by the comment above
        lines += ["", "[[events]]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in event.model_dump(mode="json").items()]
    return "\n".join(lines) + "\n"
