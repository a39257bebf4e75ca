"""Reshape to a constant target shape (``0`` copies a dimension, ``-1`` is inferred)."""

from __future__ import annotations

import math

from bounds.errors import ShapeError
from bounds.ops.base import NodeContext, Op, Reshaped, UnsupportedForm, single_variable

ONNX_TYPE = "Reshape"


def build(ctx: NodeContext) -> Op:
    shape = single_variable(ctx).shape
    target = ctx.constant(1)
    if target is None:
        raise UnsupportedForm("target shape is not constant")
    allow_zero = bool(ctx.attr("allowzero", 0))
    dims = [int(d) for d in target.reshape(-1)]
    if not allow_zero and any(d == 0 and i >= len(shape) for i, d in enumerate(dims)):
        raise ShapeError(f"Reshape target {dims} copies a dimension that {list(shape)} does not have")
    out = [shape[i] if d == 0 and not allow_zero else d for i, d in enumerate(dims)]
    if out.count(-1) > 1:
        raise ShapeError(f"Reshape target {dims} has more than one -1")
    if -1 in out:
        known = math.prod(d for d in out if d != -1)
        if known == 0 or math.prod(shape) % known:
            raise ShapeError(f"cannot reshape {list(shape)} to {dims}")
        out[out.index(-1)] = math.prod(shape) // known
    return Reshaped(shape, tuple(out))
