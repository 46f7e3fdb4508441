"""Calibration: spec validation, fit statistics, the fragment, the CLI, and a synthetic-truth
test (the fit recovers parameters from series the model itself generated)."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from sim.calendar import parse_month
from sim.cli.main import main
from sim.core.engine import simulate
from sim.files import LOCK_FILE
from sim.inputs.scenario import load_scenario
from sim.inputs.seeds import load_seeds
from sim.report.calibration import Bands, fragment_text
from sim.studies.calibration.fit import Objective, Observed, calibrate, camp_frontiers
from sim.studies.calibration.spec import CalibrationError, load_spec, parse_spec

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"

#: A small, short calibration problem: 4 buyers per segment, 18 fitted months.
SMALL_SPEC = {
    "scenario": "history-2023",
    "series": ["closed", "open", "open_cn", "open_us"],
    "runs": 12,
    "seed": 5,
    "max_evaluations": 50,
    "period": {"start": "2023-01", "end": "2024-06"},
    "fixed": {"population.buyers_per_segment": 4},
    "parameters": {
        "capability.algo_progress_per_year": {"min": 0.2, "max": 1.6, "start": 0.5},
        "capability.distill_efficiency": {"min": 0.0, "max": 0.8, "start": 0.1},
    },
}


def _spec(**changes):
    data = {**SMALL_SPEC, **changes}
    return parse_spec(data, source="spec.toml", base_dir=SCENARIOS)


@pytest.fixture(scope="module")
def seeds_2023():
    return load_seeds(start="2023-01")


# --------------------------------------------------------------------------- spec


def test_spec_resolves_scenario_and_parameters() -> None:
    spec = _spec()
    assert spec.scenario.name == "history-2023"
    assert spec.scenario.population.buyers_per_segment == 4
    assert spec.names == ["capability.algo_progress_per_year", "capability.distill_efficiency"]
    assert spec.period_start == parse_month("2023-01")
    assert spec.weights == (1.0, 1.0, 1.0, 1.0)


def test_integer_parameters_are_detected() -> None:
    spec = _spec(parameters={"capability.fast_follow_lag_months": {"min": 0, "max": 9}})
    assert spec.parameters[0].integer and spec.parameters[0].start == 6


@pytest.mark.parametrize(("changes", "needle"), [
    ({"colour": "red"}, "colour: unknown key"),
    ({"series": ["closed", "open_eu"]}, "series.1"),
    ({"runs": 1}, "runs"),
    ({"period": {"start": "2022-01", "end": "2024-06"}}, "period: 2022-01..2024-06"),
    ({"period": {"start": "2023-01"}}, "period.end: required field is missing"),
    ({"parameters": {"capability.warp_drive": {"min": 0, "max": 1}}},
     "parameters.capability.warp_drive: unknown parameter path"),
    ({"parameters": {"time.end": {"min": 0, "max": 1}}}, "only model parameters"),
    ({"parameters": {"capability.distill_efficiency": {"min": 0.5, "max": 0.2}}},
     "must be below max"),
    ({"parameters": {"capability.distill_efficiency": {"min": 0.0, "max": 1.5}}},
     "bound 1.5 is not allowed"),
    ({"parameters": {"capability.distill_efficiency": {"min": 0, "max": 1, "start": 2}}},
     "start 2.0 is outside"),
    ({"parameters": {"capability.distill_efficiency": {"min": 0, "max": 1, "step": 2}}},
     "unknown key; allowed keys here: min, max, start"),
    ({"parameters": {}}, "parameters"),
    ({"scenario": "no-such-scenario"}, "scenario: no scenario file"),
    ({"fixed": {"capability.nope": 1}}, "unknown parameter path"),
    ({"weights": {"open_eu": 2.0}}, "weights.open_eu"),
])
def test_spec_errors_are_one_line(changes, needle) -> None:
    with pytest.raises(CalibrationError) as err:
        _spec(**changes)
    message = str(err.value)
    assert message.startswith("spec.toml: ")
    assert needle in message, message
    assert "\n" not in message


def test_spec_file_errors(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="not found"):
        load_spec(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("runs = = 3\n", encoding="utf-8")
    with pytest.raises(CalibrationError, match="not valid TOML"):
        load_spec(bad)


def test_shipped_specs_are_valid() -> None:
    for path in sorted((REPO / "experiments" / "backtest").glob("calibrate-*.toml")):
        spec = load_spec(path)
        assert spec.series == ("closed", "open", "open_cn", "open_us")


def test_backtest_spec_fits_only_up_to_2024_12() -> None:
    spec = load_spec(REPO / "experiments" / "backtest" / "calibrate-2023-2024.toml")
    assert spec.period_end == parse_month("2024-12")


# --------------------------------------------------------------------------- statistics


def test_band_stats_rmse_and_coverage() -> None:
    observed = np.array([[1.0, 2.0, np.nan, 4.0]])
    bands = Bands(("closed",), 100, q10=np.array([[0.0, 2.5, 0.0, 3.0]]),
                  median=np.array([[1.0, 3.0, 9.0, 6.0]]), q90=np.array([[2.0, 3.5, 9.0, 5.0]]),
                  observed=observed)
    stats = bands.stats(100, 103)["closed"]
    assert stats["n"] == 3
    assert stats["rmse"] == pytest.approx(np.sqrt((0 + 1 + 4) / 3))
    assert stats["bias"] == pytest.approx(1.0)
    assert stats["coverage"] == pytest.approx(2 / 3)  # month 1 (2.0) is below its band
    assert bands.stats(102, 102)["closed"]["n"] == 0


def test_loss_is_zero_on_the_models_own_median(seeds_2023) -> None:
    spec = _spec()
    values = np.array([0.9, 0.35])
    results = simulate(_scenario_at(spec, values), n_runs=spec.runs, seed=spec.seed,
                       seeds=seeds_2023)
    observed = _observed_from(results, spec)
    obj = Objective(spec, observed, seeds_2023)
    assert obj.loss(values) == pytest.approx(0.0, abs=1e-18)
    assert obj.loss(np.array([0.5, 0.35])) > 0.1


def _scenario_at(spec, values):
    return spec.scenario.with_overrides(dict(zip(spec.names, map(float, values), strict=True)))


def _observed_from(results, spec) -> Observed:
    median = np.median(camp_frontiers(results, spec.series), axis=0)
    return Observed(results.world.params.start_month,
                    {name: median[i] for i, name in enumerate(spec.series)})


# --------------------------------------------------------------------------- synthetic truth


def test_calibration_recovers_known_parameters(seeds_2023) -> None:
    """'Observed' series are the median of 16 runs under another seed at known parameters;
    the fit (16 other runs) starts far away (0.5, 0.1) and must land within 10% of each
    range of the truth (1.0, 0.4). Measured: (0.919, 0.436) after ~56 evaluations; the
    remaining error is the difference between two 16-run medians."""
    spec = _spec(runs=16)
    truth = np.array([1.0, 0.4])
    truth_runs = simulate(_scenario_at(spec, truth), n_runs=16, seed=99, seeds=seeds_2023)
    result = calibrate(spec, observed=_observed_from(truth_runs, spec), seeds=seeds_2023)
    fitted = np.array([result.values[n] for n in spec.names])
    span = np.array([p.upper - p.lower for p in spec.parameters])
    assert np.all(np.abs(fitted - truth) <= 0.1 * span), fitted
    assert result.rmse < np.sqrt(result.start_loss) / 3
    for name in spec.names:  # identified: finite uncertainty, well inside the range
        assert 0 < result.std_error[name] < 0.1 * span.max()


def test_fragment_round_trips_through_include(tmp_path: Path, seeds_2023) -> None:
    spec = _spec(max_evaluations=4)
    result = calibrate(spec, seeds=seeds_2023)
    folder = tmp_path / "scenarios"
    (folder / "fragments").mkdir(parents=True)
    (folder / "fragments" / "calibrated.toml").write_text(fragment_text(result), "utf-8")
    (folder / "baseline.toml").write_text((SCENARIOS / "baseline.toml").read_text("utf-8"))
    (folder / "child.toml").write_text('extends = "baseline"\nname = "c"\n'
                                       'include = ["fragments/calibrated.toml"]\n', "utf-8")
    scenario = load_scenario(folder / "child.toml")
    for name, value in result.values.items():
        table, key = name.split(".")
        assert getattr(getattr(scenario, table), key) == pytest.approx(value)
    parsed = tomllib.loads(fragment_text(result))
    assert set(parsed) == {"capability"}


# --------------------------------------------------------------------------- CLI


def test_cli_calibrate_bad_spec_is_one_line(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text('scenario = "history-2023"\nseries = ["closed"]\nruns = 8\nseed = 1\n'
                    'max_evaluations = 5\n[period]\nstart = "2023-01"\nend = "2023-06"\n'
                    '[parameters."capability.distill_efficiency"]\nmin = 0.9\nmax = 0.1\n')
    out = tmp_path / "out"
    assert main(["calibrate", str(spec), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must be below max" in err and str(spec) in err
    assert not out.exists()


def test_cli_calibrate_writes_fragment_and_report(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text(
        f'scenario = "{SCENARIOS / "history-2023.toml"}"\nseries = ["closed", "open_cn"]\n'
        'runs = 6\nseed = 1\nmax_evaluations = 6\n[period]\nstart = "2023-01"\n'
        'end = "2023-12"\n[fixed]\n"population.buyers_per_segment" = 3\n'
        '[parameters."capability.fast_follow_rate"]\nmin = 0.0\nmax = 0.2\n', "utf-8")
    out = tmp_path / "out"
    assert main(["calibrate", str(spec), "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} - {LOCK_FILE} == {  # the lock stays: sim.files
        "calibrated.toml", "calibration.json", "fit.png", "report.md"}
    report = (out / "report.md").read_text("utf-8")
    assert "after the period (not fitted)" in report and "fast_follow_rate" in report
    assert "calibrated 1 parameters" in capsys.readouterr().out
