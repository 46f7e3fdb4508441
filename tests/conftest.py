"""Shared fixtures: the baseline scenario, a small fast variant, the seeds and a scratch
scenario folder holding a copy of ``baseline.toml`` for ``extends = "baseline"`` children.

Hypothesis profiles: ``ci`` (loaded when the environment has ``CI=true``, as hosted CI sets
it, or with ``HYPOTHESIS_PROFILE=ci``, as ``.ci/run`` sets it) is derandomized (every run tries
the same examples, derived from each test's source) and keeps no example database, so a
property test can never fail by chance in CI; cases that once failed are kept as explicit
``@example`` decorators. Locally the ``dev`` profile explores new random examples on every run.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import settings

from sim.cli.common import with_parameters
from sim.inputs.scenario import Scenario, load_scenario
from sim.inputs.seeds import Seeds, load_seeds

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev")
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE")
                      or ("ci" if os.environ.get("CI", "").lower() in ("1", "true") else "dev"))

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"
BASELINE_PATH = SCENARIOS / "baseline.toml"

#: Overrides that make a world small enough for many runs in a unit test (15 months,
#: 30 buyers).
SMALL = {"population.buyers_per_segment": 6, "time.end": "2027-06"}


def at_fixed_parameters(scenario: Scenario) -> Scenario:
    """``scenario`` with its posterior ignored (``fixed_parameters``): the values as written.
    Mechanism, invariant and reference tests check rules at known parameter values;
    tests/test_parameter_draws.py checks the draws (and that a drawn run is the fixed run at
    its particle's values)."""
    return with_parameters(scenario, fixed_parameters=True)


@pytest.fixture(scope="session")
def baseline() -> Scenario:
    """The shipped baseline at fixed parameters (see :func:`at_fixed_parameters`)."""
    return at_fixed_parameters(load_scenario(BASELINE_PATH))


@pytest.fixture(scope="session")
def small_scenario(baseline: Scenario) -> Scenario:
    return baseline.with_overrides(SMALL)


@pytest.fixture(scope="session")
def seeds() -> Seeds:
    return load_seeds()


def copy_baseline(folder: Path) -> Path:
    """Copy ``baseline.toml`` and the posterior it names (``posteriors/``) into ``folder``;
    return the copy's path."""
    shutil.copy(BASELINE_PATH, folder / "baseline.toml")
    shutil.copytree(SCENARIOS / "posteriors", folder / "posteriors", dirs_exist_ok=True)
    return folder / "baseline.toml"


@pytest.fixture
def scenario_dir(tmp_path: Path) -> Path:
    """A temporary folder with a copy of ``baseline.toml`` (and its posterior)."""
    copy_baseline(tmp_path)
    return tmp_path


@pytest.fixture
def write_scenario(scenario_dir: Path) -> Callable[[str, str], Path]:
    """Write ``text`` to ``<scenario_dir>/<name>.toml`` and return its path."""

    def write(name: str, text: str) -> Path:
        path = scenario_dir / f"{name}.toml"
        path.write_text(text, encoding="utf-8")
        return path

    return write
