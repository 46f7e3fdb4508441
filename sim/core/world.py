"""The simulated world: static population, parameters and the mutable state arrays.

* :class:`Population` holds what every run shares: who the agents are (labs, sovereigns,
  buyers) and their fixed attributes from ``seeds/``.
* :class:`Params` (:mod:`sim.core.params`, derived from the scenario schema) holds the
  scenario's parameters converted to per-month model units.
* :class:`WorldState` holds everything that changes, as arrays shaped ``(runs, agents)``.

State lives only here; mechanisms are pure functions that read it and return new arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields, replace

import numpy as np

from sim.calendar import parse_month
from sim.core.arrays import best_of_others
from sim.core.events import EVENT_TYPES, Compiler, ScheduledEvent
from sim.core.params import USD_PER_BN, Params  # noqa: F401  (re-exported: the world's types)
from sim.inputs.scenario import Scenario
from sim.inputs.seeds import LabSeeds, SeedError, Seeds
from sim.vocab import CAMPS, JURISDICTIONS, LOCAL_AGENTS, POLICIES


@dataclass(frozen=True)
class Population:
    """Agents and their fixed attributes. L labs, S sovereigns, B buyers, G jurisdictions,
    K segments. Lab indices are shared by every ``(runs, L)`` array."""

    lab_ids: list[str]
    lab_names: list[str]
    lab_camp: np.ndarray  # (L,) index into CAMPS
    lab_region: np.ndarray  # (L,) index into JURISDICTIONS
    lab_is_open: np.ndarray  # (L,) bool
    bench_focus: np.ndarray  # (L,) in [0, 1]
    same_region: np.ndarray  # (L, L) bool, lab i and j share a home region
    sovereign_ids: list[str]
    sov_jurisdiction: np.ndarray  # (S,)
    sov_stance: np.ndarray  # (S,) pressure added per unit safety shock
    sov_threshold: np.ndarray  # (S,) pressure above which the sovereign may enact policies
    sov_open_interest: np.ndarray  # (S,) weight of open models in its grant decisions, 0-1
    sov_budget_usd_bn: np.ndarray  # (S,) seeded grants to open labs per month
    sov_backing: np.ndarray  # (S, L) bool
    sov_export_target: np.ndarray  # (S,) region its export tightening targets, -1 for none
    sov_can_enact: np.ndarray  # (S, 3) bool, POLICIES it may enact: a crackdown needs closed
    #                            labs at home, export tightening an export-control target
    sov_export_onehot: np.ndarray  # (S, G) float, 1 where G is the sovereign's target
    foreign_closed_lab: np.ndarray  # (G, L) bool, lab is closed and based outside g
    dependency_counted: np.ndarray  # (2, G, L) bool, foreign_closed_lab and all labs: the
    #                                 tokens counted for foreign-closed dependency
    lab_sovereign: np.ndarray  # (L,) index of the lab's home sovereign (-1 if none)
    lab_has_sovereign: np.ndarray  # (L,) bool, lab_sovereign >= 0
    lab_sovereign_column: np.ndarray  # (L,) lab_sovereign with 0 for none: gathers a (R, S)
    #                                   array per lab, masked with lab_has_sovereign
    segments: list[str]
    seg_tokens0_t: np.ndarray  # (K,) trillion tokens / month at the start
    seg_growth: np.ndarray  # (K,) fractional growth per month
    seg_w_bench: np.ndarray  # (K,) utility per bench ECI point
    seg_w_robust: np.ndarray  # (K,) utility per robustness ECI point
    seg_alpha: np.ndarray  # (K,) utility per unit log(USD/Mtok)
    seg_open_pref: np.ndarray  # (K,) utility bonus for open weights
    seg_switch_cost: np.ndarray  # (K,) utility bonus for staying with the current model
    seg_open_only: np.ndarray  # (K,) bool
    jur_domestic_pref: np.ndarray  # (G,)
    jur_blocks_closed: np.ndarray  # (G, G) bool [buyer jurisdiction, lab region]
    buyer_segment: np.ndarray  # (B,)
    buyer_jurisdiction: np.ndarray  # (B,)
    buyer_demand_weight: np.ndarray  # (B,) share of its segment's tokens; sums to 1 per segment
    buyer_group: np.ndarray  # (B,) buyer_jurisdiction * K + buyer_segment: its utility group
    buyer_switch_gain: np.ndarray  # (B,) e^s - 1 for its segment's switching cost s
    group_tokens0: np.ndarray  # (G * K,) seeded tokens of each buyer group's buyers
    base_available: np.ndarray  # (G, K, L) bool, before bans and exits
    open_bonus: np.ndarray  # (K, L) utility bonus of open weights, seg_open_pref x lab_is_open
    domestic_finite: np.ndarray  # (G, K, L) jur_domestic_pref where the lab is based in g
    history: object  # seeds.EciHistory, for lags measured against the pre-start record
    parent0_usd_bn: np.ndarray  # (L,) corporate parent's budget at the start, USD bn/month
    distill_blocked: np.ndarray  # (L, L) bool [student, teacher]: the student's home market
    #                              blocks the teacher's closed API (outputs only via leaks)
    lab_entrant: np.ndarray  # (L,) bool: an entrant slot, out of the world until it enters
    lab_seed_cash: np.ndarray  # (L,) USD bn an entrant brings when it enters (0 for others)
    lab_valuation_multiple: np.ndarray  # (L,) x, the regional valuation multiple of its home
    lab_first_party: np.ndarray  # (L,) bool: sells its model through its own API
    seg_cap_elasticity: np.ndarray  # (K,) demand per ECI point of the frontier (log)
    seg_price_elasticity: np.ndarray  # (K,) demand elasticity to the price of capability
    seg_local: np.ndarray  # (K,) bool: the local_agents segment (weights run on own hardware)
    host_ids: list[str]
    host_names: list[str]
    host_region: np.ndarray  # (H,) index into JURISDICTIONS
    host_markets: np.ndarray  # (H, G) bool: the jurisdictions a host sells in
    host_cost_factor: np.ndarray  # (H,) its serving cost per token over the lab's
    host_margin: np.ndarray  # (H,) its price over its serving cost, minus 1
    own_endpoint: np.ndarray  # (G, L) bool: the lab's own API sells in jurisdiction g

    @property
    def n_labs(self) -> int:
        return len(self.lab_ids)

    @property
    def n_sovereigns(self) -> int:
        return len(self.sovereign_ids)

    @property
    def n_buyers(self) -> int:
        return len(self.buyer_segment)

    @property
    def n_hosts(self) -> int:
        return len(self.host_ids)

    @property
    def n_agents(self) -> int:
        return self.n_labs + self.n_sovereigns + self.n_buyers + self.n_hosts

    @property
    def buyer_tokens0(self) -> np.ndarray:
        """(B,) trillion tokens / month each buyer used at the start:
        ``seg_tokens0_t[buyer_segment] * buyer_demand_weight`` (worked out from them each
        time, so a population with other segment volumes never carries stale ones)."""
        return self.seg_tokens0_t[self.buyer_segment] * self.buyer_demand_weight

    def camp_mask(self, camp: str) -> np.ndarray:
        """(L,) bool: labs in an output camp (``open`` = any open-weight camp)."""
        if camp == "open":
            return self.lab_is_open.copy()
        return self.lab_camp == CAMPS.index(camp)


@dataclass(frozen=True)
class ScheduledPolicy:
    """The policy set by scheduled scenario events, per step (identical in every run).

    ``ban_threshold`` (T, S) FLOP (inf = none), ``ban_leakage`` (T, S), ``enforcement``
    (T, S) distillation efficiency kept (1 = no crackdown), ``export_multiplier`` (T, G)
    compute price multiplier and ``export_cap`` (T, G) H100e per lab and month (inf = none).
    Endogenous decisions tighten these (``sim.core.mechanisms.policy.effective_policy``).
    """

    ban_threshold: np.ndarray
    ban_leakage: np.ndarray
    enforcement: np.ndarray
    export_multiplier: np.ndarray
    export_cap: np.ndarray


@dataclass(frozen=True)
class GrantLines:
    """Budget lines of sovereign grants to open labs; each is split equally over the alive
    labs it backs. Line ``n`` belongs to sovereign ``sovereign[n]``, pays ``usd_bn[n]`` a
    month from step ``start[n]`` on, backs ``backing[n]`` (L,) and, if ``responsive[n]``
    (the seeded budgets), is scaled by ``grant_scale x (1 + demand)`` of its sovereign."""

    sovereign: np.ndarray
    usd_bn: np.ndarray
    start: np.ndarray
    backing: np.ndarray
    responsive: np.ndarray
    #: Derived, built once: ``backing`` as 0/1 floats (N, L), the one-hot of each line's
    #: sovereign (N, S) and the latest start step.
    backing_float: np.ndarray
    owner_onehot: np.ndarray
    last_start: int


@dataclass
class WorldState:
    """Everything that changes during a run, shaped ``(runs, ...)``.

    Labs ``(R, L)``: alive flag, cash (USD bn), last month's revenue (USD bn), owned compute
    stock (H100e), algorithmic efficiency ``algo`` (log10 FLOP-equivalents), FLOP the run in
    progress has accumulated, released bench / robustness score (ECI points), the released
    model's training FLOP, months since its release, RL flywheel stock (ECI points), users
    (trillion tokens served last month), last month's compute-contract payment (USD bn), last
    month's net operating inflow ``net_inflow`` (revenue + grants + parent - opex, USD bn),
    funding outlook ``funding_outlook`` (1 = neutral odds of raising; mechanism 2) and
    ``serving_cost``, what it paid last month to serve its own API's tokens (USD bn).
    The run in progress: ``run_months_left`` (months until it ends and releases; 0 = no run)
    and its compute contract ``contract_h100e`` (H100e) at ``contract_price`` (USD bn per
    H100e-month, locked at signing), and ``rl_flop``, the RL FLOP its post-training phase has
    accumulated. The next run's signed contract: ``next_h100e``,
    ``next_price`` and ``next_lead`` (months until it comes online; -1 = none signed).
    ``entered`` (R, L): the lab is in the world (seeded labs from the start, entrant slots
    from their entry on; an exited lab stays entered). ``closed_revenue_trailing`` (R,):
    trailing mean of closed labs' monthly revenue (USD bn), 0 until the first month sets it.
    Sovereigns ``(R, S)``: regulatory pressure, and the policy in force: ban threshold (FLOP;
    inf = no ban), ban leakage, distillation enforcement (1 = no crackdown);
    ``policy_enacted`` ``(R, S, 3)`` flags the policies the sovereign enacted itself (order
    :data:`POLICIES`). Regions ``(R, G)``: export-control price multiplier and per-lab monthly
    cap (H100e), log investor sentiment and its shock part ``shock_log``, the sum over the
    region's funding-shock components ``shock_components`` ``(R, H)``. Buyers ``(R, B)``:
    index of the chosen lab, -1 for none. Buyer groups ``(R, G * K)``: ``group_demand``, last
    month's demand of each (jurisdiction, segment) group over its seeded level, and
    ``price_index0``, the price of the frontier's capability in each group at the start
    (USD/Mtok; recorded by the first month's market, mechanism 5, and constant after), and
    ``group_best0``, the best score on offer to each group then (ECI points; likewise). Labs
    ``brand`` (R, L): each lab's utility term for what benchmarks, robustness and price do not
    say (brand, distribution), calibrated by the first month's market on the seeded revenue
    and constant after (0 before). Hosts ``(R, H)``: last month's ``host_revenue`` (USD
    bn) and ``host_tokens`` (trillion tokens). ``leader_algo`` ``(R, lag + 1)`` is a ring buffer of
    the best closed ``algo`` over the last ``fast_follow_lag_months + 1`` months (slot
    ``t % (lag + 1)`` written at step ``t``).
    """

    month: int
    alive: np.ndarray
    cash: np.ndarray
    revenue: np.ndarray
    compute: np.ndarray
    algo: np.ndarray
    run_flop: np.ndarray
    bench: np.ndarray
    robust: np.ndarray
    released_flop: np.ndarray
    months_since_release: np.ndarray
    flywheel: np.ndarray
    users: np.ndarray
    compute_spend: np.ndarray
    net_inflow: np.ndarray
    funding_outlook: np.ndarray
    serving_cost: np.ndarray
    run_months_left: np.ndarray
    contract_h100e: np.ndarray
    contract_price: np.ndarray
    next_h100e: np.ndarray
    next_price: np.ndarray
    next_lead: np.ndarray
    rl_flop: np.ndarray
    entered: np.ndarray
    closed_revenue_trailing: np.ndarray
    pressure: np.ndarray
    ban_threshold: np.ndarray
    ban_leakage: np.ndarray
    distill_enforcement: np.ndarray
    export_multiplier: np.ndarray
    export_cap: np.ndarray
    log_sentiment: np.ndarray
    shock_log: np.ndarray
    shock_components: np.ndarray
    policy_enacted: np.ndarray
    choice: np.ndarray
    group_demand: np.ndarray
    price_index0: np.ndarray
    group_best0: np.ndarray
    brand: np.ndarray
    host_revenue: np.ndarray
    host_tokens: np.ndarray
    leader_algo: np.ndarray = field(repr=False)

    @property
    def n_runs(self) -> int:
        return self.cash.shape[0]

    def copy(self) -> WorldState:
        return WorldState(**{
            f.name: (getattr(self, f.name).copy()
                     if isinstance(getattr(self, f.name), np.ndarray) else getattr(self, f.name))
            for f in fields(self)
        })

    def select(self, runs: slice | np.ndarray) -> WorldState:
        """The state of a subset of runs (used to check batches against single runs)."""
        out = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, np.ndarray):
                out[f.name] = value[runs].copy()
            else:
                out[f.name] = value
        return WorldState(**out)


@dataclass(frozen=True)
class World:
    """Everything needed to simulate a scenario: population, parameters, schedule, state."""

    population: Population
    params: Params
    schedule: tuple[ScheduledEvent, ...]
    initial_anchor: float  # ECI points of effective compute 0: base = anchor + b * E
    scheduled_policy: ScheduledPolicy
    grant_lines: GrantLines
    #: Funding-shock components (H,): the first G are each region's random shocks, then one
    #: per distinct (region, half-life) of the scheduled shocks, so that every shock keeps
    #: its own recovery half-life.
    shock_region: np.ndarray
    shock_retention: np.ndarray
    #: (H, G) float one-hot of ``shock_region``: sums the components into regions.
    shock_region_onehot: np.ndarray
    #: (T, L) USD bn a month each lab's corporate parent pays it at each step: the seeded
    #: budget x (1 + growth) ** (t / 12) x the scheduled ``parent_budget`` multiplier.
    parent_budget: np.ndarray
    #: Step of the first month of the RL era (negative if it began before the start).
    rl_era_step: int
    #: (T, L) multiplier on the success probability of each lab's rounds at each step (1
    #: unless an ``investor_access`` event sets it).
    investor_access: np.ndarray
    #: (L,) USD per million tokens it costs to serve each lab's model at the start, and (L,)
    #: its seeded score's distance to the seeded frontier (ECI points) (mechanism 5,
    #: :func:`seeded_serving_costs`).
    serving_cost0: np.ndarray
    frontier_gap0: np.ndarray
    #: (L,) the seeded world before the first month: released bench and robustness scores
    #: (ECI points), released model's FLOP (0 for entrants) and alive flags; the initial
    #: state and the first month's brand calibration (mechanism 5) both read them
    #: (``start_robust`` is (R, L) in a world of stacked parameter sets).
    start_bench: np.ndarray
    start_robust: np.ndarray
    start_released_flop: np.ndarray
    start_alive: np.ndarray

    def events_at(self, month: int) -> list[ScheduledEvent]:
        """The scheduled events of step ``month``, in schedule order."""
        return [ev for ev in self.schedule if ev.month == month]


def _allocate_buyers(n_per_segment: int, demand_share: np.ndarray, n_segments: int):
    """Split ``n_per_segment`` buyers of each segment over jurisdictions by demand share
    (largest remainder, at least one buyer per jurisdiction when there are enough)."""
    n_j = len(demand_share)
    raw = demand_share * n_per_segment
    counts = np.floor(raw).astype(int)
    if n_per_segment >= n_j:
        counts = np.maximum(counts, 1)
    while counts.sum() > n_per_segment:
        counts[np.argmax(counts)] -= 1
    order = np.argsort(-(raw - np.floor(raw)), kind="stable")
    i = 0
    while counts.sum() < n_per_segment:
        counts[order[i % n_j]] += 1
        i += 1
    share = np.where(counts > 0, demand_share, 0.0)
    share = share / share.sum()
    # Each segment lists its buyers jurisdiction by jurisdiction; a buyer carries an equal
    # slice of its jurisdiction's share.
    per_buyer = np.divide(share, counts, out=np.zeros(n_j), where=counts > 0)
    jur = np.tile(np.repeat(np.arange(n_j), counts), n_segments)
    seg = np.repeat(np.arange(n_segments), counts.sum())
    return seg, jur, per_buyer[jur]


def build_population(seeds: Seeds, scenario: Scenario) -> Population:
    labs, sov, segs, jur = seeds.labs, seeds.sovereigns, seeds.segments, seeds.jurisdictions
    is_open = labs.camp != CAMPS.index("closed")
    seg, buyer_jur, weight = _allocate_buyers(
        scenario.population.buyers_per_segment, jur.demand_share, len(segs.segment)
    )
    # Closed APIs blocked in some markets; local agents run open weights only.
    closed_blocked = jur.blocks_closed[:, labs.region] & ~is_open[None, :]  # (G, L)
    available = ~closed_blocked[:, None, :] & ~(segs.open_only[None, :, None] & ~is_open)
    # Each jurisdiction has at most one sovereign: policy arrays are indexed by sovereign and
    # read per jurisdiction, so a second one would silently shadow the first.
    codes = [JURISDICTIONS[g] for g in sov.jurisdiction]
    doubled = sorted({c for c in codes if codes.count(c) > 1})
    if doubled:
        raise SeedError(f"sovereigns.csv: jurisdiction {doubled[0]} has more than one "
                         "sovereign; allowed: at most one per jurisdiction")
    lab_sovereign = np.full(len(labs.lab_id), -1)
    for s, g in enumerate(sov.jurisdiction):
        lab_sovereign[labs.region == g] = s
    # The scenario sets the local-agents growth rate (the hidden market's size is a question
    # the scenarios ask); the other segments grow at their seeded rates.
    if LOCAL_AGENTS not in segs.segment:
        raise SeedError(f"segments.csv: no '{LOCAL_AGENTS}' segment; the scenario sets its growth")
    seg_growth = segs.growth_per_month.copy()
    seg_growth[segs.segment.index(LOCAL_AGENTS)] = scenario.market.local_agents_growth_per_month
    n_g = len(JURISDICTIONS)
    sov_can_enact = np.ones((len(sov.sovereign_id), len(POLICIES)), dtype=bool)
    # A crackdown lowers distillation from the sovereign's own closed labs.
    sov_can_enact[:, POLICIES.index("distillation_crackdown")] = np.isin(
        np.arange(len(sov.sovereign_id)), lab_sovereign[~is_open])
    sov_can_enact[:, POLICIES.index("export_tightening")] = sov.export_target >= 0
    foreign_closed = ~is_open[None, :] & (labs.region[None, :] != np.arange(n_g)[:, None])
    return Population(
        lab_ids=labs.lab_id,
        lab_names=labs.name,
        lab_camp=labs.camp,
        lab_region=labs.region,
        lab_is_open=is_open,
        bench_focus=labs.bench_focus,
        same_region=labs.region[:, None] == labs.region[None, :],
        sovereign_ids=sov.sovereign_id,
        sov_jurisdiction=sov.jurisdiction,
        sov_stance=sov.stance_safety,
        sov_threshold=sov.pressure_threshold,
        sov_open_interest=sov.open_interest,
        sov_budget_usd_bn=sov.open_budget_usd_bn_per_month,
        sov_backing=sov.backing,
        sov_export_target=sov.export_target,
        sov_can_enact=sov_can_enact,
        sov_export_onehot=(sov.export_target[:, None] == np.arange(n_g)[None, :]).astype(float),
        foreign_closed_lab=foreign_closed,
        dependency_counted=np.stack([foreign_closed, np.ones_like(foreign_closed)]),
        lab_sovereign=lab_sovereign,
        lab_has_sovereign=lab_sovereign >= 0,
        lab_sovereign_column=np.maximum(lab_sovereign, 0),
        segments=segs.segment,
        seg_tokens0_t=segs.tokens_t_per_month,
        seg_growth=seg_growth,
        seg_w_bench=segs.w_bench,
        seg_w_robust=segs.w_robust,
        seg_alpha=segs.price_alpha,
        seg_open_pref=segs.open_pref,
        seg_switch_cost=segs.switch_cost,
        seg_open_only=segs.open_only,
        jur_domestic_pref=jur.domestic_pref,
        jur_blocks_closed=jur.blocks_closed,
        buyer_segment=seg,
        buyer_jurisdiction=buyer_jur,
        buyer_demand_weight=weight,
        buyer_group=buyer_jur * len(segs.segment) + seg,
        buyer_switch_gain=np.expm1(segs.switch_cost)[seg],
        group_tokens0=np.bincount(buyer_jur * len(segs.segment) + seg,
                                  weights=segs.tokens_t_per_month[seg] * weight,
                                  minlength=len(JURISDICTIONS) * len(segs.segment)),
        base_available=available,
        open_bonus=segs.open_pref[:, None] * is_open[None, :],
        domestic_finite=np.broadcast_to(
            jur.domestic_pref[:, None, None]
            * (labs.region[None, None, :] == np.arange(n_g)[:, None, None]),
            available.shape).copy(),
        history=seeds.history,
        parent0_usd_bn=labs.parent_usd_bn_per_month,
        distill_blocked=jur.blocks_closed[labs.region[:, None], labs.region[None, :]],
        lab_entrant=labs.entrant,
        lab_seed_cash=np.where(labs.entrant, labs.cash_usd_bn, 0.0),
        lab_valuation_multiple=jur.valuation_multiple[labs.region],
        lab_first_party=labs.first_party_api,
        seg_cap_elasticity=segs.capability_elasticity,
        seg_price_elasticity=segs.price_elasticity,
        seg_local=np.array([s == LOCAL_AGENTS for s in segs.segment]),
        host_ids=seeds.hosts.host_id,
        host_names=seeds.hosts.name,
        host_region=seeds.hosts.region,
        host_markets=seeds.hosts.markets,
        host_cost_factor=seeds.hosts.cost_factor,
        host_margin=seeds.hosts.margin,
        # A lab's own API sells wherever its model is available (closed APIs are blocked
        # where the market blocks them, base_available); an open lab without one has none.
        own_endpoint=~closed_blocked & labs.first_party_api[None, :],
    )


def compile_schedule(scenario: Scenario, population: Population) -> tuple[ScheduledEvent, ...]:
    """Scenario events as typed, index-based records (:mod:`sim.core.events`) sorted by
    month (stable in file order)."""
    start = parse_month(scenario.time.start)
    index = Compiler(scenario.name,
                     {JURISDICTIONS[g]: s for s, g in enumerate(population.sov_jurisdiction)},
                     {lab: i for i, lab in enumerate(population.lab_ids)})
    out = []
    for i, ev in enumerate(scenario.events):
        index.position = i
        out.append(EVENT_TYPES[ev.kind].compile(ev, parse_month(ev.month) - start, index))
    return tuple(sorted(out, key=lambda e: e.month))


def scheduled_policy(schedule: tuple[ScheduledEvent, ...], n_sovereigns: int,
                     n_months: int) -> ScheduledPolicy:
    """The scheduled bans, crackdowns and export controls in force each month: each event
    sets its value from its month on (:meth:`ScheduledEvent.set_policy`), and a later event
    for the same sovereign (or target region) replaces the earlier one. ``schedule`` is
    sorted by month, as :func:`compile_schedule` returns it."""
    n_g = len(JURISDICTIONS)
    policy = ScheduledPolicy(ban_threshold=np.full((n_months, n_sovereigns), np.inf),
                             ban_leakage=np.ones((n_months, n_sovereigns)),
                             enforcement=np.ones((n_months, n_sovereigns)),
                             export_multiplier=np.ones((n_months, n_g)),
                             export_cap=np.full((n_months, n_g), np.inf))
    for ev in schedule:  # in month order, file order within a month: the later one stays
        if 0 <= ev.month < n_months:
            ev.set_policy(policy)
    return policy


def grant_lines(schedule: tuple[ScheduledEvent, ...], population: Population) -> GrantLines:
    """One responsive line per sovereign (its seeded budget and backed labs) plus one fixed
    line per event that opens one (:meth:`ScheduledEvent.grant_line`: open programmes)."""
    pop = population
    sov = list(range(pop.n_sovereigns))
    usd = list(pop.sov_budget_usd_bn)
    start = [0] * pop.n_sovereigns
    backing = [pop.sov_backing[s] for s in sov]
    responsive = [True] * pop.n_sovereigns
    for ev in schedule:
        line = ev.grant_line(pop)
        if line is None:
            continue
        sovereign, usd_bn, backs = line
        sov.append(sovereign)
        usd.append(usd_bn)
        start.append(ev.month)
        backing.append(backs)
        responsive.append(False)
    owner = np.array(sov, dtype=np.int64)
    backs = np.array(backing, dtype=bool).reshape(len(sov), pop.n_labs)
    return GrantLines(sovereign=owner, usd_bn=np.array(usd, dtype=float),
                      start=np.array(start, dtype=np.int64), backing=backs,
                      responsive=np.array(responsive, dtype=bool),
                      backing_float=backs.astype(float),
                      owner_onehot=(owner[:, None]
                                    == np.arange(pop.n_sovereigns)[None, :]).astype(float),
                      last_start=max(start, default=0))


def shock_components(schedule: tuple[ScheduledEvent, ...],
                     p: Params) -> tuple[np.ndarray, np.ndarray]:
    """(region, monthly retention ``0.5 ** (1 / half_life)``) of every funding-shock
    component (see :class:`World`; :meth:`ScheduledEvent.shock_component`)."""
    n_g = len(JURISDICTIONS)
    shocks = [c for c in (ev.shock_component() for ev in schedule) if c is not None]
    n_h = max([n_g - 1, *(component for component, _, _ in shocks)]) + 1
    region = np.concatenate([np.arange(n_g), np.zeros(n_h - n_g, dtype=np.int64)])
    retention = np.full(n_h, p.random_shock_retention)
    for component, shock_region, half_life_months in shocks:
        region[component] = shock_region
        retention[component] = 0.5 ** (1.0 / half_life_months)
    return region.astype(np.int64), retention


def parent_budget_path(pop: Population, schedule: tuple[ScheduledEvent, ...],
                       p: Params) -> np.ndarray:
    """(T, L) USD bn a month each lab's corporate parent pays it:
    ``parent0 * (1 + parent_budget_growth_per_year) ** (t / 12) * multiplier[t]``, the
    multiplier set by ``parent_budget`` events from their month on (1 otherwise)."""
    multiplier = np.ones((p.n_months, pop.n_labs))
    for ev in schedule:  # in month order: a later event for the same lab replaces it
        if 0 <= ev.month < p.n_months:
            ev.set_parent_budget(multiplier)
    growth = (1.0 + p.parent_budget_growth_per_year) ** (np.arange(p.n_months) / 12.0)
    return pop.parent0_usd_bn[None, :] * growth[:, None] * multiplier


def investor_access_path(pop: Population, schedule: tuple[ScheduledEvent, ...],
                         p: Params) -> np.ndarray:
    """(T, L) multiplier on each lab's odds of raising, set by ``investor_access`` events
    from their month on (1 otherwise)."""
    multiplier = np.ones((p.n_months, pop.n_labs))
    for ev in schedule:  # in month order: a later event for the same lab replaces it
        if 0 <= ev.month < p.n_months:
            ev.set_investor_access(multiplier)
    return multiplier


def rl_use_share(step: int | np.ndarray, rl_era_step: int, p: Params) -> np.ndarray:
    """Share of the post-training phase's compute spent on RL at ``step``:
    ``u(t) = min(1, u0 * 10 ** (max(t - t_rl, 0) / m10))`` with ``u0`` the RLHF-era share
    (``rl_use_before_era``) and ``m10`` the months of a tenfold rise (``rl_tenfold_months``:
    o1 -> o3 took ~10x the RL compute in ~4 months, Epoch)."""
    months = np.maximum(np.asarray(step, dtype=float) - rl_era_step, 0.0)
    # As 10 ** min(log10 u0 + months / m10, 0): the same number without overflow.
    return 10.0 ** np.minimum(np.log10(p.rl_use_before_era) + months / p.rl_tenfold_months,
                              0.0)


def rl_gain_points(ratio: np.ndarray, p: Params) -> np.ndarray:
    """ECI points of RL post-training for a run whose effective RL compute is ``ratio``
    times that of a pre-RL-era run of the same pre-training FLOP:
    ``M * (1 - exp(-b * max(log10 ratio, 0) / M))`` (``b = rl_points_per_decade``,
    ``M = rl_max_points``)."""
    x = p.rl_points_per_decade * np.log10(np.maximum(ratio, 1.0))
    with np.errstate(over="ignore"):  # a huge gain over a tiny ceiling fills it: -inf -> M
        return p.rl_max_points * -np.expm1(-x / p.rl_max_points)


def seeded_rl_gain(release_step: np.ndarray, rl_era_step: int, p: Params) -> np.ndarray:
    """(L,) RL gain each seeded model carries: a run released at ``release_step`` on
    constant compute with no flywheel has ``ratio = u(release) / u0``
    (:func:`rl_use_share`, :func:`rl_gain_points`)."""
    return rl_gain_points(rl_use_share(release_step, rl_era_step, p) / p.rl_use_before_era, p)


def distill_access(pop: Population, p: Params) -> np.ndarray:
    """(L, L) [student, teacher] share of distillation efficiency the student keeps from the
    teacher: 1 where its home market reaches the teacher's API, ``distill_blocked_access``
    where it is blocked (leaked outputs, proxies)."""
    return np.where(pop.distill_blocked, p.distill_blocked_access, 1.0)


def _seeded_base(eci: np.ndarray, pop: Population, p: Params) -> np.ndarray:
    """Underlying capability of each seeded model: its ECI minus the benchmark-focus premium
    and, for open labs, minus the distillation gain the release rule would have added
    (``bench = base + focus k + delta * a * (T - base)`` for the best accessible closed
    teacher ``T``, solved for ``base``), so that the first simulated releases continue the
    seeded scores instead of jumping."""
    plain = eci - pop.bench_focus * p.bench_focus_points
    access = distill_access(pop, p)
    teachers = ~pop.lab_is_open
    # The teacher that gives the largest gain at the plain estimate, then the exact solution.
    gap = np.where(teachers[None, :], access * (eci[None, :] - plain[:, None]), -np.inf)
    best = np.argmax(gap, axis=1)
    a, top = access[np.arange(len(eci)), best], eci[best]
    share = p.distill_efficiency * a
    solved = (plain - share * top) / np.maximum(1.0 - share, 1e-12)
    distilled = pop.lab_is_open & (gap.max(axis=1) > 0) & (share < 1.0) & (solved < top)
    return np.where(distilled, solved, plain)


def seeded_anchor(labs: LabSeeds, population: Population, params: Params,
                  rl_era: int) -> float:
    """ECI points of effective compute 0 (``World.initial_anchor``). Capability is anchored on
    the best closed lab: ``base = anchor + b * (log10 FLOP + algo)`` with algo = 0 reproduces
    its seeded score from the FLOP of its run in progress (``b = eci_per_log10_flop``)."""
    base = (_seeded_base(labs.eci, population, params)
            - seeded_rl_gain(labs.release_month - params.start_month, rl_era, params))
    ref = int(np.argmax(np.where(population.lab_is_open | population.lab_entrant, -np.inf,
                                 labs.eci)))
    full_run = _full_run_flop(labs.compute_h100e, params)
    return float(base[ref] - params.eci_per_log10_flop * math.log10(full_run[ref]))


def seeded_robust(labs: LabSeeds, population: Population, params: Params) -> np.ndarray:
    """(L,) robustness score of each seeded model (ECI points, ``World.start_robust``): its
    underlying capability minus ``bench_focus * robust_cost_points``."""
    return (_seeded_base(labs.eci, population, params)
            - labs.bench_focus * params.robust_cost_points)


def with_params(world: World, seeds: Seeds, params: Params) -> World:
    """``world`` with other values of its batchable parameters (:data:`sim.core.stacking.
    BATCHABLE`): ``params`` and the anchor and seeded robustness they set, as
    :func:`build_world` would build them."""
    return replace(world, params=params,
                   initial_anchor=seeded_anchor(seeds.labs, world.population, params,
                                                world.rl_era_step),
                   start_robust=seeded_robust(seeds.labs, world.population, params))


def build_world(scenario: Scenario, seeds: Seeds) -> World:
    population = build_population(seeds, scenario)
    params = Params.from_scenario(scenario)
    labs = seeds.labs
    rl_era = parse_month(params.rl_era_start) - parse_month(scenario.time.start)
    anchor = seeded_anchor(labs, population, params, rl_era)
    schedule = compile_schedule(scenario, population)
    region, retention = shock_components(schedule, params)
    cost0, gap0 = seeded_serving_costs(labs, population, params)
    entrant = population.lab_entrant
    return World(population, params, schedule, anchor,
                 scheduled_policy(schedule, population.n_sovereigns, params.n_months),
                 grant_lines(schedule, population), region, retention,
                 (region[:, None] == np.arange(len(JURISDICTIONS))[None, :]).astype(float),
                 parent_budget_path(population, schedule, params), rl_era,
                 investor_access_path(population, schedule, params), cost0, gap0,
                 start_bench=labs.eci.astype(float),
                 start_robust=seeded_robust(labs, population, params),
                 start_released_flop=np.where(entrant, 0.0, labs.training_flop),
                 start_alive=~entrant)


def own_api_markups(bench: np.ndarray, offered: np.ndarray, p: Params) -> np.ndarray:
    """(..., L) each lab's own-API markup, its price over its serving cost minus 1
    (mechanism 5): ``closed_markup * exp(-max(0, R - Q) / markup_competition_points)`` with
    ``Q`` its score ``bench`` and ``R`` the best score of the *other* labs whose model is
    ``offered``. The market applies it every month, the seeded world at the start."""
    rival = best_of_others(np.where(offered, bench, -np.inf))
    return p.closed_markup * np.exp(-np.maximum(rival - bench, 0.0)
                                    / p.markup_competition_points)


def seeded_serving_costs(labs: LabSeeds, pop: Population,
                         p: Params) -> tuple[np.ndarray, np.ndarray]:
    """The serving cost at the start of each lab's model (USD/Mtok) and its seeded score's
    distance to the seeded frontier (ECI points), so that the first month's prices are the
    seeded list prices (mechanism 5).

    A lab that sells through its own API charges ``c0 (1 + m0)`` (:func:`own_api_markups`), so
    ``c0 = price / (1 + m0)``; an open model served only by hosts is seeded at the hosts'
    price, the ``price ** -beta``-weighted mean of their factors ``f_h = cost_factor * (1 +
    margin)``, so ``c0 = price / fbar``. An entrant slot has no model yet: it takes the
    geometric mean cost and gap of the seeded labs of its camp and region (of its camp if its
    region has none), i.e. it would sell at its peers' place on the cost-capability curve."""
    offered = ~labs.entrant & (labs.training_flop > 0)
    frontier0 = float(np.max(np.where(offered, labs.eci, -np.inf), initial=-np.inf))
    if not np.isfinite(frontier0):
        frontier0 = float(labs.eci.max())
    m0 = own_api_markups(labs.eci, offered, p)
    f = pop.host_cost_factor * (1.0 + pop.host_margin)
    sells = pop.host_markets.any(axis=1)
    w = f[sells] ** -p.host_price_sensitivity
    fbar = float((w * f[sells]).sum() / w.sum()) if sells.any() else 1.0
    cost0 = np.where(labs.first_party_api, labs.price_usd_per_mtok / (1.0 + m0),
                     labs.price_usd_per_mtok / fbar)
    gap0 = labs.eci - frontier0
    for i in np.flatnonzero(labs.entrant):
        peers = offered & (labs.camp == labs.camp[i])
        same = peers & (labs.region == labs.region[i])
        peers = same if same.any() else peers
        if peers.any():
            cost0[i] = float(np.exp(np.log(cost0[peers]).mean()))
            gap0[i] = float(gap0[peers].mean())
    return cost0, gap0


def _full_run_flop(compute_h100e: np.ndarray, p: Params) -> np.ndarray:
    """FLOP of a run on the lab's owned compute alone:
    ``training_share * compute * flop_per_h100e_month * pretrain_months``."""
    return compute_h100e * p.training_share * p.flop_per_h100e_month * p.pretrain_months


def run_in_progress(months_since_release: np.ndarray, compute_h100e: np.ndarray,
                    p: Params, rl_use: float | np.ndarray = 0.0,
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The run each lab has in progress at the start (prior rule, seeds/README.md): it began
    when the seeded model was released, on the lab's owned compute, and has run
    ``done = min(months since release, D - 1)`` of its ``D = pretrain + post_train`` months.
    Returns (months left ``D - done``, FLOP accumulated
    ``training_share * compute * flop_per_h100e_month * min(done, pretrain)``, RL FLOP
    accumulated ``rl_use * training_share * compute * flop_per_h100e_month *
    max(done - pretrain, 0)``)."""
    total = p.pretrain_months + p.post_train_months
    done = np.minimum(months_since_release, max(total - 1.0, 0.0))
    month_flop = p.training_share * compute_h100e * p.flop_per_h100e_month
    flop = month_flop * np.minimum(done, p.pretrain_months)
    rl = rl_use * month_flop * np.maximum(done - p.pretrain_months, 0.0)
    return np.maximum(total - done, 1.0), flop, rl


def initial_state(world: World, seeds: Seeds, n_runs: int) -> WorldState:
    """The seeded world at the start month, replicated over ``n_runs`` runs."""
    pop, p, labs = world.population, world.params, seeds.labs
    n_l, n_s, n_g = pop.n_labs, pop.n_sovereigns, len(JURISDICTIONS)
    n_groups = n_g * len(pop.segments)
    entrant = pop.lab_entrant
    rl0 = seeded_rl_gain(labs.release_month - p.start_month, world.rl_era_step, p)
    base = _seeded_base(labs.eci, pop, p)
    # Each lab's algorithmic efficiency makes its seeded score what its run in progress (on
    # its owned compute) would score today, so the first releases continue the seeded scores
    # (plus the progress of the months in between) instead of jumping: the seeded FLOP of
    # released models are mostly priors, and their ratio to the lab's compute is not known
    # well enough to carry a jump (seeds/README.md). Labs that score above their compute
    # (efficient or distilling) get a higher algo.
    # The seeded score already holds the RL gain of its release (seeded_rl_gain): backed out
    # too, so that the first releases add it again rather than twice. Entrants have no
    # model: their algo is set when they enter (mechanism 7).
    full_run = _full_run_flop(labs.compute_h100e, p)
    algo = np.where(entrant, 0.0,
                    (base - rl0 - world.initial_anchor) / p.eci_per_log10_flop
                    - np.log10(np.where(full_run > 0, full_run, 1.0)))
    since = np.maximum(p.start_month - labs.release_month, 0)
    months_left, run_flop, rl_flop = run_in_progress(since, labs.compute_h100e, p,
                                                     rl_use_share(0, world.rl_era_step, p))
    months_left, run_flop, rl_flop = (np.where(entrant, 0.0, x)
                                      for x in (months_left, run_flop, rl_flop))

    def rep(x: np.ndarray, dtype=float) -> np.ndarray:
        return np.broadcast_to(np.asarray(x, dtype=dtype), (n_runs, *np.shape(x))).copy()

    leader0 = float(np.max(np.where(pop.lab_is_open | entrant, -np.inf, algo)))
    zeros = np.zeros((n_runs, n_l))
    return WorldState(
        month=0,
        alive=rep(world.start_alive, dtype=bool),
        cash=rep(np.where(entrant, 0.0, labs.cash_usd_bn)),
        revenue=rep(np.where(entrant, 0.0, labs.revenue_usd_bn_per_month)),
        compute=rep(np.where(entrant, 0.0, labs.compute_h100e)),
        algo=rep(algo),
        run_flop=rep(run_flop),
        bench=rep(world.start_bench),
        robust=rep(world.start_robust),
        released_flop=rep(world.start_released_flop),
        months_since_release=rep(since),
        flywheel=zeros.copy(),
        users=zeros.copy(),
        compute_spend=zeros.copy(),
        net_inflow=zeros.copy(),
        funding_outlook=np.ones((n_runs, n_l)),
        serving_cost=rep(np.where(entrant | ~pop.lab_first_party, 0.0,
                                  labs.revenue_usd_bn_per_month / (1.0 + own_api_markups(
                                      labs.eci, ~entrant & (labs.training_flop > 0), p)))),
        run_months_left=rep(months_left),
        contract_h100e=zeros.copy(),
        contract_price=zeros.copy(),
        next_h100e=zeros.copy(),
        next_price=zeros.copy(),
        next_lead=np.full((n_runs, n_l), -1.0),
        rl_flop=rep(rl_flop),
        entered=rep(~entrant, dtype=bool),
        closed_revenue_trailing=np.zeros(n_runs),
        pressure=np.zeros((n_runs, n_s)),
        ban_threshold=np.full((n_runs, n_s), np.inf),
        ban_leakage=np.ones((n_runs, n_s)),
        distill_enforcement=np.ones((n_runs, n_s)),
        export_multiplier=np.ones((n_runs, n_g)),
        export_cap=np.full((n_runs, n_g), np.inf),
        log_sentiment=np.zeros((n_runs, n_g)),
        shock_log=np.zeros((n_runs, n_g)),
        shock_components=np.zeros((n_runs, len(world.shock_region))),
        policy_enacted=np.zeros((n_runs, n_s, len(POLICIES)), dtype=bool),
        choice=np.full((n_runs, pop.n_buyers), -1, dtype=np.int64),
        group_demand=np.ones((n_runs, n_groups)),
        brand=np.zeros((n_runs, n_l)),
        price_index0=np.zeros((n_runs, n_groups)),
        group_best0=np.zeros((n_runs, n_groups)),
        host_revenue=np.zeros((n_runs, pop.n_hosts)),
        host_tokens=np.zeros((n_runs, pop.n_hosts)),
        leader_algo=np.full((n_runs, p.fast_follow_lag_months + 1), leader0),
    )
