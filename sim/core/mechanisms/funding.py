"""Mechanism 2: cash, parent budgets, fundraising, run cancellation, exit and acquisition.

Per alive lab and month (USD bn):

* ``operating = (1 + k) * opex_per_h100e * compute + serving``: running the owned compute,
  with ``k = non_compute_cost_ratio`` USD of staff and other non-compute costs per USD of
  research and training compute (compute was 57-70% of total 2025 spending at Anthropic,
  MiniMax and Z.ai, Epoch), and ``serving`` last month's cost of serving the lab's own API's
  tokens (mechanism 5: inference compute, which competes with training for the same cash;
  OpenAI's 2024 compute was ~5 USD bn R&D and ~2 USD bn inference, Epoch; no per-token
  staff); ``opex = operating + k * payment`` (the run's staff);
* ``payment = contract_h100e * contract_price`` while a run is in progress: the run's compute
  contract, at the rental price locked when it was signed (mechanism 3);
* ``parent``: the corporate parent's budget (``World.parent_budget``);
* ``grants``: sovereign grant lines (:class:`sim.core.world.GrantLines`), each split equally over
  the alive labs it backs. A sovereign's seeded line pays
  ``budget * grant_scale * (1 + demand)`` with
  ``demand = open_interest * (w_p * foreign_pressure + w_d * dependency + w_b * bans_abroad)``:
  ``foreign_pressure`` the mean of ``pressure / threshold`` over the other sovereigns,
  ``dependency`` the share of its jurisdiction's tokens served last month by foreign closed
  labs, ``bans_abroad`` the number of other sovereigns with an open-weight ban in force.
  ``open_program`` lines pay their fixed amount from their start month.
* ``cash1 = cash + revenue + grants + parent - opex - payment``
* A lab tries to raise when its runway ``cash1 / burn`` (burn: all outflows less inflows) is
  below ``runway_trigger_months``, or, *ahead of its runs*, when ``cash1`` is short of its
  commitments (the rest of its contracts) plus, if it will plan a run within the lead time,
  the cost of a run keeping up with its camp's largest released run
  (``max(F_camp / (training_share * flop_per_h100e_month * pretrain) - compute, 0) * price *
  (pretrain + post_train)``), commitments and run both with their staff (``x (1 + k)``),
  plus a reserve of ``reserve_months`` of net operating burn
  (``net = revenue + grants + parent - operating``, kept in the state as ``net_inflow`` for
  the run planning of mechanism 3).
* Success probability ``p = min(1, p0 * sentiment[region] * narrative * access)`` with
  ``narrative = exp(-max(0, frontier_bench - bench) / narrative_points_scale)`` ("keeping
  up") and ``access`` the lab's investor access (1 unless an ``investor_access`` event cuts
  or raises it: ``World.investor_access``). Round ``= dilution * valuation``,
  ``valuation = m[region] * sentiment * (revenue_multiple * 12 * revenue +
  narrative_valuation * narrative)``: a revenue multiple, a narrative value that lets
  pre-revenue labs raise, and the regional valuation multiple ``m`` fit on the region's
  recorded rounds (``seeds/jurisdictions.csv``: US 1 by construction, CN 0.44, EU 0.9).
  Rounds are capped at ``MAX_ROUND_USD_BN``.
* The **funding outlook** ``outlook = min(1, sentiment * narrative * access)``, the factor by
  which the lab's odds of closing a round stand below neutral, is kept in the state as
  ``funding_outlook`` for the run planning of mechanism 3 (1 for a lab funded by a corporate
  parent this month: the parent's budget follows the parent's strategy, not the lab's
  investors). A lab that expects to raise less stretches its free cash over a longer horizon.
* A lab whose cash after the round is negative cancels the run in progress (its contract is
  terminated, this month's payment is not made, the run's FLOP are lost: no release) and any
  signed next contract; if its cash is still negative it exits. With
  ``acquisition_probability`` its compute moves to the richest surviving lab of the same home
  region; otherwise it is lost. Its negative cash is written off (``written_off``).

Money is conserved: ``sum(cash') - sum(cash) = revenue + grants + parent + raised - opex -
compute_spend + written_off`` (``written_off`` is minus the cash of exiting labs).
"""

from __future__ import annotations

import numpy as np

from sim.core.arrays import sum_over_labs
from sim.core.kernels import (
    compiled,
    param_at,
    per_run_parameters,
    tokens_by_jurisdiction,
)
from sim.core.mechanisms import Flows, Updates
from sim.core.mechanisms.compute import rental_price
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
#: ``parent_funds`` paid by corporate parents, ``opex``, ``compute_spend`` (contract
#: payments), ``raised``, ``written_off`` (minus the cash of exiting labs), ``exits`` and
#: ``acquired`` (bool), ``acquirer`` (lab index, -1 for none), ``raise_attempts`` (bool:
#: short runway or short of the next run), ``runs_cancelled`` (bool).
FLOWS = ("revenue_in", "grants", "grants_paid", "parent_funds", "opex", "compute_spend",
         "raised", "written_off", "exits", "acquired", "acquirer", "raise_attempts",
         "runs_cancelled")


def foreign_closed_dependency(choice: np.ndarray, group_demand: np.ndarray,
                              pop: Population) -> np.ndarray:
    """(R, S) share of each sovereign's jurisdiction's tokens that buyers took from foreign
    closed labs last month (``choice`` and ``group_demand`` of that month; 0 where the
    jurisdiction had no served demand)."""
    num, den = tokens_by_jurisdiction(choice, pop.buyer_tokens0, group_demand, pop.buyer_group,
                                      pop.buyer_jurisdiction, pop.dependency_counted,
                                      len(pop.jur_domestic_pref))
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
    dependency = foreign_closed_dependency(state.choice, state.group_demand, pop)
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
                last_revenue: np.ndarray, last_serving: np.ndarray, grants: np.ndarray,
                parent: np.ndarray,
                bench: np.ndarray, released_flop: np.ndarray, lab_camp: np.ndarray,
                run_months_left: np.ndarray, contract_h100e: np.ndarray,
                contract_price: np.ndarray, next_h100e: np.ndarray, next_price: np.ndarray,
                next_lead: np.ndarray, raise_u: np.ndarray, sentiment: np.ndarray,
                access: np.ndarray, valuation_multiple: np.ndarray,
                price: np.ndarray, opex_rate: float | np.ndarray,
                non_compute_ratio: float | np.ndarray, runway_trigger: float | np.ndarray,
                narrative_scale: float | np.ndarray,
                raise_base_probability: float | np.ndarray, dilution: float | np.ndarray,
                revenue_multiple: float | np.ndarray, narrative_valuation: float | np.ndarray,
                reserve_months: float | np.ndarray, training_share: float | np.ndarray,
                flop_per_h100e_month: float | np.ndarray, pretrain: float | np.ndarray,
                post_train: float | np.ndarray, lead: float | np.ndarray,
                ) -> tuple[np.ndarray, ...]:
    """One month of costs, contract payments, fundraising and cancellations, lab by lab: the
    module doc's equations as a compiled loop.

    Arrays are (R, L): ``sentiment`` is the investor sentiment of each lab's region,
    ``price`` today's rental price (USD bn per H100e-month), ``parent`` this month's parent
    budget, ``access`` the investor access; ``lab_camp``, ``valuation_multiple`` (L,); the
    parameters are numbers or (R, 1) per-run values. Returns
    ``opex``, ``revenue`` (this month's, of alive labs), ``parent`` paid, contract ``paid``,
    ``raised``, ``cash`` after the round, ``wants`` (tried to raise), ``cancelled``,
    ``exits`` (cash below zero after cancelling), ``net_inflow`` and the funding
    ``outlook`` (module doc), each (R, L), and the run state after
    cancellations: ``run_months_left``, ``contract_h100e``, ``contract_price``,
    ``next_h100e``, ``next_price``, ``next_lead``.
    """
    n_runs, n_labs = alive.shape
    opex, revenue = np.empty((n_runs, n_labs)), np.empty((n_runs, n_labs))
    parent_paid, paid = np.empty((n_runs, n_labs)), np.empty((n_runs, n_labs))
    raised, cash2 = np.empty((n_runs, n_labs)), np.empty((n_runs, n_labs))
    wants = np.empty((n_runs, n_labs), dtype=np.bool_)
    cancelled = np.zeros((n_runs, n_labs), dtype=np.bool_)
    exits = np.empty((n_runs, n_labs), dtype=np.bool_)
    net_inflow = np.empty((n_runs, n_labs))
    outlook = np.empty((n_runs, n_labs))
    months_left, h100e = run_months_left.copy(), contract_h100e.copy()
    locked = contract_price.copy()
    n_h100e, n_price, n_lead = next_h100e.copy(), next_price.copy(), next_lead.copy()
    n_camps = 0
    for lab in range(n_labs):
        n_camps = max(n_camps, lab_camp[lab] + 1)
    camp_flop = np.empty(n_camps)
    for r in range(n_runs):
        # "Keeping up" is measured against the best alive lab (any lab if none is alive).
        frontier = -np.inf
        for lab in range(n_labs):
            if alive[r, lab]:
                frontier = max(frontier, bench[r, lab])
        if frontier == -np.inf:
            for lab in range(n_labs):
                frontier = max(frontier, bench[r, lab])
        # The largest released run of each camp among alive labs (0 if none).
        for c in range(n_camps):
            camp_flop[c] = 0.0
        for lab in range(n_labs):
            if alive[r, lab]:
                camp_flop[lab_camp[lab]] = max(camp_flop[lab_camp[lab]], released_flop[r, lab])
        duration = param_at(pretrain, r) + param_at(post_train, r)
        for lab in range(n_labs):
            is_alive = 1.0 if alive[r, lab] else 0.0
            # Each USD of research and training compute (owned fleet, the run's contract)
            # brings ``non_compute_ratio`` USD of staff and other costs; serving is an API
            # business at its serving cost, with no per-token staff.
            overhead = 1.0 + param_at(non_compute_ratio, r)
            operating = (param_at(opex_rate, r) * compute[r, lab] * overhead
                         + last_serving[r, lab]) * is_alive
            income = last_revenue[r, lab] * is_alive
            funds = parent[r, lab] * is_alive
            running = alive[r, lab] and months_left[r, lab] > 0
            payment = h100e[r, lab] * locked[r, lab] if running else 0.0
            run_staff = (overhead - 1.0) * payment
            cost = operating + run_staff
            cash1 = (cash[r, lab] + income + grants[r, lab] + funds - cost - payment
                     if alive[r, lab] else 0.0)
            burn = cost + payment - income - grants[r, lab] - funds
            runway = cash1 / burn if burn > 0 else np.inf
            # Commitments: the rest of the current contract and the signed next one.
            committed = (h100e[r, lab] * locked[r, lab] * max(months_left[r, lab] - 1.0, 0.0)
                         + n_h100e[r, lab] * n_price[r, lab] * duration) * overhead
            keep_up = 0.0
            if n_lead[r, lab] < 0 and months_left[r, lab] <= param_at(lead, r) + 1.0:
                rate = (param_at(training_share, r) * param_at(flop_per_h100e_month, r)
                        * param_at(pretrain, r))
                needed = max(camp_flop[lab_camp[lab]] / rate - compute[r, lab], 0.0)
                keep_up = needed * price[r, lab] * duration * overhead
            net = income + grants[r, lab] + funds - operating
            reserve = param_at(reserve_months, r) * max(-net, 0.0)
            short = cash1 < committed + keep_up + reserve
            tries = alive[r, lab] and (runway < param_at(runway_trigger, r) or cash1 < 0
                                       or short)
            narrative = np.exp(-max(frontier - bench[r, lab], 0.0)
                               / param_at(narrative_scale, r))
            mood = sentiment[r, lab]
            prob = min(1.0, param_at(raise_base_probability, r) * mood * narrative
                       * access[r, lab])
            valuation = valuation_multiple[lab] * mood * (
                param_at(revenue_multiple, r) * 12.0 * income
                + param_at(narrative_valuation, r) * narrative)
            round_size = min(param_at(dilution, r) * valuation, MAX_ROUND_USD_BN)
            amount = max(round_size, 0.0) if tries and raise_u[r, lab] < prob else 0.0
            total = cash1 + amount
            if total < 0 and running:
                # The run is cancelled: the contract is terminated before this month's payment.
                cancelled[r, lab] = True
                total = total + payment + run_staff
                cost = operating
                payment = 0.0
                months_left[r, lab], h100e[r, lab], locked[r, lab] = 0.0, 0.0, 0.0
            if total < 0 and n_lead[r, lab] >= 0:
                cancelled[r, lab] = True
                n_h100e[r, lab], n_price[r, lab], n_lead[r, lab] = 0.0, 0.0, -1.0
            opex[r, lab], revenue[r, lab], raised[r, lab] = cost, income, amount
            parent_paid[r, lab], paid[r, lab] = funds, payment
            net_inflow[r, lab] = net
            # A parent's budget follows the parent's strategy, not the lab's investors.
            outlook[r, lab] = (1.0 if funds > 0 else
                               min(1.0, mood * narrative * access[r, lab]))
            cash2[r, lab] = total
            wants[r, lab] = tries
            exits[r, lab] = alive[r, lab] and total < 0
    return (opex, revenue, parent_paid, paid, raised, cash2, wants, cancelled, exits, net_inflow,
            outlook, months_left, h100e, locked, n_h100e, n_price, n_lead)


def funding_step(state: WorldState, world: World, draws: MonthDraws) -> tuple[Updates, Flows]:
    """Grants, parent budgets, costs, fundraising, cancellations, exits and acquisitions."""
    pop, p = world.population, world.params
    alive = state.alive
    grants, grants_paid = sovereign_grants(state, world)
    parent = np.broadcast_to(world.parent_budget[min(state.month, p.n_months - 1)],
                             alive.shape)
    (opex, revenue, parent_paid, paid, raised, cash2, wants, cancelled, exits, net_inflow,
     outlook, months_left, h100e, locked, n_h100e, n_price, n_lead) = fundraising(
        alive=alive, cash=state.cash, compute=state.compute, last_revenue=state.revenue,
        last_serving=state.serving_cost,
        grants=grants, parent=parent, bench=state.bench, released_flop=state.released_flop,
        lab_camp=pop.lab_camp, run_months_left=state.run_months_left,
        contract_h100e=state.contract_h100e, contract_price=state.contract_price,
        next_h100e=state.next_h100e, next_price=state.next_price, next_lead=state.next_lead,
        raise_u=draws.raise_u,
        sentiment=investor_sentiment(state.log_sentiment, state.shock_log)[:, pop.lab_region],
        access=np.broadcast_to(world.investor_access[min(state.month, p.n_months - 1)],
                               alive.shape),
        valuation_multiple=pop.lab_valuation_multiple,
        price=rental_price(state.month, state.export_multiplier, pop, p),
        **per_run_parameters(
            state.n_runs, opex_rate=p.opex_usd_bn_per_h100e_month,
            non_compute_ratio=p.non_compute_cost_ratio,
            runway_trigger=p.runway_trigger_months, narrative_scale=p.narrative_points_scale,
            raise_base_probability=p.raise_base_probability, dilution=p.dilution,
            revenue_multiple=p.revenue_multiple,
            narrative_valuation=p.narrative_valuation_usd_bn,
            reserve_months=p.reserve_months, training_share=p.training_share,
            flop_per_h100e_month=p.flop_per_h100e_month, pretrain=p.pretrain_months,
            post_train=p.post_train_months, lead=p.contract_lead_months))
    lost = cancelled & (months_left == 0)
    run_flop = np.where(lost, 0.0, state.run_flop)
    rl_flop = np.where(lost, 0.0, state.rl_flop)
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
    updates = dict(alive=alive2, cash=cash3, compute=compute, compute_spend=paid,
                   net_inflow=net_inflow * alive2, funding_outlook=outlook,
                   run_months_left=months_left, run_flop=run_flop, rl_flop=rl_flop,
                   contract_h100e=h100e,
                   contract_price=locked, next_h100e=n_h100e, next_price=n_price,
                   next_lead=n_lead)
    flows = dict(
        revenue_in=revenue, grants=grants, grants_paid=grants_paid, parent_funds=parent_paid,
        opex=opex, compute_spend=paid, raised=raised, written_off=written_off,
        exits=exits, acquired=acquired, acquirer=acquirer,
        raise_attempts=wants, runs_cancelled=cancelled,
    )
    return updates, flows
