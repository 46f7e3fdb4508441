"""How fast the dashboard (``opengap app``) answers a slider change.

After a control changes, the page calls :func:`sim.dashboard.ensemble.recompute` (apply the
controls to the scenario, simulate the ensemble over the full horizon, summarise it into
bands) and then redraws its four panels (:mod:`sim.dashboard.figures`, PNG). This script
times exactly those calls on ``scenarios/baseline.toml``:

* the reference: ``recompute`` for 1 run;
* ``recompute`` for the dashboard's default 50 runs, each time after a different change of
  the distillation-efficiency control (so no result can be reused);
* the redraw of the four panels from a 50-run ensemble.

Each timing is the median (and maximum) of several repetitions after one warm-up call
(``time.perf_counter``). The target is under 2 s for the 50-run recompute. The debounce
(:data:`sim.dashboard.page.DEBOUNCE_SECONDS`) and the browser's own drawing come on top.

Usage: ``python experiments/bench_app.py [--quick] [--runs N] [--repeat K]``; ``--quick``
shrinks the horizon and population to a few seconds (a smoke test, not a benchmark).
"""

from __future__ import annotations

import argparse
import io
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sim.dashboard import figures  # noqa: E402
from sim.dashboard.ensemble import recompute  # noqa: E402
from sim.dashboard.settings import default_settings, load_named  # noqa: E402
from sim.dashboard.world import SteppedWorld  # noqa: E402
from sim.inputs.seeds import load_seeds  # noqa: E402

TARGET_SECONDS = 2.0
QUICK = {"population.buyers_per_segment": 10, "time.end": "2027-03"}


def _times(fn: Callable[[int], object], repeat: int) -> list[float]:
    fn(-1)  # warm-up
    out = []
    for i in range(repeat):
        t0 = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t0)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    parser.add_argument("--runs", type=int, default=50, help="ensemble size (default 50)")
    parser.add_argument("--repeat", type=int, default=5, help="timed repetitions (default 5)")
    args = parser.parse_args(argv)
    repeat = 2 if args.quick else args.repeat

    base = load_named("baseline")
    seeds = load_seeds(start=base.time.start)
    if args.quick:
        base = base.with_overrides(QUICK)
    settings = default_settings("baseline", base)
    n_months = base.time.n_months
    n_agents = None

    def change(i: int, n_runs: int) -> object:
        # A different distillation efficiency at every call: a real slider change.
        return recompute(base, seeds, settings.updated(
            n_runs=n_runs, distill_efficiency=round(0.2 + 0.05 * (i % 12), 2)))

    one = _times(lambda i: change(i, 1), repeat)
    many = _times(lambda i: change(i, args.runs), repeat)

    scenario, bands = change(0, args.runs)
    world = SteppedWorld(scenario, sim_seed=settings.seed, seeds=seeds)
    n_agents = len(world.agents)
    for _ in range(n_months // 2):
        world.step()
    track = world.track()

    def redraw(_: int) -> None:
        for fig in (figures.frontier_figure(bands, bands, track),
                    figures.gap_figure(bands, bands, track),
                    figures.shares_figure(bands, bands, track),
                    figures.alive_figure(bands, bands, track)):
            fig.savefig(io.BytesIO(), **figures.PNG_OPTIONS)

    draw = _times(redraw, repeat)

    med1, med, med_draw = (statistics.median(x) for x in (one, many, draw))
    steps = args.runs * n_months * n_agents
    print(f"opengap dashboard benchmark ({'quick' if args.quick else 'full'}): "
          f"scenario '{base.name}', {n_months} months, {n_agents} agents, "
          f"python {platform.python_version()}, {platform.machine()}")
    print(f"median (max) of {repeat} after a warm-up; the machine may be shared, so "
          "timings are noisy")
    print(f"  recompute, 1 run (reference):   {med1:7.3f} s ({max(one):.3f})")
    print(f"  recompute, {args.runs} runs:           {med:7.3f} s ({max(many):.3f})  "
          f"= {med / med1:.1f} x the 1-run reference, "
          f"{steps / med / 1e6:.2f} M agent-steps/s")
    print(f"  redraw of the 4 panels (PNG):   {med_draw:7.3f} s ({max(draw):.3f})")
    print(f"  slider change to new figures:   {med + med_draw:7.3f} s")
    verdict = "met" if max(many) < TARGET_SECONDS else "NOT met"
    print(f"target: {args.runs}-run recompute under {TARGET_SECONDS:.0f} s: {verdict} "
          f"(slowest {max(many):.3f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
