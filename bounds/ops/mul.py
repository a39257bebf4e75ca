"""Mul: scaling by a constant (affine), or the product of two variables."""

from __future__ import annotations

import numpy as np
import torch

from bounds.ops.base import (
    Interval,
    NodeContext,
    Op,
    ScaleShift,
    Shape,
    Tensor,
    UnsupportedForm,
    broadcast_shape,
    pad_rank,
)

ONNX_TYPE = "Mul"


class Product(Op):
    """``a * b`` of two variables; bounds are the extremes of the four corner products."""

    def __init__(self, a: Shape, b: Shape) -> None:
        self.shapes = (a, b)
        self.output_shape = broadcast_shape(a, b)

    def _operands(self, a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
        rank = len(self.output_shape)
        return pad_rank(a, self.shapes[0], rank), pad_rank(b, self.shapes[1], rank)

    def evaluate(self, *xs: Tensor) -> Tensor:
        a, b = self._operands(*xs)
        return a * b

    def interval(self, *xs: Interval) -> Interval:
        a, b = xs
        al, bl = self._operands(a.lower, b.lower)
        au, bu = self._operands(a.upper, b.upper)
        corners = torch.stack([al * bl, al * bu, au * bl, au * bu])  # all of the output's shape
        return Interval(corners.amin(dim=0), corners.amax(dim=0))


def build(ctx: NodeContext) -> Op:
    a, b = ctx.operands
    if a.value is None and b.value is None:
        return Product(a.shape, b.shape)
    if a.value is not None and b.value is not None:
        raise UnsupportedForm("both operands constant (should have been folded)")
    variable, constant = (a, b.value) if b.value is not None else (b, a.value)
    assert constant is not None
    return ScaleShift(variable.shape, constant, np.zeros(()))
