"""BatchNormalization at inference: a per-channel scale and shift (axis 1).

A BatchNormalization that directly follows a Conv or Gemm is folded into it at import
(bounds.passes); this op covers the rest.
"""

from __future__ import annotations

import numpy as np

from bounds.errors import ModelError
from bounds.ops.base import NodeContext, Op, ScaleShift, UnsupportedForm, single_variable

ONNX_TYPE = "BatchNormalization"


def scale_and_shift(ctx: NodeContext) -> tuple[np.ndarray, np.ndarray]:
    """The per-channel (scale, shift) of a BatchNormalization node with constant parameters."""
    params = [ctx.constant(i) for i in range(1, 5)]
    if any(p is None for p in params) or len(ctx.operands) != 5:
        raise UnsupportedForm("scale, bias, mean and variance must be constant")
    gamma, beta, mean, var = (np.asarray(p, dtype=np.float64) for p in params)
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = gamma / np.sqrt(var + float(ctx.attr("epsilon", 1e-5)))
    if not np.all(np.isfinite(scale)):
        raise ModelError(f"BatchNormalization {ctx.node.name!r}: variance + epsilon must be positive")
    return scale, beta - mean * scale


def build(ctx: NodeContext) -> Op:
    if ctx.attr("training_mode", 0):
        raise UnsupportedForm("training mode")
    shape = single_variable(ctx).shape
    scale, shift = scale_and_shift(ctx)
    trailing = (1,) * (len(shape) - 2)
    return ScaleShift(shape, scale.reshape(-1, *trailing), shift.reshape(-1, *trailing))
