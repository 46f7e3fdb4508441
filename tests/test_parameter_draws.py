"""Per-run parameter draws from a posterior (issue 17): the posterior loader's errors, the
draw rule and its distribution, common random numbers (identical scenarios give zero deltas),
independence of batch size and worker processes, levers, ``--fixed-parameters``, the
outputs that say which, and every path (engine, sweeps, Mesa model) taking the same draw."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sim.cli.main import main
from sim.core.engine import simulate
from sim.core.parameter_draws import (
    band_note,
    particle_indices,
    run_draws_table,
    scenario_draws,
)
from sim.core.rng import STREAMS
from sim.inputs.posterior import PosteriorError, load_posterior
from sim.inputs.scenario import load_scenario
from sim.studies import compare

#: Batchable calibrated parameters of the test posterior and the range its particles span.
PARAMETERS = {
    "capability.algo_progress_per_year": (0.3, 0.6),
    "capability.distill_efficiency": (0.1, 0.5),
    "capability.fast_follow_rate": (0.02, 0.08),
    "capability.eci_per_log10_flop": (8.5, 10.5),
    "market.open_capture_share": (0.02, 0.1),
}
LABEL = "calibrated on a test record through 2026-03"
#: A short horizon and few buyers: fast runs (as tests/conftest.py SMALL).
SMALL_TOML = "[time]\nend = \"2027-03\"\n[population]\nbuyers_per_segment = 6\n"


def write_posterior(folder: Path, n: int = 12, *, columns: dict | None = None,
                    weights: np.ndarray | None = None, manifest: dict | None = None) -> Path:
    """A posterior folder of ``n`` particles spread over :data:`PARAMETERS`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(7)
    data = {"particle": np.arange(n, dtype=np.int64)}
    data.update(columns if columns is not None else
                {k: rng.uniform(lo, hi, n) for k, (lo, hi) in PARAMETERS.items()})
    w = rng.uniform(0.2, 1.0, n) if weights is None else weights
    data["weight"] = w / w.sum() if weights is None else w
    pq.write_table(pa.table(data), folder / "posterior.parquet")
    doc = {"format": "opengap-posterior/1", "cut": "2026-03", "label": LABEL, "seed": 0}
    (folder / "posterior.json").write_text(json.dumps(manifest or doc), encoding="utf-8")
    return folder


def baseline_without_posterior(folder: Path) -> Path:
    """``folder/nopost.toml``: the shipped baseline without its ``posterior`` key."""
    text = (Path(__file__).resolve().parents[1] / "scenarios" / "baseline.toml").read_text(
        encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.startswith("posterior =")]
    path = folder / "nopost.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def posterior_dir(tmp_path: Path) -> Path:
    """A folder holding a posterior (``post/``) and scenarios on it: ``base`` names it,
    ``same`` is a copy of ``base`` under another name, ``lever`` sets one calibrated
    parameter itself, ``crack`` adds a distillation crackdown."""
    write_posterior(tmp_path / "post")
    (tmp_path / "base.toml").write_text(
        f'name = "base"\nextends = "baseline"\nposterior = "post"\n{SMALL_TOML}',
        encoding="utf-8")
    (tmp_path / "same.toml").write_text('name = "same"\nextends = "base"\n', encoding="utf-8")
    (tmp_path / "lever.toml").write_text(
        'name = "lever"\nextends = "base"\n[capability]\ndistill_efficiency = 0.2\n',
        encoding="utf-8")
    (tmp_path / "crack.toml").write_text(
        'name = "crack"\nextends = "base"\n[[events]]\nkind = "distillation_crackdown"\n'
        'month = "2026-07"\nsovereign = "US"\nenforcement = 0.2\n', encoding="utf-8")
    return tmp_path


def _equal(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


# --------------------------------------------------------------------------- the draw rule


def test_parameters_stream_is_appended_last() -> None:
    """Appended, never inserted: the other streams' spawn keys (and so every fixed-parameter
    output) stay as they were."""
    assert STREAMS[-1] == "parameters"
    assert STREAMS[:-1] == ("policy", "sentiment", "funding", "releases", "market",
                            "decisions", "funding_shocks", "entry")


def test_particle_is_the_documented_draw() -> None:
    """searchsorted(cumsum(w), u_r, side="right") with u_r the first uniform of run r's
    stream SeedSequence(seed, spawn_key=(r, k_parameters))."""
    w = np.array([0.1, 0.0, 0.4, 0.25, 0.25])
    seed, runs = 13, np.array([0, 1, 2, 7, 40, 1000, 2**33])
    k = STREAMS.index("parameters")
    u = [np.random.Generator(np.random.PCG64(np.random.SeedSequence(
        seed, spawn_key=(int(r), k)))).random() for r in runs]
    expected = np.searchsorted(np.cumsum(w), u, side="right")
    np.testing.assert_array_equal(particle_indices(w, seed, runs), expected)
    # Each run's particle depends on (seed, run) alone: not on the other runs asked for.
    for r, i in zip(runs, expected, strict=True):
        assert particle_indices(w, seed, [r])[0] == i


def test_draws_follow_the_weights() -> None:
    """Over 20,000 runs of a fixed seed (deterministic, so the bound cannot fail by
    chance): each particle's share is within 0.015 of its weight (6 binomial s.d. at most)
    and a zero-weight particle, the last one included, is never drawn."""
    w = np.array([0.5, 0.0, 0.3, 0.15, 0.05, 0.0])
    n = 20_000
    idx = particle_indices(w, 3, np.arange(n))
    counts = np.bincount(idx, minlength=len(w))
    assert counts[1] == 0 and counts[5] == 0
    np.testing.assert_allclose(counts / n, w, atol=0.015)
    # One particle of all the weight: every run takes it.
    assert set(particle_indices(np.array([0.0, 1.0, 0.0]), 0, np.arange(500))) == {1}


# --------------------------------------------------------------------------- the loader


@pytest.mark.parametrize(("change", "expect"), [
    ("no-folder", "posterior: no such folder"),
    ("no-manifest", "posterior.json: posterior: file missing"),
    ("format", "posterior.json: format: expected \"opengap-posterior/1\""),
    ("unknown", "column capability.no_such_thing: not a numeric parameter of the scenario "
                "schema"),
    ("population", "column population.buyers_per_segment: not a numeric parameter"),
    ("bounds", "column capability.distill_efficiency: particle 2 has 1.5; allowed: [0, 1]"),
    ("negative", "column weight: particle 1 has weight -0.1; allowed: finite numbers >= 0"),
    ("nan", "column weight: particle 0 has weight nan; allowed: finite numbers >= 0"),
    ("zero", "column weight: the weights sum to 0"),
    ("no-weight", "column weight: missing"),
    ("particles", "column particle: expected the numbers 0..2, each once"),
])
def test_posterior_errors_name_file_and_column(tmp_path: Path, change: str, expect: str,
                                               capsys: pytest.CaptureFixture) -> None:
    folder = tmp_path / "post"
    cols = {"capability.distill_efficiency": np.array([0.2, 0.3, 0.4])}
    weights = np.array([0.2, 0.3, 0.5])
    if change == "unknown":
        cols["capability.no_such_thing"] = np.ones(3)
    elif change == "population":
        cols["population.buyers_per_segment"] = np.ones(3)
    elif change == "bounds":
        cols["capability.distill_efficiency"] = np.array([0.2, 0.3, 1.5])
    elif change == "negative":
        weights = np.array([0.6, -0.1, 0.5])
    elif change == "nan":
        weights = np.array([np.nan, 0.5, 0.5])
    elif change == "zero":
        weights = np.zeros(3)
    if change != "no-folder":
        write_posterior(folder, 3, columns=cols, weights=weights)
    if change == "no-manifest":
        (folder / "posterior.json").unlink()
    elif change == "format":
        (folder / "posterior.json").write_text('{"format": "other"}', encoding="utf-8")
    elif change == "no-weight":
        pq.write_table(pq.read_table(folder / "posterior.parquet").drop(["weight"]),
                       folder / "posterior.parquet")
    elif change == "particles":
        table = pq.read_table(folder / "posterior.parquet")
        table = table.set_column(0, "particle", pa.array([0, 1, 1]))
        pq.write_table(table, folder / "posterior.parquet")
    with pytest.raises(PosteriorError) as err:
        load_posterior(folder)
    assert expect in str(err.value)
    assert "\n" not in str(err.value)
    # Through a command: one line on stderr, exit status 2, nothing written.
    (tmp_path / "s.toml").write_text(
        f'name = "s"\nextends = "baseline"\nposterior = "post"\n{SMALL_TOML}',
        encoding="utf-8")
    out = tmp_path / "out"
    assert main(["run", str(tmp_path / "s.toml"), "--runs", "2", "--out", str(out)]) == 2
    stderr = capsys.readouterr().err.strip()
    assert expect in stderr and len(stderr.splitlines()) == 1 and "Traceback" not in stderr
    assert not out.exists()


def test_a_drawn_parameter_must_be_batchable(tmp_path: Path) -> None:
    """A calibrated parameter that cannot vary within a batch is refused, naming the
    column; the same posterior works when the scenario sets it (a lever: not drawn)."""
    write_posterior(tmp_path / "post", 3, columns={
        "capability.distill_efficiency": np.array([0.2, 0.3, 0.4]),
        "compute.price_decline_per_year": np.array([0.2, 0.3, 0.25])})
    (tmp_path / "a.toml").write_text('name = "a"\nextends = "baseline"\nposterior = "post"\n',
                                     encoding="utf-8")
    with pytest.raises(PosteriorError, match="column compute.price_decline_per_year: not a "
                       "batchable parameter"):
        scenario_draws(load_scenario(tmp_path / "a.toml"))
    (tmp_path / "b.toml").write_text(
        'name = "b"\nextends = "a"\n[compute]\nprice_decline_per_year = 0.3\n',
        encoding="utf-8")
    draws = scenario_draws(load_scenario(tmp_path / "b.toml"))
    assert draws is not None
    assert draws.names == ("capability.distill_efficiency",)
    assert draws.held == ("compute.price_decline_per_year",)


# --------------------------------------------------------------------------- scenario keys


def test_levers_are_set_below_the_file_naming_the_posterior(posterior_dir: Path) -> None:
    base = load_scenario(posterior_dir / "base.toml")
    lever = load_scenario(posterior_dir / "lever.toml")
    assert base.posterior == str((posterior_dir / "post").resolve())
    # baseline (above base.toml) sets every parameter: those are what the posterior replaces.
    assert base.levers == frozenset()
    assert lever.levers == {"capability.distill_efficiency"}
    assert "capability.distill_efficiency" not in scenario_draws(lever).names
    # An override (a sweep's design, a dashboard control) is a lever too.
    over = base.with_overrides({"capability.fast_follow_rate": 0.07})
    assert over.levers == {"capability.fast_follow_rate"}
    assert "capability.fast_follow_rate" not in scenario_draws(over).names
    # A scenario without a posterior dumps (and hashes) as before the keys existed.
    plain = load_scenario(baseline_without_posterior(posterior_dir))
    dumped = plain.model_dump(mode="json")
    assert "posterior" not in dumped and "fixed_parameters" not in dumped


def test_content_hash_follows_the_posterior_not_its_folder(posterior_dir: Path,
                                                          tmp_path_factory) -> None:
    """A checkout elsewhere (the same posterior in another folder) hashes alike; another
    posterior does not."""
    import shutil

    other = tmp_path_factory.mktemp("elsewhere")
    shutil.copytree(posterior_dir, other, dirs_exist_ok=True)
    here = load_scenario(posterior_dir / "base.toml").content_hash()
    assert load_scenario(other / "base.toml").content_hash() == here
    write_posterior(other / "post", n=13)
    assert load_scenario(other / "base.toml").content_hash() != here


# --------------------------------------------------------------------------- the engine


def test_a_drawn_run_is_the_fixed_run_at_its_particle(posterior_dir: Path) -> None:
    """Run r under posterior draws is bit for bit run r of the scenario with its particle's
    values written in (no posterior), and a lever keeps the scenario's value."""
    for name in ("base", "lever"):
        scenario = load_scenario(posterior_dir / f"{name}.toml")
        res = simulate(scenario, n_runs=4, seed=9)
        table = run_draws_table(scenario, 9, np.arange(4))
        plain = scenario.model_copy(update={"posterior": None})
        for r in (0, 3):
            values = {k: float(v[r]) for k, v in table.items() if k not in ("run", "particle")}
            assert ("capability.distill_efficiency" in values) == (name == "base")
            one = simulate(plain.with_overrides(values), n_runs=1, seed=9, first_run=r)
            _equal({k: v[r:r + 1] for k, v in res.arrays.items()}, one.arrays)


def test_draws_do_not_depend_on_batches_or_processes(posterior_dir: Path, seeds) -> None:
    """Runs 0..39 in one batch, in batches of 7 (and from run 13 on) and in two worker
    processes: bit-identical outputs, and the runs' particles differ."""
    from sim.cli.common import simulate_all

    scenario = load_scenario(posterior_dir / "base.toml")
    whole = simulate(scenario, n_runs=40, seed=4)
    assert len(set(run_draws_table(scenario, 4, np.arange(40))["particle"])) > 5
    part = simulate(scenario, n_runs=10, seed=4, first_run=13)
    _equal({k: v[13:23] for k, v in whole.arrays.items()}, part.arrays)
    for batch, processes in ((7, 1), (20, 2)):
        args = argparse.Namespace(runs=40, seed=4, batch_size=batch, processes=processes)
        got = simulate_all(scenario, args, seeds, "test", runs=40)
        _equal(whole.arrays, got.arrays)


def test_identical_scenarios_give_zero_deltas(posterior_dir: Path) -> None:
    """Common random numbers under posterior draws: two identical scenarios (different
    names) share every run's particle and random draw, so every paired delta is exactly 0;
    a real intervention's delta is not."""
    base = simulate(load_scenario(posterior_dir / "base.toml"), n_runs=30, seed=2)
    same = simulate(load_scenario(posterior_dir / "same.toml"), n_runs=30, seed=2)
    crack = simulate(load_scenario(posterior_dir / "crack.toml"), n_runs=30, seed=2)
    outcomes = compare.headline_outcomes([base.world.params.start_month + 11],
                                         base.world.params.start_month + 11)
    for d in compare.compare_worlds(base, [same], outcomes):
        assert d.runs == 0 or (d.median == 0 and d.low == 0 and d.high == 0
                               and d.paired_se == 0), d
    assert compare.identical_check(base, same, outcomes) == 0.0
    found = compare.attribute(base, [crack], outcomes)
    assert found, "the crackdown's deltas vary with the drawn parameters"
    assert all(-1 <= a.rho <= 1 and a.rank <= compare.TOP_PARAMETERS for a in found)
    assert compare.attribute(base, [same], outcomes) == []  # zero deltas: nothing varies


def test_fixed_parameters_equal_a_scenario_without_posterior(posterior_dir: Path,
                                                             tmp_path: Path,
                                                             capsys: pytest.CaptureFixture
                                                             ) -> None:
    """``--fixed-parameters`` (and the key) ignore the posterior: the numbers of the same
    scenario without one; the manifest says which, and only draws write their table."""
    base = posterior_dir / "base.toml"
    plain = posterior_dir / "plain.toml"
    baseline_without_posterior(posterior_dir)
    plain.write_text(f'name = "base"\nextends = "nopost.toml"\n{SMALL_TOML}',
                     encoding="utf-8")
    outs = {}
    for key, argv in (("fixed", [str(base), "--fixed-parameters"]), ("plain", [str(plain)]),
                      ("drawn", [str(base)])):
        outs[key] = tmp_path / key
        assert main(["run", *argv, "--runs", "3", "--seed", "1", "--no-plots", "--out",
                     str(outs[key])]) == 0
    capsys.readouterr()
    table = {k: pq.read_table(v / "results.parquet") for k, v in outs.items()}
    assert table["fixed"].equals(table["plain"])
    assert not table["drawn"].equals(table["plain"])
    docs = {k: json.loads((v / "manifest.json").read_text()) for k, v in outs.items()}
    assert docs["fixed"]["parameters"] == docs["plain"]["parameters"] == "fixed"
    assert docs["fixed"]["posterior"] is None
    assert docs["drawn"]["parameters"] == "posterior"
    post = docs["drawn"]["posterior"]
    assert post["label"] == LABEL and post["cut"] == "2026-03" and len(post["sha256"]) == 64
    assert "parameter_draws.parquet" in docs["drawn"]["files"]
    assert not (outs["fixed"] / "parameter_draws.parquet").exists()
    draws = pq.read_table(outs["drawn"] / "parameter_draws.parquet").to_pydict()
    assert draws["run"] == [0, 1, 2]
    assert draws["particle"] == list(particle_indices(
        load_posterior(posterior_dir / "post").weights, 1, [0, 1, 2]))
    # The key does what the flag does.
    keyed = posterior_dir / "keyed.toml"
    keyed.write_text('name = "base"\nextends = "base"\nfixed_parameters = true\n',
                     encoding="utf-8")
    assert scenario_draws(load_scenario(keyed)) is None


def test_band_notes_say_which(posterior_dir: Path) -> None:
    base = load_scenario(posterior_dir / "base.toml")
    assert band_note(base, 50) == (f"10-90% over 50 runs, parameters drawn from the posterior "
                                   f"({LABEL})")
    fixed = base.model_copy(update={"fixed_parameters": True})
    assert band_note(fixed, 50) == "10-90% over 50 runs at fixed parameters"


def test_compare_reports_what_the_deltas_depend_on(posterior_dir: Path, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture) -> None:
    out = tmp_path / "cmp"
    assert main(["compare", str(posterior_dir / "base.toml"), str(posterior_dir / "crack.toml"),
                 "--runs", "24", "--seed", "3", "--no-plots", "--check-runs", "4",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "paired delta of every headline outcome is exactly 0" in printed
    assert "depends most on (Spearman rho over runs): capability." in printed
    md = (out / "deltas.md").read_text()
    assert "Parameters drawn from the posterior" in md and "depends most on (rho)" in md
    rows = (out / "attribution.csv").read_text().splitlines()
    assert rows[0] == ",".join(compare.ATTRIBUTION_COLUMNS)
    assert len(rows) > 1
    # At fixed parameters: nothing to attribute, no attribution.csv.
    out2 = tmp_path / "cmp-fixed"
    assert main(["compare", str(posterior_dir / "base.toml"), str(posterior_dir / "crack.toml"),
                 "--runs", "4", "--no-plots", "--check-runs", "0", "--fixed-parameters",
                 "--out", str(out2)]) == 0
    assert "nothing to attribute" in capsys.readouterr().out
    assert "nothing to attribute" in (out2 / "deltas.md").read_text()
    assert not (out2 / "attribution.csv").exists()


def test_pairing_needs_the_same_parameters(posterior_dir: Path, tmp_path: Path,
                                           capsys: pytest.CaptureFixture) -> None:
    plain = posterior_dir / "plain.toml"
    plain.write_text(f'name = "plain"\nextends = "baseline"\n{SMALL_TOML}', encoding="utf-8")
    assert main(["compare", str(posterior_dir / "base.toml"), str(plain), "--runs", "2",
                 "--out", str(tmp_path / "c")]) == 2
    assert "must draw their parameters from the same posterior" in capsys.readouterr().err


def test_sweep_replicate_takes_its_runs_draw(posterior_dir: Path, seeds) -> None:
    """Replicate j of every design point takes run j's draw of the parameters the design
    does not set: a stacked sweep batch equals separate simulations of each point."""
    from sim.core.world import build_world
    from sim.studies.sweeps.stacked import simulate_stack

    base = load_scenario(posterior_dir / "base.toml")
    points = [base.with_overrides({"capability.distill_efficiency": v}) for v in (0.1, 0.4)]
    worlds = [build_world(s, seeds) for s in points]
    stacked = simulate_stack(points, worlds, 3, 6, seeds)
    for i, s in enumerate(points):
        assert "capability.distill_efficiency" not in scenario_draws(s).names
        alone = simulate(s, n_runs=3, seed=6, seeds=seeds)
        _equal({k: v[3 * i:3 * i + 3] for k, v in stacked.arrays.items()}, alone.arrays)


def test_mesa_model_takes_its_runs_draw(posterior_dir: Path) -> None:
    from sim.model import OpenGapModel

    scenario = load_scenario(posterior_dir / "base.toml")
    model = OpenGapModel(scenario, sim_seed=8, run_index=5)
    while model.running:
        model.step()
    res = simulate(scenario, n_runs=1, seed=8, first_run=5)
    np.testing.assert_array_equal(model.results.arrays["bench_frontier"],
                                  res.arrays["bench_frontier"])
    particle = run_draws_table(scenario, 8, [5])
    assert model.world.params.distill_efficiency == particle[
        "capability.distill_efficiency"][0]


def test_dashboard_controls_moved_are_levers(posterior_dir: Path) -> None:
    """A dashboard control left at the scenario's value leaves the posterior to draw it; a
    moved one is a lever. The ensemble's band note says which."""
    from sim.dashboard.ensemble import ensemble_bands
    from sim.dashboard.settings import apply_settings, default_settings
    from sim.inputs.seeds import load_seeds

    base = load_scenario(posterior_dir / "lever.toml")
    settings = default_settings("lever", base)
    same = apply_settings(base, settings)
    assert same.levers == base.levers == {"capability.distill_efficiency"}
    plain = load_scenario(posterior_dir / "base.toml")
    assert apply_settings(plain, default_settings("base", plain)).levers == frozenset()
    moved = apply_settings(plain, default_settings("base", plain).updated(
        distill_efficiency=0.45))
    assert moved.levers == {"capability.distill_efficiency"}
    bands = ensemble_bands(plain, load_seeds(), n_runs=3, seed=0)
    assert bands.note == band_note(plain, 3) and "posterior" in bands.note


def test_shipped_scenarios_draw_from_the_whole_record_posterior() -> None:
    """Issue 17: the baseline and every shipped scenario extending it draw each run's
    parameters from the posterior calibrated on the whole record (through 2026-03)."""
    from sim.inputs.packaged import scenarios_dir

    for path in sorted(scenarios_dir().glob("*.toml")):
        draws = scenario_draws(load_scenario(path))
        assert draws is not None, path.name
        assert draws.posterior.cut == "2026-03", path.name
        assert Path(draws.posterior.path).name == "whole-record"
        assert len(draws.names) >= 8
