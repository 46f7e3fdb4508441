"""Figures of a counterfactual comparison (:mod:`sim.studies.compare`).

* ``trajectories.png``: one row per scenario (base first), three columns with shared y axes:
  released bench frontiers, gaps behind closed, open-weight token and dollar shares; median
  over runs with a 10-90% band. Rows, not columns, so that the figure keeps a page's width
  however many scenarios are compared (it grows downwards).
* ``delta.png``: the paired difference (alternative minus base, run by run) over time for
  each alternative: median and 5-95% band, with a zero line. Every alternative has its own
  colour (:func:`alternative_colors`), however many there are.
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
#: Colours of the alternatives in delta.png: Matplotlib's tab10 without its grey (the zero
#: line's) and olive (hard to tell from green at 2 px), then tab20's lighter shades: 16
#: colours, no two alike; past 16, Matplotlib's evenly spaced "turbo" map.
_ALT_COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
               "#17becf", "#aec7e8", "#ffbb78", "#98df8a", "#ff9896", "#c5b0d5", "#c49c94",
               "#f7b6d2", "#9edae5")


def alternative_colors(n: int) -> list[Any]:
    """``n`` distinct colours, one per alternative (:data:`_ALT_COLORS`; past 16, ``n``
    evenly spaced colours of the "turbo" map)."""
    if n <= len(_ALT_COLORS):
        return list(_ALT_COLORS[:n])
    cmap = plt.get_cmap("turbo")
    return [cmap(x) for x in np.linspace(0.05, 0.95, n)]

#: Rows of delta.png: label, unit shown, scale applied to the delta, registry measure.
_DELTA_ROWS: tuple[tuple[str, str, float, str], ...] = (
    ("gap closed vs best open", "ECI points", 1.0, "gap_points[closed_vs_open]"),
    ("lag closed vs best open", "months", 1.0, "lag_months[closed_vs_open]"),
    ("China open frontier", "ECI points", 1.0, "frontier_open_cn"),
    ("open-weight token share (all segments)", "percentage points", 100.0,
     "token_share[all,open]"),
    ("US open labs' share of open-weight tokens (served to buyers everywhere)",
     "percentage points", 100.0, "open_usage_share[open_us]"),
)


def _series(name: str, results: Any) -> np.ndarray:
    """(R, T) series of registry measure ``name`` (computed a block of runs at a time)."""
    return measure(name).series_by_runs(results)


def plot_trajectories(worlds: Sequence[Any], path: str | Path) -> Path:
    """Fan charts, one row per world (base first) and one column per outcome, y axes shared
    down each column so that rows compare at a glance; 13 inches wide whatever the number of
    worlds."""
    n = len(worlds)
    fig, axes = plt.subplots(n, 3, figsize=(13, 2.5 * n + 1.6), sharex=True, sharey="col",
                             squeeze=False)
    for i, res in enumerate(worlds):
        dates = simulated_dates(res)
        ax = axes[i, 0]
        for camp in ("closed", "open_cn", "open_us"):
            draw_fan(ax, dates, _series(f"frontier_{camp}", res), CAMP_COLORS[camp],
                     CAMP_LABELS[camp])
        ax.set_ylabel(f"{res.scenario.name}" + ("\n(base)" if i == 0 else ""),
                      fontsize=10, fontweight="bold")
        ax = axes[i, 1]
        # the best open is always one of the camps: drawn last, thin and dotted, so that it
        # does not hide the camp it coincides with
        for pair in ("closed_vs_cn", "closed_vs_us", "closed_vs_open"):
            best = pair == "closed_vs_open"
            draw_fan(ax, dates, _series(f"gap_points[{pair}]", res), PAIR_COLORS[pair],
                     PAIR_LABELS[pair], lw=1.6 if best else 2.0, ls=":" if best else "-")
        ax.axhline(0, color="0.6", lw=0.8)
        ax = axes[i, 2]
        draw_fan(ax, dates, 100 * _series("open_token_share", res), CAMP_COLORS["open"],
                 "open-weight token share")
        draw_fan(ax, dates, 100 * _series("open_dollar_share", res), CAMP_COLORS["open"],
                 "open-weight dollar share", ls="--")
        for col in range(3):
            mark_events(axes[i, col], res, text=col == 0)
            format_time_axis(axes[i, col])
            if i < n - 1:
                axes[i, col].set_xlabel("")
    for col, title in enumerate(("released bench frontier (ECI points)",
                                 "gap behind closed (ECI points)",
                                 "open-weight share, all segments (%)")):
        axes[0, col].set_title(title, fontsize=10)
        handles, labels = axes[0, col].get_legend_handles_labels()
        handles.append(plt.Rectangle((0, 0), 1, 1, color="0.3", alpha=0.15, lw=0))
        labels.append(f"{BAND} (lines: median)")
        axes[-1, col].legend(handles, labels, loc="upper center", fontsize=8, frameon=False,
                             bbox_to_anchor=(0.5, -0.32), ncol=1)
    base = worlds[0]
    fig.suptitle(f"Trajectories, one row per scenario: seed {base.seed}, same run numbers "
                 "(common random numbers)\n" + wrapped(f"bands: {band_text(base)}", 120),
                 fontsize=12)
    add_footnote(fig, "Row labels: the scenario. Dotted lines: scheduled events of each "
                 "scenario. Y axes are shared down each column.")
    height = 2.5 * n + 1.6
    fig.tight_layout(rect=(0, 0.02, 1, 1 - 0.5 / height))  # room for the two-line title
    return save_figure(fig, path)


def plot_deltas(base: Any, alts: Sequence[Any], path: str | Path) -> Path:
    """Paired delta over time, one row per outcome series, one colour per alternative."""
    rows = len(_DELTA_ROWS)
    fig, axes = plt.subplots(rows, 1, figsize=(9.5, 2.6 * rows + 0.8 + 0.3 * -(-len(alts) // 4)),
                             sharex=True)
    dates = simulated_dates(base)
    colors = alternative_colors(len(alts))
    for ax, (label, unit, scale, name) in zip(axes, _DELTA_ROWS, strict=True):
        b = _series(name, base)
        for i, alt in enumerate(alts):
            d = scale * (_series(name, alt) - b)
            q = metrics.quantiles(d, (0.05, 0.5, 0.95))
            color = colors[i]
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
    ncol = min(len(alts), 4)
    legend_rows = -(-len(alts) // ncol)
    height = 2.6 * rows + 0.8 + 0.3 * legend_rows
    # the legend sits under the axes, the two-line title above them: neither covers the other
    bottom = (0.45 + 0.22 * legend_rows) / height
    fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 0.25 / height),
               fontsize=9, title="alternative: median, band 5-95% of runs", title_fontsize=8,
               ncol=ncol, frameon=False)
    fig.suptitle("Paired difference run by run (seed " + f"{base.seed})\n"
                 + wrapped(f"bands: {band_text(base, '5-95%')}", 90),
                 fontsize=12, x=0.02, ha="left")
    shared = ("its random streams and its parameter draw" if "posterior" in band_text(base)
              else "its random streams")
    add_footnote(fig, f"Each run of an alternative shares {shared} with the same run of the "
                 "base; dotted lines: the alternatives' scheduled events.")
    fig.tight_layout(rect=(0, bottom, 1, 1 - 0.7 / height))
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
