"""Summary statistics and the distance of the calibration.

**Statistics** (one vector per simulated run; the same vector of the record is the target):

* ECI: for each fitted camp series (released-model running maximum of the closed frontier,
  the best open model, the best Chinese and the best US open model), its value at the cut
  month and every ``eci_every_months`` before it, back to the scenario's start, wherever the
  record has a value (a camp's series is blank before its first scored model) [ECI points].
* Economic: ``log10`` of each economic observation dated up to the cut
  (``seeds/observations/economic.csv``), against the simulated quantity of the same month:
  ``closed_revenue`` (the closed camp's revenue, USD bn / month), ``closed_compute`` (the
  closed camp's owned + contracted H100e) and ``total_tokens`` (trillion tokens / month
  served) [log10 of the unit].

**Distance** between a simulated vector ``s`` and the record ``o``::

    d(s, o) = sqrt( sum_i w_i ((s_i - o_i) / scale_i)^2 / sum_i w_i )

``scale_i`` is the spread of statistic ``i``: 1.4826 x its median absolute deviation over
the simulations of the previous generation's accepted particles (over a prior predictive
sample of ``population_size`` simulations, seeded by the spec, for the first generation),
floored at :data:`MIN_SCALE` (a statistic the parameters cannot move would otherwise divide
by zero). ``w_i = 1 / n_g`` for a statistic of series ``g`` with ``n_g`` statistics: every
series (each ECI camp, each economic series) weighs the same however many dated points it
has, so the 13 quarterly points of a running maximum (strongly autocorrelated) do not drown
one revenue level. A non-finite simulated statistic counts as :data:`MISSING_Z` scales away.

Why rescale each generation (as pyabc's adaptive p-norm distance, Prangle 2017): the prior
predictive spreads some statistics over orders of magnitude (revenue under a wide demand
prior), and a fixed scale from it would let later generations ignore them. Why from the
previous generation's stored, accepted particles rather than all of this generation's
simulations (Prangle's choice): a resumed calibration has only what the history stores, and
with these scales it reproduces an uninterrupted calibration exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sim.calendar import format_month, parse_month
from sim.core.engine import Results
from sim.studies.calibration.spec import CalibrationSpec
from sim.vocab import CAMPS, OUTPUT_CAMPS

#: Smallest scale of a statistic: ECI points, and log10 units (a factor 1.12).
MIN_SCALE: dict[str, float] = {"eci": 0.25, "log10": 0.05}
#: Standardised difference charged for a non-finite simulated statistic.
MISSING_Z = 100.0
#: What each economic series reads from a simulation, for the manifest [unit].
ECONOMIC_UNITS: dict[str, str] = {
    "closed_revenue": "log10 USD bn / month",
    "closed_compute": "log10 H100e",
    "total_tokens": "log10 trillion tokens / month",
}


#: The statistics and the distance in a sentence each (the manifest and report quote them).
STATISTICS_TEXT = (
    "For each fitted ECI camp series (released-model running maxima: closed, best open, best "
    "Chinese open, best US open), its value at the cut month and every {every} months before "
    "it where the record has a value [ECI points]; log10 of each economic observation dated up "
    "to the cut against the simulated quantity of the same month (closed camp revenue USD bn / "
    "month, closed camp owned + contracted H100e, total tokens served trillion / month). One "
    "simulation (one run) per particle.")
DISTANCE_TEXT = (
    "d = sqrt(sum_i w_i ((s_i - o_i) / scale_i)^2 / sum_i w_i): scale_i = 1.4826 x the median "
    "absolute deviation of statistic i over the previous generation's accepted simulations "
    "(over a prior predictive sample of population_size simulations, seeded by the spec, for "
    "generation 0; floors 0.25 ECI points, 0.05 log10), w_i = 1 / (number of statistics of "
    "its series) so every series weighs the same. Rescaled every generation like pyabc's "
    "adaptive p-norm (Prangle 2017), but from the stored generation, so that a resumed "
    "calibration reproduces an uninterrupted one exactly.")


@dataclass(frozen=True)
class Statistic:
    """One summary statistic: ``series`` at month index ``month``; ``kind`` is ``eci`` or
    ``log10``; ``observed`` its value in the record."""

    series: str
    month: int
    kind: str
    observed: float
    source: str

    @property
    def name(self) -> str:
        return f"{self.series}@{format_month(self.month)}"


def statistics(spec: CalibrationSpec) -> tuple[Statistic, ...]:
    """The spec's summary statistics, in a fixed order (ECI series, then economic rows)."""
    start = parse_month(spec.scenario.time.start)
    hist = spec.history
    out = []
    for name in spec.eci_series:
        values = np.asarray(getattr(hist, name), float)
        months = range(spec.cut, start - 1, -spec.eci_every_months)
        for month in sorted(months):
            k = month - hist.first_month
            if 0 <= k < len(values) and np.isfinite(values[k]):
                out.append(Statistic(name, month, "eci", float(values[k]),
                                     "Epoch ECI record (seeds/derived/eci_frontier_monthly.csv)"))
    for row in spec.observations:
        out.append(Statistic(row.series, row.month_index, "log10", float(np.log10(row.value)),
                             row.source))
    return tuple(out)


def simulated(results: Results, stats: tuple[Statistic, ...]) -> np.ndarray:
    """(R, S) every run's statistics (same order as ``stats``)."""
    start = results.world.params.start_month
    closed = CAMPS.index("closed")
    a = results.arrays
    columns = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for s in stats:
            t = s.month - start
            if s.kind == "eci":
                columns.append(a["bench_frontier"][:, t, OUTPUT_CAMPS.index(s.series)])
                continue
            if s.series == "closed_revenue":
                value = a["revenue"][:, t, closed]
            elif s.series == "closed_compute":
                value = a["compute"][:, t, closed] + a["contracted_h100e"][:, t, closed]
            elif s.series == "total_tokens":
                value = a["tokens"][:, t].sum(axis=(1, 2))
            else:  # the spec admits only the table's series; the table only these
                raise ValueError(f"no simulated quantity for economic series {s.series!r}")
            columns.append(np.log10(value))
    return np.stack(columns, axis=1).astype(float)


def series_weights(stats: tuple[Statistic, ...]) -> np.ndarray:
    """(S,) ``1 / n_g``: each series weighs the same (module doc)."""
    counts: dict[str, int] = {}
    for s in stats:
        counts[s.series] = counts.get(s.series, 0) + 1
    return np.array([1.0 / counts[s.series] for s in stats])


def prior_scales(sample: np.ndarray, stats: tuple[Statistic, ...]) -> np.ndarray:
    """(S,) ``max(1.4826 x MAD, MIN_SCALE)`` of each statistic over a prior predictive
    ``sample`` (N, S); non-finite values are left out."""
    out = np.empty(len(stats))
    for i, s in enumerate(stats):
        col = sample[:, i][np.isfinite(sample[:, i])]
        mad = 1.4826 * float(np.median(np.abs(col - np.median(col)))) if len(col) else 0.0
        out[i] = max(mad, MIN_SCALE[s.kind])
    return out


@dataclass(frozen=True)
class Distance:
    """The weighted, scale-normalised RMS distance of the module doc (picklable)."""

    observed: np.ndarray
    scale: np.ndarray
    weight: np.ndarray

    def __call__(self, sim: np.ndarray) -> float:
        z = (np.asarray(sim, float) - self.observed) / self.scale
        z = np.where(np.isfinite(z), z, MISSING_Z)
        return float(np.sqrt(np.sum(self.weight * z ** 2) / np.sum(self.weight)))
