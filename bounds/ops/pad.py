"""Pad (constant, reflect, edge or wrap; pads as an attribute before opset 11, an input from 11):
a selection of input elements and the fill value, so exact (see ``selection``).

Negative pads (cropping) are an unsupported form: ONNX's reference evaluator, which
derives the selection, does not implement them.
"""

from __future__ import annotations

import numpy as np

from bounds.ops.base import NodeContext, Op, UnsupportedForm
from bounds.ops.selection import selection_of

ONNX_TYPE = "Pad"


def build(ctx: NodeContext) -> Op:
    pads = ctx.attr("pads") if ctx.opset < 11 else ctx.constant(1)
    if pads is not None and np.any(np.asarray(pads) < 0):
        raise UnsupportedForm("negative pads")
    return selection_of(ctx, {0})
