"""The compiled recording loops (``sim.core.recording``) against the numpy forms they
replaced in ``sim.core.engine``, bit for bit: camp sums (``sum_by_lab_group``), released
frontiers (``np.fmax`` of ``camp_best``). The buyer outputs (``buyer_outputs_into``) are
checked against per-buyer loops in ``test_kernels.py``."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core.arrays import sum_by_lab_group
from sim.core.recording import (
    camp_sums_into,
    frontiers_into,
    labs_by_camp,
)

N_K, N_G, N_C = 3, 4, 2


def _bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 9), st.integers(0, 2**32 - 1))
def test_camp_sums_are_sum_by_lab_group(n_runs, n_rows, n_labs, seed):
    rng = np.random.default_rng(seed)
    camp = rng.integers(0, N_C, n_labs)
    values = rng.lognormal(0.0, 4.0, (n_runs, n_rows, n_labs)) * rng.choice([-1.0, 1.0],
                                                                           n_labs)
    flags = rng.random((n_runs, n_rows, n_labs)) < 0.5
    n_months, t = 3, int(rng.integers(0, 3))
    for given_values in (values, flags):
        out = np.full((n_runs, n_months, n_rows, N_C), 7.0)
        camp_sums_into(given_values, *labs_by_camp(camp, N_C), t, out)
        assert _bits(out[:, t]) == _bits(sum_by_lab_group(given_values, camp, N_C))
        assert (np.delete(out, t, axis=1) == 7.0).all()  # other months untouched


def test_frontiers_are_running_fmax_of_camp_best():
    rng = np.random.default_rng(5)
    n_runs, n_labs, n_months = 6, 7, 4
    masks = rng.random((3, n_labs)) < 0.5
    masks[2] = False  # a camp with no labs: -inf
    frontiers = np.full((2, n_runs, 3), -np.inf)
    expected = frontiers.copy()
    bench_out, robust_out = np.zeros((n_runs, n_months, 3)), np.zeros((n_runs, n_months, 3))
    for t in range(n_months):
        scores = rng.choice([50.0, 60.0, 0.0, -0.0, np.nan], (2, n_runs, n_labs))
        entered = rng.random((n_runs, n_labs)) < 0.8
        best = np.max(np.where(masks, np.where(entered, scores, -np.inf)[..., None, :],
                               -np.inf), axis=-1)
        expected = np.fmax(expected, best)
        frontiers_into(scores[0], scores[1], entered, masks, frontiers, t, bench_out,
                       robust_out)
        assert _bits(frontiers) == _bits(expected)
        assert _bits(bench_out[:, t]) == _bits(expected[0])
        assert _bits(robust_out[:, t]) == _bits(expected[1])
