"""How much the Mesa face costs over the engine for one world stepped month by month.

Times, in the same process, one baseline world (run 0, seed 1) over the full horizon:

* the reference: the engine alone (:func:`sim.core.engine.step` and its monthly recorder,
  45 calls), which is what ``simulate`` does for one run;
* :class:`sim.model.OpenGapModel` stepped to the end: the same mechanisms agent type by agent
  type, plus the DataCollector (model reporters from the measure registry, per-lab and
  per-sovereign agent reporters);
* the same model with the measure evaluation as it was before ``series_of`` (every
  measure's ``series`` on its own), for comparison.

Each timing is the median of ``--repeat`` repetitions after one warm-up call
(``time.perf_counter``); the script prints the ratios to the engine alone.

Usage: ``python experiments/bench_model.py [--repeat K]``.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from sim.core.engine import MonthlyRecorder  # noqa: E402
from sim.core.engine import step as engine_step  # noqa: E402
from sim.core.rng import RandomStreams  # noqa: E402
from sim.core.world import build_world, initial_state  # noqa: E402
from sim.inputs.scenario import load_scenario, resolve_scenario_path  # noqa: E402
from sim.inputs.seeds import load_seeds  # noqa: E402
from sim.model import MODEL_MEASURES, OpenGapModel  # noqa: E402


def _median(fn: Callable[[], object], repeat: int) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    scenario = load_scenario(resolve_scenario_path("baseline"))
    seeds = load_seeds(start=scenario.time.start)
    world = build_world(scenario, seeds)

    def engine_only() -> None:
        state = initial_state(world, seeds, 1)
        streams = RandomStreams.for_population(1, [0], world.population)
        recorder = MonthlyRecorder.new(world, state)
        for t in range(world.params.n_months):
            state, flows = engine_step(world, state, streams.month(t))
            recorder.record(t, world, state, flows)

    def mesa_model() -> None:
        model = OpenGapModel(scenario, sim_seed=1, seeds=seeds)
        while model.running:
            model.step()

    class OneByOne(OpenGapModel):
        def measure(self, name: str) -> float:  # every measure's series on its own
            if self.state.month == 0:
                return float("nan")
            return float(MODEL_MEASURES[name].series(self.results)[0, -1])

    def mesa_one_by_one() -> None:
        model = OneByOne(scenario, sim_seed=1, seeds=seeds)
        while model.running:
            model.step()

    n = world.params.n_months
    ref = _median(engine_only, args.repeat)
    rows = [("engine alone (reference)", ref),
            ("OpenGapModel, registry evaluated with series_of", _median(mesa_model, args.repeat)),
            ("OpenGapModel, each measure on its own", _median(mesa_one_by_one, args.repeat))]
    print(f"baseline, one world, {n} months, median of {args.repeat}")
    for label, t in rows:
        print(f"  {label:50s} {1e3 * t:8.1f} ms  x{t / ref:5.1f}")


if __name__ == "__main__":
    main()
