"""Calibration of scenario parameters on the Epoch ECI record (``opengap calibrate``).

* :mod:`sim.studies.calibration.spec`: the calibration spec (a TOML file) and its validation.
* :mod:`sim.studies.calibration.fit`: the loss over the ensemble median and the optimiser.
* :mod:`sim.report.calibration`: fit statistics (RMSE, band coverage), the parameter
  fragment, the Markdown report and the figure.
"""
