"""Where chunks run: this process, a local process pool, or a Dask cluster.

:func:`execute` yields each :class:`ChunkResult` as it finishes (in completion order), with
at most ``2 x workers`` chunks submitted but not yet collected, so the driver's memory is
bounded whatever the sweep's size. Results do not depend on the backend: every chunk runs
the same pure function of its job (:func:`sim.studies.sweeps.chunks.run_chunk`).

* ``local`` with 1 worker runs chunks in this process (no start-up cost; progress within a
  chunk); with more, in a ``concurrent.futures.ProcessPoolExecutor`` whose workers start
  with ``forkserver`` (``spawn`` where that is missing): a fork of a process holding threads
  or open pools is unsafe.
* ``dask`` runs chunks on a Dask distributed cluster: a ``LocalCluster`` of ``workers``
  single-threaded worker processes, or the existing scheduler at ``scheduler`` (whose
  workers must be able to import this package).

The compiled loops are built once, not by every worker at once: local pool workers fork
from a server that has loaded them (:mod:`sim.studies.sweeps.worker_image`); elsewhere
(Dask, or a pool started with ``spawn``), a two-run cut of the first chunk runs in this
process before any chunk is handed out (:func:`_warm_up_here`). Every worker
process watches the driver (:func:`exit_with_driver`) and exits once it is gone, even after
``kill -9``.
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import replace
from typing import Any

from sim.studies.sweeps import SweepError
from sim.studies.sweeps.chunks import ChunkJob, ChunkResult, run_chunk
from sim.studies.sweeps.fork_server import pool_context, start_workers, workers_preloaded

BACKENDS = ("local", "dask")
#: How long to keep trying to reach a Dask scheduler before giving up.
CONNECT_TIMEOUT = "20s"


#: Seconds between a worker's checks that its driver still runs.
DRIVER_CHECK_SECONDS = 1.0


def driver_alive(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie, killed but not yet reaped, is gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True  # no /proc (macOS): the signal test above is all there is


def exit_with_driver(driver_pid: int) -> None:
    """Worker initializer: a daemon thread that ends this worker process at once
    (``os._exit``) when the driver ``driver_pid`` has died, so that a sweep killed with
    ``kill -9`` leaves no workers computing chunks nobody will store (a pool's workers
    otherwise wait on their task queue, which their own inherited pipe ends keep open)."""
    def watch() -> None:
        while True:
            time.sleep(DRIVER_CHECK_SECONDS)
            if not driver_alive(driver_pid):
                os._exit(1)

    threading.Thread(target=watch, name="opengap-driver-watch", daemon=True).start()


def _serial(jobs: Iterable[ChunkJob], tick: Callable[[int], Any] | None) -> Iterator[ChunkResult]:
    for job in jobs:
        yield run_chunk(job, tick)


#: Runs of the warm-up cut of a sweep's first chunk (:func:`_warm_up_here`): two, so that
#: parameters are stacked per run as in every chunk and the same compiled variants load.
WARM_UP_RUNS = 2


def _warm_up_here(queue: Iterator[ChunkJob]) -> Iterator[ChunkJob]:
    """Before any worker gets a chunk, simulate a cut of the first one in this process
    (:data:`WARM_UP_RUNS` of its parameter sets, one replicate each, over the whole horizon;
    the results are dropped). It compiles the engine's Numba loops the chunks call and
    caches them on disk (on a machine where they are cached, it loads them: about 0.4 s),
    so that worker processes load them instead of all compiling the same code at once
    (time wasted, and processes writing Numba's cache together can crash: numba issue
    4807). Running a whole chunk here instead kept the other workers waiting for its
    length. Returns ``queue`` with the first chunk still in it."""
    first = next(queue, None)
    if first is None:
        return queue
    run_chunk(replace(first, samples=first.samples[:WARM_UP_RUNS],
                      values=first.values[:WARM_UP_RUNS], replicates=1))
    return itertools.chain([first], queue)


def _pool(jobs: Iterable[ChunkJob], workers: int,
          tick: Callable[[int], Any] | None) -> Iterator[ChunkResult]:
    pending: set[Future] = set()
    start_workers("local", workers)  # if not already started
    ctx = pool_context()
    # The fork server loads (or builds) the compiled loops once for all workers; started
    # any other way, workers would each build them at once unless this process does first.
    queue = iter(jobs) if workers_preloaded(ctx) else _warm_up_here(iter(jobs))
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx,
                             initializer=exit_with_driver, initargs=(os.getpid(),)) as pool:
        try:
            for job in queue:
                pending.add(pool.submit(run_chunk, job))
                if len(pending) >= 2 * workers:
                    done, pending = wait(pending, return_when=FIRST_COMPLETED)
                    for future in done:
                        yield future.result()
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    yield future.result()
        finally:
            for future in pending:
                future.cancel()


def _dask_client(workers: int, scheduler: str | None) -> Any:
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:
        raise SweepError("--backend dask: dask[distributed] is not installed") from None
    if scheduler:
        try:
            return Client(scheduler, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError) as exc:
            raise SweepError(f"--scheduler {scheduler}: cannot connect ({exc})") from None
    cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                           dashboard_address=None, silence_logs=logging.ERROR)
    return Client(cluster)


def _dask(jobs: Iterable[ChunkJob], workers: int, scheduler: str | None,
          tick: Callable[[int], Any] | None) -> Iterator[ChunkResult]:
    from dask.distributed import as_completed

    client = _dask_client(workers, scheduler)
    try:
        queue = _warm_up_here(iter(jobs))
        n_workers = max(1, len(client.scheduler_info().get("workers", {})) or workers)
        first = [client.submit(run_chunk, job, pure=False)
                 for _, job in zip(range(2 * n_workers), queue, strict=False)]
        futures = as_completed(first)
        for future in futures:
            result = future.result()
            future.release()
            nxt = next(queue, None)
            if nxt is not None:
                futures.add(client.submit(run_chunk, nxt, pure=False))
            yield result
    finally:
        cluster = client.cluster
        client.close()
        if cluster is not None:
            cluster.close()


def execute(jobs: Iterable[ChunkJob], *, backend: str = "local", workers: int = 1,
            scheduler: str | None = None,
            tick: Callable[[int], Any] | None = None) -> Iterator[ChunkResult]:
    """Run ``jobs`` and yield their results as they finish. ``tick(runs)`` reports progress
    inside chunks where the backend can (the in-process one)."""
    if backend not in BACKENDS:
        raise SweepError(f"--backend: allowed: {', '.join(BACKENDS)} (got {backend!r})")
    if backend == "dask":
        return _dask(jobs, workers, scheduler, tick)
    if workers == 1:
        return _serial(jobs, tick)
    return _pool(jobs, workers, tick)
