#!/usr/bin/env python3
"""Sobol total indices of each bet's probability over the posterior and two business levers.

    python experiments/bet_drivers.py [--n 32] [--replicates 8] [--seed 20260401]

The scorecard's drivers (``opengap bets``) rank-correlate each bet's indicator with the
parameters the runs happened to draw. This script asks the variance question instead (issue
21, item 4): how much of the variation of a bet's probability does each input account for,
alone or with others? The box: every parameter of the shipped posterior
(``scenarios/posteriors/whole-record``) between its weighted 5% and 95% quantiles, plus two
levers of the open labs' business model that no calibration pins down
(``capability.open_flywheel_factor``, 0.05-0.5: how much of their usage open labs learn from;
``market.open_capture_share``, 0.01-0.25: how much of hosts' sales reaches them), each
uniform. A Saltelli design (scrambled Sobol points, ``n (d + 2)`` parameter sets,
:func:`sim.studies.sensitivity.saltelli_points`) is simulated on the baseline, each set with
the same ``replicates`` runs (common random numbers: the model seen by the estimator is
deterministic); a set's output is the share of its runs in which the bet holds. Indices and
95% bootstrap intervals come from :func:`sim.studies.sensitivity.sobol_from_outputs`
(``scipy.stats.sobol_indices``). Only bets stated on the baseline alone are scored (paired
and scenario-bound bets need their own worlds); a bet whose probability does not vary over
the box has no indices.

Writes ``experiments/bets-results/drivers-sobol.csv``, ``drivers-sobol.md`` and
``drivers-sobol.png``; prints its time.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from sim.cli.common import with_parameters
from sim.core.world import build_world
from sim.files import write_text_atomic
from sim.inputs.packaged import bets_file, scenarios_dir
from sim.inputs.posterior import load_posterior
from sim.inputs.scenario import load_scenario
from sim.inputs.seeds import load_seeds
from sim.studies import bets as bets_mod
from sim.studies.calibration.predictive import weighted_quantile
from sim.studies.sensitivity import saltelli_points, sobol_from_outputs
from sim.studies.sweeps.stacked import simulate_stack

OUT = Path(__file__).resolve().parent / "bets-results"
LEVERS: dict[str, tuple[float, float]] = {
    "capability.open_flywheel_factor": (0.05, 0.5),
    "market.open_capture_share": (0.01, 0.25),
}
#: Parameter sets per engine batch (x replicates runs).
SETS_PER_BATCH = 64


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=32, help="Saltelli base sample (power of 2)")
    ap.add_argument("--replicates", type=int, default=8)
    ap.add_argument("--seed", type=int, default=20260401)
    ap.add_argument("--bootstrap", type=int, default=200)
    args = ap.parse_args(argv)
    t0 = time.monotonic()

    base = load_scenario(scenarios_dir() / "baseline.toml")
    post = load_posterior(base.posterior)
    base = with_parameters(base, fixed_parameters=True)  # the box sets every value
    box: dict[str, tuple[float, float]] = {}
    for j, name in enumerate(post.names):
        lo, hi = weighted_quantile(post.values[:, j], post.weights, [0.05, 0.95])
        box[name] = (float(lo), float(hi))
    box.update(LEVERS)
    names = list(box)
    d = len(names)
    unit = saltelli_points(d, args.n, args.seed)
    lows = np.array([box[k][0] for k in names])
    spans = np.array([box[k][1] - box[k][0] for k in names])
    points = lows + unit * spans  # (n (d + 2), d)

    seeds = load_seeds(start=base.time.start)
    all_bets = bets_mod.load_bets(bets_file(), segments=list(seeds.segments.segment),
                                  sovereigns=list(seeds.sovereigns.sovereign_id))
    bets = [b for b in all_bets if b.worlds("stated") == (base.name, None)]
    holds = np.full((len(points), len(bets)), np.nan)
    for first in range(0, len(points), SETS_PER_BATCH):
        rows = range(first, min(first + SETS_PER_BATCH, len(points)))
        scenarios = [base.with_overrides(dict(zip(names, map(float, points[i]), strict=True)))
                     for i in rows]
        worlds = [build_world(s, seeds) for s in scenarios]
        results = simulate_stack(scenarios, worlds, args.replicates, args.seed, seeds)
        for k, bet in enumerate(bets):
            cell = bets_mod.score_bet(bet, "stated", {base.name: results})
            if cell.scored and cell.outcomes is not None:
                holds[list(rows), k] = cell.outcomes.reshape(len(rows), args.replicates).mean(1)
        sys.stderr.write(f"bet_drivers: {rows.stop}/{len(points)} parameter sets "
                         f"({time.monotonic() - t0:.0f} s)\n")

    lines_csv = ["bet,input,kind,first_order,total,total_low,total_high"]
    table = ["| bet | P over the box | inputs by total index ST [95% CI] |", "|---|---:|---|"]
    matrix = np.full((len(bets), d), np.nan)
    for k, bet in enumerate(bets):
        y = holds[:, k]
        if not np.isfinite(y).all() or np.ptp(y) == 0:
            table.append(f"| {bet.title} | {np.nanmean(y):.0%} | no input of the box moves "
                         "it (any spread is the runs' own randomness) |")
            continue
        first, total, _, total_ci = sobol_from_outputs(y[:, None], args.n, d, args.bootstrap,
                                                       args.seed)
        matrix[k] = total[0]
        order = np.argsort(-total[0])
        for i in order:
            kind = "lever" if names[i] in LEVERS else "posterior parameter"
            lines_csv.append(f"{bet.id},{names[i]},{kind},{first[0, i]:.4f},{total[0, i]:.4f},"
                             f"{total_ci[0, 0, i]:.4f},{total_ci[1, 0, i]:.4f}")
        top = ", ".join(f"`{names[i]}` {total[0, i]:.2f} [{total_ci[0, 0, i]:.2f}, "
                        f"{total_ci[1, 0, i]:.2f}]" for i in order[:3])
        table.append(f"| {bet.title} | {np.mean(y):.0%} | {top} |")
    seconds = time.monotonic() - t0
    write_text_atomic(OUT / "drivers-sobol.csv", "\n".join(lines_csv) + "\n")
    md = [
        "# Bet drivers: Sobol total indices over the posterior and the open labs' levers",
        "",
        f"Generated by `python experiments/bet_drivers.py --n {args.n} --replicates "
        f"{args.replicates} --seed {args.seed}` in {seconds / 60:.1f} minutes: "
        f"{len(points)} parameter sets x {args.replicates} runs of the baseline, each set's "
        "output the share of its runs in which the bet holds (common random numbers). Box: "
        "each posterior parameter between its weighted 5% and 95% quantiles, and the levers "
        + ", ".join(f"`{k}` {lo:g}-{hi:g}" for k, (lo, hi) in LEVERS.items())
        + ", uniform. ST: share of the variance of the bet's probability that involves the "
        "input (alone or with others); with this small a design read the ranking, not the "
        "second digit (intervals: bootstrap over the base rows). Bets stated on the "
        "baseline only.",
        "",
        *table,
        "",
        "![drivers](drivers-sobol.png)",
    ]
    write_text_atomic(OUT / "drivers-sobol.md", "\n".join(md) + "\n")
    plot(matrix, [b.title for b in bets], names, OUT / "drivers-sobol.png", args)
    print(f"wrote drivers-sobol.csv, .md, .png to {OUT} in {seconds:.0f} s")
    return 0


def plot(matrix: np.ndarray, bets: list[str], names: list[str], path: Path,
         args: argparse.Namespace) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 0.5 * len(bets) + 3), constrained_layout=True)
    shown = np.where(np.isfinite(matrix), np.clip(matrix, 0, 1), np.nan)
    im = ax.imshow(shown, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    ax.set_xticks(range(len(names)), [n.split(".")[1] + ("\n(lever)" if n in LEVERS else "")
                                      for n in names], rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(bets)), bets, fontsize=8)
    for i in range(shown.shape[0]):
        if not np.isfinite(shown[i]).any():
            ax.text(len(names) / 2 - 0.5, i, "no input of the box moves this probability",
                    ha="center", va="center", fontsize=8, color="0.4")
            continue
        for j in range(shown.shape[1]):
            if shown[i, j] >= 0.1:
                ax.text(j, i, f"{shown[i, j]:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if shown[i, j] > 0.5 else "black")
    fig.colorbar(im, ax=ax, label="Sobol total index ST (share of the variance of P(bet holds))")
    ax.set_title("What moves each bet's probability: Sobol total indices over the posterior's "
                 f"5-95% box and two open-lab levers\n({args.n} base rows, "
                 f"{args.replicates} runs per parameter set, seed {args.seed}; baseline)",
                 fontsize=10)
    ax.set_xlabel("input (posterior parameter, or lever)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
