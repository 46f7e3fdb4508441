"""A deterministic, batched pyabc sampler: proposals evaluated ``batch_size`` at a time on
the vectorized engine.

pyabc hands a sampler ``simulate_one()``, a closure that draws a proposal from numpy's
global random state (the prior at ``t = 0``, the perturbation kernel later), simulates it
through the model, computes its distance and decides acceptance. To simulate ``B`` proposals
in one engine batch without changing pyabc's logic, each batch is played twice:

1. **record**: save the global random state, call ``simulate_one()`` ``B`` times with the
   model in record mode: it notes each proposal and returns a placeholder (NaN statistics,
   so nothing is accepted and no weight is computed);
2. simulate the ``B`` recorded proposals at once (:class:`sim.studies.calibration.evaluate.
   Evaluator`), proposal ``k`` of generation ``t`` as engine run ``run_base(t) + k`` (its own
   fresh random numbers);
3. **replay**: restore the random state and call ``simulate_one()`` again: the same draws give
   the same proposals (checked), the model returns each one's simulated statistics, and pyabc
   computes distance, acceptance and weight as usual.

The proposals' draws never depend on what the model returns (the prior and the kernel use
only the random state; the distance and the uniform acceptor use none), so the replay meets
the same proposals in the same order. Particles are kept in proposal order and sampling stops
at exactly ``n`` accepted: later proposals of the last batch are discarded and not counted
as evaluations (``nr_evaluations_`` counts up to the ``n``-th acceptance).

The global random state is reseeded at the start of every generation from ``(seed, t)``
(:func:`generation_seed`), so a generation's particles depend only on the spec, the seed and
the stored previous generation: a resumed calibration continues exactly as an uninterrupted
one would.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pyabc
from pyabc.sampler import Sampler

#: Engine run ids of generation ``t`` start at ``(t + RUN_BLOCK_OFFSET) * RUN_BLOCK``: every
#: evaluation of a calibration has its own run id (block 0 is the prior-predictive sample of
#: the distance's scales, block 1 pyabc's calibration sample ``t = -1``).
RUN_BLOCK = 100_000_000
RUN_BLOCK_OFFSET = 2
#: The key of the statistic vector in pyabc's summary-statistics dict.
STATS_KEY = "s"


def generation_seed(seed: int, t: int) -> np.ndarray:
    """Words seeding numpy's global random state for generation ``t`` (``-1``: pyabc's
    calibration sample) of a calibration under ``seed``."""
    return np.random.SeedSequence(seed, spawn_key=(t + RUN_BLOCK_OFFSET,)).generate_state(8)


def run_base(t: int) -> int:
    """First engine run id of generation ``t``."""
    return (t + RUN_BLOCK_OFFSET) * RUN_BLOCK


class ReplayModel(pyabc.Model):
    """The pyabc model: records proposals, then replays their batch-simulated statistics."""

    def __init__(self, n_stats: int) -> None:
        super().__init__(name="opengap")
        self.placeholder = np.full(n_stats, np.nan)
        self.recording = True
        self.proposals: list[dict[str, float]] = []
        self.replies: np.ndarray = np.empty((0, n_stats))
        self.cursor = 0

    def record(self) -> None:
        self.recording, self.proposals = True, []

    def replay(self, replies: np.ndarray) -> None:
        self.recording, self.replies, self.cursor = False, replies, 0

    def sample(self, pars: Any) -> dict[str, np.ndarray]:
        if self.recording:
            self.proposals.append(dict(pars))
            return {STATS_KEY: self.placeholder}
        k = self.cursor
        self.cursor += 1
        if dict(pars) != self.proposals[k]:  # the determinism this sampler relies on
            raise RuntimeError("pyabc's proposals changed between recording and replay")
        return {STATS_KEY: self.replies[k]}


class BatchSampler(Sampler):
    """Samples a generation in engine batches (module doc).

    ``evaluate(values (B, P), run_ids (B,)) -> (B, S)`` simulates proposals; ``names`` is
    the parameter order of ``values``; ``progress(accepted, n)`` is called after each batch.
    """

    def __init__(self, model: ReplayModel, evaluate: Callable[[np.ndarray, np.ndarray],
                                                              np.ndarray],
                 names: Sequence[str], *, seed: int, batch_size: int,
                 progress: Callable[[int, int], Any] | None = None) -> None:
        super().__init__()
        self.model, self.evaluate, self.names = model, evaluate, list(names)
        self.seed, self.batch_size = seed, batch_size
        self.progress = progress

    def sample_until_n_accepted(self, n: int, simulate_one: Callable[[], Any], t: int, *,
                                max_eval: float = np.inf, all_accepted: bool = False,
                                ana_vars: Any = None) -> pyabc.Sample:
        # pyabc draws from numpy's global random state: it is the state to seed and replay.
        np.random.seed(generation_seed(self.seed, t))  # noqa: NPY002
        sample = self._create_empty_sample()
        accepted = evaluated = simulated = 0
        while accepted < n and evaluated < max_eval:
            state = np.random.get_state()  # noqa: NPY002
            self.model.record()
            for _ in range(self.batch_size):
                simulate_one()
            values = np.array([[float(p[k]) for k in self.names]
                               for p in self.model.proposals], float)
            run_ids = run_base(t) + simulated + np.arange(len(values))
            replies = self.evaluate(values, run_ids)
            simulated += len(values)
            np.random.set_state(state)  # noqa: NPY002
            self.model.replay(replies)
            for _ in range(self.batch_size):
                particle = simulate_one()
                evaluated += 1
                sample.append(particle)
                accepted += bool(particle.accepted)
                if accepted >= n or evaluated >= max_eval:
                    break
            if self.progress is not None:
                self.progress(accepted, n)
        self.nr_evaluations_ = evaluated
        if accepted < n:
            sample.ok = False
        return sample
