"""Per-run, per-mechanism random streams (common random numbers).

Run ``r`` of a batch started with ``seed`` owns one ``SeedSequence(seed, spawn_key=(r, k))``
per mechanism stream ``k``. Every stream draws the same fixed-shape block each month,
whatever the state, so two scenarios run on the same seed share every draw that an
intervention does not touch, and a run's draws do not depend on which other runs share its
batch (a batch of R runs equals R single runs). Draws are generated in blocks of
``BLOCK_MONTHS`` months per generator call for speed; the block size is a fixed constant, so
the numbers a month receives depend only on (seed, run, stream, month).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.random.bit_generator import ISeedSequence

from sim.vocab import N_POLICIES

if TYPE_CHECKING:
    from sim.core.world import Population

#: Stream names, in a fixed order: the index is part of each stream's spawn key, so never
#: reorder; append new streams at the end.
STREAMS: tuple[str, ...] = ("policy", "sentiment", "funding", "releases", "market",
                            "decisions", "funding_shocks", "entry", "parameters")
#: The streams the monthly mechanisms draw from (:class:`RandomStreams`); ``parameters``
#: is read once per run, to pick the run's parameter draw (:func:`run_uniforms`).
MONTHLY_STREAMS: tuple[str, ...] = tuple(s for s in STREAMS if s != "parameters")
#: Policies a sovereign decides on each month (``sim.vocab.POLICIES``).
BLOCK_MONTHS = 12


@dataclass(frozen=True)
class MonthDraws:
    """The random numbers one month consumes, shaped ``(runs, ...)``.

    ``shock_u`` (R,): uniform, inverted into a Poisson count of safety shocks.
    ``sentiment_z`` (R, G): standard normal innovations of regional investor sentiment.
    ``raise_u``, ``acquire_u`` (R, L): uniforms for fundraising success and acquisition.
    ``release_u`` (R, L): uniform for release timing; ``release_z`` (R, L): standard normal
    noise on a released model's score. ``choice_u`` (R, B): uniform for each buyer's choice.
    ``decision_u`` (R, S, 3): uniforms for each sovereign's enact/lapse decision per policy.
    ``funding_shock_u`` (R, G): uniforms for random regional funding shocks.
    ``entry_u`` (R, L): uniforms for the entry of entrant slots.
    """

    shock_u: np.ndarray
    sentiment_z: np.ndarray
    raise_u: np.ndarray
    acquire_u: np.ndarray
    release_u: np.ndarray
    release_z: np.ndarray
    choice_u: np.ndarray
    decision_u: np.ndarray
    funding_shock_u: np.ndarray
    entry_u: np.ndarray


class RandomStreams:
    """Random draws for a batch of runs ``run_ids`` (global run numbers) under ``seed``."""

    def __init__(self, seed: int, run_ids: np.ndarray | list[int], *, n_labs: int,
                 n_regions: int, n_buyers: int, n_sovereigns: int) -> None:
        self.seed = int(seed)
        self.run_ids = np.asarray(run_ids, dtype=np.int64)
        self.n_labs, self.n_regions, self.n_buyers = n_labs, n_regions, n_buyers
        self.n_sovereigns = n_sovereigns
        keys = np.array([STREAMS.index(name) for name in MONTHLY_STREAMS])
        words = spawned_seed_words(self.seed, self.run_ids, keys)
        self._gens = {
            name: [np.random.Generator(np.random.PCG64(_Words(w))) for w in words[i]]
            for i, name in enumerate(MONTHLY_STREAMS)
        }
        self._block_start = -1
        self._block: dict[str, np.ndarray] = {}

    @classmethod
    def for_population(cls, seed: int, run_ids: np.ndarray | list[int],
                       pop: Population) -> RandomStreams:
        """Streams sized for ``pop``: its labs, every jurisdiction and its buyers."""
        return cls(seed, run_ids, n_labs=pop.n_labs, n_regions=len(pop.jur_domestic_pref),
                   n_buyers=pop.n_buyers, n_sovereigns=pop.n_sovereigns)

    def _draw_block(self, first_month: int) -> None:
        months, n_l, n_runs = BLOCK_MONTHS, self.n_labs, len(self.run_ids)

        def block(width: int) -> np.ndarray:
            # (runs, months, width): each run fills its own contiguous (months, width) slab.
            return np.empty((n_runs, months, width))

        self._block = {
            "policy": block(1), "sentiment": block(self.n_regions), "funding": block(2 * n_l),
            "release_u": block(n_l), "release_z": block(n_l), "market": block(self.n_buyers),
            "decisions": block(self.n_sovereigns * N_POLICIES),
            "funding_shocks": block(self.n_regions), "entry": block(n_l),
        }
        for r in range(n_runs):
            self._gens["policy"][r].random(out=self._block["policy"][r])
            self._gens["sentiment"][r].standard_normal(out=self._block["sentiment"][r])
            self._gens["funding"][r].random(out=self._block["funding"][r])
            releases = self._gens["releases"][r]  # all uniforms first, then all normals
            releases.random(out=self._block["release_u"][r])
            releases.standard_normal(out=self._block["release_z"][r])
            self._gens["market"][r].random(out=self._block["market"][r])
            self._gens["decisions"][r].random(out=self._block["decisions"][r])
            self._gens["funding_shocks"][r].random(out=self._block["funding_shocks"][r])
            self._gens["entry"][r].random(out=self._block["entry"][r])
        self._block_start = first_month

    def month(self, t: int) -> MonthDraws:
        """Draws for step ``t`` (0-based). Months must be requested in order."""
        if self._block_start < 0 or not self._block_start <= t < self._block_start + BLOCK_MONTHS:
            if t != (self._block_start + BLOCK_MONTHS if self._block_start >= 0 else 0):
                raise ValueError(f"months must be drawn in order; asked for {t}")
            self._draw_block(t)
        i, n_l = t - self._block_start, self.n_labs
        funding = self._block["funding"][:, i]
        return MonthDraws(
            shock_u=self._block["policy"][:, i, 0],
            sentiment_z=self._block["sentiment"][:, i],
            raise_u=funding[:, :n_l],
            acquire_u=funding[:, n_l:],
            release_u=self._block["release_u"][:, i],
            release_z=self._block["release_z"][:, i],
            choice_u=self._block["market"][:, i],
            decision_u=self._block["decisions"][:, i].reshape(-1, self.n_sovereigns, N_POLICIES),
            funding_shock_u=self._block["funding_shocks"][:, i],
            entry_u=self._block["entry"][:, i],
        )


def run_uniforms(seed: int, run_ids: np.ndarray | list[int], stream: str) -> np.ndarray:
    """(R,) the first uniform on [0, 1) of stream ``stream`` of each run in ``run_ids``:
    ``Generator(PCG64(SeedSequence(seed, spawn_key=(r, k)))).random()`` with ``k`` the
    stream's index in :data:`STREAMS`. Depends only on (seed, run, stream)."""
    runs = np.asarray(run_ids, dtype=np.int64)
    words = spawned_seed_words(int(seed), runs, np.array([STREAMS.index(stream)]))[0]
    return np.array([np.random.Generator(np.random.PCG64(_Words(w))).random() for w in words],
                    dtype=float)


class _Words(ISeedSequence):
    """A seed sequence that hands a bit generator precomputed state words."""

    def __init__(self, words: np.ndarray) -> None:
        self.words = words

    def generate_state(self, n_words: int, dtype=np.uint32) -> np.ndarray:
        if n_words != len(self.words) or np.dtype(dtype) != self.words.dtype:
            raise ValueError(f"expected a request for {len(self.words)} {self.words.dtype} words")
        return self.words


# numpy's SeedSequence (O'Neill's seed_seq_fe; numpy/random/bit_generator.pyx) constants.
_INIT_A, _MULT_A = 0x43B0D7E5, 0x931E8875
_INIT_B, _MULT_B = 0x8B51F9DD, 0x58F38DED
_MIX_MULT_L, _MIX_MULT_R = 0xCA01F9DD, 0x4973F715
_MASK32 = 0xFFFFFFFF
_POOL_SIZE = 4
#: Below this many (stream, run) pairs, hashing Python ints one by one beats numpy's calls.
_VECTOR_MIN_PAIRS = 32

Word = int | np.ndarray  # a 32-bit word: a Python int, or a uint64 array of them


def _hashmix(value: Word, hash_const: int) -> tuple[Word, int]:
    value = value ^ hash_const
    hash_const = (hash_const * _MULT_A) & _MASK32
    value = (value * hash_const) & _MASK32
    return value ^ (value >> 16), hash_const


def _mix(x: Word, y: Word) -> Word:
    result = (_MIX_MULT_L * x - _MIX_MULT_R * y) & _MASK32
    return result ^ (result >> 16)


def _uint32_words(n: int) -> list[int]:
    """A non-negative integer as 32-bit words, lowest first (0 is one word)."""
    words = [n & _MASK32]
    while n > _MASK32:
        n >>= 32
        words.append(n & _MASK32)
    return words


def _state_words(pool: list[Word], hash_const: int, tail: list[Word]) -> list[Word]:
    """Mix the entropy words ``tail`` into ``pool`` and generate the 8 output words."""
    pool = list(pool)
    for word in tail:
        for dst in range(_POOL_SIZE):
            mixed, hash_const = _hashmix(word, hash_const)
            pool[dst] = _mix(pool[dst], mixed)
    out, hash_const = [], _INIT_B
    for i in range(2 * _POOL_SIZE):
        data = pool[i % _POOL_SIZE] ^ hash_const
        hash_const = (hash_const * _MULT_B) & _MASK32
        data = (data * hash_const) & _MASK32
        out.append(data ^ (data >> 16))
    return out


def spawned_seed_words(seed: int, run_ids: np.ndarray, streams: np.ndarray) -> np.ndarray:
    """(S, R, 4) uint64: ``SeedSequence(seed, spawn_key=(r, k)).generate_state(4, np.uint64)``
    for every stream ``k`` and run ``r``, the words ``PCG64`` seeds itself from.

    The same hash as numpy's ``SeedSequence``, over whole arrays of (stream, run) pairs: one
    ``SeedSequence`` per run and stream costs ~50 us, more than the draws of a short world.
    ``tests/test_rng.py`` checks it word for word against numpy.
    """
    runs = np.asarray(run_ids, dtype=np.int64)[None, :]
    keys = np.asarray(streams, dtype=np.int64)[:, None]
    if seed < 0 or (runs < 0).any() or (keys < 0).any():
        raise ValueError("seed, run numbers and streams must be non-negative")
    if (runs > _MASK32).any() or (keys > _MASK32).any():
        # Spawn keys of two words or more: numpy's own, one at a time.
        return np.array([[np.random.SeedSequence(seed, spawn_key=(int(r), int(k)))
                          .generate_state(_POOL_SIZE, np.uint64) for r in runs[0]]
                         for k in keys[:, 0]], dtype=np.uint64).reshape(
                             keys.size, runs.size, _POOL_SIZE)
    # The seed (padded to the pool size: a spawn key follows) fills and mixes the pool the
    # same way for every pair; the rest of the seed, then run and stream, are mixed in after.
    entropy = _uint32_words(seed)
    entropy += [0] * (_POOL_SIZE - len(entropy))
    pool: list[Word] = []
    hash_const = _INIT_A
    for word in entropy[:_POOL_SIZE]:
        mixed, hash_const = _hashmix(word, hash_const)
        pool.append(mixed)
    for src in range(_POOL_SIZE):
        for dst in range(_POOL_SIZE):
            if src != dst:
                mixed, hash_const = _hashmix(pool[src], hash_const)
                pool[dst] = _mix(pool[dst], mixed)
    rest = entropy[_POOL_SIZE:]
    if runs.size * keys.size < _VECTOR_MIN_PAIRS:
        words = np.array([[_state_words(pool, hash_const, [*rest, int(r), int(k)])
                           for r in runs[0]] for k in keys[:, 0]], dtype=np.uint64)
    else:
        out = _state_words(pool, hash_const, [*rest, runs.astype(np.uint64),
                                              keys.astype(np.uint64)])
        words = np.stack(np.broadcast_arrays(*out), axis=-1)
    # Pairs of 32-bit words, low word first, as numpy's little-endian view.
    words = words.reshape(keys.size, runs.size, 2 * _POOL_SIZE)
    return words[..., 0::2] | (words[..., 1::2] << np.uint64(32))
