"""``opengap compare`` and ``opengap bets`` (registered by :func:`sim.cli.main.build_parser`).

``opengap compare BASE ALT [ALT ...] [--runs N] [--seed S] [--out DIR] [--dates M ...]``
simulates every scenario on the same seed and run numbers (common random numbers), checks that
re-simulating BASE gives a paired difference of exactly 0, prints paired and unpaired standard
errors, and writes ``deltas.md``, ``deltas.csv``, ``trajectories.png`` and ``delta.png``.

``opengap bets [--runs N] [--seed S] [--out DIR] [--scenarios S ...] [--bets-file FILE]``
scores the bets of ``experiments/bets.toml`` (:mod:`sim.studies.bets`) and writes ``scorecard.md``,
``scorecard.csv`` and ``scorecard.png``.

Errors follow :mod:`sim.cli.main`: one line on stderr, exit status 2, nothing written before every
input has been validated.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import Any

from sim.calendar import parse_month
from sim.inputs.packaged import bets_file

DEFAULT_BETS_FILE = bets_file()
DEFAULT_CHECK_RUNS = 10


def add_parsers(sub: Any) -> None:
    """Add the ``compare`` and ``bets`` subcommands to ``sub`` (an argparse subparsers)."""
    from sim.cli.main import add_count_options

    cmp = sub.add_parser("compare", help="compare scenarios run by run on common random numbers",
                         description="Simulate BASE and each ALT on the same seed and run "
                         "numbers and report paired differences of headline outcomes.")
    cmp.add_argument("base", metavar="BASE", help="base scenario (file or shipped name)")
    cmp.add_argument("alts", metavar="ALT", nargs="+", help="alternative scenario(s)")
    add_count_options(cmp, runs_help="runs per scenario",
                      seed_help="master seed shared by every scenario")
    cmp.add_argument("--out", type=Path, default=None, metavar="DIR",
                     help="output folder (default results/compare-<BASE name>)")
    cmp.add_argument("--dates", nargs="+", default=None, metavar="YYYY-MM",
                     help="months at which outcomes are compared (default 2027-12, if "
                     "simulated, and the last month)")
    cmp.add_argument("--check-runs", type=int, default=DEFAULT_CHECK_RUNS, metavar="K",
                     help="runs of BASE re-simulated for the identical-scenario check "
                     f"(default {DEFAULT_CHECK_RUNS}; 0 skips it)")
    cmp.add_argument("--no-plots", action="store_true", help="skip the figures")

    bets = sub.add_parser("bets", help="score the bets of experiments/bets.toml",
                          description="Score each bet (share of runs in which it holds, "
                          "90% Jeffreys interval) as stated and under each scenario asked for.")
    add_count_options(bets, runs_help="runs per world",
                      seed_help="master seed shared by every world")
    bets.add_argument("--out", type=Path, default=Path("results") / "bets", metavar="DIR",
                      help="output folder (default results/bets)")
    bets.add_argument("--scenarios", nargs="+", default=[], metavar="S",
                      help="also score every bet under each of these scenarios")
    bets.add_argument("--bets-file", type=Path, default=DEFAULT_BETS_FILE, metavar="FILE",
                      help="bets definitions (default experiments/bets.toml)")


def simulate_all(scenario: Any, args: argparse.Namespace, seeds: Any, label: str,
                 runs: int | None = None) -> Any:
    """Runs 0..runs-1 of ``scenario`` on ``args.seed``, in batches, with a progress line."""
    from sim.cli.main import Progress
    from sim.core.engine import simulate
    from sim.report.outputs import concat_results

    runs = args.runs if runs is None else runs
    progress = Progress(runs, label)
    parts, done = [], 0
    for first in range(0, runs, args.batch_size):
        n = min(args.batch_size, runs - first)

        def tick(months: int, total: int, _done: int = done, _n: int = n) -> None:
            progress.update(_done + _n * months / total)

        parts.append(simulate(scenario, n_runs=n, seed=args.seed, first_run=first,
                              seeds=seeds, progress=tick))
        done += n
    progress.finish()
    return concat_results(parts)


def _pairable(a: Any, b: Any, what: str) -> None:
    """Common random numbers pair runs only between worlds of the same shape and horizon."""
    from sim.cli.main import UsageError

    if a.time != b.time or a.population != b.population:
        raise UsageError(f"{what}: cannot pair '{a.name}' with '{b.name}': their [time] or "
                         "[population] differ, so their random streams do not line up")


def _command(args: argparse.Namespace) -> str:
    return shlex.join(["opengap", *getattr(args, "argv", sys.argv[1:])])


# --------------------------------------------------------------------------- compare


def cmd_compare(args: argparse.Namespace) -> int:
    from sim.cli.main import (
        UsageError,
        _load_scenario,
        _prepare_out_dir,
        _remove_if_empty,
        check_counts,
    )
    from sim.inputs.seeds import load_seeds
    from sim.report.outputs import write_text_atomic
    from sim.studies import compare

    check_counts(args)
    if args.check_runs < 0:
        raise UsageError(f"--check-runs must be >= 0 (got {args.check_runs})")
    base, _ = _load_scenario(args.base)
    alts = [_load_scenario(a)[0] for a in args.alts]
    for alt in alts:
        _pairable(base, alt, "compare")
    first, last = parse_month(base.time.start), parse_month(base.time.end)
    if args.dates is None:
        cn = parse_month(compare.CN_CAPABILITY_MONTH)
        months = sorted({m for m in (cn, last) if first <= m <= last})
    else:
        months = []
        for text in args.dates:
            try:
                m = parse_month(text)
            except ValueError as exc:
                raise UsageError(f"--dates: {exc}") from None
            if not first <= m <= last:
                raise UsageError(f"--dates: {text} is outside the simulated months "
                                 f"{base.time.start}..{base.time.end}")
            months.append(m)
        months = sorted(set(months))
    cn_month = parse_month(compare.CN_CAPABILITY_MONTH)
    cn_month = cn_month if first <= cn_month <= last else last
    outcomes = compare.headline_outcomes(months, cn_month)
    seeds = load_seeds(start=base.time.start)
    out = args.out if args.out is not None else Path("results") / f"compare-{base.name}"
    created = _prepare_out_dir(out)
    try:
        base_res = simulate_all(base, args, seeds, f"{base.name}:")
        alt_res = [simulate_all(a, args, seeds, f"{a.name}:") for a in alts]
        k = min(args.check_runs, args.runs)
        check = None
        if k:
            again = simulate_all(base, args, seeds, f"{base.name} (again):", runs=k)
            check = compare.identical_check(base_res, again, outcomes)
        deltas = compare.compare_worlds(base_res, alt_res, outcomes)
        write_text_atomic(out / "deltas.csv", compare.deltas_csv(deltas))
        write_text_atomic(out / "deltas.md", compare.deltas_markdown(
            deltas, base=base.name, command=_command(args), seed=args.seed, runs=args.runs,
            check=check, check_runs=k))
        files = ["deltas.md", "deltas.csv"]
        if not args.no_plots:
            from sim.report import compare_figures as compare_plots

            compare_plots.plot_trajectories([base_res, *alt_res],
                                            out / compare_plots.TRAJECTORIES_FILE)
            compare_plots.plot_deltas(base_res, alt_res, out / compare_plots.DELTA_FILE)
            files += [compare_plots.TRAJECTORIES_FILE, compare_plots.DELTA_FILE]
    except BaseException:
        if created:
            _remove_if_empty(out)
        raise
    print(f"compared {', '.join(a.name for a in alts)} against {base.name}: {args.runs} runs "
          f"each on seed {args.seed}; wrote {', '.join(files)} to {out}/")
    if check is not None:
        verdict = "exactly 0" if check == 0 else f"NOT zero (max |delta| {check:g})"
        print(f"identical-scenario check: {base.name} re-simulated for runs 0..{k - 1}: paired "
              f"delta of every headline outcome is {verdict}")
    _print_se(deltas)
    return 0 if check in (None, 0.0) else 1


def _print_se(deltas: list[Any]) -> None:
    """Median paired delta and both SEs of the key outcomes, one line each."""
    keys = ("gap closed vs open", "open token share", "CN open frontier")
    for d in deltas:
        if not d.outcome.name.startswith(keys):
            continue
        pct = d.outcome.unit == "fraction"
        scale, unit = (100.0, "pp") if pct else (1.0, d.outcome.unit)
        ratio = d.se_ratio
        ratio_text = "inf" if ratio == float("inf") else f"{ratio:.1f}"
        print(f"  {d.alt}: {d.outcome.name}: delta median {scale * d.median:+.2f} {unit} "
              f"[{scale * d.low:+.2f}, {scale * d.high:+.2f}]; SE of mean delta: paired "
              f"{scale * d.paired_se:.3f}, unpaired {scale * d.unpaired_se:.3f} "
              f"({ratio_text}x smaller paired)")


# --------------------------------------------------------------------------- bets


def _resolve_world(name: str, bets_dir: Path) -> Path:
    from sim.studies.bets import scenario_path

    path = Path(name)
    if path.suffix == ".toml" and path.is_file():
        return path
    return scenario_path(name, bets_dir)


def cmd_bets(args: argparse.Namespace) -> int:
    from sim.cli.main import (
        UsageError,
        _load_scenario,
        _prepare_out_dir,
        _remove_if_empty,
        check_counts,
    )
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
        scenarios[name] = _load_scenario(str(path) if path.is_file() else name)[0]
    for bet in bets:
        for column in columns:
            treatment, control = bet.worlds(column)
            if control is not None:
                _pairable(scenarios[treatment], scenarios[control], f"bets: {bet.id}")
    if args.out.exists() and not args.out.is_dir():
        raise UsageError(f"--out {args.out}: exists and is not a folder")
    created = _prepare_out_dir(args.out)
    try:
        worlds = {name: simulate_all(sc, args, seeds, f"{sc.name}:")
                  for name, sc in scenarios.items()}
        cells = bets_mod.scorecard(bets, columns, worlds)
        for cell in cells:
            if not cell.scored:
                sys.stderr.write(f"note: bet {cell.bet.id} not scored under {cell.world}: "
                                 "its window lies outside the simulated months\n")
        labels = {c: (scenarios[c].name if c in scenarios else c) for c in columns}
        labels[bets_mod.STATED] = "stated"
        written = scorecard.write_scorecard(cells, columns, args.out, command=_command(args),
                                            seed=args.seed, runs=args.runs, labels=labels)
    except BaseException:
        if created:
            _remove_if_empty(args.out)
        raise
    print(f"scored {len(bets)} bets over {args.runs} runs (seed {args.seed}) in "
          f"{len(scenarios)} world(s); wrote {', '.join(p.name for p in written)} to "
          f"{args.out}/")
    for cell in cells:
        if cell.column == bets_mod.STATED:
            p = "n/a" if not cell.scored else (
                f"{cell.probability:.0%} [{cell.interval[0]:.0%}, {cell.interval[1]:.0%}]")
            print(f"  {cell.bet.number:>2}. {cell.bet.title}: {p} ({cell.world})")
    return 0
