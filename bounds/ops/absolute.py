"""Abs: ``|x|``, convex with a kink at 0 (see ``curves.two_piece``)."""

from __future__ import annotations

from bounds.ops.base import Interval, NodeContext, Op, Relaxation, Shape, Tensor, single_variable
from bounds.ops.curves import interval_from_candidates, two_piece

ONNX_TYPE = "Abs"


class Abs(Op):
    def __init__(self, shape: Shape) -> None:
        self.output_shape = shape

    def evaluate(self, *xs: Tensor) -> Tensor:
        return xs[0].abs()

    def interval(self, *xs: Interval) -> Interval:
        (x,) = xs
        return Interval(*interval_from_candidates(Tensor.abs, x.lower, x.upper, 0.0))

    def relaxation(self, lower: Tensor, upper: Tensor) -> Relaxation:
        return two_piece(lower, upper, -1.0, 1.0)


def build(ctx: NodeContext) -> Op:
    return Abs(single_variable(ctx).shape)
