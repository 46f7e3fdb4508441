"""The monthly mechanisms of docs/design.md section 4, one module each.

Every mechanism is a pure function with one signature::

    step(state: WorldState, world: World, draws: MonthDraws) -> (updates, flows)

It reads a :class:`sim.core.world.WorldState` (arrays shaped ``(runs, agents)``), the fixed
:class:`sim.core.world.World` (population, parameters, schedule) and this month's random
draws, and returns a dict of replaced state fields plus a dict of the month's flows. Each
module declares the names of its flows once, in ``FLOWS``; the engine's table
(:data:`sim.core.engine.MECHANISMS`) lists the mechanisms in their monthly order. Nothing
is mutated, so the batched engine, the Mesa model and the tests all run exactly the same
code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from sim.core.rng import MonthDraws
    from sim.core.world import World, WorldState

#: State fields a mechanism replaces, by ``WorldState`` field name.
Updates = dict[str, Any]
#: A month's flows by name, arrays shaped ``(runs, ...)``.
Flows = dict[str, np.ndarray]


@dataclass(frozen=True)
class Mechanism:
    """One monthly mechanism: its name, its step function and the flows it returns (the
    keys of its ``flows`` dict, exactly; ``tests/test_mechanisms.py`` checks them)."""

    name: str
    step: Callable[[WorldState, World, MonthDraws], tuple[Updates, Flows]]
    flows: tuple[str, ...]
