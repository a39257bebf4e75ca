"""Where with a constant condition: elementwise choice between two tensors (variable or
constant), a selection (see ``selection``). A variable condition is an unsupported form."""

from __future__ import annotations

from bounds.ops.base import NodeContext, Op
from bounds.ops.selection import selection_of

ONNX_TYPE = "Where"


def build(ctx: NodeContext) -> Op:
    return selection_of(ctx, {1, 2})
