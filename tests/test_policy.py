"""Issue 3 mechanisms: safety shocks, policy decisions, bans that leak, funding shocks,
sovereign grants and local agents. Each has a test of its direction and of its edge cases
(zero rate, threshold never reached, a ban by a sovereign with no domestic labs, every lab
of a camp gone).

Counterfactual directions are checked on paired runs (same seed): the two worlds share every
random draw the intervention does not touch, so a difference is the intervention's effect.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import replace
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.core.engine import simulate, step
from sim.core.mechanisms.funding import foreign_closed_dependency, grant_demand, sovereign_grants
from sim.core.mechanisms.market import ban_availability, group_utilities, market_view
from sim.core.mechanisms.policy import BAN, CRACKDOWN, EXPORT, decide_policies, effective_policy
from sim.core.mechanisms.research import home_ban_threshold
from sim.core.rng import RandomStreams
from sim.core.world import build_world, initial_state
from sim.inputs.scenario import Scenario
from sim.inputs.seeds import Seeds
from sim.vocab import CAMPS, JURISDICTIONS

SEED = 20260401
N_RUNS = 8
US, CN, UK = (JURISDICTIONS.index(g) for g in ("US", "CN", "UK"))


def _with(scenario: Scenario, overrides: dict[str, Any] | None = None,
          events: list[dict[str, Any]] | None = None) -> Scenario:
    ov = dict(overrides or {})
    if events:
        ov["events"] = scenario.model_dump(mode="json")["events"] + events
    return scenario.with_overrides(ov) if ov else scenario


def _sov(world, code: str) -> int:
    return list(world.population.sov_jurisdiction).index(JURISDICTIONS.index(code))


def _run(scenario: Scenario, seeds: Seeds, n_runs: int = N_RUNS) -> dict[str, np.ndarray]:
    return simulate(scenario, n_runs=n_runs, seed=SEED, seeds=seeds).arrays


QUIET = {"policy.safety_shock_rate_per_year": 0.0, "funding.random_shock_rate_per_year": 0.0}


# --------------------------------------------------------------------------- safety shocks


def test_zero_shock_rate_means_no_shocks_no_pressure_no_policy(small_scenario, seeds):
    a = _run(_with(small_scenario, {**QUIET, "policy.ban_probability_per_month": 1.0}), seeds)
    assert (a["safety_shocks"] == 0).all()
    assert (a["pressure"] == 0).all()
    assert (a["policy_change"] == 0).all()
    assert (a["random_funding_shocks"] == 0).all()


def test_higher_shock_rate_gives_at_least_as_many_shocks_on_the_same_draws(small_scenario,
                                                                             seeds):
    low = _run(_with(small_scenario, {"policy.safety_shock_rate_per_year": 2.0}), seeds)
    high = _run(_with(small_scenario, {"policy.safety_shock_rate_per_year": 8.0}), seeds)
    assert (high["safety_shocks"] >= low["safety_shocks"]).all()
    assert high["safety_shocks"].sum() > low["safety_shocks"].sum()
    assert (high["pressure"] >= low["pressure"] - 1e-12).all()


def test_shock_raises_pressure_by_stance_and_pressure_decays_with_half_life(small_scenario,
                                                                            seeds):
    scenario = _with(small_scenario, {**QUIET, "policy.pressure_half_life_months": 6.0},
                     [{"kind": "safety_shock", "month": "2026-05", "size": 1.5}])
    a = _run(scenario, seeds, n_runs=2)
    stance = build_world(scenario, seeds).population.sov_stance
    np.testing.assert_allclose(a["pressure"][:, 1], np.broadcast_to(1.5 * stance, (2, 7)))
    np.testing.assert_allclose(a["pressure"][:, 7], a["pressure"][:, 1] * 0.5, rtol=1e-12)


# --------------------------------------------------------------------------- decisions


def _decide(world, pressure: np.ndarray, u: float, enacted: np.ndarray | None = None):
    pop, p = world.population, world.params
    n_s = pop.n_sovereigns
    enacted = np.zeros((1, n_s, 3), dtype=bool) if enacted is None else enacted
    return decide_policies(enacted, pressure[None, :], np.full((1, n_s, 3), u), pop, p)


def test_policies_are_enacted_only_above_the_threshold(small_scenario, seeds):
    world = build_world(_with(small_scenario, {"policy.ban_probability_per_month": 1.0,
                                               "policy.crackdown_probability_per_month": 1.0,
                                               "policy.export_tightening_probability_per_month":
                                                   1.0}), seeds)
    thr = world.population.sov_threshold
    below, change = _decide(world, thr * 0.999, u=0.0)
    assert not below.any() and (change == 0).all()
    above, change = _decide(world, thr * 1.001, u=0.0)
    assert above[0, :, BAN].all()
    # Only sovereigns with closed labs at home (the US and China) have a crackdown to enact.
    pop = world.population
    home_closed = [sorted({_sov(world, JURISDICTIONS[g]) for g in
                           pop.lab_region[~pop.lab_is_open]})]
    assert np.flatnonzero(above[0, :, CRACKDOWN]).tolist() == home_closed[0]
    assert home_closed[0] == sorted([_sov(world, "US"), _sov(world, "CN")])
    # Only sovereigns with an export-control target can tighten exports (the US on CN).
    can_export = world.population.sov_export_target >= 0
    assert can_export.sum() == 1 and world.population.sov_export_target[_sov(world, "US")] == CN
    np.testing.assert_array_equal(above[0, :, EXPORT], can_export)
    assert (change[above] == 1).all()


def test_enact_probability_zero_never_enacts(small_scenario, seeds):
    world = build_world(_with(small_scenario, {"policy.ban_probability_per_month": 0.0,
                                               "policy.crackdown_probability_per_month": 0.0,
                                               "policy.export_tightening_probability_per_month":
                                                   0.0}), seeds)
    enacted, _ = _decide(world, world.population.sov_threshold * 100, u=0.0)
    assert not enacted.any()


def test_policies_lapse_only_when_pressure_is_well_below_threshold(small_scenario, seeds):
    world = build_world(_with(small_scenario, {"policy.lapse_probability_per_month": 1.0,
                                               "policy.lapse_pressure_share": 0.5}), seeds)
    thr = world.population.sov_threshold
    on = np.ones((1, world.population.n_sovereigns, 3), dtype=bool)
    kept, change = _decide(world, thr * 0.6, u=0.0, enacted=on)
    assert kept.all() and (change == 0).all()
    gone, change = _decide(world, thr * 0.4, u=0.0, enacted=on)
    assert not gone.any() and (change == -1).all()


def test_effective_policy_tightens_the_scheduled_layer(small_scenario, seeds):
    scenario = _with(small_scenario, events=[
        {"kind": "ban", "month": "2026-04", "sovereign": "EU", "threshold_flop": 1e24,
         "enforcement": 0.5}])
    world = build_world(scenario, seeds)
    p, eu, us = world.params, _sov(world, "EU"), _sov(world, "US")
    none = np.zeros((1, world.population.n_sovereigns, 3), dtype=bool)
    pol = effective_policy(0, none, world)
    assert pol["ban_threshold"][0, eu] == 1e24 and pol["ban_leakage"][0, eu] == 0.5
    assert math.isinf(pol["ban_threshold"][0, us])
    both = none.copy()
    both[0, eu, BAN] = both[0, us, BAN] = both[0, us, EXPORT] = True
    pol = effective_policy(0, both, world)
    # The stricter of the scheduled and the enacted ban applies.
    assert pol["ban_threshold"][0, eu] == min(1e24, p.ban_threshold_flop)
    assert pol["ban_leakage"][0, eu] == min(0.5, 1.0 - p.ban_enforcement)
    assert pol["ban_threshold"][0, us] == p.ban_threshold_flop
    sched = world.scheduled_policy
    assert pol["export_multiplier"][0, CN] == pytest.approx(
        sched.export_multiplier[0, CN] * p.export_tightening_price_factor)
    assert pol["export_cap"][0, CN] == pytest.approx(
        sched.export_cap[0, CN] * p.export_tightening_cap_factor)


def test_export_embargo_on_an_uncapped_region_is_a_zero_cap_not_nan(small_scenario, seeds):
    """Tightening with cap factor 0 on a region without a scheduled cap is an embargo (cap 0);
    with a factor above 0 the region stays uncapped. Nothing turns NaN."""
    scenario = small_scenario.with_overrides({
        "events": [], **QUIET, "policy.export_tightening_cap_factor": 0.0,
        "policy.export_tightening_probability_per_month": 1.0})
    world = build_world(scenario, seeds)
    enacted = np.zeros((1, world.population.n_sovereigns, 3), dtype=bool)
    enacted[0, _sov(world, "US"), EXPORT] = True
    pol = effective_policy(0, enacted, world)
    assert pol["export_cap"][0, CN] == 0.0
    assert np.isinf(pol["export_cap"][0, US])
    loose = build_world(scenario.with_overrides({"policy.export_tightening_cap_factor": 0.5}),
                        seeds)
    assert np.isinf(effective_policy(0, enacted, loose)["export_cap"][0, CN])
    wave = _with(scenario, events=[{"kind": "safety_shock", "month": "2026-05", "size": 20.0}])
    a = _run(wave, seeds, 3)
    assert (a["policy_change"][:, :, _sov(world, "US"), EXPORT] > 0).any()
    for name in ("cash", "compute", "opex_total", "compute_spend_total"):
        assert np.isfinite(a[name]).all(), name


def test_shock_wave_leads_to_regulation_and_a_quiet_world_does_not(small_scenario, seeds):
    quiet = _run(_with(small_scenario, QUIET), seeds)
    wave = _run(_with(small_scenario, QUIET, [
        {"kind": "safety_shock", "month": m, "size": 3.0}
        for m in ("2026-06", "2026-08", "2026-10")]), seeds)
    assert (quiet["policy_change"] == 0).all()
    enacted = (wave["policy_change"] > 0).any(axis=(1, 3))  # (R, S)
    assert enacted.any(axis=1).all(), "every run enacts at least one policy"
    # The EU (highest stance, lowest threshold) acts in every run.
    world = build_world(small_scenario, seeds)
    assert enacted[:, _sov(world, "EU")].all()


# --------------------------------------------------------------------------- bans


def _ban_state(scenario: Scenario, seeds: Seeds, code: str, leakage: float):
    world = build_world(scenario, seeds)
    state = initial_state(world, seeds, 1)
    s = _sov(world, code)
    state.ban_threshold[0, s] = 1e24
    state.ban_leakage[0, s] = leakage
    return world, state


def test_ban_penalises_foreign_open_models_by_log_availability_only(small_scenario, seeds):
    world, banned = _ban_state(small_scenario, seeds, "US", 0.3)
    _, free = _ban_state(small_scenario, seeds, "US", 1.0)
    free.ban_threshold[:] = np.inf
    pop = world.population
    with np.errstate(invalid="ignore"):  # unavailable models: -inf - -inf
        diff = (group_utilities(banned, world, market_view(banned, world))
                - group_utilities(free, world, market_view(free, world)))
    above = banned.released_flop[0] > 1e24
    foreign_open = pop.lab_is_open & (pop.lab_region != US) & above
    domestic_open = pop.lab_is_open & (pop.lab_region == US) & above
    assert foreign_open.any() and domestic_open.any()
    us_rows = diff[0, US][:, np.isfinite(diff[0, US]).all(axis=0)]  # (K, available labs)
    cols = np.flatnonzero(np.isfinite(diff[0, US]).all(axis=0))
    # log of the availability a banned model has at its age (docs/model.md 5.5)
    age = banned.months_since_release[0, cols][foreign_open[cols]]
    expected = np.log(ban_availability(0.3, age, world.params.ban_leak_months))
    np.testing.assert_allclose(us_rows[:, foreign_open[cols]], np.broadcast_to(
        expected, us_rows[:, foreign_open[cols]].shape))
    assert (expected >= math.log(0.3) - 1e-12).all()
    assert (us_rows[:, ~foreign_open[cols]] == 0).all()
    # Other markets are untouched.
    other = np.isfinite(diff[0, CN])
    assert (diff[0, CN][other] == 0).all()


def test_ban_by_a_sovereign_with_no_domestic_labs(small_scenario, seeds):
    """The UK has no labs: its ban caps nobody's releases but blocks foreign large open
    models in the UK market (leakage 0: UK local-agents buyers have nothing left)."""
    small_scenario = small_scenario.with_overrides({"population.buyers_per_segment": 20})
    world = build_world(small_scenario, seeds)
    assert not (world.population.lab_region == UK).any()
    assert (world.population.buyer_jurisdiction == UK).any()
    scenario = _with(small_scenario, QUIET, [
        {"kind": "ban", "month": "2026-05", "sovereign": "UK", "threshold_flop": 1e20,
         "enforcement": 1.0}])
    a, base = _run(scenario, seeds, 4), _run(_with(small_scenario, QUIET), seeds, 4)
    assert a["ban_active"][:, 1:, _sov(world, "UK")].all()
    assert (a["open_tokens_by_jurisdiction"][:, 2:, UK] == 0).all()
    assert (base["open_tokens_by_jurisdiction"][:, 2:, UK] > 0).all()
    # Nobody's releases are capped (the ban has no domestic labs to bind).
    state = initial_state(world, seeds, 1)
    state.ban_threshold[0, _sov(world, "UK")] = 1e20
    assert np.isinf(home_ban_threshold(state.ban_threshold, world.population)).all()


def test_domestic_ban_caps_domestic_open_releases(small_scenario, seeds):
    scenario = _with(small_scenario, QUIET, [
        {"kind": "ban", "month": "2026-05", "sovereign": "US", "threshold_flop": 1e25,
         "enforcement": 0.7}])
    world = build_world(scenario, seeds)
    pop = world.population
    state = initial_state(world, seeds, N_RUNS)
    streams = RandomStreams.for_population(SEED, np.arange(N_RUNS), pop)
    us_open = pop.lab_is_open & (pop.lab_region == US)
    released_after_ban = 0
    for t in range(world.params.n_months):
        state, flows = step(world, state, streams.month(t))
        if t >= 1:
            new = flows["releases"] & us_open[None, :]
            assert (state.released_flop[new] <= 1e25).all()
            released_after_ban += int(new.sum())
    assert released_after_ban > 0


def test_us_ban_leaks_through_foreign_releases(baseline, seeds):
    """US buyers keep using large foreign open models after a US ban at enforcement 0.7, and
    lose them entirely at enforcement 1 (paired runs)."""
    def run(enforcement: float | None) -> dict[str, np.ndarray]:
        events = [] if enforcement is None else [
            {"kind": "ban", "month": "2026-05", "sovereign": "US", "threshold_flop": 1e25,
             "enforcement": enforcement}]
        return _run(_with(baseline.with_overrides({"population.buyers_per_segment": 20,
                                                   "time.end": "2027-12"}), QUIET, events),
                    seeds, 6)

    base, leaky, sealed = run(None), run(0.7), run(1.0)
    later = slice(12, None)  # a year after the ban, CN models have crossed 1e25
    us_large = lambda a: a["large_open_tokens"][:, later, US].sum()  # noqa: E731
    assert 0 < us_large(leaky) < us_large(base)
    # Sealed: only domestic pre-ban models above the line remain (US labs cannot release
    # new ones above it), so the leaky ban leaves strictly more large-model use.
    assert us_large(sealed) < us_large(leaky)


# --------------------------------------------------------------------------- grants


def test_grants_rise_after_a_ban_abroad_and_not_without_the_response(small_scenario, seeds):
    ban = [{"kind": "ban", "month": "2026-06", "sovereign": "US", "threshold_flop": 1e25,
            "enforcement": 0.7}]
    base = _run(_with(small_scenario, QUIET), seeds)
    banned = _run(_with(small_scenario, QUIET, ban), seeds)
    muted = _run(_with(small_scenario, {**QUIET, "policy.grant_ban_response": 0.0}, ban), seeds)
    muted_base = _run(_with(small_scenario, {**QUIET, "policy.grant_ban_response": 0.0}), seeds)
    world = build_world(small_scenario, seeds)
    cn, eu = _sov(world, "CN"), _sov(world, "EU")
    t = 2  # the month the ban is in force
    for s in (cn, eu):
        assert (banned["sovereign_grants"][:, t, s] > base["sovereign_grants"][:, t, s]).all()
    np.testing.assert_array_equal(muted["sovereign_grants"][:, t],
                                  muted_base["sovereign_grants"][:, t])


def test_grant_demand_rises_with_dependency_on_foreign_closed_labs(small_scenario, seeds):
    world = build_world(small_scenario, seeds)
    pop, p = world.population, world.params
    state = initial_state(world, seeds, 2)
    closed_us = int(np.flatnonzero(~pop.lab_is_open & (pop.lab_region == US))[0])
    eu_region = JURISDICTIONS.index("EU")
    open_eu = int(np.flatnonzero(pop.lab_is_open & (pop.lab_region == eu_region))[0])
    state.choice[0] = closed_us  # every buyer on a US closed model
    state.choice[1] = open_eu  # every buyer on an EU open model
    dep = foreign_closed_dependency(state.choice, state.group_demand, pop)
    eu, us = _sov(world, "EU"), _sov(world, "US")
    assert dep[0, eu] == pytest.approx(1.0) and dep[0, us] == 0.0  # US labs are not foreign
    assert dep[1].max() == 0.0
    demand = grant_demand(state, pop, p)
    assert demand[0, eu] > demand[1, eu]


def test_open_programme_pays_its_domestic_open_labs_and_money_is_conserved(small_scenario,
                                                                           seeds):
    scenario = _with(small_scenario, QUIET, [
        {"kind": "open_program", "month": "2026-06", "sovereign": "EU",
         "usd_bn_per_month": 0.5, "scope": "domestic_open"}])
    world = build_world(scenario, seeds)
    state = initial_state(world, seeds, 1)
    before, paid_before = sovereign_grants(state, world)
    state = replace(state, month=2)
    after, paid_after = sovereign_grants(state, world)
    eu = _sov(world, "EU")
    assert paid_after[0, eu] == pytest.approx(paid_before[0, eu] + 0.5)
    assert after.sum() == pytest.approx(paid_after.sum())
    mistral = world.population.lab_ids.index("mistral")
    assert after[0, mistral] == pytest.approx(before[0, mistral] + 0.5)


def test_every_lab_of_a_camp_gone(small_scenario, seeds):
    """All Chinese open labs exit: CN grants have no one to pay, no buyer picks a CN open
    model, the camp's frontier holds its last value and nothing turns NaN."""
    world = build_world(small_scenario, seeds)
    pop = world.population
    state = initial_state(world, seeds, 2)
    cn_open = pop.lab_camp == CAMPS.index("open_cn")
    state.alive[:, cn_open] = False
    state.cash[:, cn_open] = 0.0
    state.compute[:, cn_open] = 0.0
    streams = RandomStreams.for_population(SEED, np.arange(2), pop)
    for t in range(6):
        state, flows = step(world, state, streams.month(t))
        assert (flows["grants"][:, cn_open] == 0).all()
        assert (flows["grants_paid"][:, _sov(world, "CN")] == 0).all()
        assert not np.isin(state.choice, np.flatnonzero(cn_open)).any()
        assert np.isfinite(state.cash).all() and np.isfinite(state.bench).all()
    a = _run(small_scenario.with_overrides({}), seeds, 2)  # a normal run for comparison
    assert a["alive"][:, 0, CAMPS.index("open_cn")].min() > 0


# --------------------------------------------------------------------------- funding shocks


def test_scheduled_funding_shock_scales_sentiment_and_recovers_with_its_half_life(
        small_scenario, seeds):
    shock = {"kind": "funding_shock", "month": "2026-06", "region": "CN", "size": 0.6,
             "half_life_months": 4.0}
    base = _run(_with(small_scenario, QUIET), seeds, 3)
    alt = _run(_with(small_scenario, QUIET, [shock]), seeds, 3)
    ratio = alt["sentiment"][:, :, CN] / base["sentiment"][:, :, CN]
    np.testing.assert_allclose(ratio[:, :2], 1.0)
    np.testing.assert_allclose(ratio[:, 2], 0.4)
    np.testing.assert_allclose(ratio[:, 6], 0.4 ** 0.5, rtol=1e-12)  # one half-life later
    others = [g for g in range(len(JURISDICTIONS)) if g != CN]
    np.testing.assert_array_equal(alt["sentiment"][:, :, others], base["sentiment"][:, :, others])


def test_two_shocks_in_a_region_keep_their_own_half_lives(small_scenario, seeds):
    fast = {"kind": "funding_shock", "month": "2026-05", "region": "US", "size": 0.5,
            "half_life_months": 2.0}
    slow = {"kind": "funding_shock", "month": "2026-05", "region": "US", "size": 0.5,
            "half_life_months": 8.0}
    base = _run(_with(small_scenario, QUIET), seeds, 2)
    both = _run(_with(small_scenario, QUIET, [fast, slow]), seeds, 2)
    ratio = both["sentiment"][:, 9, US] / base["sentiment"][:, 9, US]  # 8 months on
    np.testing.assert_allclose(ratio, 0.5 ** (0.5 ** 4) * 0.5 ** 0.5, rtol=1e-12)


def test_random_funding_shocks_follow_their_rate(small_scenario, seeds):
    a = _run(_with(small_scenario, {"funding.random_shock_rate_per_year": 6.0}), seeds, 40)
    per_month = a["random_funding_shocks"].mean()
    assert per_month == pytest.approx(1 - math.exp(-0.5), abs=0.03)


def test_cn_funding_crunch_means_less_money_and_compute_for_cn_labs(baseline, seeds):
    scenario = baseline.with_overrides({"population.buyers_per_segment": 10})
    crunch = _with(scenario, events=[{"kind": "funding_shock", "month": "2026-06",
                                      "region": "CN", "size": 0.9,
                                      "half_life_months": 24.0}])
    base, alt = _run(scenario, seeds, 12), _run(crunch, seeds, 12)
    c = CAMPS.index("open_cn")
    assert alt["raised"][:, :, c].sum() < base["raised"][:, :, c].sum()
    # Compute is added through contracts for runs: less money, less compute under contract.
    assert alt["contracted_h100e"][:, :, c].sum() < base["contracted_h100e"][:, :, c].sum()
    # Before the shock the two worlds are identical.
    np.testing.assert_array_equal(alt["contracted_h100e"][:, :2], base["contracted_h100e"][:, :2])


# --------------------------------------------------------------------------- local agents


def test_local_agents_grow_at_the_scenario_rate_and_use_open_weights_only(small_scenario,
                                                                          seeds):
    # With its capability and price elasticities at 0, the segment grows at the adoption
    # rate the scenario sets, exactly.
    segs = seeds.segments
    k = segs.segment.index("local_agents")
    flat = dataclasses.replace(seeds, segments=dataclasses.replace(
        segs, capability_elasticity=np.where(np.arange(len(segs.segment)) == k, 0.0,
                                             segs.capability_elasticity),
        price_elasticity=np.where(np.arange(len(segs.segment)) == k, 0.0,
                                  segs.price_elasticity)))
    world = build_world(small_scenario.with_overrides(
        {"market.local_agents_growth_per_month": 0.2}), flat)
    pop = world.population
    assert pop.seg_growth[k] == 0.2
    a = _run(small_scenario.with_overrides({"market.local_agents_growth_per_month": 0.2}),
             flat, 3)
    closed = CAMPS.index("closed")
    assert (a["tokens"][:, :, k, closed] == 0).all()
    served = a["tokens"][:, :, k].sum(axis=-1)
    np.testing.assert_allclose(served[:, 1:] / served[:, :-1], 1.2, rtol=1e-9)


def test_local_agents_boom_raises_the_open_token_share(small_scenario, seeds):
    base = _run(small_scenario, seeds, 4)
    boom = _run(small_scenario.with_overrides({"market.local_agents_growth_per_month": 0.2}),
                seeds, 4)

    def open_share(a: dict[str, np.ndarray]) -> np.ndarray:
        tok = a["tokens"][:, -1].sum(axis=1)  # (R, camps)
        return tok[:, 1:].sum(axis=1) / tok.sum(axis=1)

    assert (open_share(boom) > open_share(base)).all()


@given(e=st.floats(0.0, 1.0), age=st.floats(0.0, 600.0), tau=st.floats(0.5, 120.0),
       more=st.floats(0.0, 60.0))
def test_ban_availability_directions(e: float, age: float, tau: float, more: float) -> None:
    """A banned model's availability (issue 21): 1 - enforcement when it falls under the ban,
    never less as it ages, never more under stronger enforcement or slower spreading; a
    ban enforced fully keeps it out for good, an unenforced one does nothing."""
    a = ban_availability(1.0 - e, age, tau)
    assert 0.0 <= a <= 1.0
    assert ban_availability(1.0 - e, 0.0, tau) == pytest.approx(1.0 - e, abs=1e-12)
    assert ban_availability(1.0 - e, age + more, tau) >= a - 1e-12
    assert ban_availability(1.0 - min(1.0, e + 0.1), age, tau) <= a + 1e-12
    assert ban_availability(1.0 - e, age, tau + more) <= a + 1e-12
    assert ban_availability(0.0, age, tau) == 0.0
    assert ban_availability(1.0, age, tau) == 1.0
