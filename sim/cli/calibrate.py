"""``opengap calibrate SPEC --out DIR``: fit the parameters a calibration spec declares to the
Epoch ECI record (:mod:`sim.studies.calibration`) and write the report
(:mod:`sim.report.calibration`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.cli.common import prepare_out_dir, remove_if_empty

HELP = "fit parameters to the Epoch ECI record"
DESCRIPTION = ("Fit the parameters a calibration spec declares to the observed ECI frontiers; "
               "write calibrated.toml (a parameter fragment for `include`), calibration.json, "
               "fit.png and report.md.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", help="calibration spec TOML file")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")


def run(args: argparse.Namespace) -> int:
    from sim.core.engine import simulate
    from sim.inputs.seeds import load_seeds
    from sim.report.calibration import write_calibration
    from sim.studies.calibration.fit import Objective, calibrate, load_observed
    from sim.studies.calibration.spec import load_spec

    spec = load_spec(args.spec)  # validated before anything is simulated or written
    created = prepare_out_dir(args.out)
    try:
        observed = load_observed()
        result = calibrate(spec, observed=observed,
                           progress=lambda msg: sys.stderr.write(f"calibrate: {msg}\n"))
        seeds = load_seeds(start=spec.scenario.time.start)
        values = [result.values[name] for name in spec.names]
        fitted = Objective(spec, observed, seeds).scenario(values)
        results = simulate(fitted, n_runs=spec.runs, seed=spec.seed, seeds=seeds)
        written = write_calibration(result, args.out, results, observed)
    except BaseException:
        if created:
            remove_if_empty(args.out)
        raise
    print(f"calibrated {len(spec.parameters)} parameters of '{spec.scenario.name}': RMSE "
          f"{result.rmse:.2f} ECI points (start values {result.start_loss ** 0.5:.2f})")
    for name in spec.names:
        se = result.std_error[name]
        print(f"  {name} = {result.values[name]:.4g}" + (f" (s.e. {se:.3g})" if se == se else ""))
    print(f"wrote {', '.join(p.name for p in written)} to {args.out}/")
    return 0
