"""One chunk of a sweep: a few parameter sets x replicates, simulated in stacked batches.

Seeds (common random numbers): replicate ``j`` of *every* parameter set is run ``j`` of
``simulate(scenario_i, seed=sweep_seed)``, so a run's randomness depends only on
(sweep seed, j) and its numbers only on (parameter set i, sweep seed, j). Two parameter sets
therefore differ only by their parameters, not by luck, which sharpens comparisons and
sensitivity indices; and since the engine gives a run the same numbers in any batch, the
results do not depend on how samples are grouped into chunks, on the backend or on the
number of workers.

Parameter sets that share a world are simulated together in one engine batch
(:mod:`sim.studies.sweeps.stacked`), with the same numbers as separate simulations.

A parameter set whose simulation raises is recorded as a failure (its values and the error)
and the chunk goes on with the next one.
"""

from __future__ import annotations

import functools
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sim.core.world import build_world
from sim.inputs.scenario import Scenario
from sim.inputs.seeds import Seeds, load_seeds
from sim.measures.outcomes import evaluate
from sim.measures.registry import Measure
from sim.studies.sweeps.spec import scenario_for
from sim.studies.sweeps.stacked import group_by_world, simulate_stack

#: Most runs simulated in one engine batch: large enough that numpy's per-call overhead is
#: spread over many runs, small enough to keep a batch's arrays to tens of MB.
STACK_RUNS = 200


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
    outcomes: tuple[Measure, ...]
    #: When scenarios are a factor: each choice's scenario (``SweepSpec.bases``).
    bases: tuple[tuple[str, Scenario], ...] = ()

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
    cpu_seconds: float = 0.0  # CPU time the chunk took in its process


@functools.lru_cache(maxsize=4)
def worker_seeds(start: str, own: str | None) -> Seeds:
    """The seeds of a sweep starting in ``start`` (with its ``own`` overlay folder, if any):
    loaded once per worker process and reused by every chunk it runs."""
    return load_seeds(start=start, overlay=None if own is None else Path(own))


def _failure(sample: int, job: ChunkJob, values: tuple[Any, ...],
             exc: Exception) -> dict[str, Any]:
    return {
        "sample": sample,
        "params": dict(zip(job.paths, values, strict=True)),
        "error": f"{type(exc).__name__}: {exc}",
        "where": "".join(traceback.format_exception(exc)[-2:]).strip(),
    }


def _outcomes_of_stack(job: ChunkJob, scenarios: list[Scenario], worlds: list[Any],
                       seeds: Seeds) -> list[np.ndarray]:
    """(replicates, outcomes) per set of one stack. A single set with more than
    ``STACK_RUNS`` replicates runs in blocks of replicates (same numbers, bounded memory)."""
    reps = job.replicates
    if len(worlds) == 1 and reps > STACK_RUNS:
        blocks = []
        for lo in range(0, reps, STACK_RUNS):
            n = min(STACK_RUNS, reps - lo)
            results = simulate_stack(scenarios, worlds, n, job.seed, seeds, first_replicate=lo)
            out = evaluate(results, job.outcomes)
            blocks.append(np.stack([out[o.label] for o in job.outcomes], axis=1))
        return [np.concatenate(blocks)]
    results = simulate_stack(scenarios, worlds, reps, job.seed, seeds)
    out = evaluate(results, job.outcomes)
    matrix = np.stack([out[o.label] for o in job.outcomes], axis=1)
    return [matrix[i * reps:(i + 1) * reps] for i in range(len(worlds))]


def run_chunk(job: ChunkJob,
              tick: Callable[[int], Any] | None = None) -> ChunkResult:
    """Simulate every parameter set of ``job``, stacking sets that share a world into
    batches of about ``STACK_RUNS`` runs; ``tick(runs)`` after each batch. A batch that
    raises is re-run set by set, so only the failing sets are lost."""
    cpu0 = time.process_time()
    seeds = worker_seeds(job.base.time.start, job.base.seeds)
    failures: list[dict[str, Any]] = []
    valid: list[tuple[int, tuple[Any, ...], Scenario, Any]] = []
    for sample, values in zip(job.samples, job.values, strict=True):
        try:
            scenario = scenario_for(job.base, job.bases, job.paths, values)
            valid.append((sample, values, scenario, build_world(scenario, seeds)))
        except Exception as exc:  # one bad parameter set must not stop a sweep
            failures.append(_failure(sample, job, values, exc))
    if tick is not None and len(valid) < len(job.samples):
        tick((len(job.samples) - len(valid)) * job.replicates)
    per_set: dict[int, np.ndarray] = {}
    max_sets = max(1, STACK_RUNS // job.replicates)
    for group in group_by_world([v[3] for v in valid], max_sets):
        members = [valid[i] for i in group]
        try:
            mats = _outcomes_of_stack(job, [m[2] for m in members], [m[3] for m in members],
                                      seeds)
            per_set.update({m[0]: mat for m, mat in zip(members, mats, strict=True)})
        except Exception:  # find the culprit: run the group's sets one at a time
            for sample, values, scenario, world in members:
                try:
                    per_set[sample] = _outcomes_of_stack(job, [scenario], [world], seeds)[0]
                except Exception as exc:  # one bad parameter set must not stop a sweep
                    failures.append(_failure(sample, job, values, exc))
        if tick is not None:
            tick(len(members) * job.replicates)
    done = sorted(per_set)
    n_out = len(job.outcomes)
    reps = np.arange(job.replicates, dtype=np.int64)
    samples = np.repeat(np.asarray(done, dtype=np.int64), job.replicates)
    replicates = np.tile(reps, len(done))
    matrix = np.concatenate([per_set[i] for i in done]) if done else np.zeros((0, n_out))
    columns = {"sample": samples, "replicate": replicates}
    columns.update({o.label: matrix[:, k].copy() for k, o in enumerate(job.outcomes)})
    failures.sort(key=lambda f: f["sample"])
    return ChunkResult(job.first, job.last, job.n_runs, columns, failures, peak_rss_bytes(),
                       time.process_time() - cpu0)


def peak_rss_bytes() -> int:
    """Peak resident set of this process so far, in bytes (0 where unknown)."""
    try:
        import resource
    except ImportError:  # not on POSIX
        return 0
    scale = 1 if sys.platform == "darwin" else 1024  # Linux reports KiB, macOS bytes
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale
