"""The process that local sweep workers are forked from, started as early as possible.

Local pool workers start with ``forkserver`` (``spawn`` where that is missing): a fork of a
process holding threads or open pools is unsafe. The fork server is a fresh process that
imports the engine, loads its compiled loops and reads the seeds once
(:mod:`sim.studies.sweeps.worker_image`), about 1.2 s; each worker forked from it then starts
in milliseconds. :func:`start_workers` starts it; ``opengap sweep`` calls it as soon as it
knows the backend, before importing the engine itself, so the server's start-up overlaps
the command's own imports, the spec and the design. This module imports only
``multiprocessing``, so that calling it early costs nothing.
"""

from __future__ import annotations

import multiprocessing
from typing import Any

#: The modules the fork server imports: the chunk runner, and the one that prepares what
#: workers start with (compiled loops loaded, seeds read).
PRELOAD = ("sim.studies.sweeps.chunks", "sim.studies.sweeps.worker_image")


def pool_context() -> Any:
    """The ``multiprocessing`` context of local pool workers: ``forkserver`` preloading
    :data:`PRELOAD`, or ``spawn`` where there is no fork server (Windows)."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    ctx = multiprocessing.get_context("forkserver")
    ctx.set_forkserver_preload(list(PRELOAD))
    return ctx


def workers_preloaded(ctx: Any) -> bool:
    """True when pool workers of ``ctx`` fork from a server that has loaded the compiled
    loops (else each worker would build them itself)."""
    return ctx.get_start_method() == "forkserver"


def start_workers(backend: str, workers: int) -> None:
    """Start the fork server now if local pool workers will be forked from it (``backend``
    local with more than one worker): it is started with fork+exec, so this process's state
    is not copied. Nothing otherwise; calling it again does nothing."""
    if backend == "local" and workers > 1:
        ctx = pool_context()
        if workers_preloaded(ctx):
            from multiprocessing import forkserver

            forkserver.ensure_running()
