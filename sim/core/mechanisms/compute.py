"""Mechanism 3: compute purchase and depreciation.

Price per H100e (USD bn) at month t for a lab in region g:
``price = price0 * retention ** t * export_multiplier[g]`` with ``retention = (1 - decline)
** (1/12)``. Each alive lab spends ``capex_share_of_cash * max(cash, 0)``; purchases are
capped at ``export_cap[g]`` H100e per lab-month. ``compute' = compute * (1 - dep) + bought``.
"""

from __future__ import annotations

import numpy as np

from sim.core.mechanisms import Flows, Updates
from sim.core.rng import MonthDraws
from sim.core.world import Params, Population, World, WorldState

#: ``compute_spend`` (R, L): USD bn each lab spent on compute this month.
FLOWS = ("compute_spend",)


def compute_price(month: int, export_multiplier: np.ndarray, pop: Population,
                  p: Params) -> np.ndarray:
    """(R, L) USD bn per H100e at step ``month``."""
    return (p.price0_usd_bn_per_h100e * p.compute_price_retention ** month
            * export_multiplier[:, pop.lab_region])


def compute_step(state: WorldState, world: World, draws: MonthDraws) -> tuple[Updates, Flows]:
    """Purchases and depreciation for one month (deterministic: ``draws`` is unused)."""
    pop, p = world.population, world.params
    price = compute_price(state.month, state.export_multiplier, pop, p)
    budget = p.capex_share_of_cash * np.maximum(state.cash, 0.0) * state.alive
    bought = np.minimum(budget / price, state.export_cap[:, pop.lab_region])
    spend = bought * price
    compute = state.compute * (1.0 - p.depreciation_per_month) + bought
    updates = dict(compute=compute, cash=state.cash - spend, compute_spend=spend)
    return updates, dict(compute_spend=spend)
