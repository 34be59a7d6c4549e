"""Parallel rule evaluation: many directories spread over forked worker processes.

Rules are the cost of a run (the relay evaluator above all: ~5-50 ms per directory), and
directories are independent, so a run with many directories evaluates their rules in forked
workers. Only the rules run there; everything with state across directories (suppressions,
the baseline, --base, the order of findings) stays in the parent, which reads the workers'
results in target order. The output is therefore the same as a serial run's.

The workers inherit everything from the parent through fork(): the job (targets, their
policies, the function that evaluates one) is never pickled; only results travel back.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Any, Callable, Generator, Generic, Optional, TypeVar

#: Below this many directories a run stays in one process: forking and sending findings back
#: would cost more than the rules of so few directories.
PARALLEL_MIN_DIRECTORIES = 32
#: More processes than this gain little and multiply the memory (~30 MiB each).
MAX_WORKERS = 8

Result = TypeVar("Result")


@dataclass
class Job(Generic[Result]):
    """What a forked worker needs, inherited from the parent: `evaluate(index)` is the
    index-th directory's result, for index in range(`count`)."""

    evaluate: Callable[[int], Result]
    count: int


#: The job of the pool that is running; what a forked worker reads (Any: one job at a time,
#: of whatever result type).
_FORKED_JOB: Optional[Job[Any]] = None


def _available_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def worker_count(jobs: Optional[int], directories: int) -> int:
    """How many processes evaluate rules: 1 means here, serially. `jobs` forces a count
    (`LintOptions.jobs`); None chooses one per CPU for runs with many directories."""
    # A process that never imported threading runs no other thread (and a plain run need not
    # pay for importing it).
    threading = sys.modules.get("threading")
    if jobs is None and (directories < PARALLEL_MIN_DIRECTORIES
                         or (threading is not None and threading.active_count() > 1)):
        return 1  # (forking a process that runs other threads can deadlock the child)
    import multiprocessing  # only now: a small run does not pay for its import

    if "fork" not in multiprocessing.get_all_start_methods():
        return 1  # spawned workers would re-import and re-resolve everything
    if jobs is not None:
        return max(1, min(jobs, directories))
    return max(1, min(_available_cpus(), MAX_WORKERS, directories))


def in_workers(job: Job[Result], workers: int) -> Generator[Result, None, None]:
    """`job.evaluate(index)` for every index, computed by `workers` forked processes, in order.
    Closing the generator (also after an error) stops the workers."""
    # Looked up at each call (not bound at import): tests wrap it to see that workers ran.
    return _rule_findings_in_workers(job, workers)


def _ignore_interrupts() -> None:
    import signal

    # Ctrl-C reaches the whole process group; the parent alone handles it (and stops the pool).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _evaluate(index: int) -> Any:
    """In a worker: the job's result for the index-th directory."""
    job = _FORKED_JOB
    assert job is not None, "worker started without a job"
    return job.evaluate(index)


def _rule_findings_in_workers(job: Job[Result], workers: int) -> Generator[Result, None, None]:
    import multiprocessing

    global _FORKED_JOB
    # Set while the pool lives: a worker the pool replaces is forked from this state too.
    _FORKED_JOB = job
    try:
        pool = multiprocessing.get_context("fork").Pool(workers, initializer=_ignore_interrupts)
        try:
            # Small chunks balance uneven directories and keep few results waiting in the parent.
            chunksize = max(1, min(16, job.count // (workers * 8)))
            yield from pool.imap(_evaluate, range(job.count), chunksize)
            pool.close()
        finally:
            pool.terminate()
            pool.join()
    finally:
        _FORKED_JOB = None
