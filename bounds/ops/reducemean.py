"""ReduceMean over constant axes (see ``reduce``)."""

from __future__ import annotations

from bounds.ops.base import NodeContext, Op
from bounds.ops.reduce import build_reduction

ONNX_TYPE = "ReduceMean"


def build(ctx: NodeContext) -> Op:
    return build_reduction(ctx, mean=True)
