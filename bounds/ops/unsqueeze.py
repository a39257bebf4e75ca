"""Unsqueeze: insert size-1 axes (an attribute before opset 13, an input after)."""

from __future__ import annotations

from bounds.ops.base import (
    NodeContext,
    Op,
    Reshaped,
    UnsupportedForm,
    axes_argument,
    normalise_axes,
    single_variable,
)

ONNX_TYPE = "Unsqueeze"


def build(ctx: NodeContext) -> Op:
    shape = single_variable(ctx).shape
    axes = axes_argument(ctx)
    if axes is None:
        raise UnsupportedForm("axes are not constant")
    rank = len(shape) + len(axes)
    inserted = normalise_axes(axes, rank)
    dims = iter(shape)
    return Reshaped(shape, tuple(1 if i in inserted else next(dims) for i in range(rank)))
