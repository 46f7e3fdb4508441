"""``opengap discover RESULTS --outcome X --threshold T``: scenario discovery with a PRIM box
search over a sweep's runs (:mod:`sim.studies.discover`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from sim.cli.common import UsageError, finite_float

HELP = "parameter ranges that make an outcome likely"
DESCRIPTION = ("Scenario discovery with a PRIM box search: the parameter ranges in which "
               "OUTCOME >= T (or <= T with --below) is most likely, printed as rules with the "
               "quasi-p value of each bound (its stability), and written as "
               "discover_<outcome>.csv/.json/.png into the results folder (or --out).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", metavar="RESULTS", type=Path,
                        help="a sweep's output folder or its runs.parquet")
    parser.add_argument("--outcome", required=True, metavar="X",
                        help="outcome column, e.g. gap_points@2027-12")
    parser.add_argument("--threshold", required=True, type=finite_float, metavar="T",
                        help="a run is a case of interest if OUTCOME >= T")
    parser.add_argument("--below", action="store_true",
                        help="cases of interest are OUTCOME <= T instead")
    parser.add_argument("--boxes", type=int, default=2, metavar="K",
                        help="at most K boxes, each found among the cases the previous ones "
                        "left uncovered (default 2)")
    parser.add_argument("--min-support", type=finite_float, default=0.05, metavar="F",
                        help="a box keeps at least this fraction of the runs (default 0.05)")
    parser.add_argument("--min-density", type=finite_float, default=None, metavar="P",
                        help="pick the widest box in which P(outcome) >= P (default: the best "
                        "balance of density and coverage, F-score with beta 0.5)")
    parser.add_argument("--out", type=Path, default=None, metavar="DIR",
                        help="where to write the boxes (CSV, JSON) and figure (default: the "
                        "sweep's folder)")


def run(args: argparse.Namespace) -> int:
    from sim.studies.discover import discover_from_file

    if not 0 < args.min_support < 1:
        raise UsageError(f"--min-support must be between 0 and 1 (got {args.min_support})")
    if args.boxes < 1:
        raise UsageError(f"--boxes must be at least 1 (got {args.boxes})")
    if args.min_density is not None and not 0 < args.min_density <= 1:
        raise UsageError(f"--min-density must be in (0, 1] (got {args.min_density})")
    found: dict = {}
    print(discover_from_file(args.results, outcome=args.outcome, threshold=args.threshold,
                             below=args.below, max_boxes=args.boxes,
                             min_support=args.min_support, min_density=args.min_density,
                             found=found))
    if found.get("boxes") is not None:
        from sim.report.discover import write_discovery

        out = args.out if args.out is not None else (
            args.results if args.results.is_dir() else args.results.parent)
        paths = write_discovery(found, out)
        print(f"boxes: {paths[0]}, {paths[1]}; figure: {paths[2]}")
    return 0
