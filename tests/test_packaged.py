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

import pyarrow.parquet as pq
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
    assert pq.read_table(tmp_path / "out" / "labs.parquet").num_rows > 0


def test_more_commands_from_another_folder_on_the_wheel(unpacked_wheel: Path,
                                                        tmp_path: Path) -> None:
    """outcomes, schema, completion, compare, a user scenario extending a shipped one with
    its own seed tables, and a sweep over a named event, all on the wheel's packaged data."""
    for argv in (["outcomes"], ["schema", "--out", "schema.json"], ["completion", "bash"]):
        done = _opengap(unpacked_wheel, tmp_path, *argv)
        assert done.returncode == 0, (argv, done.stderr)
    assert (tmp_path / "schema.json").is_file()
    compare = _opengap(unpacked_wheel, tmp_path, "compare", "baseline", "us-open-ban",
                       "--runs", "2", "--out", "cmp")
    assert compare.returncode == 0, compare.stderr
    labs = (unpacked_wheel / "sim" / "_seeds" / "labs.csv").read_text(encoding="utf-8")
    (tmp_path / "world").mkdir()
    (tmp_path / "world" / "labs.csv").write_text(labs, encoding="utf-8")
    (tmp_path / "mine.toml").write_text('extends = "us-open-ban"\nname = "mine"\n'
                                        'seeds = "world"\n')
    mine = _opengap(unpacked_wheel, tmp_path, "run", "mine.toml", "--runs", "2",
                    "--no-plots", "--out", "mine")
    assert mine.returncode == 0, mine.stderr
    (tmp_path / "spec.toml").write_text(
        'scenario = "us-open-ban"\ndesign = "grid"\nreplicates = 1\n'
        'outcomes = ["large_open_tokens[US]@end"]\n[overrides]\n"time.end" = "2027-03"\n'
        '[parameters."events.us_ban.enforcement"]\nchoices = [0.1, 0.5]\n')
    sweep = _opengap(unpacked_wheel, tmp_path, "sweep", "spec.toml", "--out", "sweep",
                     "--workers", "1")
    assert sweep.returncode == 0, sweep.stderr
    assert (tmp_path / "sweep" / "settings.csv").is_file()
