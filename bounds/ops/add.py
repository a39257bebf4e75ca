"""Add: with a constant operand an affine shift, else the sum of two variables."""

from __future__ import annotations

import numpy as np

from bounds.ops.base import NodeContext, Op, ScaleShift, SumOfTwo, UnsupportedForm

ONNX_TYPE = "Add"


def build(ctx: NodeContext) -> Op:
    a, b = ctx.operands
    if a.value is None and b.value is None:
        return SumOfTwo(a.shape, b.shape, 1.0)
    if a.value is None and b.value is not None:
        return ScaleShift(a.shape, np.ones(()), b.value)
    if b.value is None and a.value is not None:
        return ScaleShift(b.shape, np.ones(()), a.value)
    raise UnsupportedForm("both operands constant (should have been folded)")
