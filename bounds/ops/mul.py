"""Mul: scaling by a constant (affine), or the product of two variables."""

from __future__ import annotations

import numpy as np
import torch

from bounds.ops.base import Binary, Interval, NodeContext, Op, ScaleShift, Tensor, UnsupportedForm

ONNX_TYPE = "Mul"


class Product(Binary):
    """``a * b`` of two variables; bounds are the extremes of the four corner products."""

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
    if a.value is None and b.value is not None:
        return ScaleShift(a.shape, b.value, np.zeros(()))
    if b.value is None and a.value is not None:
        return ScaleShift(b.shape, a.value, np.zeros(()))
    raise UnsupportedForm("both operands constant (should have been folded)")
