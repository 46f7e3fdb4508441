"""Scenario sweeps: many parameter sets x replicates, run in chunks, streamed to disk.

* :mod:`sim.studies.sweeps.spec`: the sweep spec (TOML) and its validation;
* :mod:`sim.studies.sweeps.design`: parameter sets from a grid, a Latin hypercube or a Sobol
  sequence;
* :mod:`sim.studies.sweeps.chunks`: simulating one chunk of parameter sets (the unit of work);
* :mod:`sim.studies.sweeps.stacked`: many parameter sets in one vectorized engine batch;
* :mod:`sim.studies.sweeps.backends`: where chunks run (this process, a process pool, Dask);
* :mod:`sim.studies.sweeps.store`: chunk files, the manifest, resume and the final tables;
* :mod:`sim.studies.sweeps.run`: the sweep itself (plan, run the missing chunks, consolidate);
"""

from sim.errors import InputError


class SweepError(InputError):
    """A sweep that cannot run as asked; ``str(err)`` is one line naming file, field and
    what is allowed (reported with exit status 2)."""
