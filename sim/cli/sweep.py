"""``opengap sweep SPEC [--out DIR] [--backend local|dask] [--workers N] [--scheduler ADDRESS]
[--chunk-size K]``: run a sweep spec (:mod:`sim.studies.sweeps.spec`); run it again to finish
an interrupted sweep."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from sim.cli.common import (
    add_backend_options,
    add_parameters_option,
    add_size_option,
    check_backend,
    check_sweep_size,
    default_out,
    out_dir_arg,
    prepare_out_dir,
    remove_if_empty,
    with_parameters,
)

HELP = "run many parameter sets x replicates of a scenario"
DESCRIPTION = ("Run a sweep spec (TOML): parameter sets from a grid, LHS or Sobol design, each "
               "with replicates; results stream to DIR in chunks. Run the same command again "
               "to finish an interrupted sweep.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("spec", metavar="SPEC", type=Path, help="sweep spec TOML file")
    parser.add_argument("--out", type=out_dir_arg, default=None, metavar="DIR",
                        help="output folder (default results/sweeps/<spec name>); locked while "
                        "the sweep runs")
    parser.add_argument("--force", action="store_true",
                        help="replace another spec's sweep (or stray sweep files) in DIR "
                        "instead of refusing")
    add_size_option(parser)
    add_parameters_option(parser)
    add_backend_options(parser)


def run(args: argparse.Namespace) -> int:
    from sim.studies.sweeps.fork_server import start_workers

    workers = check_backend(args)
    # Before the engine's own imports here: the server's start-up (about a second) overlaps
    # them, the spec and the design.
    start_workers(args.backend, workers)
    import numpy as np
    import pyarrow.parquet as pq

    from sim.report.progress import Progress
    from sim.studies.sweeps.run import run_sweep
    from sim.studies.sweeps.spec import load_spec
    from sim.studies.sweeps.store import FAILURES, RUNS

    spec = load_spec(args.spec)
    spec = replace(spec, base=with_parameters(spec.base, args.fixed_parameters),
                   bases=tuple((name, with_parameters(b, args.fixed_parameters))
                               for name, b in spec.bases))
    check_sweep_size(spec, workers, args.allow_large)
    out = args.out if args.out is not None else default_out(Path("results") / "sweeps",
                                                            spec.name, "spec")
    created = prepare_out_dir(out)
    try:
        progress = Progress(f"{spec.name}:")
        summary = run_sweep(spec, out, backend=args.backend, workers=workers,
                            scheduler=args.scheduler, chunk_size=args.chunk_size,
                            progress=progress.update, force=args.force)
        progress.finish()
    except BaseException:
        if created:
            remove_if_empty(out)
        raise
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
        if spec.design == "grid":
            from sim.report.sweep_settings import write_settings

            written = write_settings(out, spec, out / RUNS)
            print(f"  per setting: {', '.join(str(p) for p in written)}")
    return 0
