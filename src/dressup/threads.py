"""Thread pools of training and batch jobs, set deliberately: ``with job_threads() as threads: ...``.

torch, OpenMP and each BLAS library start a pool as wide as the machine, and their threads spin while they wait. On
a machine that other work already keeps busy, those pools fight over the cores: training the outfit model beside
four busy processes on 2 cores took 91 s of wall time and 51 s of CPU with 2 threads, against 61 s and 23 s with one
(`benchmarks/job_threads.py`). So a job takes the cores that are free when it starts, and never more than it may use.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity, which containers and `taskset` narrow)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def free_cores() -> int:
    """Usable cores that other work is not already busy on (the whole processes of the 1-minute load average), at
    least one."""
    cores = usable_cores()
    try:
        busy = os.getloadavg()[0]
    except (AttributeError, OSError):
        busy = 0.0
    return max(1, min(cores, cores - int(busy)))


@contextmanager
def job_threads(threads: int | None = None) -> Iterator[int]:
    """Every pool (torch's, OpenMP's, BLAS's) limited to ``threads`` (default: `free_cores`) for the block; yields it."""
    threads = max(1, min(int(threads or free_cores()), usable_cores()))
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    with threadpool_limits(limits=threads):
        if torch is not None:
            torch.set_num_threads(threads)
        try:
            yield threads
        finally:
            if torch is not None:
                torch.set_num_threads(before)
