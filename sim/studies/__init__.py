"""Studies on the model: scenario comparison, bets, sweeps, sensitivity, scenario discovery
and calibration. They run the engine and read its results through :mod:`sim.measures`;
files and figures are written by :mod:`sim.report`."""
