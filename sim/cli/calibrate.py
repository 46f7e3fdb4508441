"""``opengap calibrate SPEC --out DIR``: Bayesian calibration (ABC-SMC) of the parameters a
calibration spec declares on the ECI record and economic series up to its cut month
(:mod:`sim.studies.calibration`); writes the posterior folder (:mod:`sim.report.calibration`).
A folder holding an unfinished calibration of the same spec resumes it."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from sim.cli.common import UsageError, prepare_out_dir, remove_if_empty

HELP = "Bayesian calibration (ABC-SMC) on the ECI record and economic series"
DESCRIPTION = ("Calibrate the parameters a calibration spec declares (ABC-SMC, pyabc) on the "
               "ECI record and economic series up to the spec's cut month; write "
               "posterior.parquet, posterior.json, abc.db (pyabc's history: a rerun on the "
               "same folder resumes it), posterior.png, fit.png and report.md.")

#: Posterior predictive runs drawn for the report's fit figure and tables.
PREDICTIVE_RUNS = 200


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="calibration spec TOML file")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    parser.add_argument("--force", action="store_true",
                        help="start over in a folder that holds another calibration")
    parser.add_argument("--processes", type=int, default=None, metavar="P",
                        help="processes simulating each batch (default: one per CPU); "
                        "results do not depend on it")


def run(args: argparse.Namespace) -> int:
    from sim.cli.common import processes_of
    from sim.report.calibration import write_calibration
    from sim.report.progress import Progress
    from sim.studies.calibration.predictive import posterior_predictive
    from sim.studies.calibration.smc import Generation, calibrate, check_folder
    from sim.studies.calibration.spec import load_spec

    started = time.monotonic()
    if args.processes is not None and args.processes < 1:
        raise UsageError(f"--processes must be at least 1 (got {args.processes})")
    spec = load_spec(args.spec)  # validated before anything is simulated or written
    created = prepare_out_dir(args.out)
    try:
        resume = check_folder(spec, args.out, force=args.force)
        bar: list[Progress] = []

        def progress(done: int, total: int) -> None:
            if not bar:
                bar.append(Progress("calibrate: particles accepted"))
            bar[0].update(done, total)

        gens: list[Generation] = []

        def on_generation(g: Generation) -> None:
            if bar:
                bar.pop().finish()
            gens.append(g)
            sys.stderr.write(f"calibrate: generation {g.t}: tolerance {g.epsilon:.4g}, "
                             f"acceptance {g.acceptance:.1%}, {g.evaluations} evaluations, "
                             f"{g.seconds:.1f} s\n")

        def on_start(msg: str) -> None:
            sys.stderr.write(f"calibrate: {msg}\n")

        if resume:
            on_start(f"resuming the calibration in {args.out}/")
        result = calibrate(spec, args.out, processes=processes_of(args), resume=resume,
                           progress=progress, on_generation=on_generation, on_start=on_start)
        on_start(f"posterior predictive: {PREDICTIVE_RUNS} runs over "
                 f"{spec.full_scenario.time.start}..{spec.full_scenario.time.end}")
        predictive, _ = posterior_predictive(spec, result.values, result.weights,
                                             draws=PREDICTIVE_RUNS)
        elapsed = time.monotonic() - started
        written = write_calibration(result, args.out, predictive, elapsed=elapsed)
    except BaseException:
        if created:
            remove_if_empty(args.out)
        raise
    print(f"calibrated {len(spec.priors)} parameters of '{spec.scenario.name}' on data "
          f"through {spec.cut_label}: {len(result.weights)} particles, "
          f"{len(result.generations)} generations (stopped: {result.stopped})")
    from sim.studies.calibration.predictive import weighted_quantile

    for i, name in enumerate(spec.names):
        lo, hi = weighted_quantile(result.values[:, i], result.weights, [0.05, 0.95])
        mean = float(result.values[:, i] @ result.weights)
        print(f"  {name} = {mean:.4g} (90% {lo:.4g}..{hi:.4g})")
    print(f"wrote {', '.join(p.name for p in written)} to {args.out}/")
    print(f"elapsed {time.monotonic() - started:.1f} s")
    return 0
