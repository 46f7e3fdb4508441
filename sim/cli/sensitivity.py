"""``opengap sensitivity SPEC [--n N] [--bootstrap B] [--out DIR]``: Sobol indices of a sweep
spec's outcomes over its parameters (:mod:`sim.studies.sensitivity`), written as CSV, JSON and
a bar chart (:mod:`sim.report.sensitivity`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from sim.cli.common import UsageError, add_backend_options, check_backend, prepare_out_dir

HELP = "Sobol sensitivity indices of outcomes"
DESCRIPTION = ("First-order and total Sobol indices of the spec's outcomes over its parameters "
               "(scipy.stats.sobol_indices, Saltelli 2010), with bootstrap confidence "
               "intervals and a bar chart. Uses the spec's parameters, outcomes, replicates "
               "(each evaluation is the mean over replicates) and seed; its design is ignored.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", type=Path, help="sweep spec TOML file")
    parser.add_argument("--n", type=int, default=None, metavar="N",
                        help="base sample size, a power of 2 (default: the spec's samples); "
                        "the model is evaluated N x (parameters + 2) times")
    parser.add_argument("--bootstrap", type=int, default=200, metavar="B",
                        help="bootstrap resamples for the confidence intervals (default 200)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="output folder (default results/sensitivity/<spec name>)")
    add_backend_options(parser)


def run(args: argparse.Namespace) -> int:
    from sim.report.progress import Progress
    from sim.report.sensitivity import write_sensitivity
    from sim.studies.sensitivity import compute_indices
    from sim.studies.sweeps import SweepError
    from sim.studies.sweeps.spec import load_spec

    workers = check_backend(args)
    if args.bootstrap < 1:
        raise UsageError(f"--bootstrap must be at least 1 (got {args.bootstrap})")
    spec = load_spec(args.spec)
    n = args.n if args.n is not None else spec.samples
    if n < 2 or n & (n - 1):
        source = "" if args.n is not None else f", the samples of {spec.source}; give --n"
        raise SweepError(f"--n must be a power of 2, at least 2 (got {n}{source})")
    if len(spec.parameters) < 2:
        # One parameter explains all the variance (S1 = ST = 1); scipy's estimator also
        # fails on a single column.
        raise SweepError(f"{spec.source}: parameters: Sobol indices need at least two "
                         f"parameters (got {len(spec.parameters)})")
    out = args.out if args.out is not None else Path("results") / "sensitivity" / spec.name
    prepare_out_dir(out)
    d = len(spec.parameters)
    sys.stderr.write(f"{spec.name}: {n} x ({d} + 2) = {n * (d + 2)} parameter sets x "
                     f"{spec.replicates} replicates\n")
    progress = Progress(f"{spec.name} (sobol):")
    indices = compute_indices(spec, n, backend=args.backend, workers=workers,
                              scheduler=args.scheduler, chunk_size=args.chunk_size,
                              n_bootstrap=args.bootstrap, progress=progress.update)
    progress.finish()
    print(write_sensitivity(indices, spec, out, n_bootstrap=args.bootstrap))
    return 0
