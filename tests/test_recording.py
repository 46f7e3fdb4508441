"""The compiled recording loops (``sim.core.recording``), bit for bit: camp sums against a
per-agent loop adding labs one by one in lab order, released frontiers against the numpy
form they replaced in ``sim.core.engine`` (``np.fmax`` of ``camp_best``). The buyer outputs
(``buyer_outputs_into``) are checked against per-buyer loops in ``test_kernels.py``."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core.recording import (
    camp_sums_into,
    frontiers_into,
    labs_by_camp,
)

N_K, N_G, N_C = 3, 4, 2


def _bits(a: np.ndarray) -> bytes:
    return np.ascontiguousarray(a).tobytes()


def _per_lab_sums(values: np.ndarray, camp: np.ndarray, n_camps: int) -> np.ndarray:
    """(R, M, C) the sums a per-agent loop makes: each camp's labs added one at a time, in
    lab order, from 0.0 (a flag counts 1.0)."""
    out = np.zeros((*values.shape[:2], n_camps))
    for r in range(values.shape[0]):
        for m in range(values.shape[1]):
            for lab, c in enumerate(camp):
                out[r, m, c] += float(values[r, m, lab])
    return out


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 4), st.integers(1, 3), st.integers(1, 9), st.integers(0, 2**32 - 1))
def test_camp_sums_are_the_per_agent_sums(n_runs, n_rows, n_labs, seed):
    rng = np.random.default_rng(seed)
    camp = rng.integers(0, N_C, n_labs)
    values = rng.lognormal(0.0, 4.0, (n_runs, n_rows, n_labs)) * rng.choice([-1.0, 1.0],
                                                                           n_labs)
    flags = rng.random((n_runs, n_rows, n_labs)) < 0.5
    n_months, t = 3, int(rng.integers(0, 3))
    for given_values in (values, flags):
        out = np.full((n_runs, n_months, n_rows, N_C), 7.0)
        camp_sums_into(given_values, *labs_by_camp(camp, N_C), t, out)
        assert _bits(out[:, t]) == _bits(_per_lab_sums(given_values, camp, N_C))
        assert (np.delete(out, t, axis=1) == 7.0).all()  # other months untouched
        alone = np.zeros((1, n_months, n_rows, N_C))  # a run's sums whatever runs share it
        camp_sums_into(given_values[-1:], *labs_by_camp(camp, N_C), t, alone)
        assert _bits(alone[0, t]) == _bits(out[-1, t])


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
