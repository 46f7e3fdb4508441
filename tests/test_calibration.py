"""Calibration (ABC-SMC): spec validation, the batched sampler (exactly n accepted,
deterministic, independent of the batch size), resume = uninterrupted, the posterior folder and
the CLI, and a synthetic-truth test (the posterior's 90% interval holds the parameters the
data were simulated from)."""

from __future__ import annotations

import json
import tempfile
import tomllib
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyabc
import pytest

from sim.calendar import format_month, parse_month
from sim.cli.main import main
from sim.core.engine import simulate_world
from sim.core.world import build_world, initial_state
from sim.files import LOCK_FILE
from sim.inputs.observations import Observation, load_observations
from sim.inputs.seeds import EciHistory, load_seeds
from sim.studies.calibration.data import Distance, series_weights, simulated, statistics
from sim.studies.calibration.predictive import weighted_quantile
from sim.studies.calibration.priors import FastNormalTransition, SpecPrior, scipy_prior
from sim.studies.calibration.sampler import BatchSampler, ReplayModel, run_base
from sim.studies.calibration.smc import calibrate, check_folder
from sim.studies.calibration.spec import CalibrationError, load_spec, parse_spec
from sim.vocab import CAMPS, OUTPUT_CAMPS

REPO = Path(__file__).resolve().parents[1]
SCENARIOS = REPO / "scenarios"
SPECS = REPO / "experiments" / "calibration"

#: A small, short calibration problem: 4 buyers per segment, 12 simulated months.
SMALL_SPEC = {
    "scenario": "history-2023",
    "cut": "2023-12",
    "seed": 5,
    "population_size": 30,
    "batch_size": 30,
    "stop": {"max_generations": 2, "min_acceptance": 0.02},
    "data": {"eci_series": ["closed", "open", "open_cn", "open_us"],
             "economic": ["closed_revenue"]},
    "fixed": {"population.buyers_per_segment": 4},
    "priors": {
        "capability.algo_progress_per_year": {
            "distribution": "uniform", "min": 0.1, "max": 1.5, "reason": "a test prior"},
        "market.adoption_growth_scale": {
            "distribution": "loguniform", "min": 0.25, "max": 4.0, "reason": "a test prior"},
    },
}


def _spec(**changes):
    data = {**SMALL_SPEC, **changes}
    return parse_spec(data, source="spec.toml", base_dir=SCENARIOS)


def _prior(path: str, **fields):
    base = {"distribution": "uniform", "min": 0.1, "max": 0.5, "reason": "a test prior"}
    return {"priors": {path: {**base, **fields}}}


# --------------------------------------------------------------------------- spec


def test_spec_resolves_scenario_data_and_priors() -> None:
    spec = _spec()
    assert spec.scenario.name == "history-2023"
    assert spec.scenario.population.buyers_per_segment == 4
    assert spec.scenario.time.end == "2023-12" and spec.full_scenario.time.end == "2026-03"
    assert spec.names == ["capability.algo_progress_per_year", "market.adoption_growth_scale"]
    assert [o.month for o in spec.observations] == ["2023-12"]
    stats = statistics(spec)
    assert all(s.month <= parse_month("2023-12") for s in stats)
    assert {s.series for s in stats} == {"closed", "open", "open_cn", "open_us", "closed_revenue"}


@pytest.mark.parametrize("changes, needle", [
    ({"cut": "2027-01"}, "within its horizon"),
    ({"cut": "2023-01"}, "after the scenario's start"),
    ({"seed": -1}, "seed"),
    ({"population_size": 3}, "population_size"),
    ({"bogus": 1}, "bogus"),
    ({"data": {"eci_series": ["closed"], "economic": ["gdp"]}}, "unknown series 'gdp'"),
    ({"data": {"eci_series": ["closed", "closed"]}}, "each series may appear once"),
    ({"data": {"eci_series": ["closed"], "economic": ["total_tokens"]}}, "no observation"),
    (_prior("capability.nope"), "unknown parameter path"),
    (_prior("capability.pretrain_months", min=2.0, max=8.0), "not batchable"),
    (_prior("capability.fast_follow_lag_months", min=1.0, max=8.0), "not a real-valued"),
    (_prior("capability.distill_efficiency", min=0.5, max=0.1), "must be below max"),
    (_prior("capability.distill_efficiency", min=0.5, max=2.0), "bound 2.0 is not allowed"),
    (_prior("capability.distill_efficiency", distribution="loguniform", min=0.0),
     "needs min > 0"),
    (_prior("capability.distill_efficiency", distribution="normal"), "needs mean and sd"),
    (_prior("capability.distill_efficiency", mean=0.3), "normal prior only"),
    (_prior("capability.distill_efficiency", reason="why"), "reason"),
    (_prior("capability.distill_efficiency", distribution="beta"), "distribution"),
    ({"priors": {}}, "priors"),
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
    bad.write_text("seed = = 3\n", encoding="utf-8")
    with pytest.raises(CalibrationError, match="not valid TOML"):
        load_spec(bad)


def test_shipped_specs_are_valid_and_share_their_priors() -> None:
    whole = load_spec(SPECS / "whole-record.toml")
    backtest = load_spec(SPECS / "through-2024-12.toml")
    assert whole.cut_label == "2026-03" and backtest.cut_label == "2024-12"
    assert whole.priors == backtest.priors
    assert 8 <= len(whole.priors) <= 12


def test_backtest_spec_holds_nothing_after_2024_12() -> None:
    spec = load_spec(SPECS / "through-2024-12.toml")
    cut = parse_month("2024-12")
    assert parse_month(spec.scenario.time.end) == cut
    assert all(parse_month(e.month) <= cut for e in spec.scenario.events)
    assert spec.observations and all(o.month_index <= cut for o in spec.observations)
    assert all(s.month <= cut for s in statistics(spec))


def test_observations_have_sources_and_overlaps() -> None:
    rows = load_observations()
    assert {r.series for r in rows} == {"closed_revenue", "closed_compute", "total_tokens"}
    for r in rows:
        assert r.source and r.validation_overlap and r.value > 0


def test_cutting_the_horizon_leaves_the_months_before_the_cut_unchanged() -> None:
    spec = _spec(cut="2024-06")
    seeds = load_seeds(start="2023-01")
    runs = []
    for scenario in (spec.scenario, spec.full_scenario):
        world = build_world(scenario, seeds)
        runs.append(simulate_world(scenario, world, seeds=seeds, seed=3,
                                   run_ids=np.arange(2), state=initial_state(world, seeds, 2)))
    n = runs[0].n_months
    for key in ("bench_frontier", "revenue", "tokens"):
        assert np.array_equal(runs[0].arrays[key], runs[1].arrays[key][:, :n]), key


# --------------------------------------------------------------------------- distance


def test_distance_weighs_every_series_once_and_charges_missing_values() -> None:
    stats = statistics(_spec())
    weights = series_weights(stats)
    for name in {s.series for s in stats}:
        assert weights[[s.series == name for s in stats]].sum() == pytest.approx(1.0)
    observed = np.array([s.observed for s in stats])
    d = Distance(observed, np.ones(len(stats)), weights)
    assert d(observed) == 0.0
    shifted = observed.copy()
    shifted[-1] += 2.0  # the one economic statistic: its series' whole weight
    assert d(shifted) == pytest.approx(2.0 / np.sqrt(5))
    missing = observed.copy()
    missing[-1] = -np.inf
    assert d(missing) == pytest.approx(100.0 / np.sqrt(5))


# --------------------------------------------------------------------------- priors


def test_fast_prior_density_is_scipys_and_the_kernel_draws_are_numpys() -> None:
    spec = load_spec(SPECS / "whole-record.toml")
    prior = SpecPrior(spec)
    rng = np.random.default_rng(3)
    for _ in range(20):
        x = {p.path: float(rng.uniform(p.lower - 0.05 * (p.upper - p.lower),
                                       p.upper + 0.05 * (p.upper - p.lower)))
             for p in spec.priors}
        expected = np.prod([scipy_prior(p).pdf(x[p.path]) for p in spec.priors])
        assert prior.pdf(x) == pytest.approx(expected, rel=1e-9, abs=0.0)
    frame = pd.DataFrame(rng.normal(size=(30, 3)), columns=["a", "b", "c"])
    weights = np.full(30, 1 / 30)
    fast, stock = FastNormalTransition(), pyabc.MultivariateNormalTransition()
    fast.fit(frame, weights)
    stock.fit(frame, weights)
    np.random.seed(8)  # noqa: NPY002  (pyabc draws from numpy's global state)
    a = [fast.rvs_single() for _ in range(5)]
    np.random.seed(8)  # noqa: NPY002
    b = [stock.rvs_single() for _ in range(5)]
    for x, y in zip(a, b, strict=True):
        assert [x[k] for k in "abc"] == pytest.approx([y[k] for k in "abc"], rel=1e-12)


# --------------------------------------------------------------------------- sampler


def _toy_abc(tmp_path: Path, name: str, batch: int, n: int = 40, generations: int = 3):
    """A Gaussian toy problem through BatchSampler: statistic = theta + noise from the run id."""
    calls: list[int] = []

    def evaluate(values: np.ndarray, run_ids: np.ndarray) -> np.ndarray:
        calls.append(len(values))
        noise = np.array([np.random.default_rng(int(r)).normal() for r in run_ids])
        return values[:, :1] + 0.3 * noise[:, None]

    model = ReplayModel(1)
    sampler = BatchSampler(model, evaluate, ["x"], seed=11, batch_size=batch)
    abc = pyabc.ABCSMC(model, pyabc.Distribution(x=pyabc.RV("uniform", -3, 6)),
                       pyabc.distance.FunctionDistance(lambda a, b: float(abs(a["s"][0] - 1.0))),
                       population_size=n, sampler=sampler,
                       eps=pyabc.QuantileEpsilon(initial_epsilon="from_sample", alpha=0.5))
    history = abc.new("sqlite:///" + str(tmp_path / f"{name}.db"), {"s": np.array([1.0])})
    abc.run(max_nr_populations=generations)
    frame, w = history.get_distribution(m=0, t=history.max_t)
    pops = history.get_all_populations()
    return frame["x"].to_numpy(), np.asarray(w), pops, calls


def test_sampler_accepts_exactly_n_and_is_deterministic(tmp_path: Path) -> None:
    x1, w1, pops, calls = _toy_abc(tmp_path, "a", batch=16)
    x2, w2, _, _ = _toy_abc(tmp_path, "b", batch=16)
    assert len(x1) == 40 and np.array_equal(x1, x2) and np.array_equal(w1, w2)
    assert (pops[pops.t >= 0].particles == 40).all()
    assert set(calls) == {16}  # every batch is one call of the batch size
    # Evaluations count proposals up to the n-th acceptance, not the discarded rest.
    assert (pops[pops.t >= 0].samples <= np.ceil(pops[pops.t >= 0].samples / 16) * 16).all()
    assert abs(float(np.average(x1, weights=w1)) - 1.0) < 0.5


def test_sampler_result_does_not_depend_on_the_batch_size(tmp_path: Path) -> None:
    x1, w1, pops1, _ = _toy_abc(tmp_path, "a", batch=7)
    x2, w2, pops2, _ = _toy_abc(tmp_path, "b", batch=50)
    assert np.array_equal(x1, x2) and np.array_equal(w1, w2)
    assert list(pops1.samples) == list(pops2.samples)


def test_run_ids_of_generations_never_overlap() -> None:
    assert run_base(-1) > 10 ** 6  # the distance's prior sample uses runs 0..N-1
    assert run_base(0) - run_base(-1) == run_base(1) - run_base(0) >= 10 ** 8


# --------------------------------------------------------------------------- resume


def test_resumed_calibration_equals_the_uninterrupted_one(tmp_path: Path) -> None:
    spec = _spec()
    whole, part = tmp_path / "whole", tmp_path / "part"
    whole.mkdir()
    part.mkdir()
    full = calibrate(spec, whole, processes=1)
    assert len(full.generations) == 2 and len(full.weights) == 30
    first = calibrate(spec, part, processes=1, max_generations=1)  # "interrupted"
    assert len(first.generations) == 1
    assert check_folder(spec, part, force=False)
    resumed = calibrate(spec, part, processes=2, resume=True)  # another process count too
    assert np.array_equal(resumed.values, full.values)
    assert np.array_equal(resumed.weights, full.weights)
    assert [g.epsilon for g in resumed.generations] == [g.epsilon for g in full.generations]
    # Another spec is refused in that folder, unless forced.
    other = _spec(seed=6)
    with pytest.raises(CalibrationError, match="another spec"):
        check_folder(other, part, force=False)
    assert not check_folder(other, part, force=True) and not (part / "abc.db").exists()


# --------------------------------------------------------------------------- synthetic truth


def test_synthetic_truth_lies_in_the_posterior_90_interval() -> None:
    """Simulate history-2023 to 2024-06 at known parameters, use that run's series and closed
    revenue as the data, calibrate two parameters: each truth lies in its 90% interval."""
    truth = {"capability.algo_progress_per_year": 0.8, "market.adoption_growth_scale": 2.0}
    spec = _spec(cut="2024-06", population_size=80, batch_size=80,
                 stop={"max_generations": 4, "min_acceptance": 0.02})
    seeds = load_seeds(start="2023-01")
    scenario = spec.scenario.with_overrides(truth)
    world = build_world(scenario, seeds)
    run = simulate_world(scenario, world, seeds=seeds, seed=99, run_ids=np.array([7]),
                         state=initial_state(world, seeds, 1))
    frontier = run.arrays["bench_frontier"][0]  # (T, camps)
    series = {c: frontier[:, OUTPUT_CAMPS.index(c)] for c in ("closed", "open", "open_cn",
                                                                "open_us")}
    history = EciHistory(first_month=parse_month("2023-01"), **series)
    econ = [s for s in statistics(spec) if s.kind == "log10"]
    revenue = 10 ** simulated(run, tuple(econ))[0]
    observations = tuple(Observation(s.series, format_month(s.month), float(v), "USD bn / month",
                                     "synthetic", "solid", "none")
                         for s, v in zip(econ, revenue, strict=True))
    synthetic = replace(spec, history=history, observations=observations)
    with tempfile.TemporaryDirectory() as folder:
        result = calibrate(synthetic, Path(folder), processes=1)
    for i, name in enumerate(synthetic.names):
        lo, hi = weighted_quantile(result.values[:, i], result.weights, [0.05, 0.95])
        assert lo <= truth[name] <= hi, (name, lo, hi)
        prior = synthetic.priors[i]
        assert hi - lo < prior.upper - prior.lower  # the data taught something


# --------------------------------------------------------------------------- CLI and folder


def _write_small_spec(path: Path, **changes) -> Path:
    data = {**SMALL_SPEC, "population_size": 20, "batch_size": 20,
            "stop": {"max_generations": 1}, **changes}
    lines = [f"scenario = {json.dumps(str(SCENARIOS / 'history-2023.toml'))}",
             f'cut = "{data["cut"]}"', f"seed = {data['seed']}",
             f"population_size = {data['population_size']}",
             f"batch_size = {data['batch_size']}", "[stop]",
             f"max_generations = {data['stop']['max_generations']}", "[data]",
             'eci_series = ["closed", "open_cn"]', 'economic = ["closed_revenue"]', "[fixed]",
             '"population.buyers_per_segment" = 4']
    for name, prior in data["priors"].items():
        lines.append(f'[priors."{name}"]')
        lines += [f"{k} = {json.dumps(v)}" for k, v in prior.items()]
    path.write_text("\n".join(lines) + "\n", "utf-8")
    return path


def test_cli_calibrate_bad_spec_is_one_line(tmp_path: Path, capsys) -> None:
    spec = tmp_path / "spec.toml"
    spec.write_text('scenario = "history-2023"\ncut = "2023-06"\nseed = 1\n'
                    'population_size = 20\nbatch_size = 5\n[stop]\nmax_generations = 1\n'
                    '[data]\neci_series = ["closed"]\n'
                    '[priors."capability.distill_efficiency"]\ndistribution = "uniform"\n'
                    'min = 0.9\nmax = 0.1\nreason = "a test prior"\n', "utf-8")
    out = tmp_path / "out"
    assert main(["calibrate", str(spec), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "must be below max" in err and str(spec) in err
    assert not out.exists()


def test_cli_calibrate_writes_the_posterior_folder(tmp_path: Path, capsys) -> None:
    spec = _write_small_spec(tmp_path / "spec.toml")
    out = tmp_path / "out"
    assert main(["calibrate", str(spec), "--out", str(out), "--processes", "1"]) == 0
    captured = capsys.readouterr()
    assert "calibrated 2 parameters" in captured.out and "elapsed" in captured.out
    assert "generation 0: tolerance" in captured.err
    names = {p.name for p in out.iterdir()} - {LOCK_FILE}
    assert {"posterior.parquet", "posterior.json", "abc.db", "report.md", "posterior.png",
            "fit.png"} <= names
    frame = pd.read_parquet(out / "posterior.parquet")
    assert list(frame.columns) == ["particle", "capability.algo_progress_per_year",
                                   "market.adoption_growth_scale", "weight"]
    assert frame.particle.tolist() == list(range(20))
    assert frame.weight.sum() == pytest.approx(1.0) and (frame.weight >= 0).all()
    assert frame.dtypes.iloc[1:].eq(np.float64).all()
    blob = json.loads((out / "posterior.json").read_text())
    assert blob["format"] == "opengap-posterior/1" and blob["cut"] == "2023-12"
    assert blob["scenario"]["name"] == "history-2023" and len(blob["scenario"]["sha256"]) == 64
    assert blob["seed"] == 5 and blob["population_size"] == 20
    assert blob["library"].startswith("pyabc ") and blob["elapsed_seconds"] > 0
    assert set(blob["priors"]) == set(frame.columns[1:-1])
    assert blob["generations"][0]["t"] == 0 and "through 2023-12" in blob["label"]
    assert [d["series"] for d in blob["data"]] == ["eci_closed", "eci_open_cn",
                                                   "closed_revenue"]
    report = (out / "report.md").read_text("utf-8")
    assert "Prior vs posterior" in report and "after the cut (not fitted)" in report
    # A rerun on the finished folder resumes (nothing left to do) and gives the same table.
    assert main(["calibrate", str(spec), "--out", str(out), "--processes", "1"]) == 0
    assert "resuming" in capsys.readouterr().err
    assert pd.read_parquet(out / "posterior.parquet").equals(frame)
    # Another spec in that folder: one line, exit 2, unless --force.
    other = _write_small_spec(tmp_path / "other.toml", seed=9)
    assert main(["calibrate", str(other), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "another spec" in err and "--force" in err


def test_whole_record_spec_names_the_2026_seed_totals() -> None:
    spec = load_spec(SPECS / "whole-record.toml")
    seeds = load_seeds()
    by_series = {o.series: o for o in spec.observations if o.month == "2026-03"}
    closed = seeds.labs.camp == CAMPS.index("closed")
    assert by_series["closed_revenue"].value == pytest.approx(
        float(seeds.labs.revenue_usd_bn_per_month[closed].sum()))
    assert by_series["closed_compute"].value == pytest.approx(
        float(seeds.labs.compute_h100e[closed].sum()))
    assert by_series["total_tokens"].value == pytest.approx(
        float(seeds.segments.tokens_t_per_month.sum()))
    text = tomllib.loads((SPECS / "whole-record.toml").read_text("utf-8"))
    assert all(len(p["reason"]) > 40 for p in text["priors"].values())
