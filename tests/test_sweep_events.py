"""Sweeps over named events' fields and over scenarios; per-setting tables (issue 19)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from sim.cli.main import main
from sim.inputs.scenario import ScenarioError, load_scenario, resolve_scenario_path
from sim.studies.sweeps import SweepError
from sim.studies.sweeps.spec import load_spec

SPEC = """
name = "t"
scenario = "us-open-ban"
design = "grid"
replicates = 2
seed = 3
outcomes = ["large_open_tokens[US]@end", "policies_in_force@end", "lab_frontier[ai2_olmo]@end"]
[overrides]
"time.end" = "2027-06"
"population.buyers_per_segment" = 10
[parameters."events.us_ban.enforcement"]
range = [0.4, 1.0]
levels = 2
[parameters."events.us_ban.month"]
choices = ["2026-06", "2027-01"]
"""


def test_event_fields_are_addressed_by_id() -> None:
    ban = load_scenario(resolve_scenario_path("us-open-ban"))
    changed = ban.with_overrides({"events.us_ban.enforcement": 0.95,
                                  "events.us_ban.threshold_flop": 3e25})
    event = next(e for e in changed.events if e.id == "us_ban")
    assert (event.enforcement, event.threshold_flop) == (0.95, 3e25)
    with pytest.raises(ScenarioError, match="events: .*us_ban"):
        ban.with_overrides({"events.eu_ban.enforcement": 0.9})


def test_an_event_without_id_keeps_the_scenario_hash() -> None:
    base = load_scenario(resolve_scenario_path("baseline"))
    assert all("id" not in e for e in base.model_dump(mode="json")["events"])


def test_two_events_with_one_id_are_an_error(tmp_path: Path) -> None:
    path = tmp_path / "s.toml"
    path.write_text('extends = "baseline"\nname = "s"\n' + 2 * (
        '[[events]]\nid = "x"\nkind = "safety_shock"\nmonth = "2027-01"\nsize = 1.0\n'))
    with pytest.raises(ScenarioError, match="id 'x' names two events"):
        load_scenario(path)


def test_grid_sweep_over_event_fields_changes_outcomes(tmp_path: Path) -> None:
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text(SPEC)
    assert main(["sweep", str(spec_path), "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    runs = pq.read_table(tmp_path / "out" / "runs.parquet").to_pandas()
    assert set(runs["events.us_ban.month"]) == {"2026-06", "2027-01"}
    tokens = runs.groupby("events.us_ban.enforcement")["large_open_tokens[US]@end"].mean()
    assert tokens[1.0] < tokens[0.4]  # weaker enforcement: more large foreign open models used
    import pyarrow.csv as pacsv

    table = pacsv.read_csv(tmp_path / "out" / "settings.csv").to_pandas()
    assert len(table) == 4 and (table["large_open_tokens[US]@end:n"] == 2).all()
    assert (tmp_path / "out" / "settings.png").stat().st_size > 10_000


def test_scenario_choice_is_a_factor(tmp_path: Path) -> None:
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text("""
name = "c"
design = "lhs"
samples = 4
replicates = 2
outcomes = ["gap_points_us@end"]
[overrides]
"time.end" = "2027-06"
"population.buyers_per_segment" = 10
[parameters.scenario]
choices = ["baseline", "us-open-ban"]
[parameters."capability.distill_efficiency"]
range = [0.1, 0.5]
""")
    spec = load_spec(spec_path)
    assert [n for n, _ in spec.bases] == ["baseline", "us-open-ban"]
    assert all(b.time.end == "2027-06" for _, b in spec.bases)
    assert main(["sweep", str(spec_path), "--out", str(tmp_path / "out"), "--workers", "1"]) == 0
    runs = pq.read_table(tmp_path / "out" / "runs.parquet").to_pandas()
    assert set(runs["scenario"]) <= {"baseline", "us-open-ban"} and len(runs) == 8
    assert np.isfinite(runs["gap_points_us@end"]).all()


def test_scenario_choice_needs_two_names(tmp_path: Path) -> None:
    spec_path = tmp_path / "spec.toml"
    spec_path.write_text('design = "grid"\noutcomes = ["gap_points@end"]\n'
                         '[parameters.scenario]\nchoices = ["baseline"]\n')
    with pytest.raises(SweepError, match="at least two distinct scenario names"):
        load_spec(spec_path)
