"""The ``opengap`` command line (also ``python -m sim``): one table of commands
(:mod:`sim.cli.main`), one module per command group. Nothing imports this package."""

from sim.cli.main import main

__all__ = ["main"]
