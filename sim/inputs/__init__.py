"""Inputs: the scenario schema and loader, the seed tables, TOML reading, packaged data.

Imports only :mod:`sim.vocab` and :mod:`sim.calendar` from the rest of the package.
"""
