"""Dated economic observations the calibration fits (``seeds/observations/economic.csv``).

Each row is the level of one series at the end of one month, in the model's unit, with its
source, its confidence and the validation checks it overlaps (``seeds/observations/README.md``).
The package reads them from its own seeds folder (a checkout or the wheel), never from
elsewhere.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path

from sim.calendar import parse_month
from sim.errors import InputError
from sim.inputs.packaged import seeds_dir

#: Columns every row must fill.
COLUMNS: tuple[str, ...] = ("series", "month", "value", "unit", "model_quantity", "source",
                            "confidence", "note", "validation_overlap")
CONFIDENCE: tuple[str, ...] = ("low", "medium", "solid")


class ObservationError(InputError):
    """The observations table could not be used; ``str(err)`` is one line."""


@dataclass(frozen=True)
class Observation:
    """One dated level: ``series`` at the end of ``month`` (YYYY-MM) is ``value`` [``unit``]."""

    series: str
    month: str
    value: float
    unit: str
    source: str
    confidence: str
    validation_overlap: str

    @property
    def month_index(self) -> int:
        return parse_month(self.month)


def economic_path() -> Path:
    """``seeds/observations/economic.csv`` in a checkout or the installed wheel."""
    return seeds_dir() / "observations" / "economic.csv"


def load_observations(path: Path | None = None) -> tuple[Observation, ...]:
    """Every row of the observations table, in file order; one-line errors."""
    path = economic_path() if path is None else path
    try:
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
    except OSError as exc:
        raise ObservationError(f"{path}: cannot read ({exc.strerror})") from None
    out = []
    for i, row in enumerate(rows, start=2):
        where = f"{path.name}:{i}"
        missing = [c for c in COLUMNS if not (row.get(c) or "").strip()]
        if missing:
            raise ObservationError(f"{where}: empty or missing column {missing[0]}")
        try:
            value = float(row["value"])
            parse_month(row["month"])
        except ValueError as exc:
            raise ObservationError(f"{where}: {exc}") from None
        if not (math.isfinite(value) and value > 0):
            raise ObservationError(f"{where}: value must be a positive number (got {value})")
        if row["confidence"] not in CONFIDENCE:
            raise ObservationError(f"{where}: confidence must be one of "
                                   f"{', '.join(CONFIDENCE)}")
        out.append(Observation(row["series"], row["month"], value, row["unit"], row["source"],
                               row["confidence"], row["validation_overlap"]))
    return tuple(out)
