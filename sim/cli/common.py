"""What several commands share: argument groups and their checks, scenario arguments, output
folders and batched simulation with a progress line.

Errors are :class:`UsageError` (an :class:`~sim.errors.InputError`): one line, exit status 2.
Everything is validated before anything is written, and every file is replaced atomically.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from sim.errors import InputError
from sim.inputs.scenario import (
    Scenario,
    ScenarioError,
    load_scenario,
    resolve_scenario_path,
    shipped_scenario_names,
)

PROG = "opengap"
DEFAULT_RUNS = 100
DEFAULT_SEED = 0
DEFAULT_BATCH = 200


class UsageError(InputError):
    """Bad command-line arguments or an unusable output folder (exit status 2)."""


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a bad argument raises :class:`UsageError` (reported like every other
    input error) instead of printing usage and exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


# --------------------------------------------------------------------------- argument groups


def add_count_options(parser: argparse.ArgumentParser, *, runs_help: str,
                      seed_help: str) -> None:
    """``--runs``, ``--seed`` and ``--batch-size`` of a simulating command (checked by
    :func:`check_counts`)."""
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS, metavar="N",
                        help=f"{runs_help} (default {DEFAULT_RUNS})")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, metavar="S",
                        help=f"{seed_help} (default {DEFAULT_SEED})")
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH, metavar="B",
                        help=f"runs simulated at once; bounds memory (default {DEFAULT_BATCH}); "
                        "results do not depend on it")


def check_counts(args: argparse.Namespace) -> None:
    """``--runs``, ``--seed`` and ``--batch-size`` of a simulating command, or UsageError."""
    if args.runs < 1:
        raise UsageError(f"--runs must be at least 1 (got {args.runs})")
    if args.seed < 0:
        raise UsageError(f"--seed must be a non-negative integer (got {args.seed})")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1 (got {args.batch_size})")


def default_workers() -> int:
    """Worker processes when ``--workers`` is not given: one per CPU."""
    return max(1, os.cpu_count() or 1)


def add_backend_options(parser: argparse.ArgumentParser) -> None:
    """``--backend``, ``--workers``, ``--scheduler`` and ``--chunk-size`` of a command that
    runs sweep chunks (checked by :func:`check_backend`)."""
    from sim.studies.sweeps.backends import BACKENDS

    parser.add_argument("--backend", choices=BACKENDS, default="local",
                        help="local: a process pool on this machine (default); dask: Dask "
                        "distributed (a LocalCluster, or the scheduler at --scheduler)")
    parser.add_argument("--workers", type=int, default=None, metavar="N",
                        help="worker processes (default: the number of CPUs); results do not "
                        "depend on it")
    parser.add_argument("--scheduler", default=None, metavar="ADDRESS",
                        help="address of a running Dask scheduler, e.g. tcp://10.0.0.5:8786 "
                        "(with --backend dask)")
    parser.add_argument("--chunk-size", type=int, default=None, metavar="K",
                        help="parameter sets per chunk (default: ~200 runs a chunk); results "
                        "do not depend on it")


def check_backend(args: argparse.Namespace) -> int:
    """The backend options, or UsageError; returns the number of workers."""
    workers = args.workers if args.workers is not None else default_workers()
    if workers < 1:
        raise UsageError(f"--workers must be at least 1 (got {workers})")
    if args.chunk_size is not None and args.chunk_size < 1:
        raise UsageError(f"--chunk-size must be at least 1 (got {args.chunk_size})")
    if args.scheduler and args.backend != "dask":
        raise UsageError("--scheduler needs --backend dask")
    return workers


# --------------------------------------------------------------------------- scenarios


def load_scenario_arg(arg: str) -> tuple[Scenario, Path]:
    """A scenario named on the command line, resolved in the order of
    :func:`sim.inputs.scenario.resolve_scenario_path`: an existing ``.toml`` file, then a
    shipped scenario's name."""
    path = resolve_scenario_path(arg)
    if path.suffix != ".toml":
        shipped = shipped_scenario_names()
        raise ScenarioError(f"{arg}: no such scenario: not a .toml file, and no shipped "
                            f"scenario of that name (shipped: {', '.join(shipped) or 'none'})")
    return load_scenario(path), path


def check_pairable(a: Scenario, b: Scenario, what: str) -> None:
    """Common random numbers pair runs only between worlds of the same shape and horizon."""
    if a.time != b.time or a.population != b.population:
        raise UsageError(f"{what}: cannot pair '{a.name}' with '{b.name}': their [time] or "
                         "[population] differ, so their random streams do not line up")


def command_line(args: argparse.Namespace) -> str:
    """The command as typed, for reports (``opengap ...``)."""
    return shlex.join([PROG, *getattr(args, "argv", sys.argv[1:])])


# --------------------------------------------------------------------------- output folders


def prepare_out_dir(out: Path) -> bool:
    """Make sure ``out`` is a writable folder; returns True if it was created here."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    return created


def remove_if_empty(path: Path) -> None:
    """Remove a folder this command created if a failure left it empty."""
    try:
        path.rmdir()
    except OSError:
        pass


# --------------------------------------------------------------------------- simulation


def simulate_all(scenario: Scenario, args: argparse.Namespace, seeds: Any, label: str,
                 runs: int | None = None) -> Any:
    """Runs 0..runs-1 of ``scenario`` on ``args.seed``, in batches of ``args.batch_size``,
    with a progress line; one :class:`~sim.core.engine.Results` for all of them."""
    from sim.core.engine import simulate
    from sim.report.outputs import concat_results
    from sim.report.progress import Progress

    runs = args.runs if runs is None else runs
    progress = Progress(label)
    parts, done = [], 0
    for first in range(0, runs, args.batch_size):
        n = min(args.batch_size, runs - first)

        def tick(months: int, total: int, _done: int = done, _n: int = n) -> None:
            progress.update(_done + _n * months / total, runs)

        parts.append(simulate(scenario, n_runs=n, seed=args.seed, first_run=first,
                              seeds=seeds, progress=tick))
        done += n
    progress.finish()
    return concat_results(parts)
