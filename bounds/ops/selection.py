"""Selection: ops whose every output element is one input element or a constant.

Pad (any mode), Slice, Gather with constant indices, Expand, Tile, Concat and the pieces of
Split all have this form once their shape-like inputs are constant. Rather than re-derive
each op's indexing rules (and their differences across opsets), ``selection_of`` runs the
node once through ONNX's reference evaluator on the *positions* of the variable elements
(float64 ``arange``, exact up to 2**53) and once on NaN, and reads off which input element,
or which constant, each output element is. The op is then a gather: exact, affine and
monotone.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import numpy as np
import torch

from bounds.ops.base import DTYPE, Interval, NodeContext, Op, Shape, Tensor, UnsupportedForm
from bounds.ops.reference import run_node


class Selection(Op):
    """``y[i] = x[index[i]]`` over the flattened, concatenated variable inputs, or ``fill[i]``
    where ``index[i] < 0``."""

    affine = True

    def __init__(self, input_shapes: Sequence[Shape], index: np.ndarray, fill: np.ndarray) -> None:
        self.input_shapes = tuple(tuple(s) for s in input_shapes)
        self.output_shape = tuple(int(d) for d in index.shape)
        flat = index.reshape(-1)
        self.selected = torch.as_tensor(flat >= 0)
        self.index = torch.as_tensor(np.maximum(flat, 0), dtype=torch.int64)
        self.fill = torch.as_tensor(np.where(flat >= 0, 0.0, fill.reshape(-1)), dtype=DTYPE)
        self.has_fill = not bool(self.selected.all())

    def evaluate(self, *xs: Tensor) -> Tensor:
        batch = xs[0].shape[0]
        flat = torch.cat([x.reshape(batch, -1) for x in xs], dim=1) if len(xs) > 1 else xs[0].reshape(batch, -1)
        out = flat[:, self.index]
        if self.has_fill:
            out = torch.where(self.selected, out, self.fill)
        return out.reshape(batch, *self.output_shape)

    def interval(self, *xs: Interval) -> Interval:
        return Interval(self.evaluate(*(x.lower for x in xs)), self.evaluate(*(x.upper for x in xs)))

    def linear_map(self, input_shape: Shape) -> tuple[Tensor, Tensor] | None:
        if len(self.input_shapes) != 1:
            return None
        n_in = int(np.prod(input_shape, dtype=np.int64))
        matrix = torch.zeros(self.index.shape[0], n_in, dtype=DTYPE)
        rows = torch.nonzero(self.selected).reshape(-1)
        matrix[rows, self.index[rows]] = 1.0
        return matrix, self.fill.clone()


def selection_of(ctx: NodeContext, variable_positions: Collection[int], output: int = 0) -> Selection:
    """The ``Selection`` computing output ``output`` of the node.

    Only inputs at ``variable_positions`` may be variable; the others (shapes, indices, pads,
    fill values) must be constant, else the node is an unsupported form.
    """
    for position, operand in enumerate(ctx.operands):
        if position not in variable_positions and not operand.is_constant and not operand.is_omitted:
            raise UnsupportedForm(f"input {position} ({operand.name!r}) must be constant")
    variables = [o for o in ctx.operands if not o.is_constant and not o.is_omitted]
    if not variables:
        raise UnsupportedForm("no variable input (should have been folded)")
    positions: dict[str, np.ndarray] = {}
    unknown: dict[str, np.ndarray] = {}
    offset = 0
    for operand in variables:
        size = int(np.prod(operand.shape, dtype=np.int64))
        positions[operand.name] = np.arange(offset, offset + size, dtype=np.float64).reshape(operand.shape)
        unknown[operand.name] = np.full(operand.shape, np.nan)
        offset += size
    # Float constants (fill values, the other branch of Where) in float64 like the traced input.
    constants = {
        o.name: o.value.astype(np.float64) if o.value.dtype.kind == "f" else o.value
        for o in ctx.operands
        if o.value is not None
    }
    try:
        traced = np.asarray(run_node(ctx.node, ctx.opset, {**constants, **positions})[output], dtype=np.float64)
        filled = np.asarray(run_node(ctx.node, ctx.opset, {**constants, **unknown})[output], dtype=np.float64)
    except Exception as error:  # the reference evaluator raises many types on bad attributes
        raise UnsupportedForm(f"cannot evaluate the node's indexing: {error}") from error
    chosen = np.isnan(filled)
    index = np.where(chosen, traced, -1.0)
    if traced.shape != filled.shape or not np.array_equal(index, np.round(index)) or index.max(initial=-1) >= offset:
        raise UnsupportedForm("not a pure selection of input elements")
    if not np.array_equal(np.where(chosen, 0.0, traced), np.where(chosen, 0.0, filled)):
        raise UnsupportedForm("not a pure selection of input elements")
    return Selection([o.shape for o in variables], index.astype(np.int64), np.where(chosen, 0.0, filled))
