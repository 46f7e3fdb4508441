"""Figures of a counterfactual comparison (:mod:`sim.studies.compare`).

* ``trajectories.png``: one column per scenario, side by side with shared y axes: released
  bench frontiers, gaps behind closed, open-weight token and dollar shares; median over runs
  with a 10-90% band.
* ``delta.png``: the paired difference (alternative minus base, run by run) over time for
  each alternative: median and 5-95% band, with a zero line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from sim.measures import metrics
from sim.measures.registry import measure
from sim.report.figures import (
    BAND,
    CAMP_COLORS,
    CAMP_LABELS,
    PAIR_COLORS,
    PAIR_LABELS,
    add_footnote,
    band_text,
    draw_fan,
    format_time_axis,
    mark_events,
    save_figure,
    simulated_dates,
    wrapped,
)

TRAJECTORIES_FILE, DELTA_FILE = "trajectories.png", "delta.png"
_ALT_COLORS = ("#d62728", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")

#: Rows of delta.png: label, unit shown, scale applied to the delta, registry measure.
_DELTA_ROWS: tuple[tuple[str, str, float, str], ...] = (
    ("gap closed vs best open", "ECI points", 1.0, "gap_points[closed_vs_open]"),
    ("lag closed vs best open", "months", 1.0, "lag_months[closed_vs_open]"),
    ("China open frontier", "ECI points", 1.0, "frontier_open_cn"),
    ("open-weight token share (all segments)", "percentage points", 100.0,
     "token_share[all,open]"),
    ("US share of open-weight tokens", "percentage points", 100.0, "open_usage_share[open_us]"),
)


def _series(name: str, results: Any) -> np.ndarray:
    """(R, T) series of registry measure ``name`` (computed a block of runs at a time)."""
    return measure(name).series_by_runs(results)


def plot_trajectories(worlds: Sequence[Any], path: str | Path) -> Path:
    """Side-by-side fan charts, one column per world (base first)."""
    n = len(worlds)
    fig, axes = plt.subplots(3, n, figsize=(4.2 * n + 0.6, 10.5), sharex=True, sharey="row",
                             squeeze=False)
    for j, res in enumerate(worlds):
        dates = simulated_dates(res)
        ax = axes[0, j]
        for camp in ("closed", "open_cn", "open_us"):
            draw_fan(ax, dates, _series(f"frontier_{camp}", res), CAMP_COLORS[camp],
                     CAMP_LABELS[camp])
        ax.set_title(f"{res.scenario.name}" + (" (base)" if j == 0 else ""), fontsize=11)
        ax = axes[1, j]
        for pair in ("closed_vs_open", "closed_vs_cn", "closed_vs_us"):
            draw_fan(ax, dates, _series(f"gap_points[{pair}]", res), PAIR_COLORS[pair],
                     PAIR_LABELS[pair])
        ax.axhline(0, color="0.6", lw=0.8)
        ax = axes[2, j]
        draw_fan(ax, dates, 100 * _series("open_token_share", res), CAMP_COLORS["open"],
                 "open-weight token share")
        draw_fan(ax, dates, 100 * _series("open_dollar_share", res), CAMP_COLORS["open"],
                 "open-weight dollar share", ls="--")
        for row in range(3):
            mark_events(axes[row, j], res, text=row == 0)
            format_time_axis(axes[row, j])
            if row < 2:
                axes[row, j].set_xlabel("")
    axes[0, 0].set_ylabel("released bench frontier (ECI points)")
    axes[1, 0].set_ylabel("gap behind closed (ECI points)")
    axes[2, 0].set_ylabel("open-weight share, all segments (%)")
    for row in range(3):
        axes[row, 0].legend(loc="upper left", fontsize=8, title=f"median, band {BAND}",
                            title_fontsize=7)
    base = worlds[0]
    fig.suptitle(f"Trajectories side by side: seed {base.seed}, same run numbers (common "
                 "random numbers)\n" + wrapped(f"bands: {band_text(base)}", 40 * n + 20),
                 fontsize=12)
    add_footnote(fig, "Dotted lines: scheduled events of each scenario.")
    fig.tight_layout(rect=(0, 0.02, 1, 0.97))
    return save_figure(fig, path)


def plot_deltas(base: Any, alts: Sequence[Any], path: str | Path) -> Path:
    """Paired delta over time, one row per outcome series, one colour per alternative."""
    rows = len(_DELTA_ROWS)
    fig, axes = plt.subplots(rows, 1, figsize=(9.5, 2.6 * rows + 0.8), sharex=True)
    dates = simulated_dates(base)
    for ax, (label, unit, scale, name) in zip(axes, _DELTA_ROWS, strict=True):
        b = _series(name, base)
        for i, alt in enumerate(alts):
            d = scale * (_series(name, alt) - b)
            q = metrics.quantiles(d, (0.05, 0.5, 0.95))
            color = _ALT_COLORS[i % len(_ALT_COLORS)]
            ax.fill_between(dates, q[0], q[2], color=color, alpha=0.18, lw=0)
            ax.plot(dates, q[1], color=color, lw=2.0, label=f"{alt.scenario.name}")
        ax.axhline(0, color="0.4", lw=0.9)
        ax.set_title(f"{label}: alternative minus {base.scenario.name}", fontsize=10,
                     loc="left")
        ax.set_ylabel(f"delta ({unit})")
        format_time_axis(ax)
        ax.set_xlabel("")
    axes[-1].set_xlabel("month")
    for alt in alts:
        mark_events(axes[0], alt, text=len(alts) == 1)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="upper right", bbox_to_anchor=(0.99, 0.985), fontsize=9,
               title="alternative: median, band 5-95% of runs", title_fontsize=8,
               ncol=min(len(alts), 3))
    fig.suptitle("Paired difference run by run (seed " + f"{base.seed})\n"
                 + wrapped(f"bands: {band_text(base, '5-95%')}", 62),
                 fontsize=12, x=0.02, ha="left")
    shared = ("its random streams and its parameter draw" if "posterior" in band_text(base)
              else "its random streams")
    add_footnote(fig, f"Each run of an alternative shares {shared} with the same run of the "
                 "base; dotted lines: the alternatives' scheduled events.")
    fig.tight_layout(rect=(0, 0.02, 1, 0.955))
    return save_figure(fig, path)


def write_all(base: Any, alts: Sequence[Any], out_dir: str | Path, *,
              processes: int = 1) -> list[Path]:
    """Write ``trajectories.png`` and ``delta.png`` into ``out_dir``, shared between this
    process and a forked helper when ``processes`` > 1 (:func:`sim.parallel.shared_jobs`);
    returns their paths."""
    from sim.parallel import shared_jobs

    out = Path(out_dir)
    shared_jobs([lambda: plot_trajectories([base, *alts], out / TRAJECTORIES_FILE),
                 lambda: plot_deltas(base, alts, out / DELTA_FILE)], processes=processes)
    return [out / TRAJECTORIES_FILE, out / DELTA_FILE]
