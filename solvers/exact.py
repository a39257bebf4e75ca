"""What the exact engines (``milp``, ``smt``) share: the query, the answer, the node bounds.

Both decide one case's output condition over an input region exactly: is there an input x
in ``box`` satisfying the linear input constraints whose network output y satisfies some
clause ``C_j y + P_j(y) <= d_j`` of the objective (strict rows ``<``; ``P`` the product terms
of polynomial rows, which z3 encodes exactly and the MILP refuses as UNKNOWN)? PROVED: none exists; FOUND: a
candidate x (only a candidate: callers re-check it on the model as executed); UNKNOWN: the
engine cannot decide (an op it cannot encode, an optimum too close to the constraint to
call); TIMEOUT: the deadline came first.

Each engine encodes piecewise-linear ops through its own table keyed by ONNX op type (one
function per op: Relu, LeakyRelu, Abs, Clip, MaxPool in both; Sign in z3 only, since its
jump at 0 needs strict inequalities); affine ops (``Op.affine``) need no entry. An op without an entry makes
the engine answer UNKNOWN with a ``CannotEncode`` reason naming op and engine, never a guess.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Protocol, TypeVar

import numpy as np
import torch

from bounds.graph import Graph, Node
from bounds.interval import propagate
from bounds.ops.base import DTYPE, Interval, affine_matrices
from solvers.objective import Objective
from solvers.options import EXACT_ENGINES
from specs.property import Box, LinearConstraints


class ExactOutcome(Enum):
    PROVED = "proved"  # no input in the region satisfies any clause
    FOUND = "found"  # a candidate input, still to be confirmed on the model as executed
    UNKNOWN = "unknown"  # the engine cannot decide; the reason says why
    TIMEOUT = "timeout"


@dataclass(frozen=True)
class ExactResult:
    outcome: ExactOutcome
    candidate: np.ndarray | None = None  # flat float64 input for FOUND
    reason: str = ""


UNANSWERED = ExactResult(ExactOutcome.TIMEOUT, reason="no answer from the engine's process by the deadline")
"""What an engine run in a process of its own (``forked.within``) gives when no answer comes:
the deadline passed (the process was stopped) or the process died."""


Polish = Callable[[np.ndarray], "np.ndarray | None"]
"""A local search from an input point (flat float64): a point it reaches that violates the
objective (a candidate still to be confirmed), or None."""

Refresh = Callable[[Mapping[str, Interval]], Mapping[str, Interval]]
"""Bounds on every tensor over the region, recomputed given some tensors' bounds (which it
may tighten, never loosen); an engine that tightens node bounds calls it to carry what it
found forward (``milp.tightened_bounds``)."""


@dataclass(frozen=True)
class NeuronWork:
    """Neurons of one tensor to bound on their side nearer zero, by MILPs over the network
    before it with big-M from ``bounds``: (element, sign) pairs, the bound sought on
    ``sign * tensor[element]``; each MILP gets at most ``neuron_time`` seconds, all end by
    ``stop`` (a ``time.monotonic`` instant: the clock is the machine's, shared by processes)."""

    tensor: str
    bounds: Mapping[str, Interval]
    neurons: tuple[tuple[int, float], ...]
    neuron_time: float
    stop: float


class Assistant(Protocol):
    """Another process that takes a share of the neurons ``milp.tightened_bounds`` bounds:
    it answers a ``NeuronWork`` with one lower bound per neuron, in order (fewer when its
    stop came first)."""

    def ready(self) -> bool:
        """Whether it waits for work now (never blocks)."""
        ...

    def give(self, work: NeuronWork) -> None: ...

    def results(self, until: float) -> list[float] | None:
        """Its bounds for the work given last, waiting until ``until`` at most (None: none came)."""
        ...


class CannotEncode(Exception):
    """The graph holds an op the engine has no exact encoding for (the message names both)."""

    def __init__(self, node: Node, engine: str) -> None:
        super().__init__(f"{engine} has no exact encoding for {node.op_type} (node {node.name!r})")


OpT = TypeVar("OpT")


def op_of(node: Node, kind: type[OpT]) -> OpT:
    """The node's op as the class its op type registers (its parameters: alpha, windows...)."""
    if not isinstance(node.op, kind):
        raise TypeError(f"node {node.name!r} of type {node.op_type} holds a {type(node.op).__name__}")
    return node.op


class UnboundedInput(Exception):
    """A nonlinear op's input has an infinite bound, so big-M or case splits cannot be built."""


class ExactSolve(Protocol):
    def __call__(
        self,
        graph: Graph,
        box: Box,
        constraints: LinearConstraints,
        objective: Objective,
        *,
        deadline: float,
        node_bounds: Mapping[str, Interval] | None = None,
    ) -> ExactResult: ...


def engine(name: str) -> ExactSolve:
    """The ``solve`` of an exact engine. Imported on first use: cvxpy alone takes over a
    second to import, which every other run would pay."""
    if name == "milp":
        from solvers.milp import solve as milp_solve

        return milp_solve
    if name == "smt":
        from solvers.smt import solve as smt_solve

        return smt_solve
    raise ValueError(f"unknown exact engine {name!r}; choose from {', '.join(EXACT_ENGINES)}")


def interval_node_bounds(graph: Graph, box: Box) -> dict[str, Interval]:
    """Interval bounds on every tensor over the box, batch of one (the default node bounds)."""
    info = graph.input
    lower = torch.tensor(box.lower, dtype=DTYPE).reshape(1, *info.shape)
    upper = torch.tensor(box.upper, dtype=DTYPE).reshape(1, *info.shape)
    with torch.no_grad():
        return propagate(graph, {info.name: Interval(lower, upper)})


def flat_bounds(bounds: Interval) -> tuple[np.ndarray, np.ndarray]:
    """A batch-of-one ``Interval`` as flat float64 numpy lower and upper bounds."""
    return (
        bounds.lower.detach().reshape(-1).to(DTYPE).numpy(),
        bounds.upper.detach().reshape(-1).to(DTYPE).numpy(),
    )


def affine_parts(graph: Graph, node: Node) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
    """The dense matrices (one per variable input) and offset of an affine node, as numpy."""
    with torch.no_grad():
        matrices, offset = affine_matrices(node.op, [graph.shapes[name] for name in node.inputs])
    return tuple(m.numpy() for m in matrices), offset.numpy()


def clause_rows(objective: Objective, clause: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows ``C``, ``d`` and ``strict`` of one clause, as numpy; ``d`` includes the float
    rounding slack, if any (a real point within it may still be a float counterexample)."""
    rows = (objective.clause_of_row == clause).numpy()
    return objective.C.numpy()[rows], objective.proof_d.numpy()[rows], objective.strict.numpy()[rows]


Factors = tuple[tuple[int, int], ...]
"""A product of outputs as (output index, power) pairs."""


def clause_products(objective: Objective, clause: int) -> list[list[tuple[float, Factors]]]:
    """The product terms (coefficient, factors) of each row of one clause, in the order of
    ``clause_rows``; empty lists for linear rows."""
    rows = torch.nonzero(objective.clause_of_row == clause).flatten().tolist()
    terms: dict[int, list[tuple[float, Factors]]] = {r: [] for r in rows}
    products = objective.products
    if products is not None:
        for r, c, variables, powers in zip(
            products.row.tolist(),
            products.coeff.tolist(),
            products.variable.tolist(),
            products.power.tolist(),
            strict=True,
        ):
            if r in terms:
                terms[r].append((c, tuple((v, int(p)) for v, p in zip(variables, powers, strict=True) if v >= 0)))
    return [terms[r] for r in rows]


def remaining(deadline: float) -> float:
    """Seconds left before the deadline (may be negative)."""
    return deadline - time.monotonic()
