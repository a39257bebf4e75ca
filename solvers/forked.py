"""Work in a forked child process beside a search, on a core the search leaves free.

The child is forked, not spawned: it shares the graph, the bounders and the search state
without copying them and starts at once, whatever the parent's ``__main__``. It first sets
torch to one thread (a forked child inherits torch's OpenMP pool without its threads and
would hang in its first parallel region), dies with its parent (Linux; elsewhere it stops
at its own deadline), and never returns into the parent's code: it leaves by ``os._exit``.
Parent and child talk through a pipe (``send``, ``receive``), each reading between its
own steps. The parent kills the child when it no longer needs it.
"""

from __future__ import annotations

import contextlib
import copy
import ctypes
import dataclasses
import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import Any, TypeVar, cast

import numpy as np
import torch

from solvers.exact import remaining

_PR_SET_PDEATHSIG = 1
_LATE = 0.25  # seconds ``within`` waits past its deadline, for an answer computed right at it

T = TypeVar("T")


def die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux); exit at once if the
    parent (pid ``parent``) is already gone."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def send(connection: Connection, message: object) -> None:
    """Send ``message`` (picklable; tensors, also inside lists, tuples, dicts and
    dataclasses, travel by value: torch's own pickling between processes would move them
    to shared memory and pass file descriptors, left dangling by a sender killed early)."""
    connection.send(_mapped(message, _TensorData.of))


def receive(connection: Connection) -> Any:
    """The next message from the other end of a ``Forked`` pipe (EOFError: it is closed)."""
    return _mapped(connection.recv(), _TensorData.tensor)


@dataclasses.dataclass(frozen=True)
class _TensorData:
    """A tensor's values, for the way through the pipe."""

    array: np.ndarray

    @staticmethod
    def of(value: object) -> object:
        return _TensorData(value.detach().cpu().numpy()) if isinstance(value, torch.Tensor) else value

    @staticmethod
    def tensor(value: object) -> object:
        return torch.from_numpy(value.array) if isinstance(value, _TensorData) else value


def _mapped(value: Any, leaf: Callable[[object], object]) -> Any:
    """``value`` with ``leaf`` applied to everything that is not a list, tuple, dict or
    dataclass instance (those are rebuilt around the results, dataclasses without their
    ``__init__``)."""
    if type(value) in (list, tuple):
        return type(value)(_mapped(v, leaf) for v in value)
    if type(value) is dict:
        return {k: _mapped(v, leaf) for k, v in value.items()}
    if dataclasses.is_dataclass(value) and not isinstance(value, type | _TensorData):
        out = copy.copy(value)
        for field in dataclasses.fields(value):
            object.__setattr__(out, field.name, _mapped(getattr(value, field.name), leaf))
        return out
    return leaf(value)


class Forked:
    """A child process running ``work(connection)``, one torch thread; what it sends on
    ``connection`` (with ``send``) comes out of ``messages``, and what the parent sends
    (``tell``) it reads with ``receive``."""

    def __init__(self, work: Callable[[Connection], None]) -> None:
        self.connection, sender = multiprocessing.Pipe()  # the parent's end (to wait on several children at once)
        parent = os.getpid()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # fork of a threaded process: see module docstring
            pid = os.fork()
        if pid == 0:
            code = 1
            try:
                self.connection.close()
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
            if not self.connection.poll(wait):
                return
            try:
                message = receive(self.connection)
            except (EOFError, ConnectionResetError):  # the child is done (reset: it left messages of ours unread)
                self.stop()
                return
            yield message

    def tell(self, message: object) -> None:
        """Send ``message`` to the child (nothing if it has ended)."""
        if self.pid is not None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                send(self.connection, message)

    def stop(self) -> None:
        """Kill the child (if it still runs) and reap it."""
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        self.pid = None
        self.connection.close()


def within(work: Callable[[], T], deadline: float) -> T | None:
    """``work()`` computed in a forked child: its value if it comes by ``deadline`` (or a
    quarter second later), else None, the child killed. For solvers that overrun their own
    time limits: HiGHS's branch and cut can (ERGO-Code/HiGHS#885; 29 s past a 175 s limit
    on a clause of MNIST-FC 256x6). An exception ``work`` raises is raised here."""

    def child(connection: Connection) -> None:
        try:
            answer: tuple[bool, object] = (True, work())
        except Exception as error:  # carried to the parent, raised there
            answer = (False, error)
        send(connection, answer)

    forked = Forked(child)
    try:
        for ok, value in forked.messages(until=deadline + _LATE):
            if ok:
                return cast(T, value)
            raise cast(Exception, value)
        return None
    finally:
        forked.stop()
