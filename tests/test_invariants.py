"""Invariants that must hold for every valid scenario, checked with hypothesis.

Parameters are drawn across their whole allowed ranges (with the range ends drawn often) and
scheduled events are mixed in; each example simulates a small world (15 months, a few
buyers) for two runs and checks every month:

* token and dollar shares per segment lie in [0, 1] and sum to 1 where demand is served;
* money is conserved in the market (spend = lab revenue + host margin) and in the lab cash
  ledger (change in total cash = revenue + grants + raised - opex + written off - compute);
* nothing is NaN or infinite; cash and compute are non-negative; labs only ever exit;
* released scores and frontiers never fall.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from sim.calendar import format_month, parse_month
from sim.core.engine import simulate, step
from sim.core.mechanisms.market import buyer_tokens
from sim.core.rng import RandomStreams
from sim.core.world import build_world, initial_state
from sim.inputs.scenario import Scenario
from sim.inputs.seeds import Seeds
from sim.vocab import CAMPS, JURISDICTIONS, OUTPUT_CAMPS

N_RUNS = 2
START = parse_month("2026-04")
N_MONTHS = 15  # small_scenario runs 2026-04 .. 2027-06
RTOL = 1e-9
#: ``OPENGAP_HYPOTHESIS_EXAMPLES=500 pytest tests/test_invariants.py`` for a deeper search.
SETTINGS = settings(
    max_examples=int(os.environ.get("OPENGAP_HYPOTHESIS_EXAMPLES", "30")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# --- strategies -------------------------------------------------------------------------


def _real(lo: float, hi: float, *, lo_open: bool = False, hi_open: bool = False,
          extremes: tuple[float, ...] | None = None) -> st.SearchStrategy[float]:
    """Floats in the range, with the ends (or ``extremes``) drawn a third of the time."""
    ends = extremes if extremes is not None else tuple(
        x for x, is_open in ((lo, lo_open), (hi, hi_open)) if not is_open)
    inner = st.floats(lo, hi, exclude_min=lo_open, exclude_max=hi_open,
                      allow_nan=False, allow_infinity=False)
    return st.one_of(st.sampled_from(ends), inner, inner) if ends else inner


PARAMS: dict[str, st.SearchStrategy[Any]] = {
    "population.buyers_per_segment": st.integers(1, 20),
    "capability.algo_progress_per_year": _real(0.0, 3.0),
    "capability.training_share": _real(1e-3, 1.0),
    "capability.pretrain_months": _real(1.0, 36.0),
    "capability.post_train_months": _real(0.0, 24.0),
    "capability.min_run_flop_ratio": _real(0.0, 10.0),
    "capability.research_elasticity": _real(0.0, 2.0),
    "capability.distill_tokens_t": _real(0.0, 1000.0),
    "capability.distill_blocked_access": _real(0.0, 1.0),
    "capability.flywheel_max_points": _real(0.0, 100.0, lo_open=True, extremes=(1e-3, 100.0)),
    "capability.release_noise_points": _real(0.0, 20.0),
    "capability.bench_focus_points": _real(0.0, 30.0),
    "capability.robust_cost_points": _real(0.0, 30.0),
    "capability.fast_follow_rate": _real(0.0, 1.0),
    "capability.fast_follow_lag_months": st.integers(0, 36),
    "capability.distill_efficiency": _real(0.0, 1.0),
    "capability.distill_robust_carry": _real(0.0, 1.0),
    "capability.flywheel_points_per_month": _real(0.0, 5.0),
    "capability.flywheel_half_life_months": _real(0.0, 600.0, lo_open=True,
                                                  extremes=(0.01, 600.0)),
    "capability.open_flywheel_factor": _real(0.0, 1.0),
    "capability.rl_use_before_era": _real(0.0, 1.0, lo_open=True, extremes=(1e-9, 1.0)),
    "capability.rl_tenfold_months": _real(0.0, 600.0, lo_open=True, extremes=(0.01, 600.0)),
    "capability.rl_points_per_decade": _real(0.0, 50.0),
    "capability.rl_max_points": _real(0.0, 100.0, lo_open=True, extremes=(1e-3, 100.0)),
    "capability.rl_data_weight": _real(0.0, 100.0),
    "compute.price_decline_per_year": _real(0.0, 0.9),
    "compute.depreciation_per_month": _real(0.0, 1.0),
    "compute.rental_usd_per_h100e_hour": _real(0.01, 1000.0),
    "compute.contract_lead_months": st.integers(0, 24),
    "compute.opex_usd_per_h100e_month": _real(0.0, 1e5),
    "funding.runway_trigger_months": _real(0.0, 120.0, lo_open=True, extremes=(0.01, 120.0)),
    "funding.raise_base_probability": _real(0.0, 1.0),
    "funding.narrative_points_scale": _real(0.1, 1000.0),
    "funding.dilution": _real(0.0, 1.0),
    "funding.revenue_multiple": _real(0.0, 1000.0),
    "funding.narrative_valuation_usd": _real(0.0, 1e13),
    "funding.plan_horizon_months": _real(1.0, 120.0),
    "funding.reserve_months": _real(0.0, 60.0),
    "funding.parent_budget_growth_per_year": _real(-0.9, 10.0),
    "funding.sentiment_reversion_per_month": _real(0.0, 1.0),
    "funding.sentiment_volatility": _real(0.0, 2.0),
    "funding.acquisition_probability": _real(0.0, 1.0),
    "funding.non_compute_cost_ratio": _real(0.0, 10.0),
    "funding.entry_rate_per_year": _real(0.0, 120.0),
    "funding.entry_success_elasticity": _real(0.0, 10.0),
    "funding.entry_revenue_window_months": _real(1.0, 120.0),
    "market.open_capture_share": _real(0.0, 1.0),
    "market.serving_cost_decline_per_year": _real(0.0, 0.99),
    "market.price_capability_points": _real(0.5, 1000.0),
    "market.closed_markup": _real(0.0, 100.0),
    "market.markup_competition_points": _real(0.05, 1000.0),
    "market.host_price_sensitivity": _real(0.0, 50.0),
    "market.self_host_cost_factor": _real(0.01, 100.0),
    "policy.safety_shock_rate_per_year": _real(0.0, 100.0),
    "policy.pressure_half_life_months": _real(0.0, 600.0, lo_open=True, extremes=(0.01, 600.0)),
    "policy.ban_probability_per_month": _real(0.0, 1.0),
    "policy.crackdown_probability_per_month": _real(0.0, 1.0),
    "policy.export_tightening_probability_per_month": _real(0.0, 1.0),
    "policy.lapse_probability_per_month": _real(0.0, 1.0),
    "policy.lapse_pressure_share": _real(0.0, 1.0),
    "policy.ban_threshold_flop": st.sampled_from([1.0, 1e20, 1e25, 1e32]),
    "policy.ban_enforcement": _real(0.0, 1.0),
    "policy.crackdown_enforcement": _real(0.0, 1.0),
    "policy.export_tightening_price_factor": _real(1.0, 100.0),
    "policy.export_tightening_cap_factor": _real(0.0, 1.0),
    "policy.grant_scale": _real(0.0, 1000.0),
    "policy.grant_pressure_weight": _real(0.0, 100.0),
    "policy.grant_dependency_weight": _real(0.0, 100.0),
    "policy.grant_ban_response": _real(0.0, 100.0),
    "funding.random_shock_rate_per_year": _real(0.0, 12.0),
    "funding.random_shock_size": _real(0.0, 0.99),
    "funding.random_shock_half_life_months": _real(0.01, 600.0),
    "market.local_agents_growth_per_month": _real(0.0, 1.0),
}

months = st.integers(0, N_MONTHS - 1).map(lambda i: format_month(START + i))
jurisdictions = st.sampled_from(JURISDICTIONS)

EVENTS = st.one_of(
    st.fixed_dictionaries({
        "kind": st.just("ban"), "month": months, "sovereign": jurisdictions,
        "threshold_flop": st.one_of(st.sampled_from([1.0, 1e22, 1e25, 1e26, 1e32]),
                                    st.floats(1e20, 1e28)),
        "enforcement": _real(0.0, 1.0),
    }),
    st.fixed_dictionaries({
        "kind": st.just("distillation_crackdown"), "month": months,
        "sovereign": jurisdictions, "enforcement": _real(0.0, 1.0),
    }),
    st.fixed_dictionaries({
        "kind": st.just("export_controls"), "month": months, "sovereign": jurisdictions,
        "target": jurisdictions, "price_multiplier": _real(1.0, 100.0),
        "cap_h100e_per_month": _real(0.0, 1e6, extremes=(0.0, 1.0, 1e6)),
    }),
    st.fixed_dictionaries({
        "kind": st.just("funding_shock"), "month": months, "region": jurisdictions,
        "size": _real(0.0, 0.99), "half_life_months": _real(0.01, 600.0),
    }),
    st.fixed_dictionaries({
        "kind": st.just("safety_shock"), "month": months, "size": _real(0.01, 100.0),
    }),
    st.fixed_dictionaries({
        "kind": st.just("funding_shock"), "month": months, "region": jurisdictions,
        "size": _real(-3.0, 0.0), "half_life_months": _real(0.01, 600.0),
    }),
    st.fixed_dictionaries({
        "kind": st.just("open_program"), "month": months, "sovereign": jurisdictions,
        "usd_bn_per_month": _real(0.0, 100.0),
        "scope": st.sampled_from(["backed", "domestic_open"]),
    }),
    st.fixed_dictionaries({
        "kind": st.just("investor_access"), "month": months,
        "labs": st.lists(st.sampled_from(["moonshot", "openai", "mistral", "entrant_us_open"]),
                         min_size=1, max_size=3, unique=True),
        "multiplier": _real(0.0, 100.0),
    }),
)


@st.composite
def overrides(draw: st.DrawFn) -> dict[str, Any]:
    """A random subset of parameters set to random valid values, plus extra events."""
    chosen = draw(st.lists(st.sampled_from(sorted(PARAMS)), unique=True, max_size=len(PARAMS)))
    out: dict[str, Any] = {path: draw(PARAMS[path]) for path in chosen}
    extra = draw(st.lists(EVENTS, max_size=5))
    if extra:
        out["events"] = extra
    return out


def _scenario(small_scenario: Scenario, ov: dict[str, Any]) -> Scenario:
    ov = dict(ov)
    extra = ov.pop("events", [])
    if extra:
        base_events = [e.model_dump(mode="json") for e in small_scenario.events]
        ov["events"] = base_events + extra
    return small_scenario.with_overrides(ov)


#: Every parameter at the low / high end of its range, and a hostile mix of events.
_HOSTILE_EVENTS = [
    {"kind": "ban", "month": "2026-04", "sovereign": "US", "threshold_flop": 1.0,
     "enforcement": 1.0},
    {"kind": "ban", "month": "2026-05", "sovereign": "CN", "threshold_flop": 1e32,
     "enforcement": 0.0},
    {"kind": "ban", "month": "2026-06", "sovereign": "EU", "threshold_flop": 1e22,
     "enforcement": 1.0},
    {"kind": "funding_shock", "month": "2026-04", "region": "US", "size": 0.99,
     "half_life_months": 600.0},
    {"kind": "funding_shock", "month": "2026-04", "region": "US", "size": 0.99,
     "half_life_months": 0.01},
    {"kind": "export_controls", "month": "2026-05", "sovereign": "US", "target": "CN",
     "price_multiplier": 100.0, "cap_h100e_per_month": 0.0},
    {"kind": "distillation_crackdown", "month": "2026-04", "sovereign": "US",
     "enforcement": 0.0},
    {"kind": "safety_shock", "month": "2027-06", "size": 100.0},
    {"kind": "funding_shock", "month": "2026-07", "region": "CN", "size": -3.0,
     "half_life_months": 600.0},
    {"kind": "open_program", "month": "2026-05", "sovereign": "UK", "usd_bn_per_month": 100.0,
     "scope": "domestic_open"},
    {"kind": "open_program", "month": "2026-05", "sovereign": "GULF",
     "usd_bn_per_month": 100.0, "scope": "backed"},
    {"kind": "investor_access", "month": "2026-05", "labs": ["openai", "entrant_cn_open_a"],
     "multiplier": 0.0},
    {"kind": "investor_access", "month": "2026-06", "labs": ["moonshot"], "multiplier": 100.0},
]
LOW = {path: 0.0 for path in PARAMS if "." in path}
LOW.update({
    "population.buyers_per_segment": 1, "capability.training_share": 1e-3,
    "capability.pretrain_months": 1.0,
    "capability.fast_follow_lag_months": 0, "capability.flywheel_max_points": 1e-3,
    "compute.rental_usd_per_h100e_hour": 0.01, "compute.contract_lead_months": 0,
    "funding.plan_horizon_months": 1.0, "funding.parent_budget_growth_per_year": -0.9,
    "capability.flywheel_half_life_months": 0.01, "funding.runway_trigger_months": 0.01,
    "funding.narrative_points_scale": 0.1,
    "policy.pressure_half_life_months": 0.01, "policy.ban_threshold_flop": 1.0,
    "policy.export_tightening_price_factor": 1.0, "funding.random_shock_half_life_months": 0.01,
    "capability.rl_use_before_era": 1e-9, "capability.rl_tenfold_months": 0.01,
    "capability.rl_max_points": 1e-3, "funding.entry_revenue_window_months": 1.0,
    "market.price_capability_points": 0.5, "market.markup_competition_points": 0.05,
    "market.self_host_cost_factor": 0.01,
})
HIGH = {
    "population.buyers_per_segment": 20, "capability.algo_progress_per_year": 3.0,
    "capability.training_share": 1.0, "capability.pretrain_months": 36.0,
    "capability.post_train_months": 24.0, "capability.min_run_flop_ratio": 10.0,
    "capability.research_elasticity": 2.0, "capability.distill_tokens_t": 1000.0,
    "capability.distill_blocked_access": 1.0, "capability.flywheel_max_points": 100.0,
    "compute.rental_usd_per_h100e_hour": 1000.0, "compute.contract_lead_months": 24,
    "funding.dilution": 1.0, "funding.revenue_multiple": 1000.0,
    "funding.narrative_valuation_usd": 1e13, "funding.plan_horizon_months": 120.0,
    "funding.reserve_months": 60.0, "funding.parent_budget_growth_per_year": 10.0,
    "capability.release_noise_points": 20.0, "capability.bench_focus_points": 30.0,
    "capability.robust_cost_points": 30.0, "capability.fast_follow_rate": 1.0,
    "capability.fast_follow_lag_months": 36, "capability.distill_efficiency": 1.0,
    "capability.distill_robust_carry": 1.0, "capability.flywheel_points_per_month": 5.0,
    "capability.flywheel_half_life_months": 600.0, "capability.open_flywheel_factor": 1.0,
    "compute.price_decline_per_year": 0.9, "compute.depreciation_per_month": 1.0,
    "compute.opex_usd_per_h100e_month": 1e5,
    "funding.runway_trigger_months": 120.0, "funding.raise_base_probability": 1.0,
    "funding.narrative_points_scale": 1000.0,
    "funding.sentiment_reversion_per_month": 0.0, "funding.sentiment_volatility": 2.0,
    "funding.acquisition_probability": 1.0,
    "funding.non_compute_cost_ratio": 10.0,
    "market.open_capture_share": 1.0, "market.serving_cost_decline_per_year": 0.99,
    "market.closed_markup": 100.0, "market.host_price_sensitivity": 50.0,
    "policy.safety_shock_rate_per_year": 100.0,
    "policy.pressure_half_life_months": 600.0, "policy.ban_probability_per_month": 1.0,
    "policy.crackdown_probability_per_month": 1.0,
    "policy.export_tightening_probability_per_month": 1.0,
    "policy.lapse_probability_per_month": 1.0, "policy.lapse_pressure_share": 1.0,
    "policy.ban_threshold_flop": 1.0, "policy.ban_enforcement": 0.0,
    "policy.crackdown_enforcement": 1.0, "policy.export_tightening_price_factor": 100.0,
    "policy.export_tightening_cap_factor": 1.0, "policy.grant_scale": 1000.0,
    "policy.grant_pressure_weight": 100.0, "policy.grant_dependency_weight": 100.0,
    "policy.grant_ban_response": 100.0, "funding.random_shock_rate_per_year": 12.0,
    "funding.random_shock_size": 0.99, "funding.random_shock_half_life_months": 600.0,
    "market.local_agents_growth_per_month": 1.0,
    "capability.rl_use_before_era": 1.0, "capability.rl_tenfold_months": 600.0,
    "capability.rl_points_per_decade": 50.0, "capability.rl_max_points": 100.0,
    "capability.rl_data_weight": 100.0, "funding.entry_rate_per_year": 120.0,
    "funding.entry_success_elasticity": 10.0, "funding.entry_revenue_window_months": 120.0,
}
# Rich labs that raise every month at huge sentiment: the cash ledger at its largest scale.
BOOM = {"funding.dilution": 1.0, "funding.raise_base_probability": 1.0,
        "funding.revenue_multiple": 1000.0, "funding.sentiment_volatility": 2.0,
        "compute.rental_usd_per_h100e_hour": 0.01, "funding.plan_horizon_months": 1.0,
        "funding.sentiment_reversion_per_month": 0.0, "funding.runway_trigger_months": 120.0}
# Everyone goes bust: opex dwarfs revenue and no one can raise.
BUST = {"compute.opex_usd_per_h100e_month": 1e5, "funding.raise_base_probability": 0.0,
        "funding.acquisition_probability": 1.0}
EXAMPLES = [LOW, HIGH, {**HIGH, "events": _HOSTILE_EVENTS}, {**LOW, "events": _HOSTILE_EVENTS},
            BOOM, BUST]


def _with_examples(test):
    for ex in EXAMPLES:
        test = example(ov=ex, seed=1)(test)
    return test


# --- helpers ----------------------------------------------------------------------------


def _close(a: np.ndarray, b: np.ndarray, scale: np.ndarray | float, what: str) -> None:
    """``a == b`` up to RTOL relative to ``scale`` (a magnitude of the summed terms)."""
    tol = RTOL * np.maximum(np.abs(scale), 1.0)
    bad = np.abs(a - b) > tol
    assert not bad.any(), f"{what}: max abs error {np.max(np.abs(a - b)[bad]):.3e}"


def _camp_sizes(results) -> np.ndarray:
    camp = results.world.population.lab_camp
    return np.array([(camp == c).sum() for c in range(len(CAMPS))])


# --- results arrays ---------------------------------------------------------------------


@SETTINGS
@_with_examples
@given(ov=overrides(), seed=st.integers(0, 2**32 - 1))
def test_results_invariants(small_scenario: Scenario, seeds: Seeds, ov: dict[str, Any],
                            seed: int) -> None:
    scenario = _scenario(small_scenario, ov)
    results = simulate(scenario, n_runs=N_RUNS, seed=seed, seeds=seeds)
    a = results.arrays
    pop = results.world.population
    n_t = results.n_months
    assert n_t == scenario.time.n_months

    # No NaN or inf anywhere.
    for name, arr in a.items():
        if name == "lab_price":  # NaN where nothing sells a lab's model
            arr = np.nan_to_num(arr, nan=0.0, posinf=np.inf, neginf=-np.inf)
        assert np.isfinite(arr).all(), f"{name} has NaN/inf"
        assert arr.shape[0] == N_RUNS, name

    # Tokens and spend: non-negative; shares per segment in [0, 1] summing to 1 where served.
    tokens, spend = a["tokens"], a["spend"]  # (R, T, K, C4)
    assert (tokens >= 0).all() and (spend >= 0).all()
    for arr in (tokens, spend):
        served = arr.sum(axis=-1, keepdims=True)
        share = np.divide(arr, served, out=np.zeros_like(arr), where=served > 0)
        assert ((share >= 0) & (share <= 1 + 1e-12)).all()
        total = share.sum(axis=-1)
        np.testing.assert_allclose(total[served[..., 0] > 0], 1.0, rtol=1e-12)
    # Served tokens never exceed the segment's demand.
    assert (tokens.sum(axis=-1) <= a["demand"] * (1 + 1e-12) + 1e-12).all()
    # Spend without tokens is impossible and vice versa, except that local_agents users run
    # open weights on their own hardware and pay no one.
    local = np.array([k == "local_agents" for k in pop.segments])
    assert ((tokens[:, :, ~local] > 0) == (spend[:, :, ~local] > 0)).all()
    assert (spend[:, :, local] == 0).all()

    # Money conservation in the market.
    np.testing.assert_allclose(a["spend_total"],
                               a["lab_revenue_total"] + a["host_revenue"].sum(axis=-1),
                               rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(a["spend_total"], spend.sum(axis=(2, 3)), rtol=RTOL, atol=1e-12)
    np.testing.assert_allclose(a["lab_revenue_total"], a["revenue"].sum(axis=-1),
                               rtol=RTOL, atol=1e-12)
    # Hosts' revenue is never negative; their margin can be (a licence fee above a thin
    # margin is paid out of it).
    assert (a["host_revenue"] >= 0).all()
    # Closed labs keep what buyers pay them; open labs keep their own API's sales and at
    # least the capture share of what hosts sell of their models, never more than all of it.
    closed = CAMPS.index("closed")
    paid = spend.sum(axis=2)
    np.testing.assert_allclose(a["revenue"][..., closed], paid[..., closed], rtol=RTOL,
                               atol=1e-12)
    open_camps = np.arange(len(CAMPS)) != closed
    share = scenario.market.open_capture_share
    assert (a["revenue"][..., open_camps] >= paid[..., open_camps] * share * (1 - RTOL)
            - 1e-12).all()
    assert (a["revenue"][..., open_camps] <= paid[..., open_camps] * (1 + RTOL) + 1e-12).all()

    # Cash, compute, alive.
    assert (a["compute"] >= 0).all()
    # Cash ends each month >= 0 up to rounding of ``cash - (cash / price) * price`` (the
    # compute purchase), which scales with that month's compute spend.
    scale = np.maximum(1.0, a["compute_spend_total"] + a["raised"].sum(axis=-1))[..., None]
    assert (a["cash"] >= -1e-9 * scale).all()
    alive = a["alive"]
    assert (alive >= 0).all() and (alive <= _camp_sizes(results)).all()
    # Labs only leave, except entrant slots entering (mechanism 7).
    assert (np.diff(alive, axis=1) <= a["entries"][:, 1:]).all(), "a lab came back to life"
    assert (a["seed_capital"] >= 0).all() and (a["entries"] >= 0).all()
    for flow in ("raised", "grants", "releases"):
        assert (a[flow] >= 0).all(), flow
    for flow in ("opex_total", "compute_spend_total", "written_off_total", "safety_shocks"):
        assert (a[flow] >= 0).all(), flow

    # Exits agree with the alive counts; acquirers are same-region labs alive at the time.
    exit_month, acquirer = a["exit_month"], a["acquirer"]
    assert ((exit_month >= -1) & (exit_month < n_t)).all()
    exited = np.stack([(exit_month >= 0) & (pop.lab_camp == c)[None] for c in range(len(CAMPS))],
                      axis=-1).sum(axis=1)  # (R, C4)
    entrants = np.array([(pop.lab_entrant & (pop.lab_camp == c)).sum()
                         for c in range(len(CAMPS))])
    entered = a["entries"].sum(axis=1)  # (R, C4)
    np.testing.assert_array_equal(alive[:, -1], _camp_sizes(results)[None] - entrants[None]
                                  + entered - exited)
    for r, lab in zip(*np.nonzero(acquirer >= 0), strict=True):
        buyer = acquirer[r, lab]
        assert exit_month[r, lab] >= 0
        assert pop.lab_region[buyer] == pop.lab_region[lab]
        assert exit_month[r, buyer] == -1 or exit_month[r, buyer] > exit_month[r, lab]

    # Frontiers never fall.
    for name in ("bench_frontier", "robust_frontier"):
        assert (np.diff(a[name], axis=1) >= 0).all(), name
    assert a["bench_frontier"].shape[-1] == len(OUTPUT_CAMPS)
    open_idx, sub = OUTPUT_CAMPS.index("open"), [OUTPUT_CAMPS.index(c) for c in OUTPUT_CAMPS
                                                 if c.startswith("open_")]
    np.testing.assert_array_equal(a["bench_frontier"][..., open_idx],
                                  a["bench_frontier"][..., sub].max(axis=-1))

    # Policy flags are 0/1; sentiment is positive.
    for name in ("ban_active", "crackdown_active"):
        assert np.isin(a[name], (0.0, 1.0)).all(), name
    assert (a["sentiment"] > 0).all()
    assert (a["pressure"] >= 0).all()
    assert (a["export_multiplier"] >= 1).all()


# --- month-by-month state and the cash ledger -------------------------------------------

_FINITE_STATE = ("cash", "revenue", "compute", "algo", "run_flop", "bench", "robust",
                 "released_flop", "months_since_release", "flywheel", "users", "compute_spend",
                 "net_inflow", "funding_outlook", "run_months_left", "contract_h100e",
                 "contract_price",
                 "next_h100e", "next_price", "next_lead",
                 "pressure", "ban_leakage", "distill_enforcement", "export_multiplier",
                 "log_sentiment", "shock_log", "shock_components", "leader_algo")
_NO_NAN_STATE = ("ban_threshold", "export_cap")  # inf means "no ban" / "no cap"


@SETTINGS
@_with_examples
@given(ov=overrides(), seed=st.integers(0, 2**32 - 1))
def test_step_ledger_and_state(small_scenario: Scenario, seeds: Seeds, ov: dict[str, Any],
                               seed: int) -> None:
    scenario = _scenario(small_scenario, ov)
    world = build_world(scenario, seeds)
    pop = world.population
    state = initial_state(world, seeds, N_RUNS)
    streams = RandomStreams.for_population(seed, np.arange(N_RUNS), pop)
    for t in range(world.params.n_months):
        before = state.copy()
        new, flows = step(world, state, streams.month(t))
        # ``step`` is pure: the input state is untouched.
        for name in _FINITE_STATE + _NO_NAN_STATE + ("alive", "choice", "policy_enacted"):
            np.testing.assert_array_equal(getattr(state, name), getattr(before, name),
                                          err_msg=f"step mutated state.{name}")
        assert new.month == t + 1

        # Grants: what the sovereigns pay is what the labs receive.
        np.testing.assert_allclose(flows["grants"].sum(axis=1), flows["grants_paid"].sum(axis=1),
                                   rtol=1e-12, atol=1e-12)

        # Cash ledger per run.
        # Distillation moves money between labs: what students pay, teachers receive.
        _close(flows["distill_paid"].sum(axis=1), 0.0,
               np.abs(flows["distill_paid"]).sum(axis=1) + 1.0, f"distillation at {t}")
        terms = (flows["revenue_in"], flows["grants"], flows["parent_funds"], flows["raised"],
                 -flows["opex"], flows["written_off"], -flows["compute_spend"],
                 flows["seed_capital"], flows["distill_paid"])
        for name, flow, sign in zip(("revenue_in", "grants", "parent_funds", "raised", "opex",
                                     "written_off", "compute_spend", "seed_capital"), terms[:-1],
                                    (1, 1, 1, 1, -1, 1, -1, 1), strict=True):
            assert np.isfinite(flow).all(), name
            assert (sign * flow >= 0).all(), f"{name} has the wrong sign"
        net = sum(f.sum(axis=1) for f in terms)
        change = new.cash.sum(axis=1) - state.cash.sum(axis=1)
        scale = sum(np.abs(f).sum(axis=1) for f in terms) + np.abs(state.cash).sum(axis=1)
        _close(change, net, scale, f"cash ledger at month {t}")

        # Labs only exit; dead labs hold nothing; cash and compute stay non-negative.
        assert not (new.alive & ~state.alive & ~flows["entries"]).any(), "a lab came back"
        assert not (flows["entries"] & state.entered).any(), "a lab entered twice"
        assert (new.alive <= new.entered).all()
        np.testing.assert_array_equal(flows["exits"], state.alive & ~new.alive)
        assert (new.cash[~new.alive] == 0).all()
        assert (new.compute[~new.alive] == 0).all()
        assert (new.revenue[~new.alive] == 0).all()
        assert (new.compute >= 0).all()
        # Alive labs end the month with cash >= 0 (up to rounding of the compute purchase).
        assert (new.cash >= -1e-9 * np.maximum(1.0, flows["compute_spend"])).all()
        assert not np.isnan(new.cash[new.alive]).any()
        for name in _FINITE_STATE:
            assert np.isfinite(getattr(new, name)).all(), f"state.{name} not finite at {t}"
        for name in _NO_NAN_STATE:
            assert not np.isnan(getattr(new, name)).any(), f"state.{name} NaN at {t}"
        # The funding outlook is a share of neutral odds.
        assert ((new.funding_outlook >= 0) & (new.funding_outlook <= 1)).all()
        for name, flow in flows.items():
            values = np.asarray(flow, dtype=float)
            if name == "model_price":  # NaN where nothing sells a lab's model
                values = np.nan_to_num(values, nan=0.0, posinf=np.inf, neginf=-np.inf)
            assert np.isfinite(values).all(), f"flow {name} at {t}"

        # Released scores never fall; a release is the only way they change.
        assert (new.bench >= state.bench).all()
        changed = (new.bench != state.bench) | (new.robust != state.robust)
        assert not (changed & ~flows["releases"]).any()
        assert not (flows["releases"] & ~state.alive).any(), "a dead lab released"

        # Buyers pick an alive, available lab, never a foreign one a zero-leakage ban removes.
        choice = new.choice
        assert ((choice >= -1) & (choice < pop.n_labs)).all()
        r_idx, b_idx = np.nonzero(choice >= 0)
        lab = choice[r_idx, b_idx]
        assert new.alive[r_idx, lab].all(), "a buyer chose an exited lab"
        g, k = pop.buyer_jurisdiction[b_idx], pop.buyer_segment[b_idx]
        assert pop.base_available[g, k, lab].all(), "a buyer chose an unavailable model"
        thr = np.full((N_RUNS, len(JURISDICTIONS)), np.inf)
        leak = np.ones((N_RUNS, len(JURISDICTIONS)))
        thr[:, pop.sov_jurisdiction] = new.ban_threshold
        leak[:, pop.sov_jurisdiction] = new.ban_leakage
        banned_out = (pop.lab_is_open[lab] & (pop.lab_region[lab] != g)
                      & (new.released_flop[r_idx, lab] > thr[r_idx, g]) & (leak[r_idx, g] == 0))
        assert not banned_out.any(), "a buyer chose a model banned with zero leakage"
        # Tokens served equal the demand of the buyers that were served.
        used = buyer_tokens(new.group_demand, pop)
        served = np.where(choice >= 0, used, 0.0).sum(axis=1)
        np.testing.assert_allclose(flows["tokens"].sum(axis=(1, 2)), served, rtol=1e-12)
        state = new


def test_extreme_valid_parameters_stay_finite_over_full_horizon(baseline: Scenario,
                                                                seeds: Seeds) -> None:
    scenario = baseline.with_overrides({**BOOM, "population.buyers_per_segment": 6})
    with np.errstate(all="ignore"):
        results = simulate(scenario, n_runs=4, seed=0, seeds=seeds)
    for name, arr in results.arrays.items():
        if name == "lab_price":  # NaN where nothing sells a lab's model
            arr = np.nan_to_num(arr, nan=0.0, posinf=np.inf, neginf=-np.inf)
        assert np.isfinite(arr).all(), f"{name} has NaN/inf"
