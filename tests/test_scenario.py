"""Scenario loading, inheritance, validation messages, overrides and hashing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sim.inputs.scenario import EVENT_KINDS, Scenario, ScenarioError, load_scenario

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
BASELINE_PATH = SCENARIOS / "baseline.toml"

CHILD = 'extends = "baseline"\nname = "child"\n'


def _load_error(path: Path) -> str:
    """Load ``path`` expecting a ScenarioError; return its message after common checks."""
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    message = str(info.value)
    assert "\n" not in message, f"error message is not one line: {message!r}"
    assert str(path) in message or str(path.resolve()) in message, message
    return message


# --- loading ----------------------------------------------------------------------------


def test_baseline_loads(baseline: Scenario) -> None:
    assert baseline.name == "baseline"
    assert baseline.time.start == "2026-04"
    assert baseline.time.n_months > 1
    assert baseline.population.buyers_per_segment >= 1
    assert [e.kind for e in baseline.events] == ["export_controls"]


@pytest.mark.parametrize("path", sorted(SCENARIOS.glob("*.toml")), ids=lambda p: p.stem)
def test_every_shipped_scenario_loads(path: Path) -> None:
    scenario = load_scenario(path)
    assert isinstance(scenario, Scenario)
    assert scenario.name
    # Counterfactuals inherit the baseline's schedule, never drop it.
    if path != BASELINE_PATH:
        assert len(scenario.events) >= 1


def test_child_overrides_scalar_and_keeps_rest(write_scenario, baseline: Scenario) -> None:
    path = write_scenario("child", CHILD + "[capability]\ndistill_efficiency = 0.7\n")
    child = load_scenario(path)
    assert child.name == "child"
    assert child.capability.distill_efficiency == 0.7
    assert child.capability.fast_follow_rate == baseline.capability.fast_follow_rate
    assert child.funding == baseline.funding
    assert child.description == ""  # the parent's description is not inherited


def test_child_events_are_appended_to_parents(write_scenario, baseline: Scenario) -> None:
    text = CHILD + (
        '[[events]]\nkind = "ban"\nmonth = "2027-01"\nsovereign = "US"\n'
        "threshold_flop = 1e26\nenforcement = 0.8\n"
        '[[events]]\nkind = "safety_shock"\nmonth = "2026-06"\nsize = 2.0\n'
    )
    child = load_scenario(write_scenario("child", text))
    assert len(child.events) == len(baseline.events) + 2
    assert child.events[: len(baseline.events)] == baseline.events
    assert [e.kind for e in child.events[len(baseline.events):]] == ["ban", "safety_shock"]


def test_grandchild_events_accumulate(write_scenario, baseline: Scenario) -> None:
    write_scenario("mid", CHILD + '[[events]]\nkind = "safety_shock"\nmonth = "2026-06"\n'
                   "size = 1.0\n")
    path = write_scenario("leaf", 'extends = "mid"\nname = "leaf"\n[[events]]\n'
                          'kind = "safety_shock"\nmonth = "2026-07"\nsize = 3.0\n')
    leaf = load_scenario(path)
    assert [e.month for e in leaf.events[len(baseline.events):]] == ["2026-06", "2026-07"]


# --- validation errors ------------------------------------------------------------------


def test_unknown_top_level_key(write_scenario) -> None:
    message = _load_error(write_scenario("bad", CHILD + "bogus_key = 1\n"))
    assert "bogus_key" in message
    assert "unknown key" in message
    for allowed in ("time", "population", "capability", "funding", "events"):
        assert allowed in message


def test_unknown_nested_key_lists_allowed_keys(write_scenario) -> None:
    message = _load_error(write_scenario("bad", CHILD + "[capability]\ndistil_eficiency = 0.3\n"))
    assert "capability.distil_eficiency" in message
    assert "unknown key" in message
    for allowed in ("distill_efficiency", "eci_per_log10_flop", "fast_follow_rate"):
        assert allowed in message


def test_unknown_key_in_event_lists_allowed_keys(write_scenario) -> None:
    text = CHILD + ('[[events]]\nkind = "ban"\nmonth = "2027-01"\nsovereign = "US"\n'
                    "threshold_flop = 1e26\nenforcement = 0.5\nenforcment = 0.5\n")
    message = _load_error(write_scenario("bad", text))
    assert "events[0].enforcment" in message  # this file's own first event
    for allowed in ("threshold_flop", "enforcement", "sovereign"):
        assert allowed in message


def test_out_of_range_value_names_field_and_bound(write_scenario) -> None:
    message = _load_error(write_scenario("bad", CHILD + "[capability]\ndistill_efficiency = 1.5\n"))
    assert "capability.distill_efficiency" in message
    assert "less than or equal to 1" in message
    assert "1.5" in message


@pytest.mark.parametrize(
    ("table", "key", "value", "bound"),
    [
        ("funding", "sentiment_volatility", "2.5", "2"),
        ("policy", "safety_shock_rate_per_year", "-1.0", "0"),
        ("compute", "price_decline_per_year", "0.95", "less than or equal to 0.9"),
        ("population", "buyers_per_segment", "0", "1"),
        ("capability", "release_noise_points", "20.5", "20"),
    ],
)
def test_other_out_of_range_values(write_scenario, table, key, value, bound) -> None:
    message = _load_error(write_scenario("bad", CHILD + f"[{table}]\n{key} = {value}\n"))
    assert f"{table}.{key}" in message
    assert bound in message


@pytest.mark.parametrize(
    ("table", "key", "value"),
    [
        ("population", "buyers_per_segment", '"many"'),
        ("capability", "distill_efficiency", '"high"'),
        ("capability", "distill_efficiency", "[0.1, 0.2]"),
        ("funding", "acquisition_probability", "{ a = 1 }"),
        ("population", "buyers_per_segment", "2.5"),
    ],
)
def test_wrong_type(write_scenario, table, key, value) -> None:
    message = _load_error(write_scenario("bad", CHILD + f"[{table}]\n{key} = {value}\n"))
    assert f"{table}.{key}" in message


def test_table_replaced_by_scalar(write_scenario) -> None:
    message = _load_error(write_scenario("bad", CHILD + "capability = 3\n"))
    assert "capability" in message


@pytest.mark.parametrize("month", ["2027-13", "2027/06", "June 2027", "27-06", "2027-00"])
def test_bad_month_string(write_scenario, month: str) -> None:
    message = _load_error(write_scenario("bad", CHILD + f'[time]\nend = "{month}"\n'))
    assert "time.end" in message
    assert "YYYY-MM" in message or "01..12" in message


def test_month_must_be_a_string(write_scenario) -> None:
    # A TOML date is not a month string.
    message = _load_error(write_scenario("bad", CHILD + "[time]\nend = 2027-06-01\n"))
    assert "time.end" in message


def test_end_before_start(write_scenario) -> None:
    message = _load_error(write_scenario("bad", CHILD + '[time]\nend = "2026-01"\n'))
    assert "time" in message
    assert "end (2026-01) must be after start (2026-04)" in message


def test_start_must_be_seed_month(write_scenario) -> None:
    message = _load_error(write_scenario("bad", CHILD + '[time]\nstart = "2026-05"\n'))
    assert "time" in message
    assert "2026-04" in message


def test_unknown_event_kind_lists_kinds(write_scenario) -> None:
    text = CHILD + '[[events]]\nkind = "nuke"\nmonth = "2027-01"\n'
    message = _load_error(write_scenario("bad", text))
    assert "bad.toml: events[0]" in message  # counted among the child's own events
    for kind in EVENT_KINDS:
        assert kind in message


def test_event_without_kind(write_scenario) -> None:
    message = _load_error(write_scenario("bad", CHILD + '[[events]]\nmonth = "2027-01"\n'))
    assert "events[0]" in message
    assert "kind" in message


def test_event_missing_field(write_scenario) -> None:
    text = CHILD + ('[[events]]\nkind = "ban"\nmonth = "2027-01"\nsovereign = "US"\n'
                    "enforcement = 0.5\n")
    message = _load_error(write_scenario("bad", text))
    assert "events[0].threshold_flop" in message
    assert "missing" in message


def test_event_field_out_of_range(write_scenario) -> None:
    text = CHILD + ('[[events]]\nkind = "funding_shock"\nmonth = "2027-01"\nregion = "CN"\n'
                    "size = 1.0\nhalf_life_months = 6\n")
    message = _load_error(write_scenario("bad", text))
    assert "events[0].size" in message
    assert "less than 1" in message


def test_event_unknown_jurisdiction(write_scenario) -> None:
    text = CHILD + ('[[events]]\nkind = "ban"\nmonth = "2027-01"\nsovereign = "MARS"\n'
                    "threshold_flop = 1e26\nenforcement = 0.5\n")
    message = _load_error(write_scenario("bad", text))
    assert "events[0].sovereign" in message
    assert "MARS" in message


@pytest.mark.parametrize("month", ["2031-01", "2026-03"])
def test_event_outside_horizon(write_scenario, month: str) -> None:
    text = CHILD + f'[[events]]\nkind = "safety_shock"\nmonth = "{month}"\nsize = 1.0\n'
    message = _load_error(write_scenario("bad", text))
    assert "events[0].month" in message
    assert "outside the horizon" in message
    assert month in message


def test_shortening_horizon_invalidates_late_event(write_scenario) -> None:
    text = CHILD + ('[time]\nend = "2026-12"\n[[events]]\nkind = "safety_shock"\n'
                    'month = "2027-06"\nsize = 1.0\n')
    message = _load_error(write_scenario("bad", text))
    assert "events[0].month" in message


def test_missing_file(tmp_path: Path) -> None:
    message = _load_error(tmp_path / "nope.toml")
    assert "not found" in message


def test_malformed_toml(write_scenario) -> None:
    message = _load_error(write_scenario("bad", CHILD + "[capability\ndistill_efficiency = \n"))
    assert "TOML" in message


def test_non_utf8_file(scenario_dir: Path) -> None:
    path = scenario_dir / "bad.toml"
    path.write_bytes(b'name = "\xff\xfe"\n')
    message = _load_error(path)
    assert "TOML" in message


def test_extends_cycle(write_scenario) -> None:
    a = write_scenario("a", 'extends = "b"\nname = "a"\n')
    write_scenario("b", 'extends = "a"\nname = "b"\n')
    message = _load_error(a)
    assert "extends" in message
    assert "cycle" in message
    assert "a.toml" in message and "b.toml" in message


def test_extends_self(write_scenario) -> None:
    message = _load_error(write_scenario("selfish", 'extends = "selfish"\nname = "s"\n'))
    assert "extends" in message
    assert "cycle" in message


def test_extends_missing_parent(write_scenario) -> None:
    message = _load_error(write_scenario("orphan", 'extends = "no_such_parent"\nname = "o"\n'))
    assert "extends" in message
    assert "no_such_parent" in message


def test_extends_not_a_string(write_scenario) -> None:
    message = _load_error(write_scenario("odd", 'extends = 3\nname = "o"\n'))
    assert "extends" in message


def test_several_errors_still_one_line(write_scenario) -> None:
    text = CHILD + "[capability]\ndistill_efficiency = 1.5\nbogus = 1\n[time]\nend = \"x\"\n"
    message = _load_error(write_scenario("bad", text))
    assert "more)" in message


# --- overrides and hashing --------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["capability.nope", "nope", "nope.deeper", "capability.distill_efficiency.x",
             "time.end.year", ""],
)
def test_with_overrides_rejects_unknown_paths(baseline: Scenario, path: str) -> None:
    with pytest.raises(ScenarioError) as info:
        baseline.with_overrides({path: 1})
    assert "\n" not in str(info.value)
    assert "unknown parameter path" in str(info.value)


def test_with_overrides_validates_values(baseline: Scenario) -> None:
    with pytest.raises(ScenarioError) as info:
        baseline.with_overrides({"capability.distill_efficiency": 1.5})
    message = str(info.value)
    assert "\n" not in message
    assert "capability.distill_efficiency" in message


def test_with_overrides_applies_and_does_not_mutate(baseline: Scenario) -> None:
    before = baseline.content_hash()
    changed = baseline.with_overrides({"capability.distill_efficiency": 0.9,
                                       "time.end": "2027-06"})
    assert changed.capability.distill_efficiency == 0.9
    assert changed.time.n_months == 15
    assert baseline.capability.distill_efficiency != 0.9
    assert baseline.content_hash() == before


def test_content_hash_stable_for_same_content(write_scenario) -> None:
    baseline = load_scenario(BASELINE_PATH)
    assert load_scenario(BASELINE_PATH).content_hash() == baseline.content_hash()
    # Restating a value (and reordering tables) changes nothing.
    same = write_scenario("same", 'name = "baseline"\nextends = "baseline"\n'
                          f"description = {json.dumps(baseline.description)}\n"
                          "[funding]\nacquisition_probability = "
                          f"{baseline.funding.acquisition_probability}\n"
                          "[capability]\ndistill_efficiency = "
                          f"{baseline.capability.distill_efficiency}\n")
    restated = load_scenario(same)
    fixed = baseline.model_copy(update={"fixed_parameters": True})
    assert (restated.model_copy(update={"fixed_parameters": True}).content_hash()
            == fixed.content_hash())
    # Under posterior draws, restating a calibrated parameter below the file naming the
    # posterior holds it (a lever): another experiment, another hash.
    assert "capability.distill_efficiency" in restated.levers
    assert restated.content_hash() != baseline.content_hash()
    assert baseline.with_overrides({}).content_hash() == baseline.content_hash()
    digest = baseline.content_hash()
    assert len(digest) == 64 and int(digest, 16) >= 0


def test_content_hash_changes_with_values(baseline: Scenario) -> None:
    base = baseline.content_hash()
    hashes = {
        baseline.with_overrides({"capability.distill_efficiency": 0.31}).content_hash(),
        baseline.with_overrides({"population.buyers_per_segment": 101}).content_hash(),
        baseline.with_overrides({"time.end": "2029-11"}).content_hash(),
        baseline.with_overrides({"name": "other"}).content_hash(),
    }
    assert base not in hashes
    assert len(hashes) == 4


def test_content_hash_changes_with_events(write_scenario, baseline: Scenario) -> None:
    path = write_scenario("child", 'extends = "baseline"\nname = "baseline"\n[[events]]\n'
                          'kind = "safety_shock"\nmonth = "2026-06"\nsize = 1.0\n')
    assert load_scenario(path).content_hash() != baseline.content_hash()
