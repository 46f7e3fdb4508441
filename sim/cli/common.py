"""What several commands share: argument groups and their checks, scenario arguments, output
folders and batched simulation with a progress line.

Errors are :class:`UsageError` (an :class:`~sim.errors.InputError`): one line, exit status 2.
Everything is validated before anything is written, and every file is replaced atomically.
"""

from __future__ import annotations

import argparse
import math
import os
import shlex
import sys
import tempfile
from pathlib import Path
from typing import Any

from sim.errors import InputError
from sim.files import (
    LOCK_FILE,
    SLUG_RULE,
    is_slug,
    lock_folder,
    remove_temporaries,
    unlock_folder,
)
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
    parser.add_argument("--processes", type=int, default=None, metavar="P",
                        help="processes simulating batches and drawing figures at once "
                        "(default: one per CPU); results do not depend on it")
    add_size_option(parser)
    add_parameters_option(parser)


def add_parameters_option(parser: argparse.ArgumentParser) -> None:
    """``--fixed-parameters``: ignore the scenarios' posterior (:func:`load_scenario_arg`)."""
    parser.add_argument("--fixed-parameters", action="store_true",
                        help="use the parameter values as written: ignore the scenario's "
                        "posterior (default: each run draws the calibrated parameters from it, "
                        "if the scenario names one)")


def add_size_option(parser: argparse.ArgumentParser) -> None:
    """``--allow-large``: go past the memory and time limits of :func:`check_size`."""
    parser.add_argument("--allow-large", action="store_true",
                        help="run even when the estimated memory or time is above the limit "
                        "(see the error message for the estimate)")


#: Memory a simulating command needs besides its runs (interpreter, numpy, numba, pyarrow,
#: seeds): measured ~450 MB for `opengap run baseline --no-plots` [bytes].
BASE_BYTES = 600e6
#: Peak memory per run, in units of the run's recorded outputs: the batch, the runs
#: concatenated and the tidy table being written (measured ~2.6 for the baseline, 200 ->
#: 800 runs: +109 MB for 600 runs of 71 KB) [x].
BYTES_PER_OUTPUT_BYTE = 4.0
#: Seconds per run-month on one core, generous (measured ~4e-5 for the baseline on a
#: 2-core machine: 800 runs x 45 months in 4.7 s, start-up included) [s].
SECONDS_PER_RUN_MONTH = 1e-4
#: Longest a command may be estimated to take without --allow-large [s].
MAX_SECONDS = 24 * 3600.0


def available_bytes() -> float:
    """Memory a command may plan to use: half of ``MemAvailable`` (``/proc/meminfo``; the
    rest for other processes and the page cache that keeps writes fast), else a quarter of
    physical memory, else 4 GB [bytes]."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return float(line.split()[1]) * 1024 / 2
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE") / 4
    except (ValueError, OSError, AttributeError):
        return 4e9


def _human_bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{n / 1e6:.2g} MB"


def _human_seconds(s: float) -> str:
    for unit, size in (("days", 2 * 86400.0), ("h", 3600.0), ("min", 60.0)):
        if s >= size:
            return f"{s / size:.3g} {unit}"
    return f"{s:.2g} s"


def check_size(what: str, need_bytes: float, need_seconds: float, allow: bool) -> None:
    """Refuse work whose estimated peak memory is above the memory available, or whose
    estimated time is above :data:`MAX_SECONDS`, in one line giving both estimates and
    limits, unless ``allow`` (``--allow-large``)."""
    limit_bytes = available_bytes()
    if allow or (need_bytes <= limit_bytes and need_seconds <= MAX_SECONDS):
        return
    raise UsageError(f"{what}: estimated {_human_bytes(need_bytes)} of memory and "
                     f"{_human_seconds(need_seconds)}, above the limits of "
                     f"{_human_bytes(limit_bytes)} (half the memory available) and "
                     f"{_human_seconds(MAX_SECONDS)}; use fewer runs, or --allow-large to "
                     "go ahead")


def check_run_size(scenario: Scenario, seeds: Any, args: argparse.Namespace,
                   worlds: int = 1) -> None:
    """:func:`check_size` for ``worlds`` scenarios of ``args.runs`` runs each, all held in
    memory at once, simulated in batches of ``args.batch_size``."""
    from sim.core.engine import output_bytes_per_run
    from sim.core.world import build_world

    per_run = output_bytes_per_run(build_world(scenario, seeds))
    runs = args.runs * worlds
    need = BASE_BYTES + BYTES_PER_OUTPUT_BYTE * per_run * runs
    seconds = SECONDS_PER_RUN_MONTH * runs * scenario.time.n_months
    check_size(f"--runs {args.runs}" + (f" x {worlds} scenarios" if worlds > 1 else "")
               + (f" --batch-size {args.batch_size}" if args.batch_size < args.runs else ""),
               need, seconds, getattr(args, "allow_large", False))


#: Driver memory per parameter set of a sweep: its design row (a tuple of Python numbers and
#: the unit point it came from), its place in the plan and in design.parquet; measured ~180
#: bytes with 2 parameters (1,000,000 LHS samples) [bytes].
SWEEP_BYTES_PER_SAMPLE = 150.0
SWEEP_BYTES_PER_SAMPLE_PARAMETER = 60.0


def check_sweep_size(spec: Any, workers: int, allow: bool) -> None:
    """:func:`check_size` for a sweep: the driver holds the design (per parameter set), each
    worker one stacked batch of runs; the runs share ``workers`` cores."""
    from sim.core.engine import output_bytes_per_run
    from sim.core.world import build_world
    from sim.inputs.seeds import load_seeds
    from sim.studies.sweeps.chunks import STACK_RUNS

    per_run = output_bytes_per_run(build_world(spec.base, load_seeds(start=spec.base.time.start)))
    per_sample = SWEEP_BYTES_PER_SAMPLE + SWEEP_BYTES_PER_SAMPLE_PARAMETER * len(spec.parameters)
    need = (BASE_BYTES + per_sample * spec.samples
            + workers * (BASE_BYTES + BYTES_PER_OUTPUT_BYTE * per_run * STACK_RUNS))
    seconds = SECONDS_PER_RUN_MONTH * spec.n_runs * spec.base.time.n_months / workers
    check_size(f"{spec.source}: {spec.samples:,} parameter sets x {spec.replicates:,} "
               f"replicates", need, seconds, allow)


def check_counts(args: argparse.Namespace) -> None:
    """``--runs``, ``--seed`` and ``--batch-size`` of a simulating command, or UsageError."""
    if args.runs < 1:
        raise UsageError(f"--runs must be at least 1 (got {args.runs})")
    if args.seed < 0:
        raise UsageError(f"--seed must be a non-negative integer (got {args.seed})")
    if args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1 (got {args.batch_size})")
    if args.processes is not None and args.processes < 1:
        raise UsageError(f"--processes must be at least 1 (got {args.processes})")


def processes_of(args: argparse.Namespace) -> int:
    """``--processes``, or one per CPU this process may use."""
    from sim.parallel import default_processes

    return args.processes if getattr(args, "processes", None) else default_processes()


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
    from sim.parallel import default_processes

    workers = args.workers if args.workers is not None else default_processes()
    if workers < 1:
        raise UsageError(f"--workers must be at least 1 (got {workers})")
    if args.chunk_size is not None and args.chunk_size < 1:
        raise UsageError(f"--chunk-size must be at least 1 (got {args.chunk_size})")
    if args.scheduler and args.backend != "dask":
        raise UsageError("--scheduler needs --backend dask")
    return workers


# --------------------------------------------------------------------------- scenarios


def load_scenario_arg(arg: str, *, fixed_parameters: bool = False) -> tuple[Scenario, Path]:
    """A scenario named on the command line, resolved in the order of
    :func:`sim.inputs.scenario.resolve_scenario_path`: an existing ``.toml`` file, then a
    shipped scenario's name. With ``fixed_parameters`` (``--fixed-parameters``) its
    posterior is ignored; otherwise a posterior it names is loaded and checked here, before
    anything is simulated or written."""
    path = resolve_scenario_path(arg)
    if path.suffix != ".toml":
        shipped = shipped_scenario_names()
        raise ScenarioError(f"{arg}: no such scenario: not a .toml file, and no shipped "
                            f"scenario of that name (shipped: {', '.join(shipped) or 'none'})")
    return with_parameters(load_scenario(path), fixed_parameters), path


def with_parameters(scenario: Scenario, fixed_parameters: bool) -> Scenario:
    """``scenario`` at fixed parameters if asked (and it names a posterior); its posterior
    checked (:func:`sim.core.parameter_draws.scenario_draws`) otherwise."""
    from sim.core.parameter_draws import scenario_draws

    if fixed_parameters and scenario.posterior is not None and not scenario.fixed_parameters:
        scenario = scenario.model_copy(update={"fixed_parameters": True})
    scenario_draws(scenario)
    return scenario


def check_pairable(a: Scenario, b: Scenario, what: str) -> None:
    """Common random numbers pair runs only between worlds of the same shape and horizon."""
    if a.time != b.time or a.population != b.population:
        raise UsageError(f"{what}: cannot pair '{a.name}' with '{b.name}': their [time] or "
                         "[population] differ, so their random streams do not line up")

    def drawn_from(s: Scenario) -> str:
        drawn = s.posterior is not None and not s.fixed_parameters
        return f"posterior {s.posterior}" if drawn else "fixed parameters"

    if drawn_from(a) != drawn_from(b):
        raise UsageError(f"{what}: cannot pair '{a.name}' ({drawn_from(a)}) with '{b.name}' "
                         f"({drawn_from(b)}): paired runs must draw their parameters from the "
                         "same posterior; name the same posterior in both, or use "
                         "--fixed-parameters")


def command_line(args: argparse.Namespace) -> str:
    """The command as typed, for reports (``opengap ...``)."""
    return shlex.join([PROG, *getattr(args, "argv", sys.argv[1:])])


# --------------------------------------------------------------------------- output folders


def finite_float(text: str) -> float:
    """A number argument (an argparse ``type``): ``nan`` and ``inf`` are refused."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def out_dir_arg(text: str) -> Path:
    """``--out DIR`` (an argparse ``type``): an empty path would mean the current folder,
    which no command should fill with results by accident."""
    if not text.strip():
        raise argparse.ArgumentTypeError("expected a folder, got an empty path (to write into "
                                         "the current folder say --out .)")
    return Path(text)


def default_out(parent: Path, name: str, what: str) -> Path:
    """``parent/name`` for a command without ``--out``; ``name`` (a scenario's or spec's)
    must be a slug, so it cannot climb out of ``parent`` or be an absolute path."""
    if not is_slug(name):
        raise UsageError(f"{what} name {name!r} cannot be a folder name: expected {SLUG_RULE}; "
                         "rename it or give --out DIR")
    return parent / name


def prepare_out_dir(out: Path) -> bool:
    """Make sure ``out`` is a writable folder, take its lock (:func:`sim.files.lock_folder`:
    a second writer is refused in one line; released when the command ends) and delete
    temporary files an earlier killed writer left there. Returns True if the folder was
    created here."""
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a folder")
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=out):
            pass
    except OSError as exc:
        raise UsageError(f"--out {out}: cannot write there ({exc.strerror or exc})") from None
    try:
        lock_folder(out)
    except BaseException:
        if created:
            remove_if_empty(out)
        raise
    remove_temporaries(out)
    return created


def remove_if_empty(path: Path) -> None:
    """Remove a folder this command created if a failure left it empty (but for the lock
    file, which this process holds: released first)."""
    unlock_folder(path)
    try:
        entries = {p.name for p in path.iterdir()}
        if entries <= {LOCK_FILE}:
            (path / LOCK_FILE).unlink(missing_ok=True)
        path.rmdir()
    except OSError:
        pass


def run_output_names() -> set[str]:
    """Every file ``opengap run`` may write into its folder."""
    from sim.report.outputs import (
        DRAWS_FILE,
        EVENTS_FILE,
        LABS_FILE,
        MANIFEST_FILE,
        RESULTS_FILE,
    )
    from sim.report.plot_files import PLOT_FILES  # not sim.report.figures: no matplotlib

    return {RESULTS_FILE, LABS_FILE, EVENTS_FILE, MANIFEST_FILE, DRAWS_FILE,
            *PLOT_FILES.values()}


def sweep_output_names() -> set[str]:
    """Every file ``opengap sweep`` writes at the top of its folder (chunks aside)."""
    from sim.studies.sweeps import store

    return {store.MANIFEST, store.DESIGN, store.RUNS, store.FAILURES}


def check_run_out(out: Path, scenario: Scenario, *, force: bool) -> None:
    """Before ``opengap run`` simulates into ``out`` (locked): refuse, unless ``force``, a
    folder holding another scenario's results, a sweep, or result files without a run
    manifest. Once the runs are done, :func:`clear_outputs` deletes every result file there
    (the same scenario's earlier run's too), so that no stale file (a figure the new run
    does not draw) stays beside the new ones."""
    import json

    from sim.report.outputs import MANIFEST_FILE

    found = sorted(n for n in run_output_names() | sweep_output_names() if (out / n).exists())
    if (out / "chunks").is_dir() and any((out / "chunks").iterdir()):
        found.append("chunks/")
    if found and not force:
        try:
            doc = json.loads((out / MANIFEST_FILE).read_text(encoding="utf-8"))
            held = doc["scenario"]["content_hash"], doc["scenario"]["name"]
            if "run_ids" not in doc or doc.get("kind") == "opengap-sweep":
                raise KeyError("not a run manifest")
        except (OSError, ValueError, KeyError, TypeError):
            raise UsageError(f"--out {out}: holds {', '.join(found)} but no run manifest of "
                             "opengap run; use another folder, or --force to replace them"
                             ) from None
        if held[0] != scenario.content_hash():
            raise UsageError(f"--out {out}: holds the results of another scenario ('{held[1]}',"
                             f" hash {str(held[0])[:12]}); use another folder, or --force to "
                             "replace them")


def clear_outputs(out: Path) -> list[str]:
    """Delete every opengap result file in ``out`` (a run's or a sweep's, with a sweep's
    chunks); other files are left alone. Returns the names deleted."""
    from sim.studies.sweeps import store

    removed = []
    for name in sorted(run_output_names() | sweep_output_names()):
        if (out / name).is_file():
            (out / name).unlink()
            removed.append(name)
    removed += [f"{store.CHUNKS}/{n}" for n in store.clear_chunks(out)]
    return removed


# --------------------------------------------------------------------------- simulation


#: Fewest runs worth a worker process of their own: about 40 ms of simulation, against
#: about 10-20 ms to fork a worker and return its results.
MIN_RUNS_PER_PROCESS = 20


def plan_batches(runs: int, batch_size: int, processes: int, *, align: int = 1) -> list[slice]:
    """Runs ``0..runs-1`` cut into batches of at most ``batch_size`` runs: as few as that
    allows, but at least one per process (so all of them have work; fewer processes when
    there are not :data:`MIN_RUNS_PER_PROCESS` runs for each), of equal size but for the
    last. With ``align`` > 1 every batch but the last is a multiple of ``align`` runs
    (at least ``align``; the tidy table's chunks must not straddle two batches)."""
    processes = max(1, min(processes, runs // MIN_RUNS_PER_PROCESS))
    n = max(-(-runs // batch_size), processes)
    n = -(-n // processes) * processes if n > 1 else 1  # a whole number of rounds
    size = -(-runs // n)
    if align > 1:
        size = max(align, size // align * align)
    return [slice(lo, min(lo + size, runs)) for lo in range(0, runs, size)]


class BatchSimulator:
    """Simulates spans of runs of one (scenario, seed) in sub-batches of ``batch_size``;
    built before worker processes are forked, so they inherit the built world."""

    def __init__(self, scenario: Scenario, seed: int, seeds: Any, batch_size: int) -> None:
        from sim.core import engine
        from sim.inputs.seeds import check_seed_world

        check_seed_world(seeds, scenario.time.start)
        self.scenario, self.seed, self.seeds, self.batch_size = scenario, seed, seeds, batch_size
        self.world = engine.build_world(scenario, seeds)  # as engine.simulate builds it
        # The compiled loops are loaded (or, on a fresh machine, built and cached) here,
        # once, before any worker is forked: workers inherit them instead of each loading
        # them, and never compile the same code at once (numba issue 4807).
        engine.warm_up(self.world, seeds)
        #: ``on_runs(k)``: k runs of the span being simulated in this process are done.
        self.on_runs: Any = None

    def arrays(self, runs: slice) -> dict[str, Any]:
        """``Results.arrays`` of runs ``runs.start .. runs.stop - 1``."""
        import numpy as np

        from sim.core.engine import simulate_world
        from sim.report.outputs import concat_results

        parts = []
        for lo in range(runs.start, runs.stop, self.batch_size):
            hi = min(lo + self.batch_size, runs.stop)
            tick = None
            if self.on_runs is not None:
                def tick(done: int, total: int, _lo: int = lo - runs.start,
                         _n: int = hi - lo) -> None:
                    self.on_runs(_lo + _n * done / total)
            parts.append(simulate_world(self.scenario, self.world, seeds=self.seeds,
                                        seed=self.seed, run_ids=np.arange(lo, hi),
                                        progress=tick))
        return concat_results(parts).arrays

    def results(self, runs: slice, arrays: dict[str, Any] | None = None) -> Any:
        """A ``Results`` of runs ``runs`` (simulated here unless ``arrays`` are given)."""
        import numpy as np

        from sim.core.engine import Results

        return Results(scenario=self.scenario, world=self.world, seed=self.seed,
                       run_ids=np.arange(runs.start, runs.stop),
                       arrays=self.arrays(runs) if arrays is None else arrays)


def simulate_batches(sim: BatchSimulator, work: Any, batches: list[slice], label: str,
                     processes: int, while_waiting: Any = None) -> Any:
    """``work(batch)`` for each of ``batches`` (slices of runs) in order, computed in
    ``processes`` processes, with a progress line (advanced as batches finish);
    ``while_waiting()`` runs here once the first batches are handed out."""
    from sim.parallel import fork_available, ordered_map
    from sim.report.progress import Progress

    runs = batches[-1].stop if batches else 0
    progress = Progress(label)
    progress.update(0, runs)
    here = processes <= 1 or len(batches) <= 1 or not fork_available()
    current = [0]
    if here:  # finer progress: months of runs done in this process
        sim.on_runs = lambda k: progress.update(current[0] + k, runs)
    try:
        for batch, result in zip(batches, ordered_map(work, batches, processes=processes,
                                                             while_waiting=while_waiting),
                                 strict=True):
            progress.update(batch.stop, runs)
            current[0] = batch.stop
            yield result
    finally:
        sim.on_runs = None
    progress.finish()


def simulate_all(scenario: Scenario, args: argparse.Namespace, seeds: Any, label: str,
                 runs: int | None = None, while_waiting: Any = None) -> Any:
    """Runs 0..runs-1 of ``scenario`` on ``args.seed``, in batches of at most
    ``args.batch_size`` spread over ``--processes`` processes, with a progress line; one
    :class:`~sim.core.engine.Results` for all of them (the same whatever the batches).
    ``while_waiting()`` runs in this process once the first batches are handed out."""
    import numpy as np

    runs = args.runs if runs is None else runs
    processes = processes_of(args)
    sim = BatchSimulator(scenario, args.seed, seeds, args.batch_size)
    batches = plan_batches(runs, args.batch_size, processes)
    out: dict[str, Any] = {}
    for batch, arrays in zip(batches, simulate_batches(sim, sim.arrays, batches, label,
                                                       processes, while_waiting), strict=True):
        for name, values in arrays.items():
            if name not in out:  # filled in place: no second copy of every array
                out[name] = np.empty((runs, *values.shape[1:]), values.dtype)
            out[name][batch] = values
    return sim.results(slice(0, runs), out)
