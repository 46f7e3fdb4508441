"""The interactive dashboard behind ``opengap app``.

* :mod:`sim.dashboard.settings`: what the controls set and how they map onto a scenario;
* :mod:`sim.dashboard.ensemble`: the N-run ensemble summarised into 10/50/90% bands;
* :mod:`sim.dashboard.world`: the single stepped world (a Mesa model) and its event log;
* :mod:`sim.dashboard.figures`: the matplotlib panels;
* :mod:`sim.dashboard.page`: the Solara page; :mod:`sim.app` serves it.
"""
