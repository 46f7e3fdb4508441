"""Grouped sums over labs (``sim.core.arrays``): the sums a per-agent loop makes, bit for bit, and
a row's sums do not depend on the other rows (runs) summed with it."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from sim.core.arrays import sum_by_lab_group


@st.composite
def grouped_values(draw):
    n_rows, n_labs, n_groups = draw(st.integers(1, 40)), draw(st.integers(1, 30)), \
        draw(st.integers(1, 5))
    values = draw(arrays(np.float64, (n_rows, n_labs),
                         elements=st.floats(-1e6, 1e6, allow_nan=False, allow_subnormal=False)))
    group = np.array(draw(st.lists(st.integers(0, n_groups - 1), min_size=n_labs,
                                   max_size=n_labs)))
    return values, group, n_groups


@settings(max_examples=100, deadline=None)
@given(grouped_values())
def test_sum_by_lab_group_is_the_per_agent_sum(case):
    values, group, n_groups = case
    got = sum_by_lab_group(values, group, n_groups)
    for r in range(values.shape[0]):
        want = [0.0] * n_groups
        for lab, g in enumerate(group):  # lab order, one addition at a time
            want[g] += float(values[r, lab])
        np.testing.assert_array_equal(got[r], want)
        np.testing.assert_array_equal(sum_by_lab_group(values[r:r + 1], group, n_groups)[0],
                                      got[r])


def test_sum_by_lab_group_keeps_leading_axes_and_counts_bools():
    alive = np.array([[[True, False, True], [False, False, True]]])  # (1, 2, 3)
    got = sum_by_lab_group(alive, np.array([0, 1, 0]), 2)
    np.testing.assert_array_equal(got, [[[2.0, 0.0], [1.0, 0.0]]])
