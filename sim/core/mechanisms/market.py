"""Mechanism 5: serving costs, prices set by labs and hosts, demand, buyer choice, revenue.

**Serving cost** (USD per million tokens) of lab ``l``'s model at step ``t``::

    c_l = c0_l * r_c ** t * exp(((Q_l - F) - gap0_l) / sigma)

``Q_l`` its released bench score, ``F`` the best released score on offer (the frontier),
``gap0_l`` and ``c0_l`` their values at the start (``World.frontier_gap0``,
``World.serving_cost0``: the seeded price over the seeded markup), ``sigma`` =
``market.price_capability_points`` the ECI points per e-fold of cost between the models on
offer at one time (fit on the seeded cross-section of prices) and ``r_c`` the monthly
retention of the serving cost at the frontier's capability (``serving_cost_decline_per_year``:
Gemini's serving unit costs fell 78% in 2025; OpenAI's cost to serve fell 97% from GPT-4,
2023-03, to GPT-5.4, 2026-03, i.e. 69% a year; facts). A lab serves its capability level at
the industry's current cost for that level, so the cost of a fixed capability falls faster
than the frontier's (``r_c ** t * exp(-dF / sigma)``), as Epoch measured.

**Prices.** A lab's own API charges ``p_own = c * (1 + m)``, with the markup
``m = closed_markup * exp(-max(0, R - Q) / tau)`` (``R`` the best score among the other
models on offer, ``tau = markup_competition_points``): the best model keeps the full markup
(OpenAI 2024: revenue 3.7 USD bn on ~2 USD bn of inference compute, facts), one that trails a
rival cuts it. Third-party host ``h`` sells an open model at ``c * f_h`` with ``f_h =
cost_factor_h * (1 + margin_h)`` (``seeds/hosts.csv``) in the jurisdictions it sells in.
An open model's tokens in jurisdiction ``g`` split over its endpoints (its own API where it
has one, the hosts selling in ``g``) in proportion to ``price ** -beta`` (``beta =
host_price_sensitivity``: routers and buyers send traffic to the cheaper endpoint), and the
price buyers see is the mean price paid, ``pbar = c * (o (1 + m) ** (1 - beta) + B_g) / (o
(1 + m) ** -beta + A_g)`` with ``o`` 1 where the own API sells in ``g``, ``A_g = sum_h
f_h ** -beta`` and ``B_g = sum_h f_h ** (1 - beta)`` over the hosts selling in ``g``. A
closed model's ``pbar`` is ``p_own``. ``local_agents`` buyers run open weights on their own
hardware at ``c * self_host_cost_factor`` and pay no one.

**Demand** of segment ``k`` in jurisdiction ``g`` (trillion tokens/month)::

    D_gk = D0_k * share_g * (1 + a_k) ** t * exp(kappa_k * (B_gk - B0_gk))
           * (I_gk / I0_gk) ** -eta_k

``a_k`` exogenous adoption (``seeds/segments.csv growth_per_month`` times
``market.adoption_growth_scale``, except ``local_agents``: ``local_agents_growth_per_month``),
``kappa_k`` the capability elasticity (``capability_elasticity`` times
``market.capability_pull_scale``: new tasks become worth doing as the best model the group's
buyers can buy, ``B_gk``, gets better: a model blocked in g pulls no demand there), ``eta_k``
the price elasticity (``price_elasticity`` times ``market.price_elasticity_scale``), and
``I_gk`` the price of the frontier's capability in that market: the
least, over the models on offer there, of ``pbar * exp((F - Q) / sigma)`` (a model's price
moved along the cost-capability curve to the frontier's score); ``B0`` and ``I0`` their values
in the first month, so the first month reproduces the seeded demand. Since ``c`` itself moves
with ``Q - F``, ``I`` does not depend on the scores: it is ``r_c ** t`` times the cheapest
``c0 exp(-gap0 / sigma) * pbar / c`` on offer, so the price channel is the serving-cost trend
plus what markups, hosts, bans and exits do to the cheapest endpoint. And because ``c`` moves
with ``Q - F``, a rival's release makes every model it passes cheaper to serve (a fixed
capability costs less once the frontier has moved), on top of the markup cut it forces.

**Choice.** Utility of lab ``l`` for a buyer of segment ``k`` in jurisdiction ``g``::

    u = w_bench[k] * bench_l + w_robust[k] * robust_l - alpha[k] * log(pbar_gl)
        + open_pref[k] * open_l + domestic_pref[g] * [region_l == g] + log(avail)

where ``log(avail)`` applies to foreign open models above an active ban threshold in ``g``
(so a ban takes a host's foreign models out of that market in the same measure): ``avail =
1 - e ** (1 + age / tau)`` (:func:`ban_availability`), with ``e`` the ban's enforcement,
``age`` months since the model's release and ``tau = policy.ban_leak_months``. A banned
model reaches the market at first with ``1 - e`` of its availability and more as its
weights spread through channels the ban does not reach (mirrors, foreign hosts, VPNs,
self-hosting); the share still blocked shrinks by ``e`` every ``tau`` months. Large open
models come back to a banning market this way: from foreign labs that keep training above
the threshold, their sovereigns' grants raised by the ban (``grant_ban_response``,
mechanism 2), and at the pace the ban's enforcement sets. And
unavailable models (exited labs, entrants before their first release, closed APIs blocked in
``g``, closed models for ``local_agents``, open models with no endpoint in ``g``) are
excluded. A buyer adds ``switch_cost[k]`` to its current model's utility; with group
probabilities ``q`` (softmax of ``u``) its probabilities are ``p_m = q_m * e^{s [m = c]} /
(1 + q_c (e^s - 1))`` and its choice the inverse CDF of ``p`` at its uniform draw.

**Money.** Spend (USD bn) ``= tokens * pbar * 1e-3`` outside ``local_agents``. A closed lab
keeps its spend; an open lab keeps what its own API sells and ``open_capture_share`` of what
buyers pay hosts for its model (licences, enterprise deals); the hosts keep the rest, so
spend = lab revenue + host revenue exactly. Serving costs (``c`` per token served, at
``cost_factor`` for hosts) are paid by whoever serves: labs pay theirs from cash (mechanism 2,
next month), hosts keep ``revenue - cost`` as their margin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.core.kernels import (
    choose_models,
    group_utility,
    market_money,
    market_prices,
    models_above,
    per_run_parameters,
)
from sim.core.mechanisms import Flows, Updates
from sim.core.rng import MonthDraws
from sim.core.world import Params, Population, World, WorldState, own_api_markups

#: USD bn per (trillion tokens x USD per million tokens): 1e12 / 1e6 / 1e9.
USD_BN_PER_T_TOKENS_AT_1_USD_PER_MTOK = 1e-3
#: Most Newton steps of the brand calibration in the first month (:func:`calibrate_brands`;
#: 8-13 are taken), and the step below which a run has converged (utility): every seeded
#: lab's expected revenue ends within 1e-9 of its seed (tests/test_market.py).
BRAND_ITERATIONS = 100
BRAND_TOLERANCE = 1e-12
#: Longest Newton step of a brand (utility): far from the solution, where the linearisation
#: overshoots, a step is shortened to this (the largest brand moves by at most this much).
BRAND_MAX_STEP = 2.0
#: Levenberg-Marquardt damping of the brand step (:func:`calibrate_brands`): small enough
#: not to slow Newton's convergence where the system is regular (entries of J are O(1)),
#: large enough to keep a singular direction out of the step.
BRAND_DAMPING = 1e-10
#: Largest brand term (utility; prior): about 8 ECI points of knowledge-work quality, odds of
#: e^5 ~ 150x. A seeded revenue that needs more than this contradicts the seeded demand and
#: prices; the search stops at the bound (the lab then earns less than its seed) rather than
#: let one lab's name outweigh every benchmark.
BRAND_MAX = 5.0

#: ``tokens`` (R, K, L) trillion tokens served per segment and lab; ``spend`` (R, K, L) USD
#: bn buyers paid; ``revenue`` (R, L) USD bn labs kept; ``host_revenue`` (R, H) USD bn each
#: host kept; ``host_tokens`` (R, H) trillion tokens each host served; ``host_margin`` (R,)
#: USD bn hosts kept over their serving cost; ``serving_cost`` (R, L) USD bn each lab paid to
#: serve its own API's tokens; ``model_price`` (R, L) USD per million tokens of the cheapest
#: endpoint selling each lab's model (NaN where none does).
FLOWS = ("tokens", "spend", "revenue", "host_revenue", "host_tokens", "host_margin",
         "serving_cost", "model_price")


def per_run(value: float | np.ndarray, ndim: int) -> float | np.ndarray:
    """A parameter as a number, or its per-run values ``(R, 1)`` (stacked parameter sets)
    shaped ``(R, 1, ...)`` to broadcast against arrays of ``ndim`` dimensions."""
    if np.ndim(value) == 0:
        return value
    return np.reshape(value, (-1,) + (1,) * (ndim - 1))


def on_offer(state: WorldState) -> np.ndarray:
    """(R, L) bool: the lab is alive and has released a model (an entrant waits for its
    first release)."""
    return state.alive & (state.released_flop > 0)


def frontier_bench(state: WorldState) -> np.ndarray:
    """(R,) best released bench score on offer (the best score of any lab if none is)."""
    offered = np.where(on_offer(state), state.bench, -np.inf).max(axis=1)
    return np.where(np.isfinite(offered), offered, state.bench.max(axis=1))


def markups(state: WorldState, p: Params) -> np.ndarray:
    """(R, L) price over serving cost minus 1 of each lab's own API (module doc;
    :func:`sim.core.world.own_api_markups`)."""
    return own_api_markups(state.bench, on_offer(state), p)


def serving_costs(state: WorldState, world: World,
                  frontier: np.ndarray | None = None) -> np.ndarray:
    """(R, L) USD per million tokens it costs to serve each lab's model (module doc);
    ``frontier`` (R,) if already known."""
    p = world.params
    frontier = frontier_bench(state) if frontier is None else frontier
    gap = state.bench - frontier[:, None]
    return (world.serving_cost0 * p.serving_cost_retention ** state.month
            * np.exp((gap - world.frontier_gap0) / p.price_capability_points))


def api_prices(state: WorldState, world: World) -> np.ndarray:
    """(R, L) USD per million tokens each lab's own API charges, ``c * (1 + m)`` (what a
    distilling student pays its teacher)."""
    return serving_costs(state, world) * (1.0 + markups(state, world.params))


@dataclass(frozen=True)
class Endpoints:
    """How each model is sold in each jurisdiction, as factors on its serving cost ``c``.

    ``own`` (R, G, L): weight ``o (1 + m) ** -beta`` of the lab's own API; ``host_weight``
    (G, H) ``f_h ** -beta`` of each host selling in g; ``total`` (R, G, L) the sum of the
    weights of the model's endpoints (0 where none sells it); ``price_factor`` (R, G, L) the
    mean price paid over ``c`` (``pbar / c``); ``host_price`` (H,) ``f_h``."""

    own: np.ndarray
    host_weight: np.ndarray
    total: np.ndarray
    price_factor: np.ndarray
    host_price: np.ndarray


def endpoints(pop: Population, p: Params, markup: np.ndarray) -> tuple[np.ndarray, ...]:
    """The endpoints' terms that :func:`sim.core.kernels.market_prices` combines into the
    endpoints of every model in every jurisdiction (module doc), computed here with numpy's
    power: ``host_weight`` (G, H) ``f_h ** -beta`` of each host selling in g, ``host_price``
    (H,) ``f_h``, their sums ``A_g`` and ``B_g`` (G,), ``up`` (R, L) ``1 + m`` and the own
    API's weight ``(1 + m) ** -beta`` (R, L)."""
    beta = p.host_price_sensitivity
    f = pop.host_cost_factor * (1.0 + pop.host_margin)  # (H,)
    host_weight = np.where(pop.host_markets.T, f[None, :] ** -beta, 0.0)  # (G, H)
    a = host_weight.sum(axis=1)  # (G,)
    b = (host_weight * f[None, :]).sum(axis=1)  # (G,)
    up = 1.0 + markup  # (R, L)
    return host_weight, f, a, b, up, up ** -beta


def ban_availability(leak0: np.ndarray, age: np.ndarray,
                     leak_months: float | np.ndarray) -> np.ndarray:
    """Availability in a banning market of a banned foreign open model (fraction of its
    normal availability): ``1 - e ** (1 + age / tau)``, with ``e = 1 - leak0`` the ban's
    enforcement (the share of the model's availability it blocks when the model falls under
    it), ``age`` months since the model's release and ``tau = leak_months``.

    A ban is enforced on the channels a market's buyers use (its clouds, hosts and app
    stores); weights once released elsewhere spread through the rest (mirrors, foreign
    hosts, self-hosting), so the share the ban still blocks shrinks by the factor ``e``
    every ``tau`` months: the rate at which banned models reach the market is set by its
    enforcement (``-ln(e) / tau`` per month), a new release starts at ``1 - e`` and a model
    already out for long is hard to keep out. ``e = 1`` keeps banned models out for good
    (availability 0); ``e = 0`` is no ban."""
    blocked = (1.0 - leak0) ** (1.0 + age / leak_months)
    return 1.0 - blocked


def ban_penalty(state: WorldState, pop: Population,
                leak_months: float | np.ndarray = np.inf) -> np.ndarray | None:
    """(R, G, L) ``log(availability)`` (:func:`ban_availability`) of foreign open models
    above a ban in force in g (0 elsewhere), or None when no ban is in force in any run."""
    if not np.isfinite(state.ban_threshold).any():
        return None
    n_g = len(pop.jur_domestic_pref)
    thr = np.full((state.n_runs, n_g), np.inf)
    leak = np.ones((state.n_runs, n_g))
    thr[:, pop.sov_jurisdiction] = state.ban_threshold
    leak[:, pop.sov_jurisdiction] = state.ban_leakage
    foreign = pop.lab_region[None, :] != np.arange(n_g)[:, None]  # (G, L)
    # Only the blocked models' availability is worked out (a few of R x G x L).
    r, g, lab = models_above(state.released_flop, thr, pop.lab_is_open[None, :] & foreign)
    tau = np.asarray(leak_months, dtype=float)
    tau = tau.reshape(-1)[r] if tau.ndim else tau
    avail = ban_availability(leak[r, g], state.months_since_release[r, lab], tau)
    penalty = np.zeros((state.n_runs, n_g, pop.n_labs))
    with np.errstate(divide="ignore"):
        penalty[r, g, lab] = np.log(avail)
    return penalty


@dataclass(frozen=True)
class MarketView:
    """A month's market before buyers choose: ``cost`` (R, L) serving cost (USD/Mtok),
    ``markup`` (R, L), ``ends`` the endpoints, ``frontier`` (R,) and ``price_index``
    (R, G, K) the price of the frontier's capability (inf where nothing is on offer);
    ``group_best`` (R, G, K) the best score the group's buyers can buy (-inf where nothing
    is on offer); ``penalty`` (R, G, L) the finite ban penalties (:func:`ban_penalty`, 0
    where none; a model a ban keeps out entirely is not usable).

    The log prices buyers see are kept per (R, G, L) and (R, L), not per segment:
    ``log_hosted`` (R, G, L) what a jurisdiction's buyers pay (log USD/Mtok),
    ``log_local`` (R, L) what the ``local`` (K,) segments pay on their own hardware; where
    a model can be bought follows from ``offered`` (R, L), ``reachable`` (R, G, L),
    ``available`` (G, K, L) and ``is_open`` (L,) (:func:`sim.core.kernels.market_prices`).
    :attr:`log_price` and :attr:`usable` spell them out per group."""

    cost: np.ndarray
    markup: np.ndarray
    ends: Endpoints
    frontier: np.ndarray
    price_index: np.ndarray
    group_best: np.ndarray
    penalty: np.ndarray
    log_hosted: np.ndarray
    log_local: np.ndarray
    offered: np.ndarray
    reachable: np.ndarray
    available: np.ndarray
    local: np.ndarray
    is_open: np.ndarray

    @property
    def log_price(self) -> np.ndarray:
        """(R, G, K, L) log of the price a buyer of each group sees (finite everywhere;
        read it where :attr:`usable`)."""
        return np.where(self.local[None, None, :, None], self.log_local[:, None, None, :],
                        self.log_hosted[:, :, None, :])

    @property
    def usable(self) -> np.ndarray:
        """(R, G, K, L) bool: where the model can be bought (on offer, reachable, available,
        and sold to the group: an open model for a local segment, any endpoint otherwise)."""
        sold = np.where(self.local[None, None, :, None], self.is_open[None, None, None, :],
                        (self.ends.total > 0)[:, :, None, :])
        return (sold & self.offered[:, None, None, :] & self.reachable[:, :, None, :]
                & self.available[None])


def market_view(state: WorldState, world: World) -> MarketView:
    """Costs, prices, availability and the price of capability for ``state`` (module doc)."""
    pop, p = world.population, world.params
    frontier = frontier_bench(state)
    gap = state.bench - frontier[:, None]
    cost = serving_costs(state, world, frontier)
    markup = markups(state, p)
    host_weight, host_price, host_a, host_b, up, own_weight = endpoints(pop, p, markup)
    penalty = ban_penalty(state, pop, p.ban_leak_months)
    shape = (state.n_runs, len(pop.jur_domestic_pref), pop.n_labs)
    if penalty is None:
        reachable, finite = np.ones(shape, dtype=bool), np.zeros(shape)
    else:
        reachable = np.isfinite(penalty)
        finite = np.where(reachable, penalty, 0.0)
    offered = on_offer(state)
    values = per_run_parameters(state.n_runs, self_host=p.self_host_cost_factor,
                                sigma=p.price_capability_points)
    own, total, factor, log_hosted, log_local, log_index, best = market_prices(
        cost, up, own_weight, pop.own_endpoint, pop.lab_is_open, host_a, host_b, offered,
        reachable, pop.base_available, pop.seg_local, values["self_host"], gap,
        values["sigma"], state.bench)
    ends = Endpoints(own=own, host_weight=host_weight, total=total, price_factor=factor,
                     host_price=host_price)
    return MarketView(cost=cost, markup=markup, ends=ends, frontier=frontier,
                      price_index=np.exp(log_index), group_best=best, penalty=finite,
                      log_hosted=log_hosted, log_local=log_local, offered=offered,
                      reachable=reachable, available=pop.base_available,
                      local=pop.seg_local, is_open=pop.lab_is_open)


def demand_multiplier(state: WorldState, world: World, view: MarketView) -> np.ndarray:
    """(R, G * K) demand of each (jurisdiction, segment) group over its seeded level
    (module doc): adoption x capability x price of capability."""
    pop, p = world.population, world.params
    t = state.month
    # The scales are numbers or (R, 1) per-run values (stacked parameter sets): x 1.0 is exact.
    growth = np.where(pop.seg_local, pop.seg_growth, pop.seg_growth * p.adoption_growth_scale)
    adoption = (1.0 + growth) ** t  # (K,) or (R, K)
    kappa = pop.seg_cap_elasticity * p.capability_pull_scale  # (K,) or (R, K)
    eta = pop.seg_price_elasticity * p.price_elasticity_scale
    # Capability pulls demand where buyers can buy it: the best score on offer to the group.
    best0 = at_start(state, view.group_best, state.group_best0)
    both_best = np.isfinite(view.group_best) & np.isfinite(best0)
    rise = np.where(both_best, view.group_best - np.where(both_best, best0, 0.0), 0.0)
    capability = np.exp(_per_group(kappa) * rise)  # (R, G, K)
    index0 = at_start(state, view.price_index, state.price_index0)
    both = np.isfinite(view.price_index) & np.isfinite(index0)
    ratio = np.where(both, view.price_index / np.where(both, index0, 1.0), 1.0)
    price = ratio ** -_per_group(eta)  # (R, G, K)
    return (_per_group(adoption) * capability * price).reshape(state.n_runs, -1)


def _per_group(x: np.ndarray) -> np.ndarray:
    """A (K,) per-segment value, or (R, K) per run, shaped to broadcast over (R, G, K)."""
    return x[None, None, :] if x.ndim == 1 else x[:, None, :]


def lowest_price_factor(view: MarketView, pop: Population) -> np.ndarray:
    """(R, L) the cheapest endpoint's price over the serving cost, over all markets: the
    own API's ``1 + m`` where it sells anywhere, the cheapest host's ``f_h`` for open
    models; inf where nothing sells the model."""
    own = np.where(pop.own_endpoint.any(axis=0)[None, :], 1.0 + view.markup, np.inf)
    selling = pop.host_markets.any(axis=1)
    host = view.ends.host_price[selling].min() if selling.any() else np.inf
    return np.minimum(own, np.where(pop.lab_is_open[None, :], host, np.inf))


def at_start(state: WorldState, now: np.ndarray, recorded: np.ndarray) -> np.ndarray:
    """A (R, G, K) group value as it was in the first month: ``now`` in the first month
    (which records it), the ``recorded`` (R, G * K) one after (the best score on offer,
    ``group_best0``, and the price of the frontier's capability, ``price_index0``)."""
    return now if state.month == 0 else recorded.reshape(now.shape)


def buyer_tokens(group_demand: np.ndarray, pop: Population) -> np.ndarray:
    """(R, B) trillion tokens each buyer uses: its seeded slice of its segment's demand
    times its group's demand multiplier ``group_demand`` (R, G * K)."""
    return pop.buyer_tokens0[None, :] * group_demand[:, pop.buyer_group]


def group_utilities(state: WorldState, world: World, view: MarketView,
                    brand: np.ndarray | None = None) -> np.ndarray:
    """(R, G, K, L) utilities of each lab for the buyers of each (run, jurisdiction, segment)
    group, ``-inf`` where the model cannot be bought; each group's labs are contiguous, in
    lab order, for :func:`choose`. ``brand`` (R, L): the labs' brand terms (default: the
    state's)."""
    pop = world.population
    brand = state.brand if brand is None else brand
    return group_utility(state.bench, state.robust, view.log_hosted, view.log_local,
                         view.ends.total, view.offered, view.reachable, view.available,
                         view.local, view.is_open, pop.seg_w_bench, pop.seg_w_robust,
                         pop.seg_alpha, pop.open_bonus, brand, pop.domestic_finite,
                         view.penalty)


def revenue_per_token(view: MarketView, pop: Population, p: Params) -> np.ndarray:
    """(R, G, K, L) USD bn a lab keeps per trillion tokens its model sells to each group
    (0 in ``local_agents``): its own API's share at ``c (1 + m)`` plus the capture share of
    what hosts charge for the rest."""
    ends = view.ends
    own_share = np.where(pop.lab_is_open[None, None, :],
                         ends.own / np.where(ends.total > 0, ends.total, 1.0), 1.0)
    own_price = own_share * (1.0 + view.markup)[:, None, :]
    keep = own_price + per_run(p.open_capture_share, 3) * (ends.price_factor - own_price)
    rate = view.cost[:, None, :] * keep * USD_BN_PER_T_TOKENS_AT_1_USD_PER_MTOK  # (R, G, L)
    return rate[:, :, None, :] * (~pop.seg_local)[None, None, :, None]


def calibrate_brands(utility: np.ndarray, rate: np.ndarray, group_tokens: np.ndarray,
                     target: np.ndarray) -> np.ndarray:
    """(R, L) brand terms ``xi`` (utility) that make each lab's expected revenue in the first
    month its seeded revenue ``target`` (R, L), each ``xi`` kept within ``+-BRAND_MAX``: the
    solution of ``log E(xi) = log target`` (Berry 1994), found by Newton's method.

    With ``q_gkl`` the logit shares of group (g, k), ``earned_gkl = D_gk q_gkl rate_gkl`` and
    ``E_l = sum_gk earned_gkl``, the Jacobian is ``d log E_l / d xi_m = [l = m] - C_lm / E_l``
    with ``C_lm = sum_gk earned_gkl q_gkm`` (a lab's brand wins it buyers from every rival in
    the groups they share). Each step solves ``J d = log(target / E)`` over the free labs,
    in least squares (a Levenberg-Marquardt step with damping :data:`BRAND_DAMPING`: where
    every lab a group can buy has a target, shifting all their brands alike changes
    nothing, and seeds no brands can meet end as close as they can get);
    labs with no seeded revenue, or none to be had, keep ``xi = 0``, and a lab at
    ``+-BRAND_MAX`` that would go further stays there; a step whose largest move exceeds
    :data:`BRAND_MAX_STEP` is shortened to it. It converges in 8-13 steps, where Berry's
    contraction (``xi += log(target / E) / (1 - s)``, the diagonal of ``J`` only) took 100
    to more than 500 on the posterior's worlds: two large labs sharing their buyers slow it
    to 0.97 a step. A run stops when no step moves a brand (after the bound) by more than
    :data:`BRAND_TOLERANCE` (its own test, so a run's brands do not depend on its batch),
    after at most :data:`BRAND_ITERATIONS` steps. ``utility`` (R, G, K, L) without brands
    (``-inf`` where unavailable), ``rate`` (R, G, K, L) USD bn kept per trillion tokens,
    ``group_tokens`` (R, G, K) the groups' demand."""
    usable = np.isfinite(utility)
    base = np.where(usable, utility, 0.0)
    xi = np.zeros(target.shape)
    eye = np.eye(target.shape[1])
    # The runs still iterating; a run that has stopped is left out of later steps (each
    # run's steps depend on its own rows only, so its brands do not depend on the others).
    live = np.arange(target.shape[0])
    for _ in range(BRAND_ITERATIONS):
        x, goal = xi[live], target[live]
        v = np.where(usable[live], base[live] + x[:, None, None, :], -np.inf)
        top = v.max(axis=3, keepdims=True)
        w = np.exp(v - np.where(np.isfinite(top), top, 0.0))
        total = w.sum(axis=3, keepdims=True)
        q = w / np.where(total > 0, total, 1.0)
        earned = group_tokens[live, ..., None] * q * rate[live]  # (R, G, K, L)
        expected = earned.sum(axis=(1, 2))  # (R, L)
        ok = (goal > 0) & (expected > 0)
        gap = np.where(ok, np.log(np.where(ok, goal, 1.0) / np.where(ok, expected, 1.0)), 0.0)
        free = ok & ~((np.abs(x) >= BRAND_MAX) & (np.sign(gap) == np.sign(x)))
        n, n_labs = x.shape
        cross = (earned.reshape(n, -1, n_labs).transpose(0, 2, 1)
                 @ q.reshape(n, -1, n_labs))  # C (R, L, L), a batched matrix product
        jacobian = eye - cross / np.where(expected > 0, expected, 1.0)[:, :, None]
        system = np.where(free[:, :, None] & free[:, None, :], jacobian, eye)
        rhs = np.where(free, gap, 0.0)[..., None]
        # The step as least squares, (J'J + lambda I) d = J' gap: Newton's step where J is
        # regular; where it is not (every lab a group's buyers can buy has a target, so a
        # shift of all their brands changes nothing), no step along that shift, and seeds
        # that no brands can meet end as close as they can get.
        normal = system.transpose(0, 2, 1) @ system + BRAND_DAMPING * eye
        step = np.linalg.solve(normal, system.transpose(0, 2, 1) @ rhs)[..., 0]
        longest = np.abs(step).max(axis=1, keepdims=True)
        step *= np.minimum(1.0, BRAND_MAX_STEP / np.where(longest > 0, longest, 1.0))
        moved = np.clip(x + step, -BRAND_MAX, BRAND_MAX)
        # What a brand actually moved, not the step proposed: a lab held at +-BRAND_MAX
        # keeps proposing a step it cannot take and must not keep its run iterating.
        going = np.abs(moved - x).max(axis=1) > BRAND_TOLERANCE
        xi[live] = moved
        live = live[going]
        if live.size == 0:
            break
    return xi


def seeded_start(state: WorldState, world: World, n_runs: int) -> WorldState:
    """``n_runs`` copies of the seeded world as it stands before the first month (seeded
    scores, models and labs, no ban in force), at month 0, with ``state``'s seeded revenue."""
    start = state.select(np.zeros(n_runs, dtype=np.int64))
    start.month = 0
    start.bench[:], start.robust[:] = world.start_bench, world.start_robust
    start.released_flop[:], start.alive[:] = world.start_released_flop, world.start_alive
    start.ban_threshold[:], start.ban_leakage[:] = np.inf, 1.0
    return start


def distinct_rows(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(first, again)`` for a 2-D array: ``first`` the index of the first of each distinct
    row (rows equal byte for byte), in order of appearance, and ``again`` (rows,) which of
    them each row is, so that ``rows[first][again]`` is ``rows``. (Hashing each row's bytes
    is ~20x faster here than ``np.unique(axis=0)``, which sorts the rows.)"""
    rows = np.ascontiguousarray(rows)
    seen: dict[bytes, int] = {}
    first: list[int] = []
    again = np.empty(len(rows), dtype=np.int64)
    for r, row in enumerate(rows):
        j = seen.setdefault(row.tobytes(), len(first))
        if j == len(first):
            first.append(r)
        again[r] = j
    return np.asarray(first, dtype=np.int64), again


def brand_terms(state: WorldState, world: World) -> np.ndarray:
    """(R, L) each lab's brand term: in the first month, calibrated on the seeded world
    before any month has run and its seeded revenue (:func:`calibrate_brands`; one
    calibration serves every run, or one per run when parameter sets are stacked), the
    recorded one after."""
    if state.month > 0:
        return state.brand
    pop, p = world.population, world.params
    per_run = np.ndim(p.open_capture_share) > 0 or np.ndim(world.start_robust) == 2
    start = seeded_start(state, world, state.n_runs if per_run else 1)
    view = market_view(start, world)
    utility = group_utilities(start, world, view, brand=np.zeros(start.brand.shape))
    rate = revenue_per_token(view, pop, p)
    n_g, n_k = len(pop.jur_domestic_pref), len(pop.segments)
    tokens = np.broadcast_to(pop.group_tokens0.reshape(n_g, n_k), (start.n_runs, n_g, n_k))
    if not per_run:
        return np.repeat(calibrate_brands(utility, rate, tokens, start.revenue),
                         state.n_runs, axis=0)
    # Runs that share their calibration's inputs (runs of one posterior particle, replicates
    # of one parameter set) share its result: calibrate each distinct set of inputs once.
    inputs = np.concatenate([utility.reshape(start.n_runs, -1), rate.reshape(start.n_runs, -1),
                             start.revenue], axis=1)
    first, again = distinct_rows(inputs)
    brand = calibrate_brands(utility[first], rate[first], tokens[first], start.revenue[first])
    return brand[again]


def choose(u: np.ndarray, choice: np.ndarray, choice_u: np.ndarray, pop: Population) -> np.ndarray:
    """New buyer choices (R, B) from group utilities ``u`` (R, G, K, L); -1 if none available.

    Each buyer takes the inverse CDF of its switching-cost adjusted probabilities at its
    draw (module doc), computed buyer by buyer by :func:`sim.core.kernels.choose_models`.
    """
    n_runs, n_g, n_k, n_labs = u.shape
    return choose_models(u.reshape(n_runs, n_g * n_k, n_labs), choice, choice_u,
                         pop.buyer_group, pop.buyer_switch_gain)


def market_step(state: WorldState, world: World, draws: MonthDraws) -> tuple[Updates, Flows]:
    """Prices, demand, buyers' choices, tokens, spend and revenue for one month."""
    pop, p = world.population, world.params
    view = market_view(state, world)
    group_demand = demand_multiplier(state, world, view)
    brand = brand_terms(state, world)
    choice = choose(group_utilities(state, world, view, brand), state.choice, draws.choice_u,
                    pop)
    ends = view.ends
    # Each buyer's tokens (buyer_tokens) are tallied inside the loop, run by run, rather than
    # stored as (R, B) and (R, G, K, L) arrays first: same sums, a fifth of the time.
    (spend, by_segment, users, revenue, serving_cost, host_tokens, host_paid,
     host_cost) = market_money(
        choice, pop.buyer_tokens0, group_demand, pop.buyer_group, pop.seg_local,
        pop.lab_is_open, view.cost, view.markup, ends.own, ends.total,
        ends.price_factor, ends.host_weight, ends.host_price, pop.host_cost_factor,
        per_run_parameters(state.n_runs, capture=p.open_capture_share)["capture"],
        USD_BN_PER_T_TOKENS_AT_1_USD_PER_MTOK)
    host_revenue = (1.0 - per_run(p.open_capture_share, 2)) * host_paid
    lowest = view.cost * lowest_price_factor(view, pop)
    model_price = np.where(view.offered & np.isfinite(lowest), lowest, np.nan)
    updates = dict(choice=choice, revenue=revenue, users=users,
                   serving_cost=serving_cost, group_demand=group_demand,
                   price_index0=at_start(state, view.price_index, state.price_index0
                                         ).reshape(state.n_runs, -1),
                   group_best0=at_start(state, view.group_best, state.group_best0
                                        ).reshape(state.n_runs, -1),
                   brand=brand,
                   host_revenue=host_revenue, host_tokens=host_tokens)
    return updates, dict(tokens=by_segment, spend=spend, revenue=revenue,
                         host_revenue=host_revenue, host_tokens=host_tokens,
                         host_margin=(host_revenue - host_cost).sum(axis=1),
                         serving_cost=serving_cost, model_price=model_price)
