"""``opengap outcomes``: every measure of the registry with its unit and meaning."""

from __future__ import annotations

import argparse

HELP = "list every measure (sweep outcome, tidy metric) with its unit"
DESCRIPTION = ("List every measure of the registry (sim/measures/registry.py): its name, its "
               "dims in brackets, its unit and what it means. Any measure with one value per "
               "month is a sweep outcome NAME@YYYY-MM (or @start, @end); pick one label per "
               "dim for the others: name[label,...].")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true",
                        help="print JSON (name, dims, unit, description, outcome, tidy)")


def run(args: argparse.Namespace) -> int:
    import json

    from sim.measures import registry

    if args.json:
        rows = [{"name": m.name, "dims": [d.name for d in m.dims], "unit": m.unit,
                 "description": m.description, "tidy": m.tidy,
                 "outcome": all(d.default is not None for d in m.dims)}
                for m in registry.unique()]
        print(json.dumps(rows, indent=2))
        return 0
    print(registry.describe())
    print("\nOutcome syntax: NAME@YYYY-MM, NAME@start, NAME@end; a measure with dims as "
          "name[label,...] (e.g. gap_points[cn_vs_us]@2027-12, cash[open_us]@end, "
          "lab_frontier[ai2_olmo]@end).")
    return 0
