"""Identity: the input unchanged."""

from __future__ import annotations

from bounds.ops.base import NodeContext, Op, Reshaped, single_variable

ONNX_TYPE = "Identity"


def build(ctx: NodeContext) -> Op:
    shape = single_variable(ctx).shape
    return Reshaped(shape, shape)
