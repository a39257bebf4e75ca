"""Sign: -1, 0 or 1.

Across 0 the lower line passes through (0, -1) with a slope in [0, 2/upper] (the alpha
range; flat by default unless upper > -lower) and the upper line through (0, 1) likewise.
With one end at 0 the bounds are the chord to the other end and a constant.
"""

from __future__ import annotations

import torch

from bounds.ops.base import Monotone, NodeContext, Op, Relaxation, Shape, Tensor, single_variable

ONNX_TYPE = "Sign"


class Sign(Monotone):
    def __init__(self, shape: Shape) -> None:
        self.output_shape = shape

    def evaluate(self, *xs: Tensor) -> Tensor:
        return torch.sign(xs[0])

    def relaxation(self, lower: Tensor, upper: Tensor) -> Relaxation:
        zero, one = torch.zeros_like(lower), torch.ones_like(lower)
        across = (lower < 0) & (upper > 0)
        safe_upper = torch.where(upper > 0, upper, one)
        safe_lower = torch.where(lower < 0, -lower, one)
        low_max = torch.where(across, 2 / safe_upper, zero)
        low_slope = torch.where(upper > -lower, low_max, zero)
        up_slope = torch.where(across & (-lower > upper), 2 / safe_lower, zero)
        low_offset = torch.where(across, -one, torch.sign(lower))
        up_offset = torch.where(across, one, torch.sign(upper))
        # [0, upper]: chord from (0, 0) to (upper, 1) below; [lower, 0]: chord above.
        starts_at_zero = (lower == 0) & (upper > 0)
        ends_at_zero = (upper == 0) & (lower < 0)
        low_slope = torch.where(starts_at_zero, 1 / safe_upper, low_slope)
        low_offset = torch.where(starts_at_zero, zero, low_offset)
        up_slope = torch.where(ends_at_zero, 1 / safe_lower, up_slope)
        up_offset = torch.where(ends_at_zero, zero, up_offset)
        slope_min = torch.where(across, zero, low_slope)
        slope_max = torch.where(across, low_max, low_slope)
        return Relaxation(low_slope, low_offset, up_slope, up_offset, slope_min, slope_max)


def build(ctx: NodeContext) -> Op:
    return Sign(single_variable(ctx).shape)
