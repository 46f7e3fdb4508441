"""opengap: an agent-based market simulation of closed vs open-weight AI labs.

The package is split like Mesa's examples and the EMA workbench: ``scenario`` (inputs),
``world`` (state), ``mechanisms`` (pure array functions), ``engine`` (batched step loop),
``model`` (the Mesa face), ``metrics`` / ``outputs`` / ``plots`` (analysis) and ``cli``.
"""

__version__ = "0.1.0"
