"""The Mesa face (sim.model, sim.agents) against the batched engine."""

from __future__ import annotations

import inspect

import mesa
import numpy as np
import pandas as pd
import pytest

from sim.agents import BuyerAgent, LabAgent, SovereignAgent
from sim.core.engine import simulate
from sim.inputs.scenario import load_scenario, resolve_scenario_path
from sim.model import MODEL_REPORTERS, OpenGapModel
from sim.vocab import CAMPS, OUTPUT_CAMPS

SMALL = {"population.buyers_per_segment": 10}


def _run_to_end(model: OpenGapModel) -> OpenGapModel:
    while model.running:
        model.step()
    return model


@pytest.mark.parametrize(("sim_seed", "run_index"), [(5, 0), (11, 3)])
def test_model_reproduces_engine_run(sim_seed: int, run_index: int) -> None:
    scenario = load_scenario(resolve_scenario_path("baseline")).with_overrides(SMALL)
    model = _run_to_end(OpenGapModel(scenario, sim_seed=sim_seed, run_index=run_index))
    results = simulate(scenario, n_runs=1, seed=sim_seed, first_run=run_index)

    n_months = results.n_months
    assert model.steps == n_months
    assert not model.running
    frontier = results.arrays["bench_frontier"][0]  # (T, C5)
    closed, open_ = OUTPUT_CAMPS.index("closed"), OUTPUT_CAMPS.index("open")
    cn, us = OUTPUT_CAMPS.index("open_cn"), OUTPUT_CAMPS.index("open_us")
    data = model.datacollector.get_model_vars_dataframe()
    assert len(data) == n_months  # one record per month simulated, none before the first
    assert data["month"].iloc[0] == "2026-04"
    after = data
    np.testing.assert_allclose(after["gap_points"], frontier[:, closed] - frontier[:, open_],
                               rtol=0, atol=1e-9)
    np.testing.assert_allclose(after["gap_points_cn"], frontier[:, closed] - frontier[:, cn],
                               rtol=0, atol=1e-9)
    np.testing.assert_allclose(after["gap_points_us"], frontier[:, closed] - frontier[:, us],
                               rtol=0, atol=1e-9)
    np.testing.assert_allclose(after["frontier_closed"], frontier[:, closed], rtol=0, atol=1e-9)
    alive = sum(after[f"alive_{camp}"] for camp in CAMPS)
    np.testing.assert_allclose(alive, results.arrays["alive"][0].sum(axis=1))
    tokens = results.arrays["tokens"][0].sum(axis=1)  # (T, C4): closed first
    np.testing.assert_allclose(after["open_token_share"], 1 - tokens[:, 0] / tokens.sum(axis=1),
                               rtol=0, atol=1e-9)
    spend = results.arrays["spend"][0].sum(axis=1)
    np.testing.assert_allclose(after["open_dollar_share"], 1 - spend[:, 0] / spend.sum(axis=1),
                               rtol=0, atol=1e-9)
    # The end state matches too: per-camp cash from the agents equals the engine's.
    cash_closed = sum(lab.cash for lab in model.labs if lab.camp == "closed")
    assert cash_closed == pytest.approx(results.arrays["cash"][0, -1, 0], rel=1e-12)


def test_model_is_deterministic_and_seed_dependent() -> None:
    def gaps(seed: int) -> np.ndarray:
        model = _run_to_end(OpenGapModel("baseline", sim_seed=seed, overrides=SMALL))
        return model.datacollector.get_model_vars_dataframe()["gap_points"].to_numpy()

    np.testing.assert_array_equal(gaps(1), gaps(1))
    assert not np.array_equal(gaps(1), gaps(2))


def test_batch_run_rows_cover_every_month() -> None:
    """``mesa.batch_run`` with ``data_collection_period=1`` gives every simulated month,
    2026-04 .. 2029-12, with its measured values, under Mesa 3.3 (one row per run and month)
    and Mesa >= 3.5 (one row per run, month and lab or sovereign, the model's columns
    repeated): see docs/mesa.md."""
    # Mesa >= 3.4 deprecates ``iterations`` for ``rng`` (passed on to the model as ``rng``).
    replicates = (
        {"rng": [None]} if "rng" in inspect.signature(mesa.batch_run).parameters
        else {"iterations": 1}
    )
    rows = mesa.batch_run(
        OpenGapModel,
        parameters={"scenario": "baseline", "sim_seed": [1, 2], "overrides": [SMALL]},
        **replicates,
        data_collection_period=1,
        number_processes=1,
        display_progress=False,
    )
    frame = pd.DataFrame(rows)
    assert set(MODEL_REPORTERS) <= set(frame.columns)
    model_rows = frame.drop_duplicates(["RunId", "month"])
    months = [f"{y}-{m:02d}" for y in range(2026, 2030) for m in range(1, 13)][3:]
    for seed in (1, 2):
        run = model_rows[model_rows["sim_seed"] == seed]
        assert run["month"].tolist() == months
        assert np.isfinite(run["gap_points"].to_numpy(dtype=float)).all()
        shares = run["open_token_share"].to_numpy(dtype=float)
        assert ((shares >= 0) & (shares <= 1)).all()
    one = OpenGapModel("baseline", sim_seed=1, overrides=SMALL)
    per_month = (one.population.n_labs + one.population.n_sovereigns + one.population.n_hosts
                 if "AgentID" in frame.columns else 1)
    assert len(frame) == 2 * len(months) * per_month
    if "AgentID" in frame.columns:  # Mesa >= 3.5: agent-type reporters in every row
        labs = frame[frame["cash"].notna()]
        assert len(labs) == 2 * len(months) * one.population.n_labs
        assert {"bench", "robust", "compute", "revenue", "alive"} <= set(labs.columns)


def test_agents_are_views_on_state() -> None:
    model = OpenGapModel("baseline", sim_seed=4, overrides=SMALL)
    pop = model.population
    assert len(model.agents) == pop.n_labs + pop.n_sovereigns + pop.n_buyers + pop.n_hosts
    assert len(model.labs) == pop.n_labs
    assert len(model.hosts) == pop.n_hosts
    assert len(model.sovereigns) == pop.n_sovereigns
    assert len(model.buyers) == pop.n_buyers
    for _ in range(6):
        model.step()
    state = model.state
    for host in model.hosts:
        assert host.revenue == state.host_revenue[0, host.index]
        assert host.tokens == state.host_tokens[0, host.index]
        assert host.name == pop.host_names[host.index] and host.markets
    assert sum(h.revenue for h in model.hosts) > 0  # hosts sell open weights
    for lab in model.agents_by_type[LabAgent]:
        assert lab.cash == state.cash[0, lab.index]
        assert lab.compute == state.compute[0, lab.index]
        assert lab.bench == state.bench[0, lab.index]
        assert lab.alive == bool(state.alive[0, lab.index])
        assert lab.name == pop.lab_names[lab.index]
        assert "cash" not in vars(lab)  # no state copied into the agent
    for sov in model.agents_by_type[SovereignAgent]:
        assert sov.pressure == state.pressure[0, sov.index]
        assert sov.ban_active == bool(np.isfinite(state.ban_threshold[0, sov.index]))
    chosen = [buyer.current_lab for buyer in model.agents_by_type[BuyerAgent]]
    np.testing.assert_array_equal([-1 if c is None else c for c in chosen], state.choice[0])
    # Views follow the state as it advances.
    lab = model.labs[0]
    model.step()
    assert lab.cash == model.state.cash[0, lab.index]
    lab_data = model.datacollector.get_agenttype_vars_dataframe(LabAgent)
    steps = lab_data.index.get_level_values("Step")  # model.steps (Mesa 3.3) or .time (3.5)
    last = lab_data[steps == steps.max()]
    assert len(last) == pop.n_labs
    np.testing.assert_array_equal(last["cash"].to_numpy(), model.state.cash[0])


def test_running_stops_at_horizon_and_extra_steps_do_nothing() -> None:
    model = _run_to_end(OpenGapModel("baseline", sim_seed=0, overrides=SMALL))
    assert model.last_month == model.sim_scenario.time.end
    state = model.state
    model.step()
    assert model.state is state
    assert len(model.datacollector.get_model_vars_dataframe()) == model.n_months


def test_sovereign_agents_report_policies_and_grants() -> None:
    """A safety-shock wave makes the EU and the US enact policies; their agents and the
    DataCollector say so (only the US, with closed labs at home, has a crackdown to enact)."""
    events = load_scenario(resolve_scenario_path("baseline")).model_dump(mode="json")["events"]
    events += [{"kind": "safety_shock", "month": m, "size": 5.0}
               for m in ("2026-05", "2026-06", "2026-07")]
    model = OpenGapModel("baseline", sim_seed=3, overrides={
        "population.buyers_per_segment": 7, "time.end": "2027-03", "events": events,
        "policy.ban_probability_per_month": 1.0, "policy.crackdown_probability_per_month": 1.0})
    for _ in range(4):
        model.step()
    eu = next(a for a in model.sovereigns if a.sovereign_id == "eu")
    us = next(a for a in model.sovereigns if a.sovereign_id == "us")
    assert eu.enacted_policies == ["ban"]
    assert eu.ban_active and not eu.crackdown_active
    assert {"ban", "distillation_crackdown"} <= set(us.enacted_policies)
    assert us.crackdown_active
    assert us.export_target == "CN" and eu.export_target is None
    assert eu.grants_paid > 0
    frame = model.datacollector.get_agenttype_vars_dataframe(SovereignAgent)
    last = frame.xs(model.steps, level="Step")
    assert bool(last.loc[last["sovereign"] == "eu", "ban_active"].iloc[0])


def test_agent_reporters_follow_each_lab_and_sovereign() -> None:
    """The DataCollector's per-lab and per-sovereign records are the agents' values month by
    month (Mesa's ``get_agenttype_vars_dataframe``)."""
    model = OpenGapModel("baseline", sim_seed=3, overrides=SMALL)
    for _ in range(4):
        model.step()
    labs = model.datacollector.get_agenttype_vars_dataframe(LabAgent)
    assert len(labs) == 4 * model.population.n_labs
    last = labs.xs(4, level="Step")
    for lab in model.labs:
        row = last.loc[lab.unique_id]
        assert (row["cash"], row["bench"], row["revenue"]) == (lab.cash, lab.bench, lab.revenue)
        assert (row["compute"], row["alive"], row["robust"]) == (lab.compute, lab.alive,
                                                                   lab.robust)
    sovereigns = model.datacollector.get_agenttype_vars_dataframe(SovereignAgent)
    last = sovereigns.xs(4, level="Step")
    for sov in model.sovereigns:
        assert last.loc[sov.unique_id, "grants_paid"] == sov.grants_paid
        assert last.loc[sov.unique_id, "policies_in_force"] == sov.policies_in_force


def test_agent_types_act_in_the_engines_monthly_order() -> None:
    """Every mechanism of the engine's month is acted by exactly one agent type, in the
    engine's order (sovereigns, labs, buyers, then entrant labs)."""
    from sim.agents import AGENT_TYPES, LabAgent, SovereignAgent, monthly_order
    from sim.core.engine import MECHANISMS

    order = monthly_order()
    assert [name for _, name in order] == [m.name for m in MECHANISMS]
    assert order[0] == (SovereignAgent, "policy") and order[-1] == (LabAgent, "entry")
    assert sorted(n for k in AGENT_TYPES for n in k.cls.MECHANISMS) == sorted(
        m.name for m in MECHANISMS)
    model = OpenGapModel("baseline", sim_seed=3, overrides=SMALL)
    assert {k.attribute for k in AGENT_TYPES} == {"labs", "sovereigns", "buyers", "hosts"}
    assert all(isinstance(a, BuyerAgent) for a in model.buyers)


def test_a_ban_shows_in_policies_in_force() -> None:
    scenario = load_scenario(resolve_scenario_path("us-open-ban")).with_overrides(SMALL)
    model = OpenGapModel(scenario, sim_seed=0)
    while model.last_month != "2027-02":
        model.step()
    us = next(s for s in model.sovereigns if s.sovereign_id == "us")
    assert "ban" in us.policies_in_force.split("+")
