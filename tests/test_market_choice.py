"""The buyer choice (``market.choose``, compiled in ``sim.core.kernels``) against the
per-buyer rule.

The rule, as in ``tests/reference.py``: softmax of the group's utilities in lab order, then
the count of models ``m`` with ``C_m + extra [m >= c] <= U (1 + extra)``, falling back to the
last model with ``q > 0`` past the end. Hypothesis draws utilities with unavailable models
and whole groups with nothing to buy, current models that are gone, no current model, and
draws that sit exactly on interval boundaries, where an inexact search would slip (for buyers
who stay, settled by the two ends of their current interval, and for buyers who move).
"""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core.mechanisms.market import choose

N_G, N_K = 2, 3


def _per_buyer(u_row: list[float], c: int, draw: float, switch_cost: float) -> int:
    """One buyer's choice, written like the reference's market loop."""
    top = max(u_row)
    if top == -math.inf:
        return -1
    weights = [math.exp(x - top) for x in u_row]
    total = sum(weights)
    q = [w / total for w in weights]
    q_c = q[c] if c >= 0 else 0.0
    current = c if c >= 0 else 0
    extra = q_c * math.expm1(switch_cost)
    threshold = draw * (1.0 + extra)
    cum, new = 0.0, 0
    for m in range(len(q)):
        cum += q[m]
        if cum + (extra if m >= current else 0.0) <= threshold:
            new += 1
    if new >= len(q):
        new = max(m for m in range(len(q)) if q[m] > 0)
    return new


@st.composite
def markets(draw):
    n_labs = draw(st.integers(1, 9))
    n_runs = draw(st.integers(1, 3))
    n_buyers = draw(st.integers(1, 8))
    finite = st.floats(-30.0, 30.0, allow_nan=False)
    utility = st.one_of(finite, finite, finite, st.just(-math.inf), st.just(0.0))
    u = np.array(draw(st.lists(utility, min_size=n_labs * N_G * N_K * n_runs,
                               max_size=n_labs * N_G * N_K * n_runs)))
    u = u.reshape(n_runs, N_G, N_K, n_labs)
    if draw(st.booleans()):  # a group with nothing available
        u[:, draw(st.integers(0, N_G - 1)), draw(st.integers(0, N_K - 1)), :] = -math.inf
    jurisdiction = np.array(draw(st.lists(st.integers(0, N_G - 1), min_size=n_buyers,
                                          max_size=n_buyers)))
    segment = np.array(draw(st.lists(st.integers(0, N_K - 1), min_size=n_buyers,
                                     max_size=n_buyers)))
    switch_cost = np.array(draw(st.lists(st.floats(0.0, 3.0), min_size=N_K, max_size=N_K)))
    pop = SimpleNamespace(buyer_jurisdiction=jurisdiction, buyer_segment=segment,
                          seg_switch_cost=switch_cost,
                          # as sim.core.world.build_population derives them
                          buyer_group=jurisdiction * N_K + segment,
                          buyer_switch_gain=np.expm1(switch_cost)[segment])
    choice = np.array(draw(st.lists(st.integers(-1, n_labs - 1), min_size=n_runs * n_buyers,
                                    max_size=n_runs * n_buyers))).reshape(n_runs, n_buyers)
    draws = np.array(draw(st.lists(st.floats(0.0, 1.0, exclude_max=True),
                                   min_size=n_runs * n_buyers,
                                   max_size=n_runs * n_buyers))).reshape(n_runs, n_buyers)
    # Put some draws exactly on a boundary of the buyer's adjusted CDF.
    for r in range(n_runs):
        for b in range(n_buyers):
            if draw(st.integers(0, 3)) == 0:
                draws[r, b] = _boundary(u[r, pop.buyer_jurisdiction[b], pop.buyer_segment[b]],
                                        int(choice[r, b]),
                                        pop.seg_switch_cost[pop.buyer_segment[b]],
                                        draw(st.integers(0, n_labs)))
    return u, choice, draws, pop


def _boundary(u_row: np.ndarray, c: int, switch_cost: float, m: int) -> float:
    """A draw whose threshold ``U (1 + extra)`` lands on (or just by) ``g(m - 1)``."""
    top = max(u_row)
    if top == -math.inf or m == 0:
        return 0.0
    weights = [math.exp(x - top) for x in u_row]
    q = [w / sum(weights) for w in weights]
    extra = (q[c] if c >= 0 else 0.0) * math.expm1(switch_cost)
    g = sum(q[:m]) + (extra if m - 1 >= max(c, 0) else 0.0)
    return min(g / (1.0 + extra), math.nextafter(1.0, 0.0))


@settings(max_examples=150, deadline=None)
@given(markets())
def test_choose_matches_the_per_buyer_rule(world):
    u, choice, draws, pop = world
    want = np.array([[_per_buyer(u[r, pop.buyer_jurisdiction[b], pop.buyer_segment[b]].tolist(),
                                 int(choice[r, b]), float(draws[r, b]),
                                 float(pop.seg_switch_cost[pop.buyer_segment[b]]))
                      for b in range(choice.shape[1])] for r in range(choice.shape[0])])
    np.testing.assert_array_equal(choose(u, choice, draws, pop), want)


@settings(max_examples=50, deadline=None)
@given(markets())
def test_choose_of_a_batch_is_choose_of_each_run(world):
    u, choice, draws, pop = world
    batch = choose(u, choice, draws, pop)
    for r in range(choice.shape[0]):
        alone = choose(u[r:r + 1], choice[r:r + 1], draws[r:r + 1], pop)
        np.testing.assert_array_equal(alone[0], batch[r])
