"""Scalar per-run outcomes: a registry of named quantities read from a batch's Results.

An outcome is written ``NAME@WHEN``: ``NAME`` is a key of :data:`OUTCOMES` (a monthly series
per run, from the series of :mod:`sim.measures.indicators`) and ``WHEN`` is a month
``YYYY-MM`` in the
scenario's horizon, ``start`` (the first simulated month) or ``end`` (the last). A bare
``NAME`` means ``NAME@end``. Examples: ``gap_points@2027-12`` (closed minus best open
frontier in December 2027, ECI points), ``open_token_share@end``.

:func:`evaluate` returns one ``(runs,)`` float array per outcome; every series a call needs
is computed once however many months are asked for. Sweeps, sensitivity analysis and
scenario comparison all read outcomes through this module, so a name means the same
quantity everywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sim.calendar import format_month, parse_month
from sim.errors import InputError
from sim.measures import indicators, metrics
from sim.vocab import ALL_OPEN, CAMPS, OUTPUT_CAMPS


class OutcomeError(InputError):
    """An outcome name that cannot be read; ``str(err)`` says what is allowed."""


Series = Callable[[Any], np.ndarray]


@dataclass(frozen=True)
class Outcome:
    """A per-run monthly series: ``series(results)`` is (runs, months) in ``unit``."""

    name: str
    unit: str
    doc: str
    series: Series


def _frontier(camp: str) -> Series:
    return lambda r: indicators.series_frontier(r, camp)


def _gap(pair: str) -> Series:
    return lambda r: indicators.series_gap(r, pair)


def _lag(pair: str) -> Series:
    return lambda r: indicators.series_lag(r, pair)


def _alive(camp: str) -> Series:
    return lambda r: indicators.series_alive(r, camp)


_PAIR_TEXT = {"closed_vs_open": "the best open-weight", "closed_vs_cn": "the Chinese open",
              "closed_vs_us": "the US open"}

#: Every outcome by name, in display order.
OUTCOMES: dict[str, Outcome] = {}


def _register(name: str, unit: str, doc: str, series: Series) -> None:
    OUTCOMES[name] = Outcome(name, unit, doc, series)


for _suffix, _pair in (("", "closed_vs_open"), ("_cn", "closed_vs_cn"), ("_us", "closed_vs_us")):
    _register(f"gap_points{_suffix}", "ECI points",
              f"closed released frontier minus {_PAIR_TEXT[_pair]} frontier (positive: closed "
              "ahead)", _gap(_pair))
    _register(f"lag_months{_suffix}", "months",
              f"how long ago the closed frontier first reached {_PAIR_TEXT[_pair]} frontier's "
              "current level (Epoch's definition; NaN if that camp has no model)", _lag(_pair))
for _camp in OUTPUT_CAMPS:
    _register(f"frontier_{_camp}", "ECI points",
              f"released benchmark frontier (running max) of the {_camp} camp", _frontier(_camp))
_register("open_token_share", "fraction",
          "share of all tokens served on open-weight models", metrics.open_token_share)
_register("open_dollar_share", "fraction",
          "share of all buyer spend on open-weight models", metrics.open_dollar_share)
for _camp in CAMPS:
    _register(f"alive_{_camp}", "labs", f"{_camp} labs still operating", _alive(_camp))
_register("alive_open", "labs", "open-weight labs still operating (all open camps)",
          _alive(ALL_OPEN))


@dataclass(frozen=True)
class OutcomeSpec:
    """A parsed outcome: registry ``name`` read at ``when`` (``YYYY-MM``, start or end)."""

    name: str
    when: str

    @property
    def label(self) -> str:
        """Canonical text, used as a column name: ``name@when``."""
        return f"{self.name}@{self.when}"

    @property
    def unit(self) -> str:
        return OUTCOMES[self.name].unit

    def step(self, start_month: int, n_months: int) -> int:
        """Step index (0 = first simulated month) this outcome reads."""
        if self.when == "start":
            return 0
        if self.when == "end":
            return n_months - 1
        step = parse_month(self.when) - start_month
        if not 0 <= step < n_months:
            first, last = format_month(start_month), format_month(start_month + n_months - 1)
            raise OutcomeError(f"outcome {self.label}: month outside the horizon {first}..{last}")
        return step


def parse_outcome(text: str) -> OutcomeSpec:
    """Parse ``NAME[@YYYY-MM|@start|@end]``; raise :class:`OutcomeError` naming what is
    allowed."""
    if not isinstance(text, str) or not text.strip():
        raise OutcomeError(f"outcome {text!r}: expected a string such as 'gap_points@2027-12'")
    name, _, when = text.strip().partition("@")
    if name not in OUTCOMES:
        raise OutcomeError(f"outcome {text!r}: unknown name; allowed: {', '.join(OUTCOMES)}")
    when = when or "end"
    if when not in ("start", "end"):
        try:
            when = format_month(parse_month(when))
        except (ValueError, TypeError):
            raise OutcomeError(f"outcome {text!r}: after '@' give a month YYYY-MM, 'start' or "
                               "'end'") from None
    return OutcomeSpec(name, when)


def check_outcomes(specs: Sequence[OutcomeSpec], start_month: int, n_months: int) -> None:
    """Raise :class:`OutcomeError` if an outcome's month lies outside the horizon."""
    for spec in specs:
        spec.step(start_month, n_months)


def evaluate(results: Any, specs: Sequence[OutcomeSpec]) -> dict[str, np.ndarray]:
    """``{label: (runs,) float64}`` for each outcome; each series is computed once."""
    p = results.world.params
    cache: dict[str, np.ndarray] = {}
    out: dict[str, np.ndarray] = {}
    for spec in specs:
        if spec.name not in cache:
            cache[spec.name] = np.asarray(OUTCOMES[spec.name].series(results), dtype=float)
        out[spec.label] = cache[spec.name][:, spec.step(p.start_month, p.n_months)].copy()
    return out


def describe() -> str:
    """The registry as text, one outcome a line: name, unit, meaning."""
    width = max(len(n) for n in OUTCOMES)
    return "\n".join(f"{o.name.ljust(width)}  [{o.unit}] {o.doc}" for o in OUTCOMES.values())
