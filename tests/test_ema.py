"""The EMA workbench connector (sim/studies/ema.py). The workbench needs Python >= 3.12:
CI's 3.12 leg installs it (``opengap[ema]``); elsewhere only the missing-package error is
tested."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from sim.core.engine import simulate
from sim.measures.outcomes import evaluate
from sim.studies.ema import EmaUnavailable, ema_model, ema_name
from sim.studies.sweeps.spec import load_spec

HAS_EMA = importlib.util.find_spec("ema_workbench") is not None

SPEC = """
name = "ema-test"
scenario = "baseline"
design = "lhs"
samples = 8
replicates = 1
seed = 5
outcomes = ["gap_points@2027-06", "open_token_share@end"]
[overrides]
"time.end" = "2027-06"
"population.buyers_per_segment" = 10
[parameters."capability.distill_efficiency"]
range = [0.05, 0.6]
[parameters."market.open_capture_share"]
range = [0.02, 0.15]
[parameters."capability.fast_follow_lag_months"]
choices = [3, 6, 12]
"""


@pytest.fixture()
def spec(tmp_path: Path):
    path = tmp_path / "spec.toml"
    path.write_text(SPEC)
    return load_spec(path)


def test_names_are_identifiers() -> None:
    assert ema_name("capability.distill_efficiency") == "capability__distill_efficiency"
    assert ema_name("gap_points[cn_vs_us]@2027-12") == "gap_points_cn_vs_us__at_2027_12"
    assert ema_name("events.us_ban.enforcement").isidentifier()


@pytest.mark.skipif(HAS_EMA, reason="the EMA workbench is installed here")
def test_without_the_workbench_the_error_says_how_to_install(spec) -> None:
    with pytest.raises(EmaUnavailable, match=r"opengap\[ema\].*Python >= 3.12"):
        ema_model(spec)


@pytest.mark.skipif(not HAS_EMA, reason="ema_workbench not installed (needs Python >= 3.12; "
                    "pip install 'opengap[ema]')")
def test_model_runs_experiments_and_prim_finds_a_box_with_quasi_p(spec) -> None:
    from ema_workbench import SequentialEvaluator
    from ema_workbench.analysis import prim

    from sim.studies.ema import prim_box_rows

    model = ema_model(spec, levers=["market.open_capture_share"])
    assert list(model.uncertainties.keys()) == ["capability__distill_efficiency",
                                                "capability__fast_follow_lag_months"]
    assert list(model.levers.keys()) == ["market__open_capture_share"]
    assert list(model.outcomes.keys()) == ["gap_points_at_2027_06", "open_token_share_at_end"]
    with SequentialEvaluator(model) as evaluator:
        experiments, outcomes = evaluator.perform_experiments(
            scenarios=60, policies=1, uncertainty_sampling_kwargs={"rng": 7},
            lever_sampling_kwargs={"rng": 8})
    assert len(experiments) == 60
    # An experiment's outcome is opengap's own number for those values (run 0, the seed).
    row = experiments.iloc[0]
    scenario = spec.base.with_overrides({
        "capability.distill_efficiency": float(row["capability__distill_efficiency"]),
        "market.open_capture_share": float(row["market__open_capture_share"]),
        "capability.fast_follow_lag_months": int(row["capability__fast_follow_lag_months"])})
    own = evaluate(simulate(scenario, n_runs=1, seed=spec.seed), spec.outcomes)
    assert outcomes["gap_points_at_2027_06"][0] == own["gap_points@2027-06"][0]
    # PRIM on "the gap stays wide": the box restricts the parameter that moves the gap most
    # with a small quasi-p value, on the side opengap's own runs show (which parameter that
    # is and which side follow the model, so both are read from opengap, not assumed: on the
    # demand core it is the fast-following lag).
    gap = outcomes["gap_points_at_2027_06"]
    y = gap >= np.median(gap)
    box = prim.Prim(experiments[list(model.uncertainties.keys())], y).find_box()
    trajectory = box.peeling_trajectory
    i = int(trajectory.index[trajectory["density"] >= 0.8][0])
    rows = prim_box_rows(box, i)
    assert {r["parameter"] for r in rows} <= set(model.uncertainties.keys())

    def quasi_p(r: dict) -> float:
        return float(np.nanmin([r["qp_lower"], r["qp_upper"]]))

    strongest = min(rows, key=quasi_p)
    assert quasi_p(strongest) < 0.05
    name = strongest["parameter"]
    path = {"capability__distill_efficiency": "capability.distill_efficiency",
            "capability__fast_follow_lag_months": "capability.fast_follow_lag_months"}[name]

    def median_gap(value: float) -> float:
        runs = simulate(spec.base.with_overrides({path: value}), n_runs=8, seed=spec.seed)
        return float(np.median(evaluate(runs, spec.outcomes)["gap_points@2027-06"]))

    if "values" in strongest:  # a categorical parameter: the box keeps the wider-gap values
        kept = strongest["values"]
        left_out = [v for v in (3, 6, 12) if v not in kept]
        assert kept and left_out
        assert min(median_gap(v) for v in kept) > max(median_gap(v) for v in left_out)
    else:  # a range: the restricted bound is on the narrower-gap side
        low, high = (0.05, 0.6)
        if median_gap(high) > median_gap(low):
            assert strongest["low"] > low
        else:
            assert strongest["high"] < high
