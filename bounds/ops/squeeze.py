"""Squeeze: drop size-1 axes (given as an attribute before opset 13, an input after)."""

from __future__ import annotations

from bounds.errors import ShapeError
from bounds.ops.base import NodeContext, Op, Reshaped, axes_argument, normalise_axes, single_variable

ONNX_TYPE = "Squeeze"


def build(ctx: NodeContext) -> Op:
    shape = single_variable(ctx).shape
    axes = axes_argument(ctx)
    if axes is None:
        drop = tuple(i for i, d in enumerate(shape) if d == 1)
    else:
        drop = normalise_axes(axes, len(shape))
        if any(shape[a] != 1 for a in drop):
            raise ShapeError(f"Squeeze axes {list(axes)} are not of size 1 in {list(shape)}")
    return Reshaped(shape, tuple(d for i, d in enumerate(shape) if i not in drop))
