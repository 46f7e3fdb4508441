"""Mechanism 2: cash, fundraising, exit and acquisition (market constriction).

Per alive lab and month (USD bn):

* ``opex = opex_per_h100e * compute + serving_cost_share * revenue``
* ``grants``: sovereign grant lines (:class:`sim.core.world.GrantLines`), each split equally over
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

import numpy as np

from sim.core.arrays import sum_over_labs
from sim.core.kernels import compiled, param_at, tokens_by_jurisdiction
from sim.core.mechanisms import Flows, Updates
from sim.core.mechanisms.compute import compute_price
from sim.core.mechanisms.market import buyer_tokens
from sim.core.mechanisms.policy import investor_sentiment
from sim.core.rng import MonthDraws
from sim.core.world import Params, Population, World, WorldState

#: Largest round any lab can raise in a month (USD bn). The largest private AI rounds to date
#: are ~40 USD bn (OpenAI, 2025-03); a trillion is beyond any plausible capital market. The
#: bound keeps extreme but valid parameter sets (capex of all cash, rounds of 120 months of
#: upkeep every month, unbounded sentiment) from compounding to overflow over long horizons.
MAX_ROUND_USD_BN = 1000.0

#: Per lab (R, L), USD bn this month unless stated: ``revenue_in`` last month's revenue
#: credited to cash, ``grants`` received, ``grants_paid`` (R, S) paid by each sovereign,
#: ``opex``, ``raised``, ``written_off`` (minus the cash of exiting labs), ``exits`` and
#: ``acquired`` (bool), ``acquirer`` (lab index, -1 for none), ``raise_attempts`` (bool:
#: runway below the trigger).
FLOWS = ("revenue_in", "grants", "grants_paid", "opex", "raised", "written_off", "exits",
         "acquired", "acquirer", "raise_attempts")


def foreign_closed_dependency(choice: np.ndarray, month: int, pop: Population) -> np.ndarray:
    """(R, S) share of each sovereign's jurisdiction's tokens that buyers took from foreign
    closed labs (0 where the jurisdiction had no served demand)."""
    num, den = tokens_by_jurisdiction(choice, buyer_tokens(month, pop), pop.buyer_jurisdiction,
                                      pop.dependency_counted, len(pop.jur_domestic_pref))
    # num counts some of the tokens den counts (none negative): where den is 0 so is num, and
    # 0 / 1 gives the share of 0 without a masked division.
    return (num / np.where(den > 0, den, 1.0))[:, pop.sov_jurisdiction]


def grant_demand(state: WorldState, pop: Population, p: Params) -> np.ndarray:
    """(R, S) the ``demand`` factor of each sovereign's seeded grant line (see module doc)."""
    n_s = pop.n_sovereigns
    ratio = state.pressure / pop.sov_threshold
    others = max(n_s - 1, 1)
    foreign_pressure = (ratio.sum(axis=1, keepdims=True) - ratio) / others
    banned = np.isfinite(state.ban_threshold).astype(float)
    bans_abroad = banned.sum(axis=1, keepdims=True) - banned
    dependency = foreign_closed_dependency(state.choice, state.month, pop)
    return pop.sov_open_interest * (
        p.grant_pressure_weight * foreign_pressure + p.grant_dependency_weight * dependency
        + p.grant_ban_response * bans_abroad)


def sovereign_grants(state: WorldState, world: World) -> tuple[np.ndarray, np.ndarray]:
    """Grants received per lab (R, L) and paid per sovereign (R, S), USD bn/month."""
    pop, p, lines = world.population, world.params, world.grant_lines
    demand = grant_demand(state, pop, p)  # (R, S)
    budget = np.where(lines.responsive,
                      lines.usd_bn * p.grant_scale * (1.0 + demand[:, lines.sovereign]),
                      lines.usd_bn)  # (R, N)
    if state.month < lines.last_start:  # later, every line has started: nothing to zero
        budget = np.where(lines.start <= state.month, budget, 0.0)
    n_backed = sum_over_labs(state.alive.astype(float), lines.backing_float.T)  # (R, N)
    paid = np.where(n_backed > 0, budget, 0.0)
    # n_backed counts labs (whole numbers): max(n, 1) is n wherever a line pays, and an
    # unpaid line's 0 / 1 is the 0 it receives.
    per_lab = paid / np.maximum(n_backed, 1.0)
    return (sum_over_labs(per_lab, lines.backing_float) * state.alive,
            sum_over_labs(paid, lines.owner_onehot))


def acquisitions(exits: np.ndarray, alive: np.ndarray, cash: np.ndarray,
                 compute: np.ndarray, acquire_u: np.ndarray, pop: Population,
                 p: Params) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Who buys the compute of the labs exiting this month (see module doc).

    ``exits``, ``alive`` (the survivors), ``cash`` (after fundraising), ``compute`` (H100e)
    and ``acquire_u`` are (R, L). Returns each lab's compute after exits and transfers, the
    ``acquired`` flags and each acquired lab's ``acquirer`` (-1 where not acquired)."""
    n_runs, n_labs = exits.shape
    run, lab = np.nonzero(exits)  # exiting labs in (run, lab) order
    # Candidates: surviving labs of the exiting lab's home region; the richest wins, the
    # first one on ties (np.argmax).
    score = np.where(pop.same_region[lab] & alive[run], cash[run], -np.inf)  # (exits, L)
    best = score.argmax(axis=1)
    taken = (np.isfinite(score.max(axis=1))
             & (acquire_u < p.acquisition_probability)[run, lab])
    run, lab, best = run[taken], lab[taken], best[taken]
    acquired = np.zeros_like(exits)
    acquired[run, lab] = True
    acquirer = np.full((n_runs, n_labs), -1, dtype=np.int64)
    acquirer[run, lab] = best
    # Summed in (run, lab) order, like the per-agent reference.
    transfer = np.bincount(run * n_labs + best, weights=compute[run, lab],
                           minlength=n_runs * n_labs).reshape(n_runs, n_labs)
    return np.where(exits, 0.0, compute) + transfer, acquired, acquirer


@compiled
def fundraising(alive: np.ndarray, cash: np.ndarray, compute: np.ndarray,
                last_revenue: np.ndarray, grants: np.ndarray, bench: np.ndarray,
                raise_u: np.ndarray, sentiment: np.ndarray, compute_price: np.ndarray,
                opex_rate: float | np.ndarray, serving_cost_share: float | np.ndarray,
                runway_trigger: float | np.ndarray, narrative_scale: float | np.ndarray,
                raise_base_probability: float | np.ndarray, depreciation: float | np.ndarray,
                round_months: float | np.ndarray) -> tuple[np.ndarray, ...]:
    """One month of operating costs and fundraising, lab by lab: the module doc's equations
    as a compiled loop, because in a single world they were some sixty tiny array operations
    a month.

    Arrays are (R, L): ``sentiment`` is the investor sentiment of each lab's region,
    ``compute_price`` USD bn per H100e; the parameters are numbers or (R, 1) per-run values.
    Returns ``opex``, ``revenue`` (this month's, of alive labs), ``raised``, ``cash`` after
    the round, ``wants`` (tried to raise) and ``exits`` (cash below zero), each (R, L).
    Every expression keeps the order of operations of the array form it replaced, so the
    numbers are the same bit for bit.
    """
    n_runs, n_labs = alive.shape
    opex, revenue = np.empty((n_runs, n_labs)), np.empty((n_runs, n_labs))
    raised, cash2 = np.empty((n_runs, n_labs)), np.empty((n_runs, n_labs))
    wants = np.empty((n_runs, n_labs), dtype=np.bool_)
    exits = np.empty((n_runs, n_labs), dtype=np.bool_)
    for r in range(n_runs):
        # "Keeping up" is measured against the best alive lab (any lab if none is alive).
        frontier = -np.inf
        for lab in range(n_labs):
            if alive[r, lab]:
                frontier = max(frontier, bench[r, lab])
        if frontier == -np.inf:
            for lab in range(n_labs):
                frontier = max(frontier, bench[r, lab])
        for lab in range(n_labs):
            is_alive = 1.0 if alive[r, lab] else 0.0
            cost = (param_at(opex_rate, r) * compute[r, lab]
                    + param_at(serving_cost_share, r) * last_revenue[r, lab]) * is_alive
            income = last_revenue[r, lab] * is_alive
            cash1 = cash[r, lab] + income + grants[r, lab] - cost if alive[r, lab] else 0.0
            burn = cost - income - grants[r, lab]
            runway = cash1 / burn if burn > 0 else np.inf
            tries = alive[r, lab] and (runway < param_at(runway_trigger, r) or cash1 < 0)
            narrative = np.exp(-max(frontier - bench[r, lab], 0.0)
                               / param_at(narrative_scale, r))
            mood = sentiment[r, lab]
            prob = min(1.0, param_at(raise_base_probability, r) * mood * narrative)
            upkeep = cost + (param_at(depreciation, r) * compute[r, lab] * compute_price[r, lab])
            round_size = min(param_at(round_months, r) * upkeep * mood * narrative,
                             MAX_ROUND_USD_BN)
            amount = max(round_size, 0.0) if tries and raise_u[r, lab] < prob else 0.0
            opex[r, lab], revenue[r, lab], raised[r, lab] = cost, income, amount
            cash2[r, lab] = cash1 + amount
            wants[r, lab] = tries
            exits[r, lab] = alive[r, lab] and cash2[r, lab] < 0
    return opex, revenue, raised, cash2, wants, exits


def funding_step(state: WorldState, world: World, draws: MonthDraws) -> tuple[Updates, Flows]:
    """Grants, operating costs, fundraising, exits and acquisitions for one month."""
    pop, p = world.population, world.params
    alive = state.alive
    grants, grants_paid = sovereign_grants(state, world)
    opex, revenue, raised, cash2, wants, exits = fundraising(
        alive=alive, cash=state.cash, compute=state.compute, last_revenue=state.revenue,
        grants=grants, bench=state.bench, raise_u=draws.raise_u,
        sentiment=investor_sentiment(state.log_sentiment, state.shock_log)[:, pop.lab_region],
        compute_price=compute_price(state.month, state.export_multiplier, pop, p),
        opex_rate=p.opex_usd_bn_per_h100e_month, serving_cost_share=p.serving_cost_share,
        runway_trigger=p.runway_trigger_months, narrative_scale=p.narrative_points_scale,
        raise_base_probability=p.raise_base_probability,
        depreciation=p.depreciation_per_month, round_months=p.round_months_of_burn)
    if exits.any():
        alive2 = alive & ~exits
        compute, acquired, acquirer = acquisitions(exits, alive2, cash2, state.compute,
                                                   draws.acquire_u, pop, p)
        written_off = np.where(exits, -cash2, 0.0)
        cash3 = np.where(exits, 0.0, cash2)
    else:  # the usual month: no lab exits, so nothing is written off, moved or acquired
        alive2, compute, cash3 = alive, state.compute, cash2
        acquired = exits
        acquirer = np.full(exits.shape, -1, dtype=np.int64)
        written_off = np.zeros(cash2.shape)
    updates = dict(alive=alive2, cash=cash3, compute=compute)
    flows = dict(
        revenue_in=revenue, grants=grants, grants_paid=grants_paid, opex=opex, raised=raised,
        written_off=written_off,
        exits=exits, acquired=acquired, acquirer=acquirer,
        raise_attempts=wants,
    )
    return updates, flows
