"""The priors and the perturbation kernel as pyabc objects, with fast densities and draws.

pyabc evaluates the prior density of every proposal (to reject those outside the bounds, and
in the importance weight ``prior / proposal``) and draws every proposal from the kernel. Its
stock objects do this through scipy's frozen distributions and pandas, ~1-2 ms per proposal
with 11 parameters, more than the simulation itself; these subclasses compute the same
quantities with plain numpy:

* prior density: ``prod_k f_k(x_k)`` with ``f = 1 / (b - a)`` (uniform), ``1 / (x ln(b / a))``
  (loguniform) or ``phi((x - mu) / sd) / (sd (Phi(beta) - Phi(alpha)))`` (normal truncated to
  ``[a, b]``, ``alpha = (a - mu) / sd``, ``beta = (b - mu) / sd``), 0 outside ``[a, b]``;
  draws (the prior sample, generation 0) stay scipy's;
* kernel draw: a particle chosen with its weight (``np.random.choice``, as pyabc) plus
  ``z @ A`` with ``z`` standard normal and ``A = sqrt(s)[:, None] * v`` from the SVD of the
  kernel covariance, computed once per generation: numpy's own ``multivariate_normal``
  computes the same ``A`` on every call (same draws, same numbers).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyabc
from pyabc.parameters import Parameter
from scipy import stats as sps

from sim.studies.calibration.spec import CalibrationSpec, Prior

_SQRT_2PI = math.sqrt(2.0 * math.pi)


def scipy_prior(prior: Prior) -> Any:
    """The frozen scipy distribution of a prior (a normal one truncated to its bounds)."""
    lo, hi = prior.lower, prior.upper
    if prior.distribution == "uniform":
        return sps.uniform(lo, hi - lo)
    if prior.distribution == "loguniform":
        return sps.loguniform(lo, hi)
    assert prior.mean is not None and prior.sd is not None
    return sps.truncnorm((lo - prior.mean) / prior.sd, (hi - prior.mean) / prior.sd,
                         loc=prior.mean, scale=prior.sd)


class SpecPrior(pyabc.Distribution):
    """The spec's priors: scipy's draws, a numpy density."""

    def __init__(self, spec: CalibrationSpec) -> None:
        super().__init__(**{p.path: _rv(p) for p in spec.priors})
        self._priors = {p.path: p for p in spec.priors}
        self._mass = {p.path: (1.0 if p.distribution != "normal" else float(
            sps.norm.cdf((p.upper - p.mean) / p.sd) - sps.norm.cdf((p.lower - p.mean) / p.sd)))
            for p in spec.priors}

    def pdf(self, x: Parameter | dict) -> float:
        if set(x.keys()) != set(self._priors):
            raise ValueError(f"parameters {sorted(x.keys())} are not the priors' "
                             f"{sorted(self._priors)}")
        out = 1.0
        for key, value in x.items():
            p = self._priors[key]
            v = float(value)
            if not p.lower <= v <= p.upper:
                return 0.0
            if p.distribution == "uniform":
                out /= p.upper - p.lower
            elif p.distribution == "loguniform":
                out /= v * math.log(p.upper / p.lower)
            else:
                z = (v - p.mean) / p.sd  # type: ignore[operator]
                out *= math.exp(-0.5 * z * z) / (_SQRT_2PI * p.sd * self._mass[key])
        return out


def _rv(p: Prior) -> pyabc.RV:
    """pyabc's random variable of a prior (its draws are scipy's)."""
    lo, hi = p.lower, p.upper
    if p.distribution == "uniform":
        return pyabc.RV("uniform", lo, hi - lo)
    if p.distribution == "loguniform":
        return pyabc.RV("loguniform", lo, hi)
    assert p.mean is not None and p.sd is not None
    return pyabc.RV("truncnorm", (lo - p.mean) / p.sd, (hi - p.mean) / p.sd, p.mean, p.sd)


class FastNormalTransition(pyabc.MultivariateNormalTransition):
    """pyabc's multivariate normal kernel with its draw factor computed once per fit."""

    def fit(self, X: Any, w: np.ndarray) -> None:
        super().fit(X, w)
        _u, s, v = np.linalg.svd(self.cov)
        self._factor = np.sqrt(s)[:, None] * v
        self._columns = list(X.columns)

    def rvs_single(self) -> Parameter:
        index = np.random.choice(self._range, p=self.w, replace=True)  # noqa: NPY002
        z = np.random.standard_normal(self._factor.shape[0])  # noqa: NPY002
        x = self._X_arr[index] + z @ self._factor
        return Parameter(dict(zip(self._columns, map(float, x), strict=True)))
