"""Compiled loops that store one month's outputs straight into the (runs, months, ...) arrays
of :class:`sim.core.engine.Results`.

The recorder reduces each month's lab and buyer arrays to camp, segment and jurisdiction
totals. In numpy that was a few dozen passes over (runs, labs) and (runs, buyers) arrays,
a concatenation of them, then one strided copy per output into its month column; these
loops make one pass per quantity and write each run's values into its own row at month
``t``.

Each sum adds its terms one by one in lab (or buyer) order starting from 0.0, as the
per-agent reference does, so a run's outputs
are the same bit for bit whatever other runs share its batch. ``tests/test_recording.py``
checks every loop against the numpy form it replaced.
"""

from __future__ import annotations

import numpy as np

from sim.core.kernels import compiled, param_at


def labs_by_camp(lab_camp: np.ndarray, n_camps: int) -> tuple[np.ndarray, np.ndarray]:
    """The labs of each camp, in lab order: ``order`` (L,) lab indices sorted by camp (stable),
    and ``starts`` (C + 1,) where camp ``c``'s labs are ``order[starts[c]:starts[c + 1]]``.
    For :func:`camp_sums_into`."""
    order = np.argsort(lab_camp, kind="stable")
    starts = np.searchsorted(lab_camp[order], np.arange(n_camps + 1))
    return order.astype(np.int64), starts.astype(np.int64)


@compiled
def camp_sums_into(values: np.ndarray, camp_order: np.ndarray, camp_starts: np.ndarray,
                   t: int, out: np.ndarray) -> None:
    """``out[r, t, m, c] = sum of values[r, m, l] over the labs l of camp c``.

    ``values`` (R, M, L), any numeric or bool dtype (True counts 1.0); the camps' labs are
    ``camp_order[camp_starts[c]:camp_starts[c + 1]]`` (:func:`labs_by_camp`); ``out``
    (R, T, M, C) float, of which only month ``t`` is written. Each sum starts from 0.0 and
    adds its labs one by one in lab order, as a per-agent loop does.
    """
    n_runs, n_rows = values.shape[0], values.shape[1]
    n_camps = out.shape[3]
    for r in range(n_runs):
        for m in range(n_rows):
            for c in range(n_camps):
                # One camp at a time, in a register: adding into a small array of camp
                # totals (the loop this replaced) made each addition wait for the previous store,
                # and its stores held back the writes to ``out`` (twice as slow in all).
                total = 0.0
                for i in range(camp_starts[c], camp_starts[c + 1]):
                    total += values[r, m, camp_order[i]]
                out[r, t, m, c] = total


@compiled
def frontiers_into(bench: np.ndarray, robust: np.ndarray, entered: np.ndarray,
                   camp_masks: np.ndarray, frontiers: np.ndarray, t: int,
                   bench_out: np.ndarray, robust_out: np.ndarray) -> None:
    """Advance the released frontiers by one month and store them at month ``t``.

    ``frontiers`` (2, R, C5) bench and robustness frontiers [ECI points], updated in place:
    ``frontier = fmax(frontier, best)`` with ``best`` the largest score (``bench`` /
    ``robust`` (R, L)) over the labs of each output camp (``camp_masks`` (C5, L)) that have
    ``entered`` (R, L); -inf where there is none. ``bench_out`` / ``robust_out``
    (R, T, C5) receive the new frontiers at month ``t``.

    Mirrors numpy's ``np.fmax(frontiers, np.max(np.where(mask, scores, -inf), axis=-1))``:
    the maximum keeps the first of equal values and propagates NaN; ``fmax`` keeps the old
    frontier on ties and ignores a NaN.
    """
    n_runs, n_labs = bench.shape
    n_camps = camp_masks.shape[0]
    for r in range(n_runs):
        for c in range(n_camps):
            for s in range(2):
                scores = bench if s == 0 else robust
                best = -np.inf
                for lab in range(n_labs):
                    x = scores[r, lab] if camp_masks[c, lab] and entered[r, lab] else -np.inf
                    if not (best >= x or np.isnan(best)):
                        best = x
                old = frontiers[s, r, c]
                if not (old >= best or np.isnan(best)):
                    frontiers[s, r, c] = best
            bench_out[r, t, c] = frontiers[0, r, c]
            robust_out[r, t, c] = frontiers[1, r, c]


@compiled
def buyer_outputs_into(choice: np.ndarray, group_demand: np.ndarray,
                       buyer_tokens0: np.ndarray, buyer_group: np.ndarray,
                       buyer_segment: np.ndarray, buyer_jurisdiction: np.ndarray,
                       lab_camp: np.ndarray, lab_is_open: np.ndarray, robust: np.ndarray,
                       released_flop: np.ndarray, large_flop: np.ndarray, t: int,
                       demand_out: np.ndarray, robust_tokens_out: np.ndarray,
                       open_out: np.ndarray, large_open_out: np.ndarray,
                       large_by_camp_out: np.ndarray) -> None:
    """What the buyers wanted and got in a month, in one pass over them, stored at month
    ``t``.

    Buyer ``b`` of run ``r`` uses ``tokens = buyer_tokens0[b] * group_demand[r, g_b]``
    trillion tokens (``sim.core.mechanisms.market.buyer_tokens``: its seeded slice of its
    segment's demand, ``buyer_tokens0`` (B,), times its group's multiplier, ``group_demand``
    (R, G * K)), whether served or not. Tallied buyer by buyer, in buyer order:

    * ``demand_out`` (R, T, K): sum of ``tokens`` over the buyers of each segment;
    * ``robust_tokens_out`` (R, T, K, C4): over the buyers each camp served in each segment,
      ``tokens * robust[r, lab]`` (trillion tokens x ECI points);
    * ``open_out`` / ``large_open_out`` (R, T, G): tokens each jurisdiction's buyers took
      from open models, all of them / those whose ``released_flop`` (R, L) is above
      ``large_flop`` ((R, 1) FLOP, ``policy.ban_threshold_flop``);
    * ``large_by_camp_out`` (R, T, G, C4): the latter by the serving lab's camp.

    Unserved buyers (``choice`` -1) count in the demand only.
    """
    n_runs, n_buyers = choice.shape
    n_segments, n_camps = robust_tokens_out.shape[2], robust_tokens_out.shape[3]
    n_jurisdictions = open_out.shape[2]
    demand = np.empty(n_segments)
    robust_tokens = np.empty((n_segments, n_camps))
    open_tokens = np.empty(n_jurisdictions)
    large_open = np.empty(n_jurisdictions)
    large_by_camp = np.empty((n_jurisdictions, n_camps))
    for r in range(n_runs):
        demand[:] = 0.0
        robust_tokens[:] = 0.0
        open_tokens[:] = 0.0
        large_open[:] = 0.0
        large_by_camp[:] = 0.0
        large = param_at(large_flop, r)
        for b in range(n_buyers):
            tokens = buyer_tokens0[b] * group_demand[r, buyer_group[b]]
            segment = buyer_segment[b]
            demand[segment] += tokens
            lab = choice[r, b]
            if lab < 0:
                continue
            robust_tokens[segment, lab_camp[lab]] += tokens * robust[r, lab]
            if lab_is_open[lab]:
                g = buyer_jurisdiction[b]
                open_tokens[g] += tokens
                if released_flop[r, lab] > large:
                    large_open[g] += tokens
                    large_by_camp[g, lab_camp[lab]] += tokens
        for k in range(n_segments):
            demand_out[r, t, k] = demand[k]
            for c in range(n_camps):
                robust_tokens_out[r, t, k, c] = robust_tokens[k, c]
        for g in range(n_jurisdictions):
            open_out[r, t, g] = open_tokens[g]
            large_open_out[r, t, g] = large_open[g]
            for c in range(n_camps):
                large_by_camp_out[r, t, g, c] = large_by_camp[g, c]
