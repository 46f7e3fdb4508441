"""The world the dashboard steps month by month: run 0 of the ensemble, as a Mesa model.

:class:`SteppedWorld` is an :class:`sim.model.OpenGapModel` (so it reproduces run
``run_index`` of the engine under ``sim_seed`` exactly) whose DataCollector also records the
per-camp series the dashboard draws. After each month it also records the engine's monthly
outputs (the same recording :func:`sim.core.engine.simulate` does), so its event log is
:func:`sim.report.outputs.event_log` of the months simulated so far: the very rows ``opengap run``
writes to ``events.csv`` for this run (scheduled events, policies enacted or lapsed, bans and
crackdowns in force or lifted, funding and safety shocks, exits and acquisitions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mesa
import numpy as np

# The engine's own per-month recording, so the log cannot drift from events.csv.
from sim.core.engine import MonthlyRecorder, Results
from sim.model import MODEL_REPORTERS, OpenGapModel
from sim.report.outputs import event_log
from sim.vocab import CAMPS, OUTPUT_CAMPS


@dataclass(frozen=True)
class LoggedEvent:
    """One line of the event log: calendar month, who, what kind, and a sentence."""

    month: str
    actor: str
    kind: str
    detail: str


def _camp_reporters() -> dict[str, Any]:
    """Per-camp reporters: released frontier per output camp (ECI points) and alive labs per
    lab camp."""
    reporters: dict[str, Any] = dict(MODEL_REPORTERS)
    for i, camp in enumerate(OUTPUT_CAMPS):
        reporters[f"frontier_{camp}"] = lambda m, i=i: float(m.bench_frontier[i])
    for i, camp in enumerate(CAMPS):
        reporters[f"alive_{camp}"] = lambda m, i=i: int(m.state.alive[0][m.lab_camp == i].sum())
    return reporters


class SteppedWorld(OpenGapModel):
    """An :class:`OpenGapModel` with per-camp reporters and an event log (:attr:`events`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lab_camp = self.population.lab_camp
        # Replace the base collector (which already recorded the seeded world) with one
        # that has the per-camp columns, and record the seeded world again.
        self.datacollector = mesa.DataCollector(model_reporters=_camp_reporters())
        self.datacollector.collect(self)
        self._recorder = MonthlyRecorder.new(self.world, self.state)
        self._events: tuple[int, list[LoggedEvent]] = (-1, [])

    def step(self) -> None:
        t = self.state.month
        super().step()
        if self.flows is None or self.state.month == t:
            return  # past the horizon: nothing simulated
        self._recorder.record(t, self.world, self.state, self.flows)

    @property
    def events(self) -> list[LoggedEvent]:
        """Events of the months simulated so far, oldest first."""
        done = self.state.month
        if self._events[0] != done:
            results = Results(scenario=self.sim_scenario, world=self.world, seed=self.sim_seed,
                              run_ids=np.array([self.run_index]),
                              arrays=self._recorder.arrays())
            rows = [r for r in event_log(results) if r["step"] < done]
            self._events = (done, [LoggedEvent(r["month"], r["actor"], r["event"],
                                               r["detail"]) for r in rows])
        return self._events[1]

    def track(self) -> dict[str, np.ndarray]:
        """Recorded monthly series after each step so far (the seeded record dropped): one
        array per DataCollector column, index k = month k of the scenario."""
        frame = self.datacollector.get_model_vars_dataframe().iloc[1:]
        return {col: frame[col].to_numpy(dtype=float) for col in frame.columns
                if col != "month"}
