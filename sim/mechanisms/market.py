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

from typing import Any

import numpy as np

from sim.rng import MonthDraws
from sim.world import Params, Population, WorldState

#: USD bn per (trillion tokens x USD per million tokens): 1e12 / 1e6 / 1e9.
USD_BN_PER_T_TOKENS_AT_1_USD_PER_MTOK = 1e-3


def model_prices(month: int, pop: Population, p: Params) -> np.ndarray:
    """(L,) USD per million tokens at step ``month`` (closed and open decline separately)."""
    retention = np.where(pop.lab_is_open, p.open_price_retention, p.closed_price_retention)
    return pop.price0_usd_per_mtok * retention ** month


def segment_tokens(month: int, pop: Population) -> np.ndarray:
    """(K,) trillion tokens per month demanded by each segment at step ``month``."""
    return pop.seg_tokens0_t * (1.0 + pop.seg_growth) ** month


def group_utilities(state: WorldState, pop: Population, price: np.ndarray) -> np.ndarray:
    """(R, G, K, L) utilities, ``-inf`` where a model is unavailable."""
    is_open = pop.lab_is_open
    static = (-pop.seg_alpha[:, None] * np.log(price)[None, :]
              + pop.seg_open_pref[:, None] * is_open[None, :])  # (K, L)
    domestic = pop.jur_domestic_pref[:, None] * (
        pop.lab_region[None, :] == np.arange(len(pop.jur_domestic_pref))[:, None])  # (G, L)
    quality = (pop.seg_w_bench[None, :, None] * state.bench[:, None, :]
               + pop.seg_w_robust[None, :, None] * state.robust[:, None, :])  # (R, K, L)
    # Ban leakage per jurisdiction: sovereign s governs jurisdiction sov_jurisdiction[s].
    n_g = len(pop.jur_domestic_pref)
    thr = np.full((state.n_runs, n_g), np.inf)
    leak = np.ones((state.n_runs, n_g))
    thr[:, pop.sov_jurisdiction] = state.ban_threshold
    leak[:, pop.sov_jurisdiction] = state.ban_leakage
    foreign = pop.lab_region[None, :] != np.arange(n_g)[:, None]  # (G, L)
    blocked = ((is_open & foreign)[None, :, :]
               & (state.released_flop[:, None, :] > thr[:, :, None]))
    with np.errstate(divide="ignore"):
        penalty = np.where(blocked, np.log(leak)[:, :, None], 0.0)  # (R, G, L)
    u = (quality[:, None, :, :] + static[None, None, :, :] + domestic[None, :, None, :]
         + penalty[:, :, None, :])
    available = pop.base_available[None] & state.alive[:, None, None, :]
    return np.where(available, u, -np.inf)


def choose(u: np.ndarray, choice: np.ndarray, choice_u: np.ndarray, pop: Population) -> np.ndarray:
    """New buyer choices (R, B) from group utilities ``u`` (R, G, K, L); -1 if none available.

    The buyer's choice is the smallest ``m`` with ``C_m + extra [m >= c] > U (1 + extra)``,
    where ``C`` is its group's cumulative ``q``, ``c`` its current model and
    ``extra = q_c (e^s - 1)``: the inverse CDF of its switching-cost-adjusted probabilities.
    Instead of materialising (R, B, L) arrays, a buyer stays if ``U (1 + extra)`` falls in
    its current model's enlarged interval, and otherwise the target (less ``extra`` past
    ``c``) is looked up with one ``searchsorted`` over every group's cumulative sums, which
    are laid end to end with a row offset so the whole array is sorted.
    """
    top = np.max(u, axis=-1, keepdims=True)
    any_available = np.isfinite(top)
    weights = np.exp(u - np.where(any_available, top, 0.0))
    q = weights / np.where(any_available, weights.sum(axis=-1, keepdims=True), 1.0)
    n_runs, n_g, n_k, n_labs = q.shape
    q_rows = q.reshape(-1, n_labs)
    cum_rows = np.cumsum(q_rows, axis=-1)
    group = pop.buyer_jurisdiction * n_k + pop.buyer_segment  # (B,)
    row = np.arange(n_runs)[:, None] * (n_g * n_k) + group[None, :]  # (R, B)
    has = choice >= 0
    current = np.where(has, choice, 0)
    q_c = np.where(has, q_rows[row, current], 0.0)
    before_c = np.where(has, cum_rows[row, current] - q_c, 0.0)
    extra = q_c * np.expm1(pop.seg_switch_cost[pop.buyer_segment])[None, :]
    target = choice_u * (1.0 + extra)
    stay = has & (target >= before_c) & (target < before_c + q_c + extra)
    shifted = np.where(target < before_c, target, target - extra)
    # Each row's cumulative sums lie in [0, 1 + round-off]; an offset of 4 per row keeps the
    # concatenation sorted.
    offset = 4.0 * np.arange(cum_rows.shape[0])
    flat = (cum_rows + offset[:, None]).ravel()
    pos = np.searchsorted(flat, shifted + offset[row], side="right")
    new = np.clip(pos - row * n_labs, 0, n_labs)
    # The offset costs precision (far rows sit at ~4 * rows), so a target within ~1e-11 of a
    # boundary may land one slot off, differently for different positions in the batch.
    # Settle the exact answer, smallest m with cum[m] > target, on the unshifted sums.
    for _ in range(n_labs):
        prev_above = (new > 0) & (cum_rows[row, np.maximum(new - 1, 0)] > shifted)
        here_not = (new < n_labs) & (cum_rows[row, np.minimum(new, n_labs - 1)] <= shifted)
        if not (prev_above.any() or here_not.any()):
            break
        new = new - prev_above + here_not
    last_available = n_labs - 1 - np.argmax(q_rows[:, ::-1] > 0, axis=-1)
    new = np.where(new >= n_labs, last_available[row], new)
    new = np.where(stay, current, new)
    return np.where(any_available.reshape(-1)[row], new, -1)


def market_step(
    state: WorldState, pop: Population, p: Params, draws: MonthDraws
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    price = model_prices(state.month, pop, p)
    u = group_utilities(state, pop, price)
    choice = choose(u, state.choice, draws.choice_u, pop)
    n_runs, n_labs, n_seg = state.n_runs, pop.n_labs, len(pop.segments)
    buyer_tokens = segment_tokens(state.month, pop)[pop.buyer_segment] * pop.buyer_demand_weight
    served = choice >= 0
    flat = (np.arange(n_runs)[:, None] * n_seg + pop.buyer_segment[None, :]) * n_labs + choice
    tokens = np.bincount(flat[served], weights=np.broadcast_to(buyer_tokens, choice.shape)[served],
                         minlength=n_runs * n_seg * n_labs).reshape(n_runs, n_seg, n_labs)
    spend = tokens * price * USD_BN_PER_T_TOKENS_AT_1_USD_PER_MTOK  # (R, K, L)
    capture = np.where(pop.lab_is_open, p.open_capture_share, 1.0)
    lab_spend = spend.sum(axis=1)
    revenue = lab_spend * capture
    host_margin = (lab_spend - revenue).sum(axis=1)
    updates = dict(choice=choice, revenue=revenue, users=tokens.sum(axis=1))
    return updates, dict(tokens=tokens, spend=spend, revenue=revenue, host_margin=host_margin)
