"""Split: one tensor into several along an axis (sizes from the ``split`` attribute before
opset 13, an input from 13, ``num_outputs`` from 18, or equal parts).

The graph IR has one output per node, so the importer turns a Split node into one node per
output, each a selection of its part of the input (the Slice it amounts to).
"""

from __future__ import annotations

from bounds.ops.base import NodeContext, Op
from bounds.ops.selection import selection_of

ONNX_TYPE = "Split"


def build_outputs(ctx: NodeContext) -> tuple[Op, ...]:
    """One op per output of the node, in output order."""
    return tuple(selection_of(ctx, {0}, k) for k in range(len(ctx.node.output)))
