"""The ``opengap`` command (also ``python -m sim``): one table of commands.

Each row of :data:`COMMANDS` names a command and the module that implements it; the module
has ``HELP`` and ``DESCRIPTION`` (strings), ``add_arguments(parser)`` and ``run(args) -> int``.
Adding a command is one module and one row.

Errors a user can fix (any :class:`~sim.errors.InputError`: a bad scenario, seed table,
spec, bets file, outcome, argument or output folder) are reported as one line
``opengap: error: <message>`` on stderr with exit status 2. Everything is validated before
anything is written, and every file is replaced atomically, so an error never leaves a
damaged or half-written file in the output folder.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from types import ModuleType

import sim
from sim.cli.common import PROG, ArgumentParser
from sim.errors import USAGE_EXIT, InputError
from sim.files import unlock_all_folders

#: command name -> module implementing it, in the order ``--help`` lists them.
COMMANDS: dict[str, str] = {
    "run": "sim.cli.run",
    "compare": "sim.cli.compare",
    "bets": "sim.cli.bets",
    "sweep": "sim.cli.sweep",
    "sensitivity": "sim.cli.sensitivity",
    "discover": "sim.cli.discover",
    "calibrate": "sim.cli.calibrate",
    "app": "sim.cli.app",
    "outcomes": "sim.cli.outcomes",
    "schema": "sim.cli.schema",
    "completion": "sim.cli.completion",
}


def command_module(name: str) -> ModuleType:
    """The module of command ``name`` (imported on first use)."""
    return importlib.import_module(COMMANDS[name])


def build_parser() -> argparse.ArgumentParser:
    parser = ArgumentParser(prog=PROG, description="Simulate the race between closed and "
                            "open-weight AI labs, month by month from a seeded world "
                            "(2026-04, or 2023-01 for the history backtest).")
    parser.add_argument("--version", action="version", version=f"{PROG} {sim.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgumentParser)
    for name in COMMANDS:
        module = command_module(name)
        command = sub.add_parser(name, help=module.HELP, description=module.DESCRIPTION)
        module.add_arguments(command)
        command.set_defaults(handler=module.run)
    return parser


def _terminate(signum: int, frame: object) -> None:
    """SIGTERM (``kill``): unwind like Ctrl-C, so that ``finally`` blocks delete temporary
    files and release the output folder's lock."""
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``opengap``; returns the exit status."""
    try:
        previous = signal.signal(signal.SIGTERM, _terminate)
    except ValueError:  # not the main thread (a test calling main from a thread)
        previous = None
    try:
        return _main(argv)
    finally:
        unlock_all_folders()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _main(argv: list[str] | None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return USAGE_EXIT
        args.argv = list(sys.argv[1:] if argv is None else argv)
        return args.handler(args)
    except SystemExit as exc:  # --help / --version
        return exc.code if isinstance(exc.code, int) else 0
    except InputError as exc:
        _error(str(exc))
        return USAGE_EXIT
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _error(f"{where}{exc.strerror or exc}")
        return USAGE_EXIT
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{PROG}: interrupted\n")
        return 130


def _error(message: str) -> None:
    one_line = " ".join(str(message).split())
    sys.stderr.write(f"{PROG}: error: {one_line}\n")
