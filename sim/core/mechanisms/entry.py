"""Mechanism 7: lab entry.

Entrant slots (``seeds/labs.csv`` rows with ``entrant = yes``) are labs that are not in the
world at the start: the labs founded after the seed month in the 2023-01 world (xAI,
Mistral, Moonshot, StepFun, Sarvam), generic slots per region in the 2026-04 world. Each
month, after the market has set this month's revenue:

* The commercial success of the frontier: closed labs' revenue ``Rc`` (USD bn/month) over
  its trailing mean, ``trailing' = trailing + (Rc - trailing) / W`` (``W =
  entry_revenue_window_months``; the first month sets ``trailing = Rc``), ``success =
  Rc / trailing'``: 1 when revenue is flat, ~1.6 when it triples in a year (W = 12).
* A slot not yet entered enters with probability
  ``1 - exp(-lambda * sentiment[region] * success ** eps)``, ``lambda`` the monthly entry
  rate per slot at neutral sentiment (``entry_rate_per_year / 12``), ``eps =
  entry_success_elasticity``: entry rises with its region's investor sentiment and with
  the frontier's revenue growth (issue 15: founders and investors follow both).
* An entrant brings its seed capital (``cash_usd_bn`` of its row: the first recorded
  round; money from outside, the ``seed_capital`` flow), owns no compute (it rents: its
  first contract is planned in the next month, mechanism 3), has no model (its placeholder
  score stays below every seeded model until its first run ends) and starts with the
  algorithmic efficiency of the best alive lab of its kind (open or closed): founders come
  from frontier labs (Mistral: ex-DeepMind/Meta; xAI: ex-DeepMind/OpenAI; Thinking
  Machines: ~30 researchers from OpenAI, Meta and Mistral; facts).

Money: ``sum(cash') - sum(cash) = seed_capital``.
"""

from __future__ import annotations

import numpy as np

from sim.core.mechanisms import Flows, Updates
from sim.core.mechanisms.policy import investor_sentiment
from sim.core.rng import MonthDraws
from sim.core.world import World, WorldState

#: ``entries`` (R, L) bool: the slot entered this month; ``seed_capital`` (R, L) USD bn it
#: brought.
FLOWS = ("entries", "seed_capital")


def entry_success(state: WorldState, world: World) -> tuple[np.ndarray, np.ndarray]:
    """(R,) trailing closed revenue after this month and the success ratio ``Rc /
    trailing'`` (see module doc)."""
    closed = ~world.population.lab_is_open
    revenue = (state.revenue * closed).sum(axis=1)
    old = state.closed_revenue_trailing
    trailing = np.where(old > 0, old + (revenue - old) / world.params.entry_revenue_window_months,
                        revenue)
    success = np.where(trailing > 0, revenue / np.where(trailing > 0, trailing, 1.0), 1.0)
    return trailing, success


def entry_step(state: WorldState, world: World, draws: MonthDraws) -> tuple[Updates, Flows]:
    """Entries of this month (see module doc)."""
    pop, p = world.population, world.params
    trailing, success = entry_success(state, world)
    sentiment = investor_sentiment(state.log_sentiment, state.shock_log)[:, pop.lab_region]
    rate = p.entry_rate_per_month * sentiment * (success ** p.entry_success_elasticity)[:, None]
    waiting = pop.lab_entrant & ~state.entered
    enters = waiting & (draws.entry_u < -np.expm1(-rate))
    updates: Updates = dict(closed_revenue_trailing=trailing)
    seed = np.where(enters, pop.lab_seed_cash, 0.0)
    if enters.any():
        kind = pop.lab_is_open
        best = np.stack([np.where(state.alive & (kind == k), state.algo, -np.inf).max(axis=1)
                         for k in (False, True)], axis=1)  # (R, 2) closed, open
        team = best[:, kind.astype(np.int64)]
        updates.update(alive=state.alive | enters, entered=state.entered | enters,
                       cash=state.cash + seed,
                       algo=np.where(enters & np.isfinite(team), team, state.algo),
                       months_since_release=np.where(enters, 0.0, state.months_since_release))
    return updates, dict(entries=enters, seed_capital=seed)
