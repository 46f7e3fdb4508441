"""Figures that do not mislead (issue 21, item 6): the Epoch record a history run lists is
drawn, every alternative of ``compare`` has its own colour, ``trajectories.png`` keeps a
page's width, and the labs and policy figures draw what they say."""

from __future__ import annotations

from pathlib import Path

import matplotlib.colors as mcolors
import numpy as np
import pytest
from conftest import SCENARIOS
from PIL import Image

from sim.core.engine import simulate
from sim.inputs.scenario import Scenario, load_scenario
from sim.inputs.seeds import load_eci_record, load_seeds, seeds_for
from sim.report import compare_figures, figures


@pytest.fixture(scope="module")
def history_results() -> object:
    sc = load_scenario(SCENARIOS / "history-2023.toml").with_overrides(
        {"population.buyers_per_segment": 4})
    return simulate(sc, n_runs=2, seed=1, seeds=seeds_for(sc))


def test_history_run_draws_the_record_of_its_simulated_months(history_results: object) -> None:
    own = history_results.world.population.history  # type: ignore[attr-defined]
    assert np.isnan(own.closed).all()  # the 2023 seed world holds only a blank 2022-12
    hist = figures.record_history(history_results)
    record = load_eci_record()
    assert hist.first_month == own.first_month
    # the record's 2023-03 value (GPT-4, 126.17) is in the drawn history at its month
    i = record.first_month + 2 - hist.first_month
    assert hist.closed[i] == pytest.approx(126.1677)
    assert len(hist.closed) == len(own.closed) + len(record.closed)


def test_baseline_record_is_its_own_pre_start_record(small_scenario: Scenario) -> None:
    res = simulate(small_scenario, n_runs=2, seed=1, seeds=load_seeds())
    hist = figures.record_history(res)
    assert hist is res.world.population.history


@pytest.mark.parametrize("n", [1, 7, 8, 16, 17, 25])
def test_every_alternative_has_its_own_colour(n: int) -> None:
    colors = compare_figures.alternative_colors(n)
    assert len(colors) == n
    assert len({mcolors.to_hex(c) for c in colors}) == n


def test_figures_draw_and_trajectories_keep_a_page_width(small_scenario: Scenario,
                                                         tmp_path: Path) -> None:
    res = simulate(small_scenario, n_runs=3, seed=2, seeds=load_seeds())
    worlds = [res] * 9
    path = compare_figures.plot_trajectories(worlds, tmp_path / "t.png")
    width, height = Image.open(path).size
    assert width <= 1800 < height
    compare_figures.plot_deltas(res, worlds[1:], tmp_path / "d.png")
    for plot in (figures.plot_labs, figures.plot_policy, figures.plot_gap,
                 figures.plot_frontier):
        assert plot(res, tmp_path / f"{plot.__name__}.png").stat().st_size > 10_000
