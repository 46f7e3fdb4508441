"""The mechanism interface: every mechanism takes (state, world, draws), returns exactly the
flows it declares, no two mechanisms share a flow name, and every declared flow is read by
the recorder, the Mesa face or a test."""

from __future__ import annotations

import re
from pathlib import Path

from sim.core.engine import MECHANISMS
from sim.core.rng import RandomStreams
from sim.core.world import WorldState, build_world, initial_state

ROOT = Path(__file__).resolve().parents[1]
#: Where flows are read: the recorder, the Mesa face and the tests (the reference
#: implementation writes them, so it does not count).
READERS = [ROOT / "sim" / "core" / "engine.py", ROOT / "sim" / "model.py",
           ROOT / "sim" / "agents.py",
           *(p for p in (ROOT / "tests").glob("test_*.py") if p.name != Path(__file__).name)]


def test_mechanisms_return_their_declared_flows(small_scenario, seeds):
    world = build_world(small_scenario, seeds)
    streams = RandomStreams.for_population(3, [0, 1], world.population)
    state = initial_state(world, seeds, 2)
    for t in range(3):
        draws = streams.month(t)
        for mechanism in MECHANISMS:
            updates, flows = mechanism.step(state, world, draws)
            assert tuple(flows) == mechanism.flows, mechanism.name
            assert set(updates) <= set(WorldState.__dataclass_fields__), mechanism.name
            state = WorldState(**{**state.__dict__, **updates})
        state = WorldState(**{**state.__dict__, "month": state.month + 1})


def test_flow_names_are_unique_and_read():
    names = [name for m in MECHANISMS for name in m.flows]
    assert len(names) == len(set(names)), "two mechanisms declare the same flow"
    text = "\n".join(p.read_text(encoding="utf-8") for p in READERS)
    unread = [n for n in names if not re.search(rf"""["']{n}["']""", text)]
    assert not unread, f"flows nobody reads: {unread}"
