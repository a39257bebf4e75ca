"""Div by a constant: scaling by its reciprocal. Division by a variable is not supported."""

from __future__ import annotations

import numpy as np

from bounds.ops.base import NodeContext, Op, ScaleShift, UnsupportedForm

ONNX_TYPE = "Div"


def build(ctx: NodeContext) -> Op:
    a, b = ctx.operands
    if b.value is None:
        raise UnsupportedForm("divisor is not constant")
    if a.value is not None:
        raise UnsupportedForm("both operands constant (should have been folded)")
    if np.any(b.value == 0):
        raise UnsupportedForm("divisor has zeros")
    return ScaleShift(a.shape, 1.0 / np.asarray(b.value, dtype=np.float64), np.zeros(()))
