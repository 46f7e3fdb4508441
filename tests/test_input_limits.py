"""Scenario inputs that once crashed, went NaN or were reported in the wrong place
(issue 18): non-finite numbers, values that are schema-valid but numerically absurd,
impossible dates, unsafe names, deep nesting, long ``extends`` chains, and errors in a
parent or an included fragment. Each must end in one line naming the file where the
mistake is, before anything runs.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from sim.cli.common import load_scenario_arg
from sim.cli.main import main
from sim.inputs.scenario import MAX_EXTENDS, ScenarioError, load_scenario, resolve_scenario_path
from sim.inputs.tomlfile import MAX_NESTING

CHILD = 'extends = "baseline"\nname = "child"\n'


def _error(path: Path) -> str:
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message, message
    return message


# --- finite numbers and physical bounds --------------------------------------------------


@pytest.mark.parametrize("table,key", [
    ("capability", "usage_scale_t_tokens"),
    ("funding", "narrative_points_scale"),
    ("capability", "distill_efficiency"),
])
@pytest.mark.parametrize("value", ["inf", "-inf", "nan"])
def test_non_finite_numbers_are_refused(write_scenario, table, key, value) -> None:
    message = _error(write_scenario("bad", CHILD + f"[{table}]\n{key} = {value}\n"))
    assert f"bad.toml: {table}.{key}" in message
    assert "finite" in message or "greater" in message or "less" in message


def test_infinite_event_cap_is_refused(write_scenario) -> None:
    text = CHILD + ('[[events]]\nkind = "export_controls"\nmonth = "2027-01"\nsovereign = "US"\n'
                    'target = "CN"\nprice_multiplier = 2.0\ncap_h100e_per_month = inf\n')
    message = _error(write_scenario("bad", text))
    assert "bad.toml: events[0].cap_h100e_per_month: Input should be a finite number" in message


@pytest.mark.parametrize("table,key,value", [
    ("capability", "flop_per_h100e_month", "1e-200"),  # was: math domain error traceback
    ("capability", "training_share", "1e-200"),  # was: math domain error traceback
    ("compute", "rental_usd_per_h100e_hour", "5e-324"),  # was (as price_usd_per_h100e): nan
    ("compute", "price_decline_per_year", "0.9999999999999999"),  # was: nan, long horizon
    ("capability", "usage_scale_t_tokens", "5e-324"),  # was: nan headlines
    ("market", "serving_cost_decline_per_year", "0.9999999999999999"),
])
def test_numerically_absurd_values_are_refused(write_scenario, table, key, value) -> None:
    message = _error(write_scenario("bad", CHILD + f"[{table}]\n{key} = {value}\n"))
    assert f"bad.toml: {table}.{key}: Input should be" in message


def test_an_accepted_corner_runs_finite(scenario_dir, tmp_path, capsys) -> None:
    """The most extreme values the bounds allow for the old NaN cases, over the longest
    horizon, run to the end with finite numbers in every written row."""
    path = scenario_dir / "corner.toml"
    path.write_text(CHILD.replace("child", "corner") + (
        '[time]\nend = "2076-03"\n[population]\nbuyers_per_segment = 3\n'
        "[capability]\nflop_per_h100e_month = 1e18\ntraining_share = 1e-3\n"
        "usage_scale_t_tokens = 1e-3\n[compute]\nrental_usd_per_h100e_hour = 0.01\n"
        "price_decline_per_year = 0.9\n[market]\nserving_cost_decline_per_year = 0.99\n"
        ), encoding="utf-8")
    out = tmp_path / "out"
    code = main(["run", str(path), "--runs", "2", "--out", str(out), "--no-plots"])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "nan" not in capsys.readouterr().out
    import numpy as np
    import pyarrow.parquet as pq

    values = pq.read_table(out / "results.parquet", columns=["value"]).column(0).to_numpy()
    assert np.isfinite(values).all()


def test_manifest_is_standard_json(scenario_dir, tmp_path) -> None:
    out = tmp_path / "out"
    path = scenario_dir / "small.toml"
    path.write_text(CHILD.replace("child", "small") + '[time]\nend = "2026-09"\n'
                    "[population]\nbuyers_per_segment = 3\n", encoding="utf-8")
    assert main(["run", str(path), "--runs", "1", "--out", str(out), "--no-plots"]) == 0
    text = (out / "manifest.json").read_text()
    json.loads(text, parse_constant=lambda c: pytest.fail(f"non-standard JSON {c}"))


# --- dates -------------------------------------------------------------------------------


@pytest.mark.parametrize("end", ["2029-02-31", "2029-04-31", "2029-02-00", "2029-13"])
def test_impossible_dates_are_refused(write_scenario, end) -> None:
    message = _error(write_scenario("bad", CHILD + f'[time]\nend = "{end}"\n'))
    assert "bad.toml: time.end" in message


def test_a_real_day_is_accepted(write_scenario) -> None:
    scenario = load_scenario(write_scenario("ok", CHILD + '[time]\nend = "2028-02-29"\n'))
    assert scenario.time.end == "2028-02"


# --- names that become folders -----------------------------------------------------------


@pytest.mark.parametrize("name", ["../../X", "/tmp/abs", "a/b", "..", ".hidden", "", " x",
                                  "x" * 101])
def test_names_must_be_slugs(write_scenario, name) -> None:
    text = f'extends = "baseline"\nname = {json.dumps(name)}\n'
    message = _error(write_scenario("bad", text))
    assert "bad.toml: name" in message


@pytest.mark.parametrize("name", ["baseline-2", "my run 2", "v1.2_final"])
def test_slug_names_are_accepted(write_scenario, name) -> None:
    text = f'extends = "baseline"\nname = {json.dumps(name)}\n'
    assert load_scenario(write_scenario("ok", text)).name == name


# --- nesting and inheritance depth -------------------------------------------------------


@pytest.mark.parametrize("levels", [MAX_NESTING + 1, 500, 50_000])
def test_deep_nesting_is_one_line(tmp_path, levels) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("x = " + "[" * levels + "]" * levels + "\n", encoding="utf-8")
    message = _error(path)
    assert "nested too deeply" in message
    assert str(path) in message


def test_deep_inline_tables_are_one_line(tmp_path) -> None:
    path = tmp_path / "deep.toml"
    path.write_text("a = " + "{b = " * 5000 + "1" + "}" * 5000 + "\n", encoding="utf-8")
    assert "nested too deeply" in _error(path)


def _chain(folder: Path, length: int) -> Path:
    prev = "baseline"
    for i in range(length):
        (folder / f"s{i}.toml").write_text(f'extends = "{prev}"\nname = "s{i}"\n',
                                           encoding="utf-8")
        prev = f"s{i}"
    return folder / f"s{length - 1}.toml"


def test_long_extends_chain_is_one_line(scenario_dir) -> None:
    message = _error(_chain(scenario_dir, 1200))
    assert f"chain longer than {MAX_EXTENDS} files" in message


def test_extends_chain_within_the_limit_loads(scenario_dir) -> None:
    assert load_scenario(_chain(scenario_dir, MAX_EXTENDS - 1)).name == f"s{MAX_EXTENDS - 2}"


# --- errors reported where the mistake is ------------------------------------------------


def test_bad_value_in_a_parent_names_the_parent(write_scenario) -> None:
    write_scenario("mid", 'extends = "baseline"\nname = "mid"\n[capability]\n'
                   "distill_efficiency = 7.0\n")
    child = write_scenario("leaf", 'extends = "mid"\nname = "leaf"\n')
    message = _error(child)
    assert message.startswith(str(child.parent / "mid.toml") + ": capability.distill_efficiency")


def test_child_fixing_a_parents_value_loads(write_scenario) -> None:
    write_scenario("mid", 'extends = "baseline"\nname = "mid"\n[capability]\n'
                   "distill_efficiency = 7.0\n")
    child = write_scenario("leaf", 'extends = "mid"\nname = "leaf"\n[capability]\n'
                           "distill_efficiency = 0.5\n")
    assert load_scenario(child).capability.distill_efficiency == 0.5


def test_unknown_key_in_a_fragment_names_the_fragment(write_scenario, scenario_dir) -> None:
    (scenario_dir / "fragments").mkdir()
    fragment = scenario_dir / "fragments" / "cal.toml"
    fragment.write_text("[capability]\ndistil_efficiency = 0.5\n", encoding="utf-8")
    child = write_scenario("child", CHILD + 'include = ["fragments/cal.toml"]\n')
    message = _error(child)
    assert message.startswith(f"{fragment}: capability.distil_efficiency: unknown key")


def test_event_index_counts_the_files_own_events(write_scenario) -> None:
    write_scenario("mid", 'extends = "baseline"\nname = "mid"\n[[events]]\n'
                   'kind = "safety_shock"\nmonth = "2027-01"\nsize = 1.0\n')
    child = write_scenario("leaf", 'extends = "mid"\nname = "leaf"\n[[events]]\n'
                           'kind = "safety_shock"\nmonth = "2027-02"\nsize = 1.0\n'
                           '[[events]]\nkind = "safety_shock"\nmonth = "2027-03"\nsize = -1.0\n')
    message = _error(child)
    assert message.startswith(f"{child}: events[1].size")


def test_bad_event_in_a_parent_names_the_parent_and_its_index(write_scenario) -> None:
    mid = write_scenario("mid", 'extends = "baseline"\nname = "mid"\n[[events]]\n'
                         'kind = "safety_shock"\nmonth = "2027-01"\nsize = -1.0\n')
    child = write_scenario("leaf", 'extends = "mid"\nname = "leaf"\n')
    message = _error(child)
    assert message.startswith(f"{mid}: events[0].size")


# --- resolution of a SCENARIO argument ---------------------------------------------------


def test_a_folder_named_like_a_shipped_scenario_does_not_shadow_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "baseline").mkdir()  # e.g. left by `--out baseline`
    scenario, path = load_scenario_arg("baseline")
    assert scenario.name == "baseline"
    assert path.parent.name in ("scenarios", "_scenarios")


def test_a_toml_path_comes_before_a_shipped_name(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = resolve_scenario_path("baseline").read_text(encoding="utf-8")
    (tmp_path / "baseline.toml").write_text(text.replace('name = "baseline"', 'name = "mine"'),
                                            encoding="utf-8")
    # the posterior the copy names, beside it
    shutil.copytree(resolve_scenario_path("baseline").parent / "posteriors",
                    tmp_path / "posteriors")
    assert load_scenario_arg("baseline.toml")[0].name == "mine"
    assert load_scenario_arg("baseline")[0].name == "baseline"


@pytest.mark.parametrize("arg", ["../../x/evil", "/etc/passwd", "nosuch"])
def test_a_name_never_reaches_outside_the_shipped_folder(arg) -> None:
    with pytest.raises(ScenarioError) as info:
        load_scenario_arg(arg)
    assert "no shipped scenario of that name" in str(info.value)


# --- a non-finite number in a run stops it -----------------------------------------------


def _poisoned(monkeypatch, field: str, value: float) -> None:
    """Make every world built by the engine carry ``params.<field> = value``, past the
    schema's bounds (as a future mechanism or a bound too loose could)."""
    from dataclasses import replace

    from sim.core import engine

    real = engine.build_world

    def build(scenario, seeds):
        world = real(scenario, seeds)
        return replace(world, params=replace(world.params, **{field: value}))

    monkeypatch.setattr(engine, "build_world", build)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_non_finite_state_stops_the_run_naming_field_lab_and_month(small_scenario, seeds,
                                                                    monkeypatch) -> None:
    from sim.core.engine import NonFiniteError, simulate

    # A rental price of 1e-300 USD bn an H100e-month (far below the schema's 1 cent an hour)
    # makes the contracts, hence a run's FLOP, overflow.
    _poisoned(monkeypatch, "rental0_usd_bn_per_h100e_month", 1e-300)
    with pytest.raises(NonFiniteError) as info:
        simulate(small_scenario, n_runs=3, seed=0, seeds=seeds)
    message = str(info.value)
    assert "\n" not in message
    # Which lab overflows first follows the economics; the message names it and the month.
    assert re.match(r"baseline: run 0: run_flop of lab [a-z_]+ is inf in 2026-07: ", message), \
        message


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_cli_run_reaching_nan_exits_2_and_writes_nothing(scenario_dir, tmp_path, capsys,
                                                         monkeypatch) -> None:
    _poisoned(monkeypatch, "rental0_usd_bn_per_h100e_month", 1e-300)
    path = scenario_dir / "small.toml"
    path.write_text(CHILD.replace("child", "small") + '[time]\nend = "2026-09"\n'
                    "[population]\nbuyers_per_segment = 3\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(["run", str(path), "--runs", "2", "--out", str(out), "--no-plots"])
    err = capsys.readouterr().err
    assert code == 2
    # Progress lines may come first (the run fails in its fourth month); the error is one line.
    errors = [line for line in err.splitlines() if line.startswith("opengap: error:")]
    assert len(errors) == 1 and "Traceback" not in err
    assert err.splitlines()[-1] == errors[0]
    assert re.search(r"small: run 0: run_flop of lab [a-z_]+ is inf in 2026-07: ", errors[0])
    assert not out.exists()
