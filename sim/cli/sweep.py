"""The ``opengap sweep``, ``opengap sensitivity`` and ``opengap discover`` commands.

``opengap sweep SPEC --out DIR [--backend local|dask] [--workers N] [--scheduler ADDRESS]
[--chunk-size K]`` runs a sweep spec (see :mod:`sim.studies.sweeps.spec`) and can be re-run to
finish an interrupted sweep. ``opengap sensitivity SPEC`` computes Sobol indices
(:mod:`sim.studies.sensitivity`); ``opengap discover RESULTS --outcome X --threshold T`` finds the
parameter ranges where an outcome is likely (:mod:`sim.studies.discover`).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from sim.studies.sweeps import SweepError
from sim.studies.sweeps.backends import BACKENDS

COMMANDS = ("sweep", "sensitivity", "discover")


def _workers_default() -> int:
    return max(1, os.cpu_count() or 1)


def _add_backend_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--backend", choices=BACKENDS, default="local",
                   help="local: a process pool on this machine (default); dask: Dask "
                   "distributed (a LocalCluster, or the scheduler at --scheduler)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="worker processes (default: the number of CPUs); results do not "
                   "depend on it")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                   "(with --backend dask)")
    p.add_argument("--chunk-size", type=int, default=None, metavar="K",
                   help="parameter sets per chunk (default: ~200 runs a chunk); results do "
                   "not depend on it")


def add_commands(sub: Any) -> None:
    """Add the three subcommands to the ``opengap`` parser's subparsers."""
    sweep = sub.add_parser("sweep", help="run many parameter sets x replicates of a scenario",
                           description="Run a sweep spec (TOML): parameter sets from a grid, "
                           "LHS or Sobol design, each with replicates; results stream to "
                           "DIR in chunks. Run the same command again to finish an "
                           "interrupted sweep.")
    sweep.add_argument("spec", metavar="SPEC", type=Path, help="sweep spec TOML file")
    sweep.add_argument("--out", type=Path, default=None, metavar="DIR",
                       help="output folder (default results/sweeps/<spec name>)")
    _add_backend_args(sweep)

    sens = sub.add_parser("sensitivity", help="Sobol sensitivity indices of outcomes",
                          description="First-order and total Sobol indices of the spec's "
                          "outcomes over its parameters (scipy.stats.sobol_indices, "
                          "Saltelli 2010), with bootstrap confidence intervals and a bar "
                          "chart. Uses the spec's parameters, outcomes, replicates (each "
                          "evaluation is the mean over replicates) and seed; its design is "
                          "ignored.")
    sens.add_argument("spec", metavar="SPEC", type=Path, help="sweep spec TOML file")
    sens.add_argument("--n", type=int, default=None, metavar="N",
                      help="base sample size, a power of 2 (default: the spec's samples); "
                      "the model is evaluated N x (parameters + 2) times")
    sens.add_argument("--bootstrap", type=int, default=200, metavar="B",
                      help="bootstrap resamples for the confidence intervals (default 200)")
    sens.add_argument("--out", type=Path, default=None, metavar="DIR",
                      help="output folder (default results/sensitivity/<spec name>)")
    _add_backend_args(sens)

    disc = sub.add_parser("discover", help="parameter ranges that make an outcome likely",
                          description="Scenario discovery with a PRIM box search: the "
                          "parameter ranges in which OUTCOME >= T (or <= T with --below) is "
                          "most likely, printed as rules.")
    disc.add_argument("results", metavar="RESULTS", type=Path,
                      help="a sweep's output folder or its runs.parquet")
    disc.add_argument("--outcome", required=True, metavar="X",
                      help="outcome column, e.g. gap_points@2027-12")
    disc.add_argument("--threshold", required=True, type=float, metavar="T",
                      help="a run is a case of interest if OUTCOME >= T")
    disc.add_argument("--below", action="store_true",
                      help="cases of interest are OUTCOME <= T instead")
    disc.add_argument("--boxes", type=int, default=2, metavar="K",
                      help="at most K boxes, each found among the cases the previous ones "
                      "left uncovered (default 2)")
    disc.add_argument("--min-support", type=float, default=0.05, metavar="F",
                      help="a box keeps at least this fraction of the runs (default 0.05)")
    disc.add_argument("--min-density", type=float, default=None, metavar="P",
                      help="pick the widest box in which P(outcome) >= P (default: the best "
                      "balance of density and coverage, F-score with beta 0.5)")


def _check_backend(args: argparse.Namespace) -> int:
    from sim.cli.main import UsageError

    workers = args.workers if args.workers is not None else _workers_default()
    if workers < 1:
        raise UsageError(f"--workers must be at least 1 (got {workers})")
    if args.chunk_size is not None and args.chunk_size < 1:
        raise UsageError(f"--chunk-size must be at least 1 (got {args.chunk_size})")
    if args.scheduler and args.backend != "dask":
        raise UsageError("--scheduler needs --backend dask")
    return workers


def _prepare(out: Path) -> None:
    from sim.cli.main import _prepare_out_dir

    _prepare_out_dir(out)


def cmd_sweep(args: argparse.Namespace) -> int:
    import numpy as np
    import pyarrow.parquet as pq

    from sim.studies.sweeps.run import run_sweep
    from sim.studies.sweeps.spec import load_spec
    from sim.studies.sweeps.store import FAILURES, RUNS

    workers = _check_backend(args)
    spec = load_spec(args.spec)
    out = args.out if args.out is not None else Path("results") / "sweeps" / spec.name
    _prepare(out)
    summary = run_sweep(spec, out, backend=args.backend, workers=workers,
                        scheduler=args.scheduler, chunk_size=args.chunk_size)
    print(f"sweep '{spec.name}': {spec.samples} parameter sets x {spec.replicates} replicates "
          f"({spec.design}), {summary.runs} runs in {out / RUNS}")
    if summary.failed_sets:
        print(f"  {summary.failed_sets} parameter sets failed; see {out / FAILURES}")
    if summary.runs:
        table = pq.read_table(out / RUNS, columns=[o.label for o in spec.outcomes])
        width = max(len(o.label) for o in spec.outcomes)
        print("  outcome".ljust(width + 2) + "  median [10%, 90%] over runs")
        for o in spec.outcomes:
            x = table.column(o.label).to_numpy()
            x = x[~np.isnan(x)]
            if x.size:
                q = np.quantile(x, [0.1, 0.5, 0.9])
                print(f"  {o.label.ljust(width)}  {q[1]:.3g} [{q[0]:.3g}, {q[2]:.3g}] {o.unit}")
            else:
                print(f"  {o.label.ljust(width)}  all NaN")
    return 0


def cmd_sensitivity(args: argparse.Namespace) -> int:
    from sim.cli.main import UsageError
    from sim.studies.sensitivity import run_sensitivity
    from sim.studies.sweeps.spec import load_spec

    workers = _check_backend(args)
    if args.bootstrap < 1:
        raise UsageError(f"--bootstrap must be at least 1 (got {args.bootstrap})")
    spec = load_spec(args.spec)
    n = args.n if args.n is not None else spec.samples
    if n < 2 or n & (n - 1):
        source = "" if args.n is not None else f", the samples of {spec.source}; give --n"
        raise SweepError(f"--n must be a power of 2, at least 2 (got {n}{source})")
    out = args.out if args.out is not None else Path("results") / "sensitivity" / spec.name
    _prepare(out)
    report = run_sensitivity(spec, n=n, out=out, backend=args.backend, workers=workers,
                             scheduler=args.scheduler, chunk_size=args.chunk_size,
                             n_bootstrap=args.bootstrap)
    print(report)
    return 0


def cmd_discover(args: argparse.Namespace) -> int:
    from sim.cli.main import UsageError
    from sim.studies.discover import discover_from_file

    if not 0 < args.min_support < 1:
        raise UsageError(f"--min-support must be between 0 and 1 (got {args.min_support})")
    if args.boxes < 1:
        raise UsageError(f"--boxes must be at least 1 (got {args.boxes})")
    if args.min_density is not None and not 0 < args.min_density <= 1:
        raise UsageError(f"--min-density must be in (0, 1] (got {args.min_density})")
    print(discover_from_file(args.results, outcome=args.outcome, threshold=args.threshold,
                             below=args.below, max_boxes=args.boxes,
                             min_support=args.min_support, min_density=args.min_density))
    return 0


HANDLERS = {"sweep": cmd_sweep, "sensitivity": cmd_sensitivity, "discover": cmd_discover}
