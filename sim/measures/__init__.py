"""Measured quantities: gaps, lags, shares and every named series and outcome read from a
batch's results. Imports :mod:`sim.core` and below, never studies, report or cli."""
