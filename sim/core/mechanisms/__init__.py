"""The monthly mechanisms of docs/design.md section 4, one module each.

Every mechanism is a pure function: it reads a :class:`sim.core.world.WorldState` (arrays shaped
``(runs, agents)``), the static population, the parameters and this month's random draws, and
returns a dict of replaced state fields plus a dict of flows to record. Nothing is mutated, so
the batched engine, the Mesa model and the tests all run exactly the same code.
"""
