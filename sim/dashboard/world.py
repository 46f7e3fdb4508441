"""The world the dashboard steps month by month: run 0 of the ensemble, as a Mesa model.

:class:`SteppedWorld` is an :class:`sim.model.OpenGapModel` (so it reproduces run
``run_index`` of the engine under ``sim_seed`` exactly, and its DataCollector records the
registry's measures the dashboard draws: ``frontier_<camp>``, ``alive_<camp>``,
``gap_points``, ``lag_months``, the open shares). The model records the engine's monthly
outputs (the same recording :func:`sim.core.engine.simulate` does), so the world's event log
is :func:`sim.report.outputs.event_log` of the months simulated so far: the very rows
``opengap run`` writes to ``events.csv`` for this run (scheduled events, policies enacted or
lapsed, bans and crackdowns in force or lifted, funding and safety shocks, exits and
acquisitions).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

# The engine's own per-month recording (kept by the model), so the log cannot drift from
# events.csv.
from sim.core.engine import Results
from sim.model import OpenGapModel
from sim.report.outputs import event_log


@dataclass(frozen=True)
class LoggedEvent:
    """One line of the event log: calendar month, who, what kind, and a sentence."""

    month: str
    actor: str
    kind: str
    detail: str


class SteppedWorld(OpenGapModel):
    """An :class:`OpenGapModel` with an event log (:attr:`events`) and its recorded series
    as arrays (:meth:`track`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._events: tuple[int, list[LoggedEvent]] = (-1, [])

    @property
    def events(self) -> list[LoggedEvent]:
        """Events of the months simulated so far, oldest first."""
        done = self.state.month
        if self._events[0] != done:
            # The whole horizon's arrays (months not yet simulated are zeros): event_log
            # places scheduled events by their month, which may lie ahead.
            results = Results(scenario=self.sim_scenario, world=self.world, seed=self.sim_seed,
                              run_ids=np.array([self.run_index]),
                              arrays=self._recorder.arrays())
            rows = [r for r in event_log(results) if r["step"] < done]
            self._events = (done, [LoggedEvent(r["month"], r["actor"], r["event"],
                                               r["detail"]) for r in rows])
        return self._events[1]

    def track(self) -> dict[str, np.ndarray]:
        """Recorded monthly series after each step so far: one array per DataCollector
        column, index k = month k of the scenario."""
        frame = self.datacollector.get_model_vars_dataframe()
        return {col: frame[col].to_numpy(dtype=float) for col in frame.columns
                if col != "month"}
