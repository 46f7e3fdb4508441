"""Sobol sensitivity indices of sweep outcomes, with bootstrap confidence intervals.

For ``d`` parameters and a base sample size ``n`` (a power of 2), two ``(d, n)`` matrices
``A`` and ``B`` come from one scrambled Sobol sequence in ``[0, 1)^(2d)`` seeded by the
spec's seed, and ``AB_i`` is ``A`` with row ``i`` taken from ``B`` (Saltelli 2010). Each of
the ``n (d + 2)`` columns is mapped to parameter values by their quantile functions
(:meth:`sim.studies.sweeps.spec.Parameter.value`) and evaluated by the sweep machinery
(chunks on the chosen backend); the model output of a parameter set is the **mean of each
outcome over the spec's replicates**, whose random numbers are shared by every parameter
set (replicate j is engine run j under the spec's seed), so the model seen by the estimator
is deterministic.
``scipy.stats.sobol_indices`` then gives, per outcome and parameter,

* the first-order index ``S_i = V[E(Y | X_i)] / V(Y)``: the share of the outcome's variance
  explained by ``X_i`` alone;
* the total index ``ST_i = E[V(Y | X_~i)] / V(Y)``: the share involving ``X_i`` at all
  (``ST_i - S_i`` measures its interactions).

Confidence intervals are percentile bootstrap intervals over the ``n`` base rows, resampled
with a generator seeded by the spec's seed (``SobolResult.bootstrap`` draws unseeded
resamples, so its intervals would change from one call to the next).

The files and the chart are written by :mod:`sim.report.sensitivity`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from scipy.stats import qmc, sobol_indices

from sim.studies.sweeps import SweepError
from sim.studies.sweeps.backends import execute
from sim.studies.sweeps.design import rng_kwarg
from sim.studies.sweeps.run import RunCounter, default_chunk_size, plan_jobs
from sim.studies.sweeps.spec import SweepSpec

#: Confidence of the bootstrap intervals.
CONFIDENCE = 0.95


@dataclass(frozen=True)
class SobolIndices:
    """Indices (outcomes, parameters) with ``CONFIDENCE`` intervals (2, outcomes, params)."""

    outcomes: tuple[str, ...]
    parameters: tuple[str, ...]
    first: np.ndarray
    total: np.ndarray
    first_ci: np.ndarray
    total_ci: np.ndarray
    n: int
    evaluations: int


def saltelli_points(d: int, n: int, seed: int) -> np.ndarray:
    """(n (d + 2), d) unit-cube points: the rows of A, then B, then AB_1 .. AB_d."""
    sobol = qmc.Sobol(d=2 * d, scramble=True, **rng_kwarg(qmc.Sobol, seed))
    u = sobol.random_base2(int(np.log2(n)))
    a, b = u[:, :d], u[:, d:]
    blocks = [a, b]
    for i in range(d):
        ab = a.copy()
        ab[:, i] = b[:, i]
        blocks.append(ab)
    return np.concatenate(blocks)


def evaluate_points(spec: SweepSpec, values: list[tuple[Any, ...]], *, backend: str,
                    workers: int, scheduler: str | None, chunk_size: int | None,
                    progress: Callable[[float, int], Any] | None = None) -> np.ndarray:
    """(m, outcomes) mean over replicates of each outcome for each parameter set."""
    m = len(values)
    out = np.full((m, len(spec.outcomes)), np.nan)
    sized = replace(spec, samples=m)
    size = chunk_size or default_chunk_size(sized, workers)
    tick = RunCounter(m * spec.replicates, 0, progress)
    inline = backend == "local" and workers == 1
    jobs: Any = plan_jobs(sized, values, range(m), size)
    for result in execute(jobs, backend=backend, workers=workers, scheduler=scheduler,
                          tick=tick.advance if inline else None):
        if result.failures:
            f = result.failures[0]
            raise SweepError(f"{spec.source}: parameter set {f['params']} failed: {f['error']}")
        samples = result.columns["sample"]
        for k, o in enumerate(spec.outcomes):
            x = result.columns[o.label].reshape(-1, spec.replicates)
            with np.errstate(all="ignore"):
                out[samples[::spec.replicates], k] = np.nanmean(x, axis=1)
        if not inline:
            tick.advance(result.n_runs)
    for k, o in enumerate(spec.outcomes):
        if np.isnan(out[:, k]).any():
            raise SweepError(f"{spec.source}: outcomes: {o.label} is NaN in every replicate of "
                             "some parameter sets (e.g. a lag when a camp has no model); "
                             "choose another outcome or more replicates")
    return out


def _indices(f_a: np.ndarray, f_b: np.ndarray, f_ab: np.ndarray, n: int,
             s: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    res = sobol_indices(func={"f_A": f_a, "f_B": f_b, "f_AB": f_ab}, n=n)
    return (np.reshape(res.first_order, (s, d)), np.reshape(res.total_order, (s, d)))


def sobol_from_outputs(y: np.ndarray, n: int, d: int, n_bootstrap: int,
                       seed: int) -> tuple[np.ndarray, ...]:
    """Indices and bootstrap intervals from outputs ``y`` (n (d + 2), s) laid out as in
    :func:`saltelli_points`."""
    s = y.shape[1]
    f_a, f_b = y[:n].T.copy(), y[n:2 * n].T.copy()
    f_ab = y[2 * n:].reshape(d, n, s).transpose(0, 2, 1).copy()  # (d, s, n)
    first, total = _indices(f_a, f_b, f_ab, n, s, d)
    rng = np.random.default_rng([seed, 0x50B0])
    boot_first = np.empty((n_bootstrap, s, d))
    boot_total = np.empty((n_bootstrap, s, d))
    for b in range(n_bootstrap):
        idx = rng.integers(0, n, n)
        boot_first[b], boot_total[b] = _indices(f_a[:, idx], f_b[:, idx], f_ab[..., idx],
                                                n, s, d)
    tail = 100 * (1 - CONFIDENCE) / 2
    qs = [tail, 100 - tail]
    return (first, total, np.percentile(boot_first, qs, axis=0),
            np.percentile(boot_total, qs, axis=0))


def compute_indices(spec: SweepSpec, n: int, *, backend: str = "local", workers: int = 1,
                    scheduler: str | None = None, chunk_size: int | None = None,
                    n_bootstrap: int = 200,
                    progress: Callable[[float, int], Any] | None = None) -> SobolIndices:
    d = len(spec.parameters)
    points = saltelli_points(d, n, spec.seed)
    values = [tuple(p.value(float(u)) for p, u in zip(spec.parameters, row, strict=True))
              for row in points]
    y = evaluate_points(spec, values, backend=backend, workers=workers, scheduler=scheduler,
                        chunk_size=chunk_size, progress=progress)
    first, total, first_ci, total_ci = sobol_from_outputs(y, n, d, n_bootstrap, spec.seed)
    return SobolIndices(tuple(o.label for o in spec.outcomes), spec.paths, first, total,
                        first_ci, total_ci, n, len(values) * spec.replicates)
