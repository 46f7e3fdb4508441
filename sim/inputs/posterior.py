"""A posterior over model parameters, as written by ``opengap calibrate``: a folder holding

* ``posterior.parquet``: one row per particle, column ``particle`` (int, 0..N-1), one
  float column per calibrated parameter named by its scenario path in schema units (as a
  scenario TOML writes it, e.g. ``capability.algo_progress_per_year``) and ``weight``
  (float, >= 0, the particles' importance weights; normalised here to sum to 1);
* ``posterior.json``: its manifest (``format`` ``opengap-posterior/1``, the calibrated
  scenario, the ``cut`` month of the data, priors, seed, ``label``: what figures print).

A scenario names one with ``posterior = "DIR"`` (:mod:`sim.inputs.scenario`); each run then
takes its own particle (:mod:`sim.core.parameter_draws`). :func:`load_posterior` checks the
folder and reports a mistake in one line naming the file and the column or field
(:class:`PosteriorError`, exit status 2).
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import InputError
from sim.inputs.scenario import PARAMETER_TABLES, Scenario

TABLE_FILE = "posterior.parquet"
MANIFEST_FILE = "posterior.json"
FORMAT = "opengap-posterior/1"


class PosteriorError(InputError):
    """A posterior folder that cannot be used (exit status 2, one line: file, column or
    field, and what is allowed)."""


@dataclass(frozen=True)
class Posterior:
    """Weighted particles over calibrated parameters.

    ``names`` (P,): scenario paths (``table.field``) of the parameters, in the table's
    column order; ``values`` (N, P): each particle's values in schema units; ``weights``
    (N,): normalised importance weights (sum 1); ``manifest``: ``posterior.json``;
    ``path``: the folder (resolved); ``sha256``: digest of ``posterior.parquet``.
    """

    names: tuple[str, ...]
    values: np.ndarray
    weights: np.ndarray
    manifest: dict[str, Any]
    path: Path
    sha256: str

    @property
    def n_particles(self) -> int:
        return len(self.weights)

    @property
    def cut(self) -> str | None:
        """Last month of the data the calibration used (``YYYY-MM``), if recorded."""
        cut = self.manifest.get("cut")
        return str(cut) if cut else None

    @property
    def label(self) -> str:
        """What figures print after "parameters drawn from the posterior": the manifest's
        ``label``, else "calibrated through <cut>", else the folder's name."""
        label = self.manifest.get("label")
        if isinstance(label, str) and label.strip():
            return label.strip()
        if self.cut:
            return f"calibrated through {self.cut}"
        return f"posterior {self.path.name}"

    def describe(self) -> dict[str, Any]:
        """What a manifest records of the posterior: path, label, cut, sha256, particles."""
        return {"path": str(self.path), "label": self.label, "cut": self.cut,
                "sha256": self.sha256, "particles": self.n_particles,
                "parameters": list(self.names)}


def schema_field(name: str) -> Any:
    """The pydantic field of scenario path ``table.field`` in a parameter table, or None."""
    table, _, key = name.partition(".")
    if table not in PARAMETER_TABLES or not key or "." in key:
        return None
    model = Scenario.model_fields[table].annotation
    return model.model_fields.get(key)  # type: ignore[union-attr]


def schema_bounds(info: Any) -> tuple[float, float, bool, bool]:
    """(low, high, low inclusive, high inclusive) of a schema field's bounds (ge/gt, le/lt;
    infinite where unbounded)."""
    low, high, low_in, high_in = -math.inf, math.inf, True, True
    for meta in info.metadata:
        for attr, inclusive, is_low in (("ge", True, True), ("gt", False, True),
                                        ("le", True, False), ("lt", False, False)):
            value = getattr(meta, attr, None)
            if value is None:
                continue
            if is_low:
                low, low_in = float(value), inclusive
            else:
                high, high_in = float(value), inclusive
    return low, high, low_in, high_in


def _bounds_text(low: float, high: float, low_in: bool, high_in: bool) -> str:
    left = "[" if low_in else "("
    right = "]" if high_in else ")"
    return f"{left}{low:g}, {high:g}{right}"


def load_posterior(path: str | Path) -> Posterior:
    """Read and check the posterior folder ``path`` (see the module docstring). Loaded once
    per process for each (folder, file contents' modification time)."""
    folder = Path(path).resolve()
    if not folder.is_dir():
        raise PosteriorError(f"{path}: posterior: no such folder (expected a folder holding "
                             f"{TABLE_FILE} and {MANIFEST_FILE}, as opengap calibrate writes)")
    stamps = []
    for name in (TABLE_FILE, MANIFEST_FILE):
        file = folder / name
        if not file.is_file():
            raise PosteriorError(f"{file}: posterior: file missing (a posterior folder holds "
                                 f"{TABLE_FILE} and {MANIFEST_FILE})")
        stamp = file.stat()
        stamps.append((stamp.st_mtime_ns, stamp.st_size))
    return _load(folder, tuple(stamps))


def _numbers(column: Any) -> np.ndarray:
    """A numeric Arrow column without nulls as float64, read from its buffers: pyarrow's
    ``to_numpy`` imports pandas (0.25 s of every command's start)."""
    dtype = np.dtype(column.type.to_pandas_dtype())
    parts = [np.frombuffer(chunk.buffers()[1], dtype=dtype, count=len(chunk),
                           offset=chunk.offset * dtype.itemsize) for chunk in column.chunks]
    return np.concatenate(parts).astype(float) if parts else np.zeros(0)


@lru_cache(maxsize=8)
def _load(folder: Path, _stamps: tuple[tuple[int, int], ...]) -> Posterior:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table_path, manifest_path = folder / TABLE_FILE, folder / MANIFEST_FILE
    try:
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise PosteriorError(f"{manifest_path}: not readable JSON ({exc})") from None
    if not isinstance(manifest, dict):
        raise PosteriorError(f"{manifest_path}: expected a JSON object")
    if manifest.get("format") != FORMAT:
        raise PosteriorError(f"{manifest_path}: format: expected \"{FORMAT}\", got "
                             f"{manifest.get('format')!r}")
    blob = table_path.read_bytes()
    try:
        # ParquetFile.read, not read_table: the latter imports pandas (0.25 s of every
        # command's start) to look at the pandas metadata the file carries.
        table = pq.ParquetFile(pa.BufferReader(blob)).read()
    except (OSError, pa.ArrowException) as exc:
        raise PosteriorError(f"{table_path}: not a readable Parquet table ({exc})") from None
    columns = table.column_names
    for required in ("particle", "weight"):
        if required not in columns:
            raise PosteriorError(f"{table_path}: column {required}: missing (columns: particle, "
                                 "one per calibrated parameter, weight)")
    if table.num_rows == 0:
        raise PosteriorError(f"{table_path}: no particles (expected at least one row)")
    data: dict[str, np.ndarray] = {}
    for name in columns:
        kind = table.schema.field(name).type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind)):
            raise PosteriorError(f"{table_path}: column {name}: expected numbers, got {kind}")
        column = table.column(name)
        if column.null_count:
            raise PosteriorError(f"{table_path}: column {name}: {column.null_count} missing "
                                 "value(s); every particle needs every value")
        data[name] = _numbers(column)
    particle = data.pop("particle")
    n = len(particle)
    if not np.array_equal(np.sort(particle), np.arange(n)):
        raise PosteriorError(f"{table_path}: column particle: expected the numbers 0..{n - 1}, "
                             "each once")
    order = np.argsort(particle, kind="stable")
    weights = data.pop("weight")[order]
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise PosteriorError(f"{table_path}: column weight: particle {i} has weight "
                             f"{float(weights[i])!r}; allowed: finite numbers >= 0")
    total = float(weights.sum())
    if not total > 0:
        raise PosteriorError(f"{table_path}: column weight: the weights sum to 0; at least "
                             "one particle needs a positive weight")
    names = tuple(data)
    if not names:
        raise PosteriorError(f"{table_path}: no parameter columns (expected one per calibrated "
                             "parameter, named like capability.algo_progress_per_year)")
    for name in names:
        info = schema_field(name)
        if info is None or info.annotation not in (float, int):
            raise PosteriorError(f"{table_path}: column {name}: not a numeric parameter of the "
                                 f"scenario schema; allowed: table.field of the tables "
                                 f"{', '.join(PARAMETER_TABLES)} (opengap schema)")
        values = data[name][order]
        low, high, low_in, high_in = schema_bounds(info)
        inside = (np.isfinite(values) & ((values >= low) if low_in else (values > low))
                  & ((values <= high) if high_in else (values < high)))
        if info.annotation is int:
            inside &= values == np.round(values)
        if not inside.all():
            i = int(np.flatnonzero(~inside)[0])
            kind = "whole numbers in " if info.annotation is int else ""
            raise PosteriorError(f"{table_path}: column {name}: particle {i} has "
                                 f"{float(values[i])!r}; allowed: "
                                 f"{kind}{_bounds_text(low, high, low_in, high_in)}")
        data[name] = values
    values = np.column_stack([data[name] for name in names])
    values.setflags(write=False)
    weights = weights / total
    weights.setflags(write=False)
    return Posterior(names=names, values=values, weights=weights, manifest=manifest,
                     path=folder, sha256=hashlib.sha256(blob).hexdigest())
