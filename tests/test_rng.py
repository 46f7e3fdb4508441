"""The random streams are exactly the documented ones: run ``r``'s stream ``k`` is
``PCG64(SeedSequence(seed, spawn_key=(r, k)))``, drawn in blocks of ``BLOCK_MONTHS`` months
in a fixed call order. The fast seeding (``spawned_seed_words``) must give numpy's words."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.core.rng import BLOCK_MONTHS, STREAMS, RandomStreams, spawned_seed_words
from sim.vocab import N_POLICIES


def _numpy_words(seed: int, runs, streams) -> np.ndarray:
    return np.array([[np.random.SeedSequence(seed, spawn_key=(int(r), int(k)))
                      .generate_state(4, np.uint64) for r in runs] for k in streams],
                    dtype=np.uint64).reshape(len(streams), len(runs), 4)


@pytest.mark.parametrize("seed", [0, 1, 20260401, 2**32 - 1, 2**32, 2**64 + 5, 2**130 + 3])
@pytest.mark.parametrize("runs", [[0], [7], list(range(40)), [5, 2**32 - 1, 2**32, 2**40 + 7]])
def test_seed_words_are_numpys(seed: int, runs: list[int]) -> None:
    streams = np.arange(len(STREAMS))
    np.testing.assert_array_equal(spawned_seed_words(seed, np.array(runs), streams),
                                  _numpy_words(seed, runs, streams))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**96), runs=st.lists(st.integers(0, 2**33), min_size=1,
                                                  max_size=50),
       streams=st.lists(st.integers(0, 9), min_size=1, max_size=6))
def test_seed_words_are_numpys_anywhere(seed: int, runs: list[int], streams: list[int]) -> None:
    np.testing.assert_array_equal(spawned_seed_words(seed, np.array(runs), np.array(streams)),
                                  _numpy_words(seed, runs, streams))


def test_negative_seed_is_refused() -> None:
    with pytest.raises(ValueError):
        spawned_seed_words(-1, np.array([0]), np.array([0]))


def test_draws_are_the_documented_streams() -> None:
    """Months 0 .. 2 blocks + 1 of runs 3 and 40, rebuilt from numpy's own seeding."""
    seed, runs, n_l, n_g, n_b, n_s = 11, [3, 40], 4, 7, 5, 3
    streams = RandomStreams(seed, runs, n_labs=n_l, n_regions=n_g, n_buyers=n_b,
                            n_sovereigns=n_s)
    months = 2 * BLOCK_MONTHS + 1
    got = [streams.month(t) for t in range(months)]
    for i, r in enumerate(runs):
        gen = {name: np.random.Generator(np.random.PCG64(
            np.random.SeedSequence(seed, spawn_key=(r, k)))) for k, name in enumerate(STREAMS)}
        for first in range(0, months, BLOCK_MONTHS):
            policy = gen["policy"].random((BLOCK_MONTHS, 1))
            sentiment = gen["sentiment"].standard_normal((BLOCK_MONTHS, n_g))
            funding = gen["funding"].random((BLOCK_MONTHS, 2 * n_l))
            release_u = gen["releases"].random((BLOCK_MONTHS, n_l))
            release_z = gen["releases"].standard_normal((BLOCK_MONTHS, n_l))
            market = gen["market"].random((BLOCK_MONTHS, n_b))
            decisions = gen["decisions"].random((BLOCK_MONTHS, n_s * N_POLICIES))
            funding_shocks = gen["funding_shocks"].random((BLOCK_MONTHS, n_g))
            for j, t in enumerate(range(first, min(first + BLOCK_MONTHS, months))):
                d = got[t]
                assert d.shock_u[i] == policy[j, 0]
                np.testing.assert_array_equal(d.sentiment_z[i], sentiment[j])
                np.testing.assert_array_equal(d.raise_u[i], funding[j, :n_l])
                np.testing.assert_array_equal(d.acquire_u[i], funding[j, n_l:])
                np.testing.assert_array_equal(d.release_u[i], release_u[j])
                np.testing.assert_array_equal(d.release_z[i], release_z[j])
                np.testing.assert_array_equal(d.choice_u[i], market[j])
                np.testing.assert_array_equal(d.decision_u[i],
                                              decisions[j].reshape(n_s, N_POLICIES))
                np.testing.assert_array_equal(d.funding_shock_u[i], funding_shocks[j])
