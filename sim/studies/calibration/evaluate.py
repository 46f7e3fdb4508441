"""Simulating many parameter sets at once: one engine batch per chunk, chunks over processes.

A batch of ``B`` parameter sets (each one simulation: one run) is split into ``processes``
contiguous chunks; each chunk is one engine batch in which set ``i`` is a run with its own
``(runs, 1)`` parameter values (:mod:`sim.core.stacking`: every calibrated parameter
is batchable) and its own run id, so its random numbers are fresh and its numbers are bit for
bit those of a batch holding it alone. Results therefore never depend on the batch size, the
chunking or the number of processes.

The worker processes are forked once (:class:`Evaluator` is a context manager) after the
compiled kernels have been loaded here, so each worker starts with the engine in memory;
where fork is unavailable everything runs in this process.
"""

from __future__ import annotations

import multiprocessing
import sys
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from sim.core.engine import Results, simulate_world
from sim.core.stacking import concat_states, stacked_world
from sim.core.world import build_world, initial_state
from sim.inputs.scenario import Scenario
from sim.inputs.seeds import Seeds, load_seeds
from sim.parallel import fork_available
from sim.studies.calibration.data import Statistic, simulated
from sim.studies.calibration.spec import CalibrationSpec

#: Statistics of one chunk, computed in a worker (set before the workers are forked).
_current: Evaluator | None = None


def _chunk_in_worker(job: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
    assert _current is not None
    return _current.simulate_chunk(*job)


class Evaluator:
    """``evaluator(values, run_ids) -> (B, S)``: the statistics of ``B`` parameter sets
    (``values`` (B, P) in the spec's parameter order, schema units), set ``i`` simulated as
    run ``run_ids[i]`` under the spec's seed."""

    def __init__(self, spec: CalibrationSpec, stats: tuple[Statistic, ...], *,
                 processes: int = 1, seeds: Seeds | None = None) -> None:
        self.spec, self.stats = spec, stats
        self.seeds = seeds or load_seeds(start=spec.scenario.time.start)
        self.processes = max(1, processes) if fork_available() else 1
        self.pool: ProcessPoolExecutor | None = None
        self.evaluations = 0

    # -- one engine batch
    def simulate_chunk(self, values: np.ndarray, run_ids: np.ndarray) -> np.ndarray:
        results = simulate_values(self.spec.scenario, self.spec.names, values, run_ids,
                                  seed=self.spec.seed, seeds=self.seeds)
        return simulated(results, self.stats)

    def __call__(self, values: np.ndarray, run_ids: np.ndarray) -> np.ndarray:
        values = np.atleast_2d(np.asarray(values, float))
        self.evaluations += len(values)
        if self.pool is None or len(values) < 2:
            return self.simulate_chunk(values, run_ids)
        parts = np.array_split(np.arange(len(values)), min(self.processes, len(values)))
        jobs = [(values[p], np.asarray(run_ids)[p]) for p in parts]
        return np.concatenate(list(self.pool.map(_chunk_in_worker, jobs)), axis=0)

    # -- the worker processes
    def __enter__(self) -> Evaluator:
        global _current
        # Load (or compile) the engine's kernels here, once, before any fork: two sets, so
        # that the per-run (stacked) variants are compiled too.
        bounds = np.array([[p.lower for p in self.spec.priors],
                           [p.upper for p in self.spec.priors]])
        self.simulate_chunk(bounds, np.array([0, 1]))
        if self.processes > 1:
            _current = self
            for stream in (sys.stdout, sys.stderr):
                stream.flush()
            self.pool = ProcessPoolExecutor(max_workers=self.processes,
                                            mp_context=multiprocessing.get_context("fork"))
        return self

    def __exit__(self, *exc: Any) -> None:
        global _current
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None
        _current = None


def simulate_values(scenario: Scenario, names: Sequence[str], values: np.ndarray,
                    run_ids: np.ndarray, *, seed: int, seeds: Seeds) -> Results:
    """One engine batch: run ``i`` is ``scenario`` with parameters ``names`` set to
    ``values[i]`` (schema units; all batchable), simulated as run ``run_ids[i]``."""
    scenarios = [scenario.with_overrides(dict(zip(names, map(float, row), strict=True)))
                 for row in np.atleast_2d(values)]
    worlds = [build_world(s, seeds) for s in scenarios]
    world = stacked_world(worlds, 1)
    state = concat_states([initial_state(w, seeds, 1) for w in worlds])
    return simulate_world(scenarios[0], world, seeds=seeds, seed=seed,
                          run_ids=np.asarray(run_ids, np.int64), state=state)
