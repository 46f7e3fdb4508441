"""Mechanism 2: cash, fundraising, exit and acquisition (market constriction).

Per alive lab and month (USD bn):

* ``opex = opex_per_h100e * compute + serving_cost_share * revenue``
* ``grants``: sovereign grant lines (:class:`sim.world.GrantLines`), each split equally over
  the alive labs it backs. A sovereign's seeded line pays
  ``budget * grant_scale * (1 + demand)`` with
  ``demand = open_interest * (w_p * foreign_pressure + w_d * dependency + w_b * bans_abroad)``:
  ``foreign_pressure`` the mean of ``pressure / threshold`` over the other sovereigns,
  ``dependency`` the share of its jurisdiction's tokens served last month by foreign closed
  labs, ``bans_abroad`` the number of other sovereigns with an open-weight ban in force.
  ``open_program`` lines pay their fixed amount from their start month.
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
from sim.kernels import tokens_by_jurisdiction
from sim.mechanisms.compute import compute_price
from sim.mechanisms.market import buyer_tokens
from sim.mechanisms.policy import investor_sentiment
from sim.rng import MonthDraws
from sim.world import Params, Population, World, WorldState

#: Largest round any lab can raise in a month (USD bn). The largest private AI rounds to date
#: are ~40 USD bn (OpenAI, 2025-03); a trillion is beyond any plausible capital market. The
#: bound keeps extreme but valid parameter sets (capex of all cash, rounds of 120 months of
#: upkeep every month, unbounded sentiment) from compounding to overflow over long horizons.
MAX_ROUND_USD_BN = 1000.0


def foreign_closed_dependency(choice: np.ndarray, month: int, pop: Population) -> np.ndarray:
    """(R, S) share of each sovereign's jurisdiction's tokens that buyers took from foreign
    closed labs (0 where the jurisdiction had no served demand)."""
    n_g = len(pop.jur_domestic_pref)
    counted = np.stack([pop.foreign_closed_lab, np.ones_like(pop.foreign_closed_lab)])[:, None]
    num, den = tokens_by_jurisdiction(choice, buyer_tokens(month, pop), pop.buyer_jurisdiction,
                                      counted, n_g)  # (R, G) each
    share = np.divide(num, den, out=np.zeros_like(num), where=den > 0)
    return share[:, pop.sov_jurisdiction]


def grant_demand(state: WorldState, pop: Population, p: Params) -> np.ndarray:
    """(R, S) the ``demand`` factor of each sovereign's seeded grant line (see module doc)."""
    n_s = pop.n_sovereigns
    ratio = state.pressure / pop.sov_threshold[None, :]
    others = max(n_s - 1, 1)
    foreign_pressure = (ratio.sum(axis=1, keepdims=True) - ratio) / others
    banned = np.isfinite(state.ban_threshold).astype(float)
    bans_abroad = banned.sum(axis=1, keepdims=True) - banned
    dependency = foreign_closed_dependency(state.choice, state.month, pop)
    return pop.sov_open_interest[None, :] * (
        p.grant_pressure_weight * foreign_pressure + p.grant_dependency_weight * dependency
        + p.grant_ban_response * bans_abroad)


def sovereign_grants(state: WorldState, world: World) -> tuple[np.ndarray, np.ndarray]:
    """Grants received per lab (R, L) and paid per sovereign (R, S), USD bn/month."""
    pop, p, lines = world.population, world.params, world.grant_lines
    demand = grant_demand(state, pop, p)  # (R, S)
    budget = np.where(lines.responsive[None, :],
                      lines.usd_bn[None, :] * p.grant_scale * (1.0 + demand[:, lines.sovereign]),
                      lines.usd_bn[None, :])
    budget = np.where(lines.start[None, :] <= state.month, budget, 0.0)  # (R, N)
    backing = lines.backing.astype(float)  # (N, L)
    n_backed = sum_over_labs(state.alive.astype(float), backing.T)  # (R, N)
    per_lab = np.divide(budget, n_backed, out=np.zeros_like(n_backed), where=n_backed > 0)
    paid = np.where(n_backed > 0, budget, 0.0)
    owner = (lines.sovereign[:, None] == np.arange(pop.n_sovereigns)[None, :]).astype(float)
    return sum_over_labs(per_lab, backing) * state.alive, sum_over_labs(paid, owner)


def funding_step(
    state: WorldState, world: World, draws: MonthDraws
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    pop, p = world.population, world.params
    alive = state.alive
    opex = (p.opex_usd_bn_per_h100e_month * state.compute
            + p.serving_cost_share * state.revenue) * alive
    grants, grants_paid = sovereign_grants(state, world)
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
        revenue_in=revenue, grants=grants, grants_paid=grants_paid, opex=opex, raised=raised,
        written_off=written_off,
        exits=exits, acquired=acquired, acquirer=np.where(acquired, acquirer, -1),
        raise_attempts=wants,
    )
    return updates, flows
