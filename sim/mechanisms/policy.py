"""Mechanism 1: policy events and safety shocks.

* Safety shocks arrive as a Poisson process with ``safety_shocks_per_month`` (rate per year /
  12); the count in a month is the inverse Poisson CDF of a uniform draw, so a higher rate
  gives at least as many shocks on the same draw (monotone coupling for counterfactuals).
* Each shock raises every sovereign's regulatory pressure by its ``stance`` (pressure units).
  Pressure decays geometrically: ``pressure *= 0.5 ** (1 / half_life)`` per month.
* Investor sentiment per region is ``exp(log_sentiment + shock_log)``; ``log_sentiment`` is a
  mean-reverting AR(1), ``x' = (1 - theta) x + sigma z``, and ``shock_log`` carries scheduled
  funding shocks, ``shock_log += log(1 - size)``, decaying with the shock's half-life.
* Scheduled events set policy arrays: bans (threshold FLOP, leakage), distillation
  enforcement, export-control price multiplier and cap.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from sim.rng import MonthDraws
from sim.world import Params, Population, ScheduledEvent, WorldState

#: Upper bound on shocks in one month: P(N > 60) is below 1e-20 for rates up to 100/year.
MAX_SHOCKS_PER_MONTH = 60


def poisson_count(u: np.ndarray, rate: float) -> np.ndarray:
    """Smallest k with ``P(N <= k) > u`` for ``N ~ Poisson(rate)``; same shape as ``u``."""
    count = np.zeros(np.shape(u), dtype=np.int64)
    pmf = np.exp(-rate)
    cdf = np.full(np.shape(u), pmf)
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


def policy_step(
    state: WorldState,
    pop: Population,
    p: Params,
    events: Iterable[ScheduledEvent],
    draws: MonthDraws,
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Shocks, pressure, sentiment and scheduled events for one month."""
    shocks = poisson_count(draws.shock_u, p.safety_shocks_per_month)
    pressure = state.pressure * p.pressure_retention + shocks[:, None] * pop.sov_stance[None, :]
    log_sentiment = ((1.0 - p.sentiment_reversion_per_month) * state.log_sentiment
                     + p.sentiment_volatility * draws.sentiment_z)
    shock_log = state.shock_log * state.shock_retention
    shock_retention = state.shock_retention
    ban_threshold, ban_leakage = state.ban_threshold, state.ban_leakage
    enforcement = state.distill_enforcement
    export_multiplier, export_cap = state.export_multiplier, state.export_cap
    scheduled_shocks = np.zeros_like(shocks)
    for ev in events:
        if ev.kind == "ban":
            ban_threshold, ban_leakage = ban_threshold.copy(), ban_leakage.copy()
            ban_threshold[:, ev.sovereign] = ev.value
            ban_leakage[:, ev.sovereign] = ev.value2
        elif ev.kind == "distillation_crackdown":
            enforcement = enforcement.copy()
            enforcement[:, ev.sovereign] = ev.value
        elif ev.kind == "export_controls":
            export_multiplier, export_cap = export_multiplier.copy(), export_cap.copy()
            export_multiplier[:, ev.region] = ev.value
            export_cap[:, ev.region] = ev.value2
        elif ev.kind == "funding_shock":
            shock_log, shock_retention = shock_log.copy(), shock_retention.copy()
            shock_log[:, ev.region] += np.log1p(-ev.value)
            shock_retention[:, ev.region] = 0.5 ** (1.0 / ev.value2)
        elif ev.kind == "safety_shock":
            pressure = pressure + ev.value * pop.sov_stance[None, :]
            scheduled_shocks = scheduled_shocks + 1
    updates = dict(
        pressure=pressure, log_sentiment=log_sentiment, shock_log=shock_log,
        shock_retention=shock_retention, ban_threshold=ban_threshold, ban_leakage=ban_leakage,
        distill_enforcement=enforcement, export_multiplier=export_multiplier,
        export_cap=export_cap,
    )
    return updates, {"safety_shocks": shocks + scheduled_shocks}
