"""The vectorized engine agrees with the per-agent reference (tests/reference.py).

Both are fed the same random draws month by month; the reference runs its own trajectory
(it is never re-synchronised from the engine), and every state field of every run is compared
after every month: floats to round-off, buyer choices and alive flags exactly. Each scenario
also asserts that the code paths it is meant to exercise actually ran (exits, acquisitions,
raises, bans, unserved buyers...), so a test cannot pass vacuously.
"""

from __future__ import annotations

import sys
from collections import Counter
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from conftest import at_fixed_parameters  # noqa: E402
from reference import RefRun, reference_simulate, reference_step  # noqa: E402

from sim.core.engine import simulate, step  # noqa: E402
from sim.core.rng import MonthDraws, RandomStreams  # noqa: E402
from sim.core.world import WorldState, build_world, initial_state  # noqa: E402
from sim.inputs.scenario import Scenario, load_scenario  # noqa: E402
from sim.inputs.seeds import load_seeds  # noqa: E402
from sim.vocab import CAMPS, JURISDICTIONS

ROOT = Path(__file__).resolve().parents[1]
RTOL = ATOL = 1e-9
N_RUNS = 3
SEED = 20260401
EXACT = ("alive", "choice", "entered")
#: Flows both implementations report, compared like state fields.
FLOWS = ("safety_shocks", "policy_change", "random_funding_shocks", "grants_paid",
         "raised", "grants", "opex", "written_off", "exits", "acquired",
         "acquirer", "raise_attempts", "compute_spend", "releases", "revenue", "host_margin",
         "entries", "seed_capital")
EXACT_FLOWS = ("safety_shocks", "policy_change", "random_funding_shocks", "exits", "acquired",
               "acquirer", "raise_attempts", "releases", "entries")


@pytest.fixture(scope="module")
def seeds():
    return load_seeds()


@pytest.fixture(scope="module")
def small() -> Scenario:
    base = at_fixed_parameters(load_scenario(ROOT / "scenarios" / "baseline.toml"))
    return base.with_overrides({"population.buyers_per_segment": 8, "time.end": "2027-03"})


def _with_events(scenario: Scenario, extra: list[dict]) -> Scenario:
    events = scenario.model_dump(mode="json")["events"] + extra
    return scenario.with_overrides({"events": events})


def _engine_row(state: WorldState, name: str, r: int):
    value = getattr(state, name)
    if name == "month":
        return value
    return value[r]


def _compare(label: str, engine, ref) -> None:
    engine, ref = np.asarray(engine), np.asarray(ref)
    assert engine.shape == ref.shape, f"{label}: shape {engine.shape} != {ref.shape}"
    if engine.dtype.kind in "bi" and ref.dtype.kind in "bi":
        np.testing.assert_array_equal(ref, engine, err_msg=label)
    else:
        np.testing.assert_allclose(ref.astype(float), engine.astype(float), rtol=RTOL, atol=ATOL,
                                   err_msg=label)


def run_side_by_side(scenario: Scenario, seeds, n_runs: int = N_RUNS,
                     seed: int = SEED) -> Counter:
    """Step the engine and the reference together, compare everything after every month,
    and count the events that happened (to check each test exercised its paths)."""
    world = build_world(scenario, seeds)
    pop = world.population
    state = initial_state(world, seeds, n_runs)
    refs = [RefRun.from_state(state, r) for r in range(n_runs)]
    streams = RandomStreams.for_population(seed, np.arange(n_runs), pop)
    seen: Counter = Counter()
    for t in range(world.params.n_months):
        draws = streams.month(t)
        prev_choice = state.choice
        state, flows = step(world, state, draws)
        refs = [reference_step(world, refs[r], draws, r) for r in range(n_runs)]
        for r, ref in enumerate(refs):
            arrays = ref.to_arrays()
            for f in fields(WorldState):
                label = f"month {t} run {r} {f.name}"
                if f.name in EXACT:
                    np.testing.assert_array_equal(arrays[f.name], _engine_row(state, f.name, r),
                                                  err_msg=label)
                else:
                    _compare(label, _engine_row(state, f.name, r), arrays[f.name])
            for name in FLOWS:
                label = f"month {t} run {r} flow {name}"
                ref_flow = ref.flows[name]
                if name == "revenue":
                    ref_flow = [lab.revenue for lab in ref.labs]
                if name in EXACT_FLOWS:
                    np.testing.assert_array_equal(np.asarray(ref_flow), flows[name][r],
                                                  err_msg=label)
                else:
                    _compare(label, flows[name][r], ref_flow)
        seen["exits"] += int(flows["exits"].sum())
        seen["acquisitions"] += int(flows["acquired"].sum())
        seen["raises"] += int((flows["raised"] > 0).sum())
        seen["releases"] += int(flows["releases"].sum())
        seen["safety_shocks"] += int(flows["safety_shocks"].sum())
        seen["multi_shock_months"] += int((flows["safety_shocks"] > 1).sum())
        seen["switches"] += int(((prev_choice >= 0) & (state.choice != prev_choice)).sum())
        seen["unserved"] += int((state.choice < 0).sum())
        seen["distill_releases"] += int((flows["distill_gain"] > 0).sum())
        seen["bans_active"] += int(np.isfinite(state.ban_threshold).sum())
        seen["blocked_leak"] += int(_blocked_open(world, state).sum())
        seen["enacted"] += int((flows["policy_change"] > 0).sum())
        seen["lapsed"] += int((flows["policy_change"] < 0).sum())
        seen["export_tightened"] += int(state.policy_enacted[:, :, 2].sum())
        seen["random_funding_shocks"] += int(flows["random_funding_shocks"].sum())
        seen["entries"] += int(flows["entries"].sum())
    seen["dead_at_end"] = int((~state.alive).sum())
    seen["all_dead_runs"] = int((~state.alive.any(axis=1)).sum())
    return seen


def _blocked_open(world, state: WorldState) -> np.ndarray:
    """(R, S, L): foreign open models above an active ban threshold (leakage applies)."""
    pop = world.population
    foreign = pop.lab_region[None, :] != pop.sov_jurisdiction[:, None]  # (S, L)
    return ((pop.lab_is_open[None, :] & foreign)[None]
            & (state.released_flop[:, None, :] > state.ban_threshold[:, :, None]))


def test_baseline_agrees(small, seeds):
    seen = run_side_by_side(small, seeds)
    assert seen["releases"] > 0
    assert seen["raises"] > 0
    assert seen["switches"] > 0
    assert seen["distill_releases"] > 0
    assert seen["entries"] > 0


def test_history_world_agrees():
    """The 2023-01 world through the RL era's start (2024-09): entrants (xAI, Mistral,
    Moonshot, StepFun, Sarvam) and the RL post-training channel switching on."""
    full = load_scenario(ROOT / "scenarios" / "history-2023.toml")
    events = [e for e in full.model_dump(mode="json")["events"] if e["month"] <= "2025-03"]
    history = full.with_overrides(
        {"population.buyers_per_segment": 8, "time.end": "2025-03",
         "funding.entry_rate_per_year": 3.0, "events": events})
    seen = run_side_by_side(history, load_seeds(start="2023-01"), n_runs=2)
    assert seen["entries"] > 0
    assert seen["releases"] > 0


def test_scheduled_events_agree(small, seeds):
    scenario = _with_events(small, [
        {"kind": "ban", "month": "2026-06", "sovereign": "US", "threshold_flop": 1e25,
         "enforcement": 0.8},
        # A leak-proof ban on every open model in China: CN labs can no longer release, but
        # CN buyers keep the CN models already released.
        {"kind": "ban", "month": "2026-09", "sovereign": "CN", "threshold_flop": 1e20,
         "enforcement": 1.0},
        # The UK has no labs of its own: its local_agents buyers are left with nothing to
        # buy (choice -1) and log(0) utilities must be handled.
        {"kind": "ban", "month": "2026-10", "sovereign": "UK", "threshold_flop": 1e20,
         "enforcement": 1.0},
        # Two shocks with different half-lives in one region each keep their own.
        {"kind": "funding_shock", "month": "2026-09", "region": "CN", "size": -0.5,
         "half_life_months": 24.0},
        {"kind": "open_program", "month": "2026-08", "sovereign": "EU",
         "usd_bn_per_month": 0.5, "scope": "domestic_open"},
        {"kind": "open_program", "month": "2026-06", "sovereign": "US",
         "usd_bn_per_month": 0.2, "scope": "backed"},
        {"kind": "distillation_crackdown", "month": "2026-07", "sovereign": "US",
         "enforcement": 0.2},
        {"kind": "funding_shock", "month": "2026-08", "region": "CN", "size": 0.6,
         "half_life_months": 6.0},
        {"kind": "funding_shock", "month": "2026-10", "region": "US", "size": 0.3,
         "half_life_months": 3.0},
        {"kind": "safety_shock", "month": "2026-05", "size": 2.0},
        {"kind": "investor_access", "month": "2026-06", "labs": ["moonshot", "zhipu"],
         "multiplier": 0.0},
        {"kind": "export_controls", "month": "2026-11", "sovereign": "US", "target": "GULF",
         "price_multiplier": 2.0, "cap_h100e_per_month": 500.0},
    ])
    seen = run_side_by_side(scenario, seeds)
    assert seen["bans_active"] > 0
    assert seen["blocked_leak"] > 0
    assert seen["unserved"] > 0
    assert seen["safety_shocks"] >= N_RUNS  # at least the scheduled one in every run
    assert seen["releases"] > 0


def test_high_safety_shock_rate_agrees(small, seeds):
    """Frequent shocks push every sovereign over its threshold: enacted bans, crackdowns and
    export tightening, then (with a short pressure half-life between bursts) lapses."""
    scenario = small.with_overrides({"policy.safety_shock_rate_per_year": 100.0,
                                     "policy.lapse_probability_per_month": 0.5,
                                     "policy.lapse_pressure_share": 1.0})
    seen = run_side_by_side(scenario, seeds)
    assert seen["safety_shocks"] > 12 * N_RUNS
    assert seen["multi_shock_months"] > 0
    assert seen["enacted"] > 0
    assert seen["export_tightened"] > 0


def test_policy_lapses_and_random_funding_shocks_agree(small, seeds):
    scenario = _with_events(small.with_overrides({
        "policy.lapse_probability_per_month": 0.5,
        "policy.pressure_half_life_months": 1.0,
        "funding.random_shock_rate_per_year": 6.0,
        "policy.grant_scale": 5.0,
    }), [{"kind": "safety_shock", "month": month, "size": 30.0}
         for month in ("2026-05", "2026-09", "2027-01")])
    seen = run_side_by_side(scenario, seeds)
    assert seen["enacted"] > 0
    assert seen["lapsed"] > 0
    assert seen["random_funding_shocks"] > 0


def test_exits_and_acquisitions_agree(small, seeds):
    scenario = small.with_overrides({
        "funding.raise_base_probability": 0.02,
        "compute.opex_usd_per_h100e_month": 5000.0,
        "funding.acquisition_probability": 0.8,
    })
    seen = run_side_by_side(scenario, seeds)
    assert seen["exits"] > 0
    assert seen["acquisitions"] > 0
    assert seen["exits"] > seen["acquisitions"]  # some compute was lost too
    assert seen["raises"] > 0
    assert seen["dead_at_end"] > 0


def test_total_collapse_agrees(small, seeds):
    """Every lab dies: frontier and leader fall back to the last known values, nobody is
    served."""
    scenario = small.with_overrides({
        "funding.raise_base_probability": 0.0,
        "compute.opex_usd_per_h100e_month": 20000.0,
        "funding.acquisition_probability": 1.0,
        "funding.entry_rate_per_year": 0.0,
    })
    seen = run_side_by_side(scenario, seeds)
    assert seen["all_dead_runs"] > 0
    assert seen["acquisitions"] > 0
    assert seen["unserved"] > 0


def test_reference_simulate_matches_engine_simulate(small, seeds):
    """Whole runs, one at a time in the reference vs one batch in the engine (also checks
    that a run's draws do not depend on its batch)."""
    scenario = small.with_overrides({"funding.raise_base_probability": 0.05,
                                     "compute.opex_usd_per_h100e_month": 4000.0})
    ref = reference_simulate(scenario, n_runs=N_RUNS, seed=SEED, seeds=seeds, first_run=5)
    res = simulate(scenario, n_runs=N_RUNS, seed=SEED, first_run=5, seeds=seeds)
    pop = res.world.population
    for r, final in enumerate(ref.finals):
        arrays = final.to_arrays()
        for c, camp in enumerate(CAMPS):
            mask = pop.lab_camp == c
            np.testing.assert_allclose(arrays["cash"][mask].sum(), res.arrays["cash"][r, -1, c],
                                       rtol=RTOL, atol=ATOL, err_msg=f"run {r} cash {camp}")
            np.testing.assert_allclose(arrays["compute"][mask].sum(),
                                       res.arrays["compute"][r, -1, c], rtol=RTOL, atol=ATOL)
            assert arrays["alive"][mask].sum() == res.arrays["alive"][r, -1, c]
    assert ref.n_exits == int((res.arrays["exit_month"] >= 0).sum())
    assert ref.n_acquisitions == int((res.arrays["acquirer"] >= 0).sum())
    assert ref.n_releases == int(res.arrays["releases"].sum())
    assert ref.n_agent_steps == N_RUNS * res.n_months * pop.n_agents


def test_acquirer_ties_break_to_first_index(small, seeds):
    """Two same-region survivors with exactly the same cash: the acquirer is the first by lab
    index (np.argmax), in the engine and in the reference."""
    world = build_world(small, seeds)
    pop = world.population
    state = initial_state(world, seeds, 1)
    ids = pop.lab_ids
    failing, twin_a, twin_b = ids.index("bytedance_seed"), ids.index("moonshot"), ids.index("zhipu")
    region = pop.lab_region[failing]
    assert pop.lab_region[twin_a] == pop.lab_region[twin_b] == region
    assert pop.sov_backing[:, twin_a].tolist() == pop.sov_backing[:, twin_b].tolist()
    same = np.flatnonzero(pop.lab_region == region)
    state.cash[0, same] = 0.5
    for name in ("cash", "revenue", "compute", "compute_spend", "serving_cost"):
        getattr(state, name)[0, twin_b] = getattr(state, name)[0, twin_a]
    state.cash[0, [twin_a, twin_b]] = 40.0
    state.cash[0, failing] = -100.0
    n_l, n_b, n_g = pop.n_labs, pop.n_buyers, len(JURISDICTIONS)
    draws = MonthDraws(shock_u=np.zeros(1), sentiment_z=np.zeros((1, n_g)),
                       raise_u=np.ones((1, n_l)), acquire_u=np.zeros((1, n_l)),
                       release_u=np.ones((1, n_l)), release_z=np.zeros((1, n_l)),
                       choice_u=np.full((1, n_b), 0.5),
                       decision_u=np.ones((1, pop.n_sovereigns, 3)),
                       funding_shock_u=np.ones((1, n_g)), entry_u=np.ones((1, n_l)))
    new, flows = step(world, state, draws)
    ref = reference_step(world, RefRun.from_state(state, 0), draws, 0)
    assert flows["exits"][0, failing] and flows["acquired"][0, failing]
    assert flows["acquirer"][0, failing] == min(twin_a, twin_b)
    assert ref.flows["acquirer"][failing] == min(twin_a, twin_b)
    np.testing.assert_allclose(ref.to_arrays()["compute"], new.compute[0], rtol=RTOL, atol=ATOL)
