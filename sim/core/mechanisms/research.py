"""Mechanism 4: algorithmic progress, fast-following, training runs, distillation, releases.

Per alive lab and month:

* Research compute ``R = (1 - training_share) * (compute + contract_h100e)`` (the contract
  counts while a run is in progress): Epoch found ~90% of OpenAI's 2024 R&D compute went to
  experiments, not final runs. Own algorithmic progress
  ``algo += g * min(1, R / R_max) ** e`` (log10 FLOP-equivalents), ``g`` the measured
  frontier rate (compute for fixed performance halves every ~8 months, Ho et al. 2024) and
  ``R_max`` the largest research compute of an alive lab; then fast-following from
  publications and open releases: ``algo += phi * max(0, leader(t - tau) - algo)`` where
  ``leader`` is the best closed lab's ``algo``, remembered in a ring buffer of ``tau + 1``
  months.
* The run in progress (mechanism 3) accumulates ``training_share * (compute + contract) *
  flop_per_h100e_month`` FLOP a month while more than ``post_train_months`` remain (the
  pre-training phase), then post-trains: in each post-training month it spends a share
  ``u(t)`` of the same compute on RL, ``rl_flop += u(t) * training_share * (compute +
  contract) * flop_per_h100e_month``, with ``u(t) = min(1, u0 * 10 ** (max(t - t_rl, 0) /
  m10))`` (:func:`sim.core.world.rl_use_share`: ``u0`` the RLHF-era share, InstructGPT's RLHF
  took ~1.6% of GPT-3's pre-training compute, i.e. ~5% of a post-training phase a third as
  long as pre-training; from the RL era's start ``t_rl`` (o1, 2024-09) it grows tenfold every
  ``m10`` = 4 months, o1 -> o3 ~10x RL compute in ~4 months, Epoch, until all of the phase is
  RL, which matches xAI's report of RL at pre-training scale for Grok 4, 2025-07).
  ``run_months_left`` counts down, and the run ends when it reaches 0 (its contract ends
  with it).
* When a run ends, its model is scored. A home ban on open weights caps an open lab's
  releasable FLOP at the threshold. ``base = anchor + b * (log10 FLOP + algo) + noise * z +
  rl``, with the RL post-training gain ``rl = M * (1 - exp(-b_rl * max(log10 ratio, 0) /
  M))`` (:func:`sim.core.world.rl_gain_points`): ``ratio = rl_flop * (1 + w * flywheel /
  flywheel_max) / (u0 * post_train / pretrain * run_flop)`` is the run's effective RL compute
  over that of a pre-RL-era run of the same pre-training FLOP, raised by real-use
  interaction data (the flywheel stock of mechanism 6, weight ``w``); ``b_rl`` ECI points
  per 10x RL compute (o1 -> o3: ~10x RL compute, ECI 142.97 -> 147.20, Epoch: 4.2) and
  ``M`` its saturation. The gain is capability: bench and robustness both carry it.
* Distillation (open labs): ``gain = delta * max_j(enforcement_j * access_ij *
  max(0, bench_j - base))`` over alive closed teachers ``j``; ``enforcement_j`` is 1 unless
  the teacher's home sovereign cracks down, ``access_ij`` is 1 where the student's home market
  reaches the teacher's API and ``distill_blocked_access`` where it is blocked. With
  ``delta <= 1`` the gain never lifts a student above its teacher. It costs
  ``distill_tokens_t`` trillion tokens at the teacher's API price, paid by the student to the
  teacher (money moves, none is created); a student that cannot pay does not distil.
* ``bench = base + focus * k_focus + gain``; ``robust = base - focus * k_cost + flywheel +
  carry * gain``.
* Release: the model is released when its run ends, if it beats the lab's current released
  bench score (a lab does not ship a flagship worse than the one it serves); otherwise the run
  is written off. A cancelled run (mechanism 2) never ends, so it never releases.
"""

from __future__ import annotations

import numpy as np

from sim.core.kernels import compiled, param_at, per_run_parameters
from sim.core.mechanisms import Flows, Updates
from sim.core.mechanisms.market import USD_BN_PER_T_TOKENS_AT_1_USD_PER_MTOK, api_prices
from sim.core.rng import MonthDraws
from sim.core.world import Population, World, WorldState, distill_access, rl_use_share

#: ``releases`` (R, L) bool: the lab released a model this month; ``distill_gain`` (R, L)
#: ECI points the released model gained from distillation (0 without a release);
#: ``distill_paid`` (R, L) USD bn received for distillation (teachers) minus paid (students);
#: ``runs_ended`` (R, L) bool: a run ended this month (released or written off).
FLOWS = ("releases", "distill_gain", "distill_paid", "runs_ended")


def home_sovereign_value(per_sovereign: np.ndarray, pop: Population,
                         default: float) -> np.ndarray:
    """(R, L) each lab's home sovereign's value of an (R, S) array; ``default`` for labs
    whose home region has no sovereign."""
    return np.where(pop.lab_has_sovereign, per_sovereign[:, pop.lab_sovereign_column], default)


def home_ban_threshold(ban_threshold: np.ndarray, pop: Population) -> np.ndarray:
    """(R, L) FLOP above which a lab may not release open weights (inf if not banned)."""
    return np.where(pop.lab_is_open, home_sovereign_value(ban_threshold, pop, np.inf), np.inf)


def research_compute(state: WorldState, training_share: float | np.ndarray) -> np.ndarray:
    """(R, L) H100e of research compute: ``(1 - training_share) * (compute + contract)``, the
    contract while a run is in progress; 0 for exited labs."""
    contract = np.where(state.run_months_left > 0, state.contract_h100e, 0.0)
    return (1.0 - training_share) * (state.compute + contract) * state.alive


def own_progress(research: np.ndarray, rate: float | np.ndarray,
                 elasticity: float | np.ndarray) -> np.ndarray:
    """(R, L) own algorithmic progress this month: ``rate * min(1, R / R_max) ** e``."""
    top = research.max(axis=1, keepdims=True)
    share = np.minimum(research / np.where(top > 0, top, 1.0), 1.0)
    return rate * share ** elasticity * (research > 0)


@compiled
def runs_and_releases(
    alive: np.ndarray, compute: np.ndarray, contract_h100e: np.ndarray,
    run_months_left: np.ndarray, run_flop: np.ndarray, months_since: np.ndarray,
    algo: np.ndarray, home_ban: np.ndarray, enforcement: np.ndarray, access: np.ndarray,
    bench: np.ndarray, robust: np.ndarray, flywheel: np.ndarray, released_flop: np.ndarray,
    cash: np.ndarray, rl_flop: np.ndarray, rl_use: float | np.ndarray,
    teacher_price: np.ndarray, release_z: np.ndarray,
    lab_is_open: np.ndarray, bench_focus: np.ndarray, anchor: float | np.ndarray,
    training_share: float | np.ndarray, flop_per_h100e_month: float | np.ndarray,
    post_train: float | np.ndarray, eci_per_log10_flop: float | np.ndarray,
    release_noise: float | np.ndarray, distill_efficiency: float | np.ndarray,
    bench_focus_points: float | np.ndarray, robust_cost_points: float | np.ndarray,
    distill_robust_carry: float | np.ndarray, distill_tokens: float | np.ndarray,
    pretrain: float | np.ndarray, rl_use0: float | np.ndarray,
    rl_points_per_decade: float | np.ndarray, rl_max_points: float | np.ndarray,
    rl_data_weight: float | np.ndarray, flywheel_max: float | np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Training runs, their end, distillation and releases for one month, lab by lab (the
    module doc's bullets from "The run in progress" on).

    Arrays are (R, L): ``algo`` after this month's progress and fast-following,
    ``home_ban`` the FLOP cap on the lab's open releases (inf if none), ``enforcement`` its
    home sovereign's distillation enforcement; ``access`` (L, L) [student, teacher];
    ``teacher_price`` (R, L) USD per million tokens of each lab's own API;
    ``lab_is_open``, ``bench_focus`` (L,);
    ``rl_use`` this month's RL share of post-training compute;
    the parameters are numbers or (R, 1) per-run values. Returns the new ``run_flop``,
    ``run_months_left``, ``contract_h100e``, ``months_since`` release, ``bench``,
    ``robust``, ``released_flop``, ``cash``, the ``release`` and ``ended`` flags, the
    distillation gain of released models, the distillation payments and ``rl_flop``, each
    (R, L).
    """
    n_runs, n_labs = alive.shape
    new_run_flop, new_left = run_flop.copy(), run_months_left.copy()
    new_contract, new_months = contract_h100e.copy(), np.empty((n_runs, n_labs))
    new_bench, new_robust = bench.copy(), robust.copy()
    new_released, new_cash = released_flop.copy(), cash.copy()
    new_rl = rl_flop.copy()
    release = np.zeros((n_runs, n_labs), dtype=np.bool_)
    ended = np.zeros((n_runs, n_labs), dtype=np.bool_)
    released_gain = np.zeros((n_runs, n_labs))
    paid = np.zeros((n_runs, n_labs))
    for r in range(n_runs):
        for lab in range(n_labs):
            new_months[r, lab] = months_since[r, lab] + 1.0
            if not (alive[r, lab] and run_months_left[r, lab] > 0):
                continue
            month_flop = (param_at(training_share, r)
                          * (compute[r, lab] + contract_h100e[r, lab])
                          * param_at(flop_per_h100e_month, r))
            if run_months_left[r, lab] > param_at(post_train, r):
                new_run_flop[r, lab] = run_flop[r, lab] + month_flop
            else:
                new_rl[r, lab] = rl_flop[r, lab] + param_at(rl_use, r) * month_flop
            new_left[r, lab] = run_months_left[r, lab] - 1.0
            if new_left[r, lab] > 0:
                continue
            ended[r, lab] = True
            new_left[r, lab], new_contract[r, lab] = 0.0, 0.0
            pre_flop, rl = new_run_flop[r, lab], new_rl[r, lab]
            train = min(pre_flop, home_ban[r, lab])
            new_run_flop[r, lab], new_rl[r, lab] = 0.0, 0.0
            if not train > 0:
                continue
            effective = np.log10(max(train, 1.0)) + algo[r, lab]
            base = (param_at(anchor, r) + param_at(eci_per_log10_flop, r) * effective
                    + param_at(release_noise, r) * release_z[r, lab])
            # RL post-training: effective RL compute over a pre-RL-era run's, saturating.
            reference = (param_at(rl_use0, r) * param_at(post_train, r)
                         / param_at(pretrain, r) * pre_flop)
            if reference > 0 and rl > 0:
                ratio = rl * (1.0 + param_at(rl_data_weight, r) * flywheel[r, lab]
                              / param_at(flywheel_max, r)) / reference
                if ratio > 1.0:
                    cap = param_at(rl_max_points, r)
                    x = param_at(rl_points_per_decade, r) * np.log10(ratio)
                    base = base - cap * np.expm1(-x / cap)
            # Distillation from the best reachable alive closed teacher (previous scores).
            gain, teacher, best = 0.0, -1, 0.0
            if lab_is_open[lab]:
                for j in range(n_labs):
                    if alive[r, j] and not lab_is_open[j]:
                        value = enforcement[r, j] * access[lab, j] * max(bench[r, j] - base, 0.0)
                        if value > best:
                            best, teacher = value, j
            cost = 0.0
            if teacher >= 0:
                cost = (param_at(distill_tokens, r) * teacher_price[r, teacher]
                        * USD_BN_PER_T_TOKENS_AT_1_USD_PER_MTOK)
                if new_cash[r, lab] >= cost:
                    gain = param_at(distill_efficiency, r) * best
            candidate_bench = base + bench_focus[lab] * param_at(bench_focus_points, r) + gain
            candidate_robust = (base - bench_focus[lab] * param_at(robust_cost_points, r)
                                + flywheel[r, lab] + param_at(distill_robust_carry, r) * gain)
            if candidate_bench > bench[r, lab]:
                release[r, lab] = True
                new_months[r, lab] = 0.0
                new_bench[r, lab], new_robust[r, lab] = candidate_bench, candidate_robust
                new_released[r, lab] = train
                released_gain[r, lab] = gain
                if gain > 0:
                    new_cash[r, lab] -= cost
                    new_cash[r, teacher] += cost
                    paid[r, lab] -= cost
                    paid[r, teacher] += cost
    return (new_run_flop, new_left, new_contract, new_months, new_bench, new_robust,
            new_released, new_cash, release, ended, released_gain, paid, new_rl)


def research_step(state: WorldState, world: World, draws: MonthDraws) -> tuple[Updates, Flows]:
    """Algorithmic progress, training, distillation and releases for one month."""
    pop, p = world.population, world.params
    alive = state.alive
    t, lag = state.month, p.fast_follow_lag_months
    algo = state.algo + own_progress(research_compute(state, p.training_share),
                                     p.algo_progress_per_month, p.research_elasticity)
    closed_alive = alive & ~pop.lab_is_open
    leader_now = np.where(closed_alive, algo, -np.inf).max(axis=1)
    last = state.leader_algo[:, (t - 1) % (lag + 1)] if t > 0 else state.leader_algo[:, 0]
    leader_now = np.where(np.isfinite(leader_now), leader_now, last)
    leader_past = leader_now if lag == 0 else state.leader_algo[:, (t + 1) % (lag + 1)]
    algo = algo + p.fast_follow_rate * np.maximum(leader_past[:, None] - algo, 0.0) * alive
    leader_algo = state.leader_algo.copy()
    leader_algo[:, t % (lag + 1)] = leader_now

    (run_flop, months_left, contract, months_since, bench, robust, released_flop, cash,
     release, ended, released_gain, paid, rl_flop) = runs_and_releases(
        alive=alive, compute=state.compute, contract_h100e=state.contract_h100e,
        run_months_left=state.run_months_left, run_flop=state.run_flop,
        months_since=state.months_since_release, algo=algo,
        home_ban=home_ban_threshold(state.ban_threshold, pop),
        enforcement=home_sovereign_value(state.distill_enforcement, pop, 1.0),
        access=distill_access(pop, p), bench=state.bench, robust=state.robust,
        flywheel=state.flywheel, released_flop=state.released_flop, cash=state.cash,
        rl_flop=state.rl_flop,
        teacher_price=api_prices(state, world), release_z=draws.release_z,
        lab_is_open=pop.lab_is_open, bench_focus=pop.bench_focus,
        **per_run_parameters(
            state.n_runs, rl_use=rl_use_share(t, world.rl_era_step, p),
            anchor=world.initial_anchor, training_share=p.training_share,
            flop_per_h100e_month=p.flop_per_h100e_month, post_train=p.post_train_months,
            eci_per_log10_flop=p.eci_per_log10_flop, release_noise=p.release_noise_points,
            distill_efficiency=p.distill_efficiency, bench_focus_points=p.bench_focus_points,
            robust_cost_points=p.robust_cost_points,
            distill_robust_carry=p.distill_robust_carry, distill_tokens=p.distill_tokens_t,
            pretrain=p.pretrain_months, rl_use0=p.rl_use_before_era,
            rl_points_per_decade=p.rl_points_per_decade, rl_max_points=p.rl_max_points,
            rl_data_weight=p.rl_data_weight, flywheel_max=p.flywheel_max_points))
    updates = dict(algo=algo, leader_algo=leader_algo, run_flop=run_flop,
                   run_months_left=months_left, contract_h100e=contract,
                   months_since_release=months_since, bench=bench, robust=robust,
                   released_flop=released_flop, cash=cash, rl_flop=rl_flop)
    return updates, dict(releases=release, distill_gain=released_gain, distill_paid=paid,
                         runs_ended=ended)
