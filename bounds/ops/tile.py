"""Tile by constant repeats: a selection (see ``selection``)."""

from __future__ import annotations

from bounds.ops.base import NodeContext, Op
from bounds.ops.selection import selection_of

ONNX_TYPE = "Tile"


def build(ctx: NodeContext) -> Op:
    return selection_of(ctx, {0})
