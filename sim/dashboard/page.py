"""The Solara page of ``opengap app``.

State per browser session:

* ``settings`` (:class:`~sim.dashboard.settings.Settings`): the controls. Every change
  starts :func:`_compute` in a worker thread, which waits :data:`DEBOUNCE_SECONDS` (a newer
  change cancels it) and then recomputes the ensemble with
  :func:`sim.dashboard.ensemble.recompute`; the previous figures stay on screen meanwhile.
* the stepped world, a :class:`~sim.dashboard.world.SteppedWorld` (Mesa model) built from the
  same scenario as run 0 of the ensemble, rebuilt whenever a new ensemble arrives or Reset is
  pressed; Step advances it a month; Play steps it on (see :func:`months_per_frame`).
* ``compare``: overlay the medians of the shipped ``baseline`` scenario (same runs and seed).

Every value a control sends is checked on the server (:func:`sim.dashboard.settings.
checked_changes`) before it touches the settings; a refused value or an unexpected error
shows one plain line on the page, and the details go only to the server's log.
"""

from __future__ import annotations

import functools
import html
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

import solara

from sim.calendar import format_month, parse_month
from sim.dashboard import figures
from sim.dashboard.ensemble import Bands, ensemble_bands, recompute
from sim.dashboard.settings import (
    CHOICE_CONTROLS,
    NO_BAN,
    NUMBER_CONTROLS,
    Settings,
    SettingsError,
    checked_changes,
    default_settings,
    load_named,
    settings_summary,
    settings_toml,
    shipped_scenarios,
)
from sim.dashboard.world import SteppedWorld
from sim.errors import InputError
from sim.inputs.scenario import Scenario, ScenarioError
from sim.inputs.seeds import Seeds, load_seeds

#: Details of refused values and errors go here (the server's log), never to the page.
LOG = logging.getLogger("opengap.dashboard")

#: Seconds a control must stay still before the ensemble is recomputed.
DEBOUNCE_SECONDS = 0.25
#: Pause between frames while playing, seconds.
PLAY_INTERVAL_SECONDS = 0.2
#: Wall seconds per simulated month that Play aims at: when a frame (steps + redraw of the
#: panels) takes longer, the next frame advances several months, so that a 4-year horizon
#: plays in about half a minute on a slow or busy machine too.
PLAY_SECONDS_PER_MONTH = 0.6
#: Scenario name shown first; set by :func:`sim.app.serve` before the server starts.
START = {"scenario": "baseline"}
BASELINE = "baseline"
CSS = """
.og-controls .v-card { margin-bottom: 8px; }
.og-controls .v-card-title, .og-controls .v-card__title { font-size: 1.05em; padding-bottom: 0; }
.og-small { font-size: 0.85em; }
.og-status { font-size: 0.95em; color: #333; }
[class*="og-plot-"] img { max-width: 100%; height: auto; }
.og-toml { font-size: 0.85em; background: #f6f6f6; padding: 8px; }
.og-events { max-height: 280px; overflow-y: auto; font-size: 0.85em; }
.og-labs { max-height: 420px; overflow-y: auto; font-size: 0.85em; }
.og-labs table { border-collapse: collapse; width: 100%; }
.og-labs td, .og-labs th { border-bottom: 1px solid #ddd; padding: 2px 8px; text-align: left; }
.og-labs tr.og-exited { color: #999; }
.og-events table { border-collapse: collapse; width: 100%; }
.og-events td, .og-events th { border-bottom: 1px solid #ddd; padding: 2px 8px;
                               text-align: left; }
"""


@dataclass(frozen=True)
class Computed:
    """One recomputation: the settings, the scenario they produced, its bands."""

    settings: Settings
    scenario: Scenario
    bands: Bands


@functools.lru_cache(maxsize=4)
def _seeds(start: str) -> Seeds:
    """The seed world a scenario starting in month ``start`` (YYYY-MM) simulates."""
    return load_seeds(start=start)


@functools.lru_cache(maxsize=8)
def _baseline_bands(n_runs: int, seed: int) -> Bands:
    """The shipped baseline's ensemble, cached: it depends on nothing the controls set."""
    baseline = load_named(BASELINE)
    return ensemble_bands(baseline, _seeds(baseline.time.start), n_runs=n_runs, seed=seed,
                          label=BASELINE)


def _compute(settings: Settings, cancel: threading.Event) -> Computed:
    if cancel.wait(DEBOUNCE_SECONDS):
        raise solara.util.CancelledError()  # superseded by a newer change: keep old figures
    base = load_named(settings.scenario)
    return Computed(settings, *recompute(base, _seeds(base.time.start), settings))


def months_per_frame(frame_seconds: float) -> int:
    """Months the next Play frame advances, given how long the last frame took."""
    return max(1, round((frame_seconds + PLAY_INTERVAL_SECONDS) / PLAY_SECONDS_PER_MONTH))


def _initial_settings() -> Settings:
    name = START["scenario"]
    return default_settings(name, load_named(name))


@solara.component
def MonthSlider(label: str, value: int, start: int, n_months: int, on_value: Any,
                disabled: bool = False) -> None:
    solara.SliderInt(f"{label}: {format_month(start + value)}", value=value, min=0,
                     max=n_months - 1, step=1, on_value=on_value, thumb_label=False,
                     disabled=disabled)


def plain_error(exc: BaseException) -> str:
    """The one line a page shows for an error: an input error's own line, otherwise a
    generic line (the traceback is logged on the server, never sent to the browser)."""
    if isinstance(exc, InputError):
        return " ".join(str(exc).split())
    LOG.error("dashboard error", exc_info=exc)
    return "internal error; the details are in the server's log"


def set_checked(settings: solara.Reactive[Settings], error: solara.Reactive[str],
                n_months: int, **changes: Any) -> None:
    """Apply control values from the browser once :func:`checked_changes` accepts them;
    otherwise leave the settings as they were and show one plain line."""
    try:
        checked = checked_changes(changes, n_months)
    except SettingsError as exc:
        LOG.warning("refused control value %.200r: %s", changes, exc)
        error.set(f"Refused: {exc}")
        return
    except Exception as exc:  # never a traceback to the browser
        error.set(plain_error(exc))
        return
    error.set("")
    settings.set(settings.value.updated(**checked))


def _slider(name: str, label: str, value: float, set_: Any, *, disabled: bool = False) -> None:
    """A slider drawn from its row of :data:`NUMBER_CONTROLS` (the bounds the server
    checks)."""
    low, high, step, integer = NUMBER_CONTROLS[name]
    widget = solara.SliderInt if integer else solara.SliderFloat
    widget(label, value=value, min=low, max=high, step=step, disabled=disabled,
           on_value=lambda v: set_(**{name: v}))


@solara.component
def Controls(settings: solara.Reactive[Settings], base: Scenario | None,
             error: solara.Reactive[str]) -> None:
    s = settings.value
    start = parse_month(base.time.start) if base else 0
    n_months = base.time.n_months if base else 1

    def set_(**changes: Any) -> None:
        set_checked(settings, error, n_months, **changes)

    with solara.Card("Capability and markets", margin=0):
        _slider("distill_efficiency", f"Distillation efficiency: {s.distill_efficiency:.2f}",
                s.distill_efficiency, set_)
        _slider("export_price_multiplier",
                f"Export-control price multiplier: x{s.export_price_multiplier:.2f}",
                s.export_price_multiplier, set_)
        _slider("grant_scale", f"Sovereign grants: x{s.grant_scale:.2f} seeded budgets",
                s.grant_scale, set_)
        _slider("safety_shock_rate_per_year",
                f"Safety-shock rate: {s.safety_shock_rate_per_year:.1f} per year",
                s.safety_shock_rate_per_year, set_)
    with solara.Card("Funding shock", margin=0):
        solara.Select("Region", values=list(CHOICE_CONTROLS["funding_shock_region"]),
                      value=s.funding_shock_region,
                      on_value=lambda v: set_(funding_shock_region=v), dense=True)
        size = f"-{s.funding_shock_size:.0%} sentiment" if s.funding_shock_size else "none"
        _slider("funding_shock_size", f"Size: {size}", s.funding_shock_size, set_)
        MonthSlider("Month", s.funding_shock_month, start, n_months,
                    lambda v: set_(funding_shock_month=v),
                    disabled=not s.funding_shock_size)
    no_ban = s.ban_sovereign == NO_BAN
    with solara.Card("Open-weight ban", margin=0):
        solara.Select("Sovereign (none = no ban)",
                      values=list(CHOICE_CONTROLS["ban_sovereign"]),
                      value=s.ban_sovereign, on_value=lambda v: set_(ban_sovereign=v),
                      dense=True)
        _slider("ban_threshold_log10_flop",
                f"Threshold: 1e{s.ban_threshold_log10_flop:g} training FLOP",
                s.ban_threshold_log10_flop, set_, disabled=no_ban)
        _slider("ban_enforcement",
                f"Enforcement: blocks {s.ban_enforcement:.0%} of a banned model at first",
                s.ban_enforcement, set_, disabled=no_ban)
        MonthSlider("From", s.ban_month, start, n_months, lambda v: set_(ban_month=v),
                    disabled=no_ban)


@solara.component
def WorldControls(world: SteppedWorld | None, version: int, playing: solara.Reactive[bool],
                  on_step: Any, on_reset: Any) -> None:
    del version  # a dependency: the month shown changes at every step
    done = world is None or not world.running
    with solara.Row(justify="space-between"):
        solara.Button("Reset", color="primary", on_click=on_reset, disabled=world is None)
        solara.Button("Pause" if playing.value else "Play", color="primary",
                      on_click=lambda: playing.set(not playing.value), disabled=done)
        solara.Button("Step", color="primary", on_click=on_step,
                      disabled=done or playing.value)
    if world is not None:
        shown = world.last_month or "seeded world (no month simulated yet)"
        solara.Text(f"Stepped world: {shown} ({world.steps}/{world.n_months} months)",
                    classes=["og-world-month"])


@solara.component
def EventLog(world: SteppedWorld | None, version: int) -> None:
    del version  # a dependency: redraw after every step
    if world is None:
        return
    if not world.events:
        solara.Text("No events yet: step or play the world.", classes=["og-events"])
        return
    rows = "".join(f"<tr><td>{e.month}</td><td>{html.escape(e.actor)}</td>"
                   f"<td>{html.escape(e.detail)}</td></tr>" for e in reversed(world.events))
    solara.HTML(tag="div", classes=["og-events"], unsafe_innerHTML=(
        "<table><thead><tr><th>month</th><th>who</th><th>what</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"))


@solara.component
def LabTable(world: SteppedWorld | None, version: int) -> None:
    del version  # a dependency: redraw after every step
    if world is None:
        return
    exited = ' class="og-exited"'
    rows = "".join(
        f"<tr{'' if r.alive else exited}><td>{html.escape(r.name)}</td>"
        f"<td>{r.camp}</td><td>{r.bench:.1f}</td><td>{html.escape(r.status)}</td>"
        f"<td>{r.contract_h100e / 1e3:,.0f}</td><td>{r.next_contract_h100e / 1e3:,.0f}</td>"
        f"<td>{r.cash_usd_bn:,.2f}</td><td>{r.funding_outlook:.2f}</td></tr>"
        for r in world.lab_rows())
    solara.HTML(tag="div", classes=["og-labs"], unsafe_innerHTML=(
        "<table><thead><tr><th>lab</th><th>camp</th><th>released ECI</th><th>run</th>"
        "<th>contract, k H100e</th><th>next contract, k H100e</th><th>cash, USD bn</th>"
        "<th>funding outlook</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"))


@solara.component
def Panels(computed: Computed, baseline: Bands | None, world: SteppedWorld | None,
           version: int) -> None:
    def make() -> list[Any]:
        track = world.track() if world is not None else None
        bands = computed.bands
        return [figures.frontier_figure(bands, baseline, track),
                figures.gap_figure(bands, baseline, track),
                figures.shares_figure(bands, baseline, track),
                figures.alive_figure(bands, baseline, track)]

    key = [computed, baseline, world, version]
    figs = solara.use_memo(make, key)
    names = ("frontier", "gap", "shares", "alive")
    with solara.Columns([1, 1]):
        for column in ((0, 2), (1, 3)):
            with solara.Column():
                for i in column:
                    with solara.Div(classes=[f"og-plot-{names[i]}"]):
                        solara.FigureMatplotlib(figs[i], dependencies=key, **figures.PNG_OPTIONS)


@solara.component
def Page() -> None:
    settings = solara.use_reactive(solara.use_memo(_initial_settings, []))
    compare = solara.use_reactive(False)
    playing = solara.use_reactive(False)
    version = solara.use_reactive(0)
    resets = solara.use_reactive(0)
    load_error = solara.use_reactive("")
    control_error = solara.use_reactive("")
    s = settings.value

    base = solara.use_memo(lambda: _try_load(s.scenario), [s.scenario])
    result = solara.use_thread(lambda cancel: _compute(s, cancel), dependencies=[s],
                               intrusive_cancel=False)
    computed: Computed | None = result.value
    want_baseline = compare.value
    baseline_result = solara.use_thread(
        lambda: _baseline_bands(s.n_runs, s.seed) if want_baseline else None,
        dependencies=[want_baseline, s.n_runs, s.seed])
    baseline = baseline_result.value if want_baseline else None

    def new_world() -> SteppedWorld | None:
        if computed is None:
            return None
        return SteppedWorld(computed.scenario, sim_seed=computed.settings.seed, run_index=0,
                            seeds=_seeds(computed.scenario.time.start))

    world = solara.use_memo(new_world, [computed, resets.value])

    def stop_on_new_world() -> None:
        playing.set(False)

    solara.use_effect(stop_on_new_world, [world])

    def step(months: int = 1) -> None:
        if world is not None and world.running:
            for _ in range(months):
                world.step()
            version.set(version.value + 1)  # redraws the page (in this thread)

    def play(cancel: threading.Event) -> None:
        months = 1
        while playing.value and world is not None and world.running:
            if cancel.wait(PLAY_INTERVAL_SECONDS):
                return
            t0 = time.monotonic()
            step(months)
            months = months_per_frame(time.monotonic() - t0)
        if playing.value:
            playing.set(False)

    solara.use_thread(play, dependencies=[playing.value, world], intrusive_cancel=False)

    def choose_scenario(name: str) -> None:
        try:
            scenario = load_named(name)
        except ScenarioError as exc:
            LOG.warning("refused scenario choice %.200r", name)
            load_error.set(plain_error(exc))
            return
        except Exception as exc:  # never a traceback to the browser
            load_error.set(plain_error(exc))
            return
        load_error.set("")
        settings.set(default_settings(name, scenario, n_runs=s.n_runs, seed=s.seed))

    solara.Title("opengap dashboard")
    solara.Style(CSS)
    with solara.Columns([1, 3]):
        with solara.Column(classes=["og-controls"]):
            with solara.Card("Scenario", margin=0):
                solara.Select("Scenario (scenarios/)", values=shipped_scenarios(),
                              value=s.scenario, on_value=choose_scenario)
                if base is not None and base.description:
                    solara.Text(base.description, classes=["og-small"])
                if load_error.value:
                    solara.Error(load_error.value)
                if control_error.value:
                    solara.Error(control_error.value, classes=["og-refused"])
            with solara.Card("Step or play one world (run 0)", margin=0):
                WorldControls(world, version.value, playing, step,
                              lambda: resets.set(resets.value + 1))
            n_months = base.time.n_months if base else 1

            def set_(**changes: Any) -> None:
                set_checked(settings, control_error, n_months, **changes)

            Controls(settings, base, control_error)
            with solara.Card("Ensemble", margin=0):
                _slider("n_runs", f"Number of runs: {s.n_runs}", s.n_runs, set_)
                solara.InputInt("Seed", value=s.seed,
                                on_value=lambda v: set_(seed=0 if v is None else v))
                solara.Switch(label="Compare with baseline (dashed medians)", value=compare)
                solara.Button("Back to the scenario's own values", text=True,
                              on_click=lambda: choose_scenario(s.scenario))
        with solara.Column():
            solara.HTML(tag="h2", unsafe_innerHTML="opengap: closed vs open-weight AI labs")
            if computed is not None and base is not None:
                status = (f"{computed.settings.scenario}: "
                          f"{settings_summary(base, computed.settings)} | "
                          f"{computed.bands.n_runs} runs in {computed.bands.seconds:.2f} s")
            else:
                status = "computing the first ensemble ..."
            busy = result.state in (solara.ResultState.STARTING, solara.ResultState.RUNNING,
                                    solara.ResultState.WAITING)
            solara.Text(status + (" | recomputing ..." if busy else ""), classes=["og-status"])
            if result.error is not None:
                solara.Error(f"Cannot compute these settings: {plain_error(result.error)}")
            if computed is None:
                solara.ProgressLinear(True)
                return
            Panels(computed, baseline, world, version.value)
            with solara.Card("Event log of the stepped world (newest first)", margin=0):
                EventLog(world, version.value)
            with solara.Card("Labs of the stepped world: runs in progress and compute "
                             "contracts (funding outlook: odds of raising, 1 = neutral)",
                             margin=0):
                LabTable(world, version.value)
            if base is not None:
                with solara.Details("Scenario file for these settings (save under scenarios/)"):
                    solara.HTML(tag="pre", classes=["og-toml"],
                                unsafe_innerHTML=html.escape(settings_toml(base, s)))


def _try_load(name: str) -> Scenario | None:
    try:
        return load_named(name)
    except ScenarioError:
        return None
