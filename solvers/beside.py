"""The MILP engine in a child process beside a search, on a core the search leaves free.

A branch and bound that converges slowly may still be decided by a MILP over the whole box,
and the reverse: neither knows in advance which will finish first. So the search forks a
child that decides the clauses it is given, in order, each over the whole region with
big-M from the search's root bounds, and sends each clause's result back as it comes; the
search takes them between its steps (a proved clause is refuted everywhere, a found point
is confirmed by the search) and stops the child when it ends.

The child is forked, not spawned: it shares the graph and the bounds without copying them
and starts at once, whatever the parent's ``__main__``. It first sets torch to one thread
(a forked child inherits torch's OpenMP pool without its threads and would hang in its
first parallel region), dies with its parent (Linux; elsewhere it stops at the deadline),
and never returns into the parent's code: it leaves by ``os._exit``.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import warnings
from collections.abc import Callable, Mapping, Sequence
from multiprocessing.connection import Connection

import numpy as np
import torch

from bounds.graph import Graph
from bounds.ops.base import Interval
from solvers.exact import CannotEncode, ExactOutcome, ExactResult, UnboundedInput, remaining
from solvers.objective import Objective
from specs.property import Case

_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux); exit at once if the
    parent (pid ``parent``) is already gone."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


class MilpBeside:
    """A child process deciding ``clauses`` of the case by the MILP engine (see the module
    docstring). ``closed`` marks the clauses refuted on the whole box: those it proved,
    and those not given (the caller has refuted them itself)."""

    def __init__(
        self,
        graph: Graph,
        case: Case,
        objective: Objective,
        node_bounds: Mapping[str, Interval],
        clauses: Sequence[int],
        deadline: float,
    ) -> None:
        self.closed = torch.ones(objective.clauses, dtype=torch.bool)
        self.closed[list(clauses)] = False
        self.proved = 0  # clauses the child proved
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
                _decide(sender, graph, case, objective, node_bounds, clauses, deadline)
                code = 0
            finally:
                os._exit(code)
        sender.close()
        self.pid: int | None = pid
        """The child's process id until it is reaped (None after)."""

    def take(self, confirm: Callable[[np.ndarray], bool], until: float | None = None) -> np.ndarray | None:
        """Absorb the results sent so far (with ``until``, those sent until then or until the
        child ends): proved clauses into ``closed``; the first candidate ``confirm`` accepts
        is returned."""
        while self.pid is not None:
            wait = 0.0 if until is None else max(remaining(until), 0.0)
            if not self._receiver.poll(wait):
                return None
            try:
                message: tuple[int, ExactResult] = self._receiver.recv()
            except EOFError:  # the child is done
                self.stop()
                return None
            clause, result = message
            if result.outcome is ExactOutcome.PROVED:
                self.closed[clause] = True
                self.proved += 1
            elif result.outcome is ExactOutcome.FOUND and result.candidate is not None and confirm(result.candidate):
                return result.candidate
        return None

    def stop(self) -> None:
        """Kill the child (if it still runs) and reap it."""
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGKILL)
        os.waitpid(self.pid, 0)
        self.pid = None
        self._receiver.close()


def _decide(
    sender: Connection,
    graph: Graph,
    case: Case,
    objective: Objective,
    node_bounds: Mapping[str, Interval],
    clauses: Sequence[int],
    deadline: float,
) -> None:
    """The child: each clause's result, sent as soon as it is known; nothing when the graph
    has no exact encoding."""
    torch.set_num_threads(1)
    from solvers.milp import RegionProgram  # cvxpy is slow to import: only when the engine is needed

    try:
        program = RegionProgram(graph, case.region.box, case.region.constraints, node_bounds)
    except (CannotEncode, UnboundedInput):
        return
    for clause in clauses:
        result: ExactResult = program.decide(objective, clause, deadline)
        sender.send((clause, result))
        if result.outcome is ExactOutcome.TIMEOUT:
            return
