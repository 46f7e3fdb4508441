"""The dashboard's pieces without a browser: controls -> scenario, ensemble bands, the stepped
world and its event log, the panels, and `opengap app`'s argument errors."""

from __future__ import annotations

import io
import socket

import numpy as np
import pytest
from matplotlib.figure import Figure

from sim.cli.main import main
from sim.core.engine import simulate
from sim.dashboard import figures
from sim.dashboard.ensemble import ensemble_bands, recompute
from sim.dashboard.settings import (
    FUNDING_SHOCK_HALF_LIFE_MONTHS,
    apply_settings,
    default_settings,
    export_multiplier_of,
    load_named,
    settings_summary,
    settings_toml,
    shipped_scenarios,
)
from sim.dashboard.world import SteppedWorld
from sim.inputs.scenario import Scenario, load_scenario
from sim.inputs.seeds import Seeds
from sim.report.outputs import event_log
from sim.vocab import OUTPUT_CAMPS


@pytest.fixture(scope="module")
def small(small_scenario: Scenario) -> Scenario:
    return small_scenario


def test_scenario_list_comes_from_the_folder() -> None:
    names = shipped_scenarios()
    assert names[0] == "baseline"
    assert "baseline" in names


@pytest.mark.parametrize("name", shipped_scenarios())
def test_every_shipped_scenario_is_reproduced_by_default(name: str) -> None:
    scenario = load_named(name)
    settings = default_settings(name, scenario)
    assert apply_settings(scenario, settings).content_hash() == scenario.content_hash()


def test_export_slider_scales_every_export_control(small: Scenario) -> None:
    data = small.model_dump(mode="json")
    later = dict(data["events"][0], month="2026-09", price_multiplier=3.0)
    tighter = Scenario.model_validate({**data, "events": [*data["events"], later]})
    scenario = apply_settings(tighter, default_settings("t", tighter).updated(
        export_price_multiplier=3.0))  # 1.5 -> 3.0: x2
    assert [e.price_multiplier for e in scenario.events] == [3.0, 6.0]


def test_default_settings_reproduce_the_scenario(small: Scenario) -> None:
    settings = default_settings("small", small)
    scenario = apply_settings(small, settings)
    assert scenario.content_hash() == small.content_hash()
    assert settings_summary(small, settings) == "scenario as written"


def test_controls_map_to_scenario_fields_and_events(small: Scenario) -> None:
    settings = default_settings("small", small).updated(
        distill_efficiency=0.65, safety_shock_rate_per_year=2.0, export_price_multiplier=4.0,
        funding_shock_size=0.4, funding_shock_region="US", funding_shock_month=3,
        ban_sovereign="EU", ban_threshold_log10_flop=25.5, ban_enforcement=0.9, ban_month=2,
        grant_scale=2.5)
    scenario = apply_settings(small, settings)
    assert scenario.capability.distill_efficiency == 0.65
    assert scenario.policy.safety_shock_rate_per_year == 2.0
    assert scenario.policy.grant_scale == 2.5
    assert export_multiplier_of(scenario) == 4.0
    by_kind = {e.kind: e for e in scenario.events}
    shock, ban = by_kind["funding_shock"], by_kind["ban"]
    assert (shock.region, shock.size, shock.month) == ("US", 0.4, "2026-07")
    assert shock.half_life_months == FUNDING_SHOCK_HALF_LIFE_MONTHS
    assert (ban.sovereign, ban.enforcement, ban.month) == ("EU", 0.9, "2026-06")
    assert ban.threshold_flop == pytest.approx(10**25.5)
    # The scenario's own export control keeps its cap; only the multiplier moved.
    controls = [e for e in scenario.events if e.kind == "export_controls"]
    original = [e for e in small.events if e.kind == "export_controls"]
    assert [e.cap_h100e_per_month for e in controls] == [e.cap_h100e_per_month
                                                         for e in original]
    summary = settings_summary(small, settings)
    for text in ("distillation 0.65", "export price x4.00", "US funding shock -40% in 2026-07",
                 "EU ban > 1e25.5 FLOP", "grant scale 2.5"):
        assert text in summary


def test_export_control_added_when_scenario_has_none(small: Scenario) -> None:
    bare = Scenario.model_validate({**small.model_dump(mode="json"), "events": []})
    assert export_multiplier_of(bare) == 1.0
    scenario = apply_settings(bare, default_settings("bare", bare).updated(
        export_price_multiplier=2.5))
    (event,) = scenario.events
    assert (event.kind, event.sovereign, event.target, event.price_multiplier) == (
        "export_controls", "US", "CN", 2.5)
    unchanged = apply_settings(bare, default_settings("bare", bare))
    assert unchanged.events == []


def test_grant_multiplier_scales_grants(small: Scenario, seeds: Seeds) -> None:
    settings = default_settings("small", small)
    scenario = apply_settings(small, settings.updated(grant_scale=3.0 * settings.grant_scale))
    base = simulate(small, n_runs=2, seed=1, seeds=seeds).arrays["grants"]
    more = simulate(scenario, n_runs=2, seed=1, seeds=seeds).arrays["grants"]
    assert base[:, 0].sum() > 0
    np.testing.assert_allclose(more[:, 0], 3.0 * base[:, 0], rtol=1e-12)


def test_bands_are_ordered_quantiles(small: Scenario, seeds: Seeds) -> None:
    bands = ensemble_bands(small, seeds, n_runs=8, seed=3)
    n = small.time.n_months
    assert bands.frontier.shape == (3, n, len(OUTPUT_CAMPS))
    assert bands.dates[0] == np.datetime64("2026-04-01")
    for q in (bands.frontier, bands.gap["closed_vs_open"], bands.lag["closed_vs_open"],
              bands.open_token_share, bands.alive):
        assert np.all(q[0] <= q[1] + 1e-12) and np.all(q[1] <= q[2] + 1e-12)
    assert np.all((bands.open_dollar_share >= 0) & (bands.open_dollar_share <= 1))


def test_slider_change_changes_bands(small: Scenario, seeds: Seeds) -> None:
    settings = default_settings("small", small).updated(n_runs=6, seed=2)
    _, low = recompute(small, seeds, settings.updated(distill_efficiency=0.0))
    _, high = recompute(small, seeds, settings.updated(distill_efficiency=1.0))
    gap_low, gap_high = low.gap["closed_vs_open"][1], high.gap["closed_vs_open"][1]
    assert gap_high[-1] < gap_low[-1]  # more distillation, smaller gap


def test_stepped_world_is_run_zero_of_the_ensemble(small: Scenario, seeds: Seeds) -> None:
    settings = default_settings("small", small).updated(ban_sovereign="CN", ban_month=1,
                                                        ban_threshold_log10_flop=24.0)
    scenario, _ = recompute(small, seeds, settings.updated(n_runs=3))
    world = SteppedWorld(scenario, sim_seed=settings.seed, run_index=0, seeds=seeds)
    while world.running:
        world.step()
    results = simulate(scenario, n_runs=1, seed=settings.seed, seeds=seeds)
    track = world.track()
    for i, camp in enumerate(OUTPUT_CAMPS):
        np.testing.assert_allclose(track[f"frontier_{camp}"],
                                   results.arrays["bench_frontier"][0, :, i], atol=1e-9)
    np.testing.assert_allclose(track["alive_closed"], results.arrays["alive"][0, :, 0])
    kinds = [(e.month, e.kind) for e in world.events]
    assert ("2026-04", "export_controls") in kinds
    assert ("2026-05", "ban") in kinds and ("2026-05", "ban_in_force") in kinds
    # The log is the run's rows of events.csv, as `opengap run` writes them.
    expected = [(r["month"], r["actor"], r["event"], r["detail"])
                for r in event_log(results)]
    assert [(e.month, e.actor, e.kind, e.detail) for e in world.events] == expected


def test_event_log_grows_with_the_steps(small: Scenario, seeds: Seeds) -> None:
    settings = default_settings("small", small).updated(funding_shock_size=0.5,
                                                        funding_shock_month=4)
    world = SteppedWorld(apply_settings(small, settings), seeds=seeds)
    assert world.events == []
    for _ in range(4):
        world.step()
    assert all(e.month <= "2026-07" for e in world.events)
    assert "funding_shock" not in [e.kind for e in world.events]
    world.step()
    assert ("2026-08", "funding_shock") in [(e.month, e.kind) for e in world.events]


def test_lab_table_shows_runs_in_progress_and_contracts(small: Scenario, seeds: Seeds) -> None:
    world = SteppedWorld(small, seeds=seeds)
    for _ in range(4):
        world.step()
    rows = world.lab_rows()
    entered = int(world.state.entered[0].sum())
    assert len(rows) == entered
    training = [r for r in rows if r.status.startswith("training")]
    assert training, "some lab has a run in progress four months in"
    assert any(r.contract_h100e > 0 for r in training)
    lab = next(a for a in world.labs if a.name == training[0].name)
    assert training[0].status == f"training, {lab.run_months_left:.0f} months left"
    assert all(0.0 <= r.funding_outlook <= 1.0 for r in rows)
    assert [r.alive for r in rows] == sorted((r.alive for r in rows), reverse=True)


def test_panels_have_titles_labels_and_legends(small: Scenario, seeds: Seeds) -> None:
    scenario, bands = recompute(small, seeds, default_settings("small", small)
                                .updated(n_runs=4))
    world = SteppedWorld(scenario, seeds=seeds)
    for _ in range(3):
        world.step()
    track = world.track()
    panels = [figures.frontier_figure(bands, bands, track),
              figures.gap_figure(bands, bands, track),
              figures.shares_figure(bands, None, track),
              figures.alive_figure(bands, None, None)]
    for fig in panels:
        assert isinstance(fig, Figure)
        assert fig._suptitle is not None and fig._suptitle.get_text()
        for ax in fig.axes:
            assert ax.get_ylabel()
        assert fig.axes[0].get_legend() is not None
        assert fig.axes[-1].get_xlabel() == "month"
        fig.savefig(io.BytesIO(), **figures.PNG_OPTIONS)
    labels = [t.get_text() for t in panels[0].axes[0].get_legend().get_texts()]
    assert any("baseline" in label for label in labels)
    assert "stepped world (run 0)" in labels


@pytest.mark.parametrize(("argv", "message"), [
    (["app", "no_such_scenario"], "not one of the shipped scenarios"),
    (["app", "--port", "70000"], "--port must be 1..65535"),
    (["app", "/tmp/elsewhere.toml"], "the dashboard offers the scenarios in"),
])
def test_app_argument_errors(argv: list[str], message: str,
                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("opengap: error: ") and message in err
    assert err.count("\n") == 1


def test_app_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        assert main(["app", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert f"cannot listen on 127.0.0.1:{port}" in err and err.count("\n") == 1


def test_scenario_file_for_the_settings_loads_to_the_same_world(scenario_dir) -> None:
    baseline = load_scenario(scenario_dir / "baseline.toml")  # with its posterior
    settings = default_settings("baseline", baseline).updated(
        distill_efficiency=0.55, grant_scale=2.0, safety_shock_rate_per_year=1.5,
        funding_shock_size=0.3, ban_sovereign="US", ban_enforcement=0.65)
    path = scenario_dir / "mine.toml"
    path.write_text(settings_toml(baseline, settings), encoding="utf-8")
    loaded = load_scenario(path)
    expected = apply_settings(baseline, settings)
    assert loaded.name == "baseline-dashboard"
    same = {"name": expected.name, "description": expected.description}
    assert loaded.model_copy(update=same).content_hash() == expected.content_hash()
