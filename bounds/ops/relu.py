"""Relu: ``max(x, 0)``."""

from __future__ import annotations

import torch

from bounds.ops.base import Elementwise, NodeContext, Op, Relaxation, Tensor, single_variable

ONNX_TYPE = "Relu"


class Relu(Elementwise):
    function = staticmethod(torch.relu)

    def relaxation(self, lower: Tensor, upper: Tensor) -> Relaxation:
        """The triangle relaxation (Ehlers 2017; CROWN, Zhang et al. 2018).

        Upper: the chord from (l, 0) to (u, u) where l < 0 < u. Lower: slope 1 when u > -l,
        else 0 (CROWN's adaptive choice, minimising the relaxation's area); any slope in
        [0, 1] is valid. Stable neurons are exact.
        """
        active = lower >= 0
        unstable = (lower < 0) & (upper > 0)
        chord = torch.where(unstable, upper / (upper - lower).clamp_min(1e-300), active.to(lower.dtype))
        upper_offset = torch.where(unstable, -chord * lower, torch.zeros_like(lower))
        lower_slope = torch.where(unstable, (upper > -lower).to(lower.dtype), active.to(lower.dtype))
        fixed = active.to(lower.dtype)
        return Relaxation(
            lower_slope,
            torch.zeros_like(lower),
            chord,
            upper_offset,
            lower_slope_min=fixed,
            lower_slope_max=torch.where(unstable, torch.ones_like(lower), fixed),
        )


def build(ctx: NodeContext) -> Op:
    return Relu(single_variable(ctx).shape)
