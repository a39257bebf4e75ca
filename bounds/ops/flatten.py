"""Flatten: collapse to 2-D at ``axis`` (default 1)."""

from __future__ import annotations

import math

from bounds.errors import ShapeError
from bounds.ops.base import NodeContext, Op, Reshaped, single_variable

ONNX_TYPE = "Flatten"


def build(ctx: NodeContext) -> Op:
    shape = single_variable(ctx).shape
    axis = int(ctx.attr("axis", 1))
    if axis < 0:
        axis += len(shape)
    if not 0 <= axis <= len(shape):
        raise ShapeError(f"Flatten axis {ctx.attr('axis')} out of range for rank {len(shape)}")
    return Reshaped(shape, (math.prod(shape[:axis]), math.prod(shape[axis:])))
