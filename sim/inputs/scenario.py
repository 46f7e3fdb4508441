"""Scenario files: a pydantic schema for TOML scenarios and a loader with one-line errors.

A scenario is a TOML file. ``extends = "baseline"`` loads ``baseline.toml`` from the same
folder first and deep-merges this file over it: tables merge key by key, scalars replace,
and the ``events`` list is appended to the parent's (a counterfactual adds events to the
baseline's schedule rather than restating it).

``include = ["fragments/calibrated.toml"]`` merges parameter-only fragments (such as the
output of ``opengap calibrate``) under the file's own values; a key set both in the file and
in a fragment is an error. ``inherit_events = false`` drops the ``extends`` parent's events
(for a scenario on another seed world whose horizon excludes them).

Every model parameter is required (no hidden defaults in code): ``scenarios/baseline.toml``
is the single documented source of values and other scenarios inherit from it.

An error is reported against the file where the mistake is: a bad value inherited from a
parent names the parent, an unknown key in an included fragment names the fragment, and
``events[i]`` counts that file's own events (its first is ``events[0]``). An ``extends``
chain may be at most :data:`MAX_EXTENDS` files long. Every number must be finite, and the
bounds of each parameter keep the model's arithmetic in normal floating-point range.
"""

from __future__ import annotations

import hashlib
import json
import operator
import re
from dataclasses import dataclass, field
from functools import reduce
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    ValidationError,
    field_validator,
    model_serializer,
    model_validator,
)

from sim.calendar import format_month, parse_month
from sim.errors import InputError
from sim.files import SLUG_RULE, is_slug
from sim.inputs.packaged import scenarios_dir
from sim.inputs.tomlfile import read_toml
from sim.vocab import Jurisdiction

#: The default seed world: ``seeds/`` describes the world as of this month.
SEED_WORLD_MONTH = "2026-04"

#: Seed worlds a scenario can start from: first month -> folder under ``seeds/`` that
#: describes the world as of that month (``[time] start`` picks the world).
SEED_WORLDS: dict[str, str] = {SEED_WORLD_MONTH: ".", "2023-01": "history-2023"}

#: Schema tables whose fields are model parameters (``population`` and ``time`` shape the
#: world instead: the buyer agents and the horizon).
PARAMETER_TABLES: tuple[str, ...] = ("capability", "compute", "funding", "market", "policy")

#: Longest ``extends`` chain (the file itself and its ancestors).
MAX_EXTENDS = 32



class ScenarioError(InputError):
    """A scenario could not be loaded; ``str(err)`` is one line: file, field, what is allowed."""


class StrictModel(BaseModel):
    """Base of every input-file schema: unknown keys and loose types are errors."""

    # strict: TOML has real types, so "0.5" or true where a number belongs is a mistake.
    # allow_inf_nan=False: TOML's inf and nan are never a parameter (and would be written to
    # manifest.json as non-standard JSON).
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)



def check_month(value: Any) -> str:
    """A pydantic ``mode="before"`` validator: a 'YYYY-MM' string, normalised."""
    if not isinstance(value, str):
        raise ValueError("expected a month string 'YYYY-MM'")
    return format_month(parse_month(value))


class Time(StrictModel):
    start: str = Field(description="first simulated month, YYYY-MM [month]")
    end: str = Field(description="last simulated month (inclusive), YYYY-MM [month]")

    _months = field_validator("start", "end", mode="before")(staticmethod(check_month))

    @model_validator(mode="after")
    def _order(self) -> Time:
        if self.start not in SEED_WORLDS:
            raise ValueError(
                f"start must be a month with a seed world ({', '.join(SEED_WORLDS)}), "
                f"got {self.start}"
            )
        if parse_month(self.end) <= parse_month(self.start):
            raise ValueError(f"end ({self.end}) must be after start ({self.start})")
        if parse_month(self.end) - parse_month(self.start) > 600:
            raise ValueError("horizon must be at most 600 months")
        return self

    @property
    def n_months(self) -> int:
        return parse_month(self.end) - parse_month(self.start) + 1


def _param(description: str, **bounds: Any) -> Any:
    """A parameter field: ``description`` says what it is and ends with its unit in square
    brackets; ``bounds`` are pydantic's (``ge``, ``gt``, ``le``, ``lt``)."""
    return Field(description=description, **bounds)


class Population(StrictModel):
    buyers_per_segment: int = _param(
        "buyer agents per segment, split over jurisdictions by demand share [agents]",
        ge=1, le=1_000_000)


class Capability(StrictModel):
    """Training, algorithmic progress, fast-following, distillation, releases, flywheel."""

    eci_per_log10_flop: float = _param(
        "capability gained per 10x effective training compute [ECI points / log10 FLOP]",
        gt=0.0, le=50.0)
    algo_progress_per_year: float = _param(
        "algorithmic efficiency gained per year [log10 FLOP-equivalents / year]",
        ge=0.0, le=3.0)
    # Lower bounds that keep the model's numbers normal: at least a thousandth of an H100's
    # ~2.6e21 FLOP a month, and at least 0.1% of the stock training (below either, FLOP
    # underflow towards 0 and log10 of them fails).
    flop_per_h100e_month: float = _param(
        "training FLOP one H100e delivers in a month [FLOP / H100e-month]", ge=1e18, le=1e24)
    training_share: float = _param(
        "share of a lab's compute stock feeding its next frontier run [fraction]",
        ge=1e-3, le=1.0)
    pretrain_months: float = _param(
        "duration of a run's pre-training phase, during which it accumulates FLOP [months]",
        ge=1.0, le=36.0)
    post_train_months: float = _param(
        "duration of a run's post-training phase after pre-training; the release comes at "
        "its end [months]", ge=0.0, le=24.0)
    min_run_flop_ratio: float = _param(
        "a lab delays its next run while the run it can afford is below this share of its "
        "last released model's FLOP [fraction]", ge=0.0, le=10.0)
    research_elasticity: float = _param(
        "elasticity of a lab's algorithmic progress to its research compute relative to the "
        "best-resourced lab: rate = frontier rate x min(1, R / R_max) ** e [dimensionless]",
        ge=0.0, le=2.0)
    release_noise_points: float = _param(
        "s.d. of a release's score around its compute-implied value [ECI points]",
        ge=0.0, le=20.0)
    bench_focus_points: float = _param(
        "benchmark score gained at bench_focus = 1 [ECI points]", ge=0.0, le=30.0)
    robust_cost_points: float = _param(
        "robustness lost at bench_focus = 1 [ECI points]", ge=0.0, le=30.0)
    distill_tokens_t: float = _param(
        "teacher output a distilled release consumes, paid at the teacher's API price "
        "[trillion tokens / release]", ge=0.0, le=1000.0)
    distill_blocked_access: float = _param(
        "share of distillation efficiency a student keeps from a teacher whose API its home "
        "market blocks (leaked outputs, proxies) [fraction]", ge=0.0, le=1.0)
    fast_follow_rate: float = _param(
        "share of the algorithmic gap to the lagged closed leader closed per month "
        "[fraction / month]", ge=0.0, le=1.0)
    fast_follow_lag_months: int = _param(
        "delay with which the leader's methods become known [months]", ge=0, le=36)
    distill_efficiency: float = _param(
        "share of the bench gap to the best reachable closed model that distillation "
        "closes [fraction]", ge=0.0, le=1.0)
    distill_robust_carry: float = _param(
        "share of the distillation gain that carries to robustness [fraction]",
        ge=0.0, le=1.0)
    flywheel_points_per_month: float = _param(
        "robustness gained per month per unit log1p(usage / scale) [ECI points / month]",
        ge=0.0, le=5.0)
    flywheel_max_points: float = _param(
        "saturation level of the RL-from-use flywheel stock: gains shrink as 1 - stock / max "
        "[ECI points]", gt=0.0, le=100.0)
    rl_era_start: str = Field(
        description="first month of the RL post-training era (o1); the flywheel accrues from "
        "it on, YYYY-MM [month]")
    flywheel_half_life_months: float = _param(
        "half-life of the flywheel stock [months]", gt=0.0, le=600.0)
    rl_use_before_era: float = _param(
        "share of the post-training phase's compute spent on RL before the RL era (RLHF) "
        "[fraction]", gt=0.0, le=1.0)
    rl_tenfold_months: float = _param(
        "months in which the RL share of post-training compute grows tenfold from the RL "
        "era's start, until all of it is RL [months]", gt=0.0, le=600.0)
    rl_points_per_decade: float = _param(
        "capability gained per 10x RL compute relative to a pre-RL-era run of the same "
        "pre-training FLOP, before saturation [ECI points / log10]", ge=0.0, le=50.0)
    rl_max_points: float = _param(
        "saturation level of the RL post-training gain [ECI points]", gt=0.0, le=100.0)
    rl_data_weight: float = _param(
        "multiplier on effective RL compute from real-use interaction data at a full "
        "flywheel: x (1 + w x flywheel / flywheel_max_points) [x]", ge=0.0, le=100.0)
    open_flywheel_factor: float = _param(
        "share of their usage open labs learn from (the rest runs at third-party hosts) "
        "[fraction]", ge=0.0, le=1.0)
    usage_scale_t_tokens: float = _param(
        "usage at which log1p(usage / scale) = log 2 [trillion tokens / month]",
        ge=1e-3, le=1e6)

    _rl_month = field_validator("rl_era_start", mode="before")(staticmethod(check_month))


class Compute(StrictModel):
    """Compute prices, depreciation, purchases and running costs."""

    # A rental price of at least 1 cent an hour, falling at most 90% a year: over the
    # longest horizon (600 months) budget / price stays a finite number of H100e.
    rental_usd_per_h100e_hour: float = _param(
        "contract (one-year) rental price of one H100e at the start; an H100e-month is 730 "
        "hours [USD / H100e-hour]", ge=0.01, le=1000.0)
    price_decline_per_year: float = _param(
        "yearly fall of the rental price [fraction / year]", ge=0.0, le=0.9)
    depreciation_per_month: float = _param(
        "share of the owned compute stock written off each month [fraction / month]",
        ge=0.0, le=1.0)
    contract_lead_months: int = _param(
        "months between signing a compute contract and its capacity coming online [months]",
        ge=0, le=24)
    opex_usd_per_h100e_month: float = _param(
        "running cost of owned compute (power, data-centre operations) [USD / H100e-month]",
        ge=0.0, le=1e6)


class Funding(StrictModel):
    """Fundraising, investor sentiment, random funding shocks, exits and acquisitions."""

    runway_trigger_months: float = _param(
        "a lab with less runway than this tries to raise [months]", gt=0.0, le=120.0)
    random_shock_rate_per_year: float = _param(
        "random investor-sentiment crashes per region [shocks / year]", ge=0.0, le=12.0)
    random_shock_size: float = _param(
        "a random crash multiplies sentiment by 1 - size [fraction]", ge=0.0, lt=1.0)
    random_shock_half_life_months: float = _param(
        "half-life of a random crash's recovery [months]", gt=0.0, le=600.0)
    raise_base_probability: float = _param(
        "monthly success probability of a raise at neutral sentiment, at the frontier "
        "[probability / month]", ge=0.0, le=1.0)
    narrative_points_scale: float = _param(
        "ECI points behind the frontier that cut raise odds and round size by a factor e "
        "[ECI points]", ge=0.1, le=1000.0)
    dilution: float = _param(
        "share of the company sold in a round: round = dilution x valuation [fraction]",
        ge=0.0, le=1.0)
    revenue_multiple: float = _param(
        "valuation per USD of annualised revenue at neutral sentiment [x]", ge=0.0, le=1000.0)
    narrative_valuation_usd: float = _param(
        "valuation of a lab at the frontier before revenue (\"keeping up\"), scaled by "
        "exp(-points behind / narrative_points_scale) [USD]", ge=0.0, le=1e13)
    plan_horizon_months: float = _param(
        "a lab spreads its free cash over this many months when it sizes a run's compute "
        "contract [months]", ge=1.0, le=120.0)
    reserve_months: float = _param(
        "months of operating cost a lab keeps in reserve: it raises ahead of a run when cash "
        "falls short of commitments plus this reserve [months]", ge=0.0, le=60.0)
    parent_budget_growth_per_year: float = _param(
        "yearly growth of corporate parents' budgets for their model lines, tied to their "
        "capex [fraction / year]", ge=-0.9, le=10.0)
    sentiment_reversion_per_month: float = _param(
        "mean reversion of log investor sentiment [fraction / month]", ge=0.0, le=1.0)
    sentiment_volatility: float = _param(
        "monthly s.d. of log investor sentiment per region [log units / month]",
        ge=0.0, le=2.0)
    acquisition_probability: float = _param(
        "chance a failing lab's compute moves to the richest surviving lab of its region "
        "[probability]", ge=0.0, le=1.0)
    non_compute_cost_ratio: float = _param(
        "staff and other non-compute spending per USD of compute spending (owned fleet, "
        "serving and training contracts) [USD / USD]", ge=0.0, le=10.0)
    entry_rate_per_year: float = _param(
        "entry rate of each entrant slot at neutral sentiment and flat closed revenue "
        "[entries / slot / year]", ge=0.0, le=120.0)
    entry_success_elasticity: float = _param(
        "elasticity of the entry rate to the commercial success of the frontier, closed "
        "labs' revenue over its trailing mean [dimensionless]", ge=0.0, le=10.0)
    entry_revenue_window_months: float = _param(
        "mean age of the trailing closed revenue that success is measured against: "
        "trailing' = trailing + (revenue - trailing) / window [months]", ge=1.0, le=120.0)


class Market(StrictModel):
    """Serving costs, prices set by labs and hosts, open labs' share of hosts' spend and the
    local-agents segment."""

    open_capture_share: float = _param(
        "share of what buyers pay third-party hosts for an open model that reaches its lab "
        "(licences, enterprise deals); the hosts keep the rest [fraction]", ge=0.0, le=1.0)
    serving_cost_decline_per_year: float = _param(
        "yearly fall of the serving cost per token of a model at the frontier's capability "
        "[fraction / year]", ge=0.0, le=0.99)
    price_capability_points: float = _param(
        "ECI points of capability per e-fold of serving cost between the models on offer at "
        "one time [ECI points]", gt=0.1, le=1000.0)
    closed_markup: float = _param(
        "price over serving cost, minus 1, of a lab whose model no rival beats [fraction]",
        ge=0.0, le=100.0)
    markup_competition_points: float = _param(
        "ECI points behind its best rival that cut a lab's markup by a factor e [ECI points]",
        gt=0.01, le=1000.0)
    host_price_sensitivity: float = _param(
        "exponent of the split of an open model's tokens over its endpoints (own API and "
        "hosts): share proportional to price ** -exponent [dimensionless]", ge=0.0, le=50.0)
    self_host_cost_factor: float = _param(
        "cost to a local_agents user of running an open model on their own hardware, per "
        "token, over its serving cost [x]", gt=0.0, le=100.0)
    local_agents_growth_per_month: float = _param(
        "exogenous adoption growth of the open-weights-only local_agents segment "
        "[fraction / month]", ge=0.0, le=1.0)
    adoption_growth_scale: float = _param(
        "multiplier on the seeded exogenous adoption growth (seeds/segments.csv "
        "growth_per_month) of every segment but local_agents: a_k' = a_k x scale "
        "[x]", ge=0.0, le=20.0)
    capability_pull_scale: float = _param(
        "multiplier on every segment's capability elasticity of demand (seeds/segments.csv "
        "capability_elasticity): kappa_k' = kappa_k x scale [x]", ge=0.0, le=20.0)
    price_elasticity_scale: float = _param(
        "multiplier on every segment's price elasticity of demand (seeds/segments.csv "
        "price_elasticity): eta_k' = eta_k x scale [x]", ge=0.0, le=20.0)


class Policy(StrictModel):
    """Safety shocks, regulatory pressure, sovereigns' policy decisions and grants."""

    safety_shock_rate_per_year: float = _param(
        "Poisson rate of safety shocks; each adds a sovereign's stance to its pressure "
        "[shocks / year]", ge=0.0, le=100.0)
    pressure_half_life_months: float = _param(
        "half-life of regulatory pressure [months]", gt=0.0, le=600.0)
    ban_probability_per_month: float = _param(
        "chance a sovereign above its pressure threshold enacts an open-weight ban "
        "[probability / month]", ge=0.0, le=1.0)
    crackdown_probability_per_month: float = _param(
        "chance a sovereign above its threshold enacts a distillation crackdown "
        "[probability / month]", ge=0.0, le=1.0)
    export_tightening_probability_per_month: float = _param(
        "chance a sovereign above its threshold tightens export controls "
        "[probability / month]", ge=0.0, le=1.0)
    lapse_probability_per_month: float = _param(
        "chance an enacted policy lapses while pressure is below lapse_pressure_share x "
        "threshold [probability / month]", ge=0.0, le=1.0)
    lapse_pressure_share: float = _param(
        "share of the threshold below which enacted policies may lapse [fraction]",
        ge=0.0, le=1.0)
    ban_threshold_flop: float = _param(
        "enacted bans cover open models trained above this; also what counts as a large "
        "open model [FLOP]", gt=0.0, le=1e32)
    ban_enforcement: float = _param(
        "share of a banned foreign open model's availability an enacted ban blocks when the "
        "model falls under it (1 = all, for good) [fraction]", ge=0.0, le=1.0)
    ban_leak_months: float = _param(
        "months in which the share a ban still blocks shrinks by the factor enforcement, as "
        "released weights spread through mirrors, foreign hosts and self-hosting [months]",
        gt=0.0, le=1e6)
    crackdown_enforcement: float = _param(
        "distillation efficiency kept under an enacted crackdown [fraction]", ge=0.0, le=1.0)
    export_tightening_price_factor: float = _param(
        "each tightening multiplies the target's compute price by this [x]",
        ge=1.0, le=100.0)
    export_tightening_cap_factor: float = _param(
        "each tightening multiplies the target's per-lab purchase cap by this [x]",
        ge=0.0, le=1.0)
    grant_scale: float = _param(
        "multiplier on the seeded sovereign grant budgets [x]", ge=0.0, le=1000.0)
    grant_pressure_weight: float = _param(
        "weight of mean foreign pressure / threshold in grant demand [per unit ratio]",
        ge=0.0, le=100.0)
    grant_dependency_weight: float = _param(
        "weight of the share of home tokens on foreign closed models in grant demand "
        "[per unit share]", ge=0.0, le=100.0)
    grant_ban_response: float = _param(
        "grant demand added per open-weight ban abroad [per ban]", ge=0.0, le=100.0)


class _Event(StrictModel):
    month: str = Field(description="the month it happens, YYYY-MM [month]")
    id: str | None = Field(
        None, pattern=r"^[A-Za-z][A-Za-z0-9_-]*$", max_length=64,
        description="optional name of the event, unique in the scenario, so that sweeps and "
        "overrides can address its fields as events.<id>.<field> (e.g. "
        "events.us_ban.enforcement) [text]")
    _month = field_validator("month", mode="before")(staticmethod(check_month))

    @model_serializer(mode="wrap")
    def _without_empty_id(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # An event without an id dumps as before ids existed, so resolved scenarios, their
        # SHA-256 in manifests and sweep specs are unchanged.
        data = handler(self)
        if data.get("id") is None:
            data.pop("id", None)
        return data


class BanEvent(_Event):
    """Open-weight ban: no open release above ``threshold_flop`` at home; foreign open models
    above it reach this market at first with the share ``1 - enforcement`` of their normal
    availability, then more as their weights spread (``policy.ban_leak_months``)."""

    kind: Literal["ban"]
    sovereign: Jurisdiction = _param("jurisdiction of the banning sovereign [code]")
    threshold_flop: float = _param("open models trained above this are banned [FLOP]",
                                   gt=0.0, le=1e32)
    enforcement: float = _param(
        "share of a banned foreign model's availability the ban blocks when the model falls "
        "under it (1 = all, for good) [fraction]", ge=0.0, le=1.0)


class CrackdownEvent(_Event):
    """Distillation crackdown: distillation from this sovereign's closed labs keeps only
    ``enforcement`` (0 = fully stopped, 1 = no effect) of its efficiency."""

    kind: Literal["distillation_crackdown"]
    sovereign: Jurisdiction = _param("jurisdiction of the sovereign cracking down [code]")
    enforcement: float = _param("distillation efficiency kept [fraction]", ge=0.0, le=1.0)


class ExportControlEvent(_Event):
    """Export controls on ``target`` labs: compute costs ``price_multiplier`` times more and
    each lab may add at most ``cap_h100e_per_month`` H100e a month."""

    kind: Literal["export_controls"]
    sovereign: Jurisdiction = _param("jurisdiction of the controlling sovereign [code]")
    target: Jurisdiction = _param("region whose labs are controlled [code]")
    price_multiplier: float = _param("multiplier on the target's compute price [x]",
                                     ge=1.0, le=100.0)
    cap_h100e_per_month: float = _param("most compute a target lab may add a month "
                                        "[H100e / lab-month]", ge=0.0, le=1e12)


class FundingShockEvent(_Event):
    """Investor sentiment in ``region`` is multiplied by ``1 - size`` and recovers with a
    half-life of ``half_life_months``. A negative size is a boom (``-0.5``: sentiment x1.5)."""

    kind: Literal["funding_shock"]
    region: Jurisdiction = _param("region whose investors are hit [code]")
    size: float = _param("sentiment is multiplied by 1 - size; negative for a boom "
                         "[fraction]", ge=-3.0, lt=1.0)
    half_life_months: float = _param("half-life of the recovery [months]", gt=0.0, le=600.0)


class OpenProgramEvent(_Event):
    """From ``month`` on, ``sovereign`` adds ``usd_bn_per_month`` of grants, split equally
    over the alive open labs in ``scope``: the labs it already backs (``backed``) or every
    open lab based in its jurisdiction (``domestic_open``)."""

    kind: Literal["open_program"]
    sovereign: Jurisdiction = _param("jurisdiction of the paying sovereign [code]")
    usd_bn_per_month: float = _param("grants paid from its month on [USD bn / month]",
                                     ge=0.0, le=100.0)
    scope: Literal["backed", "domestic_open"] = _param(
        "labs it pays: those the sovereign backs or every open lab at home [choice]")


class ParentBudgetEvent(_Event):
    """From ``month`` on, the corporate parents of ``labs`` fund them at ``multiplier`` times
    their seeded budget path (0 = the parent stops funding the line)."""

    kind: Literal["parent_budget"]
    labs: list[str] = Field(min_length=1, description="lab ids whose parent budget changes "
                            "(seeds/labs.csv lab_id) [ids]")
    multiplier: float = _param("multiplier on the parent budget path [x]", ge=0.0, le=100.0)


class InvestorAccessEvent(_Event):
    """From ``month`` on, investors fund ``labs`` at ``multiplier`` times the usual odds of a
    round (0 = no investor will fund them: 01.AI and Inflection in 2024)."""

    kind: Literal["investor_access"]
    labs: list[str] = Field(min_length=1, description="lab ids cut off or favoured "
                            "(seeds/labs.csv lab_id) [ids]")
    multiplier: float = _param("multiplier on the success probability of their rounds [x]",
                               ge=0.0, le=100.0)


class SafetyShockEvent(_Event):
    """A scheduled safety incident: every sovereign's pressure rises by ``size`` x stance."""

    kind: Literal["safety_shock"]
    size: float = _param("pressure added, in units of each sovereign's stance [shocks]",
                         gt=0.0, le=100.0)


#: Scenario event kind -> its schema model; each kind is compiled to its own record by
#: ``sim.core.events.EVENT_TYPES``.
EVENT_MODELS: dict[str, type[_Event]] = {
    get_args(model.model_fields["kind"].annotation)[0]: model
    for model in (BanEvent, CrackdownEvent, ExportControlEvent, FundingShockEvent,
                  SafetyShockEvent, OpenProgramEvent, ParentBudgetEvent, InvestorAccessEvent)
}
EVENT_KINDS = tuple(EVENT_MODELS)
Event = Annotated[reduce(operator.or_, EVENT_MODELS.values()), Field(discriminator="kind")]


class Scenario(StrictModel):
    name: str = Field(min_length=1, description="the scenario's name; also the default "
                      "output folder results/<name>, so a slug [text]")
    description: str = Field("", description="what the scenario asks [text]")
    time: Time = Field(description="the simulated horizon, first and last month")
    population: Population = Field(description="how many buyer agents stand for the demand")
    capability: Capability = Field(description="training, algorithmic progress, "
                                   "fast-following, distillation, releases, flywheel")
    compute: Compute = Field(description="compute prices, purchases and export controls")
    funding: Funding = Field(description="revenue, costs, fundraising and investor sentiment")
    market: Market = Field(description="buyers' choice among available models, prices")
    policy: Policy = Field(description="sovereigns' pressure, policies and grants")
    seeds: str | None = Field(
        None, min_length=1,
        description="a folder of your own seed tables (labs.csv, sovereigns.csv, ...) that "
        "replace the shipped ones; a relative path is relative to the scenario file "
        "(opengap run --seeds DIR overrides it; docs/own-world.md) [path]")
    posterior: str | None = Field(
        None, min_length=1,
        description="a posterior folder (posterior.parquet + posterior.json, as opengap "
        "calibrate writes): each run draws its calibrated parameters from it, except those a "
        "scenario extending the file that names it sets itself (levers); a relative path is "
        "relative to the file that names it; inherited through extends (docs/posterior.md) "
        "[path]")
    fixed_parameters: bool = Field(
        False, description="ignore the posterior: every run uses the parameter values as "
        "written (opengap run --fixed-parameters sets it) [true/false]")
    events: list[Event] = Field(default_factory=list,
                                description="scheduled events in month order: ban, "
                                "distillation_crackdown, export_controls, funding_shock, "
                                "safety_shock, open_program (one table each, [[events]])")

    #: Calibrated parameters (``table.field``) that a file below the one naming the
    #: posterior sets, or an override: they keep their value under posterior draws
    #: (:attr:`levers`; set by :func:`load_scenario` and :meth:`with_overrides`).
    _levers: frozenset[str] = PrivateAttr(default_factory=frozenset)

    @model_serializer(mode="wrap")
    def _without_default_seeds(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        # A scenario on the shipped seeds and without a posterior dumps as before these
        # keys existed (same SHA-256).
        data = handler(self)
        for key, default in (("seeds", None), ("posterior", None), ("fixed_parameters", False)):
            if key in data and data[key] == default:
                data.pop(key)
        return data

    @property
    def levers(self) -> frozenset[str]:
        """Parameters (``table.field``) set below the file naming the posterior, or by an
        override: a posterior does not draw them (docs/posterior.md)."""
        return self._levers

    def with_levers(self, levers: frozenset[str] | set[str]) -> Scenario:
        """A copy whose :attr:`levers` are ``levers``."""
        copy = self.model_copy()
        copy._levers = frozenset(levers)
        return copy

    @model_validator(mode="after")
    def _event_ids_unique(self) -> Scenario:
        seen: set[str] = set()
        for i, event in enumerate(self.events):
            if event.id is not None:
                if event.id in seen:
                    raise ValueError(f"events[{i}].id {event.id!r} names two events; "
                                     "give each its own")
                seen.add(event.id)
        return self

    @field_validator("name")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not is_slug(value):
            raise ValueError(f"expected {SLUG_RULE}")
        return value

    @model_validator(mode="after")
    def _events_in_horizon(self) -> Scenario:
        start, end = parse_month(self.time.start), parse_month(self.time.end)
        for i, event in enumerate(self.events):
            if not start <= parse_month(event.month) <= end:
                raise ValueError(
                    f"events[{i}].month {event.month} is outside the horizon "
                    f"{self.time.start}..{self.time.end}"
                )
        return self

    def content_hash(self) -> str:
        """SHA-256 of the resolved scenario (after inheritance), stable across key order;
        under posterior draws the :attr:`levers` count too (they change what is drawn)."""
        data = self.model_dump(mode="json")
        if self.posterior is not None:
            # The posterior's contents, not where the checkout or wheel put it: the same
            # scenario hashes alike in every clone.
            table = Path(self.posterior) / "posterior.parquet"
            if table.is_file():
                data["posterior"] = hashlib.sha256(table.read_bytes()).hexdigest()
        if self.posterior is not None and not self.fixed_parameters and self._levers:
            data["levers"] = sorted(self._levers)
        blob = json.dumps(data, sort_keys=True).encode()
        return hashlib.sha256(blob).hexdigest()

    def with_overrides(self, overrides: dict[str, Any]) -> Scenario:
        """A validated copy with dotted-path overrides, e.g. ``{"funding.size": 0.3}``.

        An event is addressed by its ``id`` (``events.us_ban.enforcement``) or its position
        (``events.0.enforcement``)."""
        data = self.model_dump(mode="json")
        for dotted, value in overrides.items():
            node: Any = data
            keys = dotted.split(".")
            for key in keys[:-1]:
                node = _child(node, key, dotted, self.events)
            if not isinstance(node, dict) or keys[-1] not in node:
                raise ScenarioError(f"<overrides>: {dotted}: unknown parameter path"
                                    f"{_event_hint(dotted, self.events)}")
            node[keys[-1]] = value
        levers = {k for k in overrides if k.split(".")[0] in PARAMETER_TABLES}
        return validate_scenario(data, source="<overrides>").with_levers(self._levers | levers)


def _child(node: Any, key: str, dotted: str, events: list[Any]) -> Any:
    """``node[key]`` in an override's path: a table's key, or an event by id or index."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            if (isinstance(item, dict) and item.get("id") == key) or key == str(i):
                return item
    elif isinstance(node, dict) and key in node:
        return node[key]
    raise ScenarioError(f"<overrides>: {dotted}: unknown parameter path"
                        f"{_event_hint(dotted, events)}")


def _event_hint(dotted: str, events: list[Any]) -> str:
    """For a path under ``events.``: the event ids (or indices) that exist."""
    if not dotted.startswith("events."):
        return ""
    names = [e.id if e.id is not None else str(i) for i, e in enumerate(events)]
    return (f"; events: {', '.join(names)}" if names else "; the scenario has no events")


def _format_loc(loc: tuple[Any, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in EVENT_KINDS:
            continue  # the discriminator tag pydantic inserts; the index already says which
        else:
            text = str(item)
            # A key with a newline or other control character is shown quoted, so that the
            # error stays on one line.
            parts.append(("." if parts else "") + (text if text.isprintable() else repr(text)))
    return "".join(parts) or "<root>"


def _allowed_keys(loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    """Names of the fields allowed at the parent of ``loc`` (for unknown-key errors)."""
    model: Any = Scenario
    node: Any = data
    for item in loc[:-1]:
        if isinstance(item, int):
            node = node[item] if isinstance(node, list) and item < len(node) else {}
            continue
        if item == "events" and model is Scenario:
            node = node.get("events", []) if isinstance(node, dict) else []
            continue  # the next items are the index and the kind tag, which picks the model
        if item in EVENT_KINDS:
            model = EVENT_MODELS[item]
            continue
        field = model.model_fields.get(item)
        if field is None:
            return ""
        node = node.get(item, {}) if isinstance(node, dict) else {}
        annotation = field.annotation
        model = annotation if isinstance(annotation, type) else None
        if model is None or not issubclass(model, BaseModel):
            return ""
    return ", ".join(model.model_fields) if model is not None else ""


def field_error(where: str, err: dict[str, Any], allowed_keys: str) -> str:
    """One line for a pydantic error at ``where`` (a dotted field): unknown key (with the
    keys allowed there), missing field, or the validator's message with the value given."""
    if err["type"] == "extra_forbidden":
        return f"{where}: unknown key; allowed keys here: {allowed_keys}"
    if err["type"] == "missing":
        return f"{where}: required field is missing"
    msg = err["msg"].removeprefix("Value error, ")
    got = err.get("input")
    suffix = f" (got {got!r})" if got is not None and not isinstance(got, dict | list) else ""
    return f"{where}: {msg}{suffix}"


@dataclass
class Origins:
    """Which file set each value of a merged scenario, to report an error where it is.

    ``keys``: dotted key path (tables too) -> the file whose value won the merge.
    ``events``: merged event ``i`` -> (file, index among that file's own events).
    """

    keys: dict[tuple[str, ...], str] = field(default_factory=dict)
    events: list[tuple[str, int]] = field(default_factory=list)
    #: file -> its place in the ``extends`` chain (0 = the oldest ancestor); an included
    #: fragment has the place of the file that includes it.
    depth: dict[str, int] = field(default_factory=dict)

    def add_file(self, data: dict[str, Any], source: str) -> None:
        """Record ``source`` as the setter of every key of ``data`` (merged over what is
        recorded) and append its own events."""
        stack: list[tuple[tuple[str, ...], Any]] = [((), data)]
        while stack:
            prefix, node = stack.pop()
            for key, value in node.items():
                if not prefix and key == "events":
                    if isinstance(value, list):
                        self.events += [(source, j) for j in range(len(value))]
                    continue
                path = (*prefix, str(key))
                self.keys[path] = source
                if isinstance(value, dict):
                    stack.append((path, value))

    def locate(self, loc: tuple[Any, ...], default: str) -> tuple[str, tuple[Any, ...]]:
        """(file, loc) of a pydantic error location in the merged data: the file that set
        the value, and for an event the index within that file."""
        if (len(loc) >= 2 and loc[0] == "events" and isinstance(loc[1], int)
                and loc[1] < len(self.events)):
            source, own = self.events[loc[1]]
            return source, ("events", own, *loc[2:])
        keys = tuple(str(x) for x in loc)
        for n in range(len(keys), 0, -1):
            if keys[:n] in self.keys:
                return self.keys[keys[:n]], loc
        return default, loc


_EVENT_INDEX = re.compile(r"^events\[(\d+)\]")


def _describe(err: dict[str, Any], data: dict[str, Any], origins: Origins | None = None,
              source: str = "") -> str:
    """``file: where: what`` for one pydantic error, ``file`` being where the mistake is."""
    loc = tuple(err["loc"])
    if origins is not None:
        if err["type"] == "missing" and not (loc and loc[0] == "events"):
            pass  # a field nobody set: the file loaded is where to add it
        else:
            match = _EVENT_INDEX.match(err["msg"].removeprefix("Value error, ")) \
                if not loc else None
            if match:  # a scenario-level check that names a merged event index
                i = int(match.group(1))
                file, own = origins.locate(("events", i), source)
                err = {**err, "msg": err["msg"].replace(f"events[{i}]", f"events[{own[1]}]",
                                                        1)}
                source = file
            else:
                source, loc = origins.locate(loc, source)
    return f"{source}: {_describe_at(err, loc, data)}"


def _describe_at(err: dict[str, Any], loc: tuple[Any, ...], data: dict[str, Any]) -> str:
    where = _format_loc(loc)
    if err["type"] == "union_tag_invalid":
        return f"{where}: unknown event kind; allowed: {', '.join(EVENT_KINDS)}"
    if err["type"] == "union_tag_not_found":
        return f"{where}: event needs a 'kind'; allowed: {', '.join(EVENT_KINDS)}"
    allowed = _allowed_keys(tuple(err["loc"]), data) if err["type"] == "extra_forbidden" else ""
    return field_error(where, err, allowed)


def validate_scenario(data: dict[str, Any], *, source: str,
                      origins: Origins | None = None) -> Scenario:
    """Validate merged scenario data; raise ScenarioError with one line naming the file
    (the one where the mistake is, given ``origins``) and the field."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        errors = exc.errors()
        first = _describe(errors[0], data, origins, source)
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        raise ScenarioError(f"{first}{more}") from None
    except RecursionError:
        raise ScenarioError(f"{source}: values nested too deeply") from None


def _deep_merge(parent: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    merged = dict(parent)
    for key, value in child.items():
        if key == "events":
            merged[key] = list(parent.get("events", [])) + list(value)
        elif isinstance(value, dict) and isinstance(parent.get(key), dict):
            merged[key] = _deep_merge(parent[key], value)
        else:
            merged[key] = value
    return merged


def _read_toml(path: Path) -> dict[str, Any]:
    return read_toml(path, ScenarioError, "scenario file")


#: Tables a fragment named in ``include`` may set (parameters only: no name, time or events).
FRAGMENT_TABLES: tuple[str, ...] = (
    "population", "capability", "compute", "funding", "market", "policy",
)


def _apply_includes(path: Path, data: dict[str, Any],
                    origins: Origins | None = None) -> dict[str, Any]:
    """Merge the parameter fragments named in ``include = ["fragments/x.toml", ...]`` (paths
    relative to ``path``'s folder) under this file's own values.

    Precedence is ``extends`` parent < fragments < this file, but a key may not be set both
    in this file and in one of its fragments, nor in two fragments: a silently shadowed
    calibrated value is a bug, so the overlap is an error naming the key. ``origins`` gets
    each fragment's keys (then this file's own are recorded over them by the caller).
    """
    names = data.pop("include", None)
    if names is None:
        return data
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ScenarioError(f"{path}: include: expected a list of fragment files, "
                            "e.g. [\"fragments/calibrated.toml\"]")
    merged: dict[str, dict[str, Any]] = {}
    origin: dict[tuple[str, str], str] = {}
    for name in names:
        frag_path = path.parent / (name if name.endswith(".toml") else name + ".toml")
        if not frag_path.is_file():
            raise ScenarioError(f"{path}: include: no fragment '{name}' ({frag_path})")
        fragment = _read_toml(frag_path)
        if origins is not None:
            origins.add_file(fragment, str(frag_path))
        for table, values in fragment.items():
            if table not in FRAGMENT_TABLES or not isinstance(values, dict):
                raise ScenarioError(f"{frag_path}: {table}: a fragment may only set the "
                                    f"parameter tables {', '.join(FRAGMENT_TABLES)}")
            for key, value in values.items():
                if (table, key) in origin:
                    raise ScenarioError(f"{frag_path}: {table}.{key}: also set in included "
                                        f"{origin[table, key]}; keep one")
                origin[table, key] = name
                merged.setdefault(table, {})[key] = value
    for (table, key), name in origin.items():
        own = data.get(table)
        if isinstance(own, dict) and key in own:
            raise ScenarioError(f"{path}: {table}.{key}: set both here and in included "
                                f"{name}; keep one")
    return _deep_merge(merged, data)


def load_raw(path: Path, origins: Origins | None = None) -> dict[str, Any]:
    """Read a scenario file and its ``extends`` chain into one merged dict (not validated).

    The chain is followed iteratively (at most :data:`MAX_EXTENDS` files, no cycles), then
    merged from the oldest ancestor down; ``origins`` (if given) records which file set
    each value."""
    given = Path(path)
    chain: list[tuple[str, dict[str, Any], Origins, bool]] = []
    seen: list[Path] = []
    current, shown = given.resolve(), str(given)
    while True:
        if current in seen:
            names = " -> ".join(p.name for p in (*seen, current))
            raise ScenarioError(f"{shown}: extends: inheritance cycle ({names})")
        if len(seen) >= MAX_EXTENDS:
            raise ScenarioError(f"{given}: extends: chain longer than {MAX_EXTENDS} files "
                                f"(reached {shown})")
        seen.append(current)
        own_origins = Origins()
        own = _read_toml(current)
        if not isinstance(own.get("events", []), list):
            raise ScenarioError(f"{shown}: events: expected a list of [[events]] tables")
        data = _apply_includes(current, own, own_origins)  # records the fragments' keys
        for key in ("seeds", "posterior"):
            if isinstance(data.get(key), str) and data[key]:
                # Relative to the file that names it (resolved here, so an extending file
                # elsewhere keeps its parent's folder).
                data[key] = str((current.parent / data[key]).resolve())
        own_origins.add_file(own, shown)  # this file's own keys win over its fragments'
        parent_name = data.pop("extends", None)
        inherit_events = data.pop("inherit_events", True)
        if not isinstance(inherit_events, bool):
            raise ScenarioError(f"{shown}: inherit_events: expected true or false")
        chain.append((shown, data, own_origins, inherit_events))
        if parent_name is None:
            break
        if not isinstance(parent_name, str) or not parent_name:
            raise ScenarioError(f"{shown}: extends: expected a scenario name such as "
                                "'baseline'")
        file_name = parent_name if parent_name.endswith(".toml") else parent_name + ".toml"
        parent_path = current.parent / file_name
        if not parent_path.is_file():
            # A bare name not next to the file: a shipped scenario (baseline, us-open-ban,
            # ...), so a user's scenario anywhere may extend the shipped ones.
            shipped = scenarios_dir() / file_name
            if "/" in parent_name or "\\" in parent_name or not shipped.is_file():
                raise ScenarioError(
                    f"{shown}: extends: no scenario '{parent_name}' next to this file "
                    f"({parent_path}) nor among the shipped scenarios "
                    f"({', '.join(shipped_scenario_names())})")
            parent_path = shipped
        current, shown = parent_path.resolve(), str(parent_path)
    merged: dict[str, Any] = {}
    total = Origins()
    for depth, (_, data, own_origins, inherit_events) in enumerate(reversed(chain)):
        if depth:  # ``merged`` is this file's parent, resolved
            merged.pop("name", None)
            merged.pop("description", None)
            if not inherit_events:
                # A scenario on another seed world (e.g. history-2023) keeps the parent's
                # parameters but not its schedule, whose months lie outside its horizon.
                merged.pop("events", None)
                total.events = []
        merged = _deep_merge(merged, data)
        total.keys.update(own_origins.keys)
        total.events += own_origins.events
        for source in own_origins.keys.values():
            total.depth[source] = depth
    if origins is not None:
        origins.keys.update(total.keys)
        origins.events += total.events
        origins.depth.update(total.depth)
    return merged


def posterior_levers(origins: Origins) -> frozenset[str]:
    """The parameters (``table.field``) set by a file below the one that names the
    posterior (a file extending it, or a fragment such a file includes): a scenario's
    levers, which keep their value under posterior draws. The file naming the posterior
    and its ancestors set the values the posterior replaces. Empty without a posterior."""
    named_by = origins.keys.get(("posterior",))
    if named_by is None:
        return frozenset()
    top = origins.depth.get(named_by, 0)
    return frozenset(".".join(key) for key, source in origins.keys.items()
                     if len(key) == 2 and key[0] in PARAMETER_TABLES
                     and origins.depth.get(source, 0) > top)


def load_scenario(path: str | Path) -> Scenario:
    """Load, merge (``extends``) and validate a scenario file; an error names the file
    where the mistake is."""
    path = Path(path)
    origins = Origins()
    data = load_raw(path, origins)
    scenario = validate_scenario(data, source=str(path), origins=origins)
    levers = posterior_levers(origins)
    return scenario.with_levers(levers) if levers else scenario


def shipped_scenario_names() -> list[str]:
    """Names of the shipped scenarios (the ``.toml`` files of :func:`scenarios_dir`), sorted."""
    return sorted(p.stem for p in scenarios_dir().glob("*.toml"))


def resolve_scenario_path(name_or_path: str) -> Path:
    """Where a scenario argument points. The resolution order:

    1. a path ending in ``.toml`` that is an existing file (relative to the current folder);
    2. a shipped scenario, named with or without ``.toml`` and without any folder part
       (``baseline``, ``baseline.toml``): :func:`scenarios_dir` ``/<name>.toml``, matched
       against the shipped names, so no argument reaches outside that folder;
    3. otherwise the argument as a path, which fails to load with "not found".

    A folder is never a scenario, nor is a file without ``.toml``: a folder ``baseline/``
    (e.g. ``--out baseline``) in the current directory does not shadow the shipped one.
    """
    candidate = Path(name_or_path)
    if candidate.suffix == ".toml" and candidate.is_file():
        return candidate
    stem = name_or_path.removesuffix(".toml")
    if "/" not in name_or_path and "\\" not in name_or_path \
            and stem in shipped_scenario_names():
        return scenarios_dir() / f"{stem}.toml"
    return candidate
