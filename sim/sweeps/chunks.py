"""One chunk of a sweep: a few parameter sets, each simulated as one batch of its replicates.

Seeds (common random numbers): replicate ``j`` of *every* parameter set is run ``j`` of
``simulate(scenario_i, seed=sweep_seed)``, so a run's randomness depends only on
(sweep seed, j) and its numbers only on (parameter set i, sweep seed, j). Two parameter sets
therefore differ only by their parameters, not by luck, which sharpens comparisons and
sensitivity indices; and since the engine gives a run the same numbers in any batch, the
results do not depend on how samples are grouped into chunks, on the backend or on the
number of workers.

A parameter set whose simulation raises is recorded as a failure (its values and the error)
and the chunk goes on with the next one.
"""

from __future__ import annotations

import functools
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.engine import simulate
from sim.outcomes import OutcomeSpec, evaluate
from sim.scenario import Scenario
from sim.seeds import Seeds, load_seeds


@dataclass(frozen=True)
class ChunkJob:
    """Samples ``samples`` (global indices) with parameter ``values`` (one tuple per sample,
    in ``paths`` order) of a sweep over ``base``."""

    base: Scenario
    paths: tuple[str, ...]
    samples: tuple[int, ...]
    values: tuple[tuple[Any, ...], ...]
    replicates: int
    seed: int
    outcomes: tuple[OutcomeSpec, ...]

    @property
    def first(self) -> int:
        return self.samples[0]

    @property
    def last(self) -> int:
        return self.samples[-1]

    @property
    def n_runs(self) -> int:
        return len(self.samples) * self.replicates


@dataclass
class ChunkResult:
    """Outcomes per run (``columns``: sample, replicate, then one float column per outcome,
    rows in (sample, replicate) order) and failed parameter sets."""

    first: int
    last: int
    n_runs: int
    columns: dict[str, np.ndarray]
    failures: list[dict[str, Any]] = field(default_factory=list)
    worker_peak_bytes: int = 0  # peak resident set of the process that ran the chunk


@functools.lru_cache(maxsize=1)
def _seeds() -> Seeds:
    # Loaded once per worker process and reused by every chunk it runs.
    return load_seeds()


def outcome_matrix(base: Scenario, paths: tuple[str, ...], values: tuple[Any, ...],
                   replicates: int, seed: int, outcomes: tuple[OutcomeSpec, ...],
                   seeds: Seeds | None = None) -> dict[str, np.ndarray]:
    """Outcomes ``{label: (replicates,)}`` of one parameter set (raises if it fails)."""
    scenario = base.with_overrides(dict(zip(paths, values, strict=True))) if paths else base
    results = simulate(scenario, n_runs=replicates, seed=seed, first_run=0,
                       seeds=seeds or _seeds())
    return evaluate(results, outcomes)


def run_chunk(job: ChunkJob,
              tick: Callable[[int], Any] | None = None) -> ChunkResult:
    """Simulate every parameter set of ``job``; ``tick(runs)`` after each one."""
    n_out = len(job.outcomes)
    labels = [o.label for o in job.outcomes]
    sample_col, rep_col, out_rows = [], [], []
    failures: list[dict[str, Any]] = []
    reps = np.arange(job.replicates, dtype=np.int64)
    for sample, values in zip(job.samples, job.values, strict=True):
        try:
            out = outcome_matrix(job.base, job.paths, values, job.replicates, job.seed,
                                 job.outcomes)
        except Exception as exc:  # one bad parameter set must not stop a sweep
            failures.append({
                "sample": sample,
                "params": dict(zip(job.paths, values, strict=True)),
                "error": f"{type(exc).__name__}: {exc}",
                "where": "".join(traceback.format_exception(exc)[-2:]).strip(),
            })
        else:
            sample_col.append(np.full(job.replicates, sample, dtype=np.int64))
            rep_col.append(reps)
            out_rows.append(np.stack([out[label] for label in labels], axis=1)
                            if n_out else np.zeros((job.replicates, 0)))
        if tick is not None:
            tick(job.replicates)
    if sample_col:
        samples, replicates = np.concatenate(sample_col), np.concatenate(rep_col)
        matrix = np.concatenate(out_rows)
    else:
        samples = replicates = np.zeros(0, dtype=np.int64)
        matrix = np.zeros((0, n_out))
    columns = {"sample": samples, "replicate": replicates}
    columns.update({label: matrix[:, k].copy() for k, label in enumerate(labels)})
    return ChunkResult(job.first, job.last, job.n_runs, columns, failures, peak_rss_bytes())


def peak_rss_bytes() -> int:
    """Peak resident set of this process so far, in bytes (0 where unknown)."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return 0
    scale = 1 if sys.platform == "darwin" else 1024  # Linux reports KiB, macOS bytes
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale
