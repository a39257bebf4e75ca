"""Gather with constant indices from a variable tensor: a selection (see ``selection``).

Gathers from constant data (shape plumbing) fold away at import; variable indices are an
unsupported form."""

from __future__ import annotations

from bounds.ops.base import NodeContext, Op
from bounds.ops.selection import selection_of

ONNX_TYPE = "Gather"


def build(ctx: NodeContext) -> Op:
    return selection_of(ctx, {0})
