"""Compiled loops: buyer choice, token tallies over (run, buyer) pairs, sums over labs;
and ``compiled`` / ``param_at``, with which mechanisms write their own compiled loops.

Buyers are the model's largest population (500 a run against 22 labs), and the work per
buyer is a short loop: an inverse-CDF choice among the labs, then adding its tokens to a
few tallies. numpy can only express that as a dozen full passes over (runs, buyers)
arrays (gathers, masks, bincounts), each paying for its own temporaries; these functions
make one pass, buyer by buyer, with Numba (compiled once and cached on disk beside the
module). They are plain functions over arrays, like the mechanisms that call them.

Each loop is the per-agent reference's arithmetic (``tests/reference.py``) in the same
order: a run's numbers are the same whatever other runs share its batch, and sums run over
buyers in buyer order, as ``numpy.bincount`` and the reference add them.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import types
from numba.extending import overload

#: Compile a function once and cache it on disk beside its module.
compiled = numba.njit(cache=True, nogil=True)


def param_at(value: float | np.ndarray, run: int) -> float:
    """A model parameter's value in run ``run``: a number, or a ``(runs, 1)`` array of
    per-run values (parameter sets stacked in one batch, :mod:`sim.studies.sweeps.stacked`).
    Usable inside compiled functions."""
    return float(value) if np.ndim(value) == 0 else float(value[run, 0])


def per_run_parameters(n_runs: int, **values: float | np.ndarray) -> dict[str, np.ndarray]:
    """Model parameters for a compiled loop, each as a C-contiguous float64 ``(n_runs, 1)``
    array: a number repeated, per-run values (stacked parameter sets, posterior draws) as
    they are. Every call of a loop then has one type signature, so Numba compiles and caches
    one variant of it, whichever parameters a sweep or the posterior varies per run (each
    mix of numbers and arrays was a variant of its own, compiled on first use: 5-10 s)."""
    def column(value: float | np.ndarray) -> np.ndarray:
        if np.ndim(value) == 0:
            return np.full((n_runs, 1), float(value))
        return np.ascontiguousarray(value, dtype=np.float64).reshape(n_runs, 1)

    return {name: column(value) for name, value in values.items()}


@overload(param_at)
def _param_at(value, run):  # noqa: ANN001, ANN202
    """Numba's typing of ``param_at``: a number as it is, a per-run array by row. Numba
    checks that the implementations returned take the same arguments as this function,
    annotations included, so neither carries any."""
    if isinstance(value, types.Number):
        return lambda value, run: value
    if isinstance(value, types.Array) and value.ndim == 2:
        return lambda value, run: value[run, 0]
    return None


@compiled
def choose_models(utility: np.ndarray, choice: np.ndarray, choice_u: np.ndarray,
                  buyer_group: np.ndarray, switch_gain: np.ndarray) -> np.ndarray:
    """New model choices (R, B), -1 where a buyer's group has no model available.

    ``utility`` (R, N, L): utility of each lab for each of N buyer groups (jurisdiction x
    segment) in each run, finite, or ``-inf`` where unavailable. ``choice`` (R, B): each
    buyer's current model or -1; ``choice_u`` (R, B): its uniform draw; ``buyer_group``
    (B,): its group; ``switch_gain`` (B,): ``e^s - 1`` for its segment's switching cost.

    Group probabilities ``q = softmax(utility)``. A buyer with current model ``c`` and
    ``extra = q_c (e^s - 1)`` has probabilities ``p_m = (q_m + extra [m = c]) / (1 + extra)``;
    its new model is the number of models ``m`` with ``C_m + extra [m >= c] <= U (1 + extra)``
    (``C`` the cumulative ``q`` in lab order), i.e. the inverse CDF of ``p`` at ``U``; if
    round-off leaves it past the last model, the last model with ``q > 0``. Most buyers stay,
    which is settled by checking the two ends of the current model's interval.
    """
    n_runs, n_groups, n_labs = utility.shape
    n_buyers = choice.shape[1]
    new = np.empty_like(choice)
    q = np.empty((n_groups, n_labs))
    cum = np.empty((n_groups, n_labs))
    available = np.empty(n_groups, dtype=np.bool_)
    for r in range(n_runs):
        for g in range(n_groups):
            top = -np.inf
            for m in range(n_labs):
                top = max(top, utility[r, g, m])
            available[g] = top > -np.inf
            if not available[g]:
                continue
            total = 0.0
            for m in range(n_labs):
                q[g, m] = np.exp(utility[r, g, m] - top)
                total += q[g, m]
            running = 0.0
            for m in range(n_labs):
                q[g, m] /= total
                running += q[g, m]
                cum[g, m] = running
        for b in range(n_buyers):
            g = buyer_group[b]
            if not available[g]:
                new[r, b] = -1
                continue
            c = choice[r, b]
            extra = (q[g, c] if c >= 0 else 0.0) * switch_gain[b]
            target = (1.0 + extra) * choice_u[r, b]
            if c >= 0 and (c == 0 or cum[g, c - 1] <= target) and target < cum[g, c] + extra:
                new[r, b] = c  # still inside the current model's interval
                continue
            count = 0
            for m in range(n_labs):  # cumulative values never decrease: stop at the first above
                if cum[g, m] + (extra if m >= c else 0.0) > target:
                    break
                count += 1
            if count >= n_labs:
                count = n_labs - 1
                while count >= 0 and not q[g, count] > 0.0:
                    count -= 1
            new[r, b] = count
    return new


@compiled
def tokens_by_jurisdiction(choice: np.ndarray, buyer_tokens0: np.ndarray,
                           group_demand: np.ndarray, buyer_group: np.ndarray,
                           buyer_jurisdiction: np.ndarray, counted: np.ndarray,
                           n_jurisdictions: int) -> np.ndarray:
    """(M, R, G) tokens that each jurisdiction's buyers took from the labs each of M masks
    counts: ``counted`` (M, G, L) bool, which labs count for a buyer in jurisdiction g.
    Buyer ``b`` of run ``r`` uses ``buyer_tokens0[b] * group_demand[r, buyer_group[b]]``
    (``market.buyer_tokens``, computed here instead of stored as an (R, B) array first)."""
    n_runs, n_buyers = choice.shape
    n_masks = counted.shape[0]
    out = np.zeros((n_masks, n_runs, n_jurisdictions))
    for r in range(n_runs):
        for i in range(n_masks):
            # A jurisdiction's buyers come one after another (Population's buyer order;
            # any order gives the same sums): its sum is kept in a register while they
            # last and stored when the jurisdiction changes, not added into memory buyer
            # after buyer (a chain of stores and loads, 1.4x slower at 1,000 runs).
            current, acc = -1, 0.0
            for b in range(n_buyers):
                lab, g = choice[r, b], buyer_jurisdiction[b]
                if g != current:
                    if current >= 0:
                        out[i, r, current] = acc
                    current, acc = g, out[i, r, g]
                if lab < 0:
                    continue
                tokens = buyer_tokens0[b] * group_demand[r, buyer_group[b]]
                # A select, not a branch (which labs count follows no pattern): adding 0.0
                # leaves the sum as it was (a sum that starts at 0.0 is never -0.0).
                acc += tokens if counted[i, g, lab] else 0.0
            if current >= 0:
                out[i, r, current] = acc
    return out


@compiled
def where_sold(r: int, g: int, offered: np.ndarray, reachable: np.ndarray, total: np.ndarray,
               is_open: np.ndarray, log_hosted: np.ndarray, log_local: np.ndarray,
               sells: np.ndarray, log_price: np.ndarray) -> None:
    """Fill ``sells`` (2, L) and ``log_price`` (2, L) for run ``r``'s buyers in jurisdiction
    ``g``: row 0 the hosted segments (a model on offer, reachable in g, with an endpoint
    there: ``total`` > 0; at ``log_hosted``), row 1 the segments that run open weights on
    their own hardware (an open model on offer and reachable; at ``log_local``). Shared by
    :func:`market_prices` and :func:`group_utility`, which must agree on it."""
    for lab in range(is_open.shape[0]):
        there = offered[r, lab] and reachable[r, g, lab]
        sells[0, lab] = there and total[r, g, lab] > 0
        sells[1, lab] = there and is_open[lab]
        log_price[0, lab] = log_hosted[r, g, lab]
        log_price[1, lab] = log_local[r, lab]


@compiled
def market_prices(cost: np.ndarray, up: np.ndarray, own_weight: np.ndarray,
                  own_endpoint: np.ndarray, is_open: np.ndarray, host_a: np.ndarray,
                  host_b: np.ndarray, offered: np.ndarray, reachable: np.ndarray,
                  available: np.ndarray, local: np.ndarray, self_host: np.ndarray,
                  gap: np.ndarray, sigma: np.ndarray,
                  bench: np.ndarray) -> tuple[np.ndarray, ...]:
    """The endpoints of every model and what each buyer group sees, in one pass over
    (run, jurisdiction, lab) (mechanism 5's prices and demand index), without storing
    anything per (run, jurisdiction, segment, lab): :func:`group_utility` works the prices
    out again from the (R, G, L) ones returned here.

    Endpoints (factors on the serving cost): ``up`` (R, L) ``1 + m`` of each lab's own API,
    ``own_weight`` (R, L) its weight ``(1 + m) ** -beta`` (computed by the caller, numpy's
    power); ``own_endpoint`` (G, L) where the own API sells; ``host_a``, ``host_b`` (G,)
    ``sum_h f_h ** -beta`` and ``sum_h f_h ** (1 - beta)`` over the hosts selling in g,
    which sell open models (``is_open`` (L,)). Returns ``own = o (1 + m) ** -beta``,
    ``total = own + A_g`` (open) or ``own``, and the mean price paid over the cost
    ``factor = (own (1 + m) + B_g) / total`` (open; 1 where total is 0) or ``1 + m``, each
    (R, G, L), added in that order.

    Prices (log USD per million tokens): ``cost`` (R, L) serving cost, ``self_host`` (R, 1)
    the local segments' (``local`` (K,)) cost factor on their own hardware. Returns
    ``log_hosted`` (R, G, L) ``log(cost) + log(factor)`` (``log(cost)`` where total is 0)
    and ``log_local`` (R, L) ``log(cost) + log(self_host)``.

    Demand index: a model is usable by group (g, k) where it is ``offered`` (R, L),
    ``reachable`` (R, G, L) (no ban with no leakage keeps it out), ``available`` (G, K, L)
    (static availability) and sold to the group (an open model for a local segment; total
    > 0 otherwise). Returns ``log_index`` (R, G, K): the least ``log price - gap / sigma``
    over the usable models (``gap`` (R, L) each score minus the frontier, ``sigma`` (R, 1)
    ECI points per e-fold of cost; inf if none), and ``best`` (R, G, K): the best ``bench``
    (R, L) score among them (-inf if none)."""
    n_runs, n_labs = cost.shape
    n_g, n_k = own_endpoint.shape[0], local.shape[0]
    own = np.empty((n_runs, n_g, n_labs))
    total = np.empty((n_runs, n_g, n_labs))
    factor = np.empty((n_runs, n_g, n_labs))
    log_hosted = np.empty((n_runs, n_g, n_labs))
    log_local = np.empty((n_runs, n_labs))
    log_index = np.empty((n_runs, n_g, n_k))
    best = np.empty((n_runs, n_g, n_k))
    log_cost = np.empty(n_labs)  # one run's
    moved = np.empty(n_labs)
    sells = np.empty((2, n_labs), dtype=np.bool_)  # one jurisdiction's
    log_price = np.empty((2, n_labs))
    # same[g, lab]: the first jurisdiction where the model's endpoints are those it has in
    # g (the same own API, and for an open model the same hosts' sums), whose numbers g
    # copies: the same arithmetic on the same numbers, without its log (most of the time
    # of this loop) and division. Jurisdictions often share their hosts.
    same = np.empty((n_g, n_labs), dtype=np.int64)
    for lab in range(n_labs):
        for g in range(n_g):
            same[g, lab] = g
            for h in range(g):
                if own_endpoint[h, lab] == own_endpoint[g, lab] and (
                        not is_open[lab] or (host_a[h] == host_a[g]
                                             and host_b[h] == host_b[g])):
                    same[g, lab] = h
                    break
    for r in range(n_runs):
        log_self = np.log(param_at(self_host, r))
        for lab in range(n_labs):
            log_cost[lab] = np.log(cost[r, lab])
            log_local[r, lab] = log_cost[lab] + log_self
            moved[lab] = gap[r, lab] / param_at(sigma, r)
        for g in range(n_g):
            for lab in range(n_labs):
                h = same[g, lab]
                if h < g:
                    own[r, g, lab], total[r, g, lab] = own[r, h, lab], total[r, h, lab]
                    factor[r, g, lab] = factor[r, h, lab]
                    log_hosted[r, g, lab] = log_hosted[r, h, lab]
                    continue
                o = own_weight[r, lab] if own_endpoint[g, lab] else 0.0
                t = o + (host_a[g] if is_open[lab] else 0.0)
                paid = o * up[r, lab] + (host_b[g] if is_open[lab] else 0.0)
                f = paid / (t if t > 0 else 1.0) if is_open[lab] else up[r, lab]
                own[r, g, lab], total[r, g, lab], factor[r, g, lab] = o, t, f
                log_hosted[r, g, lab] = log_cost[lab] + np.log(f if t > 0 else 1.0)
            where_sold(r, g, offered, reachable, total, is_open, log_hosted, log_local,
                       sells, log_price)
            for k in range(n_k):
                row = 1 if local[k] else 0
                low, top = np.inf, -np.inf
                for lab in range(n_labs):
                    if not (sells[row, lab] and available[g, k, lab]):
                        continue
                    value = log_price[row, lab] - moved[lab]
                    if value < low:
                        low = value
                    if bench[r, lab] > top:
                        top = bench[r, lab]
                log_index[r, g, k], best[r, g, k] = low, top
    return own, total, factor, log_hosted, log_local, log_index, best


@compiled
def group_utility(bench: np.ndarray, robust: np.ndarray, log_hosted: np.ndarray,
                  log_local: np.ndarray, total: np.ndarray, offered: np.ndarray,
                  reachable: np.ndarray, available: np.ndarray, local: np.ndarray,
                  is_open: np.ndarray, w_bench: np.ndarray, w_robust: np.ndarray,
                  alpha: np.ndarray, open_bonus: np.ndarray, brand: np.ndarray,
                  domestic: np.ndarray, penalty: np.ndarray) -> np.ndarray:
    """(R, G, K, L) buyers' utilities (mechanism 5), ``-inf`` where not usable:
    ``(w_bench * bench + w_robust * robust - alpha * log_price) + (open_bonus + brand)
    + domestic + penalty``, added in that order. ``bench``, ``robust``, ``brand`` (R, L);
    ``w_bench``, ``w_robust``, ``alpha`` (K,); ``open_bonus`` (K, L); ``domestic`` (G, K, L)
    the home preference; ``penalty`` (R, G, L) the finite ban penalties (0 without a ban).
    The log price and where a model is usable are :func:`market_prices`' (its arguments
    and returns of the same names): ``log_local`` (R, L) for the ``local`` segments (open
    models only), ``log_hosted`` (R, G, L) for the others (models with ``total`` > 0)."""
    n_runs, n_g, n_labs = log_hosted.shape
    n_k = local.shape[0]
    u = np.empty((n_runs, n_g, n_k, n_labs))
    # Where a jurisdiction's buyers can buy each model, and at what log price: hosted
    # (row 0) and on their own hardware (row 1), worked out once for all its segments.
    sells = np.empty((2, n_labs), dtype=np.bool_)
    log_price = np.empty((2, n_labs))
    for r in range(n_runs):
        for g in range(n_g):
            where_sold(r, g, offered, reachable, total, is_open, log_hosted, log_local,
                       sells, log_price)
            for k in range(n_k):
                row = 1 if local[k] else 0
                wb, wr, a = w_bench[k], w_robust[k], alpha[k]
                for lab in range(n_labs):
                    if not (sells[row, lab] and available[g, k, lab]):
                        u[r, g, k, lab] = -np.inf
                        continue
                    quality = wb * bench[r, lab] + wr * robust[r, lab]
                    x = quality - a * log_price[row, lab]
                    x = x + (open_bonus[k, lab] + brand[r, lab])
                    x = x + domestic[g, k, lab]
                    u[r, g, k, lab] = x + penalty[r, g, lab]
    return u


@compiled
def market_money(choice: np.ndarray, buyer_tokens0: np.ndarray, group_demand: np.ndarray,
                 buyer_group: np.ndarray, local: np.ndarray, is_open: np.ndarray,
                 cost: np.ndarray, markup: np.ndarray, own: np.ndarray, total: np.ndarray,
                 factor: np.ndarray, host_weight: np.ndarray, host_price: np.ndarray,
                 host_cost_factor: np.ndarray, capture: np.ndarray,
                 scale: float) -> tuple[np.ndarray, ...]:
    """The tokens and money of a month's market in one pass (mechanism 5's "Money"), run
    by run.

    ``choice`` (R, B) each buyer's model (-1: unserved); buyer ``b`` uses
    ``buyer_tokens0[b] * group_demand[r, buyer_group[b]]`` trillion tokens
    (``market.buyer_tokens``), added to its group's tokens from its model in buyer order;
    groups are jurisdiction x segment, ``g * K + k``
    with K = ``local.shape[0]``. ``local`` (K,) the segments whose tokens run on users' own
    hardware (no spend); ``cost`` (R, L) serving cost and ``markup`` (R, L); ``own``,
    ``total``, ``factor`` (R, G, L) the endpoint weights of the own API, of all endpoints,
    and the mean price paid over ``cost``; ``host_weight`` (G, H), ``host_price`` and
    ``host_cost_factor`` (H,); ``capture`` (R, 1) the labs' share of hosts' sales;
    ``scale`` USD bn per trillion tokens at 1 USD/Mtok. Returns ``spend`` (R, K, L) and
    ``tokens`` (R, K, L) by segment, ``users`` (R, L) (the tokens served outside the local
    segments), ``revenue`` and ``serving`` (R, L) of the labs, ``host_tokens``,
    ``host_paid`` (what buyers paid each host) and ``host_cost`` (R, H)."""
    n_runs, n_buyers = choice.shape
    n_g, n_labs = own.shape[1], own.shape[2]
    n_k = local.shape[0]
    n_h = host_price.shape[0]
    spend = np.zeros((n_runs, n_k, n_labs))
    by_segment = np.zeros((n_runs, n_k, n_labs))
    users = np.zeros((n_runs, n_labs))
    revenue = np.zeros((n_runs, n_labs))
    serving = np.zeros((n_runs, n_labs))
    host_tokens = np.zeros((n_runs, n_h))
    host_paid = np.zeros((n_runs, n_h))
    host_cost = np.zeros((n_runs, n_h))
    tokens = np.empty((n_g, n_k, n_labs))  # one run's tokens by group and lab
    # The same cells by group index g * K + k: no division per buyer.
    by_group = tokens.reshape((n_g * n_k, n_labs))
    for r in range(n_runs):
        tokens[:] = 0.0
        for b in range(n_buyers):
            lab = choice[r, b]
            if lab >= 0:
                group = buyer_group[b]
                by_group[group, lab] += buyer_tokens0[b] * group_demand[r, group]
        lam = param_at(capture, r)
        for lab in range(n_labs):
            c = cost[r, lab]
            up = 1.0 + markup[r, lab]
            # The lab's sums over groups in registers (stored once, below), not added into
            # memory group after group: a chain of stores and loads 35 long.
            sold_own, used, earned = 0.0, 0.0, 0.0
            for g in range(n_g):
                sold = 0.0
                for k in range(n_k):
                    x = tokens[g, k, lab]
                    by_segment[r, k, lab] += x
                    if not local[k]:
                        # Tokens run on users' own hardware never reach the lab: they are
                        # not its users (its learning from real use, mechanism 6).
                        used += x
                        sold += x
                        spend[r, k, lab] += x * (c * factor[r, g, lab]) * scale
                if sold == 0.0:
                    continue
                safe = total[r, g, lab] if total[r, g, lab] > 0 else 1.0
                share = own[r, g, lab] / safe if is_open[lab] else 1.0
                spend_g = sold * c * factor[r, g, lab] * scale
                own_spend = sold * share * c * up * scale
                earned += own_spend + lam * (spend_g - own_spend)
                sold_own += sold * share
                if is_open[lab]:
                    per = sold / safe
                    for h in range(n_h):
                        w = per * host_weight[g, h]
                        host_tokens[r, h] += w
                        host_paid[r, h] += w * c * host_price[h] * scale
                        host_cost[r, h] += w * c * host_cost_factor[h] * scale
            users[r, lab], revenue[r, lab] = used, earned
            serving[r, lab] = sold_own * c * scale
    return spend, by_segment, users, revenue, serving, host_tokens, host_paid, host_cost


@compiled
def best_of_others_rows(scores: np.ndarray) -> np.ndarray:
    """(N, L) ``out[i, l]`` = the largest of ``scores[i, j]`` over ``j != l`` (-inf for a
    single lab), as a stable sort of each row from the largest down would give it (the row
    sorted once per call, 2x the time of this pass at 1,000 runs): the best is the first
    of equal largest values (NaN counts below every number; a row of NaN's best is its
    first), the best's own value the largest of the others (the first NaN among them if
    they are all NaN)."""
    n_rows, n_labs = scores.shape
    out = np.empty((n_rows, n_labs))
    for i in range(n_rows):
        first = -1
        for lab in range(n_labs):
            x = scores[i, lab]
            if not np.isnan(x) and (first < 0 or x > scores[i, first]):
                first = lab
        first = max(first, 0)
        second = -1
        for lab in range(n_labs):
            if lab == first:
                continue
            x = scores[i, lab]
            if second < 0 or (not np.isnan(x) and (np.isnan(scores[i, second])
                                                   or x > scores[i, second])):
                second = lab
        top = scores[i, first]
        for lab in range(n_labs):
            out[i, lab] = top
        out[i, first] = scores[i, second] if second >= 0 else -np.inf
    return out


@compiled
def models_above(flop: np.ndarray, threshold: np.ndarray,
                 counted: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``np.nonzero(counted[None] & (flop[:, None, :] > threshold[:, :, None]))`` without
    the (R, G, L) mask: the (run, jurisdiction, lab) index arrays, in that (C) order, of the
    models whose ``flop`` (R, L) [FLOP] is above ``threshold`` (R, G) where ``counted``
    (G, L) (foreign open models, for a ban's reach)."""
    n_runs, n_labs = flop.shape
    n_g = threshold.shape[1]
    n = 0
    for r in range(n_runs):
        for g in range(n_g):
            for lab in range(n_labs):
                if counted[g, lab] and flop[r, lab] > threshold[r, g]:
                    n += 1
    runs = np.empty(n, dtype=np.int64)
    places = np.empty(n, dtype=np.int64)
    labs = np.empty(n, dtype=np.int64)
    i = 0
    for r in range(n_runs):
        for g in range(n_g):
            for lab in range(n_labs):
                if counted[g, lab] and flop[r, lab] > threshold[r, g]:
                    runs[i], places[i], labs[i] = r, g, lab
                    i += 1
    return runs, places, labs
