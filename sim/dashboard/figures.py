"""The dashboard's panels (matplotlib ``Figure`` objects, no pyplot state, so they are safe
to draw from the server's worker threads).

Every panel draws the ensemble as a median line and a shaded 10-90% band per series, the
baseline ensemble's medians as dashed lines when comparing, and the stepped world (run 0)
as a thin solid line up to its current month, marked by a vertical line. Colours and labels
per camp are those of :mod:`sim.report.figures`.
"""

from __future__ import annotations

import textwrap
from typing import Any

import matplotlib.dates as mdates
import numpy as np
from matplotlib.figure import Figure

from sim.dashboard.ensemble import Bands
from sim.report.figures import CAMP_COLORS, CAMP_LABELS, PAIR_COLORS, PAIR_LABELS
from sim.vocab import CAMPS, OUTPUT_CAMPS

FIGSIZE = (6.4, 3.9)
#: ``savefig`` options for the page: fast zlib level (encoding was a sixth of redraw time).
PNG_OPTIONS = {"format": "png", "pil_kwargs": {"compress_level": 1}}
#: Output camps drawn in the frontier panel ("open" is the best of the three open camps).
FRONTIER_CAMPS = ("closed", "open_cn", "open_us", "open_other")
WORLD_STYLE = {"lw": 1.1, "alpha": 0.95, "ls": "-", "marker": ".", "ms": 3}


def _new(title: str, bands: Bands, ylabel: str, nrows: int = 1) -> tuple[Figure, Any]:
    height = FIGSIZE[1] * (1 + 0.45 * (nrows - 1))
    fig = Figure(figsize=(FIGSIZE[0], height), dpi=100)
    # Fixed margins (in inches, converted to fractions): a layout engine would cost more
    # than the drawing itself, and the page redraws every panel at each step.
    note = bands.note or f"10-90% over {bands.n_runs} runs"
    text = f"{title}\n" + "\n".join(textwrap.wrap(f"median and band {note} (seed {bands.seed})",
                                                  80))
    lines = text.count("\n") + 1  # 0.2 inch a title line, plus 0.2
    fig.subplots_adjust(left=0.75 / FIGSIZE[0], right=1 - 0.15 / FIGSIZE[0],
                        top=1 - (0.2 + 0.2 * lines) / height, bottom=0.5 / height, hspace=0.08)
    axes = fig.subplots(nrows, 1, sharex=True, squeeze=False)[:, 0]
    fig.suptitle(text, fontsize=10)
    for ax in axes:
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        locator = mdates.AutoDateLocator(minticks=4, maxticks=8)
        ax.xaxis.set_major_locator(locator)
        ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    axes[-1].set_xlabel("month")
    return fig, axes


def _band(ax: Any, dates: np.ndarray, q: np.ndarray, color: str, label: str) -> None:
    ax.fill_between(dates, q[0], q[2], color=color, alpha=0.18, lw=0)
    ax.plot(dates, q[1], color=color, lw=2.0, label=label)


def _baseline(ax: Any, baseline: Bands | None, q: np.ndarray | None, color: str) -> None:
    if baseline is not None and q is not None:
        ax.plot(baseline.dates, q[1], color=color, lw=1.3, ls="--")


def _world(ax: Any, dates: np.ndarray, series: np.ndarray | None, color: str) -> None:
    if series is not None and len(series):
        ax.plot(dates[: len(series)], series, color=color, **WORLD_STYLE)


def _finish(axes: Any, bands: Bands, baseline: Bands | None, world_months: int,
            legend_loc: str = "best") -> None:
    for ax in axes:
        if world_months > 0:
            ax.axvline(bands.dates[world_months - 1], color="0.35", lw=0.9, ls=":")
    handles, labels = axes[0].get_legend_handles_labels()
    from matplotlib.lines import Line2D

    handles.append(Line2D([], [], color="0.3", **WORLD_STYLE))
    labels.append("stepped world (run 0)")
    if baseline is not None:
        handles.append(Line2D([], [], color="0.3", lw=1.3, ls="--"))
        labels.append(f"baseline median ({baseline.label})")
    axes[0].legend(handles, labels, fontsize=7, loc=legend_loc, ncols=2, framealpha=0.85)


def frontier_figure(bands: Bands, baseline: Bands | None = None,
                    world: dict[str, np.ndarray] | None = None) -> Figure:
    """Released bench frontier per camp, ECI points."""
    fig, (ax,) = _new("Frontier per camp (best released model)", bands, "bench score (ECI points)")
    n = 0
    for camp in FRONTIER_CAMPS:
        c = OUTPUT_CAMPS.index(camp)
        color = CAMP_COLORS[camp]
        _band(ax, bands.dates, bands.frontier[:, :, c], color, CAMP_LABELS[camp])
        _baseline(ax, baseline, None if baseline is None else baseline.frontier[:, :, c], color)
        series = None if world is None else world.get(f"frontier_{camp}")
        _world(ax, bands.dates, series, color)
        n = len(series) if series is not None else 0
    _finish([ax], bands, baseline, n, legend_loc="upper left")
    return fig


def gap_figure(bands: Bands, baseline: Bands | None = None,
               world: dict[str, np.ndarray] | None = None) -> Figure:
    """Gap (ECI points) and lag (months) of open-weight camps behind the closed frontier."""
    fig, (gap_ax, lag_ax) = _new("Gap and lag: closed frontier vs open-weight camps", bands,
                                 "gap (ECI points)", nrows=2)
    lag_ax.set_ylabel("lag (months)")
    for pair in ("closed_vs_open", "closed_vs_cn", "closed_vs_us"):
        color = PAIR_COLORS[pair]
        if pair == "closed_vs_open":
            _band(gap_ax, bands.dates, bands.gap[pair], color, PAIR_LABELS[pair])
            _band(lag_ax, bands.dates, bands.lag[pair], color, PAIR_LABELS[pair])
        else:
            gap_ax.plot(bands.dates, bands.gap[pair][1], color=color, lw=1.2,
                        label=f"{PAIR_LABELS[pair]} (median)")
            lag_ax.plot(bands.dates, bands.lag[pair][1], color=color, lw=1.2)
        if pair == "closed_vs_open":
            _baseline(gap_ax, baseline, None if baseline is None else baseline.gap[pair], color)
            _baseline(lag_ax, baseline, None if baseline is None else baseline.lag[pair], color)
    n = 0
    if world is not None and len(world.get("gap_points", [])):
        # The stepped world's headline gap and lag (closed vs best open), as recorded by its
        # DataCollector from the measure registry.
        n = len(world["gap_points"])
        _world(gap_ax, bands.dates, world["gap_points"], PAIR_COLORS["closed_vs_open"])
        _world(lag_ax, bands.dates, world.get("lag_months"), PAIR_COLORS["closed_vs_open"])
    gap_ax.axhline(0, color="0.5", lw=0.6)
    _finish([gap_ax, lag_ax], bands, baseline, n)
    return fig


def shares_figure(bands: Bands, baseline: Bands | None = None,
                  world: dict[str, np.ndarray] | None = None) -> Figure:
    """Open-weight share of tokens served and of buyer spend, percent."""
    fig, (ax,) = _new("Open-weight share of tokens and of dollars (all segments)", bands,
                      "share (%)")
    series = (("open_token_share", "tokens", "#8e44ad"), ("open_dollar_share", "dollars",
                                                           "#e67e22"))
    n = 0
    for attr, label, color in series:
        _band(ax, bands.dates, 100 * getattr(bands, attr), color, f"open share of {label}")
        _baseline(ax, baseline, None if baseline is None else 100 * getattr(baseline, attr),
                  color)
        values = None if world is None else world.get(attr)
        _world(ax, bands.dates, None if values is None else 100 * values, color)
        n = len(values) if values is not None else 0
    ax.set_ylim(bottom=0)
    _finish([ax], bands, baseline, n)
    return fig


def alive_figure(bands: Bands, baseline: Bands | None = None,
                 world: dict[str, np.ndarray] | None = None) -> Figure:
    """Labs still operating per lab camp."""
    fig, (ax,) = _new("Labs alive per camp", bands, "labs operating")
    n = 0
    for c, camp in enumerate(CAMPS):
        color = CAMP_COLORS[camp]
        _band(ax, bands.dates, bands.alive[:, :, c], color, CAMP_LABELS[camp])
        _baseline(ax, baseline, None if baseline is None else baseline.alive[:, :, c], color)
        series = None if world is None else world.get(f"alive_{camp}")
        _world(ax, bands.dates, series, color)
        n = len(series) if series is not None else 0
    ax.set_ylim(bottom=0)
    _finish([ax], bands, baseline, n, legend_loc="lower left")
    return fig
