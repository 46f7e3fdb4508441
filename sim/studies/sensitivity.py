"""Sobol sensitivity indices of sweep outcomes, with bootstrap confidence intervals.

For ``d`` parameters and a base sample size ``n`` (a power of 2), two ``(d, n)`` matrices
``A`` and ``B`` come from one scrambled Sobol sequence in ``[0, 1)^(2d)`` seeded by the
spec's seed, and ``AB_i`` is ``A`` with row ``i`` taken from ``B`` (Saltelli 2010). Each of
the ``n (d + 2)`` columns is mapped to parameter values by their quantile functions
(:meth:`sim.studies.sweeps.spec.Parameter.value`) and evaluated by the sweep machinery
(chunks on the
chosen backend); the model output of a parameter set is the **mean of each outcome over the
spec's replicates**, whose random numbers are shared by every parameter set (replicate j is
engine run j under the spec's seed), so the model seen by the estimator is deterministic.
``scipy.stats.sobol_indices`` then gives, per outcome and parameter,

* the first-order index ``S_i = V[E(Y | X_i)] / V(Y)``: the share of the outcome's variance
  explained by ``X_i`` alone;
* the total index ``ST_i = E[V(Y | X_~i)] / V(Y)``: the share involving ``X_i`` at all
  (``ST_i - S_i`` measures its interactions).

Confidence intervals are percentile bootstrap intervals over the ``n`` base rows, resampled
with a generator seeded by the spec's seed (``SobolResult.bootstrap`` draws unseeded
resamples, so its intervals would change from one call to the next).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from scipy.stats import qmc, sobol_indices  # noqa: E402

from sim.report.outputs import atomic_path, write_text_atomic  # noqa: E402
from sim.studies.sweeps import SweepError  # noqa: E402
from sim.studies.sweeps.backends import execute  # noqa: E402
from sim.studies.sweeps.design import rng_kwarg  # noqa: E402
from sim.studies.sweeps.run import SweepProgress, default_chunk_size, plan_jobs  # noqa: E402
from sim.studies.sweeps.spec import SweepSpec  # noqa: E402

CONFIDENCE = 0.95
CSV_FILE, PLOT_FILE, JSON_FILE = "sensitivity.csv", "sensitivity.png", "sensitivity.json"


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
                    stream: Any = None) -> np.ndarray:
    """(m, outcomes) mean over replicates of each outcome for each parameter set."""
    m = len(values)
    out = np.full((m, len(spec.outcomes)), np.nan)
    sized = SweepSpec(spec.source, spec.name, spec.base, spec.design, m, spec.replicates,
                      spec.seed, spec.parameters, spec.outcomes)
    size = chunk_size or default_chunk_size(sized, workers)
    progress = SweepProgress(m * spec.replicates, 0, f"{spec.name} (sobol):", stream)
    inline = backend == "local" and workers == 1
    jobs: Any = plan_jobs(sized, values, range(m), size)
    for result in execute(jobs, backend=backend, workers=workers, scheduler=scheduler,
                          tick=progress.advance if inline else None):
        if result.failures:
            f = result.failures[0]
            raise SweepError(f"{spec.source}: parameter set {f['params']} failed: {f['error']}")
        samples = result.columns["sample"]
        for k, o in enumerate(spec.outcomes):
            x = result.columns[o.label].reshape(-1, spec.replicates)
            with np.errstate(all="ignore"):
                out[samples[::spec.replicates], k] = np.nanmean(x, axis=1)
        if not inline:
            progress.advance(result.n_runs)
    progress.finish()
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
                    n_bootstrap: int = 200, stream: Any = None) -> SobolIndices:
    d = len(spec.parameters)
    points = saltelli_points(d, n, spec.seed)
    values = [tuple(p.value(float(u)) for p, u in zip(spec.parameters, row, strict=True))
              for row in points]
    y = evaluate_points(spec, values, backend=backend, workers=workers, scheduler=scheduler,
                        chunk_size=chunk_size, stream=stream)
    first, total, first_ci, total_ci = sobol_from_outputs(y, n, d, n_bootstrap, spec.seed)
    return SobolIndices(tuple(o.label for o in spec.outcomes), spec.paths, first, total,
                        first_ci, total_ci, n, len(values) * spec.replicates)


def plot_indices(ix: SobolIndices, path: Path, title: str) -> None:
    """Horizontal bars of first-order and total indices per parameter, one panel per
    outcome, with the bootstrap intervals as whiskers."""
    n_out, d = len(ix.outcomes), len(ix.parameters)
    fig, axes = plt.subplots(1, n_out, figsize=(4.2 * n_out + 2.5, 0.55 * d + 1.8),
                             sharey=True, squeeze=False)
    y = np.arange(d)
    h = 0.38
    for k, ax in enumerate(axes[0]):
        for off, vals, ci, label, color in (
                (-h / 2, ix.first[k], ix.first_ci[:, k], "first-order S1", "tab:blue"),
                (h / 2, ix.total[k], ix.total_ci[:, k], "total ST", "tab:orange")):
            err = np.abs(np.stack([vals - ci[0], ci[1] - vals]))
            ax.barh(y + off, vals, height=h, color=color, label=label,
                    xerr=err, capsize=3, error_kw={"elinewidth": 1})
        ax.axvline(0, color="black", linewidth=0.6)
        ax.set_title(ix.outcomes[k], fontsize=10)
        ax.set_xlabel("Sobol index (share of outcome variance)")
        ax.grid(axis="x", alpha=0.3)
    axes[0][0].set_yticks(y, list(ix.parameters))
    axes[0][0].invert_yaxis()
    axes[0][0].legend(loc="lower right", fontsize=8)
    fig.suptitle(f"{title}: Sobol indices, {int(CONFIDENCE * 100)}% bootstrap intervals "
                 f"(n={ix.n}, {ix.evaluations:,} runs)", fontsize=11)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=130)
    plt.close(fig)


def format_report(ix: SobolIndices) -> str:
    width = max(len(p) for p in ix.parameters)
    lines = []
    for k, label in enumerate(ix.outcomes):
        lines.append(f"{label}: Sobol indices [{int(CONFIDENCE * 100)}% bootstrap interval]")
        lines.append(f"  {'parameter'.ljust(width)}  {'first-order S1':>24}  "
                     f"{'total ST':>24}")
        for i, p in enumerate(ix.parameters):
            s1 = f"{ix.first[k, i]:.3f} [{ix.first_ci[0, k, i]:.3f}, {ix.first_ci[1, k, i]:.3f}]"
            st = f"{ix.total[k, i]:.3f} [{ix.total_ci[0, k, i]:.3f}, {ix.total_ci[1, k, i]:.3f}]"
            lines.append(f"  {p.ljust(width)}  {s1:>24}  {st:>24}")
    return "\n".join(lines)


def _csv(ix: SobolIndices) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["outcome", "parameter", "first_order", "first_low", "first_high",
                "total_order", "total_low", "total_high"])
    for k, label in enumerate(ix.outcomes):
        for i, p in enumerate(ix.parameters):
            w.writerow([label, p, *(f"{v:.6g}" for v in (
                ix.first[k, i], ix.first_ci[0, k, i], ix.first_ci[1, k, i],
                ix.total[k, i], ix.total_ci[0, k, i], ix.total_ci[1, k, i]))])
    return buf.getvalue()


def run_sensitivity(spec: SweepSpec, *, n: int, out: Path, backend: str = "local",
                    workers: int = 1, scheduler: str | None = None,
                    chunk_size: int | None = None, n_bootstrap: int = 200) -> str:
    """Compute, write (CSV, JSON, PNG into ``out``) and return the printed report."""
    d = len(spec.parameters)
    sys.stderr.write(f"{spec.name}: {n} x ({d} + 2) = {n * (d + 2)} parameter sets x "
                     f"{spec.replicates} replicates\n")
    ix = compute_indices(spec, n, backend=backend, workers=workers, scheduler=scheduler,
                         chunk_size=chunk_size, n_bootstrap=n_bootstrap)
    write_text_atomic(out / CSV_FILE, _csv(ix))
    write_text_atomic(out / JSON_FILE, json.dumps({
        "spec_file": spec.source, "spec_digest": spec.digest(), "n": n,
        "replicates": spec.replicates, "seed": spec.seed, "runs": ix.evaluations,
        "bootstrap": n_bootstrap, "confidence": CONFIDENCE, "method": "saltelli_2010",
        "outcomes": list(ix.outcomes), "parameters": list(ix.parameters),
        "first_order": ix.first.tolist(), "total_order": ix.total.tolist(),
        "first_ci": ix.first_ci.tolist(), "total_ci": ix.total_ci.tolist(),
    }, indent=2) + "\n")
    plot_indices(ix, out / PLOT_FILE, spec.name)
    return (format_report(ix) + f"\nwrote {out / CSV_FILE}, {out / JSON_FILE}, "
            f"{out / PLOT_FILE}")
