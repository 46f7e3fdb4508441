"""The vectorized monthly step loop over a batch of runs.

``step`` applies the mechanisms of docs/design.md section 4 in order (:data:`MECHANISMS`:
policy, funding, compute, research, market, adoption) to a :class:`WorldState` whose arrays
are shaped ``(runs, ...)`` and returns the next state plus the month's flows. ``simulate``
runs a whole scenario for a batch of runs and stores per-month outputs in a
:class:`Results`; only those outputs grow with the horizon.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from sim.calendar import format_month
from sim.core.kernels import per_run_parameters
from sim.core.mechanisms import (
    Flows,
    Mechanism,
    adoption,
    compute,
    entry,
    funding,
    market,
    policy,
    research,
)
from sim.core.mechanisms.policy import investor_sentiment
from sim.core.parameter_draws import runs_world
from sim.core.recording import (
    buyer_outputs_into,
    camp_sums_into,
    frontiers_into,
    labs_by_camp,
)
from sim.core.rng import MonthDraws, RandomStreams
from sim.core.world import World, WorldState, build_world, initial_state
from sim.errors import InputError
from sim.inputs.scenario import Scenario
from sim.inputs.seeds import Seeds, check_seed_world, load_seeds
from sim.vocab import CAMPS, JURISDICTIONS, N_POLICIES, OUTPUT_CAMPS

#: Runs simulated together in one chunk of a batch (the results do not depend on it). Past
#: ~1,000 runs the lab-level mechanisms' numpy calls no longer gain from longer rows.
CHUNK_RUNS = 1024


#: Lab state fields (R, L) that are finite in any valid world; checked after every month.
FINITE_LAB_FIELDS = ("cash", "revenue", "compute", "algo", "run_flop", "bench", "robust",
                     "released_flop", "months_since_release", "flywheel", "users",
                     "compute_spend")
#: Outputs that may be -inf: the best released score of an output camp with no labs.
MAY_BE_MINUS_INF = ("bench_frontier", "robust_frontier")
#: Outputs that are NaN where undefined: ``lab_price`` of a model nothing sells.
MAY_BE_NAN = ("lab_price",)


class NonFiniteError(InputError):
    """A run reached a non-finite number (the scenario's parameters push the model out of
    floating-point range); one line naming the first field, lab or camp, run and month."""


def check_finite_state(world: World, state: WorldState, t: int, run_ids: np.ndarray,
                       label: str = "") -> None:
    """Raise :class:`NonFiniteError` naming the first lab field that is NaN or infinite
    after step ``t``; the check reads the state and never changes it."""
    for name in FINITE_LAB_FIELDS:
        values = getattr(state, name)
        bad = ~np.isfinite(values)
        if bad.any():
            r, lab = (int(i) for i in np.argwhere(bad)[0])
            raise NonFiniteError(_non_finite(world, t, int(run_ids[r]), name,
                                             f"lab {world.population.lab_ids[lab]}",
                                             float(values[r, lab]), label))


def check_finite_outputs(world: World, out: dict[str, np.ndarray], run_ids: np.ndarray,
                         label: str = "") -> None:
    """Raise :class:`NonFiniteError` naming the first recorded output (``Results.arrays``)
    that is NaN, or infinite where it cannot be, by month; camps are named where known."""
    first: tuple[int, int, str, str, float] | None = None
    for name, values in out.items():
        if name in MAY_BE_NAN:
            bad = np.isinf(values)
        else:
            bad = np.isnan(values) if name in MAY_BE_MINUS_INF else ~np.isfinite(values)
        if name in MAY_BE_MINUS_INF:
            bad |= np.isposinf(values)
        if values.ndim < 2 or not bad.any():
            continue
        index = tuple(int(i) for i in np.argwhere(bad)[np.argmin(np.argwhere(bad)[:, 1])])
        if first is None or index[1] < first[0]:
            where = _output_part(world, name, values, index[2:])
            first = (index[1], int(run_ids[index[0]]), name, where, float(values[index]))
    if first is not None:
        t, run, name, where, value = first
        raise NonFiniteError(_non_finite(world, t, run, name, where, value, label))


def _output_part(world: World, name: str, values: np.ndarray, rest: tuple[int, ...]) -> str:
    """What index ``rest`` (after run and month) of output ``name`` is: a camp, a sovereign,
    a region, or the total (by the output's last axis, as :func:`_allocate` shapes it)."""
    if not rest:
        return "total"
    n, i = values.shape[-1], rest[-1]
    pop = world.population
    if name == "policy_change":
        return f"sovereign {pop.sovereign_ids[rest[0]]}"
    if name in MAY_BE_MINUS_INF:
        return f"camp {OUTPUT_CAMPS[i]}"
    if name in ("pressure", "ban_active", "crackdown_active", "sovereign_grants"):
        return f"sovereign {pop.sovereign_ids[i]}"
    if n == len(JURISDICTIONS) and name in ("export_multiplier", "sentiment",
                                            "random_funding_shocks",
                                            "open_tokens_by_jurisdiction",
                                            "large_open_tokens"):
        return f"region {JURISDICTIONS[i]}"
    return f"camp {CAMPS[i]}" if n == len(CAMPS) else f"index {list(rest)}"


def _non_finite(world: World, t: int, run: int, name: str, where: str, value: float,
                label: str) -> str:
    month = format_month(world.params.start_month + t)
    prefix = f"{label}: " if label else ""
    return (f"{prefix}run {run}: {name} of {where} is {value} in {month}: the scenario's "
            "parameters push the model outside finite numbers; nothing was written (choose "
            "less extreme values)")


#: The mechanisms in their monthly order (docs/design.md section 4): each sees the state its
#: predecessors left. Adding a mechanism is its module (a step function and its ``FLOWS``)
#: plus one row here.
MECHANISMS: tuple[Mechanism, ...] = (
    Mechanism("policy", policy.policy_step, policy.FLOWS),
    Mechanism("funding", funding.funding_step, funding.FLOWS),
    Mechanism("compute", compute.compute_step, compute.FLOWS),
    Mechanism("research", research.research_step, research.FLOWS),
    Mechanism("market", market.market_step, market.FLOWS),
    Mechanism("adoption", adoption.adoption_step, adoption.FLOWS),
    Mechanism("entry", entry.entry_step, entry.FLOWS),
)


def step(world: World, state: WorldState, draws: MonthDraws) -> tuple[WorldState, Flows]:
    """Advance every run in the batch by one month. Pure: ``state`` is not modified.
    Returns the next state and the month's flows of every mechanism (``Mechanism.flows``)."""
    flows: Flows = {}
    state = begin_month(state)
    for mechanism in MECHANISMS:
        apply_mechanism(mechanism, world, state, draws, flows)
    end_month(state)
    return state, flows


def begin_month(state: WorldState) -> WorldState:
    """The month's own copy of ``state``: each mechanism's updates are written into it in
    turn by :func:`apply_mechanism` (``state`` itself is never modified)."""
    return _updated(state, {})


def apply_mechanism(mechanism: Mechanism, world: World, month_state: WorldState,
                    draws: MonthDraws, flows: Flows) -> None:
    """Run one mechanism on the month's copy of the state (from :func:`begin_month`): its
    updates are written into ``month_state`` and its flows into ``flows``. :func:`step` is
    :func:`begin_month`, this for every row of :data:`MECHANISMS` in order, then
    :func:`end_month`; the Mesa model calls the same three, agent type by agent type."""
    updates, info = mechanism.step(month_state, world, draws)
    _set_fields(month_state, updates)
    flows.update(info)


def end_month(month_state: WorldState) -> None:
    """Close the month: advance ``month_state.month`` by one."""
    _set_fields(month_state, {"month": month_state.month + 1})


def _updated(state: WorldState, updates: dict[str, Any]) -> WorldState:
    """``dataclasses.replace(state, **updates)`` without re-running ``__init__`` over every
    field (it showed in profiles of small batches)."""
    new = object.__new__(WorldState)
    new.__dict__.update(state.__dict__)
    _set_fields(new, updates)
    return new


def _set_fields(state: WorldState, updates: dict[str, Any]) -> None:
    """Write ``updates`` into ``state`` (a step's own copy); a name that is not a field of
    ``WorldState`` is a bug in a mechanism, so it raises."""
    unknown = updates.keys() - state.__dict__.keys()
    if unknown:
        raise TypeError(f"WorldState has no field(s) {sorted(unknown)}")
    state.__dict__.update(updates)


@dataclass
class Results:
    """Per-month outputs of a batch, arrays shaped ``(runs, months, ...)``.

    ``bench_frontier`` / ``robust_frontier`` (R, T, C5): running maximum of released scores
    per output camp (ECI points). ``tokens`` / ``spend`` (R, T, K, C4): trillion tokens and
    USD bn per segment and lab camp. ``cash`` (USD bn), ``compute`` (H100e), ``alive``
    (count) (R, T, C4). Flow totals (R, T) in USD bn. ``exit_month`` (R, L): step of exit or
    -1; ``acquirer`` (R, L): acquiring lab or -1. ``ban_active``, ``crackdown_active`` (R, T, S)
    policy flags; ``policy_change`` (R, T, S, 3): +1 when a sovereign enacts a policy
    (``sim.vocab.POLICIES``), -1 when it lapses; ``sovereign_grants`` (R, T, S) USD bn paid;
    ``open_tokens_by_jurisdiction`` / ``large_open_tokens`` (R, T, G) trillion tokens of open
    models (all / trained above ``policy.ban_threshold_flop``) used by each jurisdiction;
    ``large_open_tokens_by_camp`` (R, T, G, C4) the latter by the serving lab's camp.
    ``raise_attempts`` / ``raise_failures`` (R, T, C4): labs per camp that tried to raise
    this month (short runway or short of the next run) / tried and failed;
    ``investor_raise_failures`` (R, T, C4) those of them with no corporate parent's budget
    this month, and ``investor_funded`` (R, T, C4) the camp's alive labs with none (labs
    that must raise outside money: investors, donors). ``parent_funds``
    (R, T, C4) USD bn paid by corporate parents; ``runs_cancelled`` / ``runs_delayed`` /
    ``runs_planned`` / ``runs_started`` / ``runs_ended`` / ``runs_in_progress`` (R, T, C4)
    labs per camp; ``planned_flop`` (R, T,
    C4) FLOP of the runs planned this month; ``contracted_h100e`` (R, T, C4) H100e under
    contract for runs in progress; ``entries`` (R, T, C4) entrant slots that entered and
    ``seed_capital`` (R, T, C4) USD bn they brought; ``distill_paid`` (R, T, C4) USD bn received for
    distillation less paid; ``largest_run_flop`` (R, T) FLOP of the largest released model
    of any lab. ``served_robust_tokens``
    (R, T, K, C4): robustness score of the serving model times tokens served (ECI points x
    trillion tokens); divided by ``tokens`` it is the token-weighted robustness buyers got.
    ``lab_bench``, ``lab_robust``, ``lab_cash``, ``lab_compute``, ``lab_revenue``,
    ``lab_alive``, ``lab_price``, ``lab_serving_cost`` (R, T, L): each lab's own values
    (:data:`LAB_ARRAYS`, units there). ``host_revenue`` (R, T, H) USD bn each inference host
    kept, ``host_tokens`` (R, T, H) trillion tokens it served; ``host_margin`` (R, T) USD bn
    hosts kept over their serving cost. ``demand`` (R, T, K) trillion tokens the buyers of
    each segment wanted (served or not).
    """

    scenario: Scenario
    world: World
    seed: int
    run_ids: np.ndarray
    arrays: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_runs(self) -> int:
        return len(self.run_ids)

    @property
    def n_months(self) -> int:
        return self.world.params.n_months


def output_camp_masks(world: World) -> np.ndarray:
    """(C5, L) bool: labs belonging to each output camp."""
    return np.stack([world.population.camp_mask(c) for c in OUTPUT_CAMPS])


def camp_best(scores: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """(..., C5) best score per output camp from lab scores (..., L) and
    ``output_camp_masks``; -inf for a camp with no labs."""
    return np.max(np.where(masks, scores[..., None, :], -np.inf), axis=-1)


def entered_scores(state: WorldState) -> np.ndarray:
    """(2, R, L) released bench and robustness scores of the labs that have entered the
    world; -inf for entrant slots not yet in it (their placeholder is no release)."""
    return np.where(state.entered, np.stack([state.bench, state.robust]), -np.inf)


def _allocate(n_runs: int, world: World) -> dict[str, np.ndarray]:
    t = world.params.n_months
    pop = world.population
    k, c4, c5 = len(pop.segments), len(CAMPS), len(OUTPUT_CAMPS)
    shapes = {
        "bench_frontier": (c5,), "robust_frontier": (c5,), "tokens": (k, c4), "spend": (k, c4),
        "cash": (c4,), "compute": (c4,), "alive": (c4,), "revenue": (c4,), "raised": (c4,),
        "grants": (c4,), "lab_revenue_total": (), "host_margin": (), "spend_total": (),
        "opex_total": (), "compute_spend_total": (), "written_off_total": (), "releases": (c4,),
        "safety_shocks": (), "pressure": (pop.n_sovereigns,),
        "ban_active": (pop.n_sovereigns,), "crackdown_active": (pop.n_sovereigns,),
        "export_multiplier": (len(JURISDICTIONS),), "sentiment": (len(JURISDICTIONS),),
        "sovereign_grants": (pop.n_sovereigns,), "policy_change": (pop.n_sovereigns, N_POLICIES),
        "random_funding_shocks": (len(JURISDICTIONS),),
        "open_tokens_by_jurisdiction": (len(JURISDICTIONS),),
        "large_open_tokens": (len(JURISDICTIONS),),
        "large_open_tokens_by_camp": (len(JURISDICTIONS), c4),
        "raise_attempts": (c4,), "raise_failures": (c4,), "served_robust_tokens": (k, c4),
        "investor_raise_failures": (c4,), "investor_funded": (c4,),
        # Per lab (L): each lab's own state after the month.
        **{name: (pop.n_labs,) for name in LAB_ARRAYS},
        "parent_funds": (c4,), "runs_cancelled": (c4,), "runs_delayed": (c4,),
        "runs_planned": (c4,), "planned_flop": (c4,), "contracted_h100e": (c4,),
        "runs_in_progress": (c4,), "distill_paid": (c4,), "largest_run_flop": (),
        "runs_started": (c4,), "runs_ended": (c4,), "entries": (c4,), "seed_capital": (c4,),
        "host_revenue": (pop.n_hosts,), "host_tokens": (pop.n_hosts,), "demand": (k,),
    }
    return {name: np.zeros((n_runs, t, *shape)) for name, shape in shapes.items()}


def output_bytes_per_run(world: World) -> int:
    """Bytes of one run's recorded outputs (:class:`Results` arrays) over the whole horizon:
    what a batch holds per run, for estimating memory before simulating [bytes]."""
    return int(sum(v.nbytes for v in _allocate(1, world).values()))


def camp_totals(state: WorldState, flows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The month's per-lab quantities that are recorded as camp totals, by output name: each
    (R, M, L), a bool counting 1 per lab; M = K segments for ``tokens`` and ``spend``
    (outputs (R, T, K, C4)), else 1 (outputs (R, T, C4)). Units as in :class:`Results`."""
    attempts, raised = flows["raise_attempts"], flows["raised"] > 0
    no_parent = ~(flows["parent_funds"] > 0)
    in_progress = state.run_months_left > 0
    per_lab = {"cash": state.cash, "compute": state.compute, "alive": state.alive,
               "revenue": flows["revenue"], "raised": flows["raised"], "grants": flows["grants"],
               "releases": flows["releases"], "raise_attempts": attempts,
               "raise_failures": attempts & ~raised,
               "investor_raise_failures": attempts & ~raised & no_parent,
               "investor_funded": state.alive & no_parent,
               "parent_funds": flows["parent_funds"], "runs_cancelled": flows["runs_cancelled"],
               "runs_delayed": flows["runs_delayed"], "runs_planned": flows["runs_planned"],
               "planned_flop": flows["planned_flop"],
               "contracted_h100e": np.where(in_progress, state.contract_h100e, 0.0),
               "runs_in_progress": in_progress,
               "distill_paid": flows["distill_paid"], "runs_started": flows["runs_started"],
               "runs_ended": flows["runs_ended"], "entries": flows["entries"],
               "seed_capital": flows["seed_capital"]}
    return {"tokens": flows["tokens"], "spend": flows["spend"],
            **{name: values[:, None, :] for name, values in per_lab.items()}}


def _record(out: dict[str, np.ndarray], t: int, world: World, state: WorldState,
            flows: dict[str, np.ndarray], masks: np.ndarray, frontiers: np.ndarray) -> None:
    """Store step ``t``'s outputs into month ``t`` of ``out``, and advance the released
    ``frontiers`` (2, R, C5), bench and robustness running maxima, in place."""
    # The population as given this month (a few microseconds): a caller may change the
    # world between months (tests zero the demand of the Mesa model's world).
    pop = world.population
    camp_labs = labs_by_camp(pop.lab_camp, len(CAMPS))
    # Contiguous inputs (no copy when they already are): one compiled variant of each loop.
    bench, robust, released_flop, entered, choice, group_demand = (
        np.ascontiguousarray(a) for a in (state.bench, state.robust, state.released_flop,
                                          state.entered, state.choice, state.group_demand))
    frontiers_into(bench, robust, entered, masks, frontiers, t, out["bench_frontier"],
                   out["robust_frontier"])
    for name, values in camp_totals(state, flows).items():
        target = out[name]  # (R, T, C4) seen as (R, T, 1, C4), a view: written in place
        camp_sums_into(values, *camp_labs, t,
                       target if target.ndim == 4 else target[:, :, None, :])
    out["lab_revenue_total"][:, t] = flows["revenue"].sum(axis=1)
    out["host_margin"][:, t] = flows["host_margin"]
    out["spend_total"][:, t] = flows["spend"].sum(axis=(1, 2))
    out["opex_total"][:, t] = flows["opex"].sum(axis=1)
    out["compute_spend_total"][:, t] = flows["compute_spend"].sum(axis=1)
    out["written_off_total"][:, t] = flows["written_off"].sum(axis=1)
    out["safety_shocks"][:, t] = flows["safety_shocks"]
    out["largest_run_flop"][:, t] = state.released_flop.max(axis=1)
    out["pressure"][:, t] = state.pressure
    out["ban_active"][:, t] = np.isfinite(state.ban_threshold)
    out["crackdown_active"][:, t] = state.distill_enforcement < 1.0
    out["export_multiplier"][:, t] = state.export_multiplier
    out["sentiment"][:, t] = investor_sentiment(state.log_sentiment, state.shock_log)
    out["sovereign_grants"][:, t] = flows["grants_paid"]
    out["policy_change"][:, t] = flows["policy_change"]
    out["random_funding_shocks"][:, t] = flows["random_funding_shocks"]
    out["host_revenue"][:, t] = flows["host_revenue"]
    out["host_tokens"][:, t] = flows["host_tokens"]
    large_flop = per_run_parameters(state.n_runs, large=world.params.ban_threshold_flop)
    buyer_outputs_into(choice, group_demand, pop.buyer_tokens0, pop.buyer_group,
                       pop.buyer_segment, pop.buyer_jurisdiction, pop.lab_camp,
                       pop.lab_is_open, robust, released_flop, large_flop["large"], t,
                       out["demand"], out["served_robust_tokens"],
                       out["open_tokens_by_jurisdiction"], out["large_open_tokens"],
                       out["large_open_tokens_by_camp"])
    for name, values in _lab_values(state, flows).items():
        out[name][:, t] = values


#: Per-lab outputs (R, T, L): recorded lab by lab, not summed over camps. Name -> (unit,
#: description); ``lab_bench`` and ``lab_robust`` are the released model's scores.
LAB_ARRAYS: dict[str, tuple[str, str]] = {
    "lab_bench": ("ECI points", "benchmark score of the lab's released model"),
    "lab_robust": ("ECI points", "robustness score of the lab's released model"),
    "lab_cash": ("USD bn", "cash on hand"),
    "lab_compute": ("H100e", "compute stock"),
    "lab_revenue": ("USD bn/month", "revenue this month"),
    "lab_alive": ("flag", "1 while the lab operates (0 after an exit or acquisition)"),
    "lab_price": ("USD/Mtok", "price of the cheapest endpoint selling the lab's model "
                  "(NaN where none does)"),
    "lab_serving_cost": ("USD bn/month", "what the lab paid to serve its own API's tokens"),
}


def _lab_values(state: WorldState, flows: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {"lab_bench": state.bench, "lab_robust": state.robust, "lab_cash": state.cash,
            "lab_compute": state.compute, "lab_revenue": flows["revenue"],
            "lab_alive": state.alive, "lab_price": flows["model_price"],
            "lab_serving_cost": flows["serving_cost"]}


def simulate(
    scenario: Scenario,
    *,
    n_runs: int,
    seed: int,
    first_run: int = 0,
    seeds: Seeds | None = None,
    progress: Callable[[int, int], Any] | None = None,
) -> Results:
    """Simulate runs ``first_run .. first_run + n_runs - 1`` of ``scenario`` under ``seed``.

    Run ``r``'s results depend only on (scenario, seed, r), so any split of runs into
    batches gives the same numbers. ``progress(done, total)`` is called after each month of
    each chunk of runs, in run-months.
    """
    seeds = seeds or load_seeds(start=scenario.time.start)
    check_seed_world(seeds, scenario.time.start)
    world = build_world(scenario, seeds)
    return simulate_world(scenario, world, seeds=seeds, seed=seed,
                          run_ids=np.arange(first_run, first_run + n_runs), progress=progress)


def _runs_of(world: World, runs: slice, n_runs: int) -> World:
    """``world`` for a chunk ``runs`` of its ``n_runs`` runs: per-run ``(runs, 1)``
    parameters, the anchor and the per-run seeded robustness ``(runs, L)`` (stacked parameter
    sets, :mod:`sim.studies.sweeps.stacked`) cut to it."""
    def cut(value: Any) -> Any:
        per_run = isinstance(value, np.ndarray) and value.shape == (n_runs, 1)
        return value[runs] if per_run else value

    params = {f.name: cut(getattr(world.params, f.name)) for f in fields(world.params)}
    robust = world.start_robust
    return replace(world, params=replace(world.params, **params),
                   initial_anchor=cut(world.initial_anchor),
                   start_robust=robust[runs] if robust.ndim == 2 else robust)


class MonthlyRecorder:
    """Fills a batch's per-month outputs (``Results.arrays``) as its runs are stepped.

    ``out`` holds the (R, T, ...) arrays to fill (from :func:`_allocate`, or views of a
    chunk of them); ``exit_month`` / ``acquirer`` (R, L) are written in place, so they too
    may be views. ``record`` must be called after every month, in order: the released
    frontiers are running maxima from the ``start`` state.
    """

    def __init__(self, world: World, start: WorldState, out: dict[str, np.ndarray],
                 exit_month: np.ndarray, acquirer: np.ndarray) -> None:
        self.out, self.exit_month, self.acquirer = out, exit_month, acquirer
        self._masks = output_camp_masks(world)
        self._frontiers = camp_best(entered_scores(start), self._masks)  # updated in place

    @classmethod
    def new(cls, world: World, start: WorldState) -> MonthlyRecorder:
        """A recorder with its own arrays for ``start.n_runs`` runs."""
        n_runs, n_labs = start.n_runs, world.population.n_labs
        return cls(world, start, _allocate(n_runs, world), np.full((n_runs, n_labs), -1),
                   np.full((n_runs, n_labs), -1))

    def record(self, t: int, world: World, state: WorldState,
               flows: dict[str, np.ndarray]) -> None:
        """Store step ``t``'s outputs (``state`` after the step, ``flows`` of the step)."""
        _record(self.out, t, world, state, flows, self._masks, self._frontiers)
        if flows["exits"].any():  # else both stay as they are
            self.exit_month[...] = np.where(flows["exits"], t, self.exit_month)
            self.acquirer[...] = np.where(flows["acquired"], flows["acquirer"], self.acquirer)

    def arrays(self) -> dict[str, np.ndarray]:
        """The outputs recorded so far, keyed like ``Results.arrays``."""
        return {**self.out, "exit_month": self.exit_month, "acquirer": self.acquirer}


def warm_up(world: World, seeds: Seeds) -> None:
    """Load every compiled loop of one month of ``world`` (or, on a fresh machine, compile
    and cache it) by stepping two runs through their first month; nothing is kept. Call it
    before forking worker processes, which then inherit the loaded loops."""
    # Two runs: with one, numpy marks slices of the draw blocks contiguous and Numba would
    # load other variants of the loops than a batch of runs calls.
    state = initial_state(world, seeds, 2)
    streams = RandomStreams.for_population(0, np.arange(2), world.population)
    recorder = MonthlyRecorder.new(world, state)
    state, flows = step(world, state, streams.month(0))
    recorder.record(0, world, state, flows)


def compile_kernels() -> None:
    """Compile every compiled loop the engine calls and cache it on disk (Numba), by
    simulating one run of the shipped baseline. ``make`` runs this when it installs the
    package, so that a user's first run loads the loops instead of compiling them."""
    from sim.inputs.scenario import load_scenario, resolve_scenario_path

    seeds = load_seeds()
    # One run and two: with one run numpy marks slices of the draw blocks contiguous, and
    # Numba compiles other variants of some loops than for a batch of runs. (Parameters
    # reach the loops as per-run arrays whatever varies between runs,
    # :func:`sim.core.kernels.per_run_parameters`, so fixed parameters, posterior draws and
    # sweeps share these builds.)
    for n_runs in (1, 2):
        simulate(load_scenario(resolve_scenario_path("baseline")), n_runs=n_runs, seed=0,
                 seeds=seeds)


def simulate_world(
    scenario: Scenario,
    world: World,
    *,
    seeds: Seeds,
    seed: int,
    run_ids: np.ndarray,
    progress: Callable[[int, int], Any] | None = None,
    state: WorldState | None = None,
) -> Results:
    """Simulate runs ``run_ids`` of an already built ``world`` (see :func:`simulate`) from
    ``state`` (default: the seeded initial state).

    Run ids may repeat: runs with the same id draw the same random numbers. Sweeps use this
    to run several parameter sets in one batch, with ``world.params`` fields and the anchor
    that differ between them given as ``(runs, 1)`` arrays and each set's own initial state
    (:mod:`sim.studies.sweeps.stacked`).

    Without ``state``, a scenario under posterior draws gives each run its own parameter
    draw (:func:`sim.core.parameter_draws.runs_world`; ``world`` is the scenario's world as
    written, and the one the returned Results carry); a caller that passes ``state`` has
    applied any draws itself.
    """
    given = world  # the Results carry the scenario's world, as written
    if state is None:
        world, state = runs_world(scenario, world, seeds, seed, run_ids)
    n_runs = len(run_ids)
    out = _allocate(n_runs, world)
    exit_month = np.full((n_runs, world.population.n_labs), -1)
    acquirer = np.full((n_runs, world.population.n_labs), -1)
    months = world.params.n_months
    # Chunks of runs: numpy's per-call cost is spread over many runs, while a chunk's random
    # draw blocks and utility tables stay a bounded size (about 60 KiB a run).
    for lo in range(0, n_runs, CHUNK_RUNS):
        chunk = slice(lo, min(lo + CHUNK_RUNS, n_runs))
        part_world = world if n_runs <= CHUNK_RUNS else _runs_of(world, chunk, n_runs)
        part_state = (initial_state(part_world, seeds, chunk.stop - lo) if state is None
                      else state if n_runs <= CHUNK_RUNS else state.select(chunk))
        streams = RandomStreams.for_population(seed, run_ids[chunk], world.population)
        recorder = MonthlyRecorder(world, part_state,
                                   {name: values[chunk] for name, values in out.items()},
                                   exit_month[chunk], acquirer[chunk])
        for t in range(months):
            part_state, flows = step(part_world, part_state, streams.month(t))
            check_finite_state(world, part_state, t, run_ids[chunk], scenario.name)
            recorder.record(t, part_world, part_state, flows)
            if progress is not None:
                progress(lo * months + (t + 1) * (chunk.stop - lo), n_runs * months)
        check_finite_outputs(world, recorder.out, run_ids[chunk], scenario.name)
    out["exit_month"] = exit_month
    out["acquirer"] = acquirer
    return Results(scenario=scenario, world=given, seed=seed, run_ids=run_ids, arrays=out)
