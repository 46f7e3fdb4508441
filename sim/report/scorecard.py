"""The bets scorecard on disk: ``scorecard.csv`` (long: one row per bet and column),
``scorecard.md`` (wide: one row per bet, then each bet's definition, drivers and "holds
when" rule), ``drivers.csv`` (one row per bet and driver) and ``scorecard.png`` (one page:
the probabilities with their 90% intervals, and each bet's drivers). Files are replaced
atomically.
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
from sim.studies.bets import DRIVER_ALPHA, INTERVAL, STATED, Cell, Driver, Rule  # noqa: E402

CSV_FILE, MD_FILE, PNG_FILE = "scorecard.csv", "scorecard.md", "scorecard.png"
DRIVERS_FILE = "drivers.csv"
DRIVER_COLUMNS = ("bet", "id", "rank", "input", "kind", "spearman_rho", "p_value",
                  "holds_when")
#: bet number -> (drivers, "holds when" rule) in the stated column
Drivers = dict[int, tuple[list[Driver], Rule | None]]
CSV_COLUMNS = ("bet", "id", "title", "column", "world", "applies", "runs", "holds",
               "probability", "p_low", "p_high", "decided", "undefined_runs", "median_value",
               "value_min", "value_max", "unit", "test")
_COLORS = ("#222222", "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
           "#e377c2", "#17becf", "#bcbd22")


def _num(x: float, digits: int = 4) -> str:
    return "" if x != x else f"{x:.{digits}g}"


def csv_text(cells: Sequence[Cell]) -> str:
    """The long table: one row per (bet, column). ``applies`` is 0 where the bet is about
    another world (not scored there); ``probability``, ``p_low`` and ``p_high`` are empty
    when the bet is not scored in that column (not its world, or window outside horizon);
    ``decided`` is 1 when it holds in all runs or in none (decided by the inputs)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for c in cells:
        writer.writerow([c.bet.number, c.bet.id, c.bet.title, c.column, c.world,
                         int(c.applies), c.runs if c.applies else "",
                         c.holds if c.scored else "", _num(c.probability),
                         _num(c.interval[0]), _num(c.interval[1]),
                         int(c.decided) if c.scored else "",
                         c.undefined_runs if c.scored else "", _num(c.median_value),
                         _num(c.value_range[0]), _num(c.value_range[1]),
                         c.bet.conditions[0].unit, c.bet.describe()])
    return buf.getvalue()


def _cell_text(c: Cell) -> str:
    if not c.applies:
        return "(not this world)"
    if not c.scored:
        return "n/a"
    if c.decided:
        return f"decided: {'holds' if c.holds else 'fails'} in all {c.runs}"
    return f"{c.probability:.0%} [{c.interval[0]:.0%}, {c.interval[1]:.0%}]"


def drivers_csv_text(cells: Sequence[Cell], drivers: Drivers) -> str:
    """One row per (bet, driver) in the stated column, strongest first; a bet with no
    driver has one row with an empty input and says why in ``holds_when``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(DRIVER_COLUMNS)
    for c in cells:
        if c.column != STATED:
            continue
        found, rule = drivers.get(c.bet.number, ([], None))
        text = _rule_text(c, found, rule)
        if not found:
            writer.writerow([c.bet.number, c.bet.id, "", "", "", "", "", text])
        for rank, d in enumerate(found, 1):
            writer.writerow([c.bet.number, c.bet.id, rank, d.name, d.kind, _num(d.rho, 3),
                             _num(d.p_value, 3), text])
    return buf.getvalue()


def _rule_text(c: Cell, found: list[Driver], rule: Rule | None) -> str:
    if not c.applies or not c.scored:
        return "not scored"
    if c.decided:
        return c.decided_text()
    if rule is not None:
        return rule.text()
    if found:
        return "no single cut on its drivers separates holding from failing runs"
    return ("no input moves it detectably: its spread is the runs' own randomness "
            f"(no rank correlation with p < {DRIVER_ALPHA:g} after Bonferroni)")


def markdown_text(cells: Sequence[Cell], columns: Sequence[str], *, command: str, seed: int,
                  runs: int, labels: dict[str, str],
                  parameters: str = "at fixed parameters",
                  drivers: Drivers | None = None) -> str:
    """A wide Markdown table (rows = bets, one probability column per scorecard column)
    followed by each bet's statement, test, drivers and "holds when" rule."""
    drivers = drivers or {}
    by_bet: dict[int, dict[str, Cell]] = {}
    for c in cells:
        by_bet.setdefault(c.bet.number, {})[c.column] = c
    head = ["#", "bet", "world as stated", *(f"P ({labels.get(col, col)})" for col in columns),
            "holds when (stated world)"]
    lines = [
        "# Bets scorecard", "",
        f"Probability that each bet holds over {runs} runs (seed {seed}; {parameters}), with a "
        f"{INTERVAL:.0%} Jeffreys interval (binomial, over the runs"
        + ("; each run draws its own parameters, so the probability and its interval are "
           "over the posterior and the model's randomness together" if "posterior" in
           parameters else "") + "). "
        "Column *stated* scores each bet in the world its definition names; each further "
        "column replaces the baseline by the scenario named, for the bets about any world. A "
        "bet about one world (paired, or stated in another scenario) is scored only there: "
        "elsewhere it shows *(not this world)*. *decided* marks a bet that holds in every run "
        "or in none: the inputs decide it, not chance. Drivers: the inputs whose per-run "
        "value has the strongest Spearman rank correlation with the bet's indicator (drawn "
        "parameters and the run's random events); *holds when*: the one cut on a driver that "
        "best separates the runs where the bet holds. Definitions: `experiments/bets.toml`.",
        "",
        f"Command: `{command}`", "",
        "| " + " | ".join(head) + " |",
        "|" + "|".join("---" if 2 < i < len(head) - 1 else ":--"
                       for i in range(len(head))) + "|",
    ]
    for number in sorted(by_bet):
        row = by_bet[number]
        first = row[columns[0]]
        found, rule = drivers.get(number, ([], None))
        stated = row.get(STATED)
        lines.append("| " + " | ".join([str(number), first.bet.title, stated.world
                                         if stated is not None else "",
                                         *(_cell_text(row[col]) for col in columns),
                                         _rule_text(stated, found, rule)
                                         if stated is not None else ""]) + " |")
    lines += ["", "## Definitions", ""]
    for number in sorted(by_bet):
        cell = by_bet[number][columns[0]]
        bet = cell.bet
        undefined = max(c.undefined_runs for c in by_bet[number].values())
        note = f" Runs where the indicator is undefined count as not holding (up to " \
               f"{undefined} here)." if undefined else ""
        found, rule = drivers.get(number, ([], None))
        drv = "; ".join(f"{d.name} (rho {d.rho:+.2f})" for d in found)
        drv = f" Drivers: {drv}." if drv else ""
        text = cell.decided_text()
        decided = f" {text[0].upper()}{text[1:]}." if cell.decided else ""
        lines.append(f"{number}. **{bet.title}** (`{bet.id}`). {bet.statement} "
                     f"Test: `{bet.describe()}` ({bet.conditions[0].unit}); median value "
                     f"{_num(cell.median_value, 3) or 'n/a'}, range "
                     f"{_num(cell.value_range[0], 3) or 'n/a'} to "
                     f"{_num(cell.value_range[1], 3) or 'n/a'} in column {cell.column}."
                     f"{decided}{drv}{note}")
    return "\n".join(lines) + "\n"


def plot_scorecard(cells: Sequence[Cell], columns: Sequence[str], path: Path, *,
                   runs: int, seed: int, labels: dict[str, str],
                   parameters: str = "at fixed parameters",
                   drivers: Drivers | None = None) -> Path:
    """One landscape page: left, a row per bet with each column's probability as a dot and
    its interval (only the worlds the bet is about; a decided bet as a hollow square);
    right, the bet's drivers as bars of their rank correlation with its indicator."""
    drivers = drivers or {}
    bets = sorted({c.bet.number: c.bet for c in cells}.values(), key=lambda b: b.number)
    fig, (ax, axd) = plt.subplots(1, 2, figsize=(15, 11.0), width_ratios=(1.35, 1),
                                  sharey=True)
    n_col = len(columns)
    offsets = [(i - (n_col - 1) / 2) * min(0.8 / max(n_col, 1), 0.22) for i in range(n_col)]
    index = {(c.bet.number, c.column): c for c in cells}
    any_decided = False
    for i, col in enumerate(columns):
        color = _COLORS[i % len(_COLORS)]
        ys, ps, lo, hi, dy, dp = [], [], [], [], [], []
        for row, bet in enumerate(bets):
            c = index[(bet.number, col)]
            if not c.scored:
                continue
            if c.decided:
                dy.append(row + offsets[i])
                dp.append(c.probability)
                continue
            ys.append(row + offsets[i])
            ps.append(c.probability)
            lo.append(c.probability - c.interval[0])
            hi.append(c.interval[1] - c.probability)
        ax.errorbar(ps, ys, xerr=[lo, hi], fmt="o", ms=5, color=color, ecolor=color,
                    elinewidth=1.2, capsize=2, label=labels.get(col, col))
        if dp:
            any_decided = True
            ax.plot(dp, dy, ls="none", marker="s", ms=7, mfc="none", mec=color, mew=1.5)
    if any_decided:
        ax.plot([], [], ls="none", marker="s", ms=7, mfc="none", mec="0.3", mew=1.5,
                label="decided by the inputs\n(holds in all runs or none)")
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
    for a in (ax, axd):
        for row in range(len(bets) - 1):
            a.axhline(row + 0.5, color="0.92", lw=0.8, zorder=0)
    ax.set_xlabel(f"probability the bet holds (share of runs; bars: {INTERVAL:.0%} Jeffreys "
                  "interval)")
    ax.grid(True, axis="x", color="0.92")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.07), ncol=min(n_col + 1, 3),
              fontsize=8, title="world (stated = as each bet defines it; a bet about one "
              "world is drawn only there)", title_fontsize=8)
    ax.set_title("Probability each bet holds", fontsize=10)
    # drivers: up to three bars per bet, signed rank correlation, the input named on the bar
    kinds = {"parameter": "#1f77b4", "event": "#ff7f0e"}
    for row, bet in enumerate(bets):
        found, rule = drivers.get(bet.number, ([], None))
        c = index[(bet.number, STATED)]
        if not found:
            text = (f"decided by the inputs ({'holds' if c.holds else 'fails'} in all "
                    f"{c.runs} runs; see scorecard.md)" if c.decided
                    else _rule_text(c, found, rule))
            axd.text(0.0, row, _wrap(text, 60), fontsize=6.5,
                     color="0.4", ha="center", va="center",
                     bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
            continue
        # signed so that + favours the bet holding (its test is indicator > or >= threshold)
        sign = 1.0 if c.bet.conditions[0].op in (">", ">=") else -1.0
        for k, d in enumerate(found):
            y = row + (k - (len(found) - 1) / 2) * 0.26
            r = sign * d.rho
            axd.barh(y, r, height=0.22, color=kinds.get(d.kind, "0.5"), alpha=0.8)
            axd.text(0.02 if r < 0 else -0.02, y, d.name, fontsize=6.5,
                     ha="left" if r < 0 else "right", va="center")
    axd.axvline(0, color="0.4", lw=0.8)
    axd.set_xlim(-1, 1)
    axd.set_xlabel("Spearman rank correlation of the input with the bet's indicator (stated "
                   "world),\nsigned so that + favours the bet holding")
    axd.set_title("Drivers: the inputs that move each bet most" + (
        "" if "posterior" in parameters else
        "\n(at fixed parameters only the runs' random events vary)"), fontsize=10)
    axd.grid(True, axis="x", color="0.92")
    axd.legend(handles=[plt.Rectangle((0, 0), 1, 1, color=v, alpha=0.8) for v in
                        kinds.values()],
               labels=["drawn parameter (posterior)", "random events in the run (count)"],
               loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=2, fontsize=8)
    axd.tick_params(axis="y", left=False)
    fig.suptitle("\n".join(textwrap.wrap(f"Bets scorecard: {runs} runs per world, seed {seed}, "
                                         f"{parameters}", 120)), fontsize=11)
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
                    parameters: str = "at fixed parameters",
                    drivers: Drivers | None = None) -> list[Path]:
    """Write the CSVs, Markdown and PNG into ``out``; returns their paths."""
    out = Path(out)
    drivers = drivers or {}
    write_text_atomic(out / CSV_FILE, csv_text(cells))
    write_text_atomic(out / DRIVERS_FILE, drivers_csv_text(cells, drivers))
    write_text_atomic(out / MD_FILE, markdown_text(cells, columns, command=command, seed=seed,
                                                   runs=runs, labels=labels,
                                                   parameters=parameters, drivers=drivers))
    plot_scorecard(cells, columns, out / PNG_FILE, runs=runs, seed=seed, labels=labels,
                   parameters=parameters, drivers=drivers)
    return [out / CSV_FILE, out / DRIVERS_FILE, out / MD_FILE, out / PNG_FILE]
