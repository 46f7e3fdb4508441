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

if TYPE_CHECKING:
    from sim.world import Population

#: Stream names, in a fixed order: the index is part of each stream's spawn key, so never
#: reorder; append new streams at the end.
STREAMS: tuple[str, ...] = ("policy", "sentiment", "funding", "releases", "market",
                            "decisions", "funding_shocks")
#: Policies a sovereign decides on each month (``sim.world.POLICIES``).
N_POLICIES = 3
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


class RandomStreams:
    """Random draws for a batch of runs ``run_ids`` (global run numbers) under ``seed``."""

    def __init__(self, seed: int, run_ids: np.ndarray | list[int], *, n_labs: int,
                 n_regions: int, n_buyers: int, n_sovereigns: int) -> None:
        self.seed = int(seed)
        self.run_ids = np.asarray(run_ids, dtype=np.int64)
        self.n_labs, self.n_regions, self.n_buyers = n_labs, n_regions, n_buyers
        self.n_sovereigns = n_sovereigns
        self._gens = {
            name: [
                np.random.Generator(np.random.PCG64(
                    np.random.SeedSequence(self.seed, spawn_key=(int(r), k))))
                for r in self.run_ids
            ]
            for k, name in enumerate(STREAMS)
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
        months, n_l = BLOCK_MONTHS, self.n_labs

        def stacked(name: str, fn: str, width: int) -> np.ndarray:
            # (months, runs, width): each run draws its own (months, width) block.
            return np.stack(
                [getattr(g, fn)((months, width)) for g in self._gens[name]], axis=1
            )

        releases = np.stack(
            [np.concatenate([g.random((months, n_l)), g.standard_normal((months, n_l))], axis=1)
             for g in self._gens["releases"]],
            axis=1,
        )
        self._block = {
            "policy": stacked("policy", "random", 1),
            "sentiment": stacked("sentiment", "standard_normal", self.n_regions),
            "funding": stacked("funding", "random", 2 * n_l),
            "releases": releases,
            "market": stacked("market", "random", self.n_buyers),
            "decisions": stacked("decisions", "random", self.n_sovereigns * N_POLICIES),
            "funding_shocks": stacked("funding_shocks", "random", self.n_regions),
        }
        self._block_start = first_month

    def month(self, t: int) -> MonthDraws:
        """Draws for step ``t`` (0-based). Months must be requested in order."""
        if self._block_start < 0 or not self._block_start <= t < self._block_start + BLOCK_MONTHS:
            if t != (self._block_start + BLOCK_MONTHS if self._block_start >= 0 else 0):
                raise ValueError(f"months must be drawn in order; asked for {t}")
            self._draw_block(t)
        i, n_l = t - self._block_start, self.n_labs
        funding, releases = self._block["funding"][i], self._block["releases"][i]
        return MonthDraws(
            shock_u=self._block["policy"][i][:, 0],
            sentiment_z=self._block["sentiment"][i],
            raise_u=funding[:, :n_l],
            acquire_u=funding[:, n_l:],
            release_u=releases[:, :n_l],
            release_z=releases[:, n_l:],
            choice_u=self._block["market"][i],
            decision_u=self._block["decisions"][i].reshape(-1, self.n_sovereigns, N_POLICIES),
            funding_shock_u=self._block["funding_shocks"][i],
        )
