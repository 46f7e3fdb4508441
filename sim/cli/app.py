"""``opengap app [SCENARIO] [--host H] [--port P]``: serve the dashboard (:mod:`sim.app`) on
``http://127.0.0.1:8765/`` by default."""

from __future__ import annotations

import argparse

from sim.cli.common import UsageError

HELP = "serve the interactive dashboard in the browser"
DESCRIPTION = ("Serve a dashboard: sliders for a scenario's key parameters, live ensemble "
               "bands, a stepped world and its events.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("scenario", metavar="SCENARIO", nargs="?", default="baseline",
                        help="shipped scenario to open first (default baseline)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1, this machine only)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765)")


def run(args: argparse.Namespace) -> int:
    from sim.app import check_port_free, scenario_name, serve

    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port must be 1..65535 (got {args.port})")
    name = scenario_name(args.scenario)
    check_port_free(args.host, args.port)
    serve(name, host=args.host, port=args.port)
    return 0
