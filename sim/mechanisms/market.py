"""Mechanism 5: buyers choose models (multinomial logit with switching cost), revenue.

Utility of lab ``l`` for a buyer of segment ``k`` in jurisdiction ``g``::

    u = w_bench[k] * bench_l + w_robust[k] * robust_l - alpha[k] * log(price_l)
        + open_pref[k] * open_l + domestic_pref[g] * [region_l == g] + log(leakage)

where ``log(leakage)`` applies to foreign open models (lab region other than ``g``) above an
active ban threshold in ``g`` (leakage 0 removes them; the ban stops domestic labs from
releasing above the threshold, mechanism 4, but their earlier releases stay), and
unavailable models (exited labs, closed APIs blocked in ``g``, closed models for
``local_agents``) are excluded. A buyer adds ``switch_cost[k]`` to
its current model's utility. With group probabilities ``q`` (softmax of ``u``), the buyer's
probabilities are ``p_m = q_m * e^{s [m = c]} / (1 + q_c (e^s - 1))``; the choice is the
inverse CDF of ``p`` (models in lab order) at the buyer's uniform draw.

Tokens: segment demand ``tokens0[k] * (1 + growth[k]) ** t`` (trillion tokens/month) split
over buyers by demand weight. Spend (USD bn) ``= tokens * price * 1e-3``. Closed labs keep
their spend as revenue; open labs keep ``open_capture_share`` of it and third-party hosts
the rest (``host_margin``), so spend = lab revenue + host margin exactly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from sim.rng import MonthDraws
from sim.world import Params, Population, WorldState

#: USD bn per (trillion tokens x USD per million tokens): 1e12 / 1e6 / 1e9.
USD_BN_PER_T_TOKENS_AT_1_USD_PER_MTOK = 1e-3

#: Up to this many movers in a month, ``choose`` counts every model for each instead of
#: searching (fewer numpy calls for a single run; same answer).
COUNT_ALL_MAX_MOVERS = 256

_CACHE: dict[tuple, tuple[object, Any]] = {}


def _per_population(pop: Population, key: tuple, build: Callable[[], Any]) -> Any:
    """``build()`` for arrays that depend only on the population (and the batch size, if in
    ``key``): built once per population instead of every month. Read-only."""
    full_key = (id(pop), *key)
    hit = _CACHE.get(full_key)
    if hit is not None and hit[0] is pop:
        return hit[1]
    if any(owner is not pop for owner, _ in _CACHE.values()):
        _CACHE.clear()  # keep one population's arrays only
    value = build()
    for array in value if isinstance(value, tuple) else (value,):
        array.flags.writeable = False
    _CACHE[full_key] = (pop, value)
    return value


def _fixed_utility_terms(pop: Population) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``-alpha`` (1, K), the open-weight bonus (L, K), and the domestic preference plus
    ``-inf`` for models unavailable in a (jurisdiction, segment) (L, G, K): adding 0.0 leaves
    the others exact, so unavailability costs one addition per (lab, jurisdiction, segment)
    instead of a full-size ``np.where``."""
    n_g = len(pop.jur_domestic_pref)
    open_bonus = pop.seg_open_pref[None, :] * pop.lab_is_open[:, None]
    domestic = pop.jur_domestic_pref[None, :] * (
        pop.lab_region[:, None] == np.arange(n_g)[None, :])  # (L, G)
    unavailable = np.where(pop.base_available.transpose(2, 0, 1), 0.0, -np.inf)
    return -pop.seg_alpha[None, :], open_bonus, domestic[:, :, None] + unavailable


def model_prices(month: int, pop: Population, p: Params) -> np.ndarray:
    """(L,) USD per million tokens at step ``month`` (closed and open decline separately)."""
    retention = np.where(pop.lab_is_open, p.open_price_retention, p.closed_price_retention)
    return pop.price0_usd_per_mtok * retention ** month


def segment_tokens(month: int, pop: Population) -> np.ndarray:
    """(K,) trillion tokens per month demanded by each segment at step ``month``."""
    return pop.seg_tokens0_t * (1.0 + pop.seg_growth) ** month


def group_utilities(state: WorldState, pop: Population, price: np.ndarray) -> np.ndarray:
    """(L, G, K, R) utilities of each lab for each (jurisdiction, segment, run) group of
    buyers, ``-inf`` where the model is unavailable. Labs come first so that sums over labs
    run in lab order, slab by slab, as in the per-agent reference; runs come last so that
    every broadcast runs over whole rows of runs."""
    neg_alpha, open_bonus, domestic = _per_population(pop, ("utility terms",),
                                                      lambda: _fixed_utility_terms(pop))
    n_g = len(pop.jur_domestic_pref)
    static = neg_alpha * np.log(price)[:, None] + open_bonus  # (L, K)
    quality = (pop.seg_w_bench[None, :, None] * state.bench.T[:, None, :]
               + pop.seg_w_robust[None, :, None] * state.robust.T[:, None, :])  # (L, K, R)
    per_run = np.where(state.alive.T, 0.0, -np.inf)[:, None, :]  # (L, 1, R): exited labs
    if np.isfinite(state.ban_threshold).any():  # else every ban penalty below is 0.0
        # Ban leakage per jurisdiction: sovereign s governs jurisdiction sov_jurisdiction[s].
        thr = np.full((state.n_runs, n_g), np.inf)
        leak = np.ones((state.n_runs, n_g))
        thr[:, pop.sov_jurisdiction] = state.ban_threshold
        leak[:, pop.sov_jurisdiction] = state.ban_leakage
        foreign = pop.lab_region[:, None] != np.arange(n_g)[None, :]  # (L, G)
        blocked = ((pop.lab_is_open[:, None] & foreign)[:, :, None]
                   & (state.released_flop.T[:, None, :] > thr.T[None]))
        with np.errstate(divide="ignore"):
            penalty = np.where(blocked, np.log(leak).T[None], 0.0)  # (L, G, R)
        per_run = penalty + per_run
    u = np.empty((pop.n_labs, n_g, len(pop.segments), state.n_runs))
    np.add((quality + static[:, :, None])[:, None], domestic[..., None], out=u)
    u += per_run[:, :, None, :]
    return u


def choose(u: np.ndarray, choice: np.ndarray, choice_u: np.ndarray, pop: Population) -> np.ndarray:
    """New buyer choices (R, B) from group utilities ``u`` (L, G, K, R); -1 if none available.

    With ``C`` the cumulative ``q`` of the buyer's group (labs in lab order), ``c`` its
    current model and ``extra = q_c (e^s - 1)``, the inverse CDF of its switching-cost
    adjusted probabilities at its draw ``U`` is the number of models ``m`` with
    ``g(m) = C_m + extra [m >= c] <= U (1 + extra)`` (``g`` never decreases). A buyer stays
    (the count is ``c``) when ``C_{c-1} <= U (1 + extra) < C_c + extra``, which settles most
    buyers with three lookups; the others count with a binary search over their group's
    ``g``, below ``c`` (where ``extra`` never applies) or above it (where it always does).
    The arithmetic is the reference's, buyer by buyer, so a run's choices do not depend on
    the other runs in its batch.
    """
    n_labs, n_g, n_k, n_runs = u.shape
    n_rows = n_g * n_k * n_runs  # one row per (jurisdiction, segment, run) group
    u = u.reshape(n_labs, n_rows)
    first_step = 1 << (n_labs.bit_length() - 1)  # binary search: first_step, ..., 2, 1
    # Tables indexed [j, row]. q_tab[c + 1] is q_c, q_tab[0] ("no current model") is 0.
    # cum_tab[c + 1] is C_{c-1}, where model c's interval starts; the +inf before (no model
    # to stay with) and after (as far as a search step can reach) close every interval.
    top = np.max(u, axis=0)
    any_available = np.isfinite(top)
    q_tab = np.empty((n_labs + 1, n_rows))
    q_tab[0] = 0.0
    q = q_tab[1:]
    np.subtract(u, np.where(any_available, top, 0.0), out=q)
    np.exp(q, out=q)
    q /= np.where(any_available, q.sum(axis=0), 1.0)
    cum_tab = np.empty((n_labs + 2 + first_step, n_rows))
    cum_tab[0] = cum_tab[n_labs + 2:] = np.inf
    cum_tab[1] = 0.0
    # Cumulative sums in lab order, like the reference. np.cumsum walks each row of groups
    # with a long stride, so for more than a few runs adding slab by slab is faster.
    if n_rows < 256:
        np.cumsum(q, axis=0, out=cum_tab[2:n_labs + 2])
    else:
        for m in range(n_labs):
            np.add(cum_tab[m + 1], q[m], out=cum_tab[m + 2])
    q_flat, cum_flat = q_tab.ravel(), cum_tab.ravel()

    slot = choice * n_rows  # (R, B): (c + 1) * n_rows + row
    slot += _per_population(pop, ("group row", n_runs), lambda: (
        (pop.buyer_jurisdiction * n_k + pop.buyer_segment) * n_runs + n_rows
        + np.arange(n_runs)[:, None]))
    extra = q_flat.take(slot)
    extra *= np.expm1(pop.seg_switch_cost)[pop.buyer_segment]
    target = 1.0 + extra
    target *= choice_u
    start = cum_flat.take(slot)
    end = cum_flat[n_rows:].take(slot)
    end += extra
    move = target < start
    move |= target >= end
    new = choice.copy()

    movers = np.flatnonzero(move)
    if movers.size:
        m_slot, m_target, m_c = slot.take(movers), target.take(movers), choice.take(movers)
        row_first = m_slot - m_c * n_rows  # where C_{-1} = 0 sits
        if movers.size <= COUNT_ALL_MAX_MOVERS:
            # Few movers (a run or so): count every model at once, the reference's own loop;
            # fewer numpy calls than the search below, which does less work per mover.
            after = np.arange(n_labs)[:, None] >= m_c  # extra applies (it is 0 if c = -1)
            g = cum_tab[2:n_labs + 2].take(row_first - n_rows, axis=1)
            g += extra.take(movers) * after
            count = (g <= m_target).sum(axis=0)
        else:
            # ``pos`` indexes g(count - 1), less extra, in cum_flat: count models are at or
            # below the target. Above c, count starts at c + 1 and extra applies throughout.
            above = m_target >= start.take(movers)
            pos = np.where(above, m_slot + n_rows, row_first)
            m_extra = extra.take(movers) * above
            step = first_step * n_rows
            while step >= n_rows:
                g = cum_flat.take(pos + step)
                g += m_extra
                pos += (g <= m_target) * step
                step //= 2
            count = (pos - row_first) // n_rows
        # Past the last cumulative value (round-off, or nothing available): the last model
        # with q > 0, or none.
        past = np.flatnonzero(count >= n_labs)
        if past.size:
            positive = q[:, row_first.take(past) - n_rows] > 0
            count[past] = np.where(positive.any(axis=0),
                                   n_labs - 1 - np.argmax(positive[::-1], axis=0), -1)
        np.put(new, movers, count)
    return new


def market_step(
    state: WorldState, pop: Population, p: Params, draws: MonthDraws
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    price = model_prices(state.month, pop, p)
    u = group_utilities(state, pop, price)
    choice = choose(u, state.choice, draws.choice_u, pop)
    n_runs, n_labs, n_seg = state.n_runs, pop.n_labs, len(pop.segments)
    buyer_tokens = segment_tokens(state.month, pop)[pop.buyer_segment] * pop.buyer_demand_weight
    # Slot 0 of each (run, segment) collects unserved buyers (choice -1) and is dropped.
    slot = choice + _per_population(pop, ("token slot", n_runs), lambda: (
        (np.arange(n_runs)[:, None] * n_seg + pop.buyer_segment) * (n_labs + 1) + 1))
    tokens = np.bincount(slot.ravel(), weights=np.tile(buyer_tokens, n_runs),
                         minlength=n_runs * n_seg * (n_labs + 1))
    tokens = tokens.reshape(n_runs, n_seg, n_labs + 1)[:, :, 1:]
    spend = tokens * price * USD_BN_PER_T_TOKENS_AT_1_USD_PER_MTOK  # (R, K, L)
    capture = np.where(pop.lab_is_open, p.open_capture_share, 1.0)
    lab_spend = spend.sum(axis=1)
    revenue = lab_spend * capture
    host_margin = (lab_spend - revenue).sum(axis=1)
    updates = dict(choice=choice, revenue=revenue, users=tokens.sum(axis=1))
    return updates, dict(tokens=tokens, spend=spend, revenue=revenue, host_margin=host_margin)
