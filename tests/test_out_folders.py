"""Output folders (issue 18): one writer at a time, nothing lost and nothing stale.

* a folder is locked while a command writes into it; a second writer is refused in one
  line (also two real sweeps started together);
* a sweep's final table is checked against the design (no duplicated or missing runs);
* a sweep whose start fails (an unreachable Dask scheduler) leaves nothing behind;
* pool workers exit when their driver is killed with ``kill -9``;
* a folder holding another scenario's or spec's results, or result files without a
  manifest, is refused unless ``--force``, and with ``--force`` no stale file stays;
* default folders come only from slug names; ``--out ""`` is refused; a killed writer's
  temporary files are removed by the next run; sizes are estimated before work.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import copy_baseline  # noqa: E402

from sim.cli.main import main
from sim.files import LOCK_FILE, lock_folder, unlock_folder
from sim.studies.sweeps import store

REPO = Path(__file__).resolve().parents[1]

SPEC = """
name = "{name}"
scenario = "baseline"
design = "lhs"
samples = {samples}
replicates = {replicates}
seed = {seed}
outcomes = ["gap_points@end"]

[overrides]
"time.end" = "{end}"
"population.buyers_per_segment" = 6

[parameters."capability.distill_efficiency"]
range = [0.1, 0.6]
"""


def write_spec(folder: Path, name: str = "spec", *, samples: int = 6, replicates: int = 2,
               seed: int = 11, end: str = "2026-08") -> Path:
    path = folder / f"{name}.toml"
    path.write_text(SPEC.format(name=name, samples=samples, replicates=replicates, seed=seed,
                                end=end), encoding="utf-8")
    return path


SMALL = ('extends = "baseline"\nname = "{name}"\n[time]\nend = "2026-08"\n'
         "[population]\nbuyers_per_segment = 4\n")


@pytest.fixture()
def scen_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    copy_baseline(folder)
    for name in ("small", "other"):
        (folder / f"{name}.toml").write_text(SMALL.format(name=name), encoding="utf-8")
    return folder


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(code: int, err: str) -> str:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("opengap: error: "), err
    assert "Traceback" not in err
    return err


def _cli(*argv: str, cwd: Path = REPO) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.Popen([sys.executable, "-m", "sim", *argv], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


# --- one writer at a time ----------------------------------------------------------------


def test_a_locked_folder_is_refused_in_one_line(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; sys.path.insert(0, sys.argv[1]); "
         "from sim.files import lock_folder; lock_folder(sys.argv[2]); print('held', "
         "flush=True); time.sleep(120)", str(REPO), str(out)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        spec = write_spec(tmp_path)
        err = _one_line_error(*_run(capsys, "sweep", str(spec), "--out", str(out),
                                    "--workers", "1")[::2])
        assert "another opengap process is writing to this folder" in err
        err = _one_line_error(*_run(capsys, "run", "baseline", "--runs", "1", "--out",
                                    str(out), "--no-plots")[::2])
        assert "another opengap process is writing to this folder" in err
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # nothing written
    finally:
        holder.kill()
        holder.wait()


def test_the_lock_is_reentrant_in_one_process_and_released(tmp_path) -> None:
    lock_folder(tmp_path)
    lock_folder(tmp_path)
    unlock_folder(tmp_path)
    unlock_folder(tmp_path)
    probe = subprocess.run(
        [sys.executable, "-c", "import sys; sys.path.insert(0, sys.argv[1]); "
         "from sim.files import lock_folder; lock_folder(sys.argv[2])", str(REPO),
         str(tmp_path)], capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr


def test_two_sweeps_started_together_one_is_refused(tmp_path) -> None:
    """The race of the issue: two sweeps (chunk sizes 1 and 4) into one folder. Before the
    lock both exited 0 and runs.parquet held duplicated run ids."""
    spec = write_spec(tmp_path, samples=60, replicates=10, end="2029-12")  # ~10 s
    out = tmp_path / "out"
    first = _cli("sweep", str(spec), "--out", str(out), "--workers", "1", "--chunk-size", "1")
    deadline = time.monotonic() + 60
    while not (out / store.MANIFEST).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    second = _cli("sweep", str(spec), "--out", str(out), "--workers", "1", "--chunk-size", "4")
    _, err2 = second.communicate(timeout=120)
    _, err1 = first.communicate(timeout=300)
    assert first.returncode == 0, err1
    assert second.returncode == 2, err2
    assert "another opengap process is writing to this folder" in err2
    assert err2.count("\n") == 1
    runs = pq.read_table(out / store.RUNS).column("run").to_pylist()
    assert runs == list(range(600))


# --- the final table is checked against the design ---------------------------------------


def test_overlapping_chunks_are_refused_not_duplicated(tmp_path, capsys) -> None:
    spec = write_spec(tmp_path, samples=8)
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["sweep", str(spec), "--out", str(a), "--workers", "1", "--chunk-size", "1"]) == 0
    assert main(["sweep", str(spec), "--out", str(b), "--workers", "1", "--chunk-size", "4"]) == 0
    capsys.readouterr()
    for path in (b / store.CHUNKS).iterdir():  # what two writers used to leave
        shutil.copy(path, a / store.CHUNKS / path.name)
    code, _, err = _run(capsys, "sweep", str(spec), "--out", str(a), "--workers", "1")
    assert "chunks overlap at sample 0" in _one_line_error(code, err)


def test_a_chunk_with_wrong_run_ids_is_refused(tmp_path, capsys) -> None:
    spec = write_spec(tmp_path, samples=4)
    out = tmp_path / "out"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1",
                 "--chunk-size", "2"]) == 0
    capsys.readouterr()
    path = store.chunk_path(out, 0, 1)
    table = pq.read_table(path)
    runs = table.column("run").to_pylist()
    table = table.set_column(0, "run", pa.array([runs[0]] * len(runs), pa.int64()))
    pq.write_table(table, path)
    code, _, err = _run(capsys, "sweep", str(spec), "--out", str(out), "--workers", "1")
    assert "does not hold runs [0]..[3] of the design once each" in _one_line_error(code, err)


# --- a failed start leaves nothing; workers follow their driver --------------------------


def test_unreachable_scheduler_leaves_nothing_behind(tmp_path, capsys, monkeypatch) -> None:
    from sim.studies.sweeps import backends

    monkeypatch.setattr(backends, "CONNECT_TIMEOUT", "1s")
    spec = write_spec(tmp_path)
    out = tmp_path / "out"
    code, _, err = _run(capsys, "sweep", str(spec), "--out", str(out), "--backend", "dask",
                        "--scheduler", "tcp://127.0.0.1:9")
    assert "--scheduler tcp://127.0.0.1:9: cannot connect" in _one_line_error(code, err)
    assert not out.exists()
    # into an existing folder: it is left as it was
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, _, err = _run(capsys, "sweep", str(spec), "--out", str(out), "--backend", "dask",
                        "--scheduler", "tcp://127.0.0.1:9")
    _one_line_error(code, err)
    assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE, "notes.txt"]


def _children(pid: int) -> set[int]:
    """Every descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {p for p, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc (Linux)")
def test_workers_exit_when_the_driver_is_killed(tmp_path) -> None:
    spec = write_spec(tmp_path, samples=200, replicates=20, end="2029-12")
    out = tmp_path / "out"
    driver = _cli("sweep", str(spec), "--out", str(out), "--workers", "2", "--chunk-size", "1")
    try:
        deadline = time.monotonic() + 120
        workers: set[int] = set()
        while time.monotonic() < deadline and len(workers) < 4:  # forkserver, tracker, 2
            time.sleep(0.2)
            workers = _children(driver.pid)
            assert driver.poll() is None, driver.communicate()[1]
        assert len(workers) >= 4, "the pool did not start"
        time.sleep(1.0)
    finally:
        driver.send_signal(signal.SIGKILL)
        driver.communicate()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(_running(p) for p in workers):
        time.sleep(0.2)
    left = [p for p in workers if _running(p)]
    for p in left:  # do not leave them to the next test
        os.kill(p, signal.SIGKILL)
    assert not left, f"worker processes still running after the driver died: {left}"


# --- a folder holding other results ------------------------------------------------------


def test_run_into_another_scenarios_folder_needs_force(scen_dir, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["run", str(scen_dir / "small.toml"), "--runs", "2", "--out", str(out)]) == 0
    capsys.readouterr()
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    code, _, err = _run(capsys, "run", str(scen_dir / "other.toml"), "--runs", "2", "--out",
                        str(out), "--no-plots")
    assert "holds the results of another scenario ('small'" in _one_line_error(code, err)
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    code, _, err = _run(capsys, "run", str(scen_dir / "other.toml"), "--runs", "2", "--out",
                        str(out), "--no-plots", "--force")
    assert code == 0, err
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["scenario"]["name"] == "other"
    # no stale figure of 'small' beside the new results
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [LOCK_FILE, *manifest["files"]])
    assert not list(out.glob("*.png"))


def test_rerun_of_the_same_scenario_replaces_its_files(scen_dir, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["run", str(scen_dir / "small.toml"), "--runs", "2", "--out", str(out)]) == 0
    assert main(["run", str(scen_dir / "small.toml"), "--runs", "3", "--out", str(out),
                 "--no-plots"]) == 0
    capsys.readouterr()
    assert not list(out.glob("*.png"))
    assert json.loads((out / "manifest.json").read_text())["n_runs"] == 3


def test_run_into_a_folder_of_foreign_results_needs_force(scen_dir, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "results.parquet").write_bytes(b"someone's")
    code, _, err = _run(capsys, "run", str(scen_dir / "small.toml"), "--runs", "1", "--out",
                        str(out), "--no-plots")
    assert "holds results.parquet but no run manifest" in _one_line_error(code, err)
    assert (out / "results.parquet").read_bytes() == b"someone's"


def test_sweep_into_foreign_runs_needs_force(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "runs.parquet").write_bytes(b"someone's runs")
    (out / "failures.jsonl").write_text("someone's failures\n")
    spec = write_spec(tmp_path)
    code, _, err = _run(capsys, "sweep", str(spec), "--out", str(out), "--workers", "1")
    assert "holds runs.parquet, failures.jsonl but no manifest.json" in _one_line_error(code,
                                                                                         err)
    assert (out / "runs.parquet").read_bytes() == b"someone's runs"
    assert (out / "failures.jsonl").read_text() == "someone's failures\n"
    code, _, err = _run(capsys, "sweep", str(spec), "--out", str(out), "--workers", "1",
                        "--force")
    assert code == 0, err
    assert pq.read_table(out / "runs.parquet").num_rows == 12


def test_sweep_of_another_spec_with_force_leaves_no_stale_chunk(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    one = write_spec(tmp_path, "one", samples=8, seed=1)
    two = write_spec(tmp_path, "two", samples=3, seed=2)
    assert main(["sweep", str(one), "--out", str(out), "--workers", "1", "--chunk-size",
                 "1"]) == 0
    capsys.readouterr()
    code, _, err = _run(capsys, "sweep", str(two), "--out", str(out), "--workers", "1")
    assert "holds a sweep of a different spec" in _one_line_error(code, err)
    code, _, err = _run(capsys, "sweep", str(two), "--out", str(out), "--workers", "1",
                        "--force", "--chunk-size", "1")
    assert code == 0, err
    assert len(store.completed_chunks(out)) == 3
    assert json.loads((out / store.MANIFEST).read_text())["name"] == "two"
    assert pq.read_table(out / store.RUNS).column("run").to_pylist() == list(range(6))


def test_run_into_a_sweep_folder_needs_force(tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert main(["sweep", str(write_spec(tmp_path)), "--out", str(out), "--workers", "1"]) == 0
    capsys.readouterr()
    code, _, err = _run(capsys, "run", "baseline", "--runs", "1", "--out", str(out),
                        "--no-plots")
    assert "no run manifest" in _one_line_error(code, err)
    assert (out / store.RUNS).is_file()


# --- names, empty paths, temporaries, sizes ----------------------------------------------


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/absolute"])
def test_scenario_names_never_escape_results(scen_dir, tmp_path, capsys, monkeypatch,
                                             name) -> None:
    monkeypatch.chdir(tmp_path)
    path = scen_dir / "evil.toml"
    path.write_text(f'extends = "small"\nname = "{name}"\n', encoding="utf-8")
    code, _, err = _run(capsys, "run", str(path), "--runs", "1", "--no-plots")
    assert "name: expected a name of letters" in _one_line_error(code, err)
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("name", ["../../escaped", "/tmp/absolute"])
def test_spec_names_never_escape_results(tmp_path, capsys, monkeypatch, name) -> None:
    monkeypatch.chdir(tmp_path)
    spec = write_spec(tmp_path)
    spec.write_text(spec.read_text().replace('name = "spec"', f'name = "{name}"'))
    code, _, err = _run(capsys, "sweep", str(spec), "--workers", "1")
    assert "name" in _one_line_error(code, err)
    assert not (tmp_path / "results").exists()


@pytest.mark.parametrize("command", ["run", "sweep"])
def test_empty_out_is_refused(tmp_path, capsys, monkeypatch, command) -> None:
    monkeypatch.chdir(tmp_path)
    target = "baseline" if command == "run" else str(write_spec(tmp_path))
    code, _, err = _run(capsys, command, target, "--out", "")
    assert "--out: expected a folder, got an empty path" in _one_line_error(code, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == (["spec.toml"] if command == "sweep"
                                                          else [])


def test_temporaries_of_a_killed_run_are_removed(scen_dir, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    out.mkdir()
    stray = out / ".results.parquet.k2j4x9.tmp"  # what kill -9 during a write leaves
    stray.write_bytes(b"half a file")
    assert main(["run", str(scen_dir / "small.toml"), "--runs", "1", "--out", str(out),
                 "--no-plots"]) == 0
    assert not stray.exists()


def test_sigterm_during_a_run_leaves_no_temporary(scen_dir, tmp_path) -> None:
    out = tmp_path / "out"
    proc = _cli("run", str(scen_dir / "small.toml"), "--runs", "3000", "--out", str(out),
                "--no-plots", "--batch-size", "50")
    deadline = time.monotonic() + 60
    while not (out / LOCK_FILE).exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(1.0)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert not out.exists() or not [p for p in out.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("argv", [
    ["--runs", "1000000000"],
    ["--runs", "1000000000", "--batch-size", "1000000000"],
])
def test_huge_runs_are_refused_with_an_estimate(tmp_path, capsys, argv) -> None:
    out = tmp_path / "out"
    code, _, err = _run(capsys, "run", "baseline", *argv, "--out", str(out))
    err = _one_line_error(code, err)
    assert "estimated" in err and "above the limits" in err and "--allow-large" in err
    assert not out.exists()


def test_huge_sweep_is_refused_before_any_work(tmp_path, capsys) -> None:
    spec = write_spec(tmp_path, samples=100_000_000, replicates=1, end="2029-12")
    out = tmp_path / "out"
    t0 = time.monotonic()
    code, _, err = _run(capsys, "sweep", str(spec), "--out", str(out), "--workers", "1")
    assert "100,000,000 parameter sets" in _one_line_error(code, err)
    assert time.monotonic() - t0 < 30  # refused before the design is drawn
    assert not out.exists()


def test_threshold_nan_is_refused(tmp_path, capsys) -> None:
    code, _, err = _run(capsys, "discover", str(tmp_path), "--outcome", "gap_points@end",
                        "--threshold", "nan")
    assert "expected a finite number" in _one_line_error(code, err)
