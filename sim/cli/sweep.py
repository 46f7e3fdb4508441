"""``opengap sweep SPEC [--out DIR] [--backend local|dask] [--workers N] [--scheduler ADDRESS]
[--chunk-size K]``: run a sweep spec (:mod:`sim.studies.sweeps.spec`); run it again to finish
an interrupted sweep."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.cli.common import add_backend_options, check_backend, prepare_out_dir

HELP = "run many parameter sets x replicates of a scenario"
DESCRIPTION = ("Run a sweep spec (TOML): parameter sets from a grid, LHS or Sobol design, each "
               "with replicates; results stream to DIR in chunks. Run the same command again "
               "to finish an interrupted sweep.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", type=Path, help="sweep spec TOML file")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="output folder (default results/sweeps/<spec name>)")
    add_backend_options(parser)


def run(args: argparse.Namespace) -> int:
    import numpy as np
    import pyarrow.parquet as pq

    from sim.report.progress import Progress
    from sim.studies.sweeps.run import run_sweep
    from sim.studies.sweeps.spec import load_spec
    from sim.studies.sweeps.store import FAILURES, RUNS

    workers = check_backend(args)
    spec = load_spec(args.spec)
    out = args.out if args.out is not None else Path("results") / "sweeps" / spec.name
    prepare_out_dir(out)
    progress = Progress(f"{spec.name}:")
    summary = run_sweep(spec, out, backend=args.backend, workers=workers,
                        scheduler=args.scheduler, chunk_size=args.chunk_size,
                        progress=progress.update)
    progress.finish()
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
