"""Mesa agents of :class:`sim.model.OpenGapModel`: thin views onto one run's state arrays.

The engine keeps all state in arrays shaped ``(runs, agents)`` (:class:`sim.core.world.WorldState`)
and the mechanisms decide for every agent at once. An agent here therefore holds nothing but
its index: each property reads ``self.model.state`` (run 0 of the model's one-run state) or
the static :class:`sim.core.world.Population`, so an agent always shows the current month and can
never drift from the arrays the engine steps.

**A month, mechanism by mechanism.** Every agent type names the engine mechanisms it acts
through (``MECHANISMS``), and :meth:`ArrayAgent.act` runs one of them for every agent of the
type at once, on the month's copy of the state. :meth:`sim.model.OpenGapModel.step` goes
through the engine's :data:`sim.core.engine.MECHANISMS` in order and lets the owning type act
(:func:`monthly_order`): sovereigns first (``policy``: pressure, enacting and lifting
policies, grants), then labs (``funding``, ``compute``, ``research``: raising money,
contracting compute, training and releasing), then buyers (``market``, ``adoption``:
choosing a model, paying for tokens, usage feeding the labs' flywheel; the inference hosts
that sell open weights price and serve inside that market), and last the labs again
(``entry``: new labs founded). Every mechanism has exactly one owner (checked when
:mod:`sim.model` is imported), so a Mesa run is bit-identical to
:func:`sim.core.engine.step`. There is deliberately no per-agent ``step``: the mechanisms
decide for every agent at once over arrays (buyers' choices, for instance, depend on every
lab's release), so one agent stepping alone would not be the model.

**Adding an agent type** on the Mesa side is its class here and one row of
:data:`AGENT_TYPES`: the model creates one agent set per row (``model.labs``,
``model.sovereigns``, ``model.buyers``, ...), registers its DataCollector reporters and lets it act
through its mechanisms (see docs/architecture.md for the engine side).

Labs that exit or are acquired stay registered with ``alive == False`` (their rows stay in
the arrays too), so indices and Mesa ``unique_id`` values are stable over a run.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import mesa
import numpy as np

from sim.core.engine import MECHANISMS, apply_mechanism
from sim.core.mechanisms import Flows
from sim.vocab import CAMPS, JURISDICTIONS, POLICIES

if TYPE_CHECKING:
    from sim.core.rng import MonthDraws
    from sim.core.world import WorldState
    from sim.model import OpenGapModel

#: The one run of the model's state that agents view.
RUN = 0


class ArrayAgent(mesa.Agent):
    """An agent identified by its row ``index`` in the population's arrays.

    ``MECHANISMS`` names the rows of :data:`sim.core.engine.MECHANISMS` through which agents
    of this type act, in monthly order.
    """

    model: OpenGapModel
    MECHANISMS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, model: OpenGapModel, index: int) -> None:
        super().__init__(model)
        self.index = int(index)

    @classmethod
    def act(cls, name: str, model: OpenGapModel, month: WorldState, draws: MonthDraws,
            flows: Flows) -> None:
        """One of this type's decisions for every agent of the type: the engine's own
        mechanism ``name`` (one of :attr:`MECHANISMS`), applied to ``month`` (the month's
        copy of the state, from :func:`sim.core.engine.begin_month`); its flows are added
        to ``flows``."""
        if name not in cls.MECHANISMS:
            raise ValueError(f"{cls.__name__} does not act through {name!r}")
        apply_mechanism(_MECHANISM[name], model.world, month, draws, flows)

    @classmethod
    def step_type(cls, model: OpenGapModel, month: WorldState, draws: MonthDraws,
                  flows: Flows) -> None:
        """Every decision of this type in one go (:attr:`MECHANISMS` in order). The model's
        month interleaves the types in the engine's order instead (:func:`monthly_order`):
        labs decide on funding, compute and research before buyers choose, and entrants
        are founded at the end of the month."""
        for name in cls.MECHANISMS:
            cls.act(name, model, month, draws, flows)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(index={self.index}, unique_id={self.unique_id})"


class LabAgent(ArrayAgent):
    """An AI lab (camp ``closed``, ``open_cn``, ``open_us`` or ``open_other``).

    Decisions (fundraising, compute purchases, training, releases) are made by the
    ``funding``, ``compute`` and ``research`` mechanisms for every lab at once
    (:meth:`step_type`); this agent exposes lab ``index``'s row of the arrays.
    """

    MECHANISMS = ("funding", "compute", "research", "entry")

    @property
    def lab_id(self) -> str:
        """Identifier from ``seeds/labs.csv``."""
        return self.model.population.lab_ids[self.index]

    @property
    def name(self) -> str:
        """Display name."""
        return self.model.population.lab_names[self.index]

    @property
    def camp(self) -> str:
        """``closed``, ``open_cn``, ``open_us`` or ``open_other``."""
        return CAMPS[int(self.model.population.lab_camp[self.index])]

    @property
    def region(self) -> str:
        """Home jurisdiction code (``US``, ``CN``, ...)."""
        return JURISDICTIONS[int(self.model.population.lab_region[self.index])]

    @property
    def is_open(self) -> bool:
        """True if the lab releases open weights."""
        return bool(self.model.population.lab_is_open[self.index])

    @property
    def bench_focus(self) -> float:
        """Benchmark focus in [0, 1] (benchmark score gained at the cost of robustness)."""
        return float(self.model.population.bench_focus[self.index])

    @property
    def alive(self) -> bool:
        """False once the lab has exited or been acquired."""
        return bool(self.model.state.alive[RUN, self.index])

    @property
    def cash(self) -> float:
        """Cash on hand, USD bn."""
        return float(self.model.state.cash[RUN, self.index])

    @property
    def revenue(self) -> float:
        """Revenue earned last month, USD bn per month."""
        return float(self.model.state.revenue[RUN, self.index])

    @property
    def compute(self) -> float:
        """Compute stock, H100-equivalents (H100e)."""
        return float(self.model.state.compute[RUN, self.index])

    @property
    def compute_spend(self) -> float:
        """Paid on its compute contract last month, USD bn."""
        return float(self.model.state.compute_spend[RUN, self.index])

    @property
    def run_months_left(self) -> float:
        """Months until the training run in progress ends and releases; 0 = no run."""
        return float(self.model.state.run_months_left[RUN, self.index])

    @property
    def run_flop(self) -> float:
        """FLOP the run in progress has accumulated so far."""
        return float(self.model.state.run_flop[RUN, self.index])

    @property
    def contract_h100e(self) -> float:
        """Compute under contract for the run in progress, H100e (0 without a run)."""
        state = self.model.state
        return float(state.contract_h100e[RUN, self.index]
                     if state.run_months_left[RUN, self.index] > 0 else 0.0)

    @property
    def contract_price(self) -> float:
        """Rental price locked in that contract, USD bn per H100e-month."""
        return float(self.model.state.contract_price[RUN, self.index])

    @property
    def next_contract_h100e(self) -> float:
        """Compute signed for the next run, H100e (0 if none is signed)."""
        return float(self.model.state.next_h100e[RUN, self.index])

    @property
    def next_contract_lead(self) -> float:
        """Months until the signed next contract comes online; -1 if none is signed."""
        return float(self.model.state.next_lead[RUN, self.index])

    @property
    def parent_budget(self) -> float:
        """This month's budget from the lab's corporate parent, USD bn per month."""
        world = self.model.world
        month = min(self.model.state.month, world.params.n_months - 1)
        return float(world.parent_budget[month, self.index])

    @property
    def funding_outlook(self) -> float:
        """Odds of closing the next round as a share of neutral odds, in [0, 1] (1 for a lab
        funded by a corporate parent); the lab spreads its cash over ``horizon / outlook``."""
        return float(self.model.state.funding_outlook[RUN, self.index])

    @property
    def algo(self) -> float:
        """Algorithmic efficiency, log10 FLOP-equivalents added to training FLOP."""
        return float(self.model.state.algo[RUN, self.index])

    @property
    def bench(self) -> float:
        """Benchmark score of the released model, ECI points."""
        return float(self.model.state.bench[RUN, self.index])

    @property
    def robust(self) -> float:
        """Robustness score of the released model, ECI points."""
        return float(self.model.state.robust[RUN, self.index])

    @property
    def released_flop(self) -> float:
        """Training compute of the released model, FLOP."""
        return float(self.model.state.released_flop[RUN, self.index])

    @property
    def months_since_release(self) -> float:
        """Months since the current model was released."""
        return float(self.model.state.months_since_release[RUN, self.index])

    @property
    def flywheel(self) -> float:
        """RL-flywheel robustness stock from real use, ECI points."""
        return float(self.model.state.flywheel[RUN, self.index])

    @property
    def users(self) -> float:
        """Usage last month, trillion tokens served."""
        return float(self.model.state.users[RUN, self.index])


class SovereignAgent(ArrayAgent):
    """A sovereign (US, CN, EU, ...): regulatory pressure and the policies it has in force.

    Its month (pressure, enacting and lifting policies, grants paid) is the ``policy``
    mechanism, run for every sovereign at once (:meth:`step_type`).
    """

    MECHANISMS = ("policy",)

    @property
    def sovereign_id(self) -> str:
        """Identifier from ``seeds/sovereigns.csv``."""
        return self.model.population.sovereign_ids[self.index]

    @property
    def jurisdiction(self) -> str:
        """Jurisdiction code (``US``, ``CN``, ...)."""
        return JURISDICTIONS[int(self.model.population.sov_jurisdiction[self.index])]

    @property
    def pressure(self) -> float:
        """Regulatory pressure (pressure units: stance x safety-shock size, decaying)."""
        return float(self.model.state.pressure[RUN, self.index])

    @property
    def pressure_threshold(self) -> float:
        """Pressure at which policy becomes likely (pressure units)."""
        return float(self.model.population.sov_threshold[self.index])

    @property
    def ban_active(self) -> bool:
        """True if an open-weight ban above a compute threshold is in force."""
        return bool(np.isfinite(self.model.state.ban_threshold[RUN, self.index]))

    @property
    def ban_threshold_flop(self) -> float:
        """Training compute above which open releases are banned, FLOP (inf: no ban)."""
        return float(self.model.state.ban_threshold[RUN, self.index])

    @property
    def ban_leakage(self) -> float:
        """Share of normal availability that banned foreign open models keep when they fall
        under the ban, ``1 - enforcement`` (1: no ban); it grows with a model's age
        (:func:`sim.core.mechanisms.market.ban_availability`)."""
        return float(self.model.state.ban_leakage[RUN, self.index])

    @property
    def distill_enforcement(self) -> float:
        """Share of distillation efficiency kept from this sovereign's closed labs (1: none)."""
        return float(self.model.state.distill_enforcement[RUN, self.index])

    @property
    def crackdown_active(self) -> bool:
        """True if a distillation crackdown is in force."""
        return self.distill_enforcement < 1.0

    @property
    def budget(self) -> float:
        """Seeded grant budget for backed open labs, USD bn per month (before the scenario's
        ``grant_scale`` and the demand response; see :attr:`grants_paid`)."""
        return float(self.model.population.sov_budget_usd_bn[self.index])

    @property
    def grants_paid(self) -> float:
        """Grants paid to open labs last month, USD bn (0 before the first step)."""
        flows = self.model.flows
        return 0.0 if flows is None else float(flows["grants_paid"][RUN, self.index])

    @property
    def enacted_policies(self) -> list[str]:
        """Policies this sovereign enacted itself and still has in force (``POLICIES``)."""
        flags = self.model.state.policy_enacted[RUN, self.index]
        return [name for name, on in zip(POLICIES, flags, strict=True) if on]

    @property
    def policies_in_force(self) -> str:
        """Policies in force in this sovereign's jurisdiction, scheduled or enacted, joined
        by ``+`` in :data:`sim.vocab.POLICIES` order (``""``: none): ``ban`` while an
        open-weight ban applies, ``distillation_crackdown`` while one applies,
        ``export_tightening`` while its own export tightening is in force."""
        on = (self.ban_active, self.crackdown_active,
              bool(self.model.state.policy_enacted[RUN, self.index, POLICIES.index(
                  "export_tightening")]))
        return "+".join(name for name, flag in zip(POLICIES, on, strict=True) if flag)

    @property
    def export_target(self) -> str | None:
        """Region its export-control tightening targets, or None."""
        g = int(self.model.population.sov_export_target[self.index])
        return JURISDICTIONS[g] if g >= 0 else None

    @property
    def backed_labs(self) -> list[int]:
        """Indices of the open labs this sovereign backs with grants."""
        return np.flatnonzero(self.model.population.sov_backing[self.index]).tolist()


class BuyerAgent(ArrayAgent):
    """A buyer (a slice of one segment's token demand in one jurisdiction).

    Its month (choosing a model among those available, paying for tokens, its usage feeding
    the labs' RL flywheel) is the ``market`` and ``adoption`` mechanisms, run for every buyer
    at once (:meth:`step_type`).
    """

    MECHANISMS = ("market", "adoption")

    @property
    def segment(self) -> str:
        """Segment name (``knowledge_work``, ``agentic_coding``, ...)."""
        pop = self.model.population
        return pop.segments[int(pop.buyer_segment[self.index])]

    @property
    def jurisdiction(self) -> str:
        """Jurisdiction code of the buyer's market."""
        return JURISDICTIONS[int(self.model.population.buyer_jurisdiction[self.index])]

    @property
    def demand_weight(self) -> float:
        """Share of its segment's tokens this buyer carries (sums to 1 per segment)."""
        return float(self.model.population.buyer_demand_weight[self.index])

    @property
    def current_lab(self) -> int | None:
        """Index of the lab whose model the buyer uses, or None (no available model yet)."""
        choice = int(self.model.state.choice[RUN, self.index])
        return None if choice < 0 else choice

    @property
    def current_lab_name(self) -> str | None:
        """Name of the lab whose model the buyer uses, or None."""
        lab = self.current_lab
        return None if lab is None else self.model.population.lab_names[lab]


class HostAgent(ArrayAgent):
    """A third-party inference host (a neocloud, a cloud marketplace, a router's providers)
    that serves open weights in the markets it sells in, at its serving cost times ``1 +
    margin`` (``seeds/hosts.csv``).

    Hosts set their price by their rule inside the ``market`` mechanism, which the buyers own
    (an open model's tokens split over its endpoints by price, mechanism 5), so this type
    acts through no mechanism of its own.
    """

    MECHANISMS = ()

    @property
    def host_id(self) -> str:
        """Identifier from ``seeds/hosts.csv``."""
        return self.model.population.host_ids[self.index]

    @property
    def name(self) -> str:
        """Display name."""
        return self.model.population.host_names[self.index]

    @property
    def region(self) -> str:
        """Home jurisdiction code."""
        return JURISDICTIONS[int(self.model.population.host_region[self.index])]

    @property
    def markets(self) -> list[str]:
        """Jurisdictions it sells in."""
        row = self.model.population.host_markets[self.index]
        return [g for g, sells in zip(JURISDICTIONS, row, strict=True) if sells]

    @property
    def cost_factor(self) -> float:
        """Its serving cost per token over the model's lab's (x)."""
        return float(self.model.population.host_cost_factor[self.index])

    @property
    def margin(self) -> float:
        """Its price over its serving cost, minus 1."""
        return float(self.model.population.host_margin[self.index])

    @property
    def revenue(self) -> float:
        """What it kept last month of what buyers paid it, USD bn (after the labs' licence
        share)."""
        return float(self.model.state.host_revenue[RUN, self.index])

    @property
    def tokens(self) -> float:
        """Trillion tokens it served last month."""
        return float(self.model.state.host_tokens[RUN, self.index])


_MECHANISM = {m.name: m for m in MECHANISMS}

#: DataCollector reporters per lab (``model.datacollector.get_agenttype_vars_dataframe``).
LAB_REPORTERS: dict[str, str] = {
    "name": "name",
    "camp": "camp",
    "alive": "alive",
    "bench": "bench",
    "robust": "robust",
    "cash": "cash",
    "compute": "compute",
    "revenue": "revenue",
}
#: DataCollector reporters per host.
HOST_REPORTERS: dict[str, str] = {
    "name": "name",
    "revenue": "revenue",
    "tokens": "tokens",
}
#: DataCollector reporters per sovereign.
SOVEREIGN_REPORTERS: dict[str, str] = {
    "sovereign": "sovereign_id",
    "pressure": "pressure",
    "policies_in_force": "policies_in_force",
    "ban_active": "ban_active",
    "crackdown_active": "crackdown_active",
    "grants_paid": "grants_paid",
}


@dataclass(frozen=True)
class AgentType:
    """One agent type of the Mesa face: its class, the model attribute holding its
    :class:`mesa.agent.AgentSet`, the :class:`sim.core.world.Population` attribute giving
    how many there are, and its DataCollector reporters (empty: none collected)."""

    cls: type[ArrayAgent]
    attribute: str
    count: str
    reporters: dict[str, str]


#: Every agent type, in the order they act within a month (the engine's order).
AGENT_TYPES: tuple[AgentType, ...] = (
    AgentType(SovereignAgent, "sovereigns", "n_sovereigns", SOVEREIGN_REPORTERS),
    AgentType(LabAgent, "labs", "n_labs", LAB_REPORTERS),
    # Buyers are many (hundreds per world): their choices are read through the model-level
    # shares, not collected one by one.
    AgentType(BuyerAgent, "buyers", "n_buyers", {}),
    AgentType(HostAgent, "hosts", "n_hosts", HOST_REPORTERS),
)


def monthly_order() -> tuple[tuple[type[ArrayAgent], str], ...]:
    """(agent type, mechanism) for every mechanism of the engine's month, in its order
    (:data:`sim.core.engine.MECHANISMS`); raises if a mechanism has no agent type or more
    than one (then a Mesa month would differ from the engine's)."""
    owners: dict[str, list[type[ArrayAgent]]] = {}
    for kind in AGENT_TYPES:
        for name in kind.cls.MECHANISMS:
            owners.setdefault(name, []).append(kind.cls)
    engine_order = [m.name for m in MECHANISMS]
    wrong = sorted(set(owners) ^ set(engine_order)) + sorted(
        n for n, o in owners.items() if len(o) > 1)
    if wrong:
        raise RuntimeError(f"agent types must act through each of the engine's mechanisms "
                           f"{engine_order} exactly once; check {wrong}")
    return tuple((owners[name][0], name) for name in engine_order)

