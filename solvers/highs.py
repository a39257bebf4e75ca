"""What every use of HiGHS in a process needs: its worker threads joined before a fork,
and its banner kept off our stdout."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator

import highspy

# HiGHS keeps a global pool of worker threads. A fork copies the pool and the workers' locks
# but not the workers: the child's first solve waits on them, or on a lock a worker held at
# that instant. So the pool is stopped, its workers joined, before every fork; parent and
# child each start a fresh one at their next solve (about 0.5 ms).
os.register_at_fork(before=lambda: highspy.Highs.resetGlobalScheduler(True))


@contextlib.contextmanager
def banner_discarded() -> Iterator[None]:
    """HiGHS prints a banner on stdout (file descriptor 1) when first used, whatever its
    options; our stdout carries the verdict and stderr one log line, so what it writes
    there is discarded (its log is off: ``output_flag``; its answer comes back in status)."""
    sys.stdout.flush()
    saved = os.dup(1)
    sink = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(sink, 1)
        yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
        os.close(sink)
