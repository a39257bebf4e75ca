"""GlobalAveragePool: the mean over all spatial axes, kept as 1s. Affine, nonnegative."""

from __future__ import annotations

from bounds.errors import ShapeError
from bounds.ops.base import Affine, NodeContext, Op, Shape, Tensor, single_variable

ONNX_TYPE = "GlobalAveragePool"


class GlobalAveragePool(Affine):
    def __init__(self, input_shape: Shape) -> None:
        if len(input_shape) < 3:
            raise ShapeError(f"GlobalAveragePool needs an (N, C, *spatial) input, got {list(input_shape)}")
        self.axes = tuple(range(3, len(input_shape) + 1))
        self.output_shape = (*input_shape[:2], *([1] * (len(input_shape) - 2)))

    def linear(self, x: Tensor) -> Tensor:
        return x.mean(dim=self.axes, keepdim=True)

    def abs_linear(self, x: Tensor) -> Tensor:
        return self.linear(x)

    def evaluate(self, *xs: Tensor) -> Tensor:
        return self.linear(xs[0])


def build(ctx: NodeContext) -> Op:
    return GlobalAveragePool(single_variable(ctx).shape)
