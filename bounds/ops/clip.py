"""Clip: ``min(max(x, lo), hi)`` with constant bounds (attributes before opset 11, optional
inputs from 11; either may be absent).

Bounds: identity or constant where the interval is on one piece; across one kink, the
chord on the bent side and a line through the kink on the other; across both kinks, the
lines from each kink to the far end of the interval.
"""

from __future__ import annotations

import torch

from bounds.ops.base import Monotone, NodeContext, Op, Relaxation, Shape, Tensor, UnsupportedForm, single_variable
from bounds.ops.curves import fixed

ONNX_TYPE = "Clip"


class Clip(Monotone):
    def __init__(self, shape: Shape, low: float | None, high: float | None) -> None:
        if low is not None and high is not None and low > high:
            raise UnsupportedForm(f"min {low} is above max {high}")
        self.output_shape = shape
        self.low = low
        self.high = high

    def evaluate(self, *xs: Tensor) -> Tensor:
        if self.low is None and self.high is None:
            return xs[0]
        return torch.clamp(xs[0], self.low, self.high)

    def relaxation(self, lower: Tensor, upper: Tensor) -> Relaxation:
        # Kinks outside the interval do not matter: move them just past it (keeps all finite).
        a = lower - 1 if self.low is None else torch.maximum(torch.full_like(lower, self.low), lower - 1)
        b = upper + 1 if self.high is None else torch.minimum(torch.full_like(upper, self.high), upper + 1)
        zero, one = torch.zeros_like(lower), torch.ones_like(lower)
        tiny = 1e-300
        # One kink at a (convex): chord above, a line through (a, a) below.
        convex_slope = (upper - a) / (upper - lower).clamp_min(tiny)
        convex_low = torch.where(upper - a > a - lower, one, zero)
        # One kink at b (concave): chord below, a line through (b, b) above.
        concave_slope = (b - lower) / (upper - lower).clamp_min(tiny)
        concave_up = torch.where(b - lower > upper - b, one, zero)
        # Both kinks: from (a, a) to (upper, b) below, from (lower, a) to (b, b) above.
        both_low = (b - a) / (upper - a).clamp_min(tiny)
        both_up = (b - a) / (b - lower).clamp_min(tiny)
        cases = [
            (upper <= a, (zero, a, zero, a)),
            (lower >= b, (zero, b, zero, b)),
            ((a <= lower) & (upper <= b), (one, zero, one, zero)),
            (upper <= b, (convex_low, a - convex_low * a, convex_slope, a - convex_slope * lower)),
            (a <= lower, (concave_slope, lower - concave_slope * lower, concave_up, b - concave_up * b)),
        ]
        result = [both_low, a - both_low * a, both_up, a - both_up * lower]
        for mask, values in reversed(cases):
            result = [torch.where(mask, v, r) for v, r in zip(values, result, strict=True)]
        return fixed(*result)


def _bound(ctx: NodeContext, index: int, attribute: str) -> float | None:
    if ctx.opset < 11:
        value = ctx.attr(attribute)
        return None if value is None else float(value)
    if index >= len(ctx.operands) or ctx.operands[index].is_omitted:
        return None
    given = ctx.constant(index)
    if given is None:
        raise UnsupportedForm(f"{attribute} is not constant")
    if given.size != 1:
        raise UnsupportedForm(f"{attribute} is not a scalar")
    return float(given.reshape(-1)[0])


def build(ctx: NodeContext) -> Op:
    if ctx.operands[0].is_constant:
        raise UnsupportedForm("the clipped tensor must be the variable input")
    return Clip(single_variable(ctx).shape, _bound(ctx, 1, "min"), _bound(ctx, 2, "max"))
