"""`opengap run` end to end on a shrunk baseline (12 months, 10 buyers per segment)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import copy_baseline  # noqa: E402

from sim.cli.main import main
from sim.files import LOCK_FILE
from sim.inputs.scenario import load_scenario, scenarios_dir

EXPECTED_COLUMNS = ["run", "step", "month", "metric", "camp", "segment", "value"]
BASELINE = scenarios_dir() / "baseline.toml"


@pytest.fixture()
def scen_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    copy_baseline(folder)
    (folder / "small.toml").write_text(
        'extends = "baseline"\nname = "small"\n\n[time]\nend = "2027-03"\n\n'
        "[population]\nbuyers_per_segment = 10\n",
        encoding="utf-8",
    )
    return folder


def _child(scen_dir: Path, name: str, body: str) -> Path:
    path = scen_dir / f"{name}.toml"
    path.write_text(f'extends = "small"\nname = "{name}"\n\n{body}', encoding="utf-8")
    return path


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_run_writes_results_plots_and_manifest(scen_dir, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, stderr = _run(capsys, "run", str(scen_dir / "small.toml"), "--runs", "3",
                                "--seed", "7", "--out", str(out))
    assert code == 0, stderr
    assert "Traceback" not in stderr
    for name in ("results.parquet", "events.csv", "manifest.json", "frontier.png", "gap.png",
                 "shares.png"):
        assert (out / name).is_file(), name
    # no temp files left (the lock file stays: see sim.files.LOCK_FILE)
    assert not [p for p in out.iterdir() if p.name.startswith(".") and p.name != LOCK_FILE]

    table = pq.read_table(out / "results.parquet")
    assert table.column_names == EXPECTED_COLUMNS
    values = table.column("value").to_numpy()
    assert values.size > 0 and np.isfinite(values).all()
    assert sorted(set(table.column("run").to_pylist())) == [0, 1, 2]
    assert sorted(set(table.column("step").to_pylist())) == list(range(12))
    metrics = set(table.column("metric").to_pylist())
    for m in ("bench_frontier", "gap_points", "lag_months", "token_share", "dollar_share",
              "tokens", "spend", "cash", "compute", "alive", "spend_total", "pressure"):
        assert m in metrics, m
    lag_pairs = {c for c, m in zip(table.column("camp").to_pylist(),
                                   table.column("metric").to_pylist(), strict=True)
                 if m == "lag_months"}
    assert lag_pairs == {"closed_vs_open", "closed_vs_cn", "closed_vs_us", "cn_vs_us"}

    manifest = json.loads((out / "manifest.json").read_text())
    scenario = load_scenario(scen_dir / "small.toml")
    assert manifest["scenario"]["content_hash"] == scenario.content_hash()
    assert manifest["scenario"]["name"] == "small"
    assert manifest["seed"] == 7 and manifest["n_runs"] == 3
    assert manifest["run_ids"] == [0, 1, 2]
    assert manifest["versions"]["opengap"]
    for name in manifest["files"]:
        assert (out / name).is_file(), name

    events = (out / "events.csv").read_text().splitlines()
    assert events[0] == "run,month,step,actor,event,detail"
    assert any("export_controls" in line for line in events[1:])

    assert "closed vs best open gap" in stdout and "open-weight share" in stdout
    assert str(out) in stdout


def test_run_shows_a_ban_in_events_plots_and_summary(scen_dir, tmp_path, capsys):
    """The us-open-ban story end to end: the ban is in the event log, the policy figure is
    written and the summary says the ban is in force in every run."""
    path = _child(scen_dir, "ban", '[[events]]\nkind = "ban"\nmonth = "2026-06"\n'
                  'sovereign = "US"\nthreshold_flop = 1e25\nenforcement = 0.7\n')
    out = tmp_path / "out"
    code, stdout, stderr = _run(capsys, "run", str(path), "--runs", "2", "--out", str(out))
    assert code == 0, stderr
    events = (out / "events.csv").read_text().splitlines()
    bans = [line for line in events if ",ban," in line]
    assert len(bans) == 2 and all(",2026-06,2,us,ban," in line for line in bans)
    assert any(",us,ban_in_force," in line for line in events)
    assert (out / "policy.png").stat().st_size > 10_000
    assert "US ban 100%" in stdout
    metrics = set(pq.read_table(out / "results.parquet").column("metric").to_pylist())
    assert {"sovereign_grants", "large_open_tokens", "open_tokens"} <= metrics


def test_same_seed_same_numbers_whatever_the_batch_size(scen_dir, tmp_path, capsys):
    small = str(scen_dir / "small.toml")
    a, a2, b, c = (tmp_path / x for x in ("a", "a2", "b", "c"))
    for out, extra in ((a, []), (a2, []), (b, ["--batch-size", "2"]), (c, ["--seed", "6"])):
        args = ["run", small, "--runs", "3", "--seed", "5", "--out", str(out), "--no-plots"]
        assert _run(capsys, *args, *extra)[0] == 0
    ta, ta2 = pq.read_table(a / "results.parquet"), pq.read_table(a2 / "results.parquet")
    assert ta.equals(ta2)  # bit for bit
    # Another batch split gives the same runs; per-camp sums in the engine use BLAS matmul,
    # whose summation order may depend on the batch shape (differences of ~1 ulp).
    tb = pq.read_table(b / "results.parquet")
    assert ta.drop_columns(["value"]).equals(tb.drop_columns(["value"]))
    np.testing.assert_allclose(tb.column("value").to_numpy(), ta.column("value").to_numpy(),
                               rtol=1e-12, atol=0)
    va = ta.column("value").to_numpy()
    vc = pq.read_table(c / "results.parquet").column("value").to_numpy()
    assert va.shape != vc.shape or not np.array_equal(va, vc)


def _assert_one_line_error(code: int, stderr: str, *needles: str) -> None:
    assert code == 2
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("opengap: error: ")
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


def _precious(out: Path) -> dict[str, bytes]:
    out.mkdir(exist_ok=True)
    (out / "results.parquet").write_bytes(b"not really parquet, but mine")
    (out / "notes.txt").write_text("keep me")
    return {p.name: p.read_bytes() for p in out.iterdir()}


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ("[capability]\nno_such_knob = 1.0\n", "capability.no_such_knob"),
        ("[capability]\npretrain_months = 0.5\n", "capability.pretrain_months"),
        ("[time]\nend = \"2026-01\"\n", "time"),
    ],
)
def test_bad_scenario_is_one_line_and_touches_nothing(scen_dir, tmp_path, capsys, body, field):
    bad = _child(scen_dir, "bad", body)
    out = tmp_path / "out"
    before = _precious(out)
    code, _, stderr = _run(capsys, "run", str(bad), "--runs", "2", "--out", str(out))
    _assert_one_line_error(code, stderr, "bad.toml", field)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_missing_scenario_file(tmp_path, capsys):
    out = tmp_path / "out"
    before = _precious(out)
    missing = tmp_path / "nowhere.toml"
    code, _, stderr = _run(capsys, "run", str(missing), "--out", str(out))
    _assert_one_line_error(code, stderr, "nowhere.toml", "not found")
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_unknown_shipped_scenario_name(tmp_path, capsys):
    code, _, stderr = _run(capsys, "run", "no-such-scenario", "--out", str(tmp_path / "o"))
    _assert_one_line_error(code, stderr, "no-such-scenario", "baseline")
    assert not (tmp_path / "o").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--runs", "0"], "--runs"),
        (["--runs", "many"], "--runs"),
        (["--seed", "-1"], "--seed"),
        (["--batch-size", "0"], "--batch-size"),
        (["--bogus"], "--bogus"),
    ],
)
def test_bad_arguments(scen_dir, tmp_path, capsys, args, needle):
    out = tmp_path / "out"
    before = _precious(out)
    code, _, stderr = _run(capsys, "run", str(scen_dir / "small.toml"), "--out", str(out),
                           *args)
    _assert_one_line_error(code, stderr, needle)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_out_is_a_file(scen_dir, tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("a file, not a folder")
    code, _, stderr = _run(capsys, "run", str(scen_dir / "small.toml"), "--runs", "1",
                           "--out", str(target))
    _assert_one_line_error(code, stderr, "--out")
    assert target.read_text() == "a file, not a folder"


def test_python_m_sim_reports_errors_without_traceback(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "sim", "run", str(tmp_path / "missing.toml"), "--runs", "1",
         "--out", str(tmp_path / "o")],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        f"opengap: error: {tmp_path / 'missing.toml'}: scenario file not found"
    ]


def test_help_exits_zero(capsys):
    assert main(["run", "--help"]) == 0
    assert "--runs" in capsys.readouterr().out
