"""What sweep worker processes start with, prepared once in the fork server they are forked
from (``multiprocessing``'s preload, :mod:`sim.studies.sweeps.fork_server`).

Importing this module loads the engine's compiled loops (from Numba's on-disk cache, or
compiling and caching them on a machine where they are not yet: only this process writes
the cache, so workers never race to write it, numba issue 4807) by stepping the shipped
baseline's first month, and reads the default seeds; every worker forked afterwards
inherits both instead of spending about a second on its first chunk loading them. The
baseline is stepped at fixed parameters (no posterior table is read, so no Arrow thread
pool exists before the fork); its builds serve every sweep, since the loops take their
parameters as per-run arrays whatever varies (``sim.core.kernels.per_run_parameters``).
"""

from __future__ import annotations

import sys

from sim.core.engine import warm_up
from sim.core.world import build_world
from sim.inputs.scenario import load_scenario, resolve_scenario_path
from sim.studies.sweeps.chunks import worker_seeds


def prepare() -> None:
    """Read the default seeds and load the compiled loops into this process (see the
    module doc). A failure here only costs the workers their head start: it is reported
    in one line and the server goes on (a preload that raised would end it)."""
    try:
        baseline = load_scenario(resolve_scenario_path("baseline"))
        fixed = baseline.model_copy(update={"fixed_parameters": True})
        seeds = worker_seeds(fixed.time.start, None)
        warm_up(build_world(fixed, seeds), seeds)
    except Exception as exc:  # noqa: BLE001 - the workers load what they need themselves
        print(f"opengap sweep: workers start without preloaded loops ({exc})",
              file=sys.stderr)


prepare()
