"""Fit scenario parameters to the observed ECI frontiers by minimising a loss over the
ensemble median.

Loss (ECI points squared). For fitted series ``s`` with weight ``w_s`` and the months ``t``
of the calibration period where the record has a value::

    L(theta) = sum_s w_s sum_t (m_s,t(theta) - y_s,t)^2 / sum_s w_s n_s

where ``y`` is the observed released-model running maximum (Epoch ECI) and ``m`` the median
over the ensemble of the simulated released frontier of the same camp; ``sqrt(L)`` is a
weighted RMSE in ECI points. Every evaluation simulates the same runs under the same seed
(common random numbers), so ``L`` is a deterministic and mostly smooth function of
``theta`` and a derivative-free optimiser (Nelder-Mead or Powell from scipy.optimize) can
follow it. The optimiser works in unit coordinates ``u = (theta - lower) / (upper - lower)``
inside the bounds; integer parameters (lags) are rounded when simulated and, after the
search, profiled over every integer in their bounds with the other parameters held.

Only months inside the period enter the loss, and a month's simulated value depends only on
the scenario up to that month, so nothing after the period informs the fit.

Uncertainty: a Gauss-Newton (Laplace) approximation at the optimum. With residuals ``e``
(weighted, over the n fitted observations), Jacobian ``J`` by central differences (step 5%
of each parameter's range), ``cov = s^2 (J'J)^-1 * n / n_eff`` with ``s^2 = SSE / (n - p)``.
Running maxima are strongly autocorrelated (a series changes only when a better model is
released), so the covariance is inflated by ``n / n_eff`` where ``n_eff`` counts the months
in which an observed series changed (each a new piece of information). Integer parameters
are held at their fitted value (their loss profile is reported instead).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.optimize import minimize

from sim.calendar import parse_month
from sim.core.engine import Results, simulate
from sim.inputs.scenario import Scenario
from sim.inputs.seeds import EciHistory, Seeds, load_history, load_seeds, seeds_dir
from sim.studies.calibration.spec import CalibrationError, CalibrationSpec
from sim.vocab import OUTPUT_CAMPS

#: Step of the central differences for the Jacobian, as a share of each parameter's range.
JACOBIAN_STEP = 0.05
#: Initial simplex edge (unit coordinates): large enough to step over the small kinks that
#: discrete release decisions leave in the median.
SIMPLEX_STEP = 0.15
#: Fitted values are rounded to this many significant digits (the fragment's precision);
#: every reported statistic is computed at the rounded values.
SIGNIFICANT_DIGITS = 4


@dataclass(frozen=True)
class Observed:
    """Observed monthly series (ECI points, NaN before a camp's first scored model) from
    month index ``first_month``."""

    first_month: int
    series: dict[str, np.ndarray]

    @classmethod
    def from_history(cls, history: EciHistory) -> Observed:
        return cls(history.first_month, {name: np.asarray(getattr(history, name), float)
                                         for name in ("closed", "open", "open_cn", "open_us")})

    def window(self, names: tuple[str, ...], start: int, n_months: int) -> np.ndarray:
        """(S, n_months) values for months ``start ..``; NaN outside the record."""
        out = np.full((len(names), n_months), np.nan)
        for i, name in enumerate(names):
            values = self.series[name]
            for t in range(n_months):
                k = start + t - self.first_month
                if 0 <= k < len(values):
                    out[i, t] = values[k]
        return out


def load_observed() -> Observed:
    """The Epoch ECI record, 2023-01..2026-03 (seeds/derived/eci_frontier_monthly.csv)."""
    return Observed.from_history(load_history(seeds_dir() / "derived"
                                              / "eci_frontier_monthly.csv"))


def round_significant(x: float, digits: int = SIGNIFICANT_DIGITS) -> float:
    if x == 0 or not math.isfinite(x):
        return float(x)
    return float(round(x, digits - 1 - int(math.floor(math.log10(abs(x))))))


def camp_frontiers(results: Results, names: tuple[str, ...]) -> np.ndarray:
    """(R, S, T) simulated released frontier of each named output camp."""
    idx = [OUTPUT_CAMPS.index(n) for n in names]
    return np.moveaxis(results.arrays["bench_frontier"][:, :, idx], 2, 1)


class Objective:
    """The loss of a spec as a function of parameter values (or unit coordinates)."""

    def __init__(self, spec: CalibrationSpec, observed: Observed, seeds: Seeds) -> None:
        self.spec, self.seeds = spec, seeds
        self.sim_start = parse_month(spec.scenario.time.start)
        self.offset = spec.period_start - self.sim_start  # period's first simulated step
        self.n_period = spec.period_end - spec.period_start + 1
        self.target = observed.window(spec.series, spec.period_start, self.n_period)
        self.mask = np.isfinite(self.target)
        if not self.mask.any():
            raise CalibrationError(f"{spec.source}: period: the record has no observed value "
                                   f"of {', '.join(spec.series)} in that period")
        self.weights = np.asarray(spec.weights)[:, None] * np.ones((1, self.n_period))
        self.n_evaluations = 0
        self._cache: dict[tuple[float, ...], float] = {}
        lower = np.array([p.lower for p in spec.parameters])
        upper = np.array([p.upper for p in spec.parameters])
        self.lower, self.span = lower, upper - lower

    # -- coordinates
    def to_values(self, unit: np.ndarray) -> np.ndarray:
        values = self.lower + np.clip(unit, 0.0, 1.0) * self.span
        return np.array([round(v) if p.integer else v
                         for v, p in zip(values, self.spec.parameters, strict=True)], float)

    def to_unit(self, values: np.ndarray) -> np.ndarray:
        return (np.asarray(values, float) - self.lower) / self.span

    def scenario(self, values: np.ndarray) -> Scenario:
        overrides = {p.path: int(round(v)) if p.integer else float(v)
                     for p, v in zip(self.spec.parameters, values, strict=True)}
        return self.spec.scenario.with_overrides(overrides)

    # -- simulation
    def simulate(self, values: np.ndarray, *, n_runs: int | None = None,
                 seed: int | None = None) -> Results:
        return simulate(self.scenario(values), n_runs=n_runs or self.spec.runs,
                        seed=self.spec.seed if seed is None else seed, seeds=self.seeds)

    def period_median(self, values: np.ndarray) -> np.ndarray:
        """(S, P) ensemble median of the simulated frontiers over the period."""
        frontiers = camp_frontiers(self.simulate(values), self.spec.series)
        window = frontiers[:, :, self.offset:self.offset + self.n_period]
        return np.median(window, axis=0)

    def residuals(self, values: np.ndarray) -> np.ndarray:
        """Weighted residuals ``sqrt(w) (median - observed)`` over the observed entries."""
        self.n_evaluations += 1
        diff = self.period_median(values) - self.target
        return (np.sqrt(self.weights) * diff)[self.mask]

    def loss(self, values: np.ndarray) -> float:
        key = tuple(np.round(values, 12))
        if key not in self._cache:
            e = self.residuals(values)
            self._cache[key] = float(np.sum(e ** 2) / np.sum(self.weights[self.mask]))
        return self._cache[key]

    def n_effective(self) -> int:
        """Observed entries that carry new information: a series' first observed month and
        every month in which it changed."""
        n = 0
        for row, ok in zip(self.target, self.mask, strict=True):
            vals = row[ok]
            if len(vals):
                n += 1 + int(np.sum(np.abs(np.diff(vals)) > 1e-9))
        return n


@dataclass
class CalibrationResult:
    spec: CalibrationSpec
    values: dict[str, float]
    start_values: dict[str, float]
    loss: float
    start_loss: float
    std_error: dict[str, float]
    correlation: np.ndarray
    profiles: dict[str, list[tuple[float, float]]]
    n_evaluations: int
    n_observations: int
    n_effective: int
    seconds: float
    optimiser_message: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rmse(self) -> float:
        return math.sqrt(self.loss)

    def interval(self, name: str, z: float = 1.645) -> tuple[float, float]:
        """Approximate 90% interval (value +- 1.645 s.e.) clipped to the bounds."""
        p = next(p for p in self.spec.parameters if p.path == name)
        se = self.std_error[name]
        v = self.values[name]
        if not math.isfinite(se):
            return (p.lower, p.upper)
        return (max(p.lower, v - z * se), min(p.upper, v + z * se))


def _jacobian(obj: Objective, values: np.ndarray, free: list[int]) -> np.ndarray:
    base = obj.residuals(values)
    cols = []
    for k in free:
        p = obj.spec.parameters[k]
        h = JACOBIAN_STEP * (p.upper - p.lower)
        up, down = values.copy(), values.copy()
        up[k] = min(values[k] + h, p.upper)
        down[k] = max(values[k] - h, p.lower)
        e_up = obj.residuals(up) if up[k] > values[k] else base
        e_down = obj.residuals(down) if down[k] < values[k] else base
        cols.append((e_up - e_down) / (up[k] - down[k]))
    return np.stack(cols, axis=1) if cols else np.zeros((len(base), 0))


def _uncertainty(obj: Objective, values: np.ndarray) -> tuple[dict[str, float], np.ndarray]:
    params = obj.spec.parameters
    free = [k for k, p in enumerate(params) if not p.integer]
    se = {p.path: float("nan") for p in params}
    corr = np.full((len(free), len(free)), np.nan)
    if not free:
        return se, corr
    e = obj.residuals(values)
    jac = _jacobian(obj, values, free)
    n, p = len(e), len(free)
    sse = float(np.sum(e ** 2))
    s2 = sse / max(n - p, 1)
    inflate = n / max(obj.n_effective(), p + 1)
    jtj = jac.T @ jac
    if np.linalg.matrix_rank(jtj) < p:
        # Some direction leaves the loss flat: those parameters are not identified.
        cov = np.full((p, p), np.inf)
        for i in range(p):
            if jtj[i, i] > 0:
                cov[i, i] = s2 * inflate / jtj[i, i]
    else:
        cov = s2 * inflate * np.linalg.inv(jtj)
    sd = np.sqrt(np.clip(np.diag(cov), 0.0, None))
    for i, k in enumerate(free):
        se[params[k].path] = float(sd[i])
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = cov / np.outer(sd, sd)
    return se, corr


def calibrate(spec: CalibrationSpec, *, observed: Observed | None = None,
              seeds: Seeds | None = None,
              progress: Callable[[str], Any] | None = None) -> CalibrationResult:
    """Fit ``spec``'s parameters; see the module docstring for the loss and uncertainty."""
    t0 = time.monotonic()
    observed = observed if observed is not None else load_observed()
    seeds = seeds or load_seeds(start=spec.scenario.time.start)
    obj = Objective(spec, observed, seeds)
    say = progress or (lambda _msg: None)
    x0 = np.array([p.start for p in spec.parameters])
    start_loss = obj.loss(x0)
    say(f"start: RMSE {math.sqrt(start_loss):.2f} ECI points at the start values")
    best = {"loss": start_loss, "unit": obj.to_unit(x0)}

    def f(unit: np.ndarray) -> float:
        loss = obj.loss(obj.to_values(unit))
        if loss < best["loss"]:
            best["loss"], best["unit"] = loss, np.clip(unit, 0.0, 1.0)
        if obj.n_evaluations % 10 == 0:
            say(f"evaluation {obj.n_evaluations}/{spec.max_evaluations}: best RMSE "
                f"{math.sqrt(best['loss']):.3f} ECI points")
        return loss

    u0 = np.clip(obj.to_unit(x0), 0.0, 1.0)
    bounds = [(0.0, 1.0)] * len(u0)
    if spec.method == "nelder-mead":
        simplex = [u0]
        for k in range(len(u0)):
            step = np.zeros_like(u0)
            step[k] = SIMPLEX_STEP if u0[k] + SIMPLEX_STEP <= 1.0 else -SIMPLEX_STEP
            simplex.append(u0 + step)
        res = minimize(f, u0, method="Nelder-Mead", bounds=bounds,
                       options={"maxfev": spec.max_evaluations, "initial_simplex": simplex,
                                "xatol": 1e-3, "fatol": 1e-4})
    else:
        res = minimize(f, u0, method="Powell", bounds=bounds,
                       options={"maxfev": spec.max_evaluations, "xtol": 1e-3, "ftol": 1e-5})
    fitted = np.array([v if p.integer else round_significant(v) for p, v in
                       zip(spec.parameters, obj.to_values(best["unit"]), strict=True)])

    # Integer parameters: profile every integer in the bounds with the others held.
    profiles: dict[str, list[tuple[float, float]]] = {}
    for k, p in enumerate(spec.parameters):
        if not p.integer:
            continue
        profile = []
        for value in range(int(math.ceil(p.lower)), int(math.floor(p.upper)) + 1):
            trial = fitted.copy()
            trial[k] = value
            profile.append((float(value), obj.loss(trial)))
        profiles[p.path] = profile
        fitted[k] = min(profile, key=lambda vl: vl[1])[0]
        say(f"profile of {p.path}: best {fitted[k]:g}")

    loss = obj.loss(fitted)
    say(f"fitted: RMSE {math.sqrt(loss):.3f} ECI points after {obj.n_evaluations} "
        "evaluations; estimating uncertainty")
    se, corr = _uncertainty(obj, fitted)
    return CalibrationResult(
        spec=spec,
        values={p.path: float(v) for p, v in zip(spec.parameters, fitted, strict=True)},
        start_values={p.path: float(p.start) for p in spec.parameters},
        loss=loss, start_loss=start_loss, std_error=se, correlation=corr,
        profiles=profiles, n_evaluations=obj.n_evaluations,
        n_observations=int(obj.mask.sum()), n_effective=obj.n_effective(),
        seconds=time.monotonic() - t0, optimiser_message=str(res.message),
    )
