"""``opengap bets [--runs N] [--seed S] [--out DIR] [--scenarios S ...] [--bets-file FILE]``.

Scores the bets of ``experiments/bets.toml`` (:mod:`sim.studies.bets`) and writes
``scorecard.md``, ``scorecard.csv``, ``drivers.csv`` and ``scorecard.png``
(:mod:`sim.report.scorecard`): each bet's probability with its 90% Jeffreys interval, or
"decided by the inputs", its drivers and its "holds when" rule.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sim.cli.common import (
    UsageError,
    add_count_options,
    check_counts,
    check_pairable,
    check_run_size,
    command_line,
    load_scenario_arg,
    prepare_out_dir,
    remove_if_empty,
    simulate_all,
)
from sim.inputs.packaged import bets_file

HELP = "score the bets of experiments/bets.toml"
DESCRIPTION = ("Score each bet (share of runs in which it holds, 90% Jeffreys interval, or "
               "decided by the inputs) as stated and under each scenario asked for (bets "
               "about one world only there), with its drivers and a 'holds when' rule.")
DEFAULT_BETS_FILE = bets_file()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_count_options(parser, runs_help="runs per world",
                      seed_help="master seed shared by every world")
    parser.add_argument("--out", type=Path, default=Path("results") / "bets", metavar="DIR",
                        help="output folder (default results/bets)")
    parser.add_argument("--scenarios", nargs="+", default=[], metavar="S",
                        help="also score every bet under each of these scenarios")
    parser.add_argument("--bets-file", type=Path, default=DEFAULT_BETS_FILE, metavar="FILE",
                        help="bets definitions (default experiments/bets.toml)")


def _resolve_world(name: str, bets_dir: Path) -> Path:
    from sim.studies.bets import scenario_path

    path = Path(name)
    if path.suffix == ".toml" and path.is_file():
        return path
    return scenario_path(name, bets_dir)


def run(args: argparse.Namespace) -> int:
    from sim.core.parameter_draws import parameters_phrase
    from sim.inputs.seeds import load_seeds
    from sim.report import scorecard
    from sim.studies import bets as bets_mod

    check_counts(args)
    seeds = load_seeds()
    bets = bets_mod.load_bets(args.bets_file, segments=list(seeds.segments.segment),
                              sovereigns=list(seeds.sovereigns.sovereign_id))
    bets_dir = Path(args.bets_file).parent
    columns = [bets_mod.STATED, *dict.fromkeys(args.scenarios)]
    scenarios: dict[str, Any] = {}
    for name in bets_mod.needed_worlds(bets, columns):
        path = _resolve_world(name, bets_dir)
        # A name found nowhere goes to the loader as given, whose error lists shipped names.
        scenarios[name] = load_scenario_arg(str(path) if path.is_file() else name,
                                            fixed_parameters=args.fixed_parameters)[0]
    for bet in bets:
        for column in columns:
            treatment, control = bet.worlds(column) or (None, None)
            if control is not None and treatment is not None:
                check_pairable(scenarios[treatment], scenarios[control], f"bets: {bet.id}")
    if scenarios:
        check_run_size(next(iter(scenarios.values())), seeds, args, worlds=len(scenarios))
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out}: exists and is not a folder")
    created = prepare_out_dir(args.out)
    try:
        worlds = {name: simulate_all(sc, args, seeds, f"{sc.name}:")
                  for name, sc in scenarios.items()}
        cells = bets_mod.scorecard(bets, columns, worlds)
        inputs = {name: bets_mod.run_inputs(res) for name, res in worlds.items()}
        drivers = {c.bet.number: bets_mod.bet_drivers(c, inputs[c.bet.scenario])
                   for c in cells if c.column == bets_mod.STATED and c.scored}
        for cell in cells:
            if not cell.scored and cell.applies:
                sys.stderr.write(f"note: bet {cell.bet.id} not scored under {cell.world}: "
                                 "its window lies outside the simulated months\n")
        labels = {c: (scenarios[c].name if c in scenarios else c) for c in columns}
        labels[bets_mod.STATED] = "stated"
        phrases = dict.fromkeys(parameters_phrase(sc) for sc in scenarios.values())
        written = scorecard.write_scorecard(cells, columns, args.out, command=command_line(args),
                                            seed=args.seed, runs=args.runs, labels=labels,
                                            parameters="; ".join(phrases)
                                            or "at fixed parameters", drivers=drivers)
    except BaseException:
        if created:
            remove_if_empty(args.out)
        raise
    print(f"scored {len(bets)} bets over {args.runs} runs (seed {args.seed}) in "
          f"{len(scenarios)} world(s); wrote {', '.join(p.name for p in written)} to "
          f"{args.out}/")
    for cell in cells:
        if cell.column == bets_mod.STATED:
            p = "n/a" if not cell.scored else cell.decided_text() if cell.decided else (
                f"{cell.probability:.0%} [{cell.interval[0]:.0%}, {cell.interval[1]:.0%}]")
            print(f"  {cell.bet.number:>2}. {cell.bet.title}: {p} ({cell.world})")
            found, rule = drivers.get(cell.bet.number, ([], None))
            if rule is not None:
                print(f"      {rule.text()}")
    return 0
