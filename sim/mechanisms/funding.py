"""Mechanism 2: cash, fundraising, exit and acquisition (market constriction).

Per alive lab and month (USD bn):

* ``opex = opex_per_h100e * compute + serving_cost_share * revenue``
* ``grants``: each sovereign's monthly open-model budget split equally over the alive labs
  it backs.
* ``cash1 = cash + revenue + grants - opex``
* Operating burn ``burn = opex - revenue - grants`` (compute purchases are discretionary and
  scale with cash, so they are left out); a lab whose runway ``cash1 / burn`` is below
  ``runway_trigger_months`` (or whose cash is negative) tries to raise.
* Success probability ``p = min(1, p0 * sentiment[region] * narrative)`` with
  ``narrative = exp(-max(0, frontier_bench - bench) / narrative_points_scale)`` ("keeping
  up"); round size ``round_months_of_burn * upkeep * sentiment * narrative`` where
  ``upkeep = opex + depreciation * compute * compute_price`` is the monthly cost of keeping
  the lab at its current scale. Investors size rounds on the lab's scale, not on its cash:
  sizing on a burn that includes cash-proportional compute spending would feed back
  (more cash, more spending, bigger rounds) and explode. Rounds are capped at
  ``MAX_ROUND_USD_BN``.
* A lab with negative cash after the round exits. With ``acquisition_probability`` its
  compute moves to the richest surviving lab of the same home region; otherwise the compute
  is lost. Its negative cash is written off (creditors' loss, recorded as ``written_off``).

Money is conserved: ``sum(cash') - sum(cash) = revenue + grants + raised - opex + written_off``
(``written_off`` is minus the cash of exiting labs); compute purchases follow in mechanism 3.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sim.arrays import sum_over_labs
from sim.mechanisms.compute import compute_price
from sim.mechanisms.policy import investor_sentiment
from sim.rng import MonthDraws
from sim.world import Params, Population, WorldState

#: Largest round any lab can raise in a month (USD bn). The largest private AI rounds to date
#: are ~40 USD bn (OpenAI, 2025-03); a trillion is beyond any plausible capital market. The
#: bound keeps extreme but valid parameter sets (capex of all cash, rounds of 120 months of
#: upkeep every month, unbounded sentiment) from compounding to overflow over long horizons.
MAX_ROUND_USD_BN = 1000.0


def sovereign_grants(alive: np.ndarray, pop: Population) -> np.ndarray:
    """(R, L) USD bn/month: each sovereign's budget split over the alive labs it backs."""
    backing = pop.sov_backing.astype(float)  # (S, L)
    n_backed = sum_over_labs(alive.astype(float), backing.T)  # (R, S)
    per_lab = np.divide(pop.sov_budget_usd_bn[None, :], n_backed,
                        out=np.zeros_like(n_backed), where=n_backed > 0)
    return sum_over_labs(per_lab, backing) * alive


def funding_step(
    state: WorldState, pop: Population, p: Params, draws: MonthDraws
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    alive = state.alive
    opex = (p.opex_usd_bn_per_h100e_month * state.compute
            + p.serving_cost_share * state.revenue) * alive
    grants = sovereign_grants(alive, pop)
    revenue = state.revenue * alive
    cash1 = np.where(alive, state.cash + revenue + grants - opex, 0.0)
    burn = opex - revenue - grants
    runway = np.divide(cash1, burn, out=np.full_like(cash1, np.inf), where=burn > 0)
    wants = alive & ((runway < p.runway_trigger_months) | (cash1 < 0))

    frontier = np.max(np.where(alive, state.bench, -np.inf), axis=1, keepdims=True)
    frontier = np.where(np.isfinite(frontier), frontier, state.bench.max(axis=1, keepdims=True))
    narrative = np.exp(-np.maximum(frontier - state.bench, 0.0) / p.narrative_points_scale)
    sentiment = investor_sentiment(state.log_sentiment, state.shock_log)[:, pop.lab_region]
    prob = np.minimum(1.0, p.raise_base_probability * sentiment * narrative)
    success = wants & (draws.raise_u < prob)
    upkeep = opex + (p.depreciation_per_month * state.compute
                     * compute_price(state.month, state.export_multiplier, pop, p))
    round_size = np.minimum(p.round_months_of_burn * upkeep * sentiment * narrative,
                            MAX_ROUND_USD_BN)
    raised = np.where(success, np.maximum(round_size, 0.0), 0.0)
    cash2 = cash1 + raised

    exits = alive & (cash2 < 0)
    alive2 = alive & ~exits
    same = pop.same_region[None, :, :] & alive2[:, None, :]  # (R, i exiting, j candidate)
    score = np.where(same, cash2[:, None, :], -np.inf)
    acquirer = np.argmax(score, axis=2)  # (R, L)
    has_acquirer = np.isfinite(np.max(score, axis=2))
    acquired = exits & has_acquirer & (draws.acquire_u < p.acquisition_probability)
    moved = np.where(acquired, state.compute, 0.0)
    n_runs, n_labs = alive.shape
    transfer = np.zeros((n_runs, n_labs))
    rows = np.repeat(np.arange(n_runs)[:, None], n_labs, axis=1)
    np.add.at(transfer, (rows[acquired], acquirer[acquired]), moved[acquired])
    compute = np.where(exits, 0.0, state.compute) + transfer

    written_off = np.where(exits, -cash2, 0.0)
    cash3 = np.where(exits, 0.0, cash2)
    updates = dict(alive=alive2, cash=cash3, compute=compute)
    flows = dict(
        revenue_in=revenue, grants=grants, opex=opex, raised=raised, written_off=written_off,
        exits=exits, acquired=acquired, acquirer=np.where(acquired, acquirer, -1),
        raise_attempts=wants,
    )
    return updates, flows
