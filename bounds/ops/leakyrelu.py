"""LeakyRelu: ``x`` for x >= 0, ``alpha*x`` below (default alpha 0.01; any sign allowed)."""

from __future__ import annotations

import numpy as np
import torch

from bounds.ops.base import Interval, NodeContext, Op, Relaxation, Shape, Tensor, single_variable
from bounds.ops.curves import interval_from_candidates, two_piece

ONNX_TYPE = "LeakyRelu"


class LeakyRelu(Op):
    def __init__(self, shape: Shape, alpha: float) -> None:
        self.output_shape = shape
        self.alpha = alpha

    def evaluate(self, *xs: Tensor) -> Tensor:
        x = xs[0]
        return torch.where(x >= 0, x, self.alpha * x)

    def interval(self, *xs: Interval) -> Interval:
        (x,) = xs
        return Interval(*interval_from_candidates(self.evaluate, x.lower, x.upper, 0.0))

    def relaxation(self, lower: Tensor, upper: Tensor) -> Relaxation:
        return two_piece(lower, upper, self.alpha, 1.0)


def build(ctx: NodeContext) -> Op:
    # ONNX float attributes are float32, and so is the default onnxruntime uses.
    return LeakyRelu(single_variable(ctx).shape, float(np.float32(ctx.attr("alpha", 0.01))))
