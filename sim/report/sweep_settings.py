"""A grid sweep's results per parameter setting: a table and a figure.

A sweep's ``runs.parquet`` pools every run; a grid design asks "what happens at each
setting", so :func:`settings_table` summarises the replicates of each parameter set (one row
per setting: its parameter values, then per outcome the mean, 10%, 50% and 90% quantiles
over replicates and the number of finite values) and :func:`settings_figure` draws each
outcome's mean against the first parameter (10-90% band), one line per combination of the
other parameters. ``opengap sweep`` writes both (``settings.csv``, ``settings.png``) for
grid designs.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from sim.files import atomic_path

if TYPE_CHECKING:
    from sim.studies.sweeps.spec import SweepSpec

SETTINGS_CSV = "settings.csv"
SETTINGS_PNG = "settings.png"
STATS = ("mean", "p10", "p50", "p90", "n")


def settings_table(runs: pa.Table, spec: SweepSpec) -> pa.Table:
    """One row per parameter set present in ``runs`` (runs.parquet), in sample order:
    ``sample``, the parameters, then ``<outcome>:<stat>`` for each stat of :data:`STATS`
    (quantiles over the set's replicates, NaN left out; units as the outcome's)."""
    samples = runs.column("sample").to_numpy()
    order = np.argsort(samples, kind="stable")
    samples = samples[order]
    cuts = np.flatnonzero(np.diff(samples)) + 1
    starts = np.concatenate([[0], cuts]).astype(int)
    columns: dict[str, Any] = {"sample": pa.array(samples[starts], pa.int64())}
    for p in spec.parameters:
        values = runs.column(p.path).take(pa.array(order[starts]))
        columns[p.path] = values
    for o in spec.outcomes:
        x = runs.column(o.label).to_numpy(zero_copy_only=False)[order]
        groups = np.split(x, cuts)
        stats: dict[str, list[float]] = {s: [] for s in STATS}
        for g in groups:
            g = g[np.isfinite(g)]
            q = np.quantile(g, [0.1, 0.5, 0.9]) if g.size else np.full(3, np.nan)
            stats["mean"].append(float(g.mean()) if g.size else float("nan"))
            stats["p10"].append(float(q[0]))
            stats["p50"].append(float(q[1]))
            stats["p90"].append(float(q[2]))
            stats["n"].append(float(g.size))
        for s in STATS:
            columns[f"{o.label}:{s}"] = pa.array(stats[s], pa.int64() if s == "n" else
                                                 pa.float64())
    return pa.table(columns)


def write_settings_csv(table: pa.Table, path: Path) -> None:
    """The settings table as CSV (written atomically)."""
    import pyarrow.csv as pacsv

    with atomic_path(path) as tmp:
        pacsv.write_csv(table, tmp)


def settings_figure(table: pa.Table, spec: SweepSpec, path: Path) -> None:
    """One panel per outcome: its mean over replicates (10-90% band) against the first
    parameter, one line per combination of the other parameters; PNG at ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sim.report.figures import save_figure

    x_param, others = spec.parameters[0], spec.parameters[1:]
    xs = table.column(x_param.path).to_pylist()
    categorical = any(isinstance(v, str) for v in xs)
    x_levels = list(dict.fromkeys(xs))
    other_values = {p.path: table.column(p.path).to_pylist() for p in others}
    combos = list(itertools.product(*(dict.fromkeys(v) for v in other_values.values())))
    n = len(spec.outcomes)
    cols = min(n, 3)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.8 * rows), squeeze=False)
    for ax, o in zip(axes.flat, spec.outcomes, strict=False):
        for combo in combos:
            mask = [all(other_values[p.path][i] == v for p, v in zip(others, combo, strict=True))
                    for i in range(table.num_rows)]
            idx = [i for i, m in enumerate(mask) if m]
            if not idx:
                continue
            idx.sort(key=lambda i: x_levels.index(xs[i]))
            x = [x_levels.index(xs[i]) if categorical else xs[i] for i in idx]
            col = {s: np.array(table.column(f"{o.label}:{s}").to_pylist(), float)[idx]
                   for s in ("mean", "p10", "p90")}
            label = ", ".join(f"{p.path.rsplit('.', 1)[-1]}={_fmt(v)}"
                              for p, v in zip(others, combo, strict=True)) or "mean"
            line, = ax.plot(x, col["mean"], marker="o", label=label)
            ax.fill_between(x, col["p10"], col["p90"], color=line.get_color(), alpha=0.15)
        if categorical:
            ax.set_xticks(range(len(x_levels)), [str(v) for v in x_levels])
        ax.set_xlabel(x_param.path)
        ax.set_ylabel(f"{o.label} [{o.unit}]", fontsize=8)
        ax.set_title(o.label, fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, title="mean, 10-90% band", title_fontsize=7)
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    months = f"{spec.base.time.start}..{spec.base.time.end}"
    scenarios = (f"scenarios {', '.join(n for n, _ in spec.bases)}" if spec.bases
                 else f"scenario {spec.base.name}")
    fig.suptitle(f"sweep '{spec.name}': outcomes per setting ({spec.replicates} replicates "
                 f"each, {scenarios}, {months})", fontsize=10)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def write_settings(out: Path, spec: SweepSpec, runs_file: Path) -> list[Path]:
    """``settings.csv`` and ``settings.png`` in ``out`` from ``runs_file``; returns them."""
    table = settings_table(pq.read_table(runs_file), spec)
    write_settings_csv(table, out / SETTINGS_CSV)
    settings_figure(table, spec, out / SETTINGS_PNG)
    return [out / SETTINGS_CSV, out / SETTINGS_PNG]


__all__ = ["SETTINGS_CSV", "SETTINGS_PNG", "settings_figure", "settings_table",
           "write_settings", "write_settings_csv"]
