"""A sweep's output folder: manifest, design, chunk files, and the final tables.

Layout of ``OUT``:

* ``manifest.json``: the spec (digest, parameters, outcomes and units, base scenario hash),
  versions, and ``status`` (``running`` until the final tables are written, then
  ``complete``);
* ``design.parquet``: one row per parameter set (``sample`` and the parameter values);
* ``chunks/chunk-FIRST-LAST.parquet``: the runs of samples FIRST..LAST (inclusive), and
  ``chunks/chunk-FIRST-LAST.failures.jsonl`` when some of them failed;
* ``runs.parquet``: every run (``run = sample * replicates + replicate``, ``sample``,
  ``replicate``, the parameter values, one float column per outcome), sorted by run;
* ``failures.jsonl``: one JSON object per failed parameter set (sample, params, error).

Resume rests on one rule: a chunk is complete if and only if its ``.parquet`` file exists.
Every file is written under a temporary name, flushed to disk and moved into place with
``os.replace`` (atomic on POSIX), and a chunk's failure list is moved into place *before* its
table, so a process killed at any instant leaves either a complete chunk or no chunk (plus
a stray temporary file, which is ignored and removed on the next start).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

import sim
from sim.files import atomic_path
from sim.studies.sweeps import SweepError
from sim.studies.sweeps.chunks import ChunkResult
from sim.studies.sweeps.spec import SweepSpec

MANIFEST = "manifest.json"
DESIGN = "design.parquet"
RUNS = "runs.parquet"
FAILURES = "failures.jsonl"
CHUNKS = "chunks"
_CHUNK_RE = re.compile(r"^chunk-(\d{9})-(\d{9})\.parquet$")


def chunk_path(out: Path, first: int, last: int, suffix: str = ".parquet") -> Path:
    return out / CHUNKS / f"chunk-{first:09d}-{last:09d}{suffix}"


def _fsync_file(path: Path) -> None:
    with path.open("rb+") as fh:
        os.fsync(fh.fileno())


def write_atomic_bytes(path: Path, data: bytes) -> None:
    with atomic_path(path) as tmp:
        with tmp.open("wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())


def write_table_atomic(path: Path, table: pa.Table) -> None:
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
        _fsync_file(tmp)


def run_schema(spec: SweepSpec, design: Sequence[tuple[Any, ...]]) -> pa.Schema:
    """Columns of ``runs.parquet``: run, sample, replicate, parameters, outcomes."""
    fields = [pa.field("run", pa.int64()), pa.field("sample", pa.int64()),
              pa.field("replicate", pa.int64())]
    for p in spec.parameters:
        if p.choices is not None:
            kind = pa.array(list(p.choices)).type
        else:
            kind = pa.int64() if p.integer else pa.float64()
        fields.append(pa.field(p.path, kind))
    units = {o.label: o.unit for o in spec.outcomes}
    fields += [pa.field(label, pa.float64(), metadata={"unit": unit})
               for label, unit in units.items()]
    return pa.schema(fields)


def design_table(spec: SweepSpec, design: Sequence[tuple[Any, ...]]) -> pa.Table:
    schema = run_schema(spec, design)
    columns: dict[str, Any] = {"sample": pa.array(range(len(design)), pa.int64())}
    for k, p in enumerate(spec.parameters):
        columns[p.path] = pa.array([row[k] for row in design], schema.field(p.path).type)
    return pa.table(columns)


def chunk_table(spec: SweepSpec, design: Sequence[tuple[Any, ...]],
                result: ChunkResult) -> pa.Table:
    """The runs of one chunk as rows of ``runs.parquet``."""
    schema = run_schema(spec, design)
    samples = result.columns["sample"]
    reps = result.columns["replicate"]
    arrays: list[Any] = [pa.array(samples * spec.replicates + reps, pa.int64()),
                         pa.array(samples, pa.int64()), pa.array(reps, pa.int64())]
    for k, p in enumerate(spec.parameters):
        arrays.append(pa.array([design[int(i)][k] for i in samples],
                               schema.field(p.path).type))
    arrays += [pa.array(result.columns[o.label], pa.float64()) for o in spec.outcomes]
    return pa.Table.from_arrays(arrays, schema=schema)


def write_chunk(out: Path, spec: SweepSpec, design: Sequence[tuple[Any, ...]],
                result: ChunkResult) -> None:
    """Store a finished chunk: failures first, then the table that marks it complete."""
    if result.failures:
        text = "".join(json.dumps(f, default=str) + "\n" for f in result.failures)
        write_atomic_bytes(chunk_path(out, result.first, result.last, ".failures.jsonl"),
                           text.encode())
    write_table_atomic(chunk_path(out, result.first, result.last),
                       chunk_table(spec, design, result))


def completed_chunks(out: Path) -> list[tuple[int, int]]:
    """(first, last) sample ranges of the complete chunks, sorted."""
    folder = out / CHUNKS
    if not folder.is_dir():
        return []
    found = []
    for path in folder.iterdir():
        match = _CHUNK_RE.match(path.name)
        if match:
            found.append((int(match.group(1)), int(match.group(2))))
    return sorted(found)


def remove_stray_temporaries(out: Path) -> None:
    """Delete temporary files left by a killed sweep (never read as results)."""
    for folder in (out, out / CHUNKS):
        if folder.is_dir():
            for path in folder.glob(".*.tmp"):
                path.unlink(missing_ok=True)


def manifest_data(spec: SweepSpec, status: str, **extra: Any) -> dict[str, Any]:
    from importlib import metadata

    def version(dist: str) -> str | None:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return None

    return {
        "kind": "opengap-sweep",
        "status": status,
        "spec_file": spec.source,
        "spec_digest": spec.digest(),
        "name": spec.name,
        "design": spec.design,
        "samples": spec.samples,
        "replicates": spec.replicates,
        "runs": spec.n_runs,
        "seed": spec.seed,
        "seeding": "replicate j of every sample is run j of simulate(scenario_i, seed=seed)",
        "scenario": {"name": spec.base.name, "content_hash": spec.base.content_hash(),
                     "resolved": spec.base.model_dump(mode="json")},
        "parameters": [p.as_json() for p in spec.parameters],
        "outcomes": [{"label": o.label, "unit": o.unit} for o in spec.outcomes],
        "versions": {"opengap": sim.__version__, "numpy": version("numpy"),
                     "scipy": version("scipy"), "pyarrow": version("pyarrow")},
        "updated_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **extra,
    }


def write_manifest(out: Path, data: dict[str, Any]) -> None:
    write_atomic_bytes(out / MANIFEST, (json.dumps(data, indent=2) + "\n").encode())


def check_resumable(out: Path, spec: SweepSpec) -> bool:
    """True if ``out`` holds (part of) a sweep of this spec, False if it holds no sweep;
    raise :class:`SweepError` if it holds another sweep or anything unrecognised."""
    path = out / MANIFEST
    if not path.exists():
        if completed_chunks(out):
            raise SweepError(f"--out {out}: holds chunk files but no {MANIFEST}; use an empty "
                             "folder")
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        digest = data["spec_digest"]
    except (OSError, ValueError, KeyError, TypeError):
        raise SweepError(f"--out {out}: {MANIFEST} is not a sweep manifest; use another "
                         "folder") from None
    if digest != spec.digest():
        raise SweepError(f"--out {out}: holds a sweep of a different spec "
                         f"({data.get('spec_file', '?')}, digest {str(digest)[:12]} vs "
                         f"{spec.digest()[:12]}); to resume give the same spec, otherwise "
                         "use another --out folder")
    return True


def consolidate(out: Path, spec: SweepSpec, design: Sequence[tuple[Any, ...]],
                ranges: Iterable[tuple[int, int]]) -> tuple[int, int]:
    """Write ``runs.parquet`` and ``failures.jsonl`` from the chunks, one chunk in memory at a
    time; returns (runs written, failed parameter sets)."""
    schema = run_schema(spec, design)
    n_rows = n_failed = 0
    ranges = sorted(ranges)
    with atomic_path(out / RUNS) as tmp:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for first, last in ranges:
                table = pq.read_table(chunk_path(out, first, last), schema=schema)
                writer.write_table(table)
                n_rows += table.num_rows
        _fsync_file(tmp)
    lines = []
    for first, last in ranges:
        path = chunk_path(out, first, last, ".failures.jsonl")
        if path.exists():
            chunk_lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
            lines += chunk_lines
            n_failed += len(chunk_lines)
    write_atomic_bytes(out / FAILURES, "".join(lines).encode())
    return n_rows, n_failed
