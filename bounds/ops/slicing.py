"""Slice (starts/ends/axes as attributes before opset 10, constant inputs from 10, any steps):
a selection of input elements (see ``selection``)."""

from __future__ import annotations

from bounds.ops.base import NodeContext, Op
from bounds.ops.selection import selection_of

ONNX_TYPE = "Slice"


def build(ctx: NodeContext) -> Op:
    return selection_of(ctx, {0})
