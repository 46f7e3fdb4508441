"""Mechanism 3: owned compute, compute contracts and the planning of training runs.

Rental price (USD bn per H100e-month) at step t for a lab in region g:
``price = rental0 * retention ** t * export_multiplier[g]`` with ``retention = (1 - decline)
** (1/12)`` (an H100e-month is 730 hours; ``rental0`` the one-year contract price at the
start, e.g. 2.35 USD/H100-hour in 2026-03, SemiAnalysis).

Per alive lab and month:

* Owned compute depreciates: ``compute' = compute * (1 - depreciation)`` (labs add capacity
  through contracts; owned clusters are the seeded stock).
* A signed next contract counts down its lead time ``next_lead``.
* **Planning.** A lab with no next contract signed and whose run in progress ends within the
  lead time (``run_months_left <= contract_lead_months``) plans its next run. It spreads its
  free cash ``free = cash - committed - reserve`` (``committed`` the rest of the current
  contract, ``reserve = reserve_months * max(-net, 0)``) over ``plan_horizon_months / outlook``
  and adds its net operating inflow ``net = revenue + grants + parent - opex`` of the month
  (mechanism 2): ``budget = max(outlook * free / H + net, 0)`` a month (``free`` counts in
  full when negative). ``outlook`` is the lab's funding outlook (mechanism 2,
  ``min(1, sentiment * narrative * access)``, 1 for parent-funded labs): a lab that cannot
  count on its next round stretches its cash to extend its runway instead of spending it on
  the next run, as start-ups are advised to in a downturn and as 01.AI did when it stepped
  back from frontier pre-training (2024-12: "spending on more GPUs to train large models
  isn't the way forward for survival", Kai-Fu Lee, facts). Cold investors therefore shrink
  the next run at its planning, months before the cash runs out. The contract
  is ``h = min(budget / (price * (1 + k)), export_cap * max(lead, 1))`` H100e for the run's
  ``pretrain + post_train`` months at today's price, each H100e-month bringing ``k =
  non_compute_cost_ratio`` USD of staff per compute USD (mechanism 2); ``committed`` counts
  the same overhead.
  Its planned FLOP ``training_share * (compute + h) * flop_per_h100e_month * pretrain``; if
  that is below ``min_run_flop_ratio`` times the lab's last released FLOP the lab delays
  (plans again next month). So the next run's size follows the money the lab has and
  expects, not a set growth rate.
* **Start.** When the lead time has passed and the current run has ended, the signed
  contract becomes the run in progress: ``run_months_left = pretrain + post_train``.
"""

from __future__ import annotations

import numpy as np

from sim.core.kernels import compiled, param_at, per_run_parameters
from sim.core.mechanisms import Flows, Updates
from sim.core.rng import MonthDraws
from sim.core.world import Params, Population, World, WorldState

#: Per lab (R, L): ``runs_planned`` (bool) signed a contract for its next run this month,
#: ``runs_delayed`` (bool) wanted to plan but could not afford a run worth training,
#: ``planned_flop`` FLOP of the runs planned this month (0 elsewhere), ``runs_started``
#: (bool) a run came online this month.
FLOWS = ("runs_planned", "runs_delayed", "planned_flop", "runs_started")


def rental_price(month: int, export_multiplier: np.ndarray, pop: Population,
                 p: Params) -> np.ndarray:
    """(R, L) USD bn per H100e-month at step ``month``."""
    return (p.rental0_usd_bn_per_h100e_month * p.compute_price_retention ** month
            * export_multiplier[:, pop.lab_region])


@compiled
def plan_runs(alive: np.ndarray, cash: np.ndarray, compute: np.ndarray,
              net_inflow: np.ndarray, outlook: np.ndarray, released_flop: np.ndarray,
              run_months_left: np.ndarray,
              contract_h100e: np.ndarray, contract_price: np.ndarray,
              next_h100e: np.ndarray, next_price: np.ndarray, next_lead: np.ndarray,
              price: np.ndarray, cap: np.ndarray, depreciation: float | np.ndarray,
              plan_horizon: float | np.ndarray,
              reserve_months: float | np.ndarray, training_share: float | np.ndarray,
              flop_per_h100e_month: float | np.ndarray, pretrain: float | np.ndarray,
              post_train: float | np.ndarray, lead: float | np.ndarray,
              min_ratio: float | np.ndarray,
              non_compute_ratio: float | np.ndarray) -> tuple[np.ndarray, ...]:
    """The module doc's rules, lab by lab. Arrays are (R, L); ``net_inflow`` is this month's
    net operating inflow and ``outlook`` the funding outlook from mechanism 2; ``price`` and ``cap``
    the rental price and export cap of the lab's region. Returns the new ``compute``,
    ``run_months_left``, ``contract_h100e``, ``contract_price``, ``next_h100e``,
    ``next_price``, ``next_lead``, and the ``planned``, ``delayed``, ``planned_flop`` and
    ``started`` flows."""
    n_runs, n_labs = alive.shape
    new_compute = np.empty((n_runs, n_labs))
    months_left, h100e = run_months_left.copy(), contract_h100e.copy()
    locked = contract_price.copy()
    n_h100e, n_price, n_lead = next_h100e.copy(), next_price.copy(), next_lead.copy()
    planned = np.zeros((n_runs, n_labs), dtype=np.bool_)
    delayed = np.zeros((n_runs, n_labs), dtype=np.bool_)
    started = np.zeros((n_runs, n_labs), dtype=np.bool_)
    planned_flop = np.zeros((n_runs, n_labs))
    for r in range(n_runs):
        duration = param_at(pretrain, r) + param_at(post_train, r)
        lead_months = param_at(lead, r)
        for lab in range(n_labs):
            new_compute[r, lab] = compute[r, lab] * (1.0 - param_at(depreciation, r))
            if not alive[r, lab]:
                continue
            if n_lead[r, lab] > 0:
                n_lead[r, lab] = n_lead[r, lab] - 1.0
            elif n_lead[r, lab] < 0 and months_left[r, lab] <= lead_months:
                overhead = 1.0 + param_at(non_compute_ratio, r)
                committed = h100e[r, lab] * locked[r, lab] * months_left[r, lab] * overhead
                reserve = param_at(reserve_months, r) * max(-net_inflow[r, lab], 0.0)
                free = cash[r, lab] - committed - reserve
                spread = free * outlook[r, lab] if free > 0 else free
                budget = max(spread / param_at(plan_horizon, r) + net_inflow[r, lab], 0.0)
                size = min(budget / (price[r, lab] * overhead),
                           cap[r, lab] * max(lead_months, 1.0))
                flop = (param_at(training_share, r) * (new_compute[r, lab] + size)
                        * param_at(flop_per_h100e_month, r) * param_at(pretrain, r))
                if flop < param_at(min_ratio, r) * released_flop[r, lab] or flop <= 0.0:
                    delayed[r, lab] = True
                else:
                    planned[r, lab] = True
                    planned_flop[r, lab] = flop
                    n_h100e[r, lab], n_price[r, lab] = size, price[r, lab]
                    n_lead[r, lab] = lead_months
            if n_lead[r, lab] == 0.0 and months_left[r, lab] <= 0.0:
                started[r, lab] = True
                months_left[r, lab] = duration
                h100e[r, lab], locked[r, lab] = n_h100e[r, lab], n_price[r, lab]
                n_h100e[r, lab], n_price[r, lab], n_lead[r, lab] = 0.0, 0.0, -1.0
    return (new_compute, months_left, h100e, locked, n_h100e, n_price, n_lead, planned,
            delayed, planned_flop, started)


def compute_step(state: WorldState, world: World, draws: MonthDraws) -> tuple[Updates, Flows]:
    """Depreciation, contract lead times, run planning and run starts for one month
    (deterministic: ``draws`` is unused)."""
    pop, p = world.population, world.params
    (compute, months_left, h100e, locked, n_h100e, n_price, n_lead, planned, delayed,
     planned_flop, started) = plan_runs(
        alive=state.alive, cash=state.cash, compute=state.compute,
        net_inflow=state.net_inflow, outlook=state.funding_outlook,
        released_flop=state.released_flop,
        run_months_left=state.run_months_left, contract_h100e=state.contract_h100e,
        contract_price=state.contract_price, next_h100e=state.next_h100e,
        next_price=state.next_price, next_lead=state.next_lead,
        price=rental_price(state.month, state.export_multiplier, pop, p),
        cap=state.export_cap[:, pop.lab_region],
        **per_run_parameters(
            state.n_runs, depreciation=p.depreciation_per_month,
            plan_horizon=p.plan_horizon_months, reserve_months=p.reserve_months,
            training_share=p.training_share, flop_per_h100e_month=p.flop_per_h100e_month,
            pretrain=p.pretrain_months, post_train=p.post_train_months,
            lead=p.contract_lead_months, min_ratio=p.min_run_flop_ratio,
            non_compute_ratio=p.non_compute_cost_ratio))
    updates = dict(compute=compute, run_months_left=months_left, contract_h100e=h100e,
                   contract_price=locked, next_h100e=n_h100e, next_price=n_price,
                   next_lead=n_lead)
    return updates, dict(runs_planned=planned, runs_delayed=delayed,
                         planned_flop=planned_flop, runs_started=started)
