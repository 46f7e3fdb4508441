"""The ``opengap`` command (also ``python -m sim``).

``opengap run SCENARIO [--runs N] [--seed S] [--out DIR] [--batch-size B] [--no-plots]``
(and ``opengap calibrate SPEC --out DIR``, see :mod:`sim.studies.calibration`)
simulates a scenario (a TOML file, or the name of a shipped scenario such as ``baseline``)
in batches of runs, writes ``results.parquet``, ``events.csv``, figures and
``manifest.json`` into DIR (default ``results/<scenario name>``) and prints headline
numbers. ``opengap compare`` and ``opengap bets`` live in :mod:`sim.cli.studies`.

``opengap app [SCENARIO] [--host H] [--port P]`` serves the interactive dashboard
(:mod:`sim.app`) on ``http://127.0.0.1:8765/`` by default.

Errors a user can fix (a bad scenario or seed table, bad arguments, an unwritable output
folder) are reported as one line ``opengap: error: <message>`` on stderr with exit status
2. Everything is validated before anything is written, and every file is replaced
atomically, so an error never leaves a damaged or half-written file in the output folder.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

import sim
from sim.inputs.scenario import ScenarioError, load_scenario, resolve_scenario_path, scenarios_dir
from sim.inputs.seeds import SeedError
from sim.measures.outcomes import OutcomeError
from sim.studies.bets import BetsError
from sim.studies.calibration.spec import CalibrationError
from sim.studies.sweeps import SweepError

PROG = "opengap"
DEFAULT_RUNS = 100
DEFAULT_SEED = 0
DEFAULT_BATCH = 200


class UsageError(Exception):
    """Bad command-line arguments or an unusable output folder (exit status 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Simulate the race between closed and "
                     "open-weight AI labs, month by month from a seeded world "
                     "(2026-04, or 2023-01 for the history backtest).")
    parser.add_argument("--version", action="version", version=f"{PROG} {sim.__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    run = sub.add_parser("run", help="simulate a scenario and write results and figures",
                         description="Simulate a scenario and write results.parquet, "
                         "events.csv, figures (PNG) and manifest.json.")
    run.add_argument("scenario", metavar="SCENARIO",
                     help="scenario TOML file, or the name of a shipped scenario (baseline)")
    add_count_options(run, runs_help="number of runs", seed_help="master seed, >= 0")
    run.add_argument("--out", type=Path, default=None, metavar="DIR",
                     help="output folder (default results/<scenario name>)")
    run.add_argument("--no-plots", action="store_true", help="skip the figures")
    from sim.cli.studies import add_parsers

    add_parsers(sub)
    cal = sub.add_parser("calibrate", help="fit parameters to the Epoch ECI record",
                         description="Fit the parameters a calibration spec declares to the "
                         "observed ECI frontiers; write calibrated.toml (a parameter fragment "
                         "for `include`), calibration.json, fit.png and report.md.")
    cal.add_argument("spec", metavar="SPEC", help="calibration spec TOML file")
    cal.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    app = sub.add_parser("app", help="serve the interactive dashboard in the browser",
                         description="Serve a dashboard: sliders for a scenario's key "
                         "parameters, live ensemble bands, a stepped world and its events.")
    app.add_argument("scenario", metavar="SCENARIO", nargs="?", default="baseline",
                     help="shipped scenario to open first (default baseline)")
    app.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1, this machine only)")
    app.add_argument("--port", type=int, default=8765, help="port (default 8765)")
    from sim.cli.sweep import add_commands as add_sweep_commands

    add_sweep_commands(sub)
    return parser


# --------------------------------------------------------------------------- progress


def _clock(seconds: float) -> str:
    seconds = max(0, int(round(seconds)))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class Progress:
    """A one-line progress bar on ``stream``: redrawn in place (at most ~10 times a second)
    when it is a terminal, otherwise one line at every 10% step."""

    def __init__(self, total: int, label: str, stream: IO[str] | None = None,
                 width: int = 24) -> None:
        self.total, self.label, self.width = total, label, width
        self.stream = stream if stream is not None else sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.start = time.monotonic()
        self.last_draw = -1.0
        self.last_decile = 0

    def line(self, done: float) -> str:
        frac = min(max(done / self.total, 0.0), 1.0)
        elapsed = time.monotonic() - self.start
        eta = elapsed * (1 - frac) / frac if frac > 0 else float("nan")
        filled = int(round(frac * self.width))
        bar = "#" * filled + "." * (self.width - filled)
        eta_text = _clock(eta) if eta == eta else "?"
        return (f"{self.label} [{bar}] {int(done)}/{self.total} runs {frac:4.0%}  "
                f"elapsed {_clock(elapsed)}  ETA {eta_text}")

    def update(self, done: float) -> None:
        now = time.monotonic()
        if self.tty:
            if now - self.last_draw >= 0.1 or done >= self.total:
                self.stream.write("\r" + self.line(done) + "\x1b[K")
                self.stream.flush()
                self.last_draw = now
        else:
            decile = int(10 * done / self.total + 1e-9)
            if decile > self.last_decile:
                self.last_decile = decile
                self.stream.write(self.line(done) + "\n")
                self.stream.flush()

    def finish(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


# --------------------------------------------------------------------------- run


def _load_scenario(arg: str) -> tuple[Any, Path]:
    path = resolve_scenario_path(arg)
    if not path.exists() and Path(arg).suffix != ".toml" and os.sep not in arg:
        shipped = sorted(p.stem for p in scenarios_dir().glob("*.toml"))
        raise ScenarioError(f"{arg}: no such scenario file, and no shipped scenario of that "
                            f"name (shipped: {', '.join(shipped) or 'none'})")
    return load_scenario(path), path


def _prepare_out_dir(out: Path) -> bool:
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


def _headlines(results: Any) -> list[str]:
    from sim.measures import metrics

    n = results.n_months
    at = min(12, n - 1)
    gap = metrics.quantiles(metrics.gap_points(results)["closed_vs_open"][:, at])
    lag = metrics.quantiles(metrics.lag_by_pair(results)["closed_vs_open"][:, at])
    gap0 = metrics.quantiles(metrics.gap_points(results)["closed_vs_open"][:, 0])
    tok = metrics.quantiles(metrics.open_token_share(results)[:, -1])
    usd = metrics.quantiles(metrics.open_dollar_share(results)[:, -1])
    from sim.calendar import format_month

    start = results.world.params.start_month
    m_at, m_end = format_month(start + at), format_month(start + n - 1)
    return [
        f"closed vs best open gap: {gap0[1]:.1f} ECI points at {format_month(start)}, "
        f"{gap[1]:.1f} [{gap[0]:.1f}, {gap[2]:.1f}] at {m_at}",
        f"closed vs best open lag at {m_at}: {lag[1]:.1f} [{lag[0]:.1f}, {lag[2]:.1f}] months",
        f"open-weight share at {m_end}: tokens {tok[1]:.0%} [{tok[0]:.0%}, {tok[2]:.0%}], "
        f"dollars {usd[1]:.0%} [{usd[0]:.0%}, {usd[2]:.0%}]",
        _policy_headline(results, m_end),
        "(medians over runs, [10%, 90%] in brackets)",
    ]


def _policy_headline(results: Any, m_end: str) -> str:
    """Share of runs with each sovereign's open-weight ban or crackdown in force at the end."""
    pop, arr = results.world.population, results.arrays
    parts = []
    for flag, label in (("ban_active", "ban"), ("crackdown_active", "crackdown")):
        for s, sov in enumerate(pop.sovereign_ids):
            share = float(arr[flag][:, -1, s].mean())
            if share > 0:
                parts.append(f"{sov.upper()} {label} {share:.0%}")
    listed = ", ".join(parts) if parts else "none in any run"
    return f"policies in force at {m_end} (share of runs): {listed}"


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


def cmd_run(args: argparse.Namespace) -> int:
    # Validate everything before simulating or writing anything.
    check_counts(args)
    scenario, scenario_path = _load_scenario(args.scenario)
    from sim.cli.studies import simulate_all
    from sim.inputs.seeds import load_seeds
    from sim.report.outputs import RESULTS_FILE, write_results

    seeds = load_seeds(start=scenario.time.start)
    out = args.out if args.out is not None else Path("results") / scenario.name
    created = _prepare_out_dir(out)
    try:
        results = simulate_all(scenario, args, seeds, f"{scenario.name}:")
        what = "results" if args.no_plots else "results and figures"
        sys.stderr.write(f"writing {what} to {out}/ ...\n")
        written = write_results(results, out, scenario_path=scenario_path,
                                plots=not args.no_plots)
    except BaseException:
        if created:
            _remove_if_empty(out)
        raise
    figures = [p.name for p in written if p.suffix == ".png"]
    print(f"wrote {results.n_runs} runs of '{scenario.name}' (seed {args.seed}) to {out}/")
    print(f"  tidy table: {out / RESULTS_FILE}; events: events.csv; manifest: manifest.json")
    if figures:
        print(f"  figures: {', '.join(figures)}")
    for line in _headlines(results):
        print(line)
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    from sim.core.engine import simulate
    from sim.inputs.seeds import load_seeds
    from sim.report.calibration import write_calibration
    from sim.studies.calibration.fit import Objective, calibrate, load_observed
    from sim.studies.calibration.spec import load_spec

    spec = load_spec(args.spec)  # validated before anything is simulated or written
    created = _prepare_out_dir(args.out)
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
            _remove_if_empty(args.out)
        raise
    print(f"calibrated {len(spec.parameters)} parameters of '{spec.scenario.name}': RMSE "
          f"{result.rmse:.2f} ECI points (start values {result.start_loss ** 0.5:.2f})")
    for name in spec.names:
        se = result.std_error[name]
        print(f"  {name} = {result.values[name]:.4g}" + (f" (s.e. {se:.3g})" if se == se else ""))
    print(f"wrote {', '.join(p.name for p in written)} to {args.out}/")
    return 0


def cmd_app(args: argparse.Namespace) -> int:
    from sim.app import check_port_free, scenario_name, serve

    if not 1 <= args.port <= 65535:
        raise UsageError(f"--port must be 1..65535 (got {args.port})")
    name = scenario_name(args.scenario)
    check_port_free(args.host, args.port)
    serve(name, host=args.host, port=args.port)
    return 0


def _remove_if_empty(path: Path) -> None:
    try:
        path.rmdir()
    except OSError:
        pass


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``opengap``; returns the exit status."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command is None:
            parser.print_help(sys.stderr)
            return 2
        args.argv = list(sys.argv[1:] if argv is None else argv)
        if args.command == "run":
            return cmd_run(args)
        if args.command in ("compare", "bets"):
            from sim.cli import studies as commands

            return commands.cmd_compare(args) if args.command == "compare" \
                else commands.cmd_bets(args)
        if args.command == "calibrate":
            return cmd_calibrate(args)
        if args.command == "app":
            return cmd_app(args)
        from sim.cli.sweep import HANDLERS as SWEEP_HANDLERS

        if args.command in SWEEP_HANDLERS:
            return SWEEP_HANDLERS[args.command](args)
        raise UsageError(f"unknown command {args.command!r}")
    except SystemExit as exc:  # --help / --version
        return exc.code if isinstance(exc.code, int) else 0
    except (ScenarioError, SeedError, UsageError, BetsError, CalibrationError, SweepError,
            OutcomeError) as exc:
        _error(str(exc))
        return 2
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        _error(f"{where}{exc.strerror or exc}")
        return 2
    except KeyboardInterrupt:
        sys.stderr.write(f"\n{PROG}: interrupted\n")
        return 130


def _error(message: str) -> None:
    one_line = " ".join(str(message).split())
    sys.stderr.write(f"{PROG}: error: {one_line}\n")
