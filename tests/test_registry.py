"""The one registry of measures: every measure is documented and computes an array of its
documented shape, and the Mesa model's reporters read the same numbers as a batch."""

from __future__ import annotations

import pickle
from dataclasses import replace

import numpy as np
import pytest

from sim.core.engine import Results, simulate, simulate_world
from sim.inputs.scenario import Scenario
from sim.inputs.seeds import Seeds
from sim.measures import registry
from sim.measures.registry import MEASURES, MeasureError, measure
from sim.model import MODEL_MEASURES, MODEL_REPORTERS, OpenGapModel
from sim.report.outputs import tidy_metrics, tidy_table


@pytest.fixture(scope="module")
def batch(small_scenario: Scenario, seeds: Seeds) -> Results:
    return simulate(small_scenario, n_runs=3, seed=2, seeds=seeds)


@pytest.mark.parametrize("name", registry.names())
def test_every_measure_is_documented_and_has_its_shape(batch: Results, name: str) -> None:
    m = MEASURES[name]
    assert m.unit.strip() and m.description.strip(), name
    assert not m.is_outcome
    values = m.series(batch)
    shape = (batch.n_runs, batch.n_months, *(len(labels) for labels in m.labels(batch.world)))
    assert values.shape == shape, name
    assert values.dtype == np.float64
    assert not np.isinf(values).any(), name  # finite, or NaN where undefined
    # Picklable (sweep workers receive outcomes) and the same after a round trip.
    again = pickle.loads(pickle.dumps(m))
    assert np.array_equal(again.series(batch), values, equal_nan=True)


def test_selections_and_aliases(batch: Results) -> None:
    gap = MEASURES["gap_points"].series(batch)
    assert MEASURES["gap"] is MEASURES["gap_points"]
    assert np.array_equal(measure("gap_points").series(batch), gap[:, :, 0])  # default pair
    assert np.array_equal(measure("gap_points[cn_vs_us]").series(batch), gap[:, :, 3])
    assert np.array_equal(measure("gap_points_us").series(batch), gap[:, :, 2])
    grants = MEASURES["sovereign_grants"].series(batch)
    assert np.array_equal(measure("sovereign_grants").series(batch), grants.sum(axis=2))
    shares = MEASURES["token_share"].series(batch)
    assert MEASURES["token_share"].labels(batch.world)[1][-1] == "open"
    assert np.array_equal(measure("token_share[all,open]").series(batch), shares[:, :, -1, -1])
    with pytest.raises(MeasureError, match="unknown camp 'nobody'"):
        measure("alive[nobody]").series(batch)
    with pytest.raises(MeasureError, match="give 2 label"):
        measure("token_share[all]")
    with pytest.raises(MeasureError, match="unknown measure"):
        measure("happiness")
    outcome = measure("alive_open").at("end")
    assert outcome.is_outcome and outcome.label == "alive_open@end"
    assert np.array_equal(outcome.value(batch), MEASURES["alive"].series(batch)[:, -1, 1:]
                          .sum(axis=1))


def test_tidy_metrics_come_from_the_registry() -> None:
    metrics = tidy_metrics()
    assert list(metrics) == [m.name for m in registry.tidy_measures()]
    assert metrics["token_share"][:2] == ("fraction", "lab camp")
    assert metrics["gap_points"][:2] == ("ECI points", "camp pair")
    assert metrics["spend_total"][1] == "all"
    assert metrics["pressure"][1] == "sovereign id"


def test_model_reporters_are_the_registry_scalars() -> None:
    scalars = [m.name for m in registry.scalar_series()]
    assert list(MODEL_MEASURES) == scalars
    assert list(MODEL_REPORTERS) == ["month", *scalars]
    for name in ("gap_points", "lag_months", "open_token_share", "frontier_open_cn",
                 "alive_open"):
        assert name in MODEL_REPORTERS


def _zero_demand(model: OpenGapModel) -> None:
    """Make every segment demand nothing (a world where no share is defined)."""
    pop = model.world.population
    model.world = replace(model.world, population=replace(
        pop, seg_tokens0_t=np.zeros_like(pop.seg_tokens0_t)))


@pytest.mark.parametrize("no_demand", [False, True])
def test_mesa_reporters_equal_batched_measures(small_scenario: Scenario, seeds: Seeds,
                                               no_demand: bool) -> None:
    """Run 1 of seed 4 stepped by the Mesa model and simulated in a batch: every reporter
    equals the registry's measure on the batch, bit for bit, NaN where undefined (with no
    demand at all, the open shares are NaN in both, and the tidy table has no share rows)."""
    model = OpenGapModel(small_scenario, sim_seed=4, run_index=1, seeds=seeds)
    if no_demand:
        _zero_demand(model)
    start = model.state
    while model.running:
        model.step()
    batch = simulate_world(model.sim_scenario, model.world, seeds=seeds, seed=4,
                           run_ids=np.array([1]), state=start)
    data = model.datacollector.get_model_vars_dataframe()
    for name, m in MODEL_MEASURES.items():
        assert np.array_equal(data[name].to_numpy(dtype=float), m.series(batch)[0],
                              equal_nan=True), name
    shares = data["open_token_share"].to_numpy(dtype=float)
    if no_demand:
        assert np.isnan(shares).all() and np.isnan(data["open_dollar_share"]).all()
        table = tidy_table(batch).to_pandas()
        assert not table["metric"].isin(["token_share", "dollar_share"]).any()
        assert (table.loc[table["metric"] == "tokens", "value"] == 0).all()
    else:
        assert np.isfinite(shares).all() and ((shares > 0) & (shares < 1)).all()
