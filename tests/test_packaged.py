"""An installed wheel carries every file its commands read (issue 14 item 7).

Builds the wheel, unpacks it into a scratch folder and runs the commands from another
folder with only that copy of ``sim`` importable ahead of the test environment's, so the
seeds, scenarios and bets file must come from inside the package."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    wheels = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels),
         str(REPO)], capture_output=True, text=True, timeout=600)
    if build.returncode != 0:
        pytest.skip(f"could not build the wheel here: {build.stderr.strip()[-300:]}")
    (wheel,) = wheels.glob("opengap-*.whl")
    site = tmp_path_factory.mktemp("site")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(site)
    return site


def _opengap(site: Path, cwd: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(site)}
    return subprocess.run([sys.executable, "-m", "sim", *argv], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def test_the_wheel_packs_seeds_scenarios_and_bets(unpacked_wheel: Path) -> None:
    pkg = unpacked_wheel / "sim"
    assert (pkg / "_seeds" / "labs.csv").is_file()
    assert (pkg / "_seeds" / "history-2023" / "labs.csv").is_file()
    assert (pkg / "_scenarios" / "baseline.toml").is_file()
    assert (pkg / "_bets.toml").is_file()


def test_commands_run_from_another_folder_on_the_wheel(unpacked_wheel: Path,
                                                       tmp_path: Path) -> None:
    where = subprocess.run(
        [sys.executable, "-c", "import sim; print(sim.__file__)"], cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(unpacked_wheel)}, capture_output=True, text=True)
    assert where.stdout.strip().startswith(str(unpacked_wheel)), where.stdout
    run = _opengap(unpacked_wheel, tmp_path, "run", "baseline", "--runs", "2", "--no-plots",
                   "--out", "out")
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "results.parquet").is_file()
    bets = _opengap(unpacked_wheel, tmp_path, "bets", "--runs", "2", "--out", "bets")
    assert bets.returncode == 0, bets.stderr
    assert (tmp_path / "bets" / "scorecard.csv").is_file()
    history = _opengap(unpacked_wheel, tmp_path, "run", "history-2023", "--runs", "1",
                       "--no-plots", "--out", "hist")
    assert history.returncode == 0, history.stderr
