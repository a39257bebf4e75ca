"""Exact discharge by SMT: the query in z3's linear real arithmetic, with exact rationals.

Every float64 weight, bias and bound is converted to the rational it denotes exactly, so
z3's answer is exact for the network over the reals. Affine nodes are their dense matrices;
piecewise-linear nodes are encoded by the functions in ``ENCODERS`` keyed by ONNX op type.
ReLU is ``z = x`` or ``z = 0`` where the node bounds fix its phase, else the disjunction
``(x >= 0 and z = x) or (x <= 0 and z = 0)``.

The node bounds come from float64 computations without outward rounding, so they are used
only widened by ``bound_slack`` (relative): a neuron counts as stable only when its bound
clears zero by that much, and the widened bounds are added as (redundant, helpful)
constraints. With that assumption on the bounds, PROVED is exact; pass bounds of
``(-inf, inf)`` to rely on nothing but the network itself.

z3 gets the time left as its timeout, and a timer interrupts its context at the deadline.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

import numpy as np
import z3

from bounds.graph import Graph, Node
from bounds.ops.base import Interval
from solvers.exact import (
    CannotEncode,
    ExactOutcome,
    ExactResult,
    affine_parts,
    clause_rows,
    flat_bounds,
    interval_node_bounds,
    remaining,
)
from solvers.objective import Objective
from specs.property import Box, LinearConstraints

Bounds = tuple[np.ndarray, np.ndarray]  # flat lower and upper bounds of a tensor
Terms = list[z3.ArithRef]  # a flat tensor as z3 terms


@dataclass(frozen=True)
class SmtOptions:
    bound_slack: float = 1e-9  # relative widening of the float64 node bounds (see module docstring)
    interior: float = 1e-5  # on sat, look again this far (relative) inside the condition, so that
    # the witness survives rounding to the model's float32 input (z3 likes boundary points)


class SmtModel:
    """The z3 encoding under construction: its context, assertions and fresh names."""

    def __init__(self, context: z3.Context, options: SmtOptions) -> None:
        self.context = context
        self.options = options
        self.assertions: list[z3.BoolRef] = []
        self.fresh = 0
        self.splits = 0  # ReLUs encoded as a disjunction

    def rational(self, value: float) -> z3.RatNumRef:
        """The exact rational value of a float."""
        q = Fraction(float(value))
        return z3.RealVal(f"{q.numerator}/{q.denominator}", self.context)

    def variables(self, prefix: str, n: int) -> Terms:
        self.fresh += 1
        return [z3.Real(f"{prefix}{self.fresh}_{i}", self.context) for i in range(n)]

    def widened(self, lower: np.ndarray, upper: np.ndarray) -> Bounds:
        """Bounds widened by the relative slack, for use as facts."""
        slack = self.options.bound_slack * (1 + np.maximum(np.abs(lower), np.abs(upper)))
        return lower - slack, upper + slack

    def relu(self, x: Terms, lower: np.ndarray, upper: np.ndarray) -> Terms:
        """``max(x, 0)`` elementwise (see module docstring)."""
        lower, upper = self.widened(lower, upper)
        z = self.variables("relu", len(x))
        zero = z3.RealVal(0, self.context)
        for xi, zi, lo, hi in zip(x, z, lower, upper, strict=True):
            if np.isfinite(lo):
                self.assertions.append(xi >= self.rational(lo))
            if np.isfinite(hi):
                self.assertions.append(xi <= self.rational(hi))
            if lo >= 0:
                self.assertions.append(zi == xi)
            elif hi <= 0:
                self.assertions.append(zi == zero)
            else:
                self.splits += 1
                self.assertions.append(
                    z3.Or(z3.And(xi >= zero, zi == xi), z3.And(xi <= zero, zi == zero), self.context)
                )
        return z


SmtEncoder = Callable[[SmtModel, Node, tuple[Terms, ...], tuple[Bounds, ...]], Terms]
"""Encodes one node: the model to add to, the node, its flat input terms and their bounds."""


def _relu(model: SmtModel, node: Node, inputs: tuple[Terms, ...], bounds: tuple[Bounds, ...]) -> Terms:
    return model.relu(inputs[0], *bounds[0])


ENCODERS: Mapping[str, SmtEncoder] = MappingProxyType({"Relu": _relu})
"""Piecewise-linear ops by ONNX op type; affine ops need no entry."""


def _affine(model: SmtModel, matrices: Sequence[np.ndarray], offset: np.ndarray, inputs: Sequence[Terms]) -> Terms:
    """``sum_k M_k x_k + c`` as exact rational terms (zero coefficients left out)."""
    out = []
    for row in range(offset.shape[0]):
        terms = [model.rational(offset[row])]
        for m, x in zip(matrices, inputs, strict=True):
            terms += [model.rational(m[row, col]) * x[col] for col in np.flatnonzero(m[row])]
        out.append(z3.Sum(terms) if len(terms) > 1 else terms[0])
    return out


def encode_network(graph: Graph, x: Terms, node_bounds: Mapping[str, Interval], model: SmtModel) -> Terms:
    """The flat output terms of the graph for input terms ``x``, facts added to ``model``."""
    env: dict[str, Terms] = {graph.input.name: x}
    for node in graph.nodes:
        inputs = tuple(env[name] for name in node.inputs)
        if node.op.affine:
            matrices, offset = affine_parts(graph, node)
            env[node.output] = _affine(model, matrices, offset, inputs)
            continue
        encoder = ENCODERS.get(node.op_type)
        if encoder is None:
            raise CannotEncode(node, "smt")
        env[node.output] = encoder(model, node, inputs, tuple(flat_bounds(node_bounds[n]) for n in node.inputs))
    return env[graph.output.name]


def _rows(
    model: SmtModel, A: np.ndarray, b: np.ndarray, strict: np.ndarray, v: Sequence[z3.ArithRef]
) -> list[z3.BoolRef]:
    """``A v <= b`` (``<`` on strict rows), exactly."""
    rows = []
    for a_row, b_i, s in zip(A, b, strict, strict=True):
        nonzero = np.flatnonzero(a_row)
        products = [model.rational(a_row[j]) * v[int(j)] for j in nonzero]
        lhs = z3.Sum(products) if products else z3.RealVal(0, model.context)
        rhs = model.rational(b_i)
        rows.append(lhs < rhs if s else lhs <= rhs)
    return rows


def solve(
    graph: Graph,
    box: Box,
    constraints: LinearConstraints,
    objective: Objective,
    *,
    deadline: float,
    node_bounds: Mapping[str, Interval] | None = None,
    options: SmtOptions = SmtOptions(),
) -> ExactResult:
    """Decide whether some x in the box meeting the constraints has an output satisfying a
    clause of the objective (see ``solvers.exact``), all clauses in one z3 query."""
    bounds = node_bounds if node_bounds is not None else interval_node_bounds(graph, box)
    context = z3.Context()
    model = SmtModel(context, options)
    x = model.variables("x", box.size)
    facts: list[z3.BoolRef] = []
    for xi, lo, hi in zip(x, box.lower, box.upper, strict=True):
        if np.isfinite(lo):
            facts.append(xi >= model.rational(lo))
        if np.isfinite(hi):
            facts.append(xi <= model.rational(hi))
    facts += _rows(model, constraints.A, constraints.b, constraints.strict, x)
    try:
        y = encode_network(graph, x, bounds, model)
    except CannotEncode as error:
        return ExactResult(ExactOutcome.UNKNOWN, reason=str(error))

    def condition(tighten: float) -> z3.BoolRef:
        clauses = []
        for clause in range(objective.clauses):
            C, d, strict = clause_rows(objective, clause)
            clauses.append(z3.And(_rows(model, C, d - tighten * (1 + np.abs(d)), strict, y), context))
        return z3.Or(clauses, context)

    solver = z3.Solver(ctx=context)
    solver.add(*facts, *model.assertions, condition(0.0))
    left = remaining(deadline)
    if left <= 0:
        return ExactResult(ExactOutcome.TIMEOUT, reason="deadline before z3 started")
    solver.set("timeout", max(int(left * 1000), 1))
    timer = threading.Timer(left, context.interrupt)
    timer.start()
    try:
        answer = solver.check()
    finally:
        timer.cancel()
    if answer == z3.unsat:
        return ExactResult(ExactOutcome.PROVED, reason=f"z3: unsat ({model.splits} ReLU disjunctions)")
    if answer == z3.sat:
        witness = solver.model()
        interior = ""
        if options.interior > 0 and remaining(deadline) > 0:
            solver.add(condition(options.interior))
            timer = threading.Timer(max(remaining(deadline), 0), context.interrupt)
            timer.start()
            try:
                if solver.check() == z3.sat:
                    witness, interior = solver.model(), f", {options.interior:g} inside the condition"
            finally:
                timer.cancel()
        candidate = np.array([_to_float(witness.eval(xi, model_completion=True)) for xi in x])
        return ExactResult(ExactOutcome.FOUND, candidate, reason=f"z3: sat{interior}")
    if remaining(deadline) <= 0:
        return ExactResult(ExactOutcome.TIMEOUT, reason="z3 timed out")
    return ExactResult(ExactOutcome.UNKNOWN, reason=f"z3: {solver.reason_unknown()}")


def _to_float(value: z3.ExprRef) -> float:
    """A rational model value as the nearest float."""
    if not isinstance(value, z3.RatNumRef):
        raise TypeError(f"z3 model value {value} is not a rational")
    return float(Fraction(value.numerator_as_long(), value.denominator_as_long()))
