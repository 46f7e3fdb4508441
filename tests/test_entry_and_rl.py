"""Direction tests for lab entry (mechanism 7), the RL post-training channel (mechanism 4),
investor access (the one-lab funding cut) and regional valuation multiples."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from sim.core.engine import simulate, step
from sim.core.mechanisms.entry import entry_step
from sim.core.mechanisms.funding import funding_step
from sim.core.rng import RandomStreams
from sim.core.world import (
    build_world,
    initial_state,
    rl_gain_points,
    rl_use_share,
    seeded_rl_gain,
)
from sim.inputs.scenario import Scenario, load_scenario
from sim.inputs.seeds import load_seeds
from sim.vocab import CAMPS, JURISDICTIONS

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def world_and_state(small_scenario: Scenario, seeds):
    world = build_world(small_scenario, seeds)
    return world, initial_state(world, seeds, 2)


def _draws(world, u: float):
    streams = RandomStreams.for_population(1, [0, 1], world.population)
    return replace(streams.month(0), entry_u=np.full((2, world.population.n_labs), u))


# --- entry -------------------------------------------------------------------------------

def test_entrant_slots_start_outside_the_world(world_and_state) -> None:
    world, state = world_and_state
    slots = world.population.lab_entrant
    assert slots.any()
    assert not state.alive[:, slots].any() and not state.entered[:, slots].any()
    assert (state.cash[:, slots] == 0).all() and (state.compute[:, slots] == 0).all()
    assert state.alive[:, ~slots].all()


def test_entry_rises_with_sentiment(world_and_state) -> None:
    """Same draws, same month: a slot that enters at low sentiment enters at high sentiment,
    and some enter only at high sentiment."""
    world, state = world_and_state
    slots = world.population.lab_entrant
    low, high = state.copy(), state.copy()
    low.log_sentiment[:] = -1.0
    high.log_sentiment[:] = 1.0
    for u in np.linspace(0.001, 0.2, 40):
        draws = _draws(world, u)
        _, f_low = entry_step(low, world, draws)
        _, f_high = entry_step(high, world, draws)
        assert not (f_low["entries"] & ~f_high["entries"]).any()
    _, f_low = entry_step(low, world, _draws(world, 0.05))
    _, f_high = entry_step(high, world, _draws(world, 0.05))
    assert f_high["entries"][:, slots].sum() > f_low["entries"][:, slots].sum()


def test_entry_rises_with_the_frontiers_revenue_growth(world_and_state) -> None:
    world, state = world_and_state
    flat, growing = state.copy(), state.copy()
    closed = ~world.population.lab_is_open
    total = (state.revenue * closed).sum(axis=1)
    flat.closed_revenue_trailing = total.copy()
    growing.closed_revenue_trailing = total / 3.0  # revenue tripled over its trailing mean
    draws = _draws(world, 0.06)  # between the flat (~0.04) and growing (~0.1) hazards
    _, f_flat = entry_step(flat, world, draws)
    _, f_grow = entry_step(growing, world, draws)
    assert not (f_flat["entries"] & ~f_grow["entries"]).any()
    assert f_grow["entries"].sum() > f_flat["entries"].sum()


def test_an_entrant_brings_its_seed_capital_and_the_best_team(world_and_state) -> None:
    world, state = world_and_state
    pop = world.population
    updates, flows = entry_step(state, world, _draws(world, 0.0))  # every slot enters
    slots = pop.lab_entrant
    assert flows["entries"][:, slots].all() and not flows["entries"][:, ~slots].any()
    np.testing.assert_array_equal(updates["cash"][:, slots], pop.lab_seed_cash[slots][None]
                                  * np.ones((2, 1)))
    np.testing.assert_array_equal(flows["seed_capital"].sum(axis=1),
                                  np.full(2, pop.lab_seed_cash.sum()))
    assert updates["alive"][:, slots].all() and updates["entered"][:, slots].all()
    for lab in np.flatnonzero(slots):
        same = ~slots & (pop.lab_is_open == pop.lab_is_open[lab])
        assert (updates["algo"][:, lab] == state.algo[:, same].max(axis=1)).all()


def test_no_entry_at_zero_rate(small_scenario: Scenario, seeds) -> None:
    scenario = small_scenario.with_overrides({"funding.entry_rate_per_year": 0.0})
    a = simulate(scenario, n_runs=3, seed=5, seeds=seeds).arrays
    assert a["entries"].sum() == 0 and a["seed_capital"].sum() == 0


def test_more_entries_in_a_boom_than_in_a_crunch(small_scenario: Scenario, seeds) -> None:
    """Engine level, common random numbers: a sentiment boom everywhere brings more
    entries than a crash."""
    def entries(size: float) -> float:
        events = [e.model_dump(mode="json") for e in small_scenario.events] + [
            {"kind": "funding_shock", "month": "2026-04", "region": g, "size": size,
             "half_life_months": 600.0} for g in JURISDICTIONS]
        scenario = small_scenario.with_overrides({"events": events})
        return simulate(scenario, n_runs=8, seed=11, seeds=seeds).arrays["entries"].sum()

    assert entries(-1.5) > entries(0.8)


def test_entrants_enter_the_history_world_and_release(seeds_2023=None) -> None:
    """From 2023-01 the labs founded later enter, plan runs on their seed capital, and
    their releases appear in the outputs like any lab's."""
    history = load_scenario(ROOT / "scenarios" / "history-2023.toml").with_overrides(
        {"population.buyers_per_segment": 10})
    seeds = load_seeds(start="2023-01")
    world = build_world(history, seeds)
    pop = world.population
    state = initial_state(world, seeds, 4)
    streams = RandomStreams.for_population(3, np.arange(4), pop)
    released = np.zeros((4, pop.n_labs), dtype=bool)
    for t in range(world.params.n_months):
        state, flows = step(world, state, streams.month(t))
        released |= flows["releases"]
        # not served before its first release
        served = np.zeros_like(released)
        for r in range(4):
            chosen = state.choice[r][state.choice[r] >= 0]
            served[r, chosen] = True
        assert not (served & pop.lab_entrant & ~released & (state.released_flop == 0)).any()
    assert state.entered[:, pop.lab_entrant].sum() > 0
    assert (released & pop.lab_entrant).any()


# --- RL post-training channel -------------------------------------------------------------

def test_rl_share_rises_after_the_rl_era_and_saturates(world_and_state) -> None:
    world, _ = world_and_state
    p = world.params
    era = 0
    before = rl_use_share(-5, era, p)
    assert before == pytest.approx(p.rl_use_before_era)
    assert rl_use_share(era, era, p) == pytest.approx(p.rl_use_before_era)
    path = rl_use_share(np.arange(0, 48), era, p)
    assert (np.diff(path) >= 0).all() and path[-1] == 1.0
    assert rl_use_share(4, era, p) == pytest.approx(10 * p.rl_use_before_era)


def test_rl_gain_grows_with_rl_compute_and_saturates(world_and_state) -> None:
    world, _ = world_and_state
    p = world.params
    ratios = np.array([0.5, 1.0, 2.0, 10.0, 100.0, 1e6, 1e30])
    gain = rl_gain_points(ratios, p)
    assert gain[0] == gain[1] == 0.0  # no more RL than before the era: no gain
    assert (np.diff(gain[1:]) > 0).all()
    assert (gain < p.rl_max_points).all()
    assert gain[3] == pytest.approx(p.rl_max_points
                                    * -np.expm1(-p.rl_points_per_decade / p.rl_max_points))


def test_seeded_models_carry_their_rl_gain(world_and_state) -> None:
    world, _ = world_and_state
    p = world.params
    gains = seeded_rl_gain(np.array([-30.0, 0.0]), world.rl_era_step, p)
    assert gains[0] == 0.0 or world.rl_era_step > -30  # before the era: nothing
    assert gains[1] >= gains[0]


def test_rl_compute_and_use_data_raise_the_released_score(small_scenario: Scenario,
                                                           seeds) -> None:
    """One lab ending its run: more RL compute in post-training (a later month in the RL era
    is all RL) and a fuller flywheel give a higher score; bench and robust move together."""
    world = build_world(small_scenario, seeds)
    pop = world.population
    lab = pop.lab_ids.index("openai")
    state = initial_state(world, seeds, 3)
    state.run_months_left[:, lab] = 1.0
    state.run_flop[:, lab] = 1e27
    state.rl_flop[:, lab] = [0.0, 1e25, 1e25]  # none, some RL
    state.flywheel[:, lab] = [0.0, 0.0, world.params.flywheel_max_points]
    state.bench[:, lab] = 0.0  # any candidate beats it
    draws = RandomStreams.for_population(1, [0, 0, 0], pop).month(0)
    new, flows = step(world, state, draws)
    assert flows["releases"][:, lab].all()
    assert new.bench[0, lab] < new.bench[1, lab] < new.bench[2, lab]
    # robust = the same base + the flywheel stock: the RL gain moves both alike
    rl_bench = new.bench[1:, lab] - new.bench[0, lab]
    rl_robust = (new.robust[1:, lab] - state.flywheel[1:, lab]) - new.robust[0, lab]
    np.testing.assert_allclose(rl_bench, rl_robust, rtol=1e-9)


def test_without_rl_the_history_frontier_is_lower() -> None:
    """From 2023-01, switching the RL channel off (0 points per decade) lowers the closed
    frontier at 2026-03 in every paired run."""
    history = load_scenario(ROOT / "scenarios" / "history-2023.toml").with_overrides(
        {"population.buyers_per_segment": 10})
    seeds = load_seeds(start="2023-01")
    on = simulate(history, n_runs=4, seed=2, seeds=seeds).arrays["bench_frontier"]
    off = simulate(history.with_overrides({"capability.rl_points_per_decade": 0.0}),
                   n_runs=4, seed=2, seeds=seeds).arrays["bench_frontier"]
    closed = 0
    assert (on[:, -1, closed] > off[:, -1, closed]).all()
    assert (on[:, 18, closed] == off[:, 18, closed]).all()  # 2024-07, before the era


# --- investor access and valuation multiples ---------------------------------------------

def test_a_lab_without_investors_never_raises(world_and_state) -> None:
    world, state = world_and_state
    lab = world.population.lab_ids.index("moonshot")
    cut_world = replace(world, investor_access=np.where(
        np.arange(world.population.n_labs) == lab, 0.0, world.investor_access))
    state = state.copy()
    state.cash[:, lab] = -0.1  # must raise
    draws = replace(RandomStreams.for_population(1, [0, 1], world.population).month(0),
                    raise_u=np.zeros((2, world.population.n_labs)))
    _, f_base = funding_step(state, world, draws)
    _, f_cut = funding_step(state, cut_world, draws)
    assert (f_base["raised"][:, lab] > 0).all()
    assert (f_cut["raised"][:, lab] == 0).all()


def test_the_cut_lab_falls_behind_its_camp(seeds) -> None:
    """one-lab-cut (Moonshot loses its investors from 2026-07), paired with the baseline:
    the lab never raises again and ends further behind its camp's frontier on average.
    (How soon is a validation figure, experiments/validation/validation.txt.)"""
    base = load_scenario(ROOT / "scenarios" / "baseline.toml").with_overrides(
        {"population.buyers_per_segment": 10})
    cut = load_scenario(ROOT / "scenarios" / "one-lab-cut.toml").with_overrides(
        {"population.buyers_per_segment": 10})
    gaps, raised = [], []
    for scenario in (base, cut):
        world = build_world(scenario, seeds)
        pop = world.population
        lab = pop.lab_ids.index("moonshot")
        camp = pop.lab_camp == pop.lab_camp[lab]
        state = initial_state(world, seeds, 12)
        streams = RandomStreams.for_population(7, np.arange(12), pop)
        gap, money = [], 0.0
        for t in range(world.params.n_months):
            state, flows = step(world, state, streams.month(t))
            best = np.where(state.entered[:, camp], state.bench[:, camp], -np.inf).max(axis=1)
            gap.append(best - state.bench[:, lab])
            money += flows["raised"][:, lab][:, None].sum() if t >= 3 else 0.0
        gaps.append(np.stack(gap, axis=1))
        raised.append(money)
    assert raised[1] == 0.0 and raised[0] > 0.0
    assert gaps[1][:, -12:].mean() > gaps[0][:, -12:].mean()


def test_valuation_multiples_shrink_cn_rounds(world_and_state) -> None:
    world, state = world_and_state
    pop = world.population
    cn = JURISDICTIONS.index("CN")
    assert (pop.lab_valuation_multiple[pop.lab_region == cn] < 1).all()
    us_world = replace(world, population=replace(pop, lab_valuation_multiple=np.ones(pop.n_labs)))
    state = state.copy()
    state.cash[:] = -0.1  # everyone must raise
    draws = replace(RandomStreams.for_population(1, [0, 1], pop).month(0),
                    raise_u=np.zeros((2, pop.n_labs)))
    _, f_cn = funding_step(state, world, draws)
    _, f_us = funding_step(state, us_world, draws)
    labs = (pop.lab_region == cn) & f_us["raised"][0].astype(bool)
    assert labs.any()
    np.testing.assert_allclose(f_cn["raised"][:, labs],
                               f_us["raised"][:, labs] * pop.lab_valuation_multiple[labs])
    assert CAMPS  # the camps vocabulary is shared
