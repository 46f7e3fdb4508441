"""The model: world types and building, random streams, the mechanisms, the engine and its
recorder, compiled kernels and array helpers. Imports only :mod:`sim.inputs` and the base
modules; nothing here reads measures, studies, reports or the command line."""
