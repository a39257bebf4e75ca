"""MatMul with one constant operand (numpy matmul semantics, batched leading axes)."""

from __future__ import annotations

import numpy as np

from bounds.errors import ShapeError
from bounds.ops.base import Affine, NodeContext, Op, Shape, Tensor, UnsupportedForm, as_tensor, pad_rank
from bounds.ops.gemm import Dense

ONNX_TYPE = "MatMul"


class LeftMultiply(Affine):
    """``W @ x`` for a constant W and a variable x of rank >= 2."""

    def __init__(self, weight: np.ndarray, input_shape: Shape) -> None:
        try:
            self.output_shape = tuple(np.matmul(np.zeros(weight.shape), np.zeros(input_shape)).shape)
        except ValueError as error:
            raise ShapeError(f"cannot multiply {list(weight.shape)} by {list(input_shape)}") from error
        self.input_shape = input_shape
        self.weight = as_tensor(weight)
        self.abs_weight = self.weight.abs()

    def _padded(self, x: Tensor) -> Tensor:
        # Keep the batch axis in front when W has more axes than x: view x as (batch, 1.., *shape).
        return pad_rank(x, self.input_shape, max(self.weight.ndim, len(self.input_shape)))

    def linear(self, x: Tensor) -> Tensor:
        return self.weight @ self._padded(x)

    def abs_linear(self, x: Tensor) -> Tensor:
        return self.abs_weight @ self._padded(x)

    def evaluate(self, *xs: Tensor) -> Tensor:
        return self.linear(xs[0])


def build(ctx: NodeContext) -> Op:
    a, b = ctx.operands
    if b.value is not None and a.value is None:
        if b.value.ndim != 2:
            raise UnsupportedForm("constant right operand must be a matrix")
        return Dense(a.shape, b.value, None)
    if a.value is not None and b.value is None:
        if len(b.shape) < 2:
            raise UnsupportedForm("variable right operand must have rank >= 2")
        return LeftMultiply(a.value, b.shape)
    raise UnsupportedForm("exactly one operand must be constant")
