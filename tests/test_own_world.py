"""Your own world (issue 19 item 6): extending shipped scenarios from anywhere, your own
seed tables with ``--seeds`` or a scenario's ``seeds`` key, and a lab added that way."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from sim.cli.main import main
from sim.inputs.packaged import seeds_dir
from sim.inputs.scenario import ScenarioError, load_scenario, resolve_scenario_path
from sim.inputs.seeds import SeedError, load_seeds

#: A hypothetical US open lab ahead of every seeded open model (ECI 152 in 2026-03).
NEW_LAB = ("frontier_us_open,Frontier Open US (hypothetical),open_us,US,Hypothetical,prior,"
           "2026-03-01,152.0,5e+25,prior: hypothetical,300000,prior: hypothetical,20,"
           "prior: hypothetical,0.2,prior: hypothetical,1.0,prior: hypothetical,0.4,"
           "prior: hypothetical,0,prior: hypothetical (no parent),no\n")


def _world_with_new_lab(folder: Path) -> Path:
    folder.mkdir()
    text = (seeds_dir() / "labs.csv").read_text(encoding="utf-8")
    (folder / "labs.csv").write_text(text + NEW_LAB, encoding="utf-8")
    return folder


def test_a_scenario_anywhere_extends_a_shipped_one(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('extends = "us-open-ban"\nname = "mine"\n[funding]\n'
                    'raise_base_probability = 0.2\n')
    mine = load_scenario(path)
    shipped = load_scenario(resolve_scenario_path("us-open-ban"))
    assert mine.events == shipped.events
    assert mine.funding.raise_base_probability == 0.2


def test_extends_an_unknown_name_lists_the_shipped_ones(tmp_path: Path) -> None:
    path = tmp_path / "mine.toml"
    path.write_text('extends = "baseline2"\nname = "mine"\n')
    with pytest.raises(ScenarioError, match="nor among the shipped scenarios.*baseline"):
        load_scenario(path)


def test_own_tables_overlay_the_shipped_ones(tmp_path: Path) -> None:
    world = _world_with_new_lab(tmp_path / "world")
    seeds = load_seeds(overlay=world)
    shipped = load_seeds()
    assert list(seeds.labs.lab_id) == [*shipped.labs.lab_id, "frontier_us_open"]
    assert list(seeds.sovereigns.sovereign_id) == list(shipped.sovereigns.sovereign_id)
    with pytest.raises(SeedError, match="holds none of the seed tables"):
        load_seeds(overlay=tmp_path)


def test_a_lab_added_with_seeds_lifts_its_camps_frontier(tmp_path: Path) -> None:
    world = _world_with_new_lab(tmp_path / "world")
    args = ["run", "baseline", "--runs", "3", "--seed", "1", "--no-plots", "--out"]
    assert main([*args, str(tmp_path / "shipped")]) == 0
    assert main([*args, str(tmp_path / "own"), "--seeds", str(world)]) == 0

    def open_us(out: str) -> pd.Series:
        df = pd.read_parquet(tmp_path / out / "results.parquet")
        rows = df.query("metric == 'bench_frontier' and camp == 'open_us' "
                        "and month == '2026-04'")
        return rows.set_index("run")["value"]

    assert (open_us("own") >= 152.0).all() and (open_us("shipped") < 152.0).all()
    labs = pd.read_parquet(tmp_path / "own" / "labs.parquet")
    assert "frontier_us_open" in set(labs["lab"])
    manifest = json.loads((tmp_path / "own" / "manifest.json").read_text())
    assert manifest["scenario"]["resolved"]["seeds"] == str(world.resolve())


def test_a_scenario_names_its_seeds_relative_to_itself(tmp_path: Path) -> None:
    _world_with_new_lab(tmp_path / "world")
    path = tmp_path / "mine.toml"
    path.write_text('extends = "baseline"\nname = "mine"\nseeds = "world"\n'
                    '[population]\nbuyers_per_segment = 10\n')
    from sim.model import OpenGapModel

    model = OpenGapModel(load_scenario(path), sim_seed=0)
    assert "frontier_us_open" in [lab.lab_id for lab in model.labs]
