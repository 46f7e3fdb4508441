"""Mechanism 6: adoption feedback (the RL flywheel from real users), saturating.

With ``kept = retention * flywheel`` and, from the first month of the RL era
(``capability.rl_era_start``: o1, 2024-09) on, ``g = rho * factor * log1p(users /
usage_scale)`` (0 before it), ``flywheel' = kept + (M - kept) * (1 - exp(-g / M))`` for alive
labs, ``M = flywheel_max_points``: for small ``g`` it adds ``g * (1 - kept / M)``, and it
never passes ``M``, however much use a lab sees (the gain saturates). With
``retention = 0.5 ** (1 / half_life)``, ``factor = 1`` for closed labs (they serve
users directly and learn from their feedback) and ``open_flywheel_factor`` for open labs
(whose usage mostly runs through third-party hosts they do not see). The flywheel stock
(ECI points) is added to the robustness of a lab's next release.
"""

from __future__ import annotations

import numpy as np

from sim.core.mechanisms import Flows, Updates
from sim.core.rng import MonthDraws
from sim.core.world import World, WorldState

#: Adoption records no flows (the flywheel stock is state).
FLOWS: tuple[str, ...] = ()


def adoption_step(state: WorldState, world: World, draws: MonthDraws) -> tuple[Updates, Flows]:
    """The flywheel stock after this month's use (deterministic: ``draws`` is unused)."""
    pop, p = world.population, world.params
    factor = np.where(pop.lab_is_open, p.open_flywheel_factor, 1.0)
    on = 1.0 if state.month >= world.rl_era_step else 0.0
    gain = p.flywheel_points_per_month * factor * np.log1p(state.users / p.usage_scale_t_tokens)
    kept = p.flywheel_retention * state.flywheel
    with np.errstate(over="ignore"):  # a huge gain over a tiny ceiling fills it: -inf -> 1
        filled = -np.expm1(-gain * on / p.flywheel_max_points)
    flywheel = (kept + (p.flywheel_max_points - kept) * filled) * state.alive
    return dict(flywheel=flywheel), {}
