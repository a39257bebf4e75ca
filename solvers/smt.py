"""Exact discharge by SMT: the query in z3's real arithmetic, with exact rationals.

Every float64 weight, bias and bound is converted to the rational it denotes exactly, so
z3's answer is exact for the network over the reals. The network and linear rows are
linear arithmetic; polynomial rows add products of outputs (nonlinear real arithmetic,
which z3 decides; a witness may then be an algebraic number, taken to its nearest float).
Affine nodes are their dense matrices; piecewise-linear nodes are encoded by the
functions in ``ENCODERS`` keyed by ONNX op type.
ReLU, Abs, LeakyRelu and Clip are continuous piecewise-linear: where the node bounds meet
one piece the output is that piece (ReLU: ``x`` or ``0``), else a fresh ``z`` with the
disjunction of ``(x in segment k and z = piece_k(x))``, e.g. ReLU's ``(x >= 0 and z = x) or
(x <= 0 and z = 0)``. MaxPool's output is at least every candidate of its window (inputs
whose upper bound reaches the window's largest lower bound) and equal to one of them (a
disjunction; a window with one candidate is that input). Sign is ``If(x > 0, 1, If(x < 0,
-1, 0))``, exact at 0.

The node bounds come from float64 computations without outward rounding, so they are used
only widened by ``bound_slack`` (relative): a neuron counts as stable only when its bound
clears zero by that much, and the widened bounds are added as (redundant, helpful)
constraints. With that assumption on the bounds, PROVED is exact; pass bounds of
``(-inf, inf)`` to rely on nothing but the network itself.

z3 gets the time left as its timeout, and a timer interrupts its context at the deadline.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType

import numpy as np
import z3

from bounds.graph import Graph, Node
from bounds.ops.base import Interval
from bounds.ops.clip import Clip
from bounds.ops.leakyrelu import LeakyRelu
from bounds.ops.maxpool import MaxPool
from solvers.exact import (
    CannotEncode,
    ExactOutcome,
    ExactResult,
    Factors,
    UnboundedInput,
    affine_parts,
    clause_products,
    clause_rows,
    flat_bounds,
    interval_node_bounds,
    op_of,
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
    interior_time: float = 1.0  # seconds that second look may take, or twice the first check's if longer


class SmtModel:
    """The z3 encoding under construction: its context, assertions and fresh names."""

    def __init__(self, context: z3.Context, options: SmtOptions) -> None:
        self.context = context
        self.options = options
        self.assertions: list[z3.BoolRef] = []
        self.fresh = 0
        self.splits = 0  # case splits: ReLUs and MaxPool windows encoded as a disjunction, Signs

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

    def bounded(self, x: Terms, lower: np.ndarray, upper: np.ndarray) -> Bounds:
        """Assert the widened bounds on ``x`` as facts and return them."""
        lower, upper = self.widened(lower, upper)
        for xi, lo, hi in zip(x, lower, upper, strict=True):
            if np.isfinite(lo):
                self.assertions.append(xi >= self.rational(lo))
            if np.isfinite(hi):
                self.assertions.append(xi <= self.rational(hi))
        return lower, upper

    def piecewise(
        self,
        x: Terms,
        lower: np.ndarray,
        upper: np.ndarray,
        kinks: Sequence[float],
        pieces: Sequence[Callable[[z3.ArithRef], z3.ArithRef]],
    ) -> Terms:
        """A continuous piecewise-linear function elementwise: ``pieces[k]`` between
        ``kinks[k - 1]`` and ``kinks[k]`` (ascending; the first and last pieces run on to
        infinity). Each output is a fresh variable: equal to the one piece its bounds meet, else
        to the piece of whichever segment holds x (a disjunction)."""
        lower, upper = self.bounded(x, lower, upper)
        ends = [-np.inf, *kinks, np.inf]
        z = self.variables("pwl", len(x))
        for xi, zi, lo, hi in zip(x, z, lower, upper, strict=True):
            meets = [k for k in range(len(pieces)) if ends[k] <= hi and lo <= ends[k + 1]]
            if len(meets) == 1:
                self.assertions.append(zi == pieces[meets[0]](xi))
                continue
            self.splits += 1
            options = []
            for k in meets:
                segment = [zi == pieces[k](xi)]
                if np.isfinite(ends[k]):
                    segment.append(xi >= self.rational(ends[k]))
                if np.isfinite(ends[k + 1]):
                    segment.append(xi <= self.rational(ends[k + 1]))
                options.append(z3.And(segment, self.context))
            self.assertions.append(z3.Or(options, self.context))
        return z

    def relu(self, x: Terms, lower: np.ndarray, upper: np.ndarray) -> Terms:
        """``max(x, 0)`` elementwise (see module docstring)."""
        zero = z3.RealVal(0, self.context)
        return self.piecewise(x, lower, upper, [0.0], [lambda _: zero, lambda v: v])

    def maximum(self, x: Terms, lower: np.ndarray, upper: np.ndarray, windows: np.ndarray) -> Terms:
        """``y_o = max_k x[windows[o, k]]`` per row of ``windows`` (entries < 0 are padding)."""
        lower, upper = self.bounded(x, lower, upper)
        out = []
        for window in windows:
            positions = window[window >= 0]
            if positions.size == 0:
                raise UnboundedInput("a MaxPool window holds only padding")
            best = lower[positions].max()
            candidates = [x[int(i)] for i in positions if upper[i] >= best]
            if len(candidates) == 1:
                out.append(candidates[0])
                continue
            (y,) = self.variables("max", 1)
            self.splits += 1
            self.assertions += [y >= xi for xi in candidates]
            self.assertions.append(z3.Or([y == xi for xi in candidates], self.context))
            out.append(y)
        return out


SmtEncoder = Callable[[SmtModel, Node, tuple[Terms, ...], tuple[Bounds, ...]], Terms]
"""Encodes one node: the model to add to, the node, its flat input terms and their bounds."""


def _relu(model: SmtModel, node: Node, inputs: tuple[Terms, ...], bounds: tuple[Bounds, ...]) -> Terms:
    return model.relu(inputs[0], *bounds[0])


def _abs(model: SmtModel, node: Node, inputs: tuple[Terms, ...], bounds: tuple[Bounds, ...]) -> Terms:
    return model.piecewise(inputs[0], *bounds[0], [0.0], [lambda v: -v, lambda v: v])


def _leaky_relu(model: SmtModel, node: Node, inputs: tuple[Terms, ...], bounds: tuple[Bounds, ...]) -> Terms:
    alpha = model.rational(op_of(node, LeakyRelu).alpha)
    return model.piecewise(inputs[0], *bounds[0], [0.0], [lambda v: alpha * v, lambda v: v])


def _clip(model: SmtModel, node: Node, inputs: tuple[Terms, ...], bounds: tuple[Bounds, ...]) -> Terms:
    op = op_of(node, Clip)
    kinks = [k for k in (op.low, op.high) if k is not None]
    pieces: list[Callable[[z3.ArithRef], z3.ArithRef]] = [lambda v: v]
    if op.low is not None:
        low = model.rational(op.low)
        pieces.insert(0, lambda _: low)
    if op.high is not None:
        high = model.rational(op.high)
        pieces.append(lambda _: high)
    return model.piecewise(inputs[0], *bounds[0], kinks, pieces)


def _max_pool(model: SmtModel, node: Node, inputs: tuple[Terms, ...], bounds: tuple[Bounds, ...]) -> Terms:
    return model.maximum(inputs[0], *bounds[0], op_of(node, MaxPool).windows)


def _sign(model: SmtModel, node: Node, inputs: tuple[Terms, ...], bounds: tuple[Bounds, ...]) -> Terms:
    lower, upper = model.bounded(inputs[0], *bounds[0])
    one, zero = z3.RealVal(1, model.context), z3.RealVal(0, model.context)
    out: Terms = []
    for xi, lo, hi in zip(inputs[0], lower, upper, strict=True):
        if lo > 0 or hi < 0:
            out.append(one if lo > 0 else -one)
            continue
        model.splits += 1
        out.append(z3.If(xi > zero, one, z3.If(xi < zero, -one, zero, model.context), model.context))
    return out


ENCODERS: Mapping[str, SmtEncoder] = MappingProxyType(
    {"Relu": _relu, "Abs": _abs, "LeakyRelu": _leaky_relu, "Clip": _clip, "MaxPool": _max_pool, "Sign": _sign}
)
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
    model: SmtModel,
    A: np.ndarray,
    b: np.ndarray,
    strict: np.ndarray,
    v: Sequence[z3.ArithRef],
    products: Sequence[Sequence[tuple[float, Factors]]] | None = None,
) -> list[z3.BoolRef]:
    """``A v + products(v) <= b`` (``<`` on strict rows), exactly; ``products`` lists each
    row's product terms (see ``solvers.exact.clause_products``)."""
    rows = []
    for r, (a_row, b_i, s) in enumerate(zip(A, b, strict, strict=True)):
        nonzero = np.flatnonzero(a_row)
        terms = [model.rational(a_row[j]) * v[int(j)] for j in nonzero]
        for coeff, factors in products[r] if products is not None else ():
            terms.append(z3.Product([model.rational(coeff), *(v[i] for i, p in factors for _ in range(p))]))
        lhs = z3.Sum(terms) if terms else z3.RealVal(0, model.context)
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
    except (CannotEncode, UnboundedInput) as error:
        return ExactResult(ExactOutcome.UNKNOWN, reason=str(error))

    def condition(tighten: float) -> z3.BoolRef:
        clauses = []
        for clause in range(objective.clauses):
            C, d, strict = clause_rows(objective, clause)
            rows = _rows(model, C, d - tighten * (1 + np.abs(d)), strict, y, clause_products(objective, clause))
            clauses.append(z3.And(rows, context))
        return z3.Or(clauses, context)

    solver = z3.Solver(ctx=context)
    solver.add(*facts, *model.assertions, condition(0.0))
    left = remaining(deadline)
    if left <= 0:
        return ExactResult(ExactOutcome.TIMEOUT, reason="deadline before z3 started")
    solver.set("timeout", max(int(left * 1000), 1))
    timer = threading.Timer(left, context.interrupt)
    timer.start()
    started = time.monotonic()
    try:
        answer = solver.check()
    finally:
        timer.cancel()
    first_check = time.monotonic() - started
    if answer == z3.unsat:
        return ExactResult(ExactOutcome.PROVED, reason=f"z3: unsat ({model.splits} case splits)")
    if answer == z3.sat:
        # the interrupt may fire as a check returns: z3 then refuses to read the model
        try:
            candidate = _point(solver.model(), x)
        except z3.Z3Exception:
            return ExactResult(ExactOutcome.TIMEOUT, reason="z3 was interrupted at the deadline")
        interior = ""
        if options.interior > 0 and remaining(deadline) > 0:
            solver.add(condition(options.interior))
            budget = min(remaining(deadline), max(options.interior_time, 2 * first_check))
            solver.set("timeout", max(int(budget * 1000), 1))
            timer = threading.Timer(budget, context.interrupt)
            timer.start()
            try:
                with contextlib.suppress(z3.Z3Exception):  # interrupted: the first point stands
                    if solver.check() == z3.sat:
                        candidate = _point(solver.model(), x)
                        interior = f", {options.interior:g} inside the condition"
            finally:
                timer.cancel()
        return ExactResult(ExactOutcome.FOUND, candidate, reason=f"z3: sat{interior}")
    if remaining(deadline) <= 0:
        return ExactResult(ExactOutcome.TIMEOUT, reason="z3 timed out")
    return ExactResult(ExactOutcome.UNKNOWN, reason=f"z3: {solver.reason_unknown()}")


def _point(witness: z3.ModelRef, x: Terms) -> np.ndarray:
    """The model's input point, as floats."""
    return np.array([_to_float(witness.eval(xi, model_completion=True)) for xi in x])


def _to_float(value: z3.ExprRef) -> float:
    """A rational model value as the nearest float; an algebraic one (a root, from
    polynomial rows) through a rational within 1e-20 of it."""
    if isinstance(value, z3.AlgebraicNumRef):
        value = value.approx(20)
    if not isinstance(value, z3.RatNumRef):
        raise TypeError(f"z3 model value {value} is not a rational")
    return float(Fraction(value.numerator_as_long(), value.denominator_as_long()))
