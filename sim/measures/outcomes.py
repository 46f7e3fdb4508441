"""Scalar per-run outcomes written ``NAME@WHEN``: a measure of the registry read at a month.

``NAME`` is any measure of :mod:`sim.measures.registry` that has one value per run and month:
a measure without dims (``open_token_share``, ``alive_open``, ``frontier_open_cn``, ...), a
measure whose dims all have defaults, by its bare name (``gap_points``: the closed vs best
open pair), or a selection ``name[label,...]`` (``gap_points[cn_vs_us]``,
``token_share[agentic_coding,open]``). ``WHEN`` is a month ``YYYY-MM`` in the scenario's
horizon, ``start`` (the first simulated month) or ``end`` (the last); a bare ``NAME`` means
``NAME@end``. Examples: ``gap_points@2027-12`` (closed minus best open frontier in December
2027, ECI points), ``open_token_share@end``.

A parsed outcome is a :class:`~sim.measures.registry.Measure` with ``when`` set; its
``label`` (``name@when``) names the sweep's column. :func:`evaluate` returns one ``(runs,)``
float array per outcome; every series a call needs is computed once however many months are
asked for. Sweeps, sensitivity analysis and scenario discovery read outcomes through this
module, so a name means the same quantity everywhere.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from sim.measures import registry
from sim.measures.registry import Measure, MeasureError

if TYPE_CHECKING:
    from sim.core.engine import Results

#: Raised for an outcome that cannot be read (a :class:`MeasureError`).
OutcomeError = MeasureError


def parse_outcome(text: str) -> Measure:
    """Parse ``NAME[@YYYY-MM|@start|@end]``; raise :class:`OutcomeError` naming what is
    allowed."""
    if not isinstance(text, str) or not text.strip():
        raise OutcomeError(f"outcome {text!r}: expected a string such as 'gap_points@2027-12'")
    name, _, when = text.strip().partition("@")
    if name.partition("[")[0] not in registry.MEASURES:
        raise OutcomeError(f"outcome {text!r}: unknown name; allowed: "
                           f"{', '.join(_outcome_names())}")
    try:
        measure = registry.measure(name)
    except MeasureError as exc:
        raise OutcomeError(f"outcome {text!r}: {exc}") from None
    if measure.dims:
        dims = ",".join(d.name for d in measure.dims)
        raise OutcomeError(f"outcome {text!r}: {name} has one value per {dims}; pick one "
                           f"label per dim: {name}[{dims}]")
    try:
        return measure.at(when or "end")
    except MeasureError as exc:
        raise OutcomeError(f"outcome {text!r}: {exc}") from None


def _outcome_names() -> list[str]:
    """Names usable as an outcome without brackets."""
    return [m.name for m in registry.scalar_series()]


def check_outcomes(specs: Sequence[Measure], start_month: int, n_months: int) -> None:
    """Raise :class:`OutcomeError` if an outcome's month lies outside the horizon."""
    for spec in specs:
        spec.step(start_month, n_months)


def evaluate(results: Results, specs: Sequence[Measure]) -> dict[str, np.ndarray]:
    """``{label: (runs,) float64}`` for each outcome; each series is computed once."""
    p = results.world.params
    cache: dict[str, np.ndarray] = {}
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        if spec.name not in cache:
            cache[spec.name] = spec.series(results)
        out[spec.label] = cache[spec.name][:, spec.step(p.start_month, p.n_months)].copy()
    return out


def describe() -> str:
    """The registry as text, one measure a line: name[dims], unit, meaning."""
    return registry.describe()
