"""Run a sweep: plan the chunks still missing from OUT, run them, then write the tables.

Running the same command again after an interruption (Ctrl-C, ``kill -9``, a crash) finds
the complete chunks on disk, runs only the parameter sets they do not cover, and writes the
same final tables as an uninterrupted sweep: runs depend only on (spec, sample, replicate),
never on which invocation or worker ran them.

The folder is locked for the whole sweep (a second sweep into it is refused in one line).
A sweep that fails before its first chunk is stored (a scheduler that cannot be reached, a
bad backend) leaves nothing behind in a folder it started: no manifest, design or chunks.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from sim.files import folder_locked
from sim.studies.sweeps import store
from sim.studies.sweeps.backends import execute
from sim.studies.sweeps.chunks import ChunkJob
from sim.studies.sweeps.design import design_values
from sim.studies.sweeps.fork_server import start_workers
from sim.studies.sweeps.spec import SweepSpec

#: Runs per chunk when not given: big enough to amortise a task's overhead, small enough
#: that an interruption loses little and workers stay balanced.
TARGET_CHUNK_RUNS = 200


def default_chunk_size(spec: SweepSpec, workers: int) -> int:
    """Parameter sets per chunk: ~TARGET_CHUNK_RUNS runs, and at least 4 chunks a worker."""
    by_runs = max(1, TARGET_CHUNK_RUNS // spec.replicates)
    by_balance = max(1, spec.samples // (4 * max(workers, 1)))
    return max(1, min(by_runs, by_balance))


def missing_samples(n_samples: int, done: Sequence[tuple[int, int]]) -> list[int]:
    covered = bytearray(n_samples)
    for first, last in done:
        covered[first:last + 1] = b"\x01" * (last + 1 - first)
    return [i for i in range(n_samples) if not covered[i]]


def plan_jobs(spec: SweepSpec, design: Sequence[tuple[Any, ...]], samples: Sequence[int],
              chunk_size: int) -> Iterator[ChunkJob]:
    """Chunks of up to ``chunk_size`` consecutive missing samples (a gap starts a new
    chunk, so a chunk file always names a contiguous range)."""
    group: list[int] = []
    for i in samples:
        if group and (i != group[-1] + 1 or len(group) == chunk_size):
            yield _job(spec, design, group)
            group = []
        group.append(i)
    if group:
        yield _job(spec, design, group)


def _job(spec: SweepSpec, design: Sequence[tuple[Any, ...]], group: list[int]) -> ChunkJob:
    return ChunkJob(base=spec.base, paths=spec.paths, samples=tuple(group),
                    values=tuple(design[i] for i in group), replicates=spec.replicates,
                    seed=spec.seed, outcomes=spec.outcomes, bases=spec.bases)


class RunCounter:
    """Counts runs done and passes ``(done, total)`` on to a progress callback."""

    def __init__(self, total: int, done: int,
                 progress: Callable[[float, int], Any] | None) -> None:
        self.total, self.done, self.progress = total, done, progress
        if progress is not None:
            progress(done, total)

    def advance(self, runs: int) -> None:
        self.done += runs
        if self.progress is not None:
            self.progress(self.done, self.total)


@dataclass(frozen=True)
class SweepSummary:
    out: Path
    runs: int
    failed_sets: int
    resumed_chunks: int
    new_chunks: int
    seconds: float
    worker_peak_bytes: int  # largest peak resident set of a process that ran chunks
    cpu_seconds: float  # CPU time spent in the chunks run by this invocation


def run_sweep(spec: SweepSpec, out: Path, *, backend: str = "local", workers: int = 1,
              scheduler: str | None = None, chunk_size: int | None = None,
              stream: IO[str] | None = None,
              progress: Callable[[float, int], Any] | None = None,
              on_chunk: Callable[[Path], Any] | None = None,
              force: bool = False) -> SweepSummary:
    """Run (or finish) ``spec`` into ``out``; see the module docstring.

    ``progress(done, total)`` is called with the runs done (those of earlier invocations
    included) as chunks or parameter sets finish; ``stream`` (default stderr) gets the
    one-line note that a sweep is being resumed. ``force``: replace another spec's sweep
    (or sweep files without a manifest) in ``out`` instead of refusing."""
    out.mkdir(parents=True, exist_ok=True)
    with folder_locked(out):
        return _run_locked(spec, out, backend=backend, workers=workers, scheduler=scheduler,
                           chunk_size=chunk_size, stream=stream, progress=progress,
                           on_chunk=on_chunk, force=force)


def _run_locked(spec: SweepSpec, out: Path, *, backend: str, workers: int,
                scheduler: str | None, chunk_size: int | None, stream: IO[str] | None,
                progress: Callable[[float, int], Any] | None,
                on_chunk: Callable[[Path], Any] | None, force: bool) -> SweepSummary:
    t0 = time.monotonic()
    resuming = store.check_resumable(out, spec, force=force)
    store.remove_stray_temporaries(out)
    start_workers(backend, workers)  # their start-up overlaps the design's
    design = design_values(spec)
    (out / store.CHUNKS).mkdir(exist_ok=True)
    if not resuming:
        store.write_table_atomic(out / store.DESIGN, store.design_table(spec, design))
    store.write_manifest(out, store.manifest_data(spec, "running"))
    try:
        return _execute(spec, out, design, t0, backend=backend, workers=workers,
                        scheduler=scheduler, chunk_size=chunk_size, stream=stream,
                        progress=progress, on_chunk=on_chunk)
    except BaseException:
        if not resuming and not store.completed_chunks(out):
            store.clear_sweep(out)  # a failed start leaves nothing behind
        raise


def _execute(spec: SweepSpec, out: Path, design: Sequence[tuple[Any, ...]], t0: float, *,
             backend: str, workers: int, scheduler: str | None, chunk_size: int | None,
             stream: IO[str] | None, progress: Callable[[float, int], Any] | None,
             on_chunk: Callable[[Path], Any] | None) -> SweepSummary:
    done = store.completed_chunks(out)
    todo = missing_samples(spec.samples, done)
    size = chunk_size or default_chunk_size(spec, workers)
    tick = RunCounter(spec.n_runs, (spec.samples - len(todo)) * spec.replicates, progress)
    if done and todo:
        (stream or sys.stderr).write(f"resuming: {len(done)} chunks done, {len(todo)} of "
                                     f"{spec.samples} parameter sets to go\n")
    # In-process chunks report each parameter set; pooled ones report when they finish.
    inline = backend == "local" and workers == 1
    new_chunks = worker_peak = 0
    cpu = 0.0
    for result in execute(plan_jobs(spec, design, todo, size), backend=backend,
                          workers=workers, scheduler=scheduler,
                          tick=tick.advance if inline else None):
        store.write_chunk(out, spec, design, result)
        new_chunks += 1
        worker_peak = max(worker_peak, result.worker_peak_bytes)
        cpu += result.cpu_seconds
        if not inline:
            tick.advance(result.n_runs)
        if on_chunk is not None:
            on_chunk(store.chunk_path(out, result.first, result.last))
    ranges = store.completed_chunks(out)
    n_runs, n_failed = store.consolidate(out, spec, design, ranges)
    store.write_manifest(out, store.manifest_data(
        spec, "complete", files=[store.MANIFEST, store.DESIGN, store.RUNS, store.FAILURES],
        runs_written=n_runs, failed_parameter_sets=n_failed,
        worker_peak_rss_bytes=worker_peak or None))
    return SweepSummary(out, n_runs, n_failed, len(done), new_chunks, time.monotonic() - t0,
                        worker_peak, cpu)
