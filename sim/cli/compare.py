"""``opengap compare BASE ALT [ALT ...] [--runs N] [--seed S] [--out DIR] [--dates M ...]``.

Simulates every scenario on the same seed and run numbers (common random numbers), checks that
re-simulating BASE gives a paired difference of exactly 0, prints paired and unpaired standard
errors, and writes ``deltas.md``, ``deltas.csv``, ``trajectories.png`` and ``delta.png``;
under posterior draws also ``attribution.csv``, the parameters each delta depends on most
(Spearman rank correlation over runs of the delta with the run's parameter draw).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.calendar import parse_month
from sim.cli.common import (
    UsageError,
    add_count_options,
    check_counts,
    check_pairable,
    check_run_size,
    command_line,
    load_scenario_arg,
    prepare_out_dir,
    processes_of,
    remove_if_empty,
    simulate_all,
)

HELP = "compare scenarios run by run on common random numbers"
DESCRIPTION = ("Simulate BASE and each ALT on the same seed and run numbers and report paired "
               "differences of headline outcomes.")
#: Rank correlations of each delta with the drawn parameters (only under posterior draws).
ATTRIBUTION_FILE = "attribution.csv"
#: Runs of BASE re-simulated for the identical-scenario check.
DEFAULT_CHECK_RUNS = 10


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", metavar="BASE", help="base scenario (file or shipped name)")
    parser.add_argument("alts", metavar="ALT", nargs="+", help="alternative scenario(s)")
    add_count_options(parser, runs_help="runs per scenario",
                      seed_help="master seed shared by every scenario")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="output folder (default results/compare-<BASE name>)")
    parser.add_argument("--dates", nargs="+", default=None, metavar="YYYY-MM",
                        help="months at which outcomes are compared (default 2027-12, if "
                        "simulated, and the last month)")
    parser.add_argument("--check-runs", type=int, default=DEFAULT_CHECK_RUNS, metavar="K",
                        help="runs of BASE re-simulated for the identical-scenario check "
                        f"(default {DEFAULT_CHECK_RUNS}; 0 skips it)")
    parser.add_argument("--no-plots", action="store_true", help="skip the figures")


def run(args: argparse.Namespace) -> int:
    from sim.core.parameter_draws import parameters_phrase
    from sim.files import write_text_atomic
    from sim.inputs.seeds import seeds_for
    from sim.studies import compare

    check_counts(args)
    if args.check_runs < 0:
        raise UsageError(f"--check-runs must be >= 0 (got {args.check_runs})")
    fixed = args.fixed_parameters
    base, _ = load_scenario_arg(args.base, fixed_parameters=fixed)
    alts = [load_scenario_arg(a, fixed_parameters=fixed)[0] for a in args.alts]
    for alt in alts:
        check_pairable(base, alt, "compare")
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
    seeds = seeds_for(base)
    check_run_size(base, seeds, args, worlds=1 + len(alts))
    out = args.out if args.out is not None else Path("results") / f"compare-{base.name}"
    created = prepare_out_dir(out)
    try:
        def import_figures() -> None:  # matplotlib is imported while the workers simulate
            if not args.no_plots:
                import sim.report.compare_figures  # noqa: F401

        base_res = simulate_all(base, args, seeds, f"{base.name}:",
                                while_waiting=import_figures)
        alt_res = [simulate_all(a, args, seeds, f"{a.name}:") for a in alts]
        k = min(args.check_runs, args.runs)
        check = None
        if k:
            again = simulate_all(base, args, seeds, f"{base.name} (again):", runs=k)
            check = compare.identical_check(base_res, again, outcomes)
        deltas = compare.compare_worlds(base_res, alt_res, outcomes)
        found = compare.attribute(base_res, alt_res, outcomes)
        write_text_atomic(out / "deltas.csv", compare.deltas_csv(deltas))
        write_text_atomic(out / "deltas.md", compare.deltas_markdown(
            deltas, base=base.name, command=command_line(args), seed=args.seed, runs=args.runs,
            check=check, check_runs=k, parameters=parameters_phrase(base), attribution=found))
        files = ["deltas.md", "deltas.csv"]
        if found is not None:
            write_text_atomic(out / ATTRIBUTION_FILE, compare.attribution_csv(found))
            files.append(ATTRIBUTION_FILE)
        if not args.no_plots:
            from sim.report import compare_figures as compare_plots

            compare_plots.write_all(base_res, alt_res, out, processes=processes_of(args))
            files += [compare_plots.TRAJECTORIES_FILE, compare_plots.DELTA_FILE]
    except BaseException:
        if created:
            remove_if_empty(out)
        raise
    print(f"compared {', '.join(a.name for a in alts)} against {base.name}: {args.runs} runs "
          f"each on seed {args.seed}; wrote {', '.join(files)} to {out}/")
    if check is not None:
        verdict = "exactly 0" if check == 0 else f"NOT zero (max |delta| {check:g})"
        print(f"identical-scenario check: {base.name} re-simulated for runs 0..{k - 1}: paired "
              f"delta of every headline outcome is {verdict}")
    print(f"parameters: {parameters_phrase(base)}" + (
        "; each run's parameter draw is shared by base and alternatives (spread over runs = "
        "random draws and parameter draws)" if found is not None else
        "; spread over runs = random draws only, nothing to attribute"))
    _print_se(deltas, found)
    return 0 if check in (None, 0.0) else 1


def _print_se(deltas: list[Any], found: list[Any] | None) -> None:
    """Median paired delta and both SEs of the key outcomes, one line each; under posterior
    draws, the parameters each depends on most."""
    from sim.studies.compare import attribution_text

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
        if found is not None:
            print(f"    depends most on (Spearman rho over runs): "
                  f"{attribution_text(found, d.alt, d.outcome.name)}")
