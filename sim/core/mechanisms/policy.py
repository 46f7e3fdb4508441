"""Mechanism 1: safety shocks, regulatory pressure, policy decisions and funding shocks.

* Safety shocks arrive as a Poisson process with ``safety_shocks_per_month`` (rate per year /
  12); the count in a month is the inverse Poisson CDF of a uniform draw, so a higher rate
  gives at least as many shocks on the same draw (monotone coupling for counterfactuals).
  Scheduled ``safety_shock`` events add ``size`` shocks' worth of pressure.
* Each shock raises every sovereign's regulatory pressure by its ``stance`` (pressure units).
  Pressure decays geometrically: ``pressure *= 0.5 ** (1 / half_life)`` per month.
* Policy decisions, per sovereign ``s`` and policy ``k`` (ban, distillation crackdown,
  export tightening): a policy not in force is enacted with probability ``q_k`` a month while
  ``pressure_s > threshold_s``; one in force lapses with probability ``q_lapse`` a month while
  ``pressure_s < lapse_pressure_share * threshold_s``. Only sovereigns with an export-control
  target (``seeds/sovereigns.csv``) can tighten export controls, and only sovereigns with
  closed labs at home (whose models a crackdown protects) can crack down on distillation.
* The policy in force is the scheduled policy (scenario events, :class:`ScheduledPolicy`)
  tightened by the enacted ones: ban threshold ``min(scheduled, ban_threshold_flop)`` with
  leakage (the availability a banned model keeps at first) ``min(scheduled, 1 -
  ban_enforcement)``; distillation enforcement
  ``min(scheduled, crackdown_enforcement)``; on each targeted region, compute price
  multiplier ``scheduled * price_factor ** n`` and cap ``scheduled * cap_factor ** n`` for
  ``n`` sovereigns tightening against it (an uncapped region stays uncapped unless the cap
  factor is 0, an embargo). The ban threshold and leakage are each the lower of the two, so
  the combined ban is at least as strict as either.
* Investor sentiment per region is ``exp(log_sentiment + shock_log)``; ``log_sentiment`` is a
  mean-reverting AR(1), ``x' = (1 - theta) x + sigma z``. ``shock_log`` is the sum of the
  region's shock components, each decaying with its own half-life: random shocks (one
  component per region; probability ``1 - exp(-rate / 12)`` a month, adding
  ``log(1 - size)``) and scheduled ``funding_shock`` events (one component per region and
  half-life, adding ``log(1 - size)``).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from sim.core.arrays import sum_over_labs
from sim.core.events import ScheduledEvent
from sim.core.mechanisms import Flows, Updates
from sim.core.rng import MonthDraws
from sim.core.world import Params, Population, World, WorldState
from sim.vocab import POLICIES

#: Upper bound on shocks in one month: P(N > 60) is below 1e-20 for rates up to 100/year.
MAX_SHOCKS_PER_MONTH = 60
BAN, CRACKDOWN, EXPORT = (POLICIES.index(k) for k in
                          ("ban", "distillation_crackdown", "export_tightening"))

#: ``safety_shocks`` (R,) count of safety shocks this month, random and scheduled;
#: ``policy_change`` (R, S, 3) int8, +1 where a sovereign enacts a policy (order
#: :data:`sim.vocab.POLICIES`), -1 where one lapses; ``random_funding_shocks`` (R, G) bool.
FLOWS = ("safety_shocks", "policy_change", "random_funding_shocks")


def poisson_count(u: np.ndarray, rate: float) -> np.ndarray:
    """Smallest k with ``P(N <= k) > u`` for ``N ~ Poisson(rate)``; same shape as ``u``."""
    u = np.asarray(u)
    count = np.zeros(u.shape, dtype=np.int64)
    pmf = np.exp(-rate)
    cdf = pmf  # the same for every element: a scalar compares and adds as a filled array
    for k in range(1, MAX_SHOCKS_PER_MONTH + 1):
        above = u >= cdf
        if not above.any():
            break
        count += above
        pmf = pmf * rate / k
        cdf = cdf + pmf
    return count


def investor_sentiment(log_sentiment: np.ndarray, shock_log: np.ndarray) -> np.ndarray:
    """Multiplier on fundraising odds and round sizes per region (1 = normal)."""
    return np.exp(log_sentiment + shock_log)


def decide_policies(enacted: np.ndarray, pressure: np.ndarray, decision_u: np.ndarray,
                    pop: Population, p: Params) -> tuple[np.ndarray, np.ndarray]:
    """New ``enacted`` flags (R, S, 3) and the month's changes (+1 enacted, -1 lapsed)."""
    threshold = pop.sov_threshold[None, :, None]
    above = pressure[:, :, None] > threshold
    if not (above.any() or enacted.any()):  # nothing can be enacted and nothing can lapse
        return enacted, np.zeros(enacted.shape, dtype=np.int8)
    enact_prob = np.array([p.ban_probability_per_month, p.crackdown_probability_per_month,
                           p.export_tightening_probability_per_month])
    below = pressure[:, :, None] < p.lapse_pressure_share * threshold
    enact = ~enacted & pop.sov_can_enact[None] & above & (decision_u < enact_prob)
    lapse = enacted & below & (decision_u < p.lapse_probability_per_month)
    return (enacted | enact) & ~lapse, enact.astype(np.int8) - lapse.astype(np.int8)


def effective_policy(t: int, enacted: np.ndarray, world: World) -> dict[str, np.ndarray]:
    """The policy in force at step ``t``: the scheduled layer tightened by enacted policies.

    Returns ``ban_threshold``, ``ban_leakage``, ``distill_enforcement`` (R, S) and
    ``export_multiplier``, ``export_cap`` (R, G)."""
    pop, p, sched = world.population, world.params, world.scheduled_policy
    if not enacted.any():
        # Nothing enacted: each term below tightens by nothing (min with inf, factor ** 0 = 1,
        # no tightened region), so the scheduled policy stands, copied to every run.
        n_runs = len(enacted)
        return dict(
            ban_threshold=_per_run(sched.ban_threshold[t], n_runs),
            ban_leakage=_per_run(np.minimum(sched.ban_leakage[t], 1.0), n_runs),
            distill_enforcement=_per_run(np.minimum(sched.enforcement[t], 1.0), n_runs),
            export_multiplier=_per_run(sched.export_multiplier[t], n_runs),
            export_cap=_per_run(sched.export_cap[t], n_runs),
        )
    ban, crack = enacted[:, :, BAN], enacted[:, :, CRACKDOWN]
    n_tight = sum_over_labs(enacted[:, :, EXPORT].astype(float),
                            pop.sov_export_onehot)  # (R, G)
    return dict(
        ban_threshold=np.minimum(sched.ban_threshold[t], np.where(ban, p.ban_threshold_flop,
                                                                  np.inf)),
        ban_leakage=np.minimum(sched.ban_leakage[t],
                               np.where(ban, 1.0 - p.ban_enforcement, 1.0)),
        distill_enforcement=np.minimum(sched.enforcement[t],
                                       np.where(crack, p.crackdown_enforcement, 1.0)),
        export_multiplier=sched.export_multiplier[t] * p.export_tightening_price_factor ** n_tight,
        export_cap=tightened_cap(sched.export_cap[t], n_tight, p.export_tightening_cap_factor),
    )


def _per_run(row: np.ndarray, n_runs: int) -> np.ndarray:
    """(R, ...) copies of ``row``, one per run."""
    return np.repeat(row[None], n_runs, axis=0)


def tightened_cap(scheduled_cap: np.ndarray, n_tight: np.ndarray, factor: float) -> np.ndarray:
    """Per-lab monthly cap (H100e) after ``n_tight`` tightenings: ``scheduled * factor ** n``.
    A region with no scheduled cap (inf) stays uncapped, except that a factor of 0 is an
    embargo (cap 0)."""
    with np.errstate(invalid="ignore"):  # inf * 0, replaced just below
        scaled = scheduled_cap * factor ** n_tight
    scaled = np.where(np.isinf(scheduled_cap), 0.0 if factor == 0.0 else np.inf, scaled)
    return np.where(n_tight > 0, scaled, scheduled_cap)


def funding_shock_components(components: np.ndarray, shock_u: np.ndarray,
                             events: Iterable[ScheduledEvent], world: World) -> np.ndarray:
    """Decay every shock component, then add this month's random and scheduled shocks."""
    p = world.params
    out = components * world.shock_retention
    n_g = shock_u.shape[1]
    hit = shock_u < p.random_shock_probability
    if hit.any():  # else every random component would add 0.0, which changes no value
        out[:, :n_g] += np.where(hit, np.log1p(-p.random_shock_size), 0.0)
    for ev in events:
        ev.add_funding_shock(out)
    return out


def policy_step(state: WorldState, world: World, draws: MonthDraws) -> tuple[Updates, Flows]:
    """Shocks, pressure, sentiment, policy decisions and the policy in force for one month
    (the scheduled events of the month included)."""
    pop, p = world.population, world.params
    events = world.events_at(state.month)
    shocks = poisson_count(draws.shock_u, p.safety_shocks_per_month)
    pressure = state.pressure * p.pressure_retention + shocks[:, None] * pop.sov_stance
    scheduled_shocks = 0
    for ev in events:
        pressure = ev.raise_pressure(pressure, pop.sov_stance)
        scheduled_shocks += ev.safety_shocks
    log_sentiment = ((1.0 - p.sentiment_reversion_per_month) * state.log_sentiment
                     + p.sentiment_volatility * draws.sentiment_z)
    components = funding_shock_components(state.shock_components, draws.funding_shock_u,
                                          events, world)
    shock_log = sum_over_labs(components, world.shock_region_onehot)
    enacted, change = decide_policies(state.policy_enacted, pressure, draws.decision_u, pop, p)
    updates = dict(
        pressure=pressure, log_sentiment=log_sentiment, shock_log=shock_log,
        shock_components=components, policy_enacted=enacted,
        **effective_policy(state.month, enacted, world),
    )
    flows = {"safety_shocks": shocks + scheduled_shocks, "policy_change": change,
             "random_funding_shocks": draws.funding_shock_u < p.random_shock_probability}
    return updates, flows
