"""The documented queries (docs/outputs.md) on the tidy table with pandas, polars and duckdb:
months are ``YYYY-MM`` strings, so the same filter works in all three (issue 19)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from sim.cli.main import main


@pytest.fixture(scope="module")
def out(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    assert main(["run", "baseline", "--runs", "3", "--seed", "2", "--no-plots",
                 "--out", str(folder)]) == 0
    return folder


def _expected(out: Path) -> float:
    table = pq.read_table(out / "results.parquet").to_pandas()
    rows = table[(table["metric"] == "gap_points") & (table["camp"] == "closed_vs_open")]
    return float(rows[rows["step"] == 20]["value"].median())  # 2026-04 + 20 = 2027-12


def test_pandas_query(out: Path) -> None:
    # docs/outputs.md, pandas
    df = pd.read_parquet(out / "results.parquet")
    gap = df.query("metric == 'gap_points' and camp == 'closed_vs_open' "
                   "and month == '2027-12'")["value"].median()
    assert gap == _expected(out)
    assert len(df.query("month >= '2029-01'")) > 0 and df["month"].max() == "2029-12"


def test_polars_query(out: Path) -> None:
    pl = pytest.importorskip("polars")
    # docs/outputs.md, polars
    gap = (pl.scan_parquet(out / "results.parquet")
           .filter((pl.col("metric") == "gap_points") & (pl.col("camp") == "closed_vs_open")
                   & (pl.col("month") == "2027-12"))
           .select(pl.col("value").median()).collect().item())
    assert gap == _expected(out)


def test_duckdb_query(out: Path) -> None:
    duckdb = pytest.importorskip("duckdb")
    # docs/outputs.md, duckdb
    path = str(out / "results.parquet")
    gap = duckdb.connect().execute("""
        SELECT median(value) FROM read_parquet(?)
        WHERE metric = 'gap_points' AND camp = 'closed_vs_open' AND month = '2027-12'
    """, [path]).fetchone()[0]
    assert gap == pytest.approx(_expected(out), rel=0, abs=1e-12)


def test_units_are_in_the_parquet_schema(out: Path) -> None:
    import json

    schema = pq.read_schema(out / "results.parquet")
    for field in schema:
        assert field.metadata and b"description" in field.metadata and b"unit" in field.metadata
    units = json.loads(schema.metadata[b"metric_units"])
    assert units["gap_points"] == "ECI points" and units["cash"] == "USD bn"


def test_lab_table_beside_the_camp_table(out: Path) -> None:
    labs = pd.read_parquet(out / "labs.parquet")
    camps = pd.read_parquet(out / "results.parquet")
    # Every lab's cash, summed over a camp's labs, is the camp's cash in the camp table.
    cash = labs[labs["metric"] == "lab_cash"].groupby(["run", "month", "camp"],
                                                      observed=True)["value"].sum()
    camp_cash = camps[camps["metric"] == "cash"].set_index(["run", "month", "camp"])["value"]
    joined = pd.concat([cash.rename("labs"), camp_cash.rename("camps")], axis=1,
                       join="inner")
    assert len(joined) == 3 * 45 * 4
    np.testing.assert_allclose(joined["labs"], joined["camps"], rtol=1e-12)
    # A lab's frontier never falls, and the closed camp's frontier is its labs' best.
    front = labs[labs["metric"] == "lab_frontier"].sort_values(["run", "lab", "step"])
    assert (front.groupby(["run", "lab"], observed=True)["value"].diff().dropna() >= 0).all()
