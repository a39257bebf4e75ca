"""Gemm: ``alpha * A' @ B' + beta * C`` with A the variable and B, C constant."""

from __future__ import annotations

import numpy as np

from bounds.errors import ShapeError
from bounds.ops.base import Affine, NodeContext, Op, Shape, Tensor, UnsupportedForm, as_tensor, broadcast_shape

ONNX_TYPE = "Gemm"


class Dense(Affine):
    """``x @ W + bias`` over the last axis of x (also the MatMul form with constant right side)."""

    def __init__(
        self, input_shape: Shape, weight: np.ndarray, bias: np.ndarray | None, transpose_input: bool = False
    ) -> None:
        rows = input_shape[::-1] if transpose_input else input_shape
        if not rows or weight.ndim != 2 or rows[-1] != weight.shape[0]:
            raise ShapeError(f"cannot multiply {list(rows)} by weight {list(weight.shape)}")
        out = (*rows[:-1], weight.shape[1])
        self.transpose_input = transpose_input
        self.weight = as_tensor(weight)
        self.abs_weight = self.weight.abs()
        self.bias = as_tensor(bias) if bias is not None else None
        if bias is not None and broadcast_shape(out, bias.shape) != out:
            raise ShapeError(f"bias {list(bias.shape)} does not broadcast to {list(out)}")
        self.output_shape = out

    def _rows(self, x: Tensor) -> Tensor:
        return x.transpose(-1, -2) if self.transpose_input else x

    def linear(self, x: Tensor) -> Tensor:
        return self._rows(x) @ self.weight

    def abs_linear(self, x: Tensor) -> Tensor:
        return self._rows(x) @ self.abs_weight

    def evaluate(self, *xs: Tensor) -> Tensor:
        out = self.linear(xs[0])
        if self.bias is not None:
            out = (out + self.bias).expand(xs[0].shape[0], *self.output_shape)
        return out


def build(ctx: NodeContext) -> Op:
    a = ctx.operands[0]
    b = ctx.constant(1)
    if a.value is not None or b is None:
        raise UnsupportedForm("only a variable first operand with constant B is supported")
    if len(a.shape) != 2:
        raise ShapeError(f"Gemm input must be 2-D, got {list(a.shape)}")
    weight = float(ctx.attr("alpha", 1.0)) * (b.T if ctx.attr("transB", 0) else b)
    c = ctx.constant(2)
    if len(ctx.operands) > 2 and c is None:
        raise UnsupportedForm("bias C is not constant")
    bias = float(ctx.attr("beta", 1.0)) * c if c is not None else None
    return Dense(a.shape, weight, bias, transpose_input=bool(ctx.attr("transA", 0)))
