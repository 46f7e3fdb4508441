"""The Mesa face of the engine: one world, inspectable, Solara- and ``batch_run``-ready.

:class:`OpenGapModel` holds a one-run :class:`sim.core.world.WorldState` and advances it with
:func:`sim.core.engine.step`, the same mechanism functions the batched engine uses, on the same
random draws: run ``run_index`` of :class:`sim.core.rng.RandomStreams` under ``sim_seed``. Model
``(scenario, sim_seed, run_index)`` therefore reproduces run ``run_index`` of
``sim.core.engine.simulate(scenario, n_runs=..., seed=sim_seed)`` exactly. The agents
(:mod:`sim.agents`) are views onto this state, so inspecting them never copies or changes it.

Following Mesa's convention the DataCollector records the seeded world at construction
(``model.steps == 0``) and then the world after each monthly step; record ``k`` (k >= 1)
equals month ``k - 1`` of the engine's :class:`sim.core.engine.Results`. ``running`` turns False
after the scenario's last month; further ``step()`` calls do nothing.

Example::

    model = OpenGapModel("baseline", sim_seed=7, overrides={"population.buyers_per_segment": 20})
    while model.running:
        model.step()
    gaps = model.datacollector.get_model_vars_dataframe()["gap_closed_open"]

With ``mesa.batch_run`` pass a :class:`Scenario` object or an ``overrides`` dict wrapped in a
list (``{"overrides": [{...}]}``): batch_run iterates over any non-string value.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from sim.agents import RUN, BuyerAgent, LabAgent, SovereignAgent
from sim.calendar import format_month
from sim.core.engine import camp_best, output_camp_masks
from sim.core.engine import step as engine_step
from sim.core.rng import RandomStreams
from sim.core.world import Population, World, WorldState, build_world, initial_state
from sim.inputs.scenario import Scenario, load_scenario, resolve_scenario_path
from sim.inputs.seeds import Seeds, check_seed_world, load_seeds
from sim.vocab import OUTPUT_CAMPS

if TYPE_CHECKING:
    from mesa.agent import AgentSet

#: Model-level reporters: name -> attribute of :class:`OpenGapModel` (attribute names keep
#: the DataCollector picklable, unlike lambdas).
MODEL_REPORTERS: dict[str, str] = {
    "month": "last_month",
    "closed_frontier": "closed_frontier",
    "open_frontier": "open_frontier",
    "gap_closed_open": "gap_closed_open",
    "gap_closed_cn": "gap_closed_cn",
    "gap_closed_us": "gap_closed_us",
    "gap_cn_us": "gap_cn_us",
    "open_token_share": "open_token_share",
    "open_dollar_share": "open_dollar_share",
    "alive_labs": "alive_labs",
}
#: Per-lab reporters (collected for :class:`LabAgent` only).
LAB_REPORTERS: dict[str, str] = {
    "name": "name",
    "camp": "camp",
    "alive": "alive",
    "cash": "cash",
    "compute": "compute",
    "bench": "bench",
    "robust": "robust",
}
#: Per-sovereign reporters (collected for :class:`SovereignAgent`).
SOVEREIGN_REPORTERS: dict[str, str] = {
    "sovereign": "sovereign_id",
    "pressure": "pressure",
    "ban_active": "ban_active",
    "crackdown_active": "crackdown_active",
    "grants_paid": "grants_paid",
}


def _as_scenario(scenario: str | Path | Scenario) -> Scenario:
    if isinstance(scenario, Scenario):
        return scenario
    return load_scenario(resolve_scenario_path(str(scenario)))


class OpenGapModel(mesa.Model):
    """One simulated world (one run) of an opengap scenario, stepped month by month.

    Args:
        scenario: a shipped scenario name (``"baseline"``), a path to a TOML file, or a
            :class:`sim.inputs.scenario.Scenario`.
        sim_seed: master seed of the simulation's random streams (the engine's ``seed``).
        run_index: which run of that seed to simulate (the engine's global run number).
        overrides: dotted-path parameter overrides applied with
            :meth:`Scenario.with_overrides`, e.g. ``{"funding.raise_base_probability": 0.2}``.
        seeds: the seed tables; loaded from ``seeds/`` when omitted.
        rng: seed of Mesa's own ``model.random`` / ``model.rng`` (default: ``sim_seed``).
            Mesa's generators are not used by the simulation, whose draws come only from
            ``(sim_seed, run_index)``; replicates therefore vary ``sim_seed`` or
            ``run_index``, not ``rng`` (Mesa >= 3.4 ``batch_run`` passes ``rng`` itself).

    Attributes:
        sim_scenario, world, state: the resolved scenario (after overrides; not
            ``scenario``, which Mesa >= 3.5 reserves), the static world and the current state
            (arrays shaped ``(1, ...)``). ``flows``: last month's flows from the engine
            (None before the first step). ``bench_frontier`` / ``robust_frontier``: running
            maximum of released scores per output camp (``OUTPUT_CAMPS``), ECI points.
    """

    def __init__(
        self,
        scenario: str | Path | Scenario = "baseline",
        *,
        sim_seed: int = 0,
        run_index: int = 0,
        overrides: Mapping[str, Any] | None = None,
        seeds: Seeds | None = None,
        rng: int | None = None,
    ) -> None:
        super().__init__(rng=sim_seed if rng is None else rng)
        base = _as_scenario(scenario)
        # Not ``self.scenario``: Mesa >= 3.5 reserves that name for its own Scenario object.
        self.sim_scenario: Scenario = base.with_overrides(dict(overrides)) if overrides else base
        self.sim_seed = int(sim_seed)
        self.run_index = int(run_index)
        seeds = seeds or load_seeds(start=self.sim_scenario.time.start)
        check_seed_world(seeds, self.sim_scenario.time.start)
        self.world: World = build_world(self.sim_scenario, seeds)
        self.state: WorldState = initial_state(self.world, seeds, 1)
        pop = self.world.population
        self.streams = RandomStreams.for_population(self.sim_seed, [self.run_index], pop)
        self.flows: dict[str, np.ndarray] | None = None

        # Released frontier per output camp, seeded from the initial models, as the engine.
        self._masks = output_camp_masks(self.world)  # (C5, L)
        self.bench_frontier = self._camp_max(self.state.bench)
        self.robust_frontier = self._camp_max(self.state.robust)

        LabAgent.create_agents(self, pop.n_labs, list(range(pop.n_labs)))
        SovereignAgent.create_agents(self, pop.n_sovereigns, list(range(pop.n_sovereigns)))
        BuyerAgent.create_agents(self, pop.n_buyers, list(range(pop.n_buyers)))

        self.datacollector = mesa.DataCollector(
            model_reporters=MODEL_REPORTERS,
            agenttype_reporters={LabAgent: LAB_REPORTERS,
                                 SovereignAgent: SOVEREIGN_REPORTERS},
        )
        self.running = self.state.month < self.n_months
        self.datacollector.collect(self)

    # -- stepping ---------------------------------------------------------------------------

    def step(self) -> None:
        """Simulate one month with :func:`sim.core.engine.step`, then collect data."""
        if self.state.month >= self.n_months:
            self.running = False
            return
        draws = self.streams.month(self.state.month)
        self.state, self.flows = engine_step(self.world, self.state, draws)
        self.bench_frontier = np.fmax(self.bench_frontier, self._camp_max(self.state.bench))
        self.robust_frontier = np.fmax(self.robust_frontier, self._camp_max(self.state.robust))
        self.running = self.state.month < self.n_months
        self.datacollector.collect(self)

    def _camp_max(self, scores: np.ndarray) -> np.ndarray:
        """(C5,) best released score per output camp, as the engine records it."""
        return camp_best(scores, self._masks)[RUN]

    # -- views ------------------------------------------------------------------------------

    @property
    def population(self) -> Population:
        """Who the agents are and their fixed attributes."""
        return self.world.population

    @property
    def n_months(self) -> int:
        """Months in the scenario's horizon."""
        return self.world.params.n_months

    @property
    def labs(self) -> AgentSet:
        """The :class:`LabAgent` set, in lab-index order."""
        return self.agents_by_type[LabAgent]

    @property
    def sovereigns(self) -> AgentSet:
        """The :class:`SovereignAgent` set."""
        return self.agents_by_type[SovereignAgent]

    @property
    def buyers(self) -> AgentSet:
        """The :class:`BuyerAgent` set."""
        return self.agents_by_type[BuyerAgent]

    @property
    def last_month(self) -> str | None:
        """Calendar month (``YYYY-MM``) of the last simulated step; None before the first."""
        if self.state.month == 0:
            return None
        return format_month(self.world.params.start_month + self.state.month - 1)

    def frontier(self, camp: str) -> float:
        """Released frontier bench of an output camp (running max), ECI points."""
        return float(self.bench_frontier[OUTPUT_CAMPS.index(camp)])

    @property
    def closed_frontier(self) -> float:
        """Released frontier bench of closed labs, ECI points."""
        return self.frontier("closed")

    @property
    def open_frontier(self) -> float:
        """Released frontier bench of all open-weight labs, ECI points."""
        return self.frontier("open")

    @property
    def gap_closed_open(self) -> float:
        """Closed frontier minus best open frontier, ECI points."""
        return self.frontier("closed") - self.frontier("open")

    @property
    def gap_closed_cn(self) -> float:
        """Closed frontier minus Chinese open frontier, ECI points."""
        return self.frontier("closed") - self.frontier("open_cn")

    @property
    def gap_closed_us(self) -> float:
        """Closed frontier minus US open frontier, ECI points."""
        return self.frontier("closed") - self.frontier("open_us")

    @property
    def gap_cn_us(self) -> float:
        """Chinese open frontier minus US open frontier, ECI points."""
        return self.frontier("open_cn") - self.frontier("open_us")

    def _open_share(self, flow: str) -> float:
        if self.flows is None:
            return float("nan")
        by_lab = self.flows[flow][RUN].sum(axis=0)  # (L,)
        total = by_lab.sum()
        if total <= 0:
            return float("nan")
        return float(by_lab[self.population.lab_is_open].sum() / total)

    @property
    def open_token_share(self) -> float:
        """Share of last month's tokens served by open-weight models (nan before step 1)."""
        return self._open_share("tokens")

    @property
    def open_dollar_share(self) -> float:
        """Share of last month's buyer spend on open-weight models (nan before step 1)."""
        return self._open_share("spend")

    @property
    def alive_labs(self) -> int:
        """Number of labs still operating."""
        return int(self.state.alive[RUN].sum())
