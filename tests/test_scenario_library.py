"""The shipped scenario library: every file validates, inherits from the baseline, says what
it is, and runs."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from sim.core.engine import simulate
from sim.inputs.scenario import load_scenario, resolve_scenario_path

SCENARIOS = Path(__file__).resolve().parents[1] / "scenarios"
LIBRARY = ("baseline", "cn-funding-crunch", "us-open-ban", "distillation-crackdown",
           "export-controls-tighten", "safety-shock-wave", "sovereign-open-fund",
           "us-open-resurgence", "local-agents-boom")


def test_the_library_is_complete() -> None:
    shipped = {p.stem for p in SCENARIOS.glob("*.toml")}
    assert set(LIBRARY) <= shipped


@pytest.mark.parametrize("name", LIBRARY)
def test_scenario_validates_and_describes_itself(name: str, baseline) -> None:
    path = SCENARIOS / f"{name}.toml"
    scenario = load_scenario(path)
    assert scenario.name == name
    assert scenario.description.strip()
    assert resolve_scenario_path(name) == path or resolve_scenario_path(name).name == path.name
    text = path.read_text(encoding="utf-8")
    assert text.lstrip().startswith("#"), "each scenario opens with a comment saying what it is"
    if name != "baseline":
        assert tomllib.loads(text).get("extends") == "baseline"
        assert scenario.content_hash() != baseline.content_hash()
        # Inheritance keeps the baseline's export controls and appends the new events.
        assert scenario.events[: len(baseline.events)] == baseline.events


@pytest.mark.parametrize("name", LIBRARY)
def test_scenario_runs(name: str, seeds) -> None:
    scenario = load_scenario(SCENARIOS / f"{name}.toml").with_overrides(
        {"population.buyers_per_segment": 7})
    arrays = simulate(scenario, n_runs=2, seed=3, seeds=seeds).arrays
    assert np.isfinite(arrays["bench_frontier"]).all()
    assert np.isfinite(arrays["sovereign_grants"]).all()
