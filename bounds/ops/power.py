"""Pow with a variable base and a constant nonnegative integer exponent.

``x**0`` is 1 and ``x**1`` is x. Even powers are convex (chord above, tangent below); odd
powers from 3 are ``-g`` for the S-shaped ``g(x) = -x**p`` (see ``curves.s_shaped``).
Fractional and negative exponents are an unsupported form.
"""

from __future__ import annotations

import torch

from bounds.ops.base import Interval, NodeContext, Op, Relaxation, Shape, Tensor, UnsupportedForm, single_variable
from bounds.ops.curves import convex, fixed, interval_from_candidates, s_shaped

ONNX_TYPE = "Pow"


class Power(Op):
    def __init__(self, shape: Shape, exponent: int) -> None:
        self.output_shape = shape
        self.exponent = exponent

    def evaluate(self, *xs: Tensor) -> Tensor:
        return xs[0] ** self.exponent

    def _derivative(self, x: Tensor) -> Tensor:
        return self.exponent * x ** (self.exponent - 1)

    def interval(self, *xs: Interval) -> Interval:
        (x,) = xs
        return Interval(*interval_from_candidates(self.evaluate, x.lower, x.upper, 0.0))

    def relaxation(self, lower: Tensor, upper: Tensor) -> Relaxation:
        p = self.exponent
        if p <= 1:
            slope = torch.full_like(lower, float(p))
            offset = torch.full_like(lower, 1.0 - p)
            return fixed(slope, offset, slope, offset)
        if p % 2 == 0:
            return convex(self.evaluate, self._derivative, lower, upper)

        def negated(x: Tensor) -> Tensor:
            return -(x**p)

        def negated_derivative(x: Tensor) -> Tensor:
            return -self._derivative(x)

        g = s_shaped(negated, negated_derivative, lower, upper)
        return fixed(-g.upper_slope, -g.upper_offset, -g.lower_slope, -g.lower_offset)


def build(ctx: NodeContext) -> Op:
    base, exponent = ctx.operands[0], ctx.constant(1)
    if base.is_constant or exponent is None:
        raise UnsupportedForm("only a variable base with a constant exponent is supported")
    if exponent.size != 1 or float(exponent.reshape(-1)[0]) != int(exponent.reshape(-1)[0]):
        raise UnsupportedForm(f"exponent {exponent.reshape(-1).tolist()} is not an integer scalar")
    p = int(exponent.reshape(-1)[0])
    if p < 0:
        raise UnsupportedForm(f"negative exponent {p}")
    return Power(single_variable(ctx).shape, p)
