"""Work in a forked child process beside a search, on a core the search leaves free.

The child is forked, not spawned: it shares the graph, the bounders and the search state
without copying them and starts at once, whatever the parent's ``__main__``. It first sets
torch to one thread (a forked child inherits torch's OpenMP pool without its threads and
would hang in its first parallel region), dies with its parent (Linux; elsewhere it stops
at its own deadline), and never returns into the parent's code: it leaves by ``os._exit``.
It talks back through a one-way pipe; the parent reads between its own steps and kills
the child when it no longer needs it.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any

import torch

from solvers.exact import remaining

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux); exit at once if the
    parent (pid ``parent``) is already gone."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


class Forked:
    """A child process running ``work(sender)``, one torch thread; whatever it sends on
    ``sender`` comes out of ``messages``."""

    def __init__(self, work: Callable[[Connection], None]) -> None:
        self._receiver, sender = multiprocessing.Pipe(duplex=False)
        parent = os.getpid()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork of a threaded process: see module docstring
            pid = os.fork()
        if pid == 0:
            code = 1
            try:
                self._receiver.close()
                die_with_parent(parent)
                torch.set_num_threads(1)
                work(sender)
                code = 0
            finally:
                os._exit(code)
        sender.close()
        self.pid: int | None = pid
        """The child's process id until it is reaped (None after)."""

    def messages(self, until: float | None = None) -> Iterator[Any]:
        """The messages sent so far; with ``until``, also those sent until then or until the
        child ends (a child that has ended is reaped)."""
        while self.pid is not None:
            wait = 0.0 if until is None else max(remaining(until), 0.0)
            if not self._receiver.poll(wait):
                return
            try:
                message = self._receiver.recv()
            except EOFError:  # the child is done
                self.stop()
                return
            yield message

    def stop(self) -> None:
        """Kill the child (if it still runs) and reap it."""
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        self.pid = None
        self._receiver.close()
