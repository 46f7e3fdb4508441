"""Parameter sets of a sweep: a full grid, a Latin hypercube or a scrambled Sobol sequence.

The LHS and Sobol designs draw points ``u`` in the unit cube ``[0, 1)^d`` with
``scipy.stats.qmc`` seeded by the sweep seed, and map each coordinate through its
parameter's quantile function (:meth:`Parameter.value`): uniform or log-uniform between the
bounds, rounded for integer fields, equally likely choices. Sample ``i`` is row ``i`` of the
design, so the design, like every run, depends only on the spec.
"""

from __future__ import annotations

import inspect
import itertools
from typing import Any

import numpy as np

from sim.studies.sweeps.spec import SweepSpec


def rng_kwarg(func: Any, seed: int) -> dict[str, Any]:
    """``{"rng": generator}`` for SciPy >= 1.15, ``{"seed": ...}`` / ``{"random_state": ...}``
    before (the keyword was renamed; the generator is the same)."""
    params = inspect.signature(func).parameters
    gen = np.random.default_rng(seed)
    for name in ("rng", "seed", "random_state"):
        if name in params:
            return {name: gen}
    raise TypeError(f"{func} takes no random generator")


def unit_points(spec: SweepSpec) -> np.ndarray:
    """(samples, d) design points in the unit cube (LHS or Sobol)."""
    # Imported here: scipy.stats takes about a second, which a sweep with worker
    # processes spends while they start (sim.studies.sweeps.fork_server.start_workers).
    from scipy.stats import qmc

    d = len(spec.parameters)
    if spec.design == "lhs":
        lhs = qmc.LatinHypercube(d=d, **rng_kwarg(qmc.LatinHypercube, spec.seed))
        return lhs.random(spec.samples)
    if spec.design == "sobol":
        engine = qmc.Sobol(d=d, scramble=True, **rng_kwarg(qmc.Sobol, spec.seed))
        return engine.random_base2(int(np.log2(spec.samples)))
    raise ValueError(f"design {spec.design!r} has no unit points")


def design_values(spec: SweepSpec) -> list[tuple[Any, ...]]:
    """Per sample, the tuple of parameter values in ``spec.parameters`` order."""
    if spec.design == "grid":
        return list(itertools.product(*(p.grid_values() for p in spec.parameters)))
    points = unit_points(spec)
    return [tuple(p.value(float(u)) for p, u in zip(spec.parameters, row, strict=True))
            for row in points]
