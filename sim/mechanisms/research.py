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

from typing import Any

import numpy as np

from sim.rng import MonthDraws
from sim.world import Params, Population, World, WorldState


def home_sovereign_value(per_sovereign: np.ndarray, pop: Population,
                         default: float) -> np.ndarray:
    """(R, L) each lab's home sovereign's value of an (R, S) array; ``default`` for labs
    whose home region has no sovereign."""
    return np.where(pop.lab_has_sovereign, per_sovereign[:, pop.lab_sovereign_column], default)


def home_ban_threshold(ban_threshold: np.ndarray, pop: Population) -> np.ndarray:
    """(R, L) FLOP above which a lab may not release open weights (inf if not banned)."""
    return np.where(pop.lab_is_open, home_sovereign_value(ban_threshold, pop, np.inf), np.inf)


def distillation_gain(base: np.ndarray, bench: np.ndarray, alive: np.ndarray,
                      enforcement: np.ndarray, pop: Population, p: Params) -> np.ndarray:
    """(R, L) ECI points an open lab adds to ``base`` by distilling the closed models (0 for
    closed labs)."""
    students, teachers = pop.open_labs, pop.closed_labs
    enf = home_sovereign_value(enforcement, pop, 1.0)[:, None, teachers]
    headroom = np.maximum(bench[:, None, teachers] - base[:, students, None], 0.0)
    # (R, student, teacher); exited teachers give 0, as does every open lab in the full
    # (student, lab) table: ``initial=0.0`` keeps that floor when no teacher is left.
    best = np.where(alive[:, None, teachers], enf * headroom, 0.0).max(axis=2, initial=0.0)
    gain = np.zeros(base.shape)
    gain[:, students] = p.distill_efficiency * best
    return gain


def research_step(
    state: WorldState, world: World, draws: MonthDraws
) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    pop, p = world.population, world.params
    alive = state.alive
    t, lag = state.month, p.fast_follow_lag_months
    algo = state.algo + p.algo_progress_per_month * alive
    closed_alive = alive & ~pop.lab_is_open
    leader_now = np.where(closed_alive, algo, -np.inf).max(axis=1)
    last = state.leader_algo[(t - 1) % (lag + 1)] if t > 0 else state.leader_algo[0]
    leader_now = np.where(np.isfinite(leader_now), leader_now, last)
    leader_past = leader_now if lag == 0 else state.leader_algo[(t + 1) % (lag + 1)]
    algo = algo + p.fast_follow_rate * np.maximum(leader_past[:, None] - algo, 0.0) * alive
    leader_algo = state.leader_algo.copy()
    leader_algo[t % (lag + 1)] = leader_now

    rate = p.training_share * state.compute * p.flop_per_h100e_month
    run_flop = np.minimum(state.run_flop + rate, p.max_run_months * rate) * alive
    months_since = state.months_since_release + 1.0
    train_flop = np.minimum(run_flop, home_ban_threshold(state.ban_threshold, pop))
    effective = np.log10(np.maximum(train_flop, 1.0)) + algo  # log10 of >= 1: never -inf
    base = (world.initial_anchor + p.eci_per_log10_flop * effective
            + p.release_noise_points * draws.release_z)
    gain = distillation_gain(base, state.bench, alive, state.distill_enforcement, pop, p)
    new_bench = base + pop.bench_focus * p.bench_focus_points + gain
    new_robust = (base - pop.bench_focus * p.robust_cost_points + state.flywheel
                  + p.distill_robust_carry * gain)
    release = (alive & (months_since >= p.min_release_gap_months) & (train_flop > 0)
               & (draws.release_u < p.release_hazard) & (new_bench > state.bench))
    updates = dict(
        algo=algo, leader_algo=leader_algo,
        run_flop=np.where(release, 0.0, run_flop),
        months_since_release=np.where(release, 0.0, months_since),
        bench=np.where(release, new_bench, state.bench),
        robust=np.where(release, new_robust, state.robust),
        released_flop=np.where(release, train_flop, state.released_flop),
    )
    return updates, dict(releases=release, distill_gain=np.where(release, gain, 0.0))
