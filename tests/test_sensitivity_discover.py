"""Sobol indices against an analytic case, PRIM against a planted box, and both commands end
to end on a tiny sweep."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
from test_sweep import write_spec

from sim.cli.main import main
from sim.studies.discover import discover, find_boxes
from sim.studies.sensitivity import saltelli_points, sobol_from_outputs


def test_sobol_indices_of_a_linear_model() -> None:
    """Y = 2 X1 + X2 (+ 0 X3), X uniform: S1 = ST = (0.8, 0.2, 0)."""
    n, d = 1024, 3
    u = saltelli_points(d, n, seed=5)
    y = (2 * u[:, 0] + u[:, 1])[:, None]
    first, total, first_ci, total_ci = sobol_from_outputs(y, n, d, n_bootstrap=50, seed=5)
    assert np.allclose(first[0], [0.8, 0.2, 0.0], atol=0.03)
    assert np.allclose(total[0], [0.8, 0.2, 0.0], atol=0.03)
    assert np.all(first_ci[0] <= first + 1e-12) and np.all(first <= first_ci[1] + 1e-12)
    assert np.all(total_ci[0] <= total + 1e-12) and np.all(total <= total_ci[1] + 1e-12)
    # Reproducible: the bootstrap is seeded.
    again = sobol_from_outputs(y, n, d, n_bootstrap=50, seed=5)
    assert np.array_equal(again[2], first_ci)


def test_prim_finds_a_planted_box() -> None:
    rng = np.random.default_rng(1)
    x = rng.random((4000, 3))
    planted = (x[:, 0] >= 0.7) & (x[:, 1] <= 0.3)
    y = np.where(planted, rng.random(4000) < 0.9, rng.random(4000) < 0.05)
    box = find_boxes(x, y, max_boxes=1)[0]
    assert abs(box.box.lo[0] - 0.7) < 0.05 and abs(box.box.hi[1] - 0.3) < 0.05
    assert not np.isfinite(box.box.lo[2]) and not np.isfinite(box.box.hi[2])
    assert box.density > 0.8 and box.coverage > 0.5


def test_discover_prints_readable_rules(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    a, b = rng.random(2000), rng.integers(1, 5, 2000)
    outcome = 10 * a + rng.normal(0, 0.5, 2000) - 2 * (b == 4)
    table = pa.table({"run": np.arange(2000), "sample": np.arange(2000),
                      "replicate": np.zeros(2000, dtype=int), "p.a": a, "p.b": b,
                      "gap@end": outcome})
    report = discover(table, tmp_path / "runs.parquet", outcome="gap@end", threshold=7.0)
    lines = report.splitlines()
    assert lines[0].startswith("cases of interest: gap@end >= 7:")
    assert lines[1].startswith("box 1: p.a >= 0.")
    assert "P(outcome) = " in lines[1] and "coverage" in lines[1]


def test_sweep_then_discover_and_sensitivity_commands(tmp_path: Path, capsys) -> None:
    spec = write_spec(tmp_path, samples=16, replicates=1, end="2026-08")
    out = tmp_path / "sweep"
    assert main(["sweep", str(spec), "--out", str(out), "--workers", "1"]) == 0
    capsys.readouterr()
    assert main(["discover", str(out), "--outcome", "gap_points@2026-08",
                 "--threshold", "5"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("cases of interest: gap_points@2026-08 >= 5:")
    assert main(["discover", str(out), "--outcome", "nope@end", "--threshold", "1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "allowed: gap_points@2026-08" in err

    sens = tmp_path / "sens"
    assert main(["sensitivity", str(spec), "--n", "4", "--bootstrap", "5", "--workers", "1",
                 "--out", str(sens)]) == 0
    report = capsys.readouterr().out
    assert "capability.distill_efficiency" in report and "first-order S1" in report
    data = json.loads((sens / "sensitivity.json").read_text())
    assert np.shape(data["first_order"]) == (4, 4)
    assert (sens / "sensitivity.png").stat().st_size > 0
    assert main(["sensitivity", str(spec), "--n", "6", "--workers", "1"]) == 2
    assert "--n must be a power of 2" in capsys.readouterr().err


def test_quasi_p_separates_a_real_bound_from_a_chance_one() -> None:
    """A planted bound on x0 gets a tiny quasi-p; a bound on pure noise x1, added by hand,
    a large one (dropping it barely changes the density)."""
    from sim.studies.discover import Box, quasi_p

    rng = np.random.default_rng(3)
    x = rng.random((3000, 2))
    y = np.where(x[:, 0] >= 0.6, rng.random(3000) < 0.8, rng.random(3000) < 0.1)
    box = Box(np.array([0.6, -np.inf]), np.array([np.inf, 0.9]))
    qp = {(j, side): p for j, side, p in quasi_p(box, x, y)}
    assert set(qp) == {(0, "lower"), (1, "upper")}
    assert qp[0, "lower"] < 1e-6 and qp[1, "upper"] > 0.05


def test_discover_writes_boxes_and_figure(tmp_path: Path) -> None:
    from sim.report.discover import write_discovery

    rng = np.random.default_rng(2)
    a, b = rng.random(2000), rng.random(2000)
    table = pa.table({"run": np.arange(2000), "sample": np.arange(2000),
                      "replicate": np.zeros(2000, dtype=int), "p.a": a, "p.b": b,
                      "gap@end": 10 * a + rng.normal(0, 0.5, 2000)})
    found: dict = {}
    report = discover(table, tmp_path / "runs.parquet", outcome="gap@end", threshold=7.0,
                      found=found)
    assert "quasi-p" in report and "significant" in report
    csv_path, json_path, png_path = write_discovery(found, tmp_path)
    doc = json.loads(json_path.read_text())
    first = doc["boxes"][0]["bounds"][0]
    assert first["parameter"] == "p.a" and first["side"] == "lower"
    assert first["quasi_p"] < 1e-6 and abs(first["bound"] - 0.7) < 0.05
    assert csv_path.read_text().splitlines()[0].startswith("box,parameter,side,bound,quasi_p")
    assert png_path.stat().st_size > 10_000


def test_sensitivity_warns_on_s1_above_st_and_small_samples() -> None:
    from sim.report.sensitivity import index_warnings
    from sim.studies.sensitivity import SobolIndices

    first = np.array([[1.04, 0.1]])
    total = np.array([[0.85, 0.12]])
    first_ci = np.stack([first - 0.05, first + 0.05])
    total_ci = np.stack([total - 0.1, total + 0.1])
    small = SobolIndices(("y@end",), ("a", "b"), first, total, first_ci, total_ci, 16, 64)
    text = "\n".join(index_warnings(small))
    assert "a: first-order S1 1.040 exceeds the total ST 0.850" in text
    assert "n = 16 is too small" in text
    big = SobolIndices(("y@end",), ("a", "b"), np.array([[0.5, 0.1]]), np.array([[0.55, 0.12]]),
                       np.stack([np.array([[0.45, 0.05]]), np.array([[0.55, 0.15]])]),
                       np.stack([np.array([[0.5, 0.08]]), np.array([[0.6, 0.16]])]), 1024, 4096)
    assert index_warnings(big) == []


def test_sensitivity_of_one_parameter_is_a_one_line_error(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "one.toml"
    spec.write_text('scenario = "baseline"\ndesign = "sobol"\nsamples = 8\n'
                    'outcomes = ["gap_points@end"]\n'
                    '[parameters."capability.distill_efficiency"]\nrange = [0.1, 0.6]\n')
    assert main(["sensitivity", str(spec), "--out", str(tmp_path / "out")]) == 2
    assert "need at least two parameters" in capsys.readouterr().err
