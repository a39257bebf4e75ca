"""A proven bound on how far the network executed in floating point can be from the same
network over the reals, for every float input in a box.

The bounds in this package are real-arithmetic bounds. The model as onnxruntime runs it
computes every node in its element type (float32), rounding as it goes. This module
propagates, alongside interval bounds, an elementwise bound ``e >= |v_float - v_real|`` on
every tensor, so that ``|f_float(x) - f(x)| <= e_out`` for every input ``x`` of the
element type inside the box. The input itself carries no error: the model's inputs are
float values, and a float point of the box is a point of the box (the checker rounds
candidates into the box the same way).

Rules (``u`` the unit roundoff, ``gamma_k = k u / (1 - k u)``; Higham, *Accuracy and
Stability of Numerical Algorithms*, 2002, ch. 3):

- a dot product of length n plus bias, in any summation order, with or without FMA:
  ``|fl(w.x^ + b) - (w.x + b)| <= |w|.|x^ - x| + gamma_{n+1} (|w|.|x^| + |b|)``
  (Gemm and MatMul with constant weights; Conv computed as dot products, as onnxruntime's
  CPU kernels do, not by Winograd or FFT). Gemm's ``alpha`` and ``beta``, folded into its
  weights and rounded, count as two more roundings each. Weights must be float values, and
  a BatchNormalization folded into a layer (``Graph.folded``) makes no claim.
- sums over windows or axes (AveragePool, GlobalAveragePool, ReduceSum, ReduceMean): a dot
  product with 0/1 weights of length at most the input size, then a division.
- one correctly rounded operation (Add, Sub, Mul, Div, Neg with a constant, Add and Sub
  of two variables, the product of two variables): the propagated error plus ``u |result|``.
- Relu, Abs, Clip, MaxPool and data movement are 1-Lipschitz and exact: the error passes
  through (moved like the data; constants filled in carry none); a Relu whose real and float
  inputs are surely negative stops it. LeakyRelu: Lipschitz
  ``max(1, |alpha|)`` plus one rounding.
- Sigmoid and Tanh: ONNX does not specify their float accuracy. We *assume* the kernel is
  within ``ASSUMED_ULPS`` ulps of 1 (absolute ``ASSUMED_ULPS * u``), plus the Lipschitz
  term (1/4 and 1). This is an assumption about onnxruntime, not a proof.
- every rounding may also lose ``tiny`` (the smallest normal value) absolutely, which
  covers underflow with or without flush-to-zero. A value that may exceed the largest
  float makes the error infinite (overflow).

Any other op (BatchNormalization left standalone, Cast, Sign, Pow, Softmax...) has no rule:
``refusals`` names it and ``output_error`` is infinite, so nothing is claimed for float.
The float64 rounding of our own bound computation is not covered here; the solvers'
relative PROOF_MARGIN is meant for that.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import torch

from bounds.graph import Graph, Node
from bounds.interval import propagate
from bounds.ops.base import DTYPE, Affine, Interval, ScaleShift, SumOfTwo, Tensor
from bounds.ops.conv import Conv
from bounds.ops.gemm import Dense
from bounds.ops.leakyrelu import LeakyRelu
from bounds.ops.matmul import LeftMultiply
from bounds.ops.mul import Product
from bounds.ops.selection import Selection

ASSUMED_ULPS = 4
"""Assumed absolute accuracy of Sigmoid and Tanh kernels, in units of ``u`` (see above)."""


@dataclass(frozen=True)
class Arithmetic:
    """A floating-point format: unit roundoff, smallest normal and largest finite value."""

    u: float
    tiny: float
    largest: float

    def gamma(self, k: int) -> float:
        """Higham's ``gamma_k = k u / (1 - k u)``: the relative error of k roundings."""
        if k * self.u >= 1:
            return torch.inf
        return k * self.u / (1 - k * self.u)


ARITHMETIC = {
    name: Arithmetic(float(np.finfo(name).eps) / 2, float(np.finfo(name).tiny), float(np.finfo(name).max))
    for name in ("float32", "float64")
}
"""Formats with rules, keyed by ONNX element type as ``TensorInfo`` spells it."""


@dataclass(frozen=True)
class _Value:
    """A tensor's real-arithmetic bounds and its float error bound, both (batch, *shape)."""

    bounds: Interval
    error: Tensor

    @property
    def magnitude(self) -> Tensor:
        """A bound on ``|v_float|``."""
        return _magnitude(self.bounds) + self.error


_Rule = Callable[[Node, Arithmetic, tuple[_Value, ...], Interval], Tensor]
"""(node, format, input values, the output's real bounds) -> the output's error bound."""


def _magnitude(bounds: Interval) -> Tensor:
    """A bound on ``|v|`` for v within the bounds."""
    return torch.maximum(bounds.lower.abs(), bounds.upper.abs())


def _rounded(f: Arithmetic, propagated: Tensor, out: Interval, roundings: int = 1) -> Tensor:
    """``roundings`` correctly rounded operations on a result whose exact value lies within
    ``out`` widened by ``propagated``."""
    return propagated + f.gamma(roundings) * (_magnitude(out) + propagated) + roundings * f.tiny


def _passed(node: Node, f: Arithmetic, xs: tuple[_Value, ...], out: Interval) -> Tensor:
    """Exact data movement and 1-Lipschitz exact ops: the error moves with the data."""
    return node.op.evaluate(*(x.error for x in xs))


def _selected(node: Node, f: Arithmetic, xs: tuple[_Value, ...], out: Interval) -> Tensor:
    """A gather with constants filled in: error moves with the data, constants carry none."""
    op = node.op
    if not isinstance(op, Selection):
        raise _NoRule(f"{node.op_type} node {node.name!r} is not a selection")
    moved = op.evaluate(*(x.error for x in xs))
    return torch.where(op.selected.reshape(op.output_shape), moved, torch.zeros((), dtype=DTYPE))


def _same(node: Node, f: Arithmetic, xs: tuple[_Value, ...], out: Interval) -> Tensor:
    """Exact, 1-Lipschitz elementwise ops (Abs, Clip)."""
    return xs[0].error


def _relu(node: Node, f: Arithmetic, xs: tuple[_Value, ...], out: Interval) -> Tensor:
    """Exact and 1-Lipschitz; where both the real and the float input are surely negative,
    both outputs are 0 and the error stops."""
    (x,) = xs
    return torch.where(x.bounds.upper + x.error < 0, torch.zeros((), dtype=DTYPE), x.error)


def _dot_length(node: Node) -> int:
    op = node.op
    if isinstance(op, Dense):
        # Gemm: alpha * (A @ B) and beta * C round, and so did the folded weights alpha * B, beta * C.
        return int(op.weight.shape[0]) + (4 if node.op_type == "Gemm" else 0)
    if isinstance(op, LeftMultiply):
        return int(op.weight.shape[-1])
    if isinstance(op, Conv):
        return int(op.weight[0].numel())
    raise _NoRule(f"{node.op_type} node {node.name!r} has no dot-product form")


def _weights_exact(node: Node, dtype: str) -> str | None:
    """Why the node's weights are not values of the format (None when they are)."""
    op = node.op
    for name in ("weight", "bias"):
        value = getattr(op, name, None)
        if isinstance(value, Tensor):
            array = value.numpy()
            if not np.array_equal(array.astype(dtype).astype(np.float64), array):
                return f"{node.op_type} node {node.name!r} has {name}s that are not {dtype} values (folded constants?)"
    return None


def _dot(node: Node, f: Arithmetic, xs: tuple[_Value, ...], out: Interval) -> Tensor:
    """``|W| e + gamma_{n+1} (|W| |x^| + |b|)`` for dot products of length n plus a bias."""
    op = node.op
    if not isinstance(op, Affine):
        raise _NoRule(f"{node.op_type} node {node.name!r} is not affine")
    (x,) = xs
    k = _dot_length(node) + 1
    bias = op.evaluate(torch.zeros_like(x.error[:1])).abs()
    return op.abs_linear(x.error) + f.gamma(k) * (op.abs_linear(x.magnitude) + bias) + 2 * k * f.tiny


def _reduction(node: Node, f: Arithmetic, xs: tuple[_Value, ...], out: Interval) -> Tensor:
    """Sums of at most n inputs then a scaling (by the reciprocal, itself rounded, or a division)."""
    op = node.op
    if not isinstance(op, Affine):
        raise _NoRule(f"{node.op_type} node {node.name!r} is not affine")
    (x,) = xs
    k = int(x.error[0].numel()) + 2
    return op.abs_linear(x.error) + f.gamma(k) * op.abs_linear(x.magnitude) + 2 * k * f.tiny


def _scale_shift(node: Node, f: Arithmetic, xs: tuple[_Value, ...], out: Interval) -> Tensor:
    """One operation with a constant (``x*c``, ``x/c``, ``x+c``, ``x-c``, ``-x``): one rounding;
    Div's scale is the float64 reciprocal, so it gets a second for that."""
    op = node.op
    if isinstance(op, ScaleShift):
        return _rounded(f, op.abs_linear(xs[0].error), out, 2 if node.op_type == "Div" else 1)
    if isinstance(op, SumOfTwo):
        a, b = xs
        return _rounded(f, op.evaluate(a.error, op.sign * b.error), out)
    if isinstance(op, Product):
        a, b = xs
        propagated = op.evaluate(a.magnitude, b.error) + op.evaluate(a.error, _magnitude(b.bounds))
        return _rounded(f, propagated, out)
    raise _NoRule(f"{node.op_type} node {node.name!r} has no float error rule for its form")


def _leaky(node: Node, f: Arithmetic, xs: tuple[_Value, ...], out: Interval) -> Tensor:
    op = node.op
    if not isinstance(op, LeakyRelu):
        raise _NoRule(f"LeakyRelu node {node.name!r} has an unexpected form")
    return _rounded(f, max(1.0, abs(op.alpha)) * xs[0].error, out)


def _assumed(lipschitz: float) -> _Rule:
    """An elementwise op of unspecified accuracy: Lipschitz term plus ASSUMED_ULPS * u."""

    def rule(node: Node, f: Arithmetic, xs: tuple[_Value, ...], out: Interval) -> Tensor:
        return lipschitz * xs[0].error + ASSUMED_ULPS * f.u + f.tiny

    return rule


_DATA_MOVEMENT = ("Flatten", "Reshape", "Squeeze", "Unsqueeze", "Identity", "Transpose", "MaxPool")
_SELECTION = ("Pad", "Slice", "Gather", "Expand", "Tile", "Concat", "Split", "Where")

RULES: Mapping[str, _Rule] = {
    **dict.fromkeys(_DATA_MOVEMENT, _passed),
    **dict.fromkeys(_SELECTION, _selected),
    **dict.fromkeys(("Abs", "Clip"), _same),
    "Relu": _relu,
    **dict.fromkeys(("Gemm", "MatMul", "Conv"), _dot),
    **dict.fromkeys(("AveragePool", "GlobalAveragePool", "ReduceSum", "ReduceMean"), _reduction),
    **dict.fromkeys(("Add", "Sub", "Mul", "Div", "Neg"), _scale_shift),
    "LeakyRelu": _leaky,
    "Sigmoid": _assumed(0.25),
    "Tanh": _assumed(1.0),
}
"""Float error rules by ONNX op type; an op type missing here makes no float claim."""

_WEIGHTED = frozenset({"Gemm", "MatMul", "Conv"})


class _NoRule(Exception):
    """A node whose form the rules do not cover (the message says which)."""


def refusals(graph: Graph) -> list[str]:
    """Why float execution of the graph is not covered: one line per reason; empty when every
    node has a rule for its form, weights are values of the format, and the inputs have one
    element type with rules. Forms are checked by one propagation over the zero point."""
    types = sorted({info.element_type for info in graph.inputs})
    if len(types) != 1 or types[0] not in ARITHMETIC:
        return [f"input element types {', '.join(types)} have no float error rules"]
    missing = sorted({node.op_type for node in graph.nodes if node.op_type not in RULES} | graph.folded)
    if missing:
        return [f"no float error rule for {', '.join(missing)}"]
    reasons = [r for node in graph.nodes if node.op_type in _WEIGHTED and (r := _weights_exact(node, types[0]))]
    zero = {info.name: Interval.point(torch.zeros(1, *info.shape, dtype=DTYPE)) for info in graph.inputs}
    try:
        _propagate(graph, ARITHMETIC[types[0]], zero, {})
    except _NoRule as error:
        reasons.append(str(error))
    return reasons


def output_error(
    graph: Graph, lower: Tensor, upper: Tensor, node_bounds: Mapping[str, Interval] | None = None
) -> Tensor:
    """Bounds (batch, n_out) on ``|f_float(x) - f(x)|`` at the flat output of a
    single-input graph, for every input x of the element type in each flat box
    (batch, n_in); see ``tensor_errors``."""
    info = graph.input
    batch = lower.shape[0]
    box = Interval(lower.to(DTYPE).reshape(batch, *info.shape), upper.to(DTYPE).reshape(batch, *info.shape))
    return tensor_errors(graph, {info.name: box}, node_bounds)[graph.output.name].reshape(batch, -1)


def tensor_errors(
    graph: Graph, boxes: Mapping[str, Interval], node_bounds: Mapping[str, Interval] | None = None
) -> dict[str, Tensor]:
    """Bounds on ``|v_float - v_real|`` for every tensor, each (batch, *shape), for every
    float input within the input boxes (name -> batched box); ``inf`` where nothing can be
    claimed (``refusals`` says why) or values may overflow.

    Real bounds come from interval propagation, intersected with ``node_bounds`` (tensor
    name -> bounds, batch as the boxes, any layout of the right size) where given: tighter
    bounds (CROWN's) give a smaller error.
    """
    types = {info.element_type for info in graph.inputs}
    dtype = types.pop() if len(types) == 1 else ""
    if (
        dtype in ARITHMETIC
        and not graph.folded
        and all(node.op_type in RULES for node in graph.nodes)
        and not any(_weights_exact(node, dtype) for node in graph.nodes if node.op_type in _WEIGHTED)
    ):
        try:
            return _propagate(graph, ARITHMETIC[dtype], boxes, node_bounds or {})
        except _NoRule:
            pass
    return _unknown(graph, boxes)


def _unknown(graph: Graph, boxes: Mapping[str, Interval]) -> dict[str, Tensor]:
    batch = next(iter(boxes.values())).lower.shape[0]
    return {name: torch.full((batch, *shape), torch.inf, dtype=DTYPE) for name, shape in graph.shapes.items()}


@torch.no_grad()
def _propagate(
    graph: Graph, f: Arithmetic, boxes: Mapping[str, Interval], node_bounds: Mapping[str, Interval]
) -> dict[str, Tensor]:
    bounds = propagate(graph, boxes)
    for name, given in node_bounds.items():
        if name in bounds:
            own = bounds[name]
            shaped = Interval(given.lower.reshape(own.lower.shape), given.upper.reshape(own.upper.shape))
            bounds[name] = own.intersect(shaped)
    errors = {name: torch.zeros_like(box.lower) for name, box in boxes.items()}
    for node in graph.nodes:
        xs = tuple(_Value(bounds[name], errors[name]) for name in node.inputs)
        out = bounds[node.output]
        error = RULES[node.op_type](node, f, xs, out).expand_as(out.lower)
        errors[node.output] = torch.where(_magnitude(out) + error < f.largest, error, torch.inf)
    return errors
