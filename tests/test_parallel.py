"""Work spread over processes (``sim.parallel``) and the command line's batches: results in
order and identical, bit for bit, whatever the number of processes."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sim.cli.common import MIN_RUNS_PER_PROCESS, plan_batches
from sim.cli.main import main
from sim.inputs.scenario import scenarios_dir
from sim.parallel import fork_available, ordered_map, shared_jobs

needs_fork = pytest.mark.skipif(not fork_available(), reason="worker processes need fork")


def _square_and_pid(x: int) -> tuple[int, int]:
    return x * x, os.getpid()


@needs_fork
def test_ordered_map_keeps_item_order_across_processes() -> None:
    got = list(ordered_map(_square_and_pid, list(range(40)), processes=2, ahead=3))
    assert [v for v, _ in got] == [x * x for x in range(40)]
    assert os.getpid() not in {pid for _, pid in got}  # computed in workers


def test_ordered_map_in_process() -> None:
    waited = []
    got = list(ordered_map(_square_and_pid, [3, 1, 2], processes=1,
                           while_waiting=lambda: waited.append(1)))
    assert got == [(9, os.getpid()), (1, os.getpid()), (4, os.getpid())]
    assert waited == [1]


@needs_fork
def test_shared_jobs_run_each_job_once(tmp_path: Path) -> None:
    def job(i: int):
        def write() -> None:
            with open(tmp_path / f"{i}.txt", "x") as f:  # "x": fails if written twice
                f.write(str(os.getpid()))
        return write

    before = []
    shared_jobs([job(i) for i in range(8)], processes=2, before=lambda: before.append(1))
    assert sorted(int(p.stem) for p in tmp_path.iterdir()) == list(range(8))
    assert before == [1]


@needs_fork
def test_shared_jobs_report_a_helper_failure(tmp_path: Path) -> None:
    marker = tmp_path / "helper-started"
    parent = os.getpid()

    def job() -> None:
        if os.getpid() != parent:
            marker.touch()
            raise ValueError("boom in the helper")
        for _ in range(3000):  # hold this process's job until the helper has taken the other
            if marker.exists():
                return
            time.sleep(0.01)

    with pytest.raises(RuntimeError, match="ValueError: boom in the helper"):
        shared_jobs([job, job], processes=2)


@pytest.mark.parametrize("runs,batch,processes,align", [
    (1000, 200, 2, 200), (1000, 200, 2, 1), (450, 70, 2, 200), (3, 200, 2, 1), (10, 4, 1, 1),
    (10_000, 200, 2, 200), (250, 200, 2, 1), (41, 200, 2, 1),
])
def test_plan_batches_cover_every_run_once(runs: int, batch: int, processes: int,
                                           align: int) -> None:
    plan = plan_batches(runs, batch, processes, align=align)
    assert [r for s in plan for r in range(s.start, s.stop)] == list(range(runs))
    if align > 1:
        assert all(s.start % align == 0 for s in plan)
    else:
        assert all(s.stop - s.start <= batch for s in plan)
        if runs >= processes * MIN_RUNS_PER_PROCESS:
            assert len(plan) % processes == 0  # every process has the same number


def _run_dir(tmp_path: Path, name: str, *extra: str) -> Path:
    scen = tmp_path / "small.toml"
    if not scen.exists():
        scen.write_text(f'extends = "{scenarios_dir() / "baseline.toml"}"\nname = "small"\n\n'
                        '[time]\nend = "2026-09"\n\n[population]\nbuyers_per_segment = 4\n',
                        encoding="utf-8")
    out = tmp_path / name
    assert main(["run", str(scen), "--runs", "450", "--seed", "3", "--out", str(out),
                 "--no-plots", *extra]) == 0
    return out


@needs_fork
def test_run_outputs_identical_whatever_the_processes(tmp_path: Path, capsys) -> None:
    one = _run_dir(tmp_path, "one", "--processes", "1")
    two = _run_dir(tmp_path, "two", "--processes", "2", "--batch-size", "70")
    assert pq.read_table(one / "results.parquet").equals(pq.read_table(two / "results.parquet"))
    assert (one / "events.csv").read_text() == (two / "events.csv").read_text()
    printed = capsys.readouterr().out
    assert f"wrote {two / 'results.parquet'}" in printed  # each file as it is written


def test_batches_smaller_than_a_tidy_chunk_are_joined_into_whole_chunks(
        small_scenario, seeds, monkeypatch) -> None:
    """``in_tidy_chunks`` joins consecutive batches until they end on a chunk's edge: the
    parts it yields hold whole chunks (the last the rest), in run order, with the arrays of
    one batch of every run."""
    import numpy as np

    from sim.core.engine import simulate
    from sim.report import outputs

    monkeypatch.setattr(outputs, "TIDY_CHUNK_RUNS", 2)
    whole = simulate(small_scenario, n_runs=5, seed=9, seeds=seeds)
    batches = [outputs.select_runs(whole, slice(lo, lo + 1)) for lo in range(5)]
    parts = list(outputs.in_tidy_chunks(iter(batches)))
    assert [p.n_runs for p in parts] == [2, 2, 1]
    joined = outputs.concat_results(parts)
    assert np.array_equal(joined.run_ids, whole.run_ids)
    for name, values in whole.arrays.items():
        assert np.array_equal(joined.arrays[name], values, equal_nan=True), name
