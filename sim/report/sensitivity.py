"""Sobol sensitivity indices as files: a CSV and a JSON of the indices and intervals, a bar
chart, and the report printed by ``opengap sensitivity`` (indices from
:mod:`sim.studies.sensitivity`)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sim.files import write_text_atomic  # noqa: E402
from sim.report.figures import save_figure  # noqa: E402
from sim.studies.sensitivity import CONFIDENCE, SobolIndices  # noqa: E402
from sim.studies.sweeps.spec import SweepSpec  # noqa: E402

CSV_FILE, PLOT_FILE, JSON_FILE = "sensitivity.csv", "sensitivity.png", "sensitivity.json"


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
    save_figure(fig, path, dpi=130)


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


#: Below this base sample size the bootstrap intervals of Sobol indices are themselves
#: unreliable (Saltelli et al. 2010 use n in the thousands; the bootstrap needs enough
#: distinct points to resample).
MIN_RELIABLE_N = 128
#: An interval wider than this (on the 0..1 scale of an index) is too wide to rank parameters.
MAX_INTERVAL_WIDTH = 0.25


def index_warnings(ix: SobolIndices) -> list[str]:
    """Warnings on the indices: a first-order index above its total index by more than the
    total's interval (impossible for exact indices: the estimates have not converged), and a
    sample too small for the intervals printed."""
    out = []
    for k, label in enumerate(ix.outcomes):
        for i, p in enumerate(ix.parameters):
            if ix.first[k, i] > ix.total_ci[1, k, i]:
                out.append(f"warning: {label}, {p}: first-order S1 {ix.first[k, i]:.3f} "
                           f"exceeds the total ST {ix.total[k, i]:.3f} beyond ST's interval "
                           f"(upper {ix.total_ci[1, k, i]:.3f}); S1 <= ST for exact indices, "
                           "so these estimates have not converged: increase --n")
    widths = np.concatenate([(ix.first_ci[1] - ix.first_ci[0]).ravel(),
                             (ix.total_ci[1] - ix.total_ci[0]).ravel()])
    widest = float(np.nanmax(widths)) if widths.size else 0.0
    if ix.n < MIN_RELIABLE_N or widest > MAX_INTERVAL_WIDTH:
        out.append(f"warning: n = {ix.n} is too small for the intervals printed (widest "
                   f"{widest:.2f} on the 0..1 index scale; bootstrap intervals need "
                   f"n >= {MIN_RELIABLE_N} to be trusted): rerun with a larger --n (a power "
                   "of 2) before ranking parameters")
    return out


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


def write_sensitivity(ix: SobolIndices, spec: SweepSpec, out: Path, *,
                      n_bootstrap: int) -> str:
    """Write the indices (CSV, JSON, PNG into ``out``) and return the printed report."""
    n = ix.n
    write_text_atomic(out / CSV_FILE, _csv(ix))
    write_text_atomic(out / JSON_FILE, json.dumps({
        "spec_file": spec.source, "spec_digest": spec.digest(), "n": n,
        "replicates": spec.replicates, "seed": spec.seed, "runs": ix.evaluations,
        "bootstrap": n_bootstrap, "confidence": CONFIDENCE, "method": "saltelli_2010",
        "outcomes": list(ix.outcomes), "parameters": list(ix.parameters),
        "first_order": ix.first.tolist(), "total_order": ix.total.tolist(),
        "first_ci": ix.first_ci.tolist(), "total_ci": ix.total_ci.tolist(),
        "warnings": index_warnings(ix),
    }, indent=2) + "\n")
    plot_indices(ix, out / PLOT_FILE, spec.name)
    warned = "".join(f"\n{w}" for w in index_warnings(ix))
    return (format_report(ix) + warned + f"\nwrote {out / CSV_FILE}, {out / JSON_FILE}, "
            f"{out / PLOT_FILE}")
