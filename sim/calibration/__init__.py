"""Calibration of scenario parameters on the Epoch ECI record (``opengap calibrate``).

* :mod:`sim.calibration.spec`: the calibration spec (a TOML file) and its validation.
* :mod:`sim.calibration.fit`: the loss over the ensemble median and the optimiser.
* :mod:`sim.calibration.report`: fit statistics (RMSE, band coverage), the parameter
  fragment, the Markdown report and the figure.
"""
