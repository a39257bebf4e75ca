"""Neg: ``-x``."""

from __future__ import annotations

import numpy as np

from bounds.ops.base import NodeContext, Op, ScaleShift, single_variable

ONNX_TYPE = "Neg"


def build(ctx: NodeContext) -> Op:
    return ScaleShift(single_variable(ctx).shape, -np.ones(()), np.zeros(()))
