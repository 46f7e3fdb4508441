"""The seed tables in seeds/: contents, sources, the derived ECI history and the rebuild."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from sim.calendar import parse_month
from sim.inputs.seeds import SeedError, Seeds, load_seeds, seeds_dir
from sim.vocab import CAMPS, JURISDICTIONS

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
SEGMENTS = ("knowledge_work", "agentic_coding", "repetitive_automation", "local_agents",
            "public_sector")
MIN_LABS = {"closed": 6, "open_cn": 6, "open_us": 4, "open_other": 2}


def _csv(name: str) -> list[dict[str, str]]:
    with (SEEDS / name).open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def test_seeds_dir_is_the_repository_folder() -> None:
    assert seeds_dir().resolve() == SEEDS.resolve()


def test_load_seeds(seeds: Seeds) -> None:
    labs = seeds.labs
    n = len(labs.lab_id)
    assert len(set(labs.lab_id)) == n, "duplicate lab_id"
    for column in ("camp", "region", "eci", "release_month", "training_flop", "compute_h100e",
                   "cash_usd_bn", "revenue_usd_bn_per_month", "price_usd_per_mtok",
                   "bench_focus"):
        assert len(getattr(labs, column)) == n, column
    assert np.isfinite(labs.eci).all() and (labs.eci > 0).all()
    # Entrant slots have no model and own no compute at entry (they rent).
    assert (labs.training_flop[~labs.entrant] > 0).all()
    assert (labs.compute_h100e[~labs.entrant] > 0).all()
    assert (labs.training_flop[labs.entrant] == 0).all()
    assert labs.entrant.sum() >= 4  # generic slots per region (mechanism 7)
    assert (labs.cash_usd_bn >= 0).all()
    assert (labs.revenue_usd_bn_per_month >= 0).all()
    assert (labs.price_usd_per_mtok > 0).all()
    assert ((labs.bench_focus >= 0) & (labs.bench_focus <= 1)).all()
    assert (labs.release_month <= parse_month("2026-04")).all()


def test_lab_camps(seeds: Seeds) -> None:
    counts = {camp: int((seeds.labs.camp == CAMPS.index(camp)).sum()) for camp in CAMPS}
    for camp, minimum in MIN_LABS.items():
        assert counts[camp] >= minimum, f"{camp}: {counts[camp]} labs, need {minimum}"
    # Home regions agree with camps: Chinese open labs are in CN, US open labs in the US.
    region = np.array(JURISDICTIONS)[seeds.labs.region]
    assert (region[seeds.labs.camp == CAMPS.index("open_cn")] == "CN").all()
    assert (region[seeds.labs.camp == CAMPS.index("open_us")] == "US").all()
    other = region[seeds.labs.camp == CAMPS.index("open_other")]
    assert not np.isin(other, ("US", "CN")).any()


def test_sovereigns(seeds: Seeds) -> None:
    sov = seeds.sovereigns
    assert len(sov.sovereign_id) >= 6
    assert len(set(sov.sovereign_id)) == len(sov.sovereign_id)
    assert len(set(sov.jurisdiction.tolist())) == len(sov.jurisdiction)
    assert (sov.stance_safety >= 0).all()
    assert (sov.pressure_threshold > 0).all()
    assert (sov.open_budget_usd_bn_per_month >= 0).all()
    assert sov.backing.shape == (len(sov.sovereign_id), len(seeds.labs.lab_id))
    # Sovereigns back open labs only.
    backed = sov.backing.any(axis=0)
    assert not (backed & (seeds.labs.camp == CAMPS.index("closed"))).any()


def test_segments(seeds: Seeds) -> None:
    seg = seeds.segments
    assert tuple(seg.segment) == SEGMENTS
    assert (seg.tokens_t_per_month > 0).all()
    assert (seg.growth_per_month >= 0).all()
    assert (seg.price_alpha > 0).all()
    assert (seg.switch_cost >= 0).all()
    assert seg.open_only.tolist() == [s == "local_agents" for s in SEGMENTS]


def test_jurisdiction_demand_shares_sum_to_one(seeds: Seeds) -> None:
    rows = _csv("jurisdictions.csv")
    assert sorted(r["jurisdiction"] for r in rows) == sorted(JURISDICTIONS)
    raw = np.array([float(r["demand_share"]) for r in rows])
    assert (raw > 0).all()
    assert raw.sum() == pytest.approx(1.0, abs=1e-9)
    assert seeds.jurisdictions.demand_share.sum() == pytest.approx(1.0, abs=1e-12)
    # Every closed lab is reachable from its own home market.
    blocks = seeds.jurisdictions.blocks_closed
    assert not blocks[np.arange(len(JURISDICTIONS)), np.arange(len(JURISDICTIONS))].any()


def test_every_lab_row_cites_sources() -> None:
    rows = _csv("labs.csv")
    source_columns = [c for c in rows[0] if c.endswith("_source")]
    assert len(source_columns) >= 6
    for column in ("training_flop", "compute_h100e", "cash_usd_bn", "revenue_usd_bn_per_month",
                   "price_usd_per_mtok", "bench_focus"):
        assert column in rows[0]
    for row in rows:
        for column in source_columns:
            assert row[column].strip(), f"{row['lab_id']}: empty {column}"
        assert row["released_model"].strip(), f"{row['lab_id']}: empty released_model"


@pytest.mark.parametrize(("name", "column"), [("sovereigns.csv", "budget_source"),
                                              ("segments.csv", "source"),
                                              ("jurisdictions.csv", "source")])
def test_other_tables_cite_sources(name: str, column: str) -> None:
    for row in _csv(name):
        assert row[column].strip(), f"{name}: empty {column}"


def test_eci_history_cn_open_leads_us_open(seeds: Seeds) -> None:
    history = seeds.history
    i = parse_month("2026-03") - history.first_month
    assert 0 <= i < len(history.open_cn)
    assert history.open_cn[i] > history.open_us[i]
    assert history.closed[i] > history.open[i]  # the closed frontier still leads
    assert history.open[i] == max(history.open_cn[i], history.open_us[i])
    for series in (history.closed, history.open, history.open_cn, history.open_us):
        finite = series[np.isfinite(series)]
        assert (np.diff(finite) >= 0).all()  # running maxima
        assert len(series) == len(history.closed)


def test_seeded_labs_do_not_exceed_history(seeds: Seeds) -> None:
    """No lab's seeded score beats the recorded closed frontier by more than rounding."""
    assert seeds.labs.eci.max() <= np.nanmax(seeds.history.closed) + 0.05


def test_missing_table_is_a_seed_error(tmp_path: Path) -> None:
    with pytest.raises(SeedError) as info:
        load_seeds(tmp_path)
    assert "labs.csv" in str(info.value)


def test_build_is_deterministic_and_reproduces_derived(tmp_path: Path) -> None:
    """``seeds/build.py`` writes next to itself, so run a copy of seeds/ in tmp_path and
    compare its outputs with the committed derived tables."""
    copy = tmp_path / "seeds"
    shutil.copytree(SEEDS, copy, ignore=shutil.ignore_patterns("derived", "__pycache__"))
    (copy / "derived").mkdir()
    proc = subprocess.run([sys.executable, str(copy / "build.py")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "best CN open leads best US open at 2026-03: True" in proc.stdout
    assert "labs.csv check:" not in proc.stdout, proc.stdout
    expected = sorted(p.name for p in (SEEDS / "derived").glob("*.csv"))
    assert sorted(p.name for p in (copy / "derived").glob("*.csv")) == expected
    for name in expected:
        assert (copy / "derived" / name).read_bytes() == (SEEDS / "derived" / name).read_bytes(), (
            f"derived/{name} differs from a fresh build")
    # The rebuilt folder loads to the same seeds.
    rebuilt = load_seeds(copy)
    np.testing.assert_array_equal(rebuilt.history.open_cn, load_seeds(SEEDS).history.open_cn)


def test_eci_record_window_is_the_record_month_by_month() -> None:
    """EciHistory.window: the record's values for the months asked, NaN outside it."""
    from sim.inputs.seeds import load_eci_record

    record = load_eci_record()
    n = len(record.closed)
    before = record.window("closed", record.first_month - 2, 5)
    assert np.isnan(before[:2]).all()
    np.testing.assert_array_equal(before[2:], record.closed[:3])
    after = record.window("open_us", record.first_month + n - 1, 3)
    assert after[0] == record.open_us[-1] and np.isnan(after[1:]).all()
    for t, value in enumerate(record.window("open_cn", record.first_month + 4, 10)):
        expected = record.open_cn[4 + t]
        assert value == expected or (np.isnan(value) and np.isnan(expected))
    assert np.isnan(record.window("open", record.first_month + n + 5, 4)).all()
