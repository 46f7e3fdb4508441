"""The bets scorecard on disk: ``scorecard.csv`` (long: one row per bet and column),
``scorecard.md`` (wide: one row per bet) and ``scorecard.png`` (a one-page dot chart of the
probabilities with their 90% intervals). Files are replaced atomically.
"""

from __future__ import annotations

import csv
import io
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

from sim.files import write_text_atomic  # noqa: E402
from sim.report.figures import save_figure  # noqa: E402
from sim.studies.bets import INTERVAL, STATED, Cell  # noqa: E402

CSV_FILE, MD_FILE, PNG_FILE = "scorecard.csv", "scorecard.md", "scorecard.png"
CSV_COLUMNS = ("bet", "id", "title", "column", "world", "runs", "holds", "probability",
               "p_low", "p_high", "undefined_runs", "median_value", "unit", "test")
_COLORS = ("#222222", "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
           "#e377c2", "#17becf", "#bcbd22")


def _num(x: float, digits: int = 4) -> str:
    return "" if x != x else f"{x:.{digits}g}"


def csv_text(cells: Sequence[Cell]) -> str:
    """The long table: one row per (bet, column). ``probability``, ``p_low`` and ``p_high``
    are empty when the bet could not be scored in that column (window outside horizon)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in cells:
        writer.writerow([c.bet.number, c.bet.id, c.bet.title, c.column, c.world, c.runs,
                         c.holds if c.scored else "", _num(c.probability),
                         _num(c.interval[0]), _num(c.interval[1]),
                         c.undefined_runs if c.scored else "", _num(c.median_value),
                         c.bet.conditions[0].unit, c.bet.describe()])
    return buf.getvalue()


def _cell_text(c: Cell) -> str:
    if not c.scored:
        return "n/a"
    return f"{c.probability:.0%} [{c.interval[0]:.0%}, {c.interval[1]:.0%}]"


def markdown_text(cells: Sequence[Cell], columns: Sequence[str], *, command: str, seed: int,
                  runs: int, labels: dict[str, str],
                  parameters: str = "at fixed parameters") -> str:
    """A wide Markdown table (rows = bets, one probability column per scorecard column)
    followed by each bet's statement and test."""
    by_bet: dict[int, dict[str, Cell]] = {}
    for c in cells:
        by_bet.setdefault(c.bet.number, {})[c.column] = c
    head = ["#", "bet", "world as stated", *(f"P ({labels.get(col, col)})" for col in columns)]
    lines = [
        "# Bets scorecard", "",
        f"Probability that each bet holds over {runs} runs (seed {seed}; {parameters}), with a "
        f"{INTERVAL:.0%} Jeffreys interval. Column *stated* scores each bet in the world its "
        "definition names; each further column replaces that world by the scenario named "
        "(paired bets: that scenario against the bet's control, run by run on common random "
        "numbers). Definitions: `experiments/bets.toml`.", "",
        f"Command: `{command}`", "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" if i > 2 else ":--" for i in range(len(head))) + "|",
    ]
    for number in sorted(by_bet):
        row = by_bet[number]
        first = row[columns[0]]
        lines.append("| " + " | ".join([str(number), first.bet.title, row[STATED].world
                                         if STATED in row else "",
                                         *(_cell_text(row[col]) for col in columns)]) + " |")
    lines += ["", "## Definitions", ""]
    for number in sorted(by_bet):
        cell = by_bet[number][columns[0]]
        bet = cell.bet
        undefined = max(c.undefined_runs for c in by_bet[number].values())
        note = f" Runs where the indicator is undefined count as not holding (up to " \
               f"{undefined} here)." if undefined else ""
        lines.append(f"{number}. **{bet.title}** (`{bet.id}`). {bet.statement} "
                     f"Test: `{bet.describe()}` ({bet.conditions[0].unit}); median value "
                     f"{_num(cell.median_value, 3) or 'n/a'} in column {cell.column}.{note}")
    return "\n".join(lines) + "\n"


def plot_scorecard(cells: Sequence[Cell], columns: Sequence[str], path: Path, *,
                   runs: int, seed: int, labels: dict[str, str],
                   parameters: str = "at fixed parameters") -> Path:
    """One A4 page: a row per bet, each column's probability as a dot with its interval."""
    bets = sorted({c.bet.number: c.bet for c in cells}.values(), key=lambda b: b.number)
    fig, ax = plt.subplots(figsize=(8.27, 11.69))
    n_col = len(columns)
    offsets = [(i - (n_col - 1) / 2) * min(0.8 / max(n_col, 1), 0.22) for i in range(n_col)]
    index = {(c.bet.number, c.column): c for c in cells}
    for i, col in enumerate(columns):
        ys, ps, lo, hi = [], [], [], []
        for row, bet in enumerate(bets):
            c = index[(bet.number, col)]
            if not c.scored:
                continue
            ys.append(row + offsets[i])
            ps.append(c.probability)
            lo.append(c.probability - c.interval[0])
            hi.append(c.interval[1] - c.probability)
        color = _COLORS[i % len(_COLORS)]
        ax.errorbar(ps, ys, xerr=[lo, hi], fmt="o", ms=5, color=color, ecolor=color,
                    elinewidth=1.2, capsize=2, label=labels.get(col, col))
    ax.set_yticks(range(len(bets)))
    stated = {c.bet.number: c.world for c in cells if c.column == STATED}

    def ylabel(b: Any) -> str:
        text = _wrap(f"{b.number}. {b.title}", 34)
        world = stated.get(b.number)
        return f"{text}\n[stated: {world}]" if world and world != "baseline" else text

    ax.set_yticklabels([ylabel(b) for b in bets], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlim(-0.02, 1.02)
    ax.axvline(0.5, color="0.75", lw=0.8, ls="--", zorder=0)
    for row in range(len(bets) - 1):
        ax.axhline(row + 0.5, color="0.92", lw=0.8, zorder=0)
    ax.set_xlabel(f"probability the bet holds (share of runs; bars: {INTERVAL:.0%} Jeffreys "
                  "interval)")
    ax.set_title("\n".join(textwrap.wrap(f"Bets scorecard: {runs} runs per world, seed {seed}, "
                                          f"{parameters}", 80)))
    ax.grid(True, axis="x", color="0.92")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.05), ncol=min(n_col, 3), fontsize=8,
              title="world (stated = as each bet defines it)", title_fontsize=8)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    return path


def _wrap(text: str, width: int) -> str:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    return "\n".join(lines)


def write_scorecard(cells: Sequence[Cell], columns: Sequence[str], out: Path, *, command: str,
                    seed: int, runs: int, labels: dict[str, str],
                    parameters: str = "at fixed parameters") -> list[Path]:
    """Write the CSV, Markdown and PNG into ``out``; returns their paths."""
    out = Path(out)
    write_text_atomic(out / CSV_FILE, csv_text(cells))
    write_text_atomic(out / MD_FILE, markdown_text(cells, columns, command=command, seed=seed,
                                                   runs=runs, labels=labels,
                                                   parameters=parameters))
    plot_scorecard(cells, columns, out / PNG_FILE, runs=runs, seed=seed, labels=labels,
                   parameters=parameters)
    return [out / CSV_FILE, out / MD_FILE, out / PNG_FILE]
