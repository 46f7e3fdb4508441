"""Likelihood-free Bayesian calibration: ABC-SMC (pyabc) over the spec's priors.

ABC-SMC (Toni et al. 2009; Beaumont et al. 2009; pyabc: Klinger et al. 2018, Schaelte et al.
2022) approximates the posterior ``p(theta | y) ~ p(y | theta) p(theta)`` without a likelihood:
generation ``t`` keeps ``N`` particles ``theta`` whose simulated statistics lie within
``epsilon_t`` of the record's (``d(s(theta), o) <= epsilon_t``, :mod:`.data`), proposed from
the previous generation through a multivariate normal kernel (covariance: the weighted
sample covariance x Silverman's bandwidth factor), weighted ``w ~ prior(theta) /
sum_j w_j K(theta | theta_j)``. ``epsilon_0`` is the median distance of a prior sample and
``epsilon_t`` the weighted median of generation ``t - 1``'s distances (``QuantileEpsilon``,
alpha 0.5) under generation ``t``'s distance, whose scales come from generation ``t - 1``'s
accepted simulations (:func:`generation_distance`; the prior predictive's for generation 0).
The posterior is the last generation's weighted particles.

Stopping: ``max_generations`` generations, or a tolerance at or below ``min_epsilon``, or a
generation whose acceptance rate would fall below ``min_acceptance`` (it is abandoned after
``N / min_acceptance`` evaluations and the previous generation is the posterior).

Each generation runs as its own ``ABCSMC.load`` + ``run(max_nr_populations=1)`` on the
SQLite history ``DIR/abc.db``: an interrupted calibration restarts at the last complete
generation through exactly the code path an uninterrupted one takes, and the sampler reseeds
every generation from ``(seed, t)`` (:mod:`.sampler`), so both give the same posterior.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyabc

from sim.files import write_text_atomic
from sim.studies.calibration.data import (
    Distance,
    Statistic,
    prior_scales,
    series_weights,
    statistics,
)
from sim.studies.calibration.evaluate import Evaluator
from sim.studies.calibration.priors import FastNormalTransition, SpecPrior, scipy_prior
from sim.studies.calibration.sampler import STATS_KEY, BatchSampler, ReplayModel
from sim.studies.calibration.spec import CalibrationError, CalibrationSpec

DB_NAME = "abc.db"
#: What this calibration's folder holds besides pyabc's history: the spec digest (a resume
#: must have the same spec), the stopping reason and each generation's seconds.
STATE_NAME = "calibration-state.json"
#: Quantile of the previous generation's weighted distances that sets the next tolerance.
EPSILON_QUANTILE = 0.5


@dataclass
class Generation:
    t: int
    epsilon: float
    acceptance: float
    evaluations: int
    seconds: float

    def as_dict(self) -> dict[str, Any]:
        return {"t": self.t, "epsilon": self.epsilon, "acceptance": self.acceptance,
                "evaluations": self.evaluations, "seconds": self.seconds}


@dataclass
class CalibrationResult:
    """The posterior (last generation), how it was reached, and the distance used."""

    spec: CalibrationSpec
    stats: tuple[Statistic, ...]
    distance: Distance
    values: np.ndarray  # (N, P) particles, schema units, the spec's parameter order
    weights: np.ndarray  # (N,) sum to 1
    generations: list[Generation]
    stopped: str
    seconds: float
    evaluations_scales: int  # the prior predictive sample of generation 0's scales

    @property
    def names(self) -> list[str]:
        return self.spec.names


def _read_state(out: Path) -> dict[str, Any]:
    try:
        return json.loads((out / STATE_NAME).read_text())
    except (OSError, ValueError):
        return {}


def _write_state(out: Path, state: dict[str, Any]) -> None:
    write_text_atomic(out / STATE_NAME, json.dumps(state, indent=2, sort_keys=True) + "\n")


def check_folder(spec: CalibrationSpec, out: Path, *, force: bool) -> bool:
    """True when ``out`` holds a calibration of this spec to resume. A history of another
    spec (or of unknown origin) is refused unless ``force`` (then it is removed)."""
    db = out / DB_NAME
    if not db.exists():
        return False
    state = _read_state(out)
    if state.get("digest") == spec.digest:
        return True
    if not force:
        what = "another spec" if state.get("digest") else "an unknown calibration"
        raise CalibrationError(f"{out}: holds {DB_NAME} of {what}; use another --out folder or "
                               "--force to start over")
    db.unlink()
    (out / STATE_NAME).unlink(missing_ok=True)
    return False


def prior_sample(spec: CalibrationSpec, n: int) -> np.ndarray:
    """(n, P) draws from the priors, seeded by the spec (the distance's scale sample)."""
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(0,)))
    return np.stack([scipy_prior(p).rvs(size=n, random_state=rng) for p in spec.priors],
                    axis=1)


def _generations(history: pyabc.History, state: dict[str, Any]) -> list[Generation]:
    pops = history.get_all_populations()
    pops = pops[pops.t >= 0].sort_values("t")
    seconds = state.get("seconds", {})
    out = []
    for row in pops.itertuples():
        out.append(Generation(int(row.t), float(row.epsilon),
                              float(row.particles) / float(row.samples), int(row.samples),
                              float(seconds.get(str(int(row.t)), float("nan")))))
    return out


def generation_distance(history: pyabc.History, t: int, observed: np.ndarray,
                        weights: np.ndarray, stats: tuple[Statistic, ...],
                        prior_scale: np.ndarray) -> Distance:
    """The distance that samples generation ``t``: scales from generation ``t - 1``'s stored,
    accepted simulations (the prior predictive's for ``t = 0``), :func:`.data.prior_scales`
    rules; a function of the stored history only, so a resume recomputes it exactly."""
    if t == 0:
        return Distance(observed, prior_scale, weights)
    _w, sums = history.get_weighted_sum_stats(t=t - 1)
    sample = np.stack([np.asarray(x[STATS_KEY], float) for x in sums])
    return Distance(observed, prior_scales(sample, stats), weights)


def calibrate(spec: CalibrationSpec, out: Path, *, processes: int = 1, resume: bool = False,
              progress: Callable[[int, int], Any] | None = None,
              on_generation: Callable[[Generation], Any] | None = None,
              on_start: Callable[[str], Any] | None = None,
              max_generations: int | None = None) -> CalibrationResult:
    """Run (or resume, when ``resume``) the calibration of ``spec`` with its history in
    ``out/abc.db``; ``max_generations`` caps this call's total below the spec's (a test of
    interruption). ``progress(accepted, n)`` reports within a generation, ``on_generation``
    each finished one, ``on_start`` what is about to happen (one line)."""
    t_start = time.monotonic()
    logging.getLogger("ABC").setLevel(logging.WARNING)
    stats = statistics(spec)
    observed = np.array([s.observed for s in stats])
    state = _read_state(out) if resume else {}
    state |= {"digest": spec.digest}
    state.setdefault("seconds", {})
    cap = min(spec.max_generations, max_generations or spec.max_generations)
    n = spec.population_size
    db = "sqlite:///" + str((out / DB_NAME).resolve())
    say = on_start or (lambda _msg: None)
    weights = series_weights(stats)
    with Evaluator(spec, stats, processes=processes) as evaluate:
        say(f"prior predictive sample of {n} simulations for the distance's scales")
        prior_scale = prior_scales(evaluate(prior_sample(spec, n), np.arange(n)), stats)
        current = [Distance(observed, prior_scale, weights)]  # of the generation sampled
        model = ReplayModel(len(stats))
        sampler = BatchSampler(model, evaluate, spec.names, seed=spec.seed,
                               batch_size=spec.batch_size, progress=progress)
        fresh = not resume
        while True:
            abc = pyabc.ABCSMC(
                model, SpecPrior(spec),
                pyabc.distance.FunctionDistance(
                    lambda x, x0: current[0](x[STATS_KEY])),
                population_size=n, sampler=sampler,
                eps=pyabc.QuantileEpsilon(initial_epsilon="from_sample",
                                          alpha=EPSILON_QUANTILE),
                transitions=FastNormalTransition())
            if fresh:
                history = abc.new(db, {STATS_KEY: observed})
                _write_state(out, state)
            else:
                history = abc.load(db, 1)
            fresh = False
            done = history.n_populations
            current[0] = generation_distance(history, done, observed, weights, stats,
                                             prior_scale)
            gens = _generations(history, state)
            if done >= cap:
                stopped = state.get("stopped") or f"max_generations ({cap})"
                break
            if gens and gens[-1].epsilon <= spec.min_epsilon:
                stopped = f"min_epsilon ({spec.min_epsilon:g})"
                break
            if state.get("stopped", "").startswith("min_acceptance"):
                stopped = state["stopped"]
                break
            t0 = time.monotonic()
            abc.run(max_nr_populations=1, min_acceptance_rate=spec.min_acceptance)
            if history.n_populations == done:  # the generation was abandoned
                state["stopped"] = (f"min_acceptance ({spec.min_acceptance:g}): generation "
                                    f"{done} abandoned")
                _write_state(out, state)
                continue
            state["seconds"][str(done)] = time.monotonic() - t0
            _write_state(out, state)
            if on_generation is not None:
                on_generation(_generations(history, state)[-1])
        evaluations_scales = n
    # The distance that sampled the posterior (the last generation).
    distance = generation_distance(history, history.max_t, observed, weights, stats,
                                   prior_scale)
    frame, w = history.get_distribution(m=0, t=history.max_t)
    order = np.argsort(np.asarray(frame.index), kind="stable")  # particle id order
    values = frame[spec.names].to_numpy(float)[order]
    w = np.asarray(w, float)[order]
    return CalibrationResult(spec=spec, stats=stats, distance=distance, values=values,
                             weights=w / w.sum(), generations=_generations(history, state),
                             stopped=stopped, seconds=time.monotonic() - t_start,
                             evaluations_scales=evaluations_scales)
