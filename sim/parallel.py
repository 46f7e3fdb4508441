"""Work spread over this machine's cores: an ordered map over forked worker processes, and
one forked helper process that shares a job list with this one.

Both use the ``fork`` start method: a forked worker starts in milliseconds with every module
and every object of this process already in memory (the scenario, the built world, the
measure registry), so nothing is re-imported or pickled on the way in. ``fork`` is used only
on Linux, and only where it is safe: before this process has started threads of its own
(:func:`ordered_map` is called before any Parquet writer exists), or, for
:func:`shared_jobs`, in a helper that touches nothing but numpy and matplotlib. Elsewhere
both fall back to running everything in this process, with the same results.

Results never depend on the number of processes: every job is a pure function of its
arguments (a simulation batch depends only on (scenario, seed, run ids)), and
:func:`ordered_map` yields results in job order.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")


def fork_available() -> bool:
    """True where worker processes are forked (Linux): elsewhere work stays in-process."""
    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()


def default_processes() -> int:
    """Processes to use when the user gives no number: one per CPU this process may use."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def _flush_std_streams() -> None:
    """Flush stdout and stderr before a fork: a child would otherwise print what this
    process had buffered a second time when it exits."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, ValueError, OSError):
            pass


#: The function :func:`ordered_map`'s workers call: set before they are forked, so any
#: callable works (a closure too); only items and results are pickled.
_task: Callable[[Any], Any] | None = None


def _call_task(item: Any) -> Any:
    assert _task is not None
    return _task(item)


def ordered_map(fn: Callable[[T], R], items: Sequence[T], *, processes: int,
                ahead: int | None = None,
                while_waiting: Callable[[], Any] | None = None) -> Iterator[R]:
    """``fn(item)`` for every item, yielded in item order, computed in ``processes`` forked
    worker processes (in this process when ``processes`` is 1, there is one item, or fork
    is not available).

    At most ``ahead`` items (default ``2 x processes``) are submitted but not yet yielded, so
    memory stays bounded when the consumer is slower than the workers. ``fn`` may be any
    callable (the workers inherit it); items and results are pickled. ``while_waiting()``
    runs here once the first items are handed out (work for this process meanwhile).
    """
    global _task
    if processes <= 1 or len(items) <= 1 or not fork_available():
        if while_waiting is not None:
            while_waiting()
        for item in items:
            yield fn(item)
        return
    ahead = max(processes, ahead if ahead is not None else 2 * processes)
    ctx = multiprocessing.get_context("fork")
    _flush_std_streams()
    queue = iter(items)
    pending: deque[Future] = deque()
    outer, _task = _task, fn
    try:
        # Python 3.11 forks every worker at the first submit, while ``_task`` is ``fn``.
        with ProcessPoolExecutor(max_workers=min(processes, len(items)), mp_context=ctx) as pool:
            try:
                for item in queue:
                    pending.append(pool.submit(_call_task, item))
                    if len(pending) >= ahead:
                        break
                if while_waiting is not None:
                    while_waiting()
                while pending:
                    result = pending.popleft().result()
                    nxt = next(queue, None)
                    if nxt is not None:
                        pending.append(pool.submit(_call_task, nxt))
                    yield result
            finally:
                for future in pending:
                    future.cancel()
    finally:
        _task = outer


def shared_jobs(jobs: Sequence[Callable[[], Any]], *, processes: int,
                before: Callable[[], Any] | None = None) -> None:
    """Run ``jobs`` (callables without arguments, results unused) in this process and
    ``processes - 1`` forked helpers; each process takes the next job not yet taken, so jobs
    start in list order. ``before()`` runs in this process after the helpers are forked and
    before it takes a job (work only this process can do). A failed job in a helper is
    re-raised here as ``RuntimeError``.

    Without fork, or with one process, ``before`` and then every job run here, in order.
    """
    helpers = max(0, min(processes - 1, len(jobs) - 1)) if fork_available() else 0
    if helpers == 0:
        if before is not None:
            before()
        for job in jobs:
            job()
        return
    ctx = multiprocessing.get_context("fork")
    counter = ctx.Value("i", 0)
    errors = ctx.SimpleQueue()

    def take() -> int:
        with counter.get_lock():
            i = counter.value
            counter.value += 1
        return i

    def work() -> None:
        while (i := take()) < len(jobs):
            jobs[i]()

    def helper() -> None:
        try:
            work()
        except BaseException as exc:  # reported to the parent, which raises it
            errors.put(f"{type(exc).__name__}: {exc}")
            os._exit(1)
        os._exit(0)

    _flush_std_streams()
    procs = [ctx.Process(target=helper, daemon=True) for _ in range(helpers)]
    for proc in procs:
        proc.start()
    try:
        if before is not None:
            before()
        work()
    finally:
        for proc in procs:
            proc.join()
    if not errors.empty():
        raise RuntimeError(f"a helper process failed: {errors.get()}")
    failed = [proc.exitcode for proc in procs if proc.exitcode != 0]
    if failed:
        raise RuntimeError(f"a helper process exited with status {failed[0]}")
