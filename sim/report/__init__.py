"""Reports: the tidy tables and manifest, every figure, scorecards and calibration reports,
and the one progress reporter. Imports studies, measures, core and inputs; never the cli."""
