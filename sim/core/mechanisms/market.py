"""Mechanism 5: buyers choose models (multinomial logit with switching cost), revenue.

Utility of lab ``l`` for a buyer of segment ``k`` in jurisdiction ``g``::

    u = w_bench[k] * bench_l + w_robust[k] * robust_l - alpha[k] * log(price_l)
        + open_pref[k] * open_l + domestic_pref[g] * [region_l == g] + log(leakage)

where ``log(leakage)`` applies to foreign open models (lab region other than ``g``) above an
active ban threshold in ``g`` (leakage 0 removes them; the ban stops domestic labs from
releasing above the threshold, mechanism 4, but their earlier releases stay), and
unavailable models (exited labs, entrants before their first release, closed APIs blocked
in ``g``, closed models for ``local_agents``) are excluded. A buyer adds ``switch_cost[k]`` to
its current model's utility. With group probabilities ``q`` (softmax of ``u``), the buyer's
probabilities are ``p_m = q_m * e^{s [m = c]} / (1 + q_c (e^s - 1))``; the choice is the
inverse CDF of ``p`` (models in lab order) at the buyer's uniform draw.

Tokens: segment demand ``tokens0[k] * (1 + growth[k]) ** t`` (trillion tokens/month) split
over buyers by demand weight. Spend (USD bn) ``= tokens * price * 1e-3``. Closed labs keep
their spend as revenue; open labs keep ``open_capture_share`` of it and third-party hosts
the rest (``host_margin``), so spend = lab revenue + host margin exactly.
"""

from __future__ import annotations

import numpy as np

from sim.core.kernels import choose_models, tokens_by_segment
from sim.core.mechanisms import Flows, Updates
from sim.core.rng import MonthDraws
from sim.core.world import Params, Population, World, WorldState

#: USD bn per (trillion tokens x USD per million tokens): 1e12 / 1e6 / 1e9.
USD_BN_PER_T_TOKENS_AT_1_USD_PER_MTOK = 1e-3

#: ``tokens`` (R, K, L) trillion tokens served per segment and lab; ``spend`` (R, K, L) USD
#: bn buyers paid; ``revenue`` (R, L) USD bn labs kept; ``host_margin`` (R,) USD bn
#: third-party hosts kept of open models' spend.
FLOWS = ("tokens", "spend", "revenue", "host_margin")

def model_prices(month: int, pop: Population, p: Params) -> np.ndarray:
    """(L,) USD per million tokens at step ``month`` (closed and open decline separately)."""
    retention = np.where(pop.lab_is_open, p.open_price_retention, p.closed_price_retention)
    return pop.price0_usd_per_mtok * retention ** month


def segment_tokens(month: int, pop: Population) -> np.ndarray:
    """(K,) trillion tokens per month demanded by each segment at step ``month``."""
    return pop.seg_tokens0_t * (1.0 + pop.seg_growth) ** month


def buyer_tokens(month: int, pop: Population) -> np.ndarray:
    """(B,) trillion tokens each buyer uses at step ``month`` (its segment's demand split by
    demand weight)."""
    return segment_tokens(month, pop)[pop.buyer_segment] * pop.buyer_demand_weight


def group_utilities(state: WorldState, pop: Population, price: np.ndarray) -> np.ndarray:
    """(R, G, K, L) utilities of each lab for the buyers of each (run, jurisdiction, segment)
    group, ``-inf`` where the model is unavailable; each group's labs are contiguous, in lab
    order, for :func:`choose`."""
    n_g = len(pop.jur_domestic_pref)
    static = -pop.seg_alpha[:, None] * np.log(price)[None, :] + pop.open_bonus  # (K, L)
    quality = (pop.seg_w_bench[None, :, None] * state.bench[:, None, :]
               + pop.seg_w_robust[None, :, None] * state.robust[:, None, :])  # (R, K, L)
    # Only labs with a released model serve: an entrant waits for its first release.
    exited = np.where(state.alive & (state.released_flop > 0), 0.0, -np.inf)[:, None, :]
    u = np.empty((state.n_runs, n_g, len(pop.segments), pop.n_labs))
    if not np.isfinite(state.ban_threshold).any():
        # No ban penalty: the last term is 0 or -inf, and adding it before the domestic term
        # gives the same utilities, at (R, K, L) instead of (R, G, K, L).
        np.add((quality + static + exited)[:, None], pop.domestic_or_unavailable[None], out=u)
        return u
    # Ban leakage per jurisdiction: sovereign s governs jurisdiction sov_jurisdiction[s].
    thr = np.full((state.n_runs, n_g), np.inf)
    leak = np.ones((state.n_runs, n_g))
    thr[:, pop.sov_jurisdiction] = state.ban_threshold
    leak[:, pop.sov_jurisdiction] = state.ban_leakage
    foreign = pop.lab_region[None, :] != np.arange(n_g)[:, None]  # (G, L)
    blocked = ((pop.lab_is_open[None, :] & foreign)[None]
               & (state.released_flop[:, None, :] > thr[:, :, None]))  # (R, G, L)
    with np.errstate(divide="ignore"):
        penalty = np.where(blocked, np.log(leak)[:, :, None], 0.0)
    np.add((quality + static)[:, None], pop.domestic_or_unavailable[None], out=u)
    u += (penalty + exited)[:, :, None, :]
    return u


def choose(u: np.ndarray, choice: np.ndarray, choice_u: np.ndarray, pop: Population) -> np.ndarray:
    """New buyer choices (R, B) from group utilities ``u`` (R, G, K, L); -1 if none available.

    Each buyer takes the inverse CDF of its switching-cost adjusted probabilities at its
    draw (module doc), computed buyer by buyer by :func:`sim.core.kernels.choose_models`.
    """
    n_runs, n_g, n_k, n_labs = u.shape
    return choose_models(u.reshape(n_runs, n_g * n_k, n_labs), choice, choice_u,
                         pop.buyer_group, pop.buyer_switch_gain)


def market_step(state: WorldState, world: World, draws: MonthDraws) -> tuple[Updates, Flows]:
    """Buyers' choices, tokens, spend and revenue for one month."""
    pop, p = world.population, world.params
    price = model_prices(state.month, pop, p)
    u = group_utilities(state, pop, price)
    choice = choose(u, state.choice, draws.choice_u, pop)
    demand = buyer_tokens(state.month, pop)
    tokens = tokens_by_segment(choice, demand, pop.buyer_segment, len(pop.segments),
                               pop.n_labs)  # (R, K, L)
    spend = tokens * price * USD_BN_PER_T_TOKENS_AT_1_USD_PER_MTOK  # (R, K, L)
    capture = np.where(pop.lab_is_open, p.open_capture_share, 1.0)
    lab_spend = spend.sum(axis=1)
    revenue = lab_spend * capture
    host_margin = (lab_spend - revenue).sum(axis=1)
    updates = dict(choice=choice, revenue=revenue, users=tokens.sum(axis=1))
    return updates, dict(tokens=tokens, spend=spend, revenue=revenue, host_margin=host_margin)
