"""opengap: an agent-based market simulation of closed vs open-weight AI labs.

One folder per layer, each importing only from those below it (``docs/architecture.md``):
``inputs`` (scenarios and seed tables), ``core`` (world state, mechanisms, the batched
engine), ``measures`` (what is measured), ``studies`` (compare, bets, sweeps, sensitivity,
discovery, calibration), ``report`` (tables, figures) and ``cli``; the Mesa face
(``agents``, ``model``, ``app``, ``dashboard``) sits on top, as in Mesa's own examples.
"""

__version__ = "0.1.0"
