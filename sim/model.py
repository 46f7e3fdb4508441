"""The Mesa face of the engine: one world, inspectable, Solara- and ``batch_run``-ready.

:class:`OpenGapModel` holds a one-run :class:`sim.core.world.WorldState` and advances it with
:func:`sim.core.engine.step`, the same mechanism functions the batched engine uses, on the same
random draws: run ``run_index`` of :class:`sim.core.rng.RandomStreams` under ``sim_seed``. Model
``(scenario, sim_seed, run_index)`` therefore reproduces run ``run_index`` of
``sim.core.engine.simulate(scenario, n_runs=..., seed=sim_seed)`` exactly. The agents
(:mod:`sim.agents`) are views onto this state, so inspecting them never copies or changes it.

The model-level reporters are the measures of :mod:`sim.measures.registry` with one value
per month (:func:`sim.measures.registry.scalar_series`: ``gap_points``, ``lag_months_cn``,
``frontier_open_cn``, ``open_token_share``, ``alive_open``, ...), evaluated by the registry's
own functions on :attr:`OpenGapModel.results`, a one-run Results of the months simulated so
far, recorded after each step exactly as the engine records them. The DataCollector records
after each month only (not at construction, where nothing has been measured yet), so record
``k`` equals month ``k`` of the engine's :class:`sim.core.engine.Results` for this run, bit
for bit, including the NaN of a share where nothing was served. ``running`` turns False after
the scenario's last month; further ``step()`` calls do nothing.

Agent reporters: per lab (:data:`sim.agents.LAB_REPORTERS`: name, camp, alive, bench, robust,
cash, compute, revenue) and per sovereign (:data:`sim.agents.SOVEREIGN_REPORTERS`: pressure,
policies in force, grants paid), read with ``datacollector.get_agenttype_vars_dataframe(
LabAgent)``. ``mesa.batch_run`` rows are documented in docs/mesa.md.

Example::

    model = OpenGapModel("baseline", sim_seed=7, overrides={"population.buyers_per_segment": 20})
    while model.running:
        model.step()
    gaps = model.datacollector.get_model_vars_dataframe()["gap_points"]

With ``mesa.batch_run`` pass a :class:`Scenario` object or an ``overrides`` dict wrapped in a
list (``{"overrides": [{...}]}``): batch_run iterates over any non-string value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

import mesa
import numpy as np

from sim.agents import AGENT_TYPES, LAB_REPORTERS, RUN, SOVEREIGN_REPORTERS, monthly_order
from sim.calendar import format_month
from sim.core.engine import MonthlyRecorder, Results, begin_month, end_month
from sim.core.parameter_draws import runs_world
from sim.core.rng import RandomStreams
from sim.core.world import Population, World, WorldState, build_world, initial_state
from sim.inputs.scenario import Scenario, load_scenario, resolve_scenario_path
from sim.inputs.seeds import Seeds, check_seed_world, seeds_for
from sim.measures.registry import Measure, scalar_series, series_of

if TYPE_CHECKING:
    from mesa.agent import AgentSet

#: The registry's measures with one value per month, by name: the model-level reporters.
MODEL_MEASURES: dict[str, Measure] = {m.name: m for m in scalar_series()}


def report_measure(name: str, model: OpenGapModel) -> float:
    """DataCollector reporter: measure ``name`` in the model's last simulated month."""
    return model.measure(name)


#: Model-level reporters: the calendar month, then every measure of :data:`MODEL_MEASURES`
#: (``functools.partial`` of a module-level function, so the DataCollector pickles).
MODEL_REPORTERS: dict[str, object] = {
    "month": "last_month",
    **{name: partial(report_measure, name) for name in MODEL_MEASURES},
}
#: A Mesa month is the engine's month, mechanism by mechanism, each acted by its agent type
#: (fails at import if the agent types do not cover the engine's month exactly once).
MONTH = monthly_order()
__all__ = ["LAB_REPORTERS", "MODEL_MEASURES", "MODEL_REPORTERS", "SOVEREIGN_REPORTERS",
           "OpenGapModel", "report_measure"]


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
        seeds: the seed tables; when omitted, the shipped ones (with the scenario's own
            ``seeds`` folder over them, if it names one).
        rng: seed of Mesa's own ``model.random`` / ``model.rng`` (default: ``sim_seed``).
            Mesa's generators are not used by the simulation, whose draws come only from
            ``(sim_seed, run_index)``; replicates therefore vary ``sim_seed`` or
            ``run_index``, not ``rng`` (Mesa >= 3.4 ``batch_run`` passes ``rng`` itself).

    Attributes:
        sim_scenario, world, state: the resolved scenario (after overrides; not
            ``scenario``, which Mesa >= 3.5 reserves), the static world and the current state
            (arrays shaped ``(1, ...)``). ``flows``: last month's flows from the engine
            (None before the first step). :attr:`results`: the engine's outputs of the
            months simulated so far, which :meth:`measure` reads.
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
        seeds = seeds or seeds_for(self.sim_scenario)
        check_seed_world(seeds, self.sim_scenario.time.start)
        # Under posterior draws the run's own parameter draw (particle of run ``run_index``,
        # as in a batch); at fixed parameters the scenario's world as written.
        world, state = runs_world(self.sim_scenario, build_world(self.sim_scenario, seeds),
                                  seeds, self.sim_seed, [self.run_index])
        self.world: World = world
        self.state: WorldState = state if state is not None else initial_state(world, seeds, 1)
        pop = self.world.population
        self.streams = RandomStreams.for_population(self.sim_seed, [self.run_index], pop)
        self.flows: dict[str, np.ndarray] | None = None
        # The engine's own monthly recording (released frontiers from the seeded models on),
        # so every measure reads the same arrays as in a batch.
        self._recorder = MonthlyRecorder.new(self.world, self.state)
        # Values measured in the current month (the DataCollector asks for each once, but a
        # user may ask again): (months done, values by name).
        self._measured: tuple[int, dict[str, float]] = (-1, {})

        # One agent set per agent type (sim.agents.AGENT_TYPES), e.g. ``self.labs``.
        self._sets: dict[str, AgentSet] = {}
        for kind in AGENT_TYPES:
            n = int(getattr(pop, kind.count))
            kind.cls.create_agents(self, n, list(range(n)))
            self._sets[kind.attribute] = self.agents_by_type[kind.cls]

        self.datacollector = mesa.DataCollector(
            model_reporters=MODEL_REPORTERS,
            agenttype_reporters={kind.cls: kind.reporters for kind in AGENT_TYPES
                                 if kind.reporters},
        )
        self.running = self.state.month < self.n_months
        # No record at construction: nothing has been measured before the first month, so
        # record k is month k (this also makes ``mesa.batch_run``'s rows, which index the
        # records by step, exactly the months simulated; see docs/mesa.md).

    # -- stepping ---------------------------------------------------------------------------

    def step(self) -> None:
        """Simulate one month, then collect data: the agent types act in the engine's order
        (:func:`sim.agents.monthly_order`: sovereigns set policy, labs fund, buy compute and
        train, buyers choose and adopt, entrants are founded) through the engine's own
        mechanisms, which is :func:`sim.core.engine.step` exactly."""
        if self.state.month >= self.n_months:
            self.running = False
            return
        t = self.state.month
        draws = self.streams.month(t)
        month, flows = begin_month(self.state), {}
        for agent_type, mechanism in MONTH:
            agent_type.act(mechanism, self, month, draws, flows)
        end_month(month)
        self.state, self.flows = month, flows
        self._recorder.record(t, self.world, self.state, self.flows)
        self.running = self.state.month < self.n_months
        self.datacollector.collect(self)

    # -- views ------------------------------------------------------------------------------

    @property
    def population(self) -> Population:
        """Who the agents are and their fixed attributes."""
        return self.world.population

    @property
    def n_months(self) -> int:
        """Months in the scenario's horizon."""
        return self.world.params.n_months

    def __getattr__(self, name: str) -> AgentSet:
        """The agent set of an agent type by its :data:`sim.agents.AGENT_TYPES` attribute
        (``model.labs``, ``model.sovereigns``, ``model.buyers``), in index order."""
        sets = self.__dict__.get("_sets")
        if sets is not None and name in sets:
            return sets[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    @property
    def last_month(self) -> str | None:
        """Calendar month (``YYYY-MM``) of the last simulated step; None before the first."""
        if self.state.month == 0:
            return None
        return format_month(self.world.params.start_month + self.state.month - 1)

    @property
    def results(self) -> Results:
        """The engine's outputs (:class:`sim.core.engine.Results`, one run) of the months
        simulated so far: arrays shaped ``(1, months done, ...)``, and a world whose horizon
        ends with the last month done (the measures read months 0 .. done - 1 only)."""
        done = self.state.month
        world = replace(self.world, params=replace(self.world.params, n_months=done))
        arrays = {name: (v if name in ("exit_month", "acquirer") else v[:, :done])
                  for name, v in self._recorder.arrays().items()}
        return Results(scenario=self.sim_scenario, world=world, seed=self.sim_seed,
                       run_ids=np.array([self.run_index]), arrays=arrays)

    def measure(self, name: str) -> float:
        """Measure ``name`` of :data:`MODEL_MEASURES` in the last simulated month (units in
        the registry); NaN before the first step."""
        done = self.state.month
        if self._measured[0] != done:
            self._measured = (done, {})
        cache = self._measured[1]
        if not cache and done > 0:
            view = self.results
            values = series_of(list(MODEL_MEASURES.values()), view)
            cache.update({n: float(v[RUN, -1]) for n, v in values.items()})
        return cache.get(name, float("nan")) if name in MODEL_MEASURES else self._unknown(name)

    @staticmethod
    def _unknown(name: str) -> float:
        raise KeyError(f"{name!r} is not a measure with one value per month; allowed: "
                       f"{', '.join(MODEL_MEASURES)}")
