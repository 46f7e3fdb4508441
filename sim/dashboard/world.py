"""The world the dashboard steps month by month: run 0 of the ensemble, as a Mesa model.

:class:`SteppedWorld` is an :class:`sim.model.OpenGapModel` (so it reproduces run
``run_index`` of the engine under ``sim_seed`` exactly, and its DataCollector records the
registry's measures the dashboard draws: ``frontier_<camp>``, ``alive_<camp>``,
``gap_points``, ``lag_months``, the open shares). The model records the engine's monthly
outputs (the same recording :func:`sim.core.engine.simulate` does), so the world's event log
is :func:`sim.report.outputs.event_log` of the months simulated so far: the very rows
``opengap run`` writes to ``events.csv`` for this run (scheduled events, policies enacted or
lapsed, bans and crackdowns in force or lifted, funding and safety shocks, exits and
acquisitions). :meth:`SteppedWorld.lab_rows` is the lab table: each lab's run in progress,
its compute contracts, cash and funding outlook, read from its Mesa agent.
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


@dataclass(frozen=True)
class LabRow:
    """One lab of the stepped world as the lab table shows it: cash (USD bn), funding
    outlook (share of neutral odds of raising), compute under contract for the run in
    progress and signed for the next run (H100e), released benchmark score (ECI points)."""

    name: str
    camp: str
    status: str
    cash_usd_bn: float
    funding_outlook: float
    contract_h100e: float
    next_contract_h100e: float
    bench: float
    alive: bool


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

    def lab_rows(self) -> list[LabRow]:
        """One row per lab in the world (entered), closed labs first, then by camp and
        released score: what each lab's Mesa agent holds this month."""
        rows = []
        for lab in self.labs:
            if not self.state.entered[0, lab.index]:
                continue
            if not lab.alive:
                status = "exited"
            elif lab.run_months_left > 0:
                status = f"training, {lab.run_months_left:.0f} months left"
            elif lab.next_contract_lead >= 0:
                status = f"run signed, starts in {lab.next_contract_lead:.0f} months"
            else:
                status = "planning"
            rows.append(LabRow(
                name=lab.name, camp=lab.camp, status=status, cash_usd_bn=lab.cash,
                funding_outlook=lab.funding_outlook, contract_h100e=lab.contract_h100e,
                next_contract_h100e=lab.next_contract_h100e if lab.next_contract_lead >= 0
                else 0.0, bench=lab.bench, alive=lab.alive))
        order = {camp: k for k, camp in enumerate(("closed", "open_cn", "open_us",
                                                   "open_other"))}
        return sorted(rows, key=lambda r: (not r.alive, order.get(r.camp, 9), -r.bench))

    def track(self) -> dict[str, np.ndarray]:
        """Recorded monthly series after each step so far: one array per DataCollector
        column, index k = month k of the scenario."""
        frame = self.datacollector.get_model_vars_dataframe()
        return {col: frame[col].to_numpy(dtype=float) for col in frame.columns
                if col != "month"}
