"""``opengap run SCENARIO [--runs N] [--seed S] [--out DIR] [--batch-size B] [--no-plots]``.

Simulates a scenario (a TOML file, or the name of a shipped scenario such as ``baseline``)
in batches of runs, writes ``results.parquet``, ``events.csv``, figures and
``manifest.json`` into DIR (default ``results/<scenario name>``) and prints headline numbers.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from sim.cli.common import (
    BatchSimulator,
    add_count_options,
    check_counts,
    check_run_out,
    check_run_size,
    clear_outputs,
    default_out,
    load_scenario_arg,
    out_dir_arg,
    plan_batches,
    prepare_out_dir,
    processes_of,
    remove_if_empty,
    simulate_batches,
)

HELP = "simulate a scenario and write results and figures"
DESCRIPTION = ("Simulate a scenario and write results.parquet, events.csv, figures (PNG) and "
               "manifest.json.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", metavar="SCENARIO",
                        help="scenario TOML file, or the name of a shipped scenario (baseline)")
    add_count_options(parser, runs_help="number of runs", seed_help="master seed, >= 0")
    parser.add_argument("--out", type=out_dir_arg, default=None, metavar="DIR",
                        help="output folder (default results/<scenario name>); locked while "
                        "the command runs")
    parser.add_argument("--force", action="store_true",
                        help="replace another scenario's results (or stray result files) in "
                        "DIR instead of refusing")
    parser.add_argument("--no-plots", action="store_true", help="skip the figures")
    parser.add_argument("--seeds", type=Path, default=None, metavar="DIR",
                        help="a folder of your own seed tables (labs.csv, sovereigns.csv, "
                        "...) replacing the shipped ones; default: the scenario's 'seeds' key, "
                        "else the shipped tables (docs/own-world.md)")


def run(args: argparse.Namespace) -> int:
    # Validate everything before simulating or writing anything.
    check_counts(args)
    scenario, scenario_path = load_scenario_arg(args.scenario,
                                                fixed_parameters=args.fixed_parameters)
    from sim.inputs.seeds import seeds_for
    from sim.report.outputs import TIDY_CHUNK_RUNS, batch_output, in_tidy_chunks, write_streamed

    if args.seeds is not None:  # recorded in the resolved scenario (manifest.json)
        scenario = scenario.model_copy(update={"seeds": str(args.seeds.resolve())})
    seeds = seeds_for(scenario)
    check_run_size(scenario, seeds, args)
    out = args.out if args.out is not None else default_out(Path("results"), scenario.name,
                                                            "scenario")
    created = prepare_out_dir(out)
    processes = processes_of(args)
    try:
        check_run_out(out, scenario, force=args.force)
        sim = BatchSimulator(scenario, args.seed, seeds, args.batch_size)
        # Workers simulate batches; this process joins them into whole chunks of the tidy
        # table (so its rows keep their order), makes their tidy rows and event rows as they
        # arrive, in run order, appends them to the files and keeps only what the figures
        # and headlines read. (Rows made in the workers cost more to send back, 57 MB a
        # batch against 14 MB of arrays, than they take to make here.) Batches may be half
        # a chunk, so that both processes have work to the end.
        batches = plan_batches(args.runs, args.batch_size, processes,
                               align=TIDY_CHUNK_RUNS // 2)

        def import_figures() -> None:  # matplotlib is imported while the workers simulate
            if not args.no_plots:
                import sim.report.figures  # noqa: F401

        simulated = simulate_batches(sim, sim.arrays, batches, f"{scenario.name}:", processes,
                                     import_figures)
        outputs = (batch_output(part) for part in in_tidy_chunks(
            sim.results(runs, arrays) for runs, arrays in zip(batches, simulated, strict=True)))

        def wrote(path: Path) -> None:
            print(f"  wrote {path}", flush=True)

        written, results = write_streamed(
            outputs, out, scenario=scenario, world=sim.world, seed=args.seed, n_runs=args.runs,
            scenario_path=scenario_path, plots=not args.no_plots, processes=processes,
            on_file=wrote,
            # checked by check_run_out; cleared only once every run is simulated, so a
            # failed run leaves the folder as it was, and nothing stale stays
            on_complete=lambda: clear_outputs(out))
    except BaseException:
        if created:
            remove_if_empty(out)
        raise
    print(f"wrote {results.n_runs} runs of '{scenario.name}' (seed {args.seed}) to {out}/: "
          f"{', '.join(p.name for p in written)}")
    for line in headlines(results):
        print(line)
    return 0


def headlines(results: Any) -> list[str]:
    """The lines printed after a run: gap, lag, open shares and policies in force."""
    from sim.calendar import format_month
    from sim.measures import metrics
    from sim.measures.registry import measure

    n = results.n_months
    at = min(12, n - 1)
    # series_by_runs: the same numbers as series, without its temporaries at 10,000 runs
    gaps = measure("gap_points").series_by_runs(results)
    gap, gap0 = metrics.quantiles(gaps[:, at]), metrics.quantiles(gaps[:, 0])
    lag = metrics.quantiles(measure("lag_months").series_by_runs(results)[:, at])
    tok = metrics.quantiles(measure("open_token_share").series_by_runs(results)[:, -1])
    usd = metrics.quantiles(measure("open_dollar_share").series_by_runs(results)[:, -1])
    start = results.world.params.start_month
    m_at, m_end = format_month(start + at), format_month(start + n - 1)
    return [
        f"closed vs best open gap: {gap0[1]:.1f} ECI points at {format_month(start)}, "
        f"{gap[1]:.1f} [{gap[0]:.1f}, {gap[2]:.1f}] at {m_at}",
        f"closed vs best open lag at {m_at}: {lag[1]:.1f} [{lag[0]:.1f}, {lag[2]:.1f}] months",
        f"open-weight share at {m_end}: tokens {tok[1]:.0%} [{tok[0]:.0%}, {tok[2]:.0%}], "
        f"dollars {usd[1]:.0%} [{usd[0]:.0%}, {usd[2]:.0%}]",
        policy_headline(results, m_end),
        "(medians over runs, [10%, 90%] in brackets)",
    ]


def policy_headline(results: Any, m_end: str) -> str:
    """Share of runs with each sovereign's open-weight ban or crackdown in force at the end."""
    pop, arr = results.world.population, results.arrays
    parts = []
    for flag, label in (("ban_active", "ban"), ("crackdown_active", "crackdown")):
        for s, sov in enumerate(pop.sovereign_ids):
            share = float(arr[flag][:, -1, s].mean())
            if share > 0:
                parts.append(f"{sov.upper()} {label} {share:.0%}")
    listed = ", ".join(parts) if parts else "none in any run"
    return f"policies in force at {m_end} (share of runs): {listed}"
