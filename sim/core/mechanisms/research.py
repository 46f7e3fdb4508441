"""Mechanism 4: algorithmic progress, fast-following, training runs, distillation, releases.

Per alive lab and month:

* ``algo += algo_progress_per_month`` (log10 FLOP-equivalents), then fast-following from
  publications and open releases: ``algo += phi * max(0, leader(t - tau) - algo)`` where
  ``leader`` is the best closed lab's ``algo``, remembered in a ring buffer of ``tau + 1``
  months.
* The next run accumulates ``training_share * compute * flop_per_h100e_month`` FLOP a month,
  capped at ``max_run_months`` months of the current rate.
* A home ban on open weights caps an open lab's releasable FLOP at the threshold.
* Candidate score: ``base = anchor + b * (log10 FLOP + algo) + noise * z``.
* Distillation (open labs): ``gain = delta * max_j(enforcement_j * max(0, bench_j - base))``
  over alive closed labs ``j``; ``enforcement_j`` is 1 unless the closed lab's home sovereign
  cracks down.
* ``bench = base + focus * k_focus + gain``; ``robust = base - focus * k_cost + flywheel +
  carry * gain``.
* Release: once ``min_release_gap_months`` have passed, with probability ``release_hazard``
  a month, if the candidate beats the lab's current released bench score. A release resets
  the run.
"""

from __future__ import annotations

import numpy as np

from sim.core.kernels import compiled, param_at
from sim.core.mechanisms import Flows, Updates
from sim.core.rng import MonthDraws
from sim.core.world import Population, World, WorldState

#: ``releases`` (R, L) bool: the lab released a model this month; ``distill_gain`` (R, L)
#: ECI points the released model gained from distillation (0 without a release).
FLOWS = ("releases", "distill_gain")


def home_sovereign_value(per_sovereign: np.ndarray, pop: Population,
                         default: float) -> np.ndarray:
    """(R, L) each lab's home sovereign's value of an (R, S) array; ``default`` for labs
    whose home region has no sovereign."""
    return np.where(pop.lab_has_sovereign, per_sovereign[:, pop.lab_sovereign_column], default)


def home_ban_threshold(ban_threshold: np.ndarray, pop: Population) -> np.ndarray:
    """(R, L) FLOP above which a lab may not release open weights (inf if not banned)."""
    return np.where(pop.lab_is_open, home_sovereign_value(ban_threshold, pop, np.inf), np.inf)


@compiled
def candidates_and_releases(
    alive: np.ndarray, compute: np.ndarray, run_flop: np.ndarray, months_since: np.ndarray,
    algo: np.ndarray, home_ban: np.ndarray, enforcement: np.ndarray, bench: np.ndarray,
    robust: np.ndarray, flywheel: np.ndarray, released_flop: np.ndarray,
    release_z: np.ndarray, release_u: np.ndarray, lab_is_open: np.ndarray,
    bench_focus: np.ndarray, anchor: float | np.ndarray, training_share: float | np.ndarray,
    flop_per_h100e_month: float | np.ndarray, max_run_months: float | np.ndarray,
    eci_per_log10_flop: float | np.ndarray, release_noise: float | np.ndarray,
    distill_efficiency: float | np.ndarray, bench_focus_points: float | np.ndarray,
    robust_cost_points: float | np.ndarray, distill_robust_carry: float | np.ndarray,
    min_release_gap: float | np.ndarray, release_hazard: float | np.ndarray,
) -> tuple[np.ndarray, ...]:
    """Training runs, candidate models, distillation and releases for one month, lab by lab
    (the module doc's bullets from "The next run" on, as a compiled loop: in a single world
    they were some forty tiny array operations a month).

    Arrays are (R, L): ``algo`` after this month's progress and fast-following,
    ``home_ban`` the FLOP cap on the lab's open releases (inf if none), ``enforcement`` its
    home sovereign's distillation enforcement; ``lab_is_open``, ``bench_focus`` (L,); the
    parameters are numbers or (R, 1) per-run values. Returns the new ``run_flop``,
    ``months_since`` release, ``bench``, ``robust``, ``released_flop``, the ``release``
    flags and the distillation gain of the released models, each (R, L). Every expression
    keeps the order of operations of the array form it replaced, so the numbers are the
    same bit for bit.
    """
    n_runs, n_labs = alive.shape
    new_run_flop, new_months = np.empty((n_runs, n_labs)), np.empty((n_runs, n_labs))
    new_bench, new_robust = bench.copy(), robust.copy()
    new_released = released_flop.copy()
    release = np.zeros((n_runs, n_labs), dtype=np.bool_)
    released_gain = np.zeros((n_runs, n_labs))
    base = np.empty(n_labs)
    train = np.empty(n_labs)
    for r in range(n_runs):
        for lab in range(n_labs):
            is_alive = 1.0 if alive[r, lab] else 0.0
            rate = param_at(training_share, r) * compute[r, lab] * param_at(
                flop_per_h100e_month, r)
            new_run_flop[r, lab] = min(run_flop[r, lab] + rate,
                                       param_at(max_run_months, r) * rate) * is_alive
            new_months[r, lab] = months_since[r, lab] + 1.0
            train[lab] = min(new_run_flop[r, lab], home_ban[r, lab])
            effective = np.log10(max(train[lab], 1.0)) + algo[r, lab]
            base[lab] = (param_at(anchor, r) + param_at(eci_per_log10_flop, r) * effective
                         + param_at(release_noise, r) * release_z[r, lab])
        for lab in range(n_labs):
            # Distillation: an open lab closes part of its gap to the best alive closed
            # model it may learn from (the teacher's home sovereign sets the enforcement).
            gain = 0.0
            if lab_is_open[lab]:
                best = 0.0
                for teacher in range(n_labs):
                    if alive[r, teacher] and not lab_is_open[teacher]:
                        best = max(best, enforcement[r, teacher]
                                   * max(bench[r, teacher] - base[lab], 0.0))
                gain = param_at(distill_efficiency, r) * best
            candidate_bench = base[lab] + bench_focus[lab] * param_at(bench_focus_points, r) + gain
            candidate_robust = (base[lab] - bench_focus[lab] * param_at(robust_cost_points, r)
                                + flywheel[r, lab] + param_at(distill_robust_carry, r) * gain)
            if (alive[r, lab] and new_months[r, lab] >= param_at(min_release_gap, r)
                    and train[lab] > 0 and release_u[r, lab] < param_at(release_hazard, r)
                    and candidate_bench > bench[r, lab]):
                release[r, lab] = True
                new_run_flop[r, lab] = 0.0
                new_months[r, lab] = 0.0
                new_bench[r, lab], new_robust[r, lab] = candidate_bench, candidate_robust
                new_released[r, lab] = train[lab]
                released_gain[r, lab] = gain
    return new_run_flop, new_months, new_bench, new_robust, new_released, release, released_gain


def research_step(state: WorldState, world: World, draws: MonthDraws) -> tuple[Updates, Flows]:
    """Algorithmic progress, training, distillation and releases for one month."""
    pop, p = world.population, world.params
    alive = state.alive
    t, lag = state.month, p.fast_follow_lag_months
    algo = state.algo + p.algo_progress_per_month * alive
    closed_alive = alive & ~pop.lab_is_open
    leader_now = np.where(closed_alive, algo, -np.inf).max(axis=1)
    last = state.leader_algo[:, (t - 1) % (lag + 1)] if t > 0 else state.leader_algo[:, 0]
    leader_now = np.where(np.isfinite(leader_now), leader_now, last)
    leader_past = leader_now if lag == 0 else state.leader_algo[:, (t + 1) % (lag + 1)]
    algo = algo + p.fast_follow_rate * np.maximum(leader_past[:, None] - algo, 0.0) * alive
    leader_algo = state.leader_algo.copy()
    leader_algo[:, t % (lag + 1)] = leader_now

    (run_flop, months_since, bench, robust, released_flop, release,
     released_gain) = candidates_and_releases(
        alive=alive, compute=state.compute, run_flop=state.run_flop,
        months_since=state.months_since_release, algo=algo,
        home_ban=home_ban_threshold(state.ban_threshold, pop),
        enforcement=home_sovereign_value(state.distill_enforcement, pop, 1.0),
        bench=state.bench, robust=state.robust, flywheel=state.flywheel,
        released_flop=state.released_flop, release_z=draws.release_z,
        release_u=draws.release_u, lab_is_open=pop.lab_is_open, bench_focus=pop.bench_focus,
        anchor=world.initial_anchor, training_share=p.training_share,
        flop_per_h100e_month=p.flop_per_h100e_month, max_run_months=p.max_run_months,
        eci_per_log10_flop=p.eci_per_log10_flop, release_noise=p.release_noise_points,
        distill_efficiency=p.distill_efficiency, bench_focus_points=p.bench_focus_points,
        robust_cost_points=p.robust_cost_points,
        distill_robust_carry=p.distill_robust_carry,
        min_release_gap=p.min_release_gap_months, release_hazard=p.release_hazard)
    updates = dict(algo=algo, leader_algo=leader_algo, run_flop=run_flop,
                   months_since_release=months_since, bench=bench, robust=robust,
                   released_flop=released_flop)
    return updates, dict(releases=release, distill_gain=released_gain)
