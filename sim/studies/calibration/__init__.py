"""Bayesian calibration of scenario parameters (``opengap calibrate``): ABC-SMC with pyabc.

* :mod:`sim.studies.calibration.spec`: the calibration spec (priors, data, cut) and its
  validation.
* :mod:`sim.studies.calibration.data`: the summary statistics and the distance.
* :mod:`sim.studies.calibration.evaluate`: parameter sets simulated in engine batches, over
  worker processes.
* :mod:`sim.studies.calibration.priors`: the priors and the kernel as fast pyabc objects.
* :mod:`sim.studies.calibration.sampler`: the deterministic batched pyabc sampler.
* :mod:`sim.studies.calibration.smc`: the ABC-SMC run, generation by generation, resumable.
* :mod:`sim.studies.calibration.predictive`: weighted summaries, the posterior predictive.
* :mod:`sim.report.calibration`: the posterior folder and its report.
"""
