"""The MILP engine in a child process beside a search, on a core the search leaves free.

A branch and bound that converges slowly may still be decided by a MILP over the whole box,
and the reverse: neither knows in advance which will finish first. So the search forks a
child that decides the clauses it is given, in order, each over the whole region with
big-M from the search's root bounds, and sends each clause's result back as it comes; the
search takes them between its steps (a proved clause is refuted everywhere, a found point
is confirmed by the search) and stops the child when it ends.

The child runs in a ``solvers.forked.Forked`` process. Before its clauses it tightens the
search's root bounds (``milp.tightened_bounds``); once the search has stalled, it stops and
takes every other neuron of each tensor the child bounds (``MilpBeside.assist``), so the
tightening has both cores (MNIST-FC 256x4 prop_4 eps 0.05, in process: unsat in 210 s of
its 300, its nine clauses 17-30 s each; with the child tightening alone, 289 s in one run
and a timeout with 8 clauses proved in another).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from multiprocessing.connection import Connection

import numpy as np
import torch

from bounds.graph import Graph
from bounds.ops.base import Interval
from solvers.exact import (
    CannotEncode,
    ExactOutcome,
    ExactResult,
    NeuronWork,
    Polish,
    Refresh,
    UnboundedInput,
    remaining,
)
from solvers.forked import Forked, receive, send
from solvers.objective import Objective
from specs.property import Case


class MilpBeside:
    """A child process deciding ``clauses`` of the case by the MILP engine (see the module
    docstring), each first by ``polish`` from its LP relaxation's minimiser when given
    (``RegionProgram.decide``). ``closed`` marks the clauses refuted on the whole box: those it proved,
    those not given (the caller has refuted them itself), and those the caller marks;
    ``proved`` counts the child's proofs of clauses not closed before."""

    def __init__(
        self,
        graph: Graph,
        case: Case,
        objective: Objective,
        node_bounds: Mapping[str, Interval],
        clauses: Sequence[int],
        deadline: float,
        polish: Polish | None = None,
        refresh: Refresh | None = None,
    ) -> None:
        self.closed = torch.ones(objective.clauses, dtype=torch.bool)
        self.closed[list(clauses)] = False
        self.proved = 0  # clauses the child proved
        self.order = tuple(clauses)
        self.tightened: Mapping[str, Interval] | None = None
        """The node bounds the child tightened (``tightened_bounds``), once it sends them."""
        self.tightening = False
        """Whether the child has begun to tighten them."""
        self._graph, self._case = graph, case
        self._answered: set[int] = set()
        self._child = Forked(
            partial(
                _decide,
                graph=graph,
                case=case,
                objective=objective,
                node_bounds=node_bounds,
                clauses=clauses,
                deadline=deadline,
                polish=polish,
                refresh=refresh,
            )
        )

    @property
    def pid(self) -> int | None:
        """The child's process id until it is reaped (None after)."""
        return self._child.pid

    @property
    def connection(self) -> Connection | None:
        """Where the child's results come while it runs (to wait on with other
        connections; ``take`` reads them); None once it is reaped."""
        return None if self._child.pid is None else self._child.connection

    def take(self, confirm: Callable[[np.ndarray], bool], until: float | None = None) -> np.ndarray | None:
        """Absorb the results sent so far (with ``until``, those sent until then or until the
        child ends): proved clauses into ``closed``, tightened bounds into ``tightened``; the
        first candidate ``confirm`` accepts is returned."""
        for message in self._child.messages(until):
            found = self._absorb(message, confirm)
            if found is not None:
                return found
        return None

    def assist(self, confirm: Callable[[np.ndarray], bool], deadline: float) -> np.ndarray | None:
        """Take a share of the child's tightening: bound the neurons it gives (``NeuronWork``,
        ``milp.near_sides``) and send their bounds back, until its tightened bounds come (or
        it ends, or the deadline); other results are absorbed as in ``take``, whose first
        confirmed candidate ends it."""
        from solvers.milp import near_sides  # cvxpy is slow to import: only when the engine is needed

        region = self._case.region
        self._child.tell(_Ready())
        while self.tightened is None and self.pid is not None and remaining(deadline) > 0:
            for message in self._child.messages(until=min(deadline, time.monotonic() + 0.25)):
                if isinstance(message, NeuronWork):
                    self._child.tell(_Leasts(near_sides(self._graph, region.box, region.constraints, message)))
                    continue
                found = self._absorb(message, confirm)
                if found is not None:
                    return found
        return None

    def _absorb(self, message: object, confirm: Callable[[np.ndarray], bool]) -> np.ndarray | None:
        """Record one message of the child's; a found candidate ``confirm`` accepts is returned."""
        if isinstance(message, _Tightening):
            self.tightening = True
            return None
        if isinstance(message, dict):
            self.tightened = message
            return None
        if isinstance(message, NeuronWork):  # offered after this process stopped assisting: decline
            self._child.tell(_Leasts([]))
            return None
        clause: int | None
        result: ExactResult
        clause, result = message  # type: ignore[misc]
        if clause is not None:
            self._answered.add(clause)
        if result.outcome is ExactOutcome.PROVED and clause is not None and not self.closed[clause]:
            self.closed[clause] = True
            self.proved += 1
        elif result.outcome is ExactOutcome.FOUND and result.candidate is not None and confirm(result.candidate):
            return result.candidate
        return None

    @property
    def current(self) -> int | None:
        """The clause the child is deciding now, as far as its messages tell (the first of
        ``order`` it has not answered); None when it has answered them all."""
        return next((c for c in self.order if c not in self._answered), None)

    def stop(self) -> None:
        """Kill the child (if it still runs) and reap it."""
        self._child.stop()


def _decide(
    sender: Connection,
    *,
    graph: Graph,
    case: Case,
    objective: Objective,
    node_bounds: Mapping[str, Interval],
    clauses: Sequence[int],
    deadline: float,
    polish: Polish | None,
    refresh: Refresh | None,
) -> None:
    """The child: first each clause's polish (a point found is sent as clause None: it
    decides nothing about the clause), then the tightened node bounds, then each clause's
    result, sent as soon as it is known; nothing when the graph has no exact encoding."""
    from solvers.milp import RegionProgram, tightened_bounds  # cvxpy is slow to import: only when needed

    box, constraints = case.region.box, case.region.constraints
    try:
        program = RegionProgram(graph, box, constraints, node_bounds)
    except (CannotEncode, UnboundedInput):
        return
    if polish is not None:
        for clause in clauses:
            found = program.polished(objective, clause, deadline, polish)
            if found is not None:
                send(sender, (None, found))
    send(sender, _Tightening())
    bounds = tightened_bounds(
        graph, box, constraints, node_bounds, deadline=deadline, refresh=refresh, assistant=_ParentAssistant(sender)
    )
    send(sender, bounds)
    program = RegionProgram(graph, box, constraints, bounds)
    for clause in clauses:
        result: ExactResult = program.decide(objective, clause, deadline)
        send(sender, (clause, result))
        if result.outcome is ExactOutcome.TIMEOUT:
            return


@dataclass(frozen=True)
class _Tightening:
    """The child's word that it has begun to tighten (the parent may assist from now on)."""


@dataclass(frozen=True)
class _Ready:
    """The parent's word that it assists the tightening."""


@dataclass(frozen=True)
class _Leasts:
    """The parent's bounds for the ``NeuronWork`` it was given last."""

    values: list[float]


class _ParentAssistant:
    """The parent, as the child's tightening sees it (``solvers.exact.Assistant``)."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._ready = False

    def ready(self) -> bool:
        while not self._ready and self._connection.poll():
            self._ready = isinstance(receive(self._connection), _Ready | _Leasts)  # late results: idle again
        return self._ready

    def give(self, work: NeuronWork) -> None:
        send(self._connection, work)
        self._ready = False

    def results(self, until: float) -> list[float] | None:
        while self._connection.poll(max(remaining(until), 0.0)):
            message = receive(self._connection)
            if isinstance(message, _Leasts):
                self._ready = True
                return message.values
        return None
