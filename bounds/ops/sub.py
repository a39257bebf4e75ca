"""Sub: ``a - b``; affine when one side is constant, else a difference of variables."""

from __future__ import annotations

import numpy as np

from bounds.ops.base import NodeContext, Op, ScaleShift, SumOfTwo, UnsupportedForm

ONNX_TYPE = "Sub"


def build(ctx: NodeContext) -> Op:
    a, b = ctx.operands
    if a.value is None and b.value is None:
        return SumOfTwo(a.shape, b.shape, -1.0)
    if b.value is not None and a.value is None:
        return ScaleShift(a.shape, np.ones(()), -b.value)
    if a.value is not None and b.value is None:
        return ScaleShift(b.shape, -np.ones(()), a.value)
    raise UnsupportedForm("both operands constant (should have been folded)")
