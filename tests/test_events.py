"""Scheduled events: every scenario event kind has its own compiled record, with the
schema's field names."""

from __future__ import annotations

from dataclasses import fields

from sim.core.events import EVENT_TYPES
from sim.inputs.scenario import EVENT_KINDS, EVENT_MODELS

#: Schema fields a record holds as indices (sovereign, target, region) or drops (kind).
_INDEXED = {"kind", "month", "sovereign", "target", "region"}


def test_every_kind_has_a_record_with_the_schema_fields():
    assert set(EVENT_TYPES) == set(EVENT_KINDS)
    for kind, record in EVENT_TYPES.items():
        assert record.kind == kind
        # ``id`` only names an event for overrides and sweeps; it is not compiled.
        schema = set(EVENT_MODELS[kind].model_fields) - _INDEXED - {"id"}
        compiled = {f.name for f in fields(record)} - _INDEXED - {"component"}
        assert schema == compiled, kind


def test_compiled_schedule_keeps_file_order_within_a_month(baseline, seeds):
    from sim.core.world import build_world

    events = baseline.model_dump(mode="json")["events"] + [
        {"kind": "safety_shock", "month": "2026-06", "size": 1.0},
        {"kind": "funding_shock", "month": "2026-06", "region": "CN", "size": 0.3,
         "half_life_months": 6.0},
        {"kind": "ban", "month": "2026-05", "sovereign": "US", "threshold_flop": 1e26,
         "enforcement": 0.75},
    ]
    world = build_world(baseline.with_overrides({"events": events}), seeds)
    kinds = [(ev.month, ev.kind) for ev in world.schedule]
    assert kinds == sorted(kinds, key=lambda k: k[0])
    ban = next(ev for ev in world.schedule if ev.kind == "ban")
    assert (ban.threshold_flop, ban.enforcement) == (1e26, 0.75)
    assert ban.label(world.population) == ("US bans open weights above 1.0e+26 FLOP "
                                           "(enforcement 75%)")
    shock = next(ev for ev in world.schedule if ev.kind == "funding_shock")
    assert world.shock_region[shock.component] == shock.region
