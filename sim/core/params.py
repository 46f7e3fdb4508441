"""The engine's parameters, derived from the scenario schema.

Every model parameter is declared once, as a field of a parameter table of the scenario
schema (:mod:`sim.inputs.scenario`: ``capability``, ``compute``, ``funding``, ``market``,
``policy``), with its bounds and a description ending in its unit. :class:`Params` has one
field per schema parameter, under the schema's name and with its value as written, except
where the engine needs another unit: each such conversion is declared once, in
:data:`CONVERSIONS`, and replaces its source field. Adding a parameter is one schema field
(and its value in ``scenarios/baseline.toml``); the mechanism reads it as ``p.<name>``.

Sweeps replace fields of a :class:`Params` with ``(runs, 1)`` arrays of per-run values
(:mod:`sim.studies.sweeps.stacked`), so it is a frozen dataclass like any other.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, make_dataclass
from typing import TYPE_CHECKING, Any

from sim.calendar import parse_month
from sim.inputs.scenario import PARAMETER_TABLES, Scenario

if TYPE_CHECKING:
    from pydantic import BaseModel

#: USD per USD bn: the TOML states money in USD, the engine in USD bn.
USD_PER_BN = 1e9
#: Hours in an H100e-month (8,760 hours a year / 12), the unit rental prices are quoted in.
HOURS_PER_MONTH = 730.0



@dataclass(frozen=True)
class Conversion:
    """An engine parameter computed from schema field ``source`` (``table.field``) by
    ``convert``, which replaces the source in :class:`Params`; ``description`` gives the
    equation and the engine's unit."""

    source: str
    convert: Callable[[Any], Any]
    description: str


def per_month(source: str, unit: str) -> Conversion:
    """A yearly rate as a monthly one: ``x / 12``."""
    return Conversion(source, lambda x: x / 12.0, f"{source} / 12 [{unit} / month]")


def retention_of_half_life(source: str) -> Conversion:
    """A half-life in months as the monthly multiplier ``0.5 ** (1 / half_life)``."""
    return Conversion(source, lambda h: 0.5 ** (1.0 / h),
                      f"0.5 ** (1 / {source}) [multiplier / month]")


def retention_of_yearly_decline(source: str) -> Conversion:
    """A yearly fractional decline as the monthly multiplier ``(1 - d) ** (1 / 12)``."""
    return Conversion(source, lambda d: (1.0 - d) ** (1.0 / 12.0),
                      f"(1 - {source}) ** (1 / 12) [multiplier / month]")


def usd_bn(source: str, unit: str) -> Conversion:
    """An amount in USD as USD bn: ``x / USD_PER_BN``."""
    return Conversion(source, lambda x: x / USD_PER_BN, f"{source} / 1e9 [USD bn {unit}]")


#: The engine parameters that are not a schema value as written, each declared once.
CONVERSIONS: dict[str, Conversion] = {
    "algo_progress_per_month": per_month("capability.algo_progress_per_year",
                                         "log10 FLOP-equivalents"),
    "flywheel_retention": retention_of_half_life("capability.flywheel_half_life_months"),
    "rental0_usd_bn_per_h100e_month": Conversion(
        "compute.rental_usd_per_h100e_hour", lambda x: x * HOURS_PER_MONTH / USD_PER_BN,
        "compute.rental_usd_per_h100e_hour x 730 / 1e9 [USD bn / H100e-month]"),
    "narrative_valuation_usd_bn": usd_bn("funding.narrative_valuation_usd", ""),
    "compute_price_retention": retention_of_yearly_decline("compute.price_decline_per_year"),
    "opex_usd_bn_per_h100e_month": usd_bn("compute.opex_usd_per_h100e_month",
                                          "/ H100e-month"),
    "random_shock_probability": Conversion(
        "funding.random_shock_rate_per_year", lambda rate: -math.expm1(-rate / 12.0),
        "1 - exp(-funding.random_shock_rate_per_year / 12) [probability per region and "
        "month]"),
    "random_shock_retention": retention_of_half_life("funding.random_shock_half_life_months"),
    "serving_cost_retention": retention_of_yearly_decline(
        "market.serving_cost_decline_per_year"),
    "entry_rate_per_month": per_month("funding.entry_rate_per_year", "entries / slot"),
    "safety_shocks_per_month": per_month("policy.safety_shock_rate_per_year", "shocks"),
    "pressure_retention": retention_of_half_life("policy.pressure_half_life_months"),
}


def _table(table: str) -> type[BaseModel]:
    return Scenario.model_fields[table].annotation  # type: ignore[return-value]


def _params_fields() -> tuple[list[tuple[str, type]], dict[str, str]]:
    """(name, type) of every :class:`Params` field in schema order (a conversion where its
    source was), and each field's description."""
    by_source = {c.source: (name, c) for name, c in CONVERSIONS.items()}
    out: list[tuple[str, type]] = [("n_months", int), ("start_month", int)]
    docs = {"n_months": "steps simulated, from time.start to time.end inclusive [months]",
            "start_month": "month index of time.start, year * 12 + month - 1 [month]"}
    for table in PARAMETER_TABLES:
        for name, info in _table(table).model_fields.items():
            source = f"{table}.{name}"
            if source in by_source:
                engine_name, conversion = by_source[source]
                out.append((engine_name, float))
                docs[engine_name] = conversion.description
            else:
                out.append((name, info.annotation))
                docs[name] = f"{source}: {info.description}"
    missing = set(CONVERSIONS) - set(docs)
    if missing:  # a conversion whose source is not a schema field is a typo
        raise TypeError(f"conversions from unknown schema fields: {sorted(missing)}")
    return out, docs


def _from_scenario(cls: type, scenario: Scenario) -> Any:
    """The scenario's parameters in model units."""
    values: dict[str, Any] = {"n_months": scenario.time.n_months,
                              "start_month": parse_month(scenario.time.start)}
    by_source = {c.source: (name, c) for name, c in CONVERSIONS.items()}
    for table in PARAMETER_TABLES:
        section = getattr(scenario, table)
        for name in type(section).model_fields:
            value = getattr(section, name)
            if f"{table}.{name}" in by_source:
                engine_name, conversion = by_source[f"{table}.{name}"]
                values[engine_name] = conversion.convert(value)
            else:
                values[name] = value
    return cls(**values)


_FIELDS, PARAM_DESCRIPTIONS = _params_fields()

#: Scenario parameters in model units (per month, USD bn, log10 FLOP, ECI points): one
#: field per schema parameter (see the module docstring and :data:`PARAM_DESCRIPTIONS`).
Params = make_dataclass(
    "Params", _FIELDS, frozen=True,
    namespace={"from_scenario": classmethod(_from_scenario)},
)
Params.__module__ = __name__
Params.__doc__ = ("Scenario parameters in model units, one field per schema parameter "
                  "(:mod:`sim.core.params`):\n\n" + "\n".join(
                      f"* ``{name}``: {PARAM_DESCRIPTIONS[name]}" for name, _ in _FIELDS))


def engine_value(path: str, value: Any) -> tuple[str, Any]:
    """(engine field, value in model units) of schema parameter ``path`` (``table.field``)
    set to ``value`` as a scenario writes it: its :data:`CONVERSIONS` entry if it has one
    (the same function :meth:`Params.from_scenario` applies), else the field as written."""
    for engine_name, conversion in CONVERSIONS.items():
        if conversion.source == path:
            return engine_name, conversion.convert(value)
    return path.split(".", 1)[1], value
