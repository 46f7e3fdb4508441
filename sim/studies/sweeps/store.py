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

One process at a time: :func:`sim.studies.sweeps.run.run_sweep` holds the folder's lock
(:func:`sim.files.lock_folder`) while it works, so a second sweep into the same folder is
refused in one line, never interleaved. A folder holding another spec's sweep, or sweep
files without a manifest, is refused unless ``force`` (then they are deleted first), and
the final tables are checked against the design (every run id once, nothing extra).

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
from sim.core.parameter_draws import parameters_note
from sim.files import atomic_path, remove_temporaries
from sim.studies.sweeps import SweepError
from sim.studies.sweeps.chunks import ChunkResult
from sim.studies.sweeps.spec import SweepSpec

MANIFEST = "manifest.json"
DESIGN = "design.parquet"
RUNS = "runs.parquet"
FAILURES = "failures.jsonl"
CHUNKS = "chunks"
_CHUNK_RE = re.compile(r"^chunk-(\d{9})-(\d{9})\.parquet$")
_CHUNK_FILE_RE = re.compile(r"^chunk-\d{9}-\d{9}(\.parquet|\.failures\.jsonl)$")
#: The files of a sweep at the top of its folder.
SWEEP_FILES = (MANIFEST, DESIGN, RUNS, FAILURES)


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
        remove_temporaries(folder)


def clear_chunks(out: Path) -> list[str]:
    """Delete the chunk files (and temporaries) under ``out/chunks``, then the folder if it
    is left empty; other files are left alone. Returns the names deleted."""
    folder = out / CHUNKS
    if not folder.is_dir():
        return []
    removed = [p.name for p in remove_temporaries(folder)]
    for path in sorted(folder.iterdir()):
        if _CHUNK_FILE_RE.match(path.name) and path.is_file():
            path.unlink()
            removed.append(path.name)
    try:
        folder.rmdir()
    except OSError:
        pass
    return removed


def clear_sweep(out: Path) -> list[str]:
    """Delete a sweep's files from ``out`` (manifest, design, tables, chunks)."""
    removed = []
    for name in SWEEP_FILES:
        if (out / name).is_file():
            (out / name).unlink()
            removed.append(name)
    return removed + [f"{CHUNKS}/{n}" for n in clear_chunks(out)]


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
        "parameter_draws": parameters_note(spec.base),
        "outcomes": [{"label": o.label, "unit": o.unit} for o in spec.outcomes],
        "versions": {"opengap": sim.__version__, "numpy": version("numpy"),
                     "scipy": version("scipy"), "pyarrow": version("pyarrow")},
        "updated_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **extra,
    }


def write_manifest(out: Path, data: dict[str, Any]) -> None:
    write_atomic_bytes(out / MANIFEST, (json.dumps(data, indent=2) + "\n").encode())


def check_resumable(out: Path, spec: SweepSpec, *, force: bool = False) -> bool:
    """True if ``out`` holds (part of) a sweep of this spec, False if it holds no sweep
    files. Anything else (another spec's sweep, a manifest that is not a sweep's, or sweep
    files without a manifest, such as someone's ``runs.parquet``) raises
    :class:`SweepError`, unless ``force``: then those files are deleted and False returned."""
    path = out / MANIFEST
    found = [n for n in (DESIGN, RUNS, FAILURES) if (out / n).exists()]
    if completed_chunks(out):
        found.append(f"{CHUNKS}/")
    if not path.exists():
        if found and not force:
            raise SweepError(f"--out {out}: holds {', '.join(found)} but no {MANIFEST}; use "
                             "another folder, or --force to replace them")
        clear_sweep(out)
        return False
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        digest = data["spec_digest"]
    except (OSError, ValueError, KeyError, TypeError):
        if force:
            clear_sweep(out)
            return False
        raise SweepError(f"--out {out}: {MANIFEST} is not a sweep manifest; use another "
                         "folder, or --force to replace it") from None
    if digest != spec.digest():
        if force:
            clear_sweep(out)
            return False
        raise SweepError(f"--out {out}: holds a sweep of a different spec "
                         f"({data.get('spec_file', '?')}, digest {str(digest)[:12]} vs "
                         f"{spec.digest()[:12]}); to resume give the same spec, otherwise "
                         "use another --out folder (or --force to replace it)")
    return True


def check_chunk_ranges(out: Path, ranges: Sequence[tuple[int, int]], n_samples: int) -> None:
    """The complete chunks must cover samples 0..n_samples-1 exactly once (a chunk file
    from another writer, or a range past the design, is an error, never duplicated runs)."""
    seen = -1
    for first, last in sorted(ranges):
        if first <= seen:
            raise SweepError(f"--out {out}: chunks overlap at sample {first} "
                             f"({chunk_path(out, first, last).name}); the folder was written "
                             "by two sweeps: rerun into a fresh folder (or --force)")
        if last >= n_samples or first > last:
            raise SweepError(f"--out {out}: {chunk_path(out, first, last).name} is outside the "
                             f"design (samples 0..{n_samples - 1}); rerun with --force")
        seen = last


def consolidate(out: Path, spec: SweepSpec, design: Sequence[tuple[Any, ...]],
                ranges: Iterable[tuple[int, int]]) -> tuple[int, int]:
    """Write ``runs.parquet`` and ``failures.jsonl`` from the chunks, one chunk in memory at a
    time; returns (runs written, failed parameter sets)."""
    schema = run_schema(spec, design)
    n_rows = n_failed = 0
    ranges = sorted(ranges)
    check_chunk_ranges(out, ranges, len(design))
    failed: dict[tuple[int, int], list[str]] = {}
    for first, last in ranges:
        path = chunk_path(out, first, last, ".failures.jsonl")
        if path.exists():
            failed[first, last] = path.read_text(encoding="utf-8").splitlines(keepends=True)
    with atomic_path(out / RUNS) as tmp:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for first, last in ranges:
                table = pq.read_table(chunk_path(out, first, last), schema=schema)
                _check_run_ids(out, spec, table, first, last, failed.get((first, last), []))
                writer.write_table(table)
                n_rows += table.num_rows
        _fsync_file(tmp)
    lines = [line for first_last in ranges for line in failed.get(first_last, [])]
    n_failed = len(lines)
    if n_rows + n_failed * spec.replicates != spec.n_runs:
        raise SweepError(f"--out {out}: the chunks hold {n_rows} runs and {n_failed} failed "
                         f"parameter sets, not the design's {spec.n_runs} runs; rerun with "
                         "--force")
    write_atomic_bytes(out / FAILURES, "".join(lines).encode())
    return n_rows, n_failed


def _check_run_ids(out: Path, spec: SweepSpec, table: pa.Table, first: int, last: int,
                   failures: list[str]) -> None:
    """A chunk's rows are exactly runs ``sample * replicates + replicate`` of its samples
    that did not fail, each once, in order."""
    failed = set()
    for line in failures:
        try:
            failed.add(int(json.loads(line)["sample"]))
        except (ValueError, KeyError, TypeError):
            raise SweepError(f"--out {out}: {chunk_path(out, first, last, '.failures.jsonl')}"
                             " is damaged; rerun with --force") from None
    want = [s * spec.replicates + r for s in range(first, last + 1) if s not in failed
            for r in range(spec.replicates)]
    got = table.column("run").to_pylist()
    if got != want:
        raise SweepError(f"--out {out}: {chunk_path(out, first, last).name} does not hold "
                         f"runs {want[:1]}..{want[-1:]} of the design once each; rerun with "
                         "--force")
