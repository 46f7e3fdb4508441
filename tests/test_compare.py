"""Counterfactual comparison on common random numbers: identical worlds give a paired delta of
exactly zero; a real intervention has a much smaller paired than unpaired standard error;
`opengap compare` writes its tables and figures and rejects bad input with one line."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sim.calendar import parse_month
from sim.cli.main import main
from sim.core.engine import simulate
from sim.inputs.scenario import Scenario
from sim.inputs.seeds import Seeds
from sim.measures.registry import Measure, measure
from sim.studies import compare

TINY = ('extends = "baseline"\nname = "{name}"\n\n[time]\nend = "2027-03"\n\n'
        "[population]\nbuyers_per_segment = 6\n")
CRACKDOWN = ('\n[[events]]\nkind = "distillation_crackdown"\nmonth = "2026-05"\n'
             'sovereign = "US"\nenforcement = 0.0\n')


def _outcomes(scenario: Scenario) -> list[Measure]:
    end = parse_month(scenario.time.end)
    return compare.headline_outcomes([end], end)


def test_identical_scenarios_have_exactly_zero_paired_delta(small_scenario: Scenario,
                                                             seeds: Seeds) -> None:
    a = simulate(small_scenario, n_runs=5, seed=3, seeds=seeds)
    # A renamed copy is a different scenario object simulated from scratch.
    b = simulate(small_scenario.with_overrides({"name": "copy"}), n_runs=5, seed=3, seeds=seeds)
    outcomes = _outcomes(small_scenario)
    deltas = compare.compare_worlds(a, [b], outcomes)
    assert deltas and all(d.median == 0 and d.low == 0 and d.high == 0 and d.paired_se == 0
                          for d in deltas if d.runs)
    assert any(d.unpaired_se > 0 for d in deltas)
    assert compare.identical_check(a, simulate(small_scenario, n_runs=3, seed=3, seeds=seeds),
                                   outcomes) == 0.0


def test_paired_standard_error_is_much_smaller_than_unpaired(small_scenario: Scenario,
                                                            seeds: Seeds) -> None:
    crackdown = small_scenario.with_overrides({"name": "crackdown", "events": [
        {"kind": "distillation_crackdown", "month": "2026-05", "sovereign": "US",
         "enforcement": 0.0}]})
    base = simulate(small_scenario, n_runs=24, seed=5, seeds=seeds)
    alt = simulate(crackdown, n_runs=24, seed=5, seeds=seeds)
    gap = {d.outcome.name: d for d in compare.compare_worlds(base, [alt],
                                                              _outcomes(small_scenario))}
    d = gap["gap closed vs CN open 2027-06"]
    assert d.median > 0  # no distillation: China open falls further behind
    assert d.paired_se < d.unpaired_se / 2


def test_paired_delta_statistics_by_hand() -> None:
    outcome = measure("gap_points").at("2026-04")
    base = np.array([1.0, 2.0, 3.0, 4.0, np.nan])
    alt = base + np.array([1.0, 1.0, 1.0, 1.0, 0.0])
    d = compare.paired_delta(outcome, "alt", base, alt)
    assert d.runs == 4 and d.median == 1.0 and d.paired_se == 0.0
    assert d.unpaired_se == pytest.approx(np.sqrt(2 * np.var([1, 2, 3, 4], ddof=1) / 4))


def _scen(tmp: Path, name: str, extra: str = "") -> Path:
    path = tmp / f"{name}.toml"
    path.write_text(TINY.format(name=name) + extra, encoding="utf-8")
    return path


def test_compare_cli_writes_tables_and_figures(scenario_dir: Path, tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    base = _scen(scenario_dir, "tiny")
    same = _scen(scenario_dir, "tiny-copy")
    alt = _scen(scenario_dir, "tiny-crackdown", CRACKDOWN)
    out = tmp_path / "cmp"
    code = main(["compare", str(base), str(same), str(alt), "--runs", "6", "--seed", "2",
                 "--out", str(out), "--check-runs", "3"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "paired delta of every headline outcome is exactly 0" in captured.out
    assert "paired" in captured.out and "unpaired" in captured.out
    for name in ("deltas.md", "deltas.csv", "trajectories.png", "delta.png"):
        assert (out / name).stat().st_size > 0, name
    import csv
    import io

    rows = list(csv.DictReader(io.StringIO((out / "deltas.csv").read_text(encoding="utf-8"))))
    copy_rows = [r for r in rows if r["alternative"] == "tiny-copy"]
    assert copy_rows and all(float(r["delta_median"] or 0) == 0 for r in copy_rows)
    assert {r["outcome"] for r in rows} >= {"gap closed vs open 2027-03",
                                            "CN open frontier 2027-03",
                                            "US open labs' share of open tokens 2027-03",
                                            "alive labs open_cn 2027-03"}
    assert "## tiny-crackdown vs tiny" in (out / "deltas.md").read_text()


@pytest.mark.parametrize("extra_args, body, expected", [
    ([], '[time]\nend = "2027-02"\n', "cannot pair"),
    (["--dates", "2031-01"], "", "--dates: 2031-01 is outside"),
    (["--dates", "2027-13"], "", "--dates: month must be 01..12"),
    (["--runs", "0"], "", "--runs must be at least 1"),
])
def test_compare_rejects_bad_input_with_one_line(scenario_dir: Path, tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str],
                                                 extra_args: list[str], body: str,
                                                 expected: str) -> None:
    base = _scen(scenario_dir, "tiny")
    other = scenario_dir / "other.toml"
    other.write_text('extends = "tiny"\nname = "other"\n' + body, encoding="utf-8")
    out = tmp_path / "never"
    code = main(["compare", str(base), str(other), "--runs", "2", "--out", str(out),
                 *extra_args])
    err = capsys.readouterr().err
    assert code == 2
    assert expected in err and err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()
