"""Speed of the vectorized engine against the per-agent reference implementation.

What it measures, on ``scenarios/baseline.toml`` (default population, full horizon):

* the per-agent reference (``tests/reference.py``: plain Python, one run at a time, loops
  over labs, sovereigns and buyers) for a few runs;
* the vectorized engine (``sim.core.engine.simulate``) for batches of 1, 100 and 1000 runs;
* the same with 10x and 100x the buyer population (``population.buyers_per_segment`` x 10,
  x 100): the reference for 1 run (at 100x over the first ``BIG_REF_MONTHS`` months only,
  to keep it near a minute: its cost per agent-step does not depend on the month), the
  engine for 100 and 10 runs;
* the peak memory per run of the 1000-run engine batch (``tracemalloc`` peak of a separate,
  untimed run, divided by the number of runs: numpy reports its buffers to tracemalloc),
  and, for a smaller batch at two horizons, the peak beyond the stored outputs per run,
  which should not grow with the horizon.

Throughput is in agent-steps per second, ``runs x months x (labs + sovereigns + buyers) /
wall seconds``, where a timing covers the whole ``simulate`` call (world building, random
draws, mechanisms, recorded outputs). ``engine/ref`` is the engine's throughput over the
reference's at the same population, both measured in this run (other processes on the
machine slow both alike; the absolute figures are noisy, the ratios less so). Every
configuration is warmed up once before timing (``time.perf_counter``); an engine batch is
timed several times (20 times for one world, 3 up to 100 runs, twice beyond) and the best
time counts, as ``timeit`` does. Both implementations consume the same random draws and
agree to round-off (``tests/test_reference.py``), so they do the same work. The targets of
issue 7 are printed against the figures of the same run.

``--profile`` adds a sampling profile (pyinstrument) of the largest batch and of one world:
the time of each mechanism, of the compiled buyer loops, of recording outputs and of the
random draws.

Usage: ``python experiments/bench_engine.py [--quick] [--profile] [--seed N]``; ``--quick``
shrinks the horizon, the population and the batches to a few seconds (a smoke test, not a
benchmark).
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "tests") not in sys.path:
    sys.path.insert(0, str(ROOT / "tests"))
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from reference import reference_simulate  # noqa: E402

from sim.core.engine import simulate, step  # noqa: E402
from sim.core.kernels import choose_models  # noqa: E402
from sim.core.mechanisms.market import group_utilities, market_view  # noqa: E402
from sim.core.rng import RandomStreams  # noqa: E402
from sim.core.world import build_world, initial_state  # noqa: E402
from sim.inputs.scenario import Scenario, load_scenario  # noqa: E402
from sim.inputs.seeds import Seeds, load_seeds  # noqa: E402


@dataclass(frozen=True)
class Config:
    ref_runs: int
    engine_batches: tuple[int, ...]
    #: (buyer factor, reference runs, reference months or None for all, engine runs)
    bigger: tuple[tuple[int, int, int | None, int], ...]
    memory_runs: int
    horizon_runs: int
    short_end: str  # the shorter horizon of the memory-growth check
    overrides: dict


#: Months of the reference at 100x buyers (a full horizon would take minutes).
BIG_REF_MONTHS = 12
FULL = Config(ref_runs=5, engine_batches=(1, 100, 1000),
              bigger=((10, 1, None, 100), (100, 1, BIG_REF_MONTHS, 10)),
              memory_runs=1000, horizon_runs=100, short_end="2027-12", overrides={})
QUICK = Config(ref_runs=1, engine_batches=(1, 4, 16), bigger=((10, 1, None, 4), (100, 1, 2, 2)),
               memory_runs=16, horizon_runs=4, short_end="2026-05",
               overrides={"population.buyers_per_segment": 4, "time.end": "2026-07"})


@dataclass
class Row:
    impl: str
    buyers: int
    agents: int
    runs: int
    months: int
    seconds: float

    @property
    def agent_steps(self) -> int:
        return self.runs * self.months * self.agents

    @property
    def rate(self) -> float:
        return self.agent_steps / self.seconds


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _repeats(impl: str, runs: int) -> int:
    """Timings taken of a configuration (the best counts): short engine batches are timed
    several times, so that a pause of the machine does not decide the figure."""
    if impl == "reference":
        return 1
    return 20 if runs == 1 else 3 if runs <= 100 else 2


def _measure(impl: str, scenario: Scenario, seeds: Seeds, runs: int, seed: int) -> Row:
    world = build_world(scenario, seeds)
    pop = world.population
    if impl == "reference":
        def run() -> object:
            return reference_simulate(scenario, runs, seed, seeds=seeds)
    else:
        def run() -> object:
            return simulate(scenario, n_runs=runs, seed=seed, seeds=seeds)
    seconds = min(_timed(run) for _ in range(_repeats(impl, runs)))
    return Row(impl, pop.n_buyers, pop.n_agents, runs, world.params.n_months, seconds)


def _warm_up(scenario: Scenario, seeds: Seeds, seed: int) -> None:
    short = _first_months(scenario, 2)
    reference_simulate(short, 1, seed, seeds=seeds)
    simulate(short, n_runs=1, seed=seed, seeds=seeds)


def _first_months(scenario: Scenario, months: int | None) -> Scenario:
    """``scenario`` cut to its first ``months`` months (all of them for None)."""
    if months is None:
        return scenario
    year, month = (int(x) for x in scenario.time.start.split("-"))
    last = year * 12 + month - 1 + months - 1
    return scenario.with_overrides({"time.end": f"{last // 12:04d}-{last % 12 + 1:02d}"})


def _peak_memory_per_run(scenario: Scenario, seeds: Seeds, runs: int,
                         seed: int) -> tuple[float, float]:
    """Peak traced bytes of one engine batch of ``runs`` runs, and the part of it beyond the
    stored outputs, per run."""
    tracemalloc.start()
    try:
        results = simulate(scenario, n_runs=runs, seed=seed, seeds=seeds)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    stored = sum(a.nbytes for a in results.arrays.values())
    return peak / runs, (peak - stored) / runs


#: Parts of a simulation whose time ``--profile`` reports: (label, function names whose
#: inclusive time counts). Mechanisms are the engine's step functions; indented rows are
#: parts of the row above (compiled Numba code shows as its Python caller's time).
PARTS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("policy", ("policy_step",)), ("funding", ("funding_step",)),
    ("compute", ("compute_step",)), ("research", ("research_step",)),
    ("market", ("market_step",)), ("  buyer choice (compiled)", ("choose",)),
    ("  utilities", ("group_utilities",)), ("adoption", ("adoption_step",)),
    ("record outputs", ("record",)), ("  buyer tallies (compiled)", ("buyer_outputs_into",)),
    ("random draws", ("month", "for_population")),
)


def _where_time_goes(scenario: Scenario, seeds: Seeds, runs: int, seed: int,
                     repeats: int = 1) -> str:
    """Sampling profile (pyinstrument) of ``repeats`` engine batches of ``runs`` runs, as time
    per part (``PARTS``)."""
    try:
        from pyinstrument import Profiler
    except ImportError:
        return "(--profile needs pyinstrument: pip install pyinstrument)"
    profiler = Profiler(interval=0.001)
    profiler.start()
    for _ in range(repeats):
        simulate(scenario, n_runs=runs, seed=seed, seeds=seeds)
    profiler.stop()
    root = profiler.last_session.root_frame()
    totals = dict.fromkeys((label for label, _ in PARTS), 0.0)
    stack = [root]
    while stack:
        frame = stack.pop()
        for label, names in PARTS:
            if frame.function in names:
                totals[label] += frame.time
        stack.extend(frame.children)
    lines = [f"{label:28s} {seconds:7.3f} s  {seconds / root.time:6.1%}"
             for label, seconds in totals.items()]
    rest = root.time - sum(v for k, v in totals.items() if not k.startswith("  "))
    lines.append(f"{'other (loop, setup)':28s} {rest:7.3f} s  {rest / root.time:6.1%}")
    return "\n".join(lines)


def _choice_floor(scenario: Scenario, seeds: Seeds, runs: int, seed: int,
                  at_month: int) -> tuple[float, float]:
    """Seconds per run-month of the exact buyer choice alone (``sim.core.kernels.choose_models``)
    on the state of a ``runs``-run batch after ``at_month`` months, and of its group softmax
    part alone (the same call with no buyers). Best of five."""
    world = build_world(scenario, seeds)
    pop = world.population
    state = initial_state(world, seeds, runs)
    streams = RandomStreams.for_population(seed, np.arange(runs), pop)
    for t in range(at_month):
        state, _ = step(world, state, streams.month(t))
    draws = streams.month(at_month)
    u = group_utilities(state, world, market_view(state, world))
    utility = u.reshape(runs, -1, pop.n_labs)
    no_buyers = slice(0, 0)

    def best(buyers: slice) -> float:
        def call() -> object:
            return choose_models(utility, state.choice[:, buyers], draws.choice_u[:, buyers],
                                 pop.buyer_group[buyers], pop.buyer_switch_gain[buyers])
        call()
        return min(_timed(call) for _ in range(5)) / runs

    return best(slice(None)), best(no_buyers)


def _targets(rows: list[Row], single: Row) -> str:
    """Issue 7's targets against this run's figures."""
    base = [r for r in rows if r.buyers == single.buyers]
    ref = next(r for r in base if r.impl == "reference")
    batch = max((r for r in base if r.impl == "engine"), key=lambda r: r.runs)

    def verdict(ok: bool) -> str:
        return "met" if ok else "NOT met"

    ratio = batch.rate / ref.rate
    return "\n".join([
        f"targets: engine at {batch.runs:,} runs >= 200x the reference: {ratio:,.0f}x "
        f"({verdict(ratio >= 200)})",
        f"         >= 20M agent-steps/s on one core: {batch.rate / 1e6:,.1f}M "
        f"({verdict(batch.rate >= 20e6)})",
        f"         one world < 50 ms: {single.seconds * 1e3:,.1f} ms "
        f"({verdict(single.seconds < 0.050)})",
    ])


def _table(rows: list[Row]) -> str:
    ref_rate = {r.buyers: r.rate for r in rows if r.impl == "reference"}
    header = ("impl", "buyers", "agents", "runs", "months", "agent-steps", "seconds",
              "agent-steps/s", "engine/ref")
    lines = [header]
    for r in rows:
        ratio = "-" if r.impl == "reference" or r.buyers not in ref_rate \
            else f"{r.rate / ref_rate[r.buyers]:,.0f}x"
        lines.append((r.impl, f"{r.buyers:,}", f"{r.agents:,}", f"{r.runs:,}", str(r.months),
                      f"{r.agent_steps:,}", f"{r.seconds:.3f}", f"{r.rate:,.0f}", ratio))
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    out = []
    for n, line in enumerate(lines):
        cells = [c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(line, widths,
                                                                                   strict=True))]
        out.append("  ".join(cells))
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes, for a smoke test")
    parser.add_argument("--seed", type=int, default=20260401)
    parser.add_argument("--profile", action="store_true",
                        help="also print where the time goes (needs pyinstrument)")
    args = parser.parse_args(argv)
    cfg = QUICK if args.quick else FULL

    seeds = load_seeds()
    scenario = load_scenario(ROOT / "scenarios" / "baseline.toml")
    if cfg.overrides:
        scenario = scenario.with_overrides(cfg.overrides)

    print(f"opengap engine benchmark ({'quick' if args.quick else 'full'}): "
          f"python {platform.python_version()}, numpy {np.__version__}, "
          f"{platform.machine()}, seed {args.seed}")
    _warm_up(scenario, seeds, args.seed)
    rows = [_measure("reference", scenario, seeds, cfg.ref_runs, args.seed)]
    rows += [_measure("engine", scenario, seeds, n, args.seed) for n in cfg.engine_batches]
    for factor, ref_runs, ref_months, engine_runs in cfg.bigger:
        big = scenario.with_overrides({
            "population.buyers_per_segment": scenario.population.buyers_per_segment * factor})
        _warm_up(big, seeds, args.seed)
        rows.append(_measure("reference", _first_months(big, ref_months), seeds, ref_runs,
                             args.seed))
        rows.append(_measure("engine", big, seeds, engine_runs, args.seed))
    print(_table(rows))
    single = next(r for r in rows if r.impl == "engine" and r.runs == 1)
    print(f"\none baseline world (1 run, {single.months} months, after import): "
          f"{single.seconds * 1e3:,.1f} ms")
    print("\n" + _targets(rows, single))
    largest = max(cfg.engine_batches)
    at_month = min(20, rows[0].months - 1)
    choice, softmax = _choice_floor(scenario, seeds, largest, args.seed, at_month)
    budget = rows[0].agents / 20e6
    print(f"\nfloor: the exact buyer choice alone takes {choice * 1e6:,.1f} us per run-month "
          f"({softmax * 1e6:,.1f} us of it the group softmax; {largest:,} runs, month "
          f"{at_month}); 20M agent-steps/s at {rows[0].agents:,} agents leaves "
          f"{budget * 1e6:,.1f} us per run-month for everything")
    batch = next(r for r in rows if r.impl == "engine" and r.runs == largest
                 and r.buyers == rows[0].buyers)
    per_run_month = batch.seconds / (batch.runs * batch.months)
    print(f"RATIO engine / floor: the engine takes {per_run_month * 1e6:,.1f} us per run-month "
          f"({largest:,} runs), {per_run_month / choice:.2f}x the exact buyer choice alone "
          "(issue 20's target: within 3x of the floor; this floor leaves out the random "
          "draws, about 8 us per run-month more)")

    per_run, _ = _peak_memory_per_run(scenario, seeds, cfg.memory_runs, args.seed)
    print(f"\npeak memory, engine batch of {cfg.memory_runs:,} runs "
          f"({rows[0].buyers:,} buyers, {rows[0].months} months): "
          f"{per_run * cfg.memory_runs / 2**20:,.1f} MiB in all, "
          f"{per_run / 2**10:,.1f} KiB per run (tracemalloc peak)")
    short = scenario.with_overrides({"time.end": cfg.short_end})
    for label, horizon in (("short", short), ("full", scenario)):
        total, beyond = _peak_memory_per_run(horizon, seeds, cfg.horizon_runs, args.seed)
        months = build_world(horizon, seeds).params.n_months
        print(f"  {label} horizon ({months} months, {cfg.horizon_runs} runs): "
              f"{total / 2**10:,.1f} KiB per run, of which "
              f"{beyond / 2**10:,.1f} KiB beyond the stored outputs")
    if args.profile:
        largest = max(cfg.engine_batches)
        print(f"\nwhere the time goes, engine batch of {largest:,} runs:")
        print(_where_time_goes(scenario, seeds, largest, args.seed))
        print("\nwhere the time goes, one world (x20):")
        print(_where_time_goes(scenario, seeds, 1, args.seed, repeats=20))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
