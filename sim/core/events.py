"""Scheduled scenario events compiled to typed records: one class per event kind.

A scenario's ``[[events]]`` (``sim.inputs.scenario``, one pydantic model per kind) become
records in model indices: ``month`` is the step index (0 = the scenario's start), a
sovereign is an index into ``Population.sovereign_ids`` and a region an index into
:data:`sim.vocab.JURISDICTIONS`. Each record keeps its kind's own fields under their
schema names (``threshold_flop``, ``enforcement``, ``half_life_months``, ...) and says itself
what it does to the world; the base class's defaults do nothing, so each kind overrides only
what it touches:

* :meth:`ScheduledEvent.set_policy`: writes the scheduled policy from its month on (bans,
  distillation crackdowns, export controls; ``sim.core.world.ScheduledPolicy``);
* :meth:`ScheduledEvent.grant_line`: a fixed grant line (open-model programmes);
* :meth:`ScheduledEvent.shock_component`: a funding-shock component with its own half-life;
* :meth:`ScheduledEvent.raise_pressure` and :meth:`ScheduledEvent.add_funding_shock`: what it
  does in its month in the policy mechanism (safety shocks, funding shocks);
* :meth:`ScheduledEvent.actor` and :meth:`ScheduledEvent.label`: who acts and one line for
  the event log; ``short`` names it on figure markers.

:data:`EVENT_TYPES` maps each scenario ``kind`` to its record class: adding an event kind
is its schema model, its record class here and one entry in that table.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from sim.inputs.scenario import ScenarioError
from sim.vocab import JURISDICTIONS

if TYPE_CHECKING:
    from sim.core.world import Population, ScheduledPolicy

#: The actor of an event that is no sovereign's or region's (a safety shock).
WORLD_ACTOR = "world"


class Compiler:
    """Index lookups shared by the events of one scenario while they are compiled, in file
    order (``position`` is the index of the event being compiled, for error messages).

    ``sovereign(code)`` is the index of the sovereign of jurisdiction ``code``;
    ``component(region, half_life)`` numbers funding-shock components ``G + n`` for the n-th
    distinct (region, half-life) pair in file order (components ``0..G-1`` are the regions'
    random shocks)."""

    def __init__(self, scenario_name: str, sovereign_index: dict[str, int],
                 lab_index: dict[str, int] | None = None) -> None:
        self.scenario_name = scenario_name
        self.position = 0
        self._sovereigns = sovereign_index
        self._labs = lab_index or {}
        self._components: dict[tuple[int, float], int] = {}

    def lab(self, lab_id: str) -> int:
        """The index of lab ``lab_id`` in the seed world."""
        if lab_id not in self._labs:
            raise ScenarioError(
                f"{self.scenario_name}: events[{self.position}].labs: no lab {lab_id!r} in the "
                f"seed world; allowed: {', '.join(sorted(self._labs))}")
        return self._labs[lab_id]

    def sovereign(self, code: str) -> int:
        if code not in self._sovereigns:
            raise ScenarioError(
                f"{self.scenario_name}: events[{self.position}].sovereign: no sovereign for "
                f"{code} in the seed world; allowed: {', '.join(sorted(self._sovereigns))}")
        return self._sovereigns[code]

    def component(self, region: int, half_life_months: float) -> int:
        key = (region, float(half_life_months))
        return self._components.setdefault(key, len(JURISDICTIONS) + len(self._components))


@dataclass(frozen=True)
class ScheduledEvent:
    """A scheduled event at step ``month`` (0 = the scenario's start)."""

    month: int
    #: The scenario's ``kind`` of this record (also its ``kind`` column in the event log).
    kind: ClassVar[str]
    #: A few words naming it on figure markers.
    short: ClassVar[str]
    #: Safety shocks it counts as in its month's ``safety_shocks`` flow.
    safety_shocks: ClassVar[int] = 0

    @classmethod
    def compile(cls, event: Any, month: int, index: Compiler) -> ScheduledEvent:
        """This kind's record of scenario event ``event`` (its schema model) at ``month``."""
        raise NotImplementedError

    def actor(self, pop: Population) -> str:
        """Who acts: a sovereign id, a region code or :data:`WORLD_ACTOR`."""
        return WORLD_ACTOR

    def label(self, pop: Population) -> str:
        """One line for the event log."""
        raise NotImplementedError

    def set_policy(self, policy: ScheduledPolicy) -> None:
        """Write the policy it sets into the (T, S) / (T, G) arrays, from its month on."""

    def grant_line(self, pop: Population) -> tuple[int, float, np.ndarray] | None:
        """(sovereign, USD bn per month, backed labs (L,) bool) of the fixed grant line it
        opens at its month, or None."""
        return None

    def shock_component(self) -> tuple[int, int, float] | None:
        """(component, region, half-life in months) of the funding-shock component it adds
        to, or None."""
        return None

    def raise_pressure(self, pressure: np.ndarray, stance: np.ndarray) -> np.ndarray:
        """Regulatory pressure (R, S) after it, in its month (pressure units)."""
        return pressure

    def set_parent_budget(self, multiplier: np.ndarray) -> None:
        """Write the multiplier on parents' budgets into the (T, L) array, from its month on."""

    def set_investor_access(self, multiplier: np.ndarray) -> None:
        """Write the multiplier on labs' odds of raising into the (T, L) array, from its
        month on."""

    def add_funding_shock(self, components: np.ndarray) -> None:
        """Add it, in its month, to the funding-shock components (R, H) (log sentiment)."""


class _SovereignEvent(ScheduledEvent):
    """An event a sovereign takes: its actor is the sovereign."""

    sovereign: int

    def actor(self, pop: Population) -> str:
        return pop.sovereign_ids[self.sovereign]

    def code(self, pop: Population) -> str:
        """The sovereign's jurisdiction code, as the scenario names it."""
        return JURISDICTIONS[pop.sov_jurisdiction[self.sovereign]]


@dataclass(frozen=True)
class Ban(_SovereignEvent):
    """Open-weight ban: no open release above ``threshold_flop`` (FLOP) at home; foreign open
    models above it reach this market at first with ``1 - enforcement`` (fraction) of their
    normal availability, then more as their weights spread (mechanism 5,
    :func:`sim.core.mechanisms.market.ban_availability`)."""

    sovereign: int
    threshold_flop: float
    enforcement: float
    kind: ClassVar[str] = "ban"
    short: ClassVar[str] = "ban"

    @classmethod
    def compile(cls, event: Any, month: int, index: Compiler) -> Ban:
        return cls(month, index.sovereign(event.sovereign), event.threshold_flop,
                   event.enforcement)

    def label(self, pop: Population) -> str:
        return (f"{self.code(pop)} bans open weights above {self.threshold_flop:.1e} FLOP "
                f"(enforcement {self.enforcement:.0%})")

    def set_policy(self, policy: ScheduledPolicy) -> None:
        # the state keeps the availability left at first, 1 - enforcement ("leakage")
        policy.ban_threshold[self.month:, self.sovereign] = self.threshold_flop
        policy.ban_leakage[self.month:, self.sovereign] = 1.0 - self.enforcement


@dataclass(frozen=True)
class DistillationCrackdown(_SovereignEvent):
    """Distillation from this sovereign's closed labs keeps ``enforcement`` (fraction) of its
    efficiency (0 = stopped, 1 = no effect)."""

    sovereign: int
    enforcement: float
    kind: ClassVar[str] = "distillation_crackdown"
    short: ClassVar[str] = "distillation crackdown"

    @classmethod
    def compile(cls, event: Any, month: int, index: Compiler) -> DistillationCrackdown:
        return cls(month, index.sovereign(event.sovereign), event.enforcement)

    def label(self, pop: Population) -> str:
        return f"{self.code(pop)} distillation crackdown (efficiency kept {self.enforcement:.0%})"

    def set_policy(self, policy: ScheduledPolicy) -> None:
        policy.enforcement[self.month:, self.sovereign] = self.enforcement


@dataclass(frozen=True)
class ExportControls(_SovereignEvent):
    """Export controls on labs based in region ``target``: compute costs
    ``price_multiplier`` (x) times more and each lab adds at most ``cap_h100e_per_month``
    (H100e per lab and month)."""

    sovereign: int
    target: int
    price_multiplier: float
    cap_h100e_per_month: float
    kind: ClassVar[str] = "export_controls"
    short: ClassVar[str] = "export controls"

    @classmethod
    def compile(cls, event: Any, month: int, index: Compiler) -> ExportControls:
        return cls(month, index.sovereign(event.sovereign), JURISDICTIONS.index(event.target),
                   event.price_multiplier, event.cap_h100e_per_month)

    def label(self, pop: Population) -> str:
        return (f"{self.code(pop)} export controls on {JURISDICTIONS[self.target]} "
                f"(price x{self.price_multiplier:g}, cap "
                f"{self.cap_h100e_per_month:,.0f} H100e/month per lab)")

    def set_policy(self, policy: ScheduledPolicy) -> None:
        policy.export_multiplier[self.month:, self.target] = self.price_multiplier
        policy.export_cap[self.month:, self.target] = self.cap_h100e_per_month


@dataclass(frozen=True)
class FundingShock(ScheduledEvent):
    """Investor sentiment in ``region`` is multiplied by ``1 - size`` and recovers with a
    half-life of ``half_life_months`` (months); a negative size is a boom. ``component``
    is its funding-shock component (``World.shock_region``), shared by the shocks of the
    same region and half-life."""

    region: int
    size: float
    half_life_months: float
    component: int
    kind: ClassVar[str] = "funding_shock"
    short: ClassVar[str] = "funding shock"

    @classmethod
    def compile(cls, event: Any, month: int, index: Compiler) -> FundingShock:
        region = JURISDICTIONS.index(event.region)
        return cls(month, region, event.size, event.half_life_months,
                   index.component(region, event.half_life_months))

    def actor(self, pop: Population) -> str:
        return JURISDICTIONS[self.region]

    def label(self, pop: Population) -> str:
        verb = f"falls {self.size:.0%}" if self.size >= 0 else f"rises {-self.size:.0%}"
        return (f"{JURISDICTIONS[self.region]} investor sentiment {verb} "
                f"(half-life {self.half_life_months:g} months)")

    def shock_component(self) -> tuple[int, int, float]:
        return self.component, self.region, self.half_life_months

    def add_funding_shock(self, components: np.ndarray) -> None:
        # log(1 - size): the shock multiplies sentiment by 1 - size.
        components[:, self.component] += np.log1p(-self.size)


@dataclass(frozen=True)
class OpenProgram(_SovereignEvent):
    """From its month on, the sovereign adds ``usd_bn_per_month`` (USD bn per month) of
    grants, split equally over the alive open labs in ``scope``: the labs it already backs
    (``backed``) or every open lab based in its jurisdiction (``domestic_open``)."""

    sovereign: int
    usd_bn_per_month: float
    scope: str
    kind: ClassVar[str] = "open_program"
    short: ClassVar[str] = "open programme"

    @classmethod
    def compile(cls, event: Any, month: int, index: Compiler) -> OpenProgram:
        return cls(month, index.sovereign(event.sovereign), event.usd_bn_per_month, event.scope)

    def label(self, pop: Population) -> str:
        return (f"{self.code(pop)} open-model programme: {self.usd_bn_per_month:g} USD bn/month "
                "to its " + ("backed labs" if self.scope == "backed" else "domestic open labs"))

    def grant_line(self, pop: Population) -> tuple[int, float, np.ndarray]:
        if self.scope == "backed":
            backs = pop.sov_backing[self.sovereign]
        else:  # scope "domestic_open"
            backs = pop.lab_is_open & (pop.lab_region == pop.sov_jurisdiction[self.sovereign])
        return self.sovereign, self.usd_bn_per_month, backs


@dataclass(frozen=True)
class SafetyShock(ScheduledEvent):
    """A scheduled safety incident: every sovereign's pressure rises by ``size`` x its
    stance (pressure units per unit shock)."""

    size: float
    kind: ClassVar[str] = "safety_shock"
    short: ClassVar[str] = "safety shock"
    safety_shocks: ClassVar[int] = 1

    @classmethod
    def compile(cls, event: Any, month: int, index: Compiler) -> SafetyShock:
        return cls(month, event.size)

    def label(self, pop: Population) -> str:
        return f"safety shock of size {self.size:g}"

    def raise_pressure(self, pressure: np.ndarray, stance: np.ndarray) -> np.ndarray:
        return pressure + self.size * stance


@dataclass(frozen=True)
class LabMultiplier(ScheduledEvent):
    """From its month on, a multiplier (x) on something of ``labs`` (lab indices); a later
    event of the same kind for a lab replaces it. Its ``short`` name says what it scales."""

    labs: tuple[int, ...]
    multiplier: float

    @classmethod
    def compile(cls, event: Any, month: int, index: Compiler) -> LabMultiplier:
        return cls(month, tuple(index.lab(lab) for lab in event.labs), event.multiplier)

    def label(self, pop: Population) -> str:
        names = ", ".join(pop.lab_ids[i] for i in self.labs)
        return f"{self.short} of {names} x{self.multiplier:g}"

    def set_multiplier(self, multiplier: np.ndarray) -> None:
        """Write this event into a (T, L) multiplier path from its month on."""
        multiplier[self.month:, list(self.labs)] = self.multiplier


@dataclass(frozen=True)
class ParentBudget(LabMultiplier):
    """From its month on, the corporate parents of ``labs`` (lab indices) fund them at
    ``multiplier`` (x) times their seeded budget path; a later event for a lab replaces it."""

    kind: ClassVar[str] = "parent_budget"
    short: ClassVar[str] = "parent budget"

    def set_parent_budget(self, multiplier: np.ndarray) -> None:
        self.set_multiplier(multiplier)


@dataclass(frozen=True)
class InvestorAccess(LabMultiplier):
    """From its month on, investors fund ``labs`` (lab indices) at ``multiplier`` (x) times
    the usual success probability of a round; a later event for a lab replaces it."""

    kind: ClassVar[str] = "investor_access"
    short: ClassVar[str] = "investor access"

    def set_investor_access(self, multiplier: np.ndarray) -> None:
        self.set_multiplier(multiplier)


#: Scenario event ``kind`` -> its compiled record: the one place kinds are dispatched.
EVENT_TYPES: dict[str, type[ScheduledEvent]] = {
    cls.kind: cls for cls in (Ban, DistillationCrackdown, ExportControls, FundingShock,
                              SafetyShock, OpenProgram, ParentBudget,
                              InvestorAccess)
}
