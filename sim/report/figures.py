"""Fan charts of a batch's results (matplotlib, Agg backend, PNG files).

Each simulated series is drawn as its median over runs with a shaded 10-90% band. Where
Epoch's ECI record (2023-01 .. 2026-03) is drawn it appears as thin lines with small markers
in the camp's colour, with a footnote crediting Epoch AI (CC BY 4.0). Colours are fixed per
camp across every figure (:data:`CAMP_COLORS`).
"""

from __future__ import annotations

import functools
import textwrap
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker as mticker  # noqa: E402
import numpy as np  # noqa: E402

from sim.calendar import to_datetime64  # noqa: E402
from sim.core.events import WORLD_ACTOR  # noqa: E402
from sim.core.parameter_draws import band_note  # noqa: E402
from sim.files import atomic_path  # noqa: E402
from sim.measures import metrics  # noqa: E402
from sim.measures.registry import MEASURES, PAIR  # noqa: E402
from sim.report.plot_files import PLOT_FILES  # noqa: E402
from sim.vocab import (
    CAMPS,  # noqa: E402
    JURISDICTIONS,  # noqa: E402
)

CAMP_COLORS: dict[str, str] = {
    "closed": "#222222",
    "open": "#8e44ad",
    "open_cn": "#d62728",
    "open_us": "#1f77b4",
    "open_other": "#2ca02c",
}
CAMP_LABELS: dict[str, str] = {
    "closed": "closed",
    "open": "best open (any)",
    "open_cn": "open, China",
    "open_us": "open, US",
    "open_other": "open, other",
}
PAIR_COLORS: dict[str, str] = {
    "closed_vs_open": CAMP_COLORS["open"],
    "closed_vs_cn": CAMP_COLORS["open_cn"],
    "closed_vs_us": CAMP_COLORS["open_us"],
    "cn_vs_us": "#ff9f1c",
}
PAIR_LABELS: dict[str, str] = {
    "closed_vs_open": "closed vs best open",
    "closed_vs_cn": "closed vs China open",
    "closed_vs_us": "closed vs US open",
    "cn_vs_us": "China open vs US open",
}
EPOCH_CREDIT = "ECI history: Epoch AI (epoch.ai), CC BY 4.0"
BAND = "10-90% of runs"



def simulated_dates(results: Any) -> np.ndarray:
    """(T,) datetime64 of the simulated months, for time axes."""
    return to_datetime64(results.world.params.start_month, results.n_months)


def record_history(results: Any) -> Any:
    """Epoch's ECI record to draw with ``results``: the world's own pre-start record, extended
    by the months of the shipped record (:func:`sim.inputs.seeds.load_eci_record`) that come
    after it. A run from the 2026 seed world draws its pre-start record; ``history-2023``
    (whose seed world holds only a blank 2022-12) draws the record of its simulated
    2023-01..2026-03, the one it is calibrated and backtested on."""
    from sim.inputs.seeds import EciHistory, load_eci_record

    own, record = results.world.population.history, load_eci_record()
    first_new = own.first_month + len(own.closed)
    skip = first_new - record.first_month
    if skip < 0 or skip >= len(record.closed):
        return own
    camps = ("closed", "open", "open_cn", "open_us")
    return EciHistory(first_month=own.first_month,
                      **{c: np.concatenate([getattr(own, c), getattr(record, c)[skip:]])
                         for c in camps})


def _hist_dates(hist: Any) -> np.ndarray:
    return to_datetime64(hist.first_month, len(hist.closed))


def band_text(results: Any, band: str = "10-90%") -> str:
    """What the bands of a figure of ``results`` are (:func:`sim.core.parameter_draws.
    band_note`): over how many runs, at fixed parameters or drawn from which posterior."""
    return band_note(results.scenario, results.n_runs, band)


def wrapped(text: str, width: int = 100) -> str:
    """``text`` broken into lines of at most ``width`` characters (a figure title's)."""
    return "\n".join(textwrap.wrap(text, width)) or text


def _title(results: Any, text: str) -> str:
    return text + "\n" + wrapped(f"scenario '{results.scenario.name}', seed {results.seed}; "
                                  f"bands: {band_text(results)}", 100)


def draw_fan(ax: Any, dates: np.ndarray, series: np.ndarray, color: str, label: str,
             *, lw: float = 2.0, ls: str = "-", step: bool = False) -> None:
    """Median line and 10-90% band of an (R, T) series. ``step``: a month's value holds
    until the next month (counts, policies in force), drawn as steps, not ramps."""
    q = metrics.quantiles(series)
    if step:
        ax.fill_between(dates, q[0], q[2], color=color, alpha=0.15, lw=0, step="post")
        ax.plot(dates, q[1], color=color, lw=lw, ls=ls, label=label, drawstyle="steps-post")
        return
    ax.fill_between(dates, q[0], q[2], color=color, alpha=0.15, lw=0)
    ax.plot(dates, q[1], color=color, lw=lw, ls=ls, label=label)


def _legend_with_band(ax: Any, extra: Sequence[tuple[Any, str]] = (), **kwargs: Any) -> None:
    """``ax``'s legend plus the ``extra`` (handle, label) pairs and a key for the 10-90%
    bands that :func:`draw_fan` draws."""
    handles, labels = ax.get_legend_handles_labels()
    for handle, label in (*extra, (plt.Rectangle((0, 0), 1, 1, color="0.3", alpha=0.15, lw=0),
                                   f"{BAND} (lines: median)")):
        handles.append(handle)
        labels.append(label)
    ax.legend(handles, labels, fontsize=8.5, frameon=False, **kwargs)


def _history_line(ax: Any, dates: np.ndarray, values: np.ndarray, color: str,
                  label: str | None) -> None:
    ax.plot(dates, values, color=color, lw=1.0, marker="o", ms=2.2, alpha=0.8, label=label)


def _start_line(ax: Any, results: Any, *, text: bool = True) -> None:
    start = simulated_dates(results)[0]
    ax.axvline(start, color="0.5", lw=1.0, ls="--", zorder=0)
    if text:
        ax.annotate("simulation start", xy=(start, 0.0), xycoords=("data", "axes fraction"),
                    xytext=(4, 4), textcoords="offset points", ha="left", va="bottom",
                    fontsize=8, color="0.35")


def mark_events(ax: Any, results: Any, *, text: bool = True) -> None:
    """A dotted vertical line at each scheduled event after the start, labelled near the
    bottom of the axes (legends sit at the top)."""
    dates = simulated_dates(results)
    seen: dict[int, int] = {}
    for ev in results.world.schedule:
        if ev.month <= 0:
            continue
        x = dates[ev.month]
        ax.axvline(x, color="0.35", lw=0.9, ls=":", zorder=0)
        if text:
            stack = seen.get(ev.month, 0)
            seen[ev.month] = stack + 1
            actor = ev.actor(results.world.population)
            actor = "" if actor == WORLD_ACTOR else actor.upper()
            ax.annotate(f"{actor} {ev.short}".strip(), xy=(x, 0.0),
                        xycoords=("data", "axes fraction"), xytext=(2 + 9 * stack, 16),
                        textcoords="offset points", fontsize=7, color="0.25", rotation=90,
                        ha="left", va="bottom")


class DayTicks(mticker.Locator):
    """Ticks at fixed dates (sorted Matplotlib date numbers [days]), those in the view and
    the nearest one beyond each end, as Matplotlib's date locators give them."""

    def __init__(self, days: np.ndarray) -> None:
        self.days = days

    def __call__(self) -> np.ndarray:
        return self.tick_values(*self.axis.get_view_interval())

    def tick_values(self, vmin: float, vmax: float) -> np.ndarray:
        lo, hi = np.searchsorted(self.days, sorted((vmin, vmax)))
        return self.days[max(lo - 1, 0):hi + 1]


@functools.cache
def _month_ticks() -> tuple[np.ndarray, np.ndarray]:
    """Date numbers [days] of every 1 January, and of every 1 April, 1 July and 1 October,
    1900..2199 (beyond any simulated or recorded month)."""
    months = np.arange("1900-01", "2200-01", dtype="datetime64[M]")
    days = mdates.date2num(months.astype("datetime64[D]"))
    month_of_year = months.astype(np.int64) % 12  # 0 = January
    return days[month_of_year == 0], days[np.isin(month_of_year, (3, 6, 9))]


def year_ticks(ax: Any, *, quarters: bool = True) -> None:
    """Major ticks labelled with the year at every 1 January and (``quarters``) minor ticks on
    1 April, 1 July and 1 October: where ``YearLocator()`` and ``MonthLocator(bymonth=(4, 7,
    10))`` put them, without working them out with dateutil's rules at every draw (a fifth
    of a figure's time)."""
    years, quarter_days = _month_ticks()
    ax.xaxis.set_major_locator(DayTicks(years))
    ax.xaxis.set_major_formatter(mdates.DateFormatter("%Y"))
    if quarters:
        ax.xaxis.set_minor_locator(DayTicks(quarter_days))


def format_time_axis(ax: Any) -> None:
    """Years labelled, quarters ticked, a light grid and the axis named "month"."""
    year_ticks(ax)
    ax.grid(True, which="major", color="0.9", lw=0.8)
    ax.set_xlabel("month")


def add_footnote(fig: Any, text: str) -> None:
    """A small grey note (a source or a caveat) at the figure's bottom left."""
    fig.text(0.01, 0.005, text, ha="left", va="bottom", fontsize=7.5, color="0.4")


#: zlib level of the PNGs: 1 instead of Pillow's 6 encodes a figure ~15% faster (about 0.04
#: s of the 0.2-0.4 s it takes to save) for files ~12% larger; the pixels are the same.
PNG_COMPRESSION = 1


def save_figure(fig: Any, path: str | Path, *, dpi: int = 130) -> Path:
    """Write ``fig`` as a PNG at ``path`` atomically (a reader never sees half a file) and
    close it; returns the path. Every report figure is saved through here."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, pil_kwargs={"compress_level": PNG_COMPRESSION})
    plt.close(fig)
    return path


def plot_frontier(results: Any, path: str | Path,
                  camps: Sequence[str] = ("closed", "open", "open_cn", "open_us", "open_other"),
                  ) -> Path:
    """Released bench frontier per camp (median, 10-90% band) with Epoch's ECI history."""
    from sim.vocab import OUTPUT_CAMPS

    hist = record_history(results)
    dates, hdates = simulated_dates(results), _hist_dates(hist)
    fig, ax = plt.subplots(figsize=(10, 5.8))
    for camp in camps:
        color = CAMP_COLORS[camp]
        series = results.arrays["bench_frontier"][:, :, OUTPUT_CAMPS.index(camp)]
        ls = ":" if camp == "open" else "-"
        draw_fan(ax, dates, series, color, f"{CAMP_LABELS[camp]} (simulated)",
                 lw=1.6 if camp == "open" else 2.0, ls=ls)
        if hasattr(hist, camp) and camp != "open":
            _history_line(ax, hdates, getattr(hist, camp), color, None)
    _start_line(ax, results)
    mark_events(ax, results)
    format_time_axis(ax)
    ax.set_ylabel("released frontier (ECI points, running max)")
    ax.set_title(_title(results, "Released capability frontier by camp"), fontsize=11)
    _legend_with_band(ax, [(plt.Line2D([], [], color="0.3", lw=1.0, marker="o", ms=2.5),
                            "Epoch ECI record (thin, per camp)")], loc="upper left")
    add_footnote(fig, EPOCH_CREDIT)
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return save_figure(fig, path)


def plot_gap(results: Any, path: str | Path,
             pairs: Sequence[str] = ("closed_vs_open", "closed_vs_cn", "closed_vs_us")) -> Path:
    """Gap in ECI points and lag in months (median, 10-90% band), with the historical gap
    and lag from Epoch's record."""
    hist = record_history(results)
    dates, hdates = simulated_dates(results), _hist_dates(hist)
    gap, lag = (MEASURES[name].series_by_runs(results) for name in ("gap_points", "lag_months"))
    gaps = {pair: gap[:, :, i] for i, pair in enumerate(PAIR.labels)}
    lags = {pair: lag[:, :, i] for i, pair in enumerate(PAIR.labels)}
    hgaps, hlags = metrics.history_gap_by_pair(hist), metrics.history_lag_by_pair(hist)
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 8), sharex=True)
    # the best open is always one of the camps: drawn last, thin and dotted, so that it does
    # not hide the camp it coincides with
    for pair in sorted(pairs, key=lambda p: p == "closed_vs_open"):
        color = PAIR_COLORS[pair]
        style = {"lw": 1.6, "ls": ":"} if pair == "closed_vs_open" else {}
        draw_fan(ax1, dates, gaps[pair], color, PAIR_LABELS[pair], **style)
        _history_line(ax1, hdates, hgaps[pair], color, None)
        draw_fan(ax2, dates, lags[pair], color, PAIR_LABELS[pair], **style)
        _history_line(ax2, hdates, hlags[pair], color, None)
    for ax in (ax1, ax2):
        ax.axhline(0, color="0.6", lw=0.8)
        _start_line(ax, results, text=ax is ax1)
        mark_events(ax, results, text=ax is ax1)
        format_time_axis(ax)
    ax1.set_xlabel("")
    ax1.set_ylabel("gap (ECI points)")
    ax2.set_ylabel("lag (months)")
    ax1.set_title(_title(results, "Capability gap between closed and open-weight frontiers"),
                  fontsize=11)
    ax2.set_title("Lag: months since the closed frontier first reached the open level "
                  "(Epoch's definition)", fontsize=9.5)
    _legend_with_band(ax1, [(plt.Line2D([], [], color="0.3", lw=1.0, marker="o", ms=2.5),
                             "Epoch ECI record")], loc="upper right", ncol=2)
    add_footnote(fig, EPOCH_CREDIT + ". Lags reaching back to the start of the record "
                 "(2023) are lower bounds.")
    fig.tight_layout(rect=(0, 0.02, 1, 1))
    return save_figure(fig, path)


def plot_shares(results: Any, path: str | Path) -> Path:
    """Token share and dollar share by lab camp over all segments (median, 10-90% band)."""
    dates = simulated_dates(results)
    # all segments together (the last segment label) only, a block of runs at a time
    tok, usd = (MEASURES[name].series_by_runs(results, (-1,))
                for name in ("token_share", "dollar_share"))
    fig, axes = plt.subplots(1, 2, figsize=(12, 5.2), sharey=True)
    for ax, share, what in ((axes[0], tok, "Token share"), (axes[1], usd, "Dollar share")):
        for c, camp in enumerate(CAMPS):
            draw_fan(ax, dates, 100 * share[:, :, c], CAMP_COLORS[camp], CAMP_LABELS[camp])
        format_time_axis(ax)
        ax.set_ylim(0, 100)
        ax.set_title(f"{what} by lab camp, all segments", fontsize=10)
    axes[0].set_ylabel("share of market (%)")
    _legend_with_band(axes[0], loc="upper right")
    fig.suptitle(_title(results, "Market shares: tokens served vs dollars spent"), fontsize=11)
    add_footnote(fig, "Dollar share counts buyer spend on each camp's models, including spend "
                 "captured by third-party hosts of open weights.")
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    return save_figure(fig, path)


def plot_shares_by_segment(results: Any, path: str | Path) -> Path:
    """Token and dollar share by camp for each buyer segment (median, 10-90% band)."""
    dates = simulated_dates(results)
    tok, usd = (MEASURES[name].series_by_runs(results) for name in ("token_share",
                                                                    "dollar_share"))
    segments = results.world.population.segments
    k = len(segments)
    fig, axes = plt.subplots(2, k, figsize=(3.4 * k + 1, 7.2), sharex=True, sharey=True,
                             squeeze=False)
    for row, (share, what) in enumerate(((tok, "token share"), (usd, "dollar share"))):
        for s, seg in enumerate(segments):
            ax = axes[row, s]
            for c, camp in enumerate(CAMPS):
                draw_fan(ax, dates, 100 * share[:, :, s, c], CAMP_COLORS[camp], CAMP_LABELS[camp],
                         lw=1.5)
            ax.set_ylim(0, 100)
            year_ticks(ax, quarters=False)
            ax.grid(True, color="0.9", lw=0.8)
            ax.set_title(f"{seg.replace('_', ' ')}: {what}", fontsize=9)
            if s == 0:
                ax.set_ylabel(f"{what} (%)")
            if row == 1:
                ax.set_xlabel("month")
            if row == 1 and not np.isfinite(share[:, :, s]).any():
                # Nobody is paid for this segment's tokens (local agents run open weights on
                # their users' own hardware): say so rather than leave an empty panel.
                ax.text(0.5, 0.5, "no spend: tokens run on\nusers' own hardware",
                        transform=ax.transAxes, ha="center", va="center", fontsize=9,
                        color="0.35")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(CAMPS), fontsize=9, frameon=False,
               bbox_to_anchor=(0.5, 0.0))
    fig.suptitle(_title(results, "Market shares by buyer segment (median, band 10-90% of runs)"),
                 fontsize=11)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return save_figure(fig, path)


def plot_labs(results: Any, path: str | Path) -> Path:
    """Labs still operating, one small panel per camp (their counts coincide too often to
    share one axes: one camp's line would hide another's), and cash held per camp (median,
    10-90% band). Counts are drawn as steps: a lab operates for whole months."""
    dates = simulated_dates(results)
    fig = plt.figure(figsize=(13, 6.2))
    grid = fig.add_gridspec(2, 3, width_ratios=(1, 1, 2.1))
    alive = results.arrays["alive"]
    top = max(1.0, float(np.nanmax(alive))) * 1.08
    count_axes = []
    for c, camp in enumerate(CAMPS):
        ax = fig.add_subplot(grid[c // 2, c % 2],
                             sharex=count_axes[0] if count_axes else None,
                             sharey=count_axes[0] if count_axes else None)
        count_axes.append(ax)
        draw_fan(ax, dates, alive[:, :, c], CAMP_COLORS[camp], CAMP_LABELS[camp], step=True)
        ax.set_ylim(0, top)
        ax.yaxis.set_major_locator(mticker.MaxNLocator(integer=True))
        year_ticks(ax, quarters=False)
        ax.grid(True, color="0.9", lw=0.8)
        ax.set_title(CAMP_LABELS[camp], fontsize=9.5, color=CAMP_COLORS[camp])
        if c % 2 == 0:
            ax.set_ylabel("labs operating (count)", fontsize=9)
        if c >= 2:
            ax.set_xlabel("month")
    ax2 = fig.add_subplot(grid[:, 2])
    for c, camp in enumerate(CAMPS):
        draw_fan(ax2, dates, results.arrays["cash"][:, :, c], CAMP_COLORS[camp],
                 CAMP_LABELS[camp])
    format_time_axis(ax2)
    ax2.set_yscale("symlog", linthresh=1.0)
    ax2.set_ylabel("cash held (USD bn, symlog scale)")
    ax2.set_title("Cash held by the camp's labs", fontsize=10)
    _legend_with_band(ax2, loc="upper left")
    fig.suptitle(_title(results, "Funding and market constriction: labs still operating "
                        "(left, one panel per camp) and their cash (right)"), fontsize=11)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_policy(results: Any, path: str | Path) -> Path:
    """Policies in force per sovereign (share of runs, as steps: a policy holds for whole
    months), sovereign grants to open labs, and each large market's use of large open models
    (median, 10-90% band). Legends sit to the right of the data; a policy in force in no run
    and no month is named once rather than drawn as a line at 0."""
    pop, arr = results.world.population, results.arrays
    dates = simulated_dates(results)
    fig, (ax1, ax2, ax3) = plt.subplots(3, 1, figsize=(12, 11), sharex=True)
    colors = plt.get_cmap("tab10")
    never: list[str] = []
    for s, sov in enumerate(pop.sovereign_ids):
        for key, what, lw, ls in (("ban_active", "ban", 2.0, "-"),
                                  ("crackdown_active", "crackdown", 1.4, "--")):
            share = 100 * arr[key][:, :, s].mean(axis=0)
            if not share.any():
                never.append(f"{sov.upper()} {what}")
                continue
            ax1.plot(dates, share, color=colors(s), lw=lw, ls=ls, drawstyle="steps-post",
                     label=f"{sov.upper()} {what}")
    if never:
        # no-break spaces keep "UK crackdown" on one line when the list is wrapped
        ax1.plot([], [], color="none", label="in force in no run:\n" + "\n".join(
            textwrap.wrap(", ".join(n.replace(" ", "\u00a0") for n in never), 28)))
    ax1.set_ylim(-2, 102)
    ax1.set_ylabel("runs with the policy in force (%)")
    ax1.set_title(_title(results, "Open-weight bans (solid) and distillation crackdowns "
                         "(dashed) in force"), fontsize=11)
    grants = arr["sovereign_grants"]
    draw_fan(ax2, dates, grants.sum(axis=2), "0.2", "all sovereigns")
    top = np.argsort(-grants[:, -1].mean(axis=0))[:4]
    for s in top:
        draw_fan(ax2, dates, grants[:, :, s], colors(int(s)), pop.sovereign_ids[s].upper(), lw=1.4)
    ax2.set_ylabel("grants to open labs (USD bn/month)")
    ax2.set_title("Sovereign grants to open-weight labs (the four largest, and all)",
                  fontsize=10)
    threshold = results.world.params.ban_threshold_flop
    for g in (JURISDICTIONS.index("US"), JURISDICTIONS.index("EU"), JURISDICTIONS.index("CN")):
        draw_fan(ax3, dates, arr["large_open_tokens"][:, :, g], colors(g), JURISDICTIONS[g])
    ax3.set_yscale("log")
    ax3.set_ylabel("tokens (trillion/month, log scale)")
    ax3.set_title(f"Use of large open models (trained above {threshold:.0e} FLOP) "
                  "by buyers in each market", fontsize=10)
    for ax, title in ((ax1, "policy (sovereign)"), (ax2, "grants from"),
                      (ax3, "buyers in")):
        handles, labels = ax.get_legend_handles_labels()
        if ax is not ax1:
            handles.append(plt.Rectangle((0, 0), 1, 1, color="0.3", alpha=0.15, lw=0))
            labels.append(f"{BAND}\n(lines: median)")
        ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8,
                  frameon=False, title=title, title_fontsize=8, alignment="left")
    for ax in (ax1, ax2, ax3):
        _start_line(ax, results, text=False)
        mark_events(ax, results, text=ax is ax1)
        format_time_axis(ax)
    ax1.set_xlabel("")
    ax2.set_xlabel("")
    fig.tight_layout()
    return save_figure(fig, path)


def write_all(results: Any, out_dir: str | Path, *, processes: int = 1,
              on_file: Callable[[Path], Any] | None = None) -> list[str]:
    """Write every figure into ``out_dir`` (atomically), in the order of :data:`PLOT_FILES`
    (the ones a reader opens first come first); returns the file names.

    With ``processes`` > 1 the figures are shared between this process and forked helpers
    (:func:`sim.parallel.shared_jobs`), each taking the next figure not yet drawn.
    ``on_file(path)`` is called as each figure is saved, from the process that drew it."""
    from sim.parallel import shared_jobs

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    funcs = {"frontier": plot_frontier, "gap": plot_gap, "shares": plot_shares,
             "shares_by_segment": plot_shares_by_segment, "labs": plot_labs,
             "policy": plot_policy}

    def job(key: str) -> Callable[[], None]:
        def draw() -> None:
            path = funcs[key](results, out / PLOT_FILES[key])
            if on_file is not None:
                on_file(path)
        return draw

    shared_jobs([job(key) for key in PLOT_FILES], processes=processes)
    return list(PLOT_FILES.values())
