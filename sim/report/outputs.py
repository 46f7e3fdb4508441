"""Results on disk: a tidy Parquet table, an event log and a JSON manifest.

``write_results`` writes into one output folder:

* ``results.parquet``: the tidy (long) table of :func:`tidy_table`, one row per
  (run, month, metric, camp, segment);
* ``labs.parquet``: the per-lab table of :func:`lab_table`, one row per (run, month, lab,
  metric): each lab's scores, frontier, cash, compute, revenue and whether it operates;
* ``events.csv``: :func:`event_log`, scheduled events, policy changes, safety shocks, lab
  exits and acquisitions per run;
* ``manifest.json``: scenario (name, file, content hash, resolved values), seed, runs,
  package and library versions, creation time (UTC), metric units and the files written.

Every file is written under a temporary name in the same folder and moved into place with
``os.replace``, so an interrupted run never leaves a half-written file behind (a previous
run's file stays intact until the new one is complete).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import platform
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

import sim
from sim.calendar import format_month
from sim.core.parameter_draws import parameters_note, run_draws_table
from sim.files import atomic_path, write_text_atomic
from sim.measures.registry import (
    MEASURES,
    SEGMENT,
    Measure,
    flat_labels,
    is_aggregate,
    tidy_measures,
)
from sim.vocab import ALL, CAMPS, JURISDICTIONS, OUTPUT_CAMPS, PAIRS, POLICIES

RESULTS_FILE = "results.parquet"
LABS_FILE = "labs.parquet"
EVENTS_FILE = "events.csv"
MANIFEST_FILE = "manifest.json"
#: Each run's parameter draw (run, particle, one column per drawn parameter), written only
#: under posterior draws.
DRAWS_FILE = "parameter_draws.parquet"


#: Order of the tidy table's rows within a chunk of runs: grouped by what ``camp`` holds,
#: registry order within a group (so a reader sees metrics of one shape together).
CAMP_GROUPS = ("output camp", "camp pair", "lab camp", "all", "sovereign id", "jurisdiction")


def camp_holds(measure: Measure) -> str:
    """What the tidy table's ``camp`` column holds for ``measure``: the kind of label of its
    dim other than the segment (``all`` for a market total)."""
    other = [d.what for d in measure.dims if d.name != "segment"]
    return other[0] if other else ALL


def tidy_metrics() -> dict[str, tuple[str, str, str]]:
    """metric -> (unit, what ``camp`` holds, description), from the measure registry
    (:mod:`sim.measures.registry`, measures with ``tidy=True``), in the order of the
    table's metric dictionary. Documented in the manifest too."""
    return {m.name: (m.unit, camp_holds(m), m.description) for m in tidy_measures()}


def _field(name: str, kind: pa.DataType, unit: str, description: str) -> pa.Field:
    """A column with its unit and description in the Parquet field metadata (keys
    ``unit`` and ``description``), which pyarrow, polars and duckdb readers keep."""
    return pa.field(name, kind, metadata={"unit": unit, "description": description})


#: Months are ``YYYY-MM`` strings (as the CLI, scenarios and docs write them): a reader
#: filters with ``month == "2027-12"`` or ``month >= "2027-01"`` (text order is time order).
MONTH_DESCRIPTION = "calendar month, YYYY-MM text (sorts in time order)"

TIDY_SCHEMA = pa.schema([
    _field("run", pa.int32(), "run", "global run id (run r of seed s: its own random streams)"),
    _field("step", pa.int16(), "months", "months since the first simulated month (0 = first)"),
    _field("month", pa.string(), "month", MONTH_DESCRIPTION),
    _field("metric", pa.dictionary(pa.int32(), pa.string()), "name",
           "measure name (sim/measures/registry.py); its unit in the schema metadata "
           "'metric_units' and in manifest.json"),
    _field("camp", pa.dictionary(pa.int32(), pa.string()), "label",
           "lab camp, output camp, camp pair, sovereign id or jurisdiction the value is "
           "about; 'all' for market totals"),
    _field("segment", pa.dictionary(pa.int32(), pa.string()), "label",
           "buyer segment; 'all' where not per segment or summed over segments"),
    _field("value", pa.float64(), "per metric",
           "the value, in the metric's unit (schema metadata 'metric_units'); never NaN"),
])


def _with_metric_units(schema: pa.Schema, units: dict[str, str]) -> pa.Schema:
    """``schema`` with ``metric_units`` (JSON: metric -> unit) in its schema metadata."""
    return schema.with_metadata({"metric_units": json.dumps(units), "opengap": sim.__version__})


def tidy_schema() -> pa.Schema:
    """:data:`TIDY_SCHEMA` with every metric's unit in the schema metadata."""
    return _with_metric_units(TIDY_SCHEMA, {m: u for m, (u, _, _) in tidy_metrics().items()})


#: The per-lab table ``labs.parquet``: one row per (run, month, lab, metric).
LAB_SCHEMA = pa.schema([
    TIDY_SCHEMA.field("run"), TIDY_SCHEMA.field("step"), TIDY_SCHEMA.field("month"),
    _field("lab", pa.dictionary(pa.int32(), pa.string()), "label",
           "lab id (seeds/labs.csv lab_id, or your own --seeds table)"),
    _field("camp", pa.dictionary(pa.int32(), pa.string()), "label",
           "the lab's camp: closed, open_cn, open_us or open_other"),
    _field("metric", pa.dictionary(pa.int32(), pa.string()), "name",
           "lab_bench, lab_robust, lab_frontier, lab_cash, lab_compute, lab_revenue, "
           "lab_alive, lab_price, lab_serving_cost; units in the schema metadata "
           "'metric_units' and manifest.json"),
    TIDY_SCHEMA.field("value"),
])


# --------------------------------------------------------------------------- batches


def concat_results(parts: Sequence[Any]) -> Any:
    """Concatenate batch Results of one (scenario, seed) along the run axis."""
    if not parts:
        raise ValueError("concat_results: no batches")
    first = parts[0]
    for part in parts[1:]:
        if part.seed != first.seed or part.scenario.content_hash() != first.scenario.content_hash():
            raise ValueError("concat_results: batches differ in scenario or seed")
        if part.arrays.keys() != first.arrays.keys():
            raise ValueError("concat_results: batches have different arrays")
    if len(parts) == 1:
        return first
    arrays = {k: np.concatenate([p.arrays[k] for p in parts], axis=0) for k in first.arrays}
    run_ids = np.concatenate([p.run_ids for p in parts])
    return replace(first, run_ids=run_ids, arrays=arrays)


def in_tidy_chunks(parts: Iterable[Any]) -> Iterator[Any]:
    """Batch Results arriving in run order, regrouped so that every one yielded but the last
    holds a whole number of :data:`TIDY_CHUNK_RUNS` runs (what :func:`batch_output` needs):
    a batch is passed on as it is where it ends on a chunk's edge, joined to the next ones
    (:func:`concat_results`) where it does not. Runs may so be simulated in batches smaller
    than a tidy chunk (two processes get equal shares of 1,000 runs in ten batches of 100,
    where whole chunks of 200 leave one process idle for the last), with the same rows."""
    held: list[Any] = []
    runs = 0
    for part in parts:
        held.append(part)
        runs += part.n_runs
        if runs % TIDY_CHUNK_RUNS == 0:
            yield concat_results(held)
            held, runs = [], 0
    if held:
        yield concat_results(held)


def select_runs(results: Any, runs: slice | np.ndarray) -> Any:
    """The Results of a subset of runs (positions along the run axis)."""
    return replace(results, run_ids=results.run_ids[runs],
                   arrays={k: v[runs] for k, v in results.arrays.items()})


# --------------------------------------------------------------------------- tidy table


def _blocks(results: Any) -> Iterator[tuple[str, np.ndarray, list[str], list[str]]]:
    """(metric, values (R, T, n), camp label per n, segment label per n) for every tidy
    measure, in row order (:data:`CAMP_GROUPS`). A measure's dims are flattened in order
    (segment-major for per-segment ones); the segment dim's labels fill ``segment``, the
    other dim's fill ``camp``, and ``all`` stands in where there is no such dim."""
    world = results.world
    rank = {kind: i for i, kind in enumerate(CAMP_GROUPS)}
    measures = sorted(tidy_measures(), key=lambda m: rank.get(camp_holds(m), len(rank)))
    for m in measures:
        values = m.series(results)
        values = values.reshape(*values.shape[:2], -1)
        segment_axis = [d.name == "segment" for d in m.dims]
        keep, camps, segments = [], [], []
        for i, labels in enumerate(flat_labels(m, world)):
            if is_aggregate(m, labels):  # the parts are in the table; leave their aggregate
                continue
            seg = [lab for lab, is_seg in zip(labels, segment_axis, strict=True) if is_seg]
            other = [lab for lab, is_seg in zip(labels, segment_axis, strict=True) if not is_seg]
            keep.append(i)
            camps.append(other[0] if other else ALL)
            segments.append(seg[0] if seg else ALL)
        if len(keep) < values.shape[2]:
            values = values[:, :, keep]
        yield m.name, values, camps, segments


def _vocab(results: Any) -> dict[str, list[str]]:
    """Fixed dictionaries for the string columns (the same for every chunk of a run set)."""
    pop = results.world.population
    camps = list(dict.fromkeys([*OUTPUT_CAMPS, *CAMPS, *PAIRS, *pop.sovereign_ids,
                                *JURISDICTIONS, ALL]))
    return {"metric": list(tidy_metrics()), "camp": camps,
            "segment": list(dict.fromkeys([*SEGMENT.labels_in(results.world), ALL]))}


def arrow_array(values: np.ndarray, kind: pa.DataType) -> pa.Array:
    """An Arrow array of ``kind`` over a numpy array of the same width (no copy). Not
    ``pa.array``: that imports pandas (half a second) to check for pandas objects."""
    width = {pa.int16(): np.int16, pa.int32(): np.int32, pa.date32(): np.int32,
             pa.float64(): np.float64}[kind]
    values = np.ascontiguousarray(values, dtype=width)
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def arrow_strings(words: Sequence[str]) -> pa.Array:
    """An Arrow string array of ``words`` (built from buffers, see :func:`arrow_array`)."""
    encoded = [w.encode("utf-8") for w in words]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int32)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return pa.Array.from_buffers(pa.string(), len(encoded),
                                 [None, pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded))])


def tidy_table(results: Any) -> pa.Table:
    """All outputs as one long table (schema :data:`TIDY_SCHEMA`).

    Columns: ``run`` (global run id), ``step`` (months since the start, 0 = first simulated
    month), ``month`` (``YYYY-MM`` string), ``metric`` (a tidy measure of
    :mod:`sim.measures.registry`; units in :func:`tidy_metrics` and the manifest),
    ``camp``, ``segment``, ``value`` (float64).

    ``camp`` names what the value is about, which depends on the metric: a lab camp
    (closed, open_cn, open_us, open_other), an output camp (those plus ``open`` = any
    open-weight lab) for frontiers, a camp pair (closed_vs_open, closed_vs_cn, closed_vs_us,
    cn_vs_us) for gaps and lags, a sovereign id for pressure and policy flags, a
    jurisdiction code for export multipliers and sentiment, and ``"all"`` for whole-market
    totals. ``segment`` is a buyer segment for tokens, spend and shares, and ``"all"``
    otherwise; rows with segment ``"all"`` of tokens/spend/shares aggregate every segment,
    so drop them before summing over segments. Rows whose value is not finite (a lag when a
    camp has no released model, a share of a segment that served nothing) are left out, so
    ``value`` never holds NaN.
    """
    return pa.concat_tables(tidy_pieces(results))


#: Rows of a piece of :func:`tidy_pieces` / :func:`lab_pieces`: a table is made and written
#: in pieces of consecutive rows of about this many, so that a chunk of 200 runs (about 2
#: million rows, 70 MB) is never held whole [rows].
PIECE_ROWS = 400_000


def tidy_pieces(results: Any, piece_rows: int = PIECE_ROWS) -> Iterator[pa.Table]:
    """:func:`tidy_table` in pieces of consecutive rows (whole measures, about ``piece_rows``
    rows each, schema :data:`TIDY_SCHEMA`): written one after the other they give the same
    file as the whole table, holding a fraction of it."""
    vocab = _vocab(results)
    index = {col: {v: i for i, v in enumerate(words)} for col, words in vocab.items()}
    start = results.world.params.start_month
    n_runs, n_months = results.n_runs, results.n_months
    run_ids = np.asarray(results.run_ids, dtype=np.int32)
    dictionaries = {c: arrow_strings(vocab[c]) for c in ("metric", "camp", "segment")}
    schema = tidy_schema()
    cols: dict[str, list[np.ndarray]] = {k: [] for k in TIDY_SCHEMA.names if k != "month"}

    def piece() -> pa.Table:
        data = {k: np.concatenate(v) for k, v in cols.items()}
        for v in cols.values():
            v.clear()
        return pa.Table.from_arrays([
            arrow_array(data["run"], pa.int32()),
            arrow_array(data["step"], pa.int16()),
            _month_strings(data["step"], start, n_months),
            *[pa.DictionaryArray.from_arrays(arrow_array(data[c], pa.int32()), dictionaries[c])
              for c in ("metric", "camp", "segment")],
            arrow_array(data["value"], pa.float64()),
        ], schema=schema)

    rows, pieces = 0, 0
    for name, values, camps, segments in _blocks(results):
        n = values.shape[2]
        v = np.asarray(values, dtype=np.float64).reshape(-1)
        keep = np.isfinite(v)
        cols["run"].append(np.repeat(run_ids, n_months * n)[keep])
        steps = np.tile(np.repeat(np.arange(n_months, dtype=np.int16), n), n_runs)[keep]
        cols["step"].append(steps)
        cols["metric"].append(np.full(keep.sum(), index["metric"][name], dtype=np.int32))
        camp_idx = np.array([index["camp"][c] for c in camps], dtype=np.int32)
        seg_idx = np.array([index["segment"][s] for s in segments], dtype=np.int32)
        cols["camp"].append(np.tile(camp_idx, n_runs * n_months)[keep])
        cols["segment"].append(np.tile(seg_idx, n_runs * n_months)[keep])
        cols["value"].append(v[keep])
        rows += len(steps)
        if rows >= piece_rows:
            yield piece()
            rows, pieces = 0, pieces + 1
    if rows or not pieces:  # the rest (an empty table if there are no rows at all)
        yield piece()


def _month_strings(steps: np.ndarray, start: int, n_months: int) -> pa.Array:
    """``YYYY-MM`` of each step, as an Arrow string array.

    Every label has the same width (7 bytes), so the array's bytes are the labels gathered
    by step (numpy, as fixed-width byte strings) and its offsets a multiple of the width:
    about ten times faster than decoding a dictionary array with Arrow's ``cast``, which is
    kept for labels of unequal width (years before 1000 or after 9999)."""
    words = [format_month(start + t) for t in range(n_months)]
    width = len(words[0]) if words else 0
    n = len(steps)
    if words and all(len(w) == width for w in words) and width * n < 2**31:
        chars = np.array([w.encode("ascii") for w in words], dtype=f"S{width}")[steps]
        offsets = np.arange(0, width * (n + 1), width, dtype=np.int32)
        return pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(offsets),
                                                      pa.py_buffer(chars)])
    return pa.DictionaryArray.from_arrays(arrow_array(steps, pa.int16()),
                                          arrow_strings(words)).cast(pa.string())


#: Per-lab measures of the lab table, in its metric dictionary's order.
LAB_METRICS = ("lab_bench", "lab_robust", "lab_frontier", "lab_cash", "lab_compute",
               "lab_revenue", "lab_alive", "lab_price", "lab_serving_cost")


def lab_table(results: Any) -> pa.Table:
    """Every lab's own outputs as a long table (schema :data:`LAB_SCHEMA`): one row per
    (run, month, lab, metric) of :data:`LAB_METRICS`, beside the camp table of
    :func:`tidy_table`. Non-finite values (a lab without a released model) are left out."""
    return pa.concat_tables(lab_pieces(results))


def lab_pieces(results: Any) -> Iterator[pa.Table]:
    """:func:`lab_table` in pieces of consecutive rows, one per metric of
    :data:`LAB_METRICS` (about 240,000 rows in a chunk of 200 runs of the baseline)."""
    pop = results.world.population
    start, n_runs, n_months, n_labs = (results.world.params.start_month, results.n_runs,
                                       results.n_months, pop.n_labs)
    run_ids = np.asarray(results.run_ids, dtype=np.int32)
    lab_camp = np.asarray(pop.lab_camp, dtype=np.int32)
    schema = _with_metric_units(LAB_SCHEMA, {name: MEASURES[name].unit for name in LAB_METRICS})
    labs, camps, metrics = (arrow_strings(list(pop.lab_ids)), arrow_strings(list(CAMPS)),
                            arrow_strings(list(LAB_METRICS)))
    for k, name in enumerate(LAB_METRICS):
        v = MEASURES[name].series(results).reshape(-1)
        keep = np.isfinite(v)
        steps = np.tile(np.repeat(np.arange(n_months, dtype=np.int16), n_labs), n_runs)[keep]
        lab = np.tile(np.arange(n_labs, dtype=np.int32), n_runs * n_months)[keep]
        yield pa.Table.from_arrays([
            arrow_array(np.repeat(run_ids, n_months * n_labs)[keep], pa.int32()),
            arrow_array(steps, pa.int16()),
            _month_strings(steps, start, n_months),
            pa.DictionaryArray.from_arrays(arrow_array(lab, pa.int32()), labs),
            pa.DictionaryArray.from_arrays(arrow_array(lab_camp[lab], pa.int32()), camps),
            pa.DictionaryArray.from_arrays(
                arrow_array(np.full(len(steps), k, dtype=np.int32), pa.int32()), metrics),
            arrow_array(v[keep], pa.float64()),
        ], schema=schema)


# --------------------------------------------------------------------------- events

EVENT_COLUMNS = ("run", "month", "step", "actor", "event", "detail")


def event_log(results: Any) -> list[dict[str, Any]]:
    """Events per run, sorted by run then step: one dict per event with ``run``, ``month``
    (YYYY-MM), ``step``, ``actor`` (sovereign, region, lab name or ``world``), ``event`` and
    ``detail``.

    Kinds: scheduled scenario events (``event`` = their kind, repeated for every run),
    ``<policy>_enacted`` / ``<policy>_lapsed`` when a sovereign's own decision enacts or drops
    a ban, distillation crackdown or export tightening (detail gives its pressure),
    ``ban_in_force`` / ``ban_lifted`` and ``crackdown_in_force`` / ``crackdown_lifted`` when a
    sovereign's policy flag changes (scheduled or enacted), ``random_funding_shock`` (a
    region's random sentiment crash), ``random_safety_shock`` (months with at least one
    random shock; detail gives the count; scheduled shocks have their own rows), ``exit``
    (a lab ran out of cash and its compute was written off) and ``acquired`` (a lab ran out of
    cash and its compute moved to the acquirer).
    """
    pop = results.world.population
    start = results.world.params.start_month
    arr = results.arrays
    run_ids = np.asarray(results.run_ids)
    rows: list[tuple[int, int, int, str, str, str]] = []  # (run, step, order, actor, ev, det)

    for order, ev in enumerate(results.world.schedule):
        actor, label = ev.actor(pop), ev.label(pop)
        for r in run_ids:
            rows.append((int(r), int(ev.month), order, actor, ev.kind, label))

    for flag, label in (("ban_active", "ban"), ("crackdown_active", "crackdown")):
        if flag not in arr:
            continue
        on = arr[flag] > 0.5
        prev = np.concatenate([np.zeros_like(on[:, :1]), on[:, :-1]], axis=1)
        for kind, mask in ((f"{label}_in_force", on & ~prev), (f"{label}_lifted", ~on & prev)):
            for i, t, s in zip(*np.nonzero(mask), strict=True):
                pressure = arr["pressure"][i, t, s] if "pressure" in arr else np.nan
                rows.append((int(run_ids[i]), int(t), 1000, pop.sovereign_ids[s], kind,
                             f"{pop.sovereign_ids[s]} {label} {kind.split('_', 1)[1]}"
                             .replace("_", " ") + f" (pressure {pressure:.2f})"))

    if "policy_change" in arr:
        change = arr["policy_change"]
        for i, t, s, k in zip(*np.nonzero(change), strict=True):
            sov = pop.sovereign_ids[s]
            enacted = change[i, t, s, k] > 0
            rows.append((int(run_ids[i]), int(t), 500, sov,
                         f"{POLICIES[k]}_{'enacted' if enacted else 'lapsed'}",
                         _decision_detail(results, sov, POLICIES[k], enacted,
                                          float(arr["pressure"][i, t, s]))))

    size = results.world.params.random_shock_size
    if "random_funding_shocks" in arr and size > 0:  # a shock of size 0 changes nothing
        for i, t, g in zip(*np.nonzero(arr["random_funding_shocks"] > 0.5), strict=True):
            rows.append((int(run_ids[i]), int(t), 1500, JURISDICTIONS[g], "random_funding_shock",
                         f"{JURISDICTIONS[g]} investor sentiment falls {size:.0%} (random shock)"))

    if "safety_shocks" in arr:
        # The recorded count includes scheduled shocks, which have their own rows above.
        scheduled = np.zeros(arr["safety_shocks"].shape[1])
        for ev in results.world.schedule:
            scheduled[ev.month] += ev.safety_shocks
        shocks = arr["safety_shocks"] - scheduled[None, :]
        for i, t in zip(*np.nonzero(shocks > 0.5), strict=True):
            n = int(round(shocks[i, t]))
            rows.append((int(run_ids[i]), int(t), 2000, "world", "random_safety_shock",
                         f"{n} random safety shock{'s' if n != 1 else ''}"))

    if "exit_month" in arr:
        exit_month = arr["exit_month"]
        acquirer = arr.get("acquirer", np.full_like(exit_month, -1))
        for i, lab in zip(*np.nonzero(exit_month >= 0), strict=True):
            name = pop.lab_names[lab]
            camp = CAMPS[pop.lab_camp[lab]]
            buyer = int(acquirer[i, lab])
            if buyer >= 0:
                kind = "acquired"
                detail = (f"{name} ({camp}) ran out of cash; compute acquired by "
                          f"{pop.lab_names[buyer]}")
            else:
                kind = "exit"
                detail = f"{name} ({camp}) ran out of cash and exited; compute written off"
            rows.append((int(run_ids[i]), int(exit_month[i, lab]), 3000, name, kind, detail))

    rows.sort(key=lambda x: (x[0], x[1], x[2]))
    return [{"run": r, "month": format_month(start + t), "step": t, "actor": actor,
             "event": ev, "detail": detail} for r, t, _, actor, ev, detail in rows]


def _decision_detail(results: Any, sovereign: str, policy: str, enacted: bool,
                     pressure: float) -> str:
    """Human-readable detail of an enacted or lapsed policy."""
    p = results.world.params
    pop = results.world.population
    verb = "enacts" if enacted else "lets lapse"
    what = {
        "ban": f"an open-weight ban above {p.ban_threshold_flop:.1e} FLOP "
               f"(enforcement {p.ban_enforcement:.0%})",
        "distillation_crackdown": f"a distillation crackdown (efficiency kept "
                                  f"{p.crackdown_enforcement:.0%})",
        "export_tightening": "export-control tightening on "
                             + JURISDICTIONS[int(pop.sov_export_target[
                                 pop.sovereign_ids.index(sovereign)])]
                             + f" (price x{p.export_tightening_price_factor:g}, cap "
                               f"x{p.export_tightening_cap_factor:g})",
    }[policy]
    return f"{sovereign} {verb} {what} at pressure {pressure:.2f}"


def events_csv(rows: list[dict[str, Any]]) -> str:
    """The event log as CSV text (header :data:`EVENT_COLUMNS`)."""
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=EVENT_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buf.getvalue()


# --------------------------------------------------------------------------- writing


#: Runs per chunk of the tidy table: rows are ordered by chunk, then by metric within it, so
#: this fixes the row order (and must not change, or files differ from earlier ones).
TIDY_CHUNK_RUNS = 200

#: Columns dictionary-encoded in the Parquet file. ``value`` is left out: its values rarely
#: repeat, so a dictionary only costs time (about a fifth of the write) and space.
DICTIONARY_COLUMNS = ["metric", "camp", "segment"]

#: Columns dictionary-encoded in ``labs.parquet``: its labels (``value`` and ``month`` cost
#: more time encoded so than they save space).
LAB_DICTIONARY_COLUMNS = ["lab", "camp", "metric"]

#: Arrays of ``Results`` that the figures and the run's headline lines read: the only ones
#: kept for every run while the tidy table is streamed to disk (about 30 KiB a run, against
#: 70 KiB for all arrays).
SUMMARY_ARRAYS = ("bench_frontier", "tokens", "spend", "alive", "cash", "ban_active",
                  "crackdown_active", "sovereign_grants", "large_open_tokens")


def parquet_writer(path: Path) -> pq.ParquetWriter:
    """A writer of the tidy table (schema :func:`tidy_schema`, zstd) at ``path``."""
    return pq.ParquetWriter(path, tidy_schema(), compression="zstd",
                            use_dictionary=DICTIONARY_COLUMNS)


def write_tidy_parquet(results: Any, path: Path, *,
                       runs_per_chunk: int = TIDY_CHUNK_RUNS) -> int:
    """Write :func:`tidy_table` to ``path`` one chunk of runs at a time (bounded memory);
    returns the number of rows."""
    n_rows = 0
    with atomic_path(path) as tmp:
        with parquet_writer(tmp) as writer:
            for lo in range(0, results.n_runs, runs_per_chunk):
                table = tidy_table(select_runs(results, slice(lo, lo + runs_per_chunk)))
                writer.write_table(table)
                n_rows += table.num_rows
    return n_rows


def write_lab_parquet(results: Any, path: Path, *, runs_per_chunk: int = 200) -> int:
    """Write :func:`lab_table` to ``path`` one chunk of runs at a time; returns the rows."""
    n_rows = 0
    with atomic_path(path) as tmp:
        writer: pq.ParquetWriter | None = None
        try:
            for lo in range(0, results.n_runs, runs_per_chunk):
                table = lab_table(select_runs(results, slice(lo, lo + runs_per_chunk)))
                if writer is None:
                    writer = pq.ParquetWriter(tmp, table.schema, compression="zstd")
                writer.write_table(table)
                n_rows += table.num_rows
        finally:
            if writer is not None:
                writer.close()
    return n_rows


def return_free_memory() -> None:
    """Give the memory freed by the tables back to the operating system: Arrow's allocator
    keeps it for reuse, and so does the C library's for blocks numpy freed (up to 32 MB
    each), both counted in the process's resident memory (at 10,000 runs about 250 MB,
    which a figure helper forked next would count again). ``malloc_trim`` is glibc's; on
    other platforms only Arrow's memory is handed back."""
    pa.default_memory_pool().release_unused()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


class ThreadedParquetWriter:
    """A Parquet file appended to from a thread of its own.

    pyarrow encodes and compresses a table without holding the GIL, so while this writer's
    thread writes one table the caller makes the next one, on another core. ``append``
    returns at once unless ``depth`` tables are still to be written (then it waits for the
    oldest), so at most ``depth`` tables are held besides the one the caller is making.
    The file is opened on the first table, by ``open_writer(table)`` (so its schema may come
    from the table). ``close`` waits for every table and closes the file; an error of the thread is
    raised by the next ``append`` or by ``close``.
    """

    def __init__(self, open_writer: Callable[[pa.Table], pq.ParquetWriter], *,
                 depth: int = 3) -> None:
        from collections import deque
        from concurrent.futures import ThreadPoolExecutor

        self._open = open_writer
        self._depth = depth
        self._writer: pq.ParquetWriter | None = None
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="parquet")
        self._pending: deque[Any] = deque()  # Futures of the tables handed over, oldest first

    def _write(self, table: pa.Table) -> None:
        if self._writer is None:
            self._writer = self._open(table)
        self._writer.write_table(table)

    def _wait(self, keep: int) -> None:
        """Wait until at most ``keep`` tables are waiting or being written."""
        while len(self._pending) > keep:
            self._pending[0].result()  # raises the thread's error
            self._pending.popleft()

    def append(self, table: pa.Table) -> None:
        """Hand ``table`` to the writer's thread (first waiting, if ``depth`` tables are
        still to be written, for the oldest)."""
        self._wait(self._depth - 1)
        self._pending.append(self._pool.submit(self._write, table))

    def close(self) -> None:
        """Wait for every table, close the file (its footer) and end the thread. The thread
        is ended first, even when this is called while an exception (Ctrl-C) unwinds, so
        the file is never touched by two threads at once."""
        try:
            self._pool.shutdown(wait=True)
            self._wait(0)
        finally:
            if self._writer is not None:
                self._writer.close()


@dataclass
class BatchOutput:
    """What one batch of runs adds to an output folder: ``chunks``, its runs in chunks of
    :data:`TIDY_CHUNK_RUNS` (``Results``; their rows of :func:`tidy_table` and
    :func:`lab_table` are made as they are written); ``events``, its rows of
    :func:`event_log`; ``summary``, its :data:`SUMMARY_ARRAYS` (R, T, ...)."""

    run_ids: np.ndarray
    chunks: list[Any]
    events: list[dict[str, Any]]
    summary: dict[str, np.ndarray]


def batch_output(results: Any) -> BatchOutput:
    """The :class:`BatchOutput` of a batch whose first run starts a tidy chunk (its position
    in the whole run set is a multiple of :data:`TIDY_CHUNK_RUNS`), so that the rows come
    out in the same order as :func:`write_tidy_parquet` of every run at once."""
    chunks = [select_runs(results, slice(lo, lo + TIDY_CHUNK_RUNS))
              for lo in range(0, results.n_runs, TIDY_CHUNK_RUNS)]
    return BatchOutput(run_ids=np.asarray(results.run_ids), chunks=chunks,
                       events=event_log(results),
                       summary={k: results.arrays[k] for k in SUMMARY_ARRAYS})


def write_streamed(batches: Iterable[BatchOutput], out_dir: str | Path, *, scenario: Any,
                   world: Any, seed: int, n_runs: int, scenario_path: str | Path | None,
                   plots: bool = False, extra_files: Sequence[str] = (), processes: int = 1,
                   on_file: Callable[[Path], Any] | None = None,
                   on_complete: Callable[[], Any] | None = None) -> tuple[list[Path], Any]:
    """Write an output folder from ``batches`` of runs arriving in run order (``n_runs`` in
    all), keeping only their summary arrays: ``results.parquet``, ``labs.parquet`` and
    ``events.csv`` grow batch by batch, then the figures (``plots=True``; drawn by
    ``processes`` processes, in the order of :data:`sim.report.plot_files.PLOT_FILES`) and
    ``manifest.json`` last.
    The two Parquet files are each written by a thread of their own
    (:class:`ThreadedParquetWriter`) while this thread makes the next tables.
    ``on_file(path)`` is called as each file is complete (from the process that wrote it);
    ``on_complete()`` once every batch has arrived, before any file is moved into place.
    Returns the paths written and a ``Results`` of every run
    holding only :data:`SUMMARY_ARRAYS`."""
    from sim.core.engine import Results

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run_ids = np.empty(n_runs, dtype=np.int64)
    summary: dict[str, np.ndarray] = {}
    done = 0
    # Both files grow batch by batch (the event log of 10,000 runs held as rows took
    # hundreds of MB); each is moved into place only once complete.
    with (atomic_path(out / RESULTS_FILE) as tmp, atomic_path(out / LABS_FILE) as lab_tmp,
          atomic_path(out / EVENTS_FILE) as ev_tmp):
        writers: list[ThreadedParquetWriter] = []
        try:
            with open(ev_tmp, "w", encoding="utf-8", newline="") as ev_file:
                ev_file.write(events_csv([]))  # the header
                for batch in batches:
                    if not writers:  # threads start after the first batch: any worker
                        # processes of ``batches`` are forked by then, from one thread
                        writers = [ThreadedParquetWriter(lambda _: parquet_writer(tmp)),
                                   ThreadedParquetWriter(  # schema (units) from the table
                                       lambda t: pq.ParquetWriter(
                                           lab_tmp, t.schema, compression="zstd",
                                           use_dictionary=LAB_DICTIONARY_COLUMNS))]
                    n = len(batch.run_ids)
                    for chunk in batch.chunks:  # in pieces: a chunk is never held whole
                        for table in tidy_pieces(chunk):
                            writers[0].append(table)
                        for table in lab_pieces(chunk):
                            writers[1].append(table)
                    ev_file.write(events_csv(batch.events).split("\n", 1)[1])
                    for name, values in batch.summary.items():
                        if name not in summary:  # filled in place: no second copy at the end
                            summary[name] = np.empty((n_runs, *values.shape[1:]), values.dtype)
                        summary[name][done:done + n] = values
                    run_ids[done:done + n] = batch.run_ids
                    done += n
        finally:
            for writer in writers:
                writer.close()
        return_free_memory()  # before the figures, which need memory of their own
        if not writers:  # no batch: an empty table
            parquet_writer(tmp).close()
        if done != n_runs:
            raise ValueError(f"write_streamed: {done} runs arrived, {n_runs} expected")
        if on_complete is not None:
            on_complete()
    if on_file is not None:
        for name in (RESULTS_FILE, LABS_FILE, EVENTS_FILE):
            on_file(out / name)
    results = Results(scenario=scenario, world=world, seed=seed, run_ids=run_ids,
                      arrays=summary)

    names = [RESULTS_FILE, LABS_FILE, EVENTS_FILE]
    if plots:
        from sim.report import figures as plotting  # matplotlib only when figures are wanted

        names += plotting.write_all(results, out, processes=processes, on_file=on_file)
    if write_draws_table(results, out / DRAWS_FILE):
        names.append(DRAWS_FILE)
        if on_file is not None:
            on_file(out / DRAWS_FILE)
    names += [*extra_files, MANIFEST_FILE]
    doc = manifest(results, scenario_path=scenario_path, files=names)
    write_text_atomic(out / MANIFEST_FILE, json.dumps(doc, indent=2) + "\n")
    if on_file is not None:
        on_file(out / MANIFEST_FILE)
    return [out / name for name in names], results


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def draws_table(results: Any) -> pa.Table | None:
    """Each run's parameter draw: ``run`` (int64), ``particle`` (int64, row of the
    posterior's ``posterior.parquet``) and one float64 column per drawn parameter, named by
    its scenario path, in schema units; None at fixed parameters."""
    columns = run_draws_table(results.scenario, results.seed, results.run_ids)
    return None if columns is None else pa.table(columns)


def write_draws_table(results: Any, path: Path) -> bool:
    """Write :func:`draws_table` to ``path`` atomically; False (nothing written) at fixed
    parameters."""
    table = draws_table(results)
    if table is None:
        return False
    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    return True


def manifest(results: Any, *, scenario_path: str | Path | None,
             files: Sequence[str]) -> dict[str, Any]:
    """The manifest dict written to ``manifest.json``."""
    scenario = results.scenario
    start = results.world.params.start_month
    run_ids = [int(r) for r in results.run_ids]
    return {
        "scenario": {
            "name": scenario.name,
            "file": str(Path(scenario_path).resolve()) if scenario_path else None,
            "content_hash": scenario.content_hash(),
            "resolved": scenario.model_dump(mode="json"),
        },
        **parameters_note(scenario),
        "seed": int(results.seed),
        "n_runs": results.n_runs,
        "run_ids": run_ids,
        "months": {"first": format_month(start),
                   "last": format_month(start + results.n_months - 1),
                   "n": results.n_months},
        "versions": {
            "opengap": sim.__version__,
            "numpy": np.__version__,
            "mesa": _version("mesa"),
            "pyarrow": pa.__version__,
            "python": platform.python_version(),
        },
        "created_utc": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "files": list(files),
        "tidy_columns": {
            "run": "global run id (int32)",
            "step": "months since the first simulated month (int16)",
            "month": "calendar month, YYYY-MM (string; text order is time order)",
            "metric": "output name, see metrics",
            "camp": "lab camp, output camp, camp pair, sovereign id or jurisdiction the value "
                    "is about (see metrics[...].camp); 'all' for market totals",
            "segment": "buyer segment; 'all' where not per segment or summed over segments",
            "value": "float64, never NaN (non-finite values are left out)",
        },
        "metrics": {name: {"unit": unit, "camp": camp, "description": desc}
                    for name, (unit, camp, desc) in tidy_metrics().items()},
        "lab_metrics": {name: {"unit": MEASURES[name].unit,
                               "description": MEASURES[name].description}
                        for name in LAB_METRICS},
        "history_attribution": "ECI history: Epoch AI (epoch.ai), CC BY 4.0",
    }


def write_results(results: Any, out_dir: str | Path, *, scenario_path: str | Path | None,
                  plots: bool = False, extra_files: Sequence[str] = ()) -> list[Path]:
    """Write ``results.parquet`` and ``events.csv``, then (``plots=True``) the figures of
    :func:`sim.report.figures.write_all`, then ``manifest.json`` last, into ``out_dir`` (created if
    missing). Each file is written atomically. ``extra_files`` (names of other files already
    in ``out_dir``) are listed in the manifest too. Returns the paths written."""
    batches = (batch_output(select_runs(results, slice(lo, lo + TIDY_CHUNK_RUNS)))
               for lo in range(0, results.n_runs, TIDY_CHUNK_RUNS))
    written, _ = write_streamed(batches, out_dir, scenario=results.scenario,
                                world=results.world, seed=results.seed, n_runs=results.n_runs,
                                scenario_path=scenario_path, plots=plots,
                                extra_files=extra_files)
    return written
