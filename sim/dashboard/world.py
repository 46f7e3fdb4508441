"""The world the dashboard steps month by month: run 0 of the ensemble, as a Mesa model.

:class:`SteppedWorld` is an :class:`sim.model.OpenGapModel` (so it reproduces run
``run_index`` of the engine under ``sim_seed`` exactly) whose DataCollector also records the
per-camp series the dashboard draws, and which writes a plain-language event log as it goes:
scheduled scenario events, bans and distillation crackdowns coming into force or lifted,
safety shocks, and labs exiting or being acquired (the kinds of
:func:`sim.outputs.event_log`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import mesa
import numpy as np

from sim.agents import RUN
from sim.calendar import format_month
from sim.model import MODEL_REPORTERS, OpenGapModel
from sim.scenario import JURISDICTIONS
from sim.seeds import CAMPS
from sim.world import OUTPUT_CAMPS


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
        reporters[f"alive_{camp}"] = lambda m, i=i: int(m.state.alive[RUN][m.lab_camp == i].sum())
    return reporters


class SteppedWorld(OpenGapModel):
    """An :class:`OpenGapModel` with per-camp reporters and an event log (``events``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lab_camp = self.population.lab_camp
        self.events: list[LoggedEvent] = []
        self._policy_flags = self._flags()
        # Replace the base collector (which already recorded the seeded world) with one
        # that has the per-camp columns, and record the seeded world again.
        self.datacollector = mesa.DataCollector(model_reporters=_camp_reporters())
        self.datacollector.collect(self)

    def step(self) -> None:
        if not self.running:
            return
        month_index = self.state.month
        super().step()
        if self.flows is not None and self.state.month > month_index:
            self.events.extend(self._month_events(month_index))

    # -- event log ----------------------------------------------------------------------------

    def _flags(self) -> dict[str, np.ndarray]:
        return {"ban": np.isfinite(self.state.ban_threshold[RUN]),
                "crackdown": self.state.distill_enforcement[RUN] < 1.0}

    def _month_events(self, t: int) -> list[LoggedEvent]:
        pop, flows = self.population, self.flows
        assert flows is not None
        month = format_month(self.world.params.start_month + t)
        out: list[LoggedEvent] = []
        for ev in self.world.schedule:
            if ev.month != t:
                continue
            if ev.sovereign >= 0:
                actor = pop.sovereign_ids[ev.sovereign]
            elif ev.region >= 0:
                actor = JURISDICTIONS[ev.region]
            else:
                actor = "world"
            out.append(LoggedEvent(month, actor, ev.kind, ev.label or ev.kind))
        flags = self._flags()
        for name, now in flags.items():
            before = self._policy_flags[name]
            for s in np.flatnonzero(now != before):
                state = "in force" if now[s] else "lifted"
                pressure = float(self.state.pressure[RUN][s])
                out.append(LoggedEvent(month, pop.sovereign_ids[s], f"{name}_{state}",
                                       f"{pop.sovereign_ids[s]} {name} {state} "
                                       f"(pressure {pressure:.2f})"))
        self._policy_flags = flags
        shocks = int(round(float(np.asarray(flows["safety_shocks"])[RUN])))
        if shocks:
            out.append(LoggedEvent(month, "world", "safety_shock",
                                   f"{shocks} safety shock{'s' if shocks != 1 else ''}"))
        exits = np.asarray(flows["exits"])[RUN]
        acquired = np.asarray(flows["acquired"])[RUN]
        acquirer = np.asarray(flows["acquirer"])[RUN]
        for lab in np.flatnonzero(exits):
            name, camp = pop.lab_names[lab], CAMPS[pop.lab_camp[lab]]
            if acquired[lab]:
                out.append(LoggedEvent(month, name, "acquired",
                                       f"{name} ({camp}) ran out of cash; compute acquired by "
                                       f"{pop.lab_names[int(acquirer[lab])]}"))
            else:
                out.append(LoggedEvent(month, name, "exit",
                                       f"{name} ({camp}) ran out of cash and exited"))
        return out

    # -- series for the figures -----------------------------------------------------------------

    def track(self) -> dict[str, np.ndarray]:
        """Recorded monthly series after each step so far (the seeded record dropped): one
        array per DataCollector column, index k = month k of the scenario."""
        frame = self.datacollector.get_model_vars_dataframe().iloc[1:]
        return {col: frame[col].to_numpy(dtype=float) for col in frame.columns
                if col != "month"}
