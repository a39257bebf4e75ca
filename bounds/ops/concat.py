"""Concat of variable and constant tensors: a selection over all variable inputs
(affine in them jointly; see ``selection``)."""

from __future__ import annotations

from bounds.ops.base import NodeContext, Op
from bounds.ops.selection import selection_of

ONNX_TYPE = "Concat"


def build(ctx: NodeContext) -> Op:
    return selection_of(ctx, range(len(ctx.operands)))
