"""Sweeps: spec validation, designs, identical results across backends, workers and chunk
sizes, resume after ``kill -9``, and failed parameter sets recorded without stopping."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.cli.main import main
from sim.studies.sweeps import SweepError, store
from sim.studies.sweeps.design import design_values
from sim.studies.sweeps.run import run_sweep
from sim.studies.sweeps.spec import Parameter, load_spec

REPO = Path(__file__).resolve().parents[1]

SPEC = """
scenario = "baseline"
design = "{design}"
{samples}
replicates = {replicates}
seed = 11
outcomes = ["gap_points@2026-08", "lag_months@end", "open_token_share@end", "alive_open"]

[overrides]
"time.end" = "{end}"
"population.buyers_per_segment" = 6

[parameters."capability.distill_efficiency"]
range = [0.1, 0.6]
[parameters."funding.sentiment_volatility"]
range = [0.01, 0.2]
scale = "log"
[parameters."capability.fast_follow_lag_months"]
choices = [3, 6, 12]
[parameters."capability.pretrain_months"]
range = [4.0, 8.0]
levels = 2
"""


def write_spec(folder: Path, *, design: str = "lhs", samples: int | None = 6,
               replicates: int = 2, end: str = "2026-10", name: str = "spec") -> Path:
    path = folder / f"{name}.toml"
    text = SPEC.format(design=design, replicates=replicates, end=end,
                       samples="" if samples is None else f"samples = {samples}")
    path.write_text(text, encoding="utf-8")
    return path


def read_runs(out: Path):
    return pq.read_table(out / store.RUNS)


def assert_bit_identical(a, b) -> None:
    assert a.schema == b.schema
    assert a.num_rows == b.num_rows
    for name in a.column_names:
        x, y = a.column(name).to_numpy(), b.column(name).to_numpy()
        if x.dtype.kind == "f":
            assert np.array_equal(x.view(np.uint64), y.view(np.uint64)), name
        else:
            assert np.array_equal(x, y), name


# --------------------------------------------------------------------------- spec


def test_spec_loads_and_designs_cover_the_ranges(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, samples=8))
    assert spec.samples == 8 and spec.n_runs == 16
    values = np.array([row[:2] for row in design_values(spec)])
    assert np.all((values[:, 0] >= 0.1) & (values[:, 0] <= 0.6))
    assert np.all((values[:, 1] >= 0.01) & (values[:, 1] <= 0.2))
    # LHS: each of the 8 equal strata of a range holds exactly one sample.
    strata = np.floor((values[:, 0] - 0.1) / 0.5 * 8).astype(int)
    assert sorted(strata) == list(range(8))
    assert {row[2] for row in design_values(spec)} <= {3, 6, 12}


def test_grid_design_is_the_product_of_levels(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, design="grid", samples=None))
    design = design_values(spec)
    assert spec.samples == 5 * 5 * 3 * 2 == len(design) == len(set(design))


def test_sobol_needs_a_power_of_two(tmp_path: Path) -> None:
    with pytest.raises(SweepError, match="power of 2"):
        load_spec(write_spec(tmp_path, design="sobol", samples=6))
    assert load_spec(write_spec(tmp_path, design="sobol", samples=8)).samples == 8


@pytest.mark.parametrize("edit, field", [
    (("design = \"lhs\"", "design = \"random\""), "design: allowed: grid, lhs, sobol"),
    (("range = [0.1, 0.6]", "range = [0.1, 1.6]"),
     "parameters.capability.distill_efficiency.range: value 1.6 is not allowed"),
    (("capability.distill_efficiency", "capability.distill_eff"),
     "parameters.capability.distill_eff: unknown parameter path"),
    (("choices = [3, 6, 12]", "choices = [3, 6, 99]"),
     "parameters.capability.fast_follow_lag_months.choices: value 99 is not allowed"),
    (("seed = 11", "seed = 11\ncolour = 3"), "colour: unknown key"),
    (("\"lag_months@end\"", "\"lag_months@2031-01\""), "outside the horizon"),
    (("\"lag_months@end\"", "\"lagg@end\""), "unknown name; allowed: gap_points"),
    (("scale = \"log\"", "scale = \"cubic\""), "scale: allowed: linear, log"),
    (("replicates = 2", "replicates = 0"), "replicates: expected an integer from 1"),
])
def test_bad_spec_is_one_line_naming_the_field(tmp_path: Path, capsys, edit, field) -> None:
    path = write_spec(tmp_path)
    path.write_text(path.read_text().replace(*edit), encoding="utf-8")
    out = tmp_path / "out"
    assert main(["sweep", str(path), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("opengap: error: ")
    assert str(path) in err and field in err
    assert not (out / store.MANIFEST).exists()


def test_missing_spec_file(tmp_path: Path, capsys) -> None:
    assert main(["sweep", str(tmp_path / "nope.toml"), "--workers", "1"]) == 2
    assert "nope.toml: sweep spec file not found" in capsys.readouterr().err


@given(st.floats(0.0, 1.0, exclude_max=True), st.floats(0.0, 1.0, exclude_max=True))
def test_parameter_quantiles_stay_in_range_and_are_monotone(u: float, v: float) -> None:
    for p in (Parameter("a", low=0.02, high=3.0, log=True),
              Parameter("b", low=1.0, high=7.0, integer=True),
              Parameter("c", low=-1.0, high=1.0)):
        x, y = p.value(u), p.value(v)
        assert p.low <= x <= p.high
        assert (x <= y) if u <= v else (x >= y)
        if p.integer:
            assert isinstance(x, int)


# --------------------------------------------------------------------------- results


def test_results_identical_across_backends_workers_and_chunk_sizes(tmp_path: Path) -> None:
    spec = load_spec(write_spec(tmp_path, samples=6, replicates=2))
    reference = tmp_path / "serial"
    run_sweep(spec, reference, workers=1, chunk_size=6)
    ref = read_runs(reference)
    assert ref.num_rows == 12
    assert ref.column("run").to_pylist() == list(range(12))
    for name, kwargs in {
        "serial-chunk1": dict(workers=1, chunk_size=1),
        "pool-2": dict(workers=2, chunk_size=2),
        "dask-2": dict(backend="dask", workers=2, chunk_size=4),
    }.items():
        run_sweep(spec, tmp_path / name, **kwargs)
        assert_bit_identical(ref, read_runs(tmp_path / name))


def test_dask_backend_uses_an_existing_scheduler(tmp_path: Path) -> None:
    from dask.distributed import LocalCluster

    spec = load_spec(write_spec(tmp_path, samples=3, replicates=2))
    run_sweep(spec, tmp_path / "serial", workers=1)
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                      dashboard_address=None) as cluster:
        run_sweep(spec, tmp_path / "remote", backend="dask", workers=1,
                  scheduler=cluster.scheduler_address, chunk_size=1)
        assert cluster.scheduler_address.startswith(("tcp://", "inproc://"))
    assert_bit_identical(read_runs(tmp_path / "serial"), read_runs(tmp_path / "remote"))


def test_unreachable_scheduler_is_a_one_line_error(tmp_path: Path, capsys,
                                                   monkeypatch) -> None:
    import sim.studies.sweeps.backends as backends

    monkeypatch.setattr(backends, "CONNECT_TIMEOUT", "1s")
    spec = write_spec(tmp_path, samples=2, replicates=1)
    assert main(["sweep", str(spec), "--out", str(tmp_path / "o"), "--backend", "dask",
                 "--scheduler", "tcp://127.0.0.1:9"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--scheduler tcp://127.0.0.1:9: cannot connect" in err


def test_many_replicates_run_in_blocks_with_the_same_numbers(tmp_path: Path,
                                                             monkeypatch) -> None:
    import sim.studies.sweeps.chunks as chunks

    spec = load_spec(write_spec(tmp_path, samples=2, replicates=5))
    run_sweep(spec, tmp_path / "whole", workers=1)
    monkeypatch.setattr(chunks, "STACK_RUNS", 2)  # sets alone, replicates in blocks of 2
    run_sweep(spec, tmp_path / "blocks", workers=1)
    assert_bit_identical(read_runs(tmp_path / "whole"), read_runs(tmp_path / "blocks"))


def test_replicate_j_shares_random_numbers_across_samples(tmp_path: Path) -> None:
    """Run j of every parameter set uses the engine's run j under the sweep seed."""
    from sim.core.engine import simulate
    from sim.measures.outcomes import evaluate

    spec = load_spec(write_spec(tmp_path, samples=4, replicates=2))
    run_sweep(spec, tmp_path / "out", workers=1)
    runs = read_runs(tmp_path / "out")
    for i, values in enumerate(design_values(spec)):
        scenario = spec.base.with_overrides(dict(zip(spec.paths, values, strict=True)))
        direct = evaluate(simulate(scenario, n_runs=2, seed=spec.seed), spec.outcomes)
        mine = runs.column("sample").to_numpy() == i
        for label, expected in direct.items():
            got = runs.column(label).to_numpy()[mine]
            assert np.array_equal(got.view(np.uint64), expected.view(np.uint64)), label


def test_failed_parameter_set_is_recorded_and_the_sweep_goes_on(tmp_path: Path,
                                                                monkeypatch) -> None:
    import sim.studies.sweeps.chunks as chunks

    spec = load_spec(write_spec(tmp_path, samples=6, replicates=2))
    bad = design_values(spec)[3]
    real = chunks.simulate_stack

    def flaky(scenarios, *args, **kwargs):
        if any(s.capability.distill_efficiency == bad[0] for s in scenarios):
            raise FloatingPointError("injected failure")
        return real(scenarios, *args, **kwargs)

    monkeypatch.setattr(chunks, "simulate_stack", flaky)
    summary = run_sweep(spec, tmp_path / "out", workers=1, chunk_size=2)
    assert summary.failed_sets == 1 and summary.runs == 10
    assert 3 not in set(read_runs(tmp_path / "out").column("sample").to_pylist())
    lines = (tmp_path / "out" / store.FAILURES).read_text().splitlines()
    failure = json.loads(lines[0])
    assert failure["sample"] == 3
    assert failure["params"]["capability.distill_efficiency"] == bad[0]
    assert failure["error"] == "FloatingPointError: injected failure"


def test_resume_refuses_a_different_spec(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    first = write_spec(tmp_path, samples=2, replicates=1)
    assert main(["sweep", str(first), "--out", str(out), "--workers", "1"]) == 0
    other = write_spec(tmp_path, samples=3, replicates=1, name="other")
    before = (out / store.RUNS).read_bytes()
    capsys.readouterr()
    assert main(["sweep", str(other), "--out", str(out), "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "holds a sweep of a different spec" in err
    assert (out / store.RUNS).read_bytes() == before


def test_resume_after_kill_9_finishes_only_missing_chunks(tmp_path: Path) -> None:
    spec_path = write_spec(tmp_path, samples=24, replicates=2, end="2027-03")
    spec = load_spec(spec_path)
    reference = tmp_path / "reference"
    run_sweep(spec, reference, workers=1, chunk_size=5)

    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "sim", "sweep", str(spec_path), "--out", str(out),
           "--workers", "1", "--chunk-size", "2"]
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while not store.completed_chunks(out) and time.monotonic() < deadline:
        assert proc.poll() is None, "sweep ended before it could be killed"
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = store.completed_chunks(out)
    assert 0 < len(done) < 12, "kill the sweep part-way"
    assert not (out / store.RUNS).exists()
    for first, last in done:  # every chunk on disk is complete and readable
        assert pq.read_table(store.chunk_path(out, first, last)).num_rows == 2 * (last - first + 1)
    mtimes = {r: store.chunk_path(out, *r).stat().st_mtime_ns for r in done}

    # Resume with a different chunk size: only missing samples are run.
    assert main(["sweep", str(spec_path), "--out", str(out), "--workers", "1",
                 "--chunk-size", "3"]) == 0
    for r, mtime in mtimes.items():
        assert store.chunk_path(out, *r).stat().st_mtime_ns == mtime
    assert_bit_identical(read_runs(reference), read_runs(out))
    assert json.loads((out / store.MANIFEST).read_text())["status"] == "complete"


@pytest.mark.parametrize("path", sorted((REPO / "experiments" / "sweeps").glob("*.toml")),
                         ids=lambda p: p.name)
def test_example_specs_are_valid(path: Path) -> None:
    spec = load_spec(path)
    assert len(design_values(spec)) == spec.samples
