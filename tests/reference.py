"""A per-agent reference implementation of one monthly step of the engine.

This is the "Mesa-style" version of the rules of docs/design.md section 4: one run at a time,
plain Python floats and :mod:`math`, explicit loops over labs, sovereigns, regions and
buyers. It is written from the mechanism docstrings and mirrors the vectorized engine
(:func:`sim.core.engine.step`) rule by rule and in the same order of operations, so that, fed the
same random draws (:class:`sim.core.rng.MonthDraws`), both produce the same state to round-off:

* policy -> funding -> compute -> research -> market -> adoption -> entry;
* ties are broken like ``np.argmax`` (first index): the acquirer of an exiting lab is the
  first same-region survivor with the most cash;
* a buyer's choice is the inverse CDF, over labs in lab order, of the switching-cost
  adjusted logit probabilities ``p_m = q_m e^{s [m = c]} / (1 + q_c (e^s - 1))``; a draw
  beyond the last cumulative value falls back to the last lab with ``q > 0``.

Nothing here imports the mechanism modules: only the world description (:mod:`sim.core.world`),
the random streams (:mod:`sim.core.rng`) and the scenario loader are shared. It is used by
``tests/test_reference.py`` to check the engine and by ``experiments/bench_engine.py`` as the
speed baseline.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sim.core.events import FundingShock, SafetyShock
from sim.core.mechanisms.funding import MAX_ROUND_USD_BN  # a documented constant, not logic
from sim.core.mechanisms.market import (  # documented constants
    BRAND_DAMPING,
    BRAND_ITERATIONS,
    BRAND_MAX,
    BRAND_MAX_STEP,
    BRAND_TOLERANCE,
)
from sim.core.rng import MonthDraws, RandomStreams
from sim.core.world import World, WorldState, build_world, initial_state
from sim.inputs.scenario import Scenario
from sim.inputs.seeds import Seeds, load_seeds
from sim.vocab import JURISDICTIONS, N_POLICIES

INF = math.inf
#: Same bound as the engine's inverse Poisson CDF (a property of the rule, not of the code).
MAX_SHOCKS_PER_MONTH = 60
#: USD bn per (trillion tokens x USD per million tokens).
USD_BN_PER_T_TOKENS_AT_1_USD_PER_MTOK = 1e-3

LAB_FIELDS = ("alive", "cash", "revenue", "compute", "algo", "run_flop", "bench", "robust",
              "released_flop", "months_since_release", "flywheel", "users", "compute_spend",
              "net_inflow", "funding_outlook", "serving_cost", "run_months_left",
              "contract_h100e",
              "contract_price", "next_h100e", "next_price", "next_lead", "rl_flop", "entered")
SOV_FIELDS = ("pressure", "ban_threshold", "ban_leakage", "distill_enforcement")
REGION_FIELDS = ("export_multiplier", "export_cap", "log_sentiment", "shock_log")


# --------------------------------------------------------------------------- agents


@dataclass
class RefLab:
    alive: bool
    cash: float
    revenue: float
    compute: float
    algo: float
    run_flop: float
    bench: float
    robust: float
    released_flop: float
    months_since_release: float
    flywheel: float
    users: float
    compute_spend: float
    net_inflow: float
    funding_outlook: float
    serving_cost: float
    run_months_left: float
    contract_h100e: float
    contract_price: float
    next_h100e: float
    next_price: float
    next_lead: float
    rl_flop: float
    entered: bool


@dataclass
class RefSovereign:
    pressure: float
    ban_threshold: float
    ban_leakage: float
    distill_enforcement: float
    policy_enacted: list[bool]  # ban, distillation crackdown, export tightening


@dataclass
class RefRegion:
    export_multiplier: float
    export_cap: float
    log_sentiment: float
    shock_log: float


@dataclass
class RefBuyer:
    choice: int


@dataclass
class RefRun:
    """The mutable state of one run as lists of agents."""

    month: int
    labs: list[RefLab]
    sovereigns: list[RefSovereign]
    regions: list[RefRegion]
    buyers: list[RefBuyer]
    leader_algo: list[float]  # ring buffer, slot t % (lag + 1) written at step t
    shock_components: list[float]  # funding-shock components (World.shock_region)
    closed_revenue_trailing: float = 0.0
    group_demand: list[float] = field(default_factory=list)  # (G * K,) demand multipliers
    price_index0: list[float] = field(default_factory=list)  # (G * K,) recorded at month 0
    group_best0: list[float] = field(default_factory=list)  # (G * K,) recorded at month 0
    brand: list[float] = field(default_factory=list)  # (L,) calibrated at month 0
    host_revenue: list[float] = field(default_factory=list)  # (H,) last month's
    host_tokens: list[float] = field(default_factory=list)  # (H,) last month's
    flows: dict[str, Any] = field(default_factory=dict)  # last step's flows

    @classmethod
    def from_state(cls, state: WorldState, r: int) -> RefRun:
        def lab(i: int) -> RefLab:
            kw = {f: float(getattr(state, f)[r, i]) for f in LAB_FIELDS
                  if f not in ("alive", "entered")}
            return RefLab(alive=bool(state.alive[r, i]), entered=bool(state.entered[r, i]),
                          **kw)

        return cls(
            month=int(state.month),
            labs=[lab(i) for i in range(state.cash.shape[1])],
            sovereigns=[RefSovereign(**{f: float(getattr(state, f)[r, s]) for f in SOV_FIELDS},
                                     policy_enacted=[bool(x) for x in state.policy_enacted[r, s]])
                        for s in range(state.pressure.shape[1])],
            regions=[RefRegion(**{f: float(getattr(state, f)[r, g]) for f in REGION_FIELDS})
                     for g in range(state.export_multiplier.shape[1])],
            buyers=[RefBuyer(int(c)) for c in state.choice[r]],
            leader_algo=[float(x) for x in state.leader_algo[r]],
            shock_components=[float(x) for x in state.shock_components[r]],
            closed_revenue_trailing=float(state.closed_revenue_trailing[r]),
            group_demand=[float(x) for x in state.group_demand[r]],
            price_index0=[float(x) for x in state.price_index0[r]],
            group_best0=[float(x) for x in state.group_best0[r]],
            brand=[float(x) for x in state.brand[r]],
            host_revenue=[float(x) for x in state.host_revenue[r]],
            host_tokens=[float(x) for x in state.host_tokens[r]],
        )

    def copy(self) -> RefRun:
        """A copy with fresh agent objects (and empty flows)."""
        return RefRun(
            month=self.month,
            labs=[RefLab(**vars(lab)) for lab in self.labs],
            sovereigns=[RefSovereign(**{**vars(s), "policy_enacted": list(s.policy_enacted)})
                        for s in self.sovereigns],
            regions=[RefRegion(**vars(g)) for g in self.regions],
            buyers=[RefBuyer(b.choice) for b in self.buyers],
            leader_algo=list(self.leader_algo),
            shock_components=list(self.shock_components),
            closed_revenue_trailing=self.closed_revenue_trailing,
            group_demand=list(self.group_demand),
            price_index0=list(self.price_index0),
            group_best0=list(self.group_best0),
            brand=list(self.brand),
            host_revenue=list(self.host_revenue),
            host_tokens=list(self.host_tokens),
        )

    def to_arrays(self) -> dict[str, Any]:
        """This run's state as arrays shaped like one row of a :class:`WorldState`
        (``leader_algo`` as ``(lag + 1,)``)."""
        out: dict[str, Any] = {"month": self.month}
        for f in LAB_FIELDS:
            dtype = bool if f in ("alive", "entered") else float
            out[f] = np.array([getattr(lab, f) for lab in self.labs], dtype=dtype)
        for f in SOV_FIELDS:
            out[f] = np.array([getattr(s, f) for s in self.sovereigns], dtype=float)
        for f in REGION_FIELDS:
            out[f] = np.array([getattr(g, f) for g in self.regions], dtype=float)
        out["policy_enacted"] = np.array([s.policy_enacted for s in self.sovereigns], dtype=bool)
        out["shock_components"] = np.array(self.shock_components, dtype=float)
        out["choice"] = np.array([b.choice for b in self.buyers], dtype=np.int64)
        out["leader_algo"] = np.array(self.leader_algo, dtype=float)
        out["closed_revenue_trailing"] = self.closed_revenue_trailing
        for name in ("group_demand", "price_index0", "group_best0", "brand", "host_revenue",
                     "host_tokens"):
            out[name] = np.array(getattr(self, name), dtype=float)
        return out


# ------------------------------------------------------------- static agent attributes


@dataclass(frozen=True)
class _Static:
    """The population's fixed attributes as Python lists (built once per world)."""

    lab_region: list[int]
    lab_is_open: list[bool]
    lab_sovereign: list[int]
    bench_focus: list[float]
    sov_jurisdiction: list[int]
    sov_stance: list[float]
    sov_threshold: list[float]
    sov_open_interest: list[float]
    sov_export_target: list[int]
    sov_has_closed_labs: list[bool]  # a crackdown protects home closed labs
    line_sovereign: list[int]  # grant lines (World.grant_lines)
    line_usd: list[float]
    line_start: list[int]
    line_responsive: list[bool]
    line_backs: list[list[int]]  # labs each grant line backs
    seg_tokens0: list[float]
    seg_growth: list[float]
    seg_w_bench: list[float]
    seg_w_robust: list[float]
    seg_alpha: list[float]
    seg_open_pref: list[float]
    buyer_switch_gain: list[float]  # e^s - 1 of its segment (World's one definition)
    jur_domestic_pref: list[float]
    buyer_segment: list[int]
    buyer_jurisdiction: list[int]
    buyer_weight: list[float]
    available: list[list[list[bool]]]  # [g][k][l] before bans and exits
    jur_sovereign: list[int]  # sovereign governing each jurisdiction, -1 if none
    lab_camp: list[int]
    distill_blocked: list[list[bool]]  # [student][teacher]
    lab_entrant: list[bool]
    seed_cash: list[float]
    valuation_multiple: list[float]
    cost0: list[float]  # World.serving_cost0
    gap0: list[float]  # World.frontier_gap0
    seg_local: list[bool]
    seg_cap_elasticity: list[float]
    seg_price_elasticity: list[float]
    own_endpoint: list[list[bool]]  # [g][l]
    host_markets: list[list[bool]]  # [h][g]
    host_cost_factor: list[float]
    host_margin: list[float]
    group_tokens0: list[float]


_STATIC_CACHE: dict[int, tuple[World, _Static]] = {}


def _static(world: World) -> _Static:
    hit = _STATIC_CACHE.get(id(world))
    if hit is not None and hit[0] is world:
        return hit[1]
    pop = world.population
    n_l, lines = pop.n_labs, world.grant_lines
    jur_sov = [-1] * len(JURISDICTIONS)
    for s, g in enumerate(pop.sov_jurisdiction.tolist()):
        jur_sov[g] = s  # the engine's fancy-index assignment: the last sovereign wins
    st = _Static(
        lab_region=pop.lab_region.tolist(),
        lab_is_open=[bool(x) for x in pop.lab_is_open],
        lab_sovereign=pop.lab_sovereign.tolist(),
        bench_focus=pop.bench_focus.tolist(),
        sov_jurisdiction=pop.sov_jurisdiction.tolist(),
        sov_stance=pop.sov_stance.tolist(),
        sov_threshold=pop.sov_threshold.tolist(),
        sov_open_interest=pop.sov_open_interest.tolist(),
        sov_export_target=pop.sov_export_target.tolist(),
        sov_has_closed_labs=[any(pop.lab_sovereign[i] == s and not pop.lab_is_open[i]
                                 for i in range(n_l)) for s in range(pop.n_sovereigns)],
        line_sovereign=lines.sovereign.tolist(),
        line_usd=lines.usd_bn.tolist(),
        line_start=lines.start.tolist(),
        line_responsive=[bool(x) for x in lines.responsive],
        line_backs=[[i for i in range(n_l) if lines.backing[n, i]]
                    for n in range(len(lines.sovereign))],
        seg_tokens0=pop.seg_tokens0_t.tolist(),
        seg_growth=pop.seg_growth.tolist(),
        seg_w_bench=pop.seg_w_bench.tolist(),
        seg_w_robust=pop.seg_w_robust.tolist(),
        seg_alpha=pop.seg_alpha.tolist(),
        seg_open_pref=pop.seg_open_pref.tolist(),
        buyer_switch_gain=pop.buyer_switch_gain.tolist(),
        jur_domestic_pref=pop.jur_domestic_pref.tolist(),
        buyer_segment=pop.buyer_segment.tolist(),
        buyer_jurisdiction=pop.buyer_jurisdiction.tolist(),
        buyer_weight=pop.buyer_demand_weight.tolist(),
        available=pop.base_available.tolist(),
        jur_sovereign=jur_sov,
        lab_camp=pop.lab_camp.tolist(),
        distill_blocked=pop.distill_blocked.tolist(),
        lab_entrant=[bool(x) for x in pop.lab_entrant],
        seed_cash=pop.lab_seed_cash.tolist(),
        valuation_multiple=pop.lab_valuation_multiple.tolist(),
        cost0=world.serving_cost0.tolist(),
        gap0=world.frontier_gap0.tolist(),
        seg_local=[bool(x) for x in pop.seg_local],
        seg_cap_elasticity=pop.seg_cap_elasticity.tolist(),
        seg_price_elasticity=pop.seg_price_elasticity.tolist(),
        own_endpoint=pop.own_endpoint.tolist(),
        host_markets=pop.host_markets.tolist(),
        host_cost_factor=pop.host_cost_factor.tolist(),
        host_margin=pop.host_margin.tolist(),
        group_tokens0=pop.group_tokens0.tolist(),
    )
    _STATIC_CACHE.clear()
    _STATIC_CACHE[id(world)] = (world, st)
    return st


def choose_one(u: list[float], c: int, draw: float, switch_gain: float) -> int:
    """One buyer's new model (or -1 if nothing is available): the per-buyer rule that
    ``sim.core.kernels.choose_models`` compiles, with the same arithmetic step by step.

    ``u`` holds the group's utilities in lab order (``-inf`` where unavailable), ``c`` the
    current model (-1 for none), ``draw`` the uniform draw in [0, 1), ``switch_gain`` the
    population's ``buyer_switch_gain`` (``e^s - 1``, derived once in
    ``sim.core.world.build_population``: ``math.expm1`` and ``np.expm1`` can differ in the
    last bit). ``q = softmax(u)`` with the sum taken left to right (not ``sum()``, which is
    compensated from Python 3.12 on); the new model is the number of models ``m`` with
    ``C_m + extra [m >= c] <= U (1 + extra)``. The boundary rule: a target exactly on a
    cumulative value belongs to the next model (intervals are half-open, ``[lo, hi)``); past
    the end, the last model with ``q > 0``.
    """
    top = max(u)
    if top == -INF:
        return -1
    weights = [math.exp(x - top) for x in u]
    total = 0.0
    for w in weights:
        total += w
    q = [w / total for w in weights]
    q_c = q[c] if c >= 0 else 0.0
    current = c if c >= 0 else 0
    extra = q_c * switch_gain
    threshold = (1.0 + extra) * draw
    cum, new = 0.0, 0
    for m in range(len(q)):
        cum += q[m]
        if cum + (extra if m >= current else 0.0) <= threshold:
            new += 1
    if new >= len(q):
        new = max(m for m in range(len(q)) if q[m] > 0)
    return new


def _b(flag: bool) -> float:
    """A bool used as a multiplier (``x * alive`` in the engine)."""
    return 1.0 if flag else 0.0


# --------------------------------------------------------------------------- mechanisms


def _policy(run: RefRun, world: World, st: _Static, d: dict[str, Any]) -> None:
    p = world.params
    # Inverse Poisson CDF: smallest k with P(N <= k) > u.
    rate, u = p.safety_shocks_per_month, d["shock_u"]
    shocks, pmf = 0, math.exp(-rate)
    cdf = pmf
    for k in range(1, MAX_SHOCKS_PER_MONTH + 1):
        if not u >= cdf:
            break
        shocks += 1
        pmf = pmf * rate / k
        cdf = cdf + pmf
    for s, sov in enumerate(run.sovereigns):
        sov.pressure = sov.pressure * p.pressure_retention + shocks * st.sov_stance[s]
    events = [ev for ev in world.schedule if ev.month == run.month]
    scheduled = 0
    for ev in events:
        if isinstance(ev, SafetyShock):
            for s, sov in enumerate(run.sovereigns):
                sov.pressure = sov.pressure + ev.size * st.sov_stance[s]
            scheduled += 1
    for g, reg in enumerate(run.regions):
        reg.log_sentiment = ((1.0 - p.sentiment_reversion_per_month) * reg.log_sentiment
                             + p.sentiment_volatility * d["sentiment_z"][g])

    # Funding shocks: every component decays with its own half-life; random shocks hit the
    # region's own component, scheduled ones their (region, half-life) component.
    comps = run.shock_components
    for h in range(len(comps)):
        comps[h] = comps[h] * float(world.shock_retention[h])
    hits = []
    for g in range(len(run.regions)):
        hit = d["funding_shock_u"][g] < p.random_shock_probability
        comps[g] += math.log1p(-p.random_shock_size) if hit else 0.0
        hits.append(hit)
    for ev in events:
        if isinstance(ev, FundingShock):
            comps[ev.component] += math.log1p(-ev.size)
    for g, reg in enumerate(run.regions):
        reg.shock_log = sum(comps[h] for h in range(len(comps))
                            if int(world.shock_region[h]) == g)

    # Decisions: enact while above the threshold, lapse while well below it.
    enact_prob = (p.ban_probability_per_month, p.crackdown_probability_per_month,
                  p.export_tightening_probability_per_month)
    change = []
    for s, sov in enumerate(run.sovereigns):
        row = []
        for k in range(N_POLICIES):
            thr = st.sov_threshold[s]
            possible = ((k != 2 or st.sov_export_target[s] >= 0)
                        and (k != 1 or st.sov_has_closed_labs[s]))
            on = sov.policy_enacted[k]
            draw = d["decision_u"][s][k]
            if not on and possible and sov.pressure > thr and draw < enact_prob[k]:
                sov.policy_enacted[k] = True
                row.append(1)
            elif (on and sov.pressure < p.lapse_pressure_share * thr
                  and draw < p.lapse_probability_per_month):
                sov.policy_enacted[k] = False
                row.append(-1)
            else:
                row.append(0)
        change.append(row)

    # The policy in force: the scheduled layer, tightened by what sovereigns enacted.
    sched, t = world.scheduled_policy, run.month
    for s, sov in enumerate(run.sovereigns):
        ban, crack = sov.policy_enacted[0], sov.policy_enacted[1]
        sov.ban_threshold = min(float(sched.ban_threshold[t, s]),
                                p.ban_threshold_flop if ban else INF)
        sov.ban_leakage = min(float(sched.ban_leakage[t, s]),
                              1.0 - p.ban_enforcement if ban else 1.0)
        sov.distill_enforcement = min(float(sched.enforcement[t, s]),
                                      p.crackdown_enforcement if crack else 1.0)
    for g, reg in enumerate(run.regions):
        n_tight = sum(1 for s, sov in enumerate(run.sovereigns)
                      if sov.policy_enacted[2] and st.sov_export_target[s] == g)
        reg.export_multiplier = (float(sched.export_multiplier[t, g])
                                 * p.export_tightening_price_factor ** n_tight)
        cap, factor = float(sched.export_cap[t, g]), p.export_tightening_cap_factor
        if n_tight == 0:
            reg.export_cap = cap
        elif cap == INF:  # tightening cannot cap an uncapped region, except an embargo
            reg.export_cap = 0.0 if factor == 0.0 else INF
        else:
            reg.export_cap = cap * factor ** n_tight
    run.flows["safety_shocks"] = shocks + scheduled
    run.flows["policy_change"] = change
    run.flows["random_funding_shocks"] = hits


def _grants(run: RefRun, world: World, st: _Static) -> tuple[list[float], list[float]]:
    """Grants received per lab and paid per sovereign (USD bn/month)."""
    p = world.params
    labs, sovs = run.labs, run.sovereigns
    n_s = len(sovs)
    # Dependency: share of each jurisdiction's tokens last taken from foreign closed labs.
    n_g = len(st.jur_domestic_pref)
    num, den = [0.0] * n_g, [0.0] * n_g
    for b, buyer in enumerate(run.buyers):
        if buyer.choice < 0:
            continue
        k, g, lab = st.buyer_segment[b], st.buyer_jurisdiction[b], buyer.choice
        tokens = ((st.seg_tokens0[k] * st.buyer_weight[b])
                  * run.group_demand[g * len(st.seg_tokens0) + k])
        den[g] += tokens
        if not st.lab_is_open[lab] and st.lab_region[lab] != g:
            num[g] += tokens
    demand = []
    for s in range(n_s):
        g = st.sov_jurisdiction[s]
        dependency = num[g] / den[g] if den[g] > 0 else 0.0
        foreign = [o.pressure / st.sov_threshold[o_i] for o_i, o in enumerate(sovs) if o_i != s]
        foreign_pressure = sum(foreign) / max(n_s - 1, 1)
        bans_abroad = sum(1 for o_i, o in enumerate(sovs)
                          if o_i != s and o.ban_threshold != INF)
        demand.append(st.sov_open_interest[s] * (
            p.grant_pressure_weight * foreign_pressure + p.grant_dependency_weight * dependency
            + p.grant_ban_response * bans_abroad))
    received, paid = [0.0] * len(labs), [0.0] * n_s
    for n, s in enumerate(st.line_sovereign):
        if st.line_start[n] > run.month:
            continue
        budget = st.line_usd[n]
        if st.line_responsive[n]:
            budget = budget * p.grant_scale * (1.0 + demand[s])
        backed = [i for i in st.line_backs[n] if labs[i].alive]
        if not backed:
            continue
        paid[s] += budget
        for i in backed:
            received[i] += budget / len(backed)
    return received, paid


def _rental_price(world: World, run: RefRun, region: int) -> float:
    p = world.params
    return (p.rental0_usd_bn_per_h100e_month * p.compute_price_retention ** run.month
            * run.regions[region].export_multiplier)


def _funding(run: RefRun, world: World, st: _Static, d: dict[str, Any]) -> None:
    p = world.params
    labs = run.labs
    n_l = len(labs)
    received, grants_paid = _grants(run, world, st)
    alive_bench = [lab.bench for lab in labs if lab.alive]
    frontier = max(alive_bench) if alive_bench else max(lab.bench for lab in labs)
    camp_flop: dict[int, float] = {}
    for i, lab in enumerate(labs):
        c = st.lab_camp[i]
        camp_flop.setdefault(c, 0.0)
        if lab.alive:
            camp_flop[c] = max(camp_flop[c], lab.released_flop)
    duration = p.pretrain_months + p.post_train_months
    lead = float(p.contract_lead_months)
    parent_row = world.parent_budget[min(run.month, p.n_months - 1)]
    access_row = world.investor_access[min(run.month, p.n_months - 1)]

    opex, grants, revenue, raised, wants = [0.0] * n_l, [0.0] * n_l, [0.0] * n_l, \
        [0.0] * n_l, [False] * n_l
    parent, paid, cancelled = [0.0] * n_l, [0.0] * n_l, [False] * n_l
    cash2 = [0.0] * n_l
    for i, lab in enumerate(labs):
        a = _b(lab.alive)
        overhead = 1.0 + p.non_compute_cost_ratio
        operating = (p.opex_usd_bn_per_h100e_month * lab.compute * overhead
                     + lab.serving_cost) * a
        grants[i] = received[i] * a
        revenue[i] = lab.revenue * a
        parent[i] = float(parent_row[i]) * a
        running = lab.alive and lab.run_months_left > 0
        payment = lab.contract_h100e * lab.contract_price if running else 0.0
        run_staff = (overhead - 1.0) * payment
        opex[i] = operating + run_staff
        cash1 = (lab.cash + revenue[i] + grants[i] + parent[i] - opex[i] - payment
                 if lab.alive else 0.0)
        burn = opex[i] + payment - revenue[i] - grants[i] - parent[i]
        runway = cash1 / burn if burn > 0 else INF
        committed = (lab.contract_h100e * lab.contract_price * max(lab.run_months_left - 1.0, 0.0)
                     + lab.next_h100e * lab.next_price * duration) * overhead
        keep_up = 0.0
        if lab.next_lead < 0 and lab.run_months_left <= lead + 1.0:
            rate = p.training_share * p.flop_per_h100e_month * p.pretrain_months
            needed = max(camp_flop[st.lab_camp[i]] / rate - lab.compute, 0.0)
            keep_up = needed * _rental_price(world, run, st.lab_region[i]) * duration * overhead
        net = revenue[i] + grants[i] + parent[i] - operating
        reserve = p.reserve_months * max(-net, 0.0)
        short = cash1 < committed + keep_up + reserve
        wants[i] = lab.alive and (runway < p.runway_trigger_months or cash1 < 0 or short)
        narrative = math.exp(-max(frontier - lab.bench, 0.0) / p.narrative_points_scale)
        reg = run.regions[st.lab_region[i]]
        sentiment = math.exp(reg.log_sentiment + reg.shock_log)
        prob = min(1.0, p.raise_base_probability * sentiment * narrative
                   * float(access_row[i]))
        if wants[i] and d["raise_u"][i] < prob:
            valuation = st.valuation_multiple[i] * sentiment * (
                p.revenue_multiple * 12.0 * revenue[i] + p.narrative_valuation_usd_bn * narrative)
            raised[i] = max(min(p.dilution * valuation, MAX_ROUND_USD_BN), 0.0)
        total = cash1 + raised[i]
        if total < 0 and running:
            cancelled[i] = True
            total = total + payment + run_staff
            opex[i] = operating
            payment = 0.0
            lab.run_months_left, lab.contract_h100e, lab.contract_price = 0.0, 0.0, 0.0
            lab.run_flop, lab.rl_flop = 0.0, 0.0
        if total < 0 and lab.next_lead >= 0:
            cancelled[i] = True
            lab.next_h100e, lab.next_price, lab.next_lead = 0.0, 0.0, -1.0
        paid[i] = payment
        cash2[i] = total
        lab.net_inflow = net
        lab.funding_outlook = (1.0 if parent[i] > 0 else
                               min(1.0, sentiment * narrative * float(access_row[i])))
        lab.compute_spend = payment

    exits = [lab.alive and cash2[i] < 0 for i, lab in enumerate(labs)]
    alive2 = [lab.alive and not exits[i] for i, lab in enumerate(labs)]
    acquired, acquirer = [False] * n_l, [-1] * n_l
    transfer = [0.0] * n_l
    for i in range(n_l):
        if not exits[i]:
            continue
        best, best_cash = -1, -INF
        for j in range(n_l):  # first index with the most cash, like np.argmax
            if alive2[j] and st.lab_region[j] == st.lab_region[i] and (
                    best < 0 or cash2[j] > best_cash):
                best, best_cash = j, cash2[j]
        if best >= 0 and d["acquire_u"][i] < p.acquisition_probability:
            acquired[i], acquirer[i] = True, best
            transfer[best] += labs[i].compute
    written_off = [0.0] * n_l
    for i, lab in enumerate(labs):
        lab.compute = (0.0 if exits[i] else lab.compute) + transfer[i]
        written_off[i] = -cash2[i] if exits[i] else 0.0
        lab.cash = 0.0 if exits[i] else cash2[i]
        lab.alive = alive2[i]
        lab.net_inflow = lab.net_inflow * _b(lab.alive)
    run.flows.update(revenue_in=revenue, grants=grants, grants_paid=grants_paid,
                     parent_funds=parent, opex=opex, compute_spend=paid, raised=raised,
                     written_off=written_off, exits=exits, acquired=acquired,
                     acquirer=acquirer, raise_attempts=wants, runs_cancelled=cancelled)


def _compute(run: RefRun, world: World, st: _Static) -> None:
    p = world.params
    duration = p.pretrain_months + p.post_train_months
    lead = float(p.contract_lead_months)
    planned, delayed, planned_flop, started = [], [], [], []
    for i, lab in enumerate(run.labs):
        lab.compute = lab.compute * (1.0 - p.depreciation_per_month)
        plan, delay, flop_out, start = False, False, 0.0, False
        if lab.alive:
            if lab.next_lead > 0:
                lab.next_lead = lab.next_lead - 1.0
            elif lab.next_lead < 0 and lab.run_months_left <= lead:
                overhead = 1.0 + p.non_compute_cost_ratio
                committed = (lab.contract_h100e * lab.contract_price * lab.run_months_left
                             * overhead)
                reserve = p.reserve_months * max(-lab.net_inflow, 0.0)
                free = lab.cash - committed - reserve
                spread = free * lab.funding_outlook if free > 0 else free
                budget = max(spread / p.plan_horizon_months + lab.net_inflow, 0.0)
                reg = run.regions[st.lab_region[i]]
                price = _rental_price(world, run, st.lab_region[i])
                size = min(budget / (price * overhead), reg.export_cap * max(lead, 1.0))
                flop = (p.training_share * (lab.compute + size) * p.flop_per_h100e_month
                        * p.pretrain_months)
                if flop < p.min_run_flop_ratio * lab.released_flop or flop <= 0.0:
                    delay = True
                else:
                    plan, flop_out = True, flop
                    lab.next_h100e, lab.next_price, lab.next_lead = size, price, lead
            if lab.next_lead == 0.0 and lab.run_months_left <= 0.0:
                start = True
                lab.run_months_left = duration
                lab.contract_h100e, lab.contract_price = lab.next_h100e, lab.next_price
                lab.next_h100e, lab.next_price, lab.next_lead = 0.0, 0.0, -1.0
        planned.append(plan)
        delayed.append(delay)
        planned_flop.append(flop_out)
        started.append(start)
    run.flows.update(runs_planned=planned, runs_delayed=delayed, planned_flop=planned_flop,
                     runs_started=started)


def _research(run: RefRun, world: World, st: _Static, d: dict[str, Any]) -> None:
    p = world.params
    labs, t, lag = run.labs, run.month, p.fast_follow_lag_months
    # Own progress from research compute relative to the best-resourced lab.
    research = [(1.0 - p.training_share)
                * (lab.compute + (lab.contract_h100e if lab.run_months_left > 0 else 0.0))
                * _b(lab.alive) for lab in labs]
    top = max(research)
    for i, lab in enumerate(labs):
        share = min(research[i] / (top if top > 0 else 1.0), 1.0)
        lab.algo = lab.algo + (p.algo_progress_per_month * share ** p.research_elasticity
                               * _b(research[i] > 0))
    closed_algo = [lab.algo for i, lab in enumerate(labs)
                   if lab.alive and not st.lab_is_open[i]]
    if closed_algo:
        leader_now = max(closed_algo)
    else:
        leader_now = run.leader_algo[(t - 1) % (lag + 1)] if t > 0 else run.leader_algo[0]
    leader_past = leader_now if lag == 0 else run.leader_algo[(t + 1) % (lag + 1)]
    for lab in labs:
        lab.algo = lab.algo + (p.fast_follow_rate * max(leader_past - lab.algo, 0.0)
                               * _b(lab.alive))
    run.leader_algo[t % (lag + 1)] = leader_now

    # Runs, their end and releases (distillation reads every lab's *previous* bench).
    prev_bench = [lab.bench for lab in labs]
    prev_alive = [lab.alive for lab in labs]
    teachers = []
    for j, lab in enumerate(labs):
        if lab.alive and not st.lab_is_open[j]:
            s = st.lab_sovereign[j]
            enf = run.sovereigns[s].distill_enforcement if s >= 0 else 1.0
            teachers.append((j, enf))
    _, serve, markup = _prices(run, world, st)
    price = [serve[j] * (1.0 + markup[j]) for j in range(len(labs))]
    months_rl = max(float(t - world.rl_era_step), 0.0)
    rl_use = 10.0 ** min(math.log10(p.rl_use_before_era) + months_rl / p.rl_tenfold_months,
                         0.0)
    releases, gains, ended = [False] * len(labs), [0.0] * len(labs), [False] * len(labs)
    paid = [0.0] * len(labs)
    for i, lab in enumerate(labs):
        months_since = lab.months_since_release + 1.0
        lab.months_since_release = months_since
        if not (prev_alive[i] and lab.run_months_left > 0):
            continue
        month_flop = (p.training_share * (lab.compute + lab.contract_h100e)
                      * p.flop_per_h100e_month)
        if lab.run_months_left > p.post_train_months:
            lab.run_flop = lab.run_flop + month_flop
        else:
            lab.rl_flop = lab.rl_flop + rl_use * month_flop
        lab.run_months_left = lab.run_months_left - 1.0
        if lab.run_months_left > 0:
            continue
        ended[i] = True
        lab.run_months_left, lab.contract_h100e = 0.0, 0.0
        s = st.lab_sovereign[i]
        home_thr = run.sovereigns[s].ban_threshold if (s >= 0 and st.lab_is_open[i]) else INF
        pre_flop, rl_flop = lab.run_flop, lab.rl_flop
        train_flop = min(pre_flop, home_thr)
        lab.run_flop, lab.rl_flop = 0.0, 0.0
        if not train_flop > 0:
            continue
        effective = math.log10(max(train_flop, 1.0)) + lab.algo
        base = (world.initial_anchor + p.eci_per_log10_flop * effective
                + p.release_noise_points * d["release_z"][i])
        reference = p.rl_use_before_era * p.post_train_months / p.pretrain_months * pre_flop
        if reference > 0 and rl_flop > 0:
            ratio = rl_flop * (1.0 + p.rl_data_weight * lab.flywheel
                               / p.flywheel_max_points) / reference
            if ratio > 1.0:
                x = p.rl_points_per_decade * math.log10(ratio)
                base = base - p.rl_max_points * math.expm1(-x / p.rl_max_points)
        gain, teacher, best = 0.0, -1, 0.0
        if st.lab_is_open[i]:
            for j, enf in teachers:
                access = p.distill_blocked_access if st.distill_blocked[i][j] else 1.0
                value = enf * access * max(prev_bench[j] - base, 0.0)
                if value > best:
                    best, teacher = value, j
        cost = 0.0
        if teacher >= 0:
            cost = p.distill_tokens_t * price[teacher] * USD_BN_PER_T_TOKENS_AT_1_USD_PER_MTOK
            if lab.cash >= cost:
                gain = p.distill_efficiency * best
        new_bench = base + st.bench_focus[i] * p.bench_focus_points + gain
        new_robust = (base - st.bench_focus[i] * p.robust_cost_points + lab.flywheel
                      + p.distill_robust_carry * gain)
        if new_bench > prev_bench[i]:
            releases[i] = True
            lab.months_since_release = 0.0
            lab.bench, lab.robust, lab.released_flop = new_bench, new_robust, train_flop
            gains[i] = gain
            if gain > 0:
                lab.cash -= cost
                labs[teacher].cash += cost
                paid[i] -= cost
                paid[teacher] += cost
    run.flows.update(releases=releases, distill_gain=gains, distill_paid=paid,
                     runs_ended=ended)


def _prices(run: RefRun, world: World, st: _Static) -> tuple[float, list[float], list[float]]:
    """The frontier, each lab's serving cost (USD/Mtok) and own-API markup (mechanism 5)."""
    p = world.params
    labs = run.labs
    offered = [lab.alive and lab.released_flop > 0 for lab in labs]
    scores = [lab.bench for i, lab in enumerate(labs) if offered[i]]
    frontier = max(scores) if scores else max(lab.bench for lab in labs)
    cost, markup = [], []
    for i, lab in enumerate(labs):
        gap = lab.bench - frontier
        cost.append(st.cost0[i] * p.serving_cost_retention ** run.month
                    * math.exp((gap - st.gap0[i]) / p.price_capability_points))
        others = [labs[j].bench for j in range(len(labs)) if j != i and offered[j]]
        rival = max(others) if others else -INF
        markup.append(p.closed_markup * math.exp(-max(rival - lab.bench, 0.0)
                                                 / p.markup_competition_points))
    return frontier, cost, markup


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """``x`` with ``a x = b`` (Gaussian elimination with partial pivoting)."""
    n = len(b)
    m = [row[:] + [b[i]] for i, row in enumerate(a)]
    for c in range(n):
        pivot = max(range(c, n), key=lambda r: abs(m[r][c]))
        m[c], m[pivot] = m[pivot], m[c]
        for r in range(c + 1, n):
            f = m[r][c] / m[c][c]
            for j in range(c, n + 1):
                m[r][j] -= f * m[c][j]
    x = [0.0] * n
    for r in range(n - 1, -1, -1):
        x[r] = (m[r][n] - sum(m[r][j] * x[j] for j in range(r + 1, n))) / m[r][r]
    return x


def _calibrate_brands(base: list, rate: list, st: _Static, target: list[float],
                      rest: list[list[float]]) -> list[float]:
    """The first month's brand terms (``sim.core.mechanisms.market.calibrate_brands``):
    Newton's method on ``log expected = log target`` in least squares (the normal
    equations damped by BRAND_DAMPING) with the Jacobian ``[l = m] - C_lm / E_l``, ``C_lm``
    the sum over groups of lab l's earnings times lab m's probability, over the labs with a
    target and expected revenue that are not held at +-BRAND_MAX; a step longer than
    BRAND_MAX_STEP is shortened to it; until no brand moves by more than
    BRAND_TOLERANCE."""
    n_g, n_k, n_l = len(base), len(base[0]), len(target)
    xi = [0.0] * n_l
    for _ in range(BRAND_ITERATIONS):
        expected = [0.0] * n_l
        cross = [[0.0] * n_l for _ in range(n_l)]
        for g in range(n_g):
            for k in range(n_k):
                v = [(base[g][k][i][0] + (base[g][k][i][1] + xi[i])) + rest[g][i]
                     if base[g][k][i] != -INF else -INF for i in range(n_l)]
                top = max(v)
                if top == -INF:
                    continue
                w = [math.exp(x - top) for x in v]
                total = 0.0
                for x in w:
                    total += x
                demand = st.group_tokens0[g * n_k + k]
                q = [x / total for x in w]
                for i in range(n_l):
                    earned = demand * q[i] * rate[g][i] * (0.0 if st.seg_local[k] else 1.0)
                    expected[i] += earned
                    for j in range(n_l):
                        cross[i][j] += earned * q[j]
        gap = [math.log(target[i] / expected[i]) if target[i] > 0 and expected[i] > 0
               else 0.0 for i in range(n_l)]
        free = [target[i] > 0 and expected[i] > 0
                and not (abs(xi[i]) >= BRAND_MAX and gap[i] * xi[i] > 0) for i in range(n_l)]
        system = [[((1.0 if i == j else 0.0) - cross[i][j] / expected[i])
                   if free[i] and free[j] else (1.0 if i == j else 0.0)
                   for j in range(n_l)] for i in range(n_l)]
        rhs = [gap[i] if free[i] else 0.0 for i in range(n_l)]
        # Least squares: (J'J + BRAND_DAMPING I) d = J' rhs.
        normal = [[sum(system[r][i] * system[r][j] for r in range(n_l))
                   + (BRAND_DAMPING if i == j else 0.0) for j in range(n_l)]
                  for i in range(n_l)]
        step = _solve(normal, [sum(system[r][i] * rhs[r] for r in range(n_l))
                               for i in range(n_l)])
        longest = max(abs(d) for d in step)
        if longest > BRAND_MAX_STEP:
            step = [d * (BRAND_MAX_STEP / longest) for d in step]
        biggest = 0.0
        for i in range(n_l):
            moved = min(max(xi[i] + step[i], -BRAND_MAX), BRAND_MAX)
            biggest = max(biggest, abs(moved - xi[i]))
            xi[i] = moved
        if not biggest > BRAND_TOLERANCE:
            break
    return xi


def _view(run: RefRun, world: World, st: _Static) -> dict[str, Any]:
    """The market before buyers choose (``sim.core.mechanisms.market.market_view``): costs,
    markups, endpoints, bans, the prices buyers see, availability, the price of capability
    and the utilities without brands."""
    p = world.params
    labs = run.labs
    n_l, n_k, n_g = len(labs), len(st.seg_tokens0), len(st.jur_domestic_pref)
    n_h = len(st.host_cost_factor)
    beta = p.host_price_sensitivity
    frontier, cost, markup = _prices(run, world, st)
    offered = [lab.alive and lab.released_flop > 0 for lab in labs]
    # Endpoints: the lab's own API and the hosts selling in each jurisdiction.
    f = [st.host_cost_factor[h] * (1.0 + st.host_margin[h]) for h in range(n_h)]
    host_w = [[f[h] ** -beta if st.host_markets[h][g] else 0.0 for h in range(n_h)]
              for g in range(n_g)]
    own, total, factor = [], [], []
    for g in range(n_g):
        a_g = 0.0
        b_g = 0.0
        for h in range(n_h):
            a_g += host_w[g][h]
        for h in range(n_h):
            b_g += host_w[g][h] * f[h]
        own_g, total_g, factor_g = [], [], []
        for i in range(n_l):
            up = 1.0 + markup[i]
            o = up ** -beta if st.own_endpoint[g][i] else 0.0
            tot = o + (a_g if st.lab_is_open[i] else 0.0)
            paid = o * up + (b_g if st.lab_is_open[i] else 0.0)
            own_g.append(o)
            total_g.append(tot)
            factor_g.append(paid / (tot if tot > 0 else 1.0) if st.lab_is_open[i] else up)
        own.append(own_g)
        total.append(total_g)
        factor.append(factor_g)
    # Each jurisdiction's ban: a foreign open model trained above its threshold is available
    # at 1 - e ** (1 + age / tau): e = 1 - leakage the enforcement, age months since release.
    log_leak = []
    tau = p.ban_leak_months
    for g in range(n_g):
        s = st.jur_sovereign[g]
        thr = run.sovereigns[s].ban_threshold if s >= 0 else INF
        leak = run.sovereigns[s].ban_leakage if s >= 0 else 1.0
        row = []
        for i in range(n_l):
            if (st.lab_is_open[i] and st.lab_region[i] != g
                    and labs[i].released_flop > thr):
                avail = 1.0 - (1.0 - leak) ** (1.0 + labs[i].months_since_release / tau)
                row.append(math.log(avail) if avail > 0 else -INF)
            else:
                row.append(0.0)
        log_leak.append(row)
    # Prices buyers see, availability and the price of the frontier's capability.
    log_price = [[[0.0] * n_l for _ in range(n_k)] for _ in range(n_g)]
    usable = [[[False] * n_l for _ in range(n_k)] for _ in range(n_g)]
    index = [[INF] * n_k for _ in range(n_g)]
    group_best = [[-INF] * n_k for _ in range(n_g)]
    for g in range(n_g):
        for k in range(n_k):
            best = INF
            for i, lab in enumerate(labs):
                if st.seg_local[k]:
                    fac = p.self_host_cost_factor
                    sold = st.lab_is_open[i]
                else:
                    fac = factor[g][i] if total[g][i] > 0 else 1.0
                    sold = total[g][i] > 0
                lp = math.log(cost[i]) + math.log(fac)
                log_price[g][k][i] = lp
                ok = (sold and offered[i] and st.available[g][k][i]
                      and log_leak[g][i] > -INF)
                usable[g][k][i] = ok
                if ok:
                    best = min(best, lp - (lab.bench - frontier) / p.price_capability_points)
                    group_best[g][k] = max(group_best[g][k], lab.bench)
            index[g][k] = math.exp(best) if best < INF else INF
    base = [[[-INF] * n_l for _ in range(n_k)] for _ in range(n_g)]
    for g in range(n_g):
        for k in range(n_k):
            for i, lab in enumerate(labs):
                if not usable[g][k][i]:
                    continue
                quality = st.seg_w_bench[k] * lab.bench + st.seg_w_robust[k] * lab.robust
                base[g][k][i] = (quality - st.seg_alpha[k] * log_price[g][k][i],
                                 st.seg_open_pref[k] * _b(st.lab_is_open[i]))
    rate = [[0.0] * n_l for _ in range(n_g)]
    for g in range(n_g):
        for i in range(n_l):
            safe = total[g][i] if total[g][i] > 0 else 1.0
            share = own[g][i] / safe if st.lab_is_open[i] else 1.0
            own_price = share * (1.0 + markup[i])
            keep = own_price + p.open_capture_share * (factor[g][i] - own_price)
            rate[g][i] = cost[i] * keep * USD_BN_PER_T_TOKENS_AT_1_USD_PER_MTOK
    rest = [[st.jur_domestic_pref[g] * _b(st.lab_region[i] == g) + log_leak[g][i]
             for i in range(n_l)] for g in range(n_g)]
    return dict(frontier=frontier, cost=cost, markup=markup, own=own, total=total,
                factor=factor, log_leak=log_leak, log_price=log_price, usable=usable,
                index=index, base=base, rate=rate, rest=rest, f=f, host_w=host_w,
                group_best=group_best)


def _seeded_run(run: RefRun, world: World) -> RefRun:
    """The seeded world before the first month (seeded scores, models and labs, no ban)."""
    start = run.copy()
    start.month = 0
    for i, lab in enumerate(start.labs):
        lab.bench, lab.robust = float(world.start_bench[i]), float(world.start_robust[i])
        lab.released_flop = float(world.start_released_flop[i])
        lab.alive = bool(world.start_alive[i])
    for sov in start.sovereigns:
        sov.ban_threshold, sov.ban_leakage = INF, 1.0
    return start


def _market(run: RefRun, world: World, st: _Static, d: dict[str, Any]) -> None:
    p = world.params
    labs, t = run.labs, run.month
    n_l, n_k, n_g = len(labs), len(st.seg_tokens0), len(st.jur_domestic_pref)
    n_h = len(st.host_cost_factor)
    v = _view(run, world, st)
    cost, markup = v["cost"], v["markup"]
    own, total, factor, log_leak = v["own"], v["total"], v["factor"], v["log_leak"]
    usable, index, base = v["usable"], v["index"], v["base"]
    f, host_w = v["f"], v["host_w"]
    group_best = v["group_best"]
    if t == 0:
        index0 = [row[:] for row in index]
        best0 = [row[:] for row in group_best]
    else:
        index0 = [[run.price_index0[g * n_k + k] for k in range(n_k)] for g in range(n_g)]
        best0 = [[run.group_best0[g * n_k + k] for k in range(n_k)] for g in range(n_g)]
    demand = [0.0] * (n_g * n_k)
    for g in range(n_g):
        for k in range(n_k):
            i_now, i_start = index[g][k], index0[g][k]
            both = i_now < INF and i_start < INF
            ratio = i_now / i_start if both else 1.0
            growth = st.seg_growth[k] * (1.0 if st.seg_local[k] else p.adoption_growth_scale)
            adoption = (1.0 + growth) ** t
            b_now, b_start = group_best[g][k], best0[g][k]
            rise = b_now - b_start if b_now > -INF and b_start > -INF else 0.0
            capability = math.exp(st.seg_cap_elasticity[k] * p.capability_pull_scale * rise)
            eta = st.seg_price_elasticity[k] * p.price_elasticity_scale
            demand[g * n_k + k] = adoption * capability * ratio ** -eta
    # The brands: calibrated in the first month on the seeded world.
    if t == 0:
        s0 = _view(_seeded_run(run, world), world, st)
        brand = _calibrate_brands(s0["base"], s0["rate"], st, [lab.revenue for lab in labs],
                                  s0["rest"])
    else:
        brand = list(run.brand)
    # Buyers choose.
    tokens = [[[0.0] * n_l for _ in range(n_k)] for _ in range(n_g)]
    choice_u = d["choice_u"]
    for b, buyer in enumerate(run.buyers):
        k, g = st.buyer_segment[b], st.buyer_jurisdiction[b]
        u = []
        for i in range(n_l):
            if not usable[g][k][i]:
                u.append(-INF)
                continue
            head, bonus = base[g][k][i]
            value = head + (bonus + brand[i])
            value = value + st.jur_domestic_pref[g] * _b(st.lab_region[i] == g)
            u.append(value + log_leak[g][i])
        new = choose_one(u, buyer.choice, choice_u[b], st.buyer_switch_gain[b])
        buyer.choice = new
        if new < 0:
            continue
        tokens[g][k][new] += (st.seg_tokens0[k] * st.buyer_weight[b]) * demand[g * n_k + k]

    # Money: spend, the labs' and hosts' revenue, serving costs.
    scale = USD_BN_PER_T_TOKENS_AT_1_USD_PER_MTOK
    lam = p.open_capture_share
    revenue = [0.0] * n_l
    serving = [0.0] * n_l
    spend = [[0.0] * n_l for _ in range(n_k)]
    host_tokens, host_paid, host_cost = [0.0] * n_h, [0.0] * n_h, [0.0] * n_h
    for i, lab in enumerate(labs):
        sold_own = 0.0
        for g in range(n_g):
            sold = 0.0
            for k in range(n_k):
                sold += tokens[g][k][i] * (0.0 if st.seg_local[k] else 1.0)
            safe = total[g][i] if total[g][i] > 0 else 1.0
            share = own[g][i] / safe if st.lab_is_open[i] else 1.0
            spend_g = sold * cost[i] * factor[g][i] * scale
            own_spend = sold * share * cost[i] * (1.0 + markup[i]) * scale
            revenue[i] += own_spend + lam * (spend_g - own_spend)
            sold_own += sold * share
            for k in range(n_k):
                if not st.seg_local[k]:
                    spend[k][i] += tokens[g][k][i] * (cost[i] * factor[g][i]) * scale
            if st.lab_is_open[i]:
                per = sold / safe
                for h in range(n_h):
                    host_tokens[h] += per * host_w[g][h]
                    host_paid[h] += per * cost[i] * host_w[g][h] * f[h] * scale
                    host_cost[h] += per * cost[i] * host_w[g][h] * st.host_cost_factor[h] * scale
        serving[i] = sold_own * cost[i] * scale
        users = 0.0
        for g in range(n_g):
            for k in range(n_k):
                if not st.seg_local[k]:
                    users += tokens[g][k][i]
        lab.revenue = revenue[i]
        lab.users = users
        lab.serving_cost = serving[i]
    host_revenue = [(1.0 - lam) * x for x in host_paid]
    run.group_demand = demand
    run.brand = brand
    run.price_index0 = [index0[g][k] for g in range(n_g) for k in range(n_k)]
    run.group_best0 = [best0[g][k] for g in range(n_g) for k in range(n_k)]
    run.host_revenue = host_revenue
    run.host_tokens = host_tokens
    by_segment = [[sum(tokens[g][k][i] for g in range(n_g)) for i in range(n_l)]
                  for k in range(n_k)]
    run.flows.update(tokens=by_segment, spend=spend, revenue=revenue,
                     host_revenue=host_revenue, host_tokens=host_tokens,
                     host_margin=sum(host_revenue[h] - host_cost[h] for h in range(n_h)),
                     serving_cost=serving)


def _adoption(run: RefRun, world: World, st: _Static) -> None:
    p = world.params
    on = 1.0 if run.month >= world.rl_era_step else 0.0
    for i, lab in enumerate(run.labs):
        factor = p.open_flywheel_factor if st.lab_is_open[i] else 1.0
        gain = (p.flywheel_points_per_month * factor
                * math.log1p(lab.users / p.usage_scale_t_tokens))
        kept = p.flywheel_retention * lab.flywheel
        filled = -math.expm1(-gain * on / p.flywheel_max_points)
        lab.flywheel = (kept + (p.flywheel_max_points - kept) * filled) * _b(lab.alive)


def _entry(run: RefRun, world: World, st: _Static, d: dict[str, Any]) -> None:
    p = world.params
    labs = run.labs
    revenue = sum(lab.revenue for i, lab in enumerate(labs) if not st.lab_is_open[i])
    old = run.closed_revenue_trailing
    trailing = old + (revenue - old) / p.entry_revenue_window_months if old > 0 else revenue
    run.closed_revenue_trailing = trailing
    success = revenue / trailing if trailing > 0 else 1.0
    best = {}
    for kind in (False, True):
        algos = [lab.algo for i, lab in enumerate(labs) if lab.alive and st.lab_is_open[i] == kind]
        best[kind] = max(algos) if algos else None
    entries, seed = [False] * len(labs), [0.0] * len(labs)
    for i, lab in enumerate(labs):
        if not st.lab_entrant[i] or lab.entered:
            continue
        reg = run.regions[st.lab_region[i]]
        sentiment = math.exp(reg.log_sentiment + reg.shock_log)
        rate = p.entry_rate_per_month * sentiment * success ** p.entry_success_elasticity
        if d["entry_u"][i] < -math.expm1(-rate):
            entries[i], seed[i] = True, st.seed_cash[i]
    for i, lab in enumerate(labs):
        if entries[i]:
            lab.alive, lab.entered = True, True
            lab.cash = lab.cash + seed[i]
            team = best[st.lab_is_open[i]]
            if team is not None:
                lab.algo = team
            lab.months_since_release = 0.0
    run.flows.update(entries=entries, seed_capital=seed)


# --------------------------------------------------------------------------- driver


def _run_draws(draws: MonthDraws, r: int) -> dict[str, Any]:
    """Run ``r``'s slice of a month's draws as Python floats."""
    return {
        "shock_u": float(draws.shock_u[r]),
        "sentiment_z": draws.sentiment_z[r].tolist(),
        "raise_u": draws.raise_u[r].tolist(),
        "acquire_u": draws.acquire_u[r].tolist(),
        "release_u": draws.release_u[r].tolist(),
        "release_z": draws.release_z[r].tolist(),
        "choice_u": draws.choice_u[r].tolist(),
        "decision_u": draws.decision_u[r].tolist(),
        "funding_shock_u": draws.funding_shock_u[r].tolist(),
        "entry_u": draws.entry_u[r].tolist(),
    }


def reference_step(world: World, run: RefRun, draws: MonthDraws, r: int) -> RefRun:
    """Run ``r`` one month on, agent by agent. ``run`` is not modified; the returned run's
    ``flows`` holds the month's flows (per-lab lists)."""
    st = _static(world)
    d = _run_draws(draws, r)
    nxt = run.copy()
    _policy(nxt, world, st, d)
    _funding(nxt, world, st, d)
    _compute(nxt, world, st)
    _research(nxt, world, st, d)
    _market(nxt, world, st, d)
    _adoption(nxt, world, st)
    _entry(nxt, world, st, d)
    nxt.month = run.month + 1
    return nxt


@dataclass
class RefSimulation:
    """Final per-run states of :func:`reference_simulate` and a few totals."""

    world: World
    finals: list[RefRun]
    n_exits: int = 0
    n_acquisitions: int = 0
    n_releases: int = 0

    @property
    def n_agent_steps(self) -> int:
        return (len(self.finals) * self.world.params.n_months
                * self.world.population.n_agents)


def reference_simulate(scenario: Scenario, n_runs: int, seed: int, seeds: Seeds | None = None,
                       first_run: int = 0) -> RefSimulation:
    """Simulate runs ``first_run ..`` one at a time and month by month with the reference
    rules and the engine's random streams (so run ``r`` matches ``sim.core.engine.simulate``)."""
    seeds = seeds or load_seeds()
    world = build_world(scenario, seeds)
    pop = world.population
    start = initial_state(world, seeds, 1)
    out = RefSimulation(world=world, finals=[])
    for r in range(first_run, first_run + n_runs):
        streams = RandomStreams.for_population(seed, [r], pop)
        run = RefRun.from_state(start, 0)
        for t in range(world.params.n_months):
            run = reference_step(world, run, streams.month(t), 0)
            out.n_exits += sum(run.flows["exits"])
            out.n_acquisitions += sum(run.flows["acquired"])
            out.n_releases += sum(run.flows["releases"])
        out.finals.append(run)
    return out
