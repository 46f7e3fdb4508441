"""Shared fixtures: the baseline scenario, a small fast variant, the seeds and a scratch
scenario folder holding a copy of ``baseline.toml`` for ``extends = "baseline"`` children."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from sim.inputs.scenario import Scenario, load_scenario
from sim.inputs.seeds import Seeds, load_seeds

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"
BASELINE_PATH = SCENARIOS / "baseline.toml"

#: Overrides that make a world small enough for many runs in a unit test (15 months,
#: 30 buyers).
SMALL = {"population.buyers_per_segment": 6, "time.end": "2027-06"}


@pytest.fixture(scope="session")
def baseline() -> Scenario:
    return load_scenario(BASELINE_PATH)


@pytest.fixture(scope="session")
def small_scenario(baseline: Scenario) -> Scenario:
    return baseline.with_overrides(SMALL)


@pytest.fixture(scope="session")
def seeds() -> Seeds:
    return load_seeds()


@pytest.fixture
def scenario_dir(tmp_path: Path) -> Path:
    """A temporary folder with a copy of ``baseline.toml``."""
    shutil.copy(BASELINE_PATH, tmp_path / "baseline.toml")
    return tmp_path


@pytest.fixture
def write_scenario(scenario_dir: Path) -> Callable[[str, str], Path]:
    """Write ``text`` to ``<scenario_dir>/<name>.toml`` and return its path."""

    def write(name: str, text: str) -> Path:
        path = scenario_dir / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write
