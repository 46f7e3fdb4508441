"""Fuzzing the scenario and sweep-spec loaders (issue 18).

Hypothesis generates TOML documents: a valid small scenario or spec with random mutations
(values replaced by random TOML values of any type, including ``inf``, ``nan``, huge and
tiny numbers, impossible dates, deep nesting; keys deleted or added; ``extends`` and
``include`` pointing anywhere), and raw bytes. Every input must end in a valid load or a
one-line :class:`~sim.errors.InputError`; through the command line, in exit status 0 or in
exit status 2 with one line on stderr, never a traceback, and never a partial write (the
output folder of a refused command does not exist afterwards).

The documents are written with a small TOML writer below (inline tables), since the
standard library reads TOML but does not write it.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from conftest import copy_baseline  # noqa: E402
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sim.cli.main import main
from sim.errors import InputError
from sim.inputs.scenario import Scenario, load_scenario
from sim.studies.sweeps.spec import SweepSpec, load_spec

SCENARIO = {
    "extends": "baseline",
    "name": "fuzz",
    "time": {"end": "2026-07"},
    "population": {"buyers_per_segment": 2},
    "capability": {"distill_efficiency": 0.4, "usage_scale_t_tokens": 10.0},
    "compute": {"price_decline_per_year": 0.3},
    "funding": {"narrative_points_scale": 20.0},
    "events": [{"kind": "ban", "month": "2026-06", "sovereign": "US",
                "threshold_flop": 1e26, "enforcement": 0.5}],
}
SPEC = {
    "name": "fuzz",
    "scenario": "baseline",
    "design": "lhs",
    "samples": 2,
    "replicates": 1,
    "seed": 3,
    "outcomes": ["gap_points@end"],
    "overrides": {"time.end": "2026-06", "population.buyers_per_segment": 2},
    "parameters": {"capability.distill_efficiency": {"range": [0.1, 0.6]}},
}

#: Cases tried, per test (printed at the end of the session by the last test).
TRIED: dict[str, int] = {}


# --- a small TOML writer -----------------------------------------------------------------


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # TOML basic strings use JSON's escapes
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}"
                               for k, v in value.items()) + "}"
    raise TypeError(type(value))


def toml_document(data: dict[str, Any]) -> str:
    return "".join(f"{json.dumps(str(k))} = {toml_value(v)}\n" for k, v in data.items())


# --- strategies --------------------------------------------------------------------------

scalars = st.one_of(
    st.integers(-2**63, 2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 5e-324, 1e-200, 1e308, 0.9999999999999999, 1.0, 1e32]),
    st.text(max_size=12),
    st.sampled_from(["2029-02-31", "2026-04", "2027-13", "baseline", "../../x", "/etc",
                     "", "US", "CN", "ban", "lhs", "gap_points@end", "x@2099-01"]),
    st.booleans(),
    st.dates(),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=6), inner, max_size=3)),
    max_leaves=8)


def _paths(data: Any, prefix: tuple = ()) -> list[tuple]:
    out = [prefix] if prefix else []
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*prefix, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*prefix, i))
    return out


def _set(data: Any, path: tuple, value: Any, delete: bool) -> None:
    node = data
    for key in path[:-1]:
        node = node[key]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value


@st.composite
def mutated(draw, base: dict[str, Any]) -> dict[str, Any]:
    """``base`` with 0-3 random mutations: a value replaced, a key deleted or added."""
    data = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(0, 3))):
        paths = _paths(data)
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "add" or not paths:
            where = draw(st.sampled_from([p for p in paths if isinstance(_get(data, p), dict)]
                                         + [()]))
            key = draw(st.one_of(st.text(max_size=8),
                                 st.sampled_from(["include", "inherit_events", "extends",
                                                  "description", "levels", "scale"])))
            node = _get(data, where)
            node[key] = draw(values)
        else:
            _set(data, draw(st.sampled_from(paths)), draw(values), action == "delete")
    if draw(st.integers(0, 9)) == 0:  # deep nesting somewhere
        depth = draw(st.sampled_from([10, 40, 200]))
        deep: Any = 1
        for _ in range(depth):
            deep = [deep]
        data["deep"] = deep
    return data


def _get(data: Any, path: tuple) -> Any:
    for key in path:
        data = data[key]
    return data


FUZZ = settings(max_examples=int(os.environ.get("OPENGAP_FUZZ_EXAMPLES", "250")), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
FUZZ_CLI = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def folder(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("fuzz")
    copy_baseline(path)
    (path / "fragments").mkdir()
    (path / "fragments" / "ok.toml").write_text("[capability]\nfast_follow_rate = 0.05\n")
    return path


_counter = itertools.count()


def _write(folder: Path, text: str | bytes) -> Path:
    path = folder / f"case{next(_counter)}.toml"
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


def _loads_or_one_line(load: Any, path: Path, kind: type) -> None:
    try:
        result = load(path)
    except InputError as exc:
        message = str(exc)
        assert message and "\n" not in message, message
        return
    except UnicodeEncodeError:  # a surrogate Hypothesis drew cannot be written as UTF-8
        return
    assert isinstance(result, kind)


def _count(name: str) -> None:
    TRIED[name] = TRIED.get(name, 0) + 1


# --- the loaders -------------------------------------------------------------------------


#: Documents the fuzz test found crashing a loader, kept as explicit examples.
FOUND_SCENARIOS = [
    {**SCENARIO, "events": 0},  # TypeError: 'int' object is not iterable (the merge)
    {"name": "fuzz", "events": 0},
]


@example(doc=FOUND_SCENARIOS[0])
@example(doc=FOUND_SCENARIOS[1])
@FUZZ
@given(doc=mutated(SCENARIO))
def test_scenario_loader_never_crashes(folder, doc) -> None:
    _count("scenario loader")
    try:
        text = toml_document(doc)
    except TypeError:
        return
    _loads_or_one_line(load_scenario, _write(folder, text), Scenario)


@FUZZ
@given(doc=mutated(SPEC))
def test_spec_loader_never_crashes(folder, doc) -> None:
    _count("spec loader")
    _loads_or_one_line(load_spec, _write(folder, toml_document(doc)), SweepSpec)


@FUZZ
@given(raw=st.one_of(st.binary(max_size=200), st.text(max_size=200).map(
    lambda t: t.encode("utf-8", "surrogatepass"))))
def test_loaders_on_raw_bytes(folder, raw) -> None:
    _count("raw bytes (both loaders)")
    path = _write(folder, raw)
    _loads_or_one_line(load_scenario, path, Scenario)
    _loads_or_one_line(load_spec, path, SweepSpec)


# --- through the command line ------------------------------------------------------------


def _cli_case(capsys, folder: Path, argv: list[str], out: Path) -> None:
    code = main(argv)
    captured = capsys.readouterr()
    assert code in (0, 2), (code, captured.err)
    assert "Traceback" not in captured.err
    if code == 2:
        assert captured.err.count("\n") == 1 and captured.err.startswith("opengap: error: "), \
            captured.err
        assert not out.exists(), "a refused command left its output folder"
    else:
        assert (out / "manifest.json").is_file()
    shutil.rmtree(out, ignore_errors=True)


@FUZZ_CLI
@given(doc=mutated(SCENARIO))
def test_cli_run_ends_in_a_run_or_one_line(folder, capsys, doc) -> None:
    _count("opengap run")
    path = _write(folder, toml_document(doc))
    out = folder / "out-run"
    _cli_case(capsys, folder, ["run", str(path), "--runs", "1", "--out", str(out),
                               "--no-plots"], out)


@FUZZ_CLI
@given(doc=mutated(SPEC))
def test_cli_sweep_ends_in_a_sweep_or_one_line(folder, capsys, doc) -> None:
    _count("opengap sweep")
    path = _write(folder, toml_document(doc))
    try:
        spec = load_spec(path)
    except InputError:
        spec = None
    if spec is not None and spec.n_runs * spec.base.time.n_months > 2_000:
        return  # a valid but long sweep: its loading is what is fuzzed here
    out = folder / "out-sweep"
    _cli_case(capsys, folder, ["sweep", str(path), "--out", str(out), "--workers", "1"], out)


def test_report_how_many_cases_were_tried(capsys) -> None:
    """Not a check: prints the number of fuzz cases each test above tried."""
    with capsys.disabled():
        print("\nfuzz cases tried: " + ", ".join(f"{k} {v}" for k, v in TRIED.items())
              + f"; total {sum(TRIED.values())}")
