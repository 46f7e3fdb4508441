"""Posterior summaries and the posterior predictive check.

* Weighted quantiles: the ``q``-quantile of particles ``x_i`` with weights ``w_i`` is the
  smallest ``x`` whose cumulative weight (particles sorted by value) reaches ``q``.
* Weighted correlation: ``corr_w(x, y) = cov_w(x, y) / sqrt(var_w(x) var_w(y))``.
* The posterior predictive: ``draws`` particles drawn with their weights (seeded by the spec),
  each simulated once over the scenario's whole horizon (past the cut too), run ``k`` as engine
  run ``k``.
"""

from __future__ import annotations

import numpy as np

from sim.core.engine import Results
from sim.inputs.seeds import load_seeds
from sim.studies.calibration.evaluate import simulate_values
from sim.studies.calibration.spec import CalibrationSpec

#: Spawn key of the posterior predictive's particle draws (0: the distance's prior sample).
PREDICTIVE_KEY = 1


def weighted_quantile(x: np.ndarray, w: np.ndarray, q: float | np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    cum = np.cumsum(w[order]) / np.sum(w)
    idx = np.searchsorted(cum, np.atleast_1d(q), side="left")
    return x[order][np.clip(idx, 0, len(x) - 1)]


def weighted_mean(x: np.ndarray, w: np.ndarray) -> float:
    return float(np.sum(w * x) / np.sum(w))


def weighted_corr(values: np.ndarray, w: np.ndarray) -> np.ndarray:
    """(P, P) weighted correlation of the particles' parameters (NaN for a constant one)."""
    w = w / w.sum()
    centred = values - w @ values
    cov = centred.T @ (centred * w[:, None])
    sd = np.sqrt(np.diag(cov))
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.outer(sd, sd)


def posterior_predictive(spec: CalibrationSpec, values: np.ndarray, weights: np.ndarray, *,
                         draws: int) -> tuple[Results, np.ndarray]:
    """The simulated ``draws`` runs and the particle index each one used."""
    rng = np.random.default_rng(np.random.SeedSequence(spec.seed, spawn_key=(PREDICTIVE_KEY,)))
    idx = rng.choice(len(weights), size=draws, p=weights / weights.sum())
    seeds = load_seeds(start=spec.full_scenario.time.start)
    results = simulate_values(spec.full_scenario, spec.names, values[idx], np.arange(draws),
                              seed=spec.seed, seeds=seeds)
    return results, idx
