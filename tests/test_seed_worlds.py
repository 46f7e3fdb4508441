"""Seed worlds (``[time] start`` picks seeds/ or seeds/history-2023/), the history-2023
scenario, and scenario fragments (``include``) and ``inherit_events``."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest

from sim.calendar import parse_month
from sim.core.engine import simulate
from sim.inputs.scenario import SEED_WORLDS, ScenarioError, load_scenario
from sim.inputs.seeds import SeedError, load_seeds, seed_world_dir, seeds_dir
from sim.vocab import OUTPUT_CAMPS

REPO = Path(__file__).resolve().parents[1]
HISTORY = REPO / "scenarios" / "history-2023.toml"
FOUNDED_AFTER_2023_01 = {"xai", "mistral", "moonshot", "stepfun", "sarvam"}


@pytest.fixture(scope="module")
def history():
    return load_scenario(HISTORY)


@pytest.fixture(scope="module")
def seeds_2023():
    return load_seeds(start="2023-01")


def test_each_seed_world_has_a_folder() -> None:
    for month in SEED_WORLDS:
        assert (seed_world_dir(month) / "labs.csv").is_file()


def test_history_scenario_starts_in_2023_without_baseline_events(history) -> None:
    assert (history.time.start, history.time.end) == ("2023-01", "2026-03")
    months = [e.month for e in history.events]
    assert all("2023-01" <= m <= "2026-03" for m in months)
    kinds = [e.kind for e in history.events]
    assert (kinds.count("export_controls"), kinds.count("distillation_crackdown")) == (10, 2)
    # the rules of 2022-10, 2023-10, 2024-12, 2025-01, H20 2025-04/07, rescission 2025-05,
    # H200 2025-12
    controls = {e.month for e in history.events if e.kind == "export_controls"}
    assert {"2023-01", "2023-10", "2024-12", "2025-01", "2025-04", "2025-05", "2025-07",
            "2025-12"} == controls
    # the baseline's parameters are inherited
    assert history.capability == load_scenario(REPO / "scenarios" / "baseline.toml").capability


def test_history_seeds_hold_only_labs_that_existed(seeds_2023) -> None:
    labs = seeds_2023.labs
    assert seeds_2023.world == "2023-01"
    # Labs founded after 2023-01 are entrant slots (mechanism 7), not in the world at start.
    entrants = {lab for lab, e in zip(labs.lab_id, labs.entrant, strict=True) if e}
    assert entrants == FOUNDED_AFTER_2023_01 & set(labs.lab_id)
    assert entrants == {"xai", "mistral", "moonshot", "stepfun", "sarvam"}
    assert len(labs.lab_id) - len(entrants) == 17
    assert np.isfinite(labs.eci).all() and (labs.compute_h100e[~labs.entrant] > 0).all()
    assert (labs.eci[labs.entrant] < labs.eci[~labs.entrant].max()).all()


def test_history_seeds_cite_epoch_or_say_prior() -> None:
    models = {r["model"]: float(r["eci"]) for r in
              csv.DictReader(io.StringIO((seeds_dir() / "derived" / "eci_models.csv").read_text()))}
    rows = list(csv.DictReader(io.StringIO((seed_world_dir("2023-01") / "labs.csv").read_text())))
    for row in rows:
        for column in ("eci_source", "compute_source", "cash_source"):
            # an entrant's seed capital is its first recorded round (the facts file)
            cited = ("prior", "Epoch", "facts") if row["entrant"] == "yes" else ("prior", "Epoch")
            assert any(word in row[column] for word in cited), (row["lab_id"], column)
        if row["released_model"] in models:  # scored models carry Epoch's score exactly
            assert float(row["eci"]) == pytest.approx(models[row["released_model"]], abs=1e-3)
        else:
            assert "prior" in row["eci_source"]


def test_no_scored_release_before_the_2023_world() -> None:
    """The 2023-01 world's pre-start record is empty because Epoch scored nothing earlier."""
    history = load_seeds(start="2023-01").history
    assert np.isnan(history.closed).all()
    dates = [r["release_date"] for r in
             csv.DictReader(io.StringIO((seeds_dir() / "derived" / "eci_models.csv").read_text()))]
    assert min(d for d in dates if d) >= "2023-01-01"


def test_history_scenario_simulates_from_its_seed_world(history, seeds_2023) -> None:
    small = history.with_overrides({"population.buyers_per_segment": 4})
    res = simulate(small, n_runs=3, seed=1)
    assert res.world.params.start_month == parse_month("2023-01")
    closed = res.arrays["bench_frontier"][:, :, OUTPUT_CAMPS.index("closed")]
    assert (closed >= seeds_2023.labs.eci.max() - 1e-9).all()
    assert np.all(np.diff(closed, axis=1) >= 0)


def test_cli_runs_the_history_scenario(tmp_path: Path, capsys) -> None:
    from sim.cli.main import main

    out = tmp_path / "out"
    assert main(["run", "history-2023", "--runs", "2", "--no-plots", "--out", str(out)]) == 0
    assert (out / "results.parquet").is_file()
    assert "at 2023-01" in capsys.readouterr().out


def test_seeds_of_another_world_are_refused(history) -> None:
    with pytest.raises(SeedError, match="2026-04"):
        simulate(history, n_runs=1, seed=0, seeds=load_seeds())


def test_unknown_seed_world() -> None:
    with pytest.raises(SeedError, match="seed worlds exist for"):
        load_seeds(start="2024-01")


def test_start_without_seed_world_is_one_line(write_scenario) -> None:
    path = write_scenario("x", 'extends = "baseline"\nname = "x"\n[time]\nstart = "2024-01"\n')
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert "2023-01" in str(err.value) and "\n" not in str(err.value)


# --------------------------------------------------------------------------- include


CHILD = 'extends = "baseline"\nname = "child"\n'


def _fragment(folder: Path, name: str, text: str) -> None:
    (folder / "fragments").mkdir(exist_ok=True)
    (folder / "fragments" / name).write_text(text, encoding="utf-8")


def test_include_sets_fragment_values(scenario_dir, write_scenario) -> None:
    _fragment(scenario_dir, "cal.toml",
              "[capability]\ndistill_efficiency = 0.55\nfast_follow_lag_months = 3\n")
    path = write_scenario("child", CHILD + 'include = ["fragments/cal.toml"]\n')
    scenario = load_scenario(path)
    assert scenario.capability.distill_efficiency == 0.55
    assert scenario.capability.fast_follow_lag_months == 3


@pytest.mark.parametrize(("fragments", "extra", "needle"), [
    ({"a.toml": "[capability]\ndistill_efficiency = 0.5\n"},
     "[capability]\ndistill_efficiency = 0.4\n", "set both here and in included"),
    ({"a.toml": "[capability]\ndistill_efficiency = 0.5\n",
      "b.toml": "[capability]\ndistill_efficiency = 0.6\n"}, "", "also set in included"),
    ({"a.toml": '[time]\nend = "2030-01"\n'}, "", "may only set the parameter tables"),
    ({}, "", "no fragment"),
])
def test_include_errors_are_one_line(scenario_dir, write_scenario, fragments, extra,
                                     needle) -> None:
    for name, text in fragments.items():
        _fragment(scenario_dir, name, text)
    names = list(fragments) or ["missing.toml"]
    listed = ", ".join(f'"fragments/{n}"' for n in names)
    path = write_scenario("child", CHILD + f"include = [{listed}]\n" + extra)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    message = str(err.value)
    assert needle in message and "\n" not in message


def test_include_must_be_a_list(write_scenario) -> None:
    with pytest.raises(ScenarioError, match="include: expected a list"):
        load_scenario(write_scenario("child", CHILD + 'include = "fragments/a.toml"\n'))


def test_inherit_events(write_scenario) -> None:
    kept = load_scenario(write_scenario("kept", CHILD))
    dropped = load_scenario(write_scenario("dropped", CHILD + "inherit_events = false\n"))
    assert len(kept.events) >= 1 and dropped.events == []
    with pytest.raises(ScenarioError, match="inherit_events: expected true or false"):
        load_scenario(write_scenario("bad", CHILD + 'inherit_events = "no"\n'))
