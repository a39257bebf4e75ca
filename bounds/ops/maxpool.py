"""MaxPool (1-, 2- or 3-D; pads, auto_pad, dilations, ceil_mode; no Indices output).

Monotone, so intervals are the pooled bounds. The linear relaxation of each window with
bounds ``l_i <= x_i <= u_i`` and largest lower bound ``L = max_i l_i``: below, the output is
at least the input with the largest lower bound (DeepPoly, Singh et al. 2019); above, the
plane through the box's corner ``(l, L)`` and the corners ``(l + (u_i - l_i) e_i, u_i)``:
``y <= L + sum_i a_i (x_i - l_i)`` with ``a_i = max(u_i - L, 0) / (u_i - l_i)``. Sound: max
is convex, so a plane above it at every corner of the box is above it on the whole box, and
at a corner with the inputs ``S`` at their upper bounds the plane is ``L + sum_{i in S}
max(u_i - L, 0) >= max(L, max_{i in S} u_i) >= max(x)``. It is ReLU's chord for ``max(x, 0)``
and exact (``y <= x_j``) when one input's lower bound dominates every other upper bound.
It is not always tighter than the constant ``max_i u_i``; as CROWN picks ReLU's lower
slope, each window takes whichever has the smaller mean over the box (the plane's is
``L + sum_i max(u_i - L, 0) / 2``, the constant's ``L + max_i (u_i - L)``); windows with an
infinite bound take the constant.
"""

from __future__ import annotations

import numpy as np
import torch

from bounds.ops.base import (
    DTYPE,
    Interval,
    LinearRelaxation,
    Monotone,
    NodeContext,
    Op,
    Shape,
    Tensor,
    UnsupportedForm,
    single_variable,
)
from bounds.ops.pooling import Windows, windows_of

ONNX_TYPE = "MaxPool"


class MaxPool(Monotone):
    """``windows`` is (n_out, kernel size): for each flat output, the flat input positions it
    takes the maximum of, -1 for padding (the exact engines encode the op from it)."""

    def __init__(self, input_shape: Shape, windows: Windows) -> None:
        self.n_in = int(torch.Size(input_shape).numel())
        self.output_shape = windows.output_shape
        self.windows: np.ndarray = np.where(windows.index >= 0, windows.index, -1)
        index = torch.as_tensor(windows.index)
        self.valid = index >= 0
        self.index = torch.where(self.valid, index, torch.full_like(index, self.n_in))

    def _windows(self, x: Tensor) -> Tensor:
        """(batch, n_out, kernel size) window values, padding as -inf."""
        flat = x.reshape(x.shape[0], -1)
        extended = torch.cat([flat, torch.full((x.shape[0], 1), -torch.inf, dtype=flat.dtype)], dim=1)
        return extended[:, self.index]

    def evaluate(self, *xs: Tensor) -> Tensor:
        return self._windows(xs[0]).amax(dim=-1).reshape(xs[0].shape[0], *self.output_shape)

    def linear_relaxation(self, *xs: Interval) -> LinearRelaxation:
        (x,) = xs
        batch = x.lower.shape[0]
        lower = self._windows(x.lower)
        upper = self._windows(x.upper)
        best_lower, pick = lower.max(dim=-1)
        index = self.index.expand(batch, -1, -1)
        chosen = index.gather(-1, pick.unsqueeze(-1)).squeeze(-1)
        n_out = chosen.shape[1]
        lower_weight = torch.zeros(batch, n_out, self.n_in, dtype=DTYPE)
        lower_weight.scatter_(-1, chosen.unsqueeze(-1), 1.0)
        # Upper: the plane through the corners (see the module docstring); padding has slope 0.
        valid = self.valid.expand(batch, -1, -1)
        finite = (valid.logical_not() | (lower.isfinite() & upper.isfinite())).all(dim=-1)
        low = torch.where(valid, lower, torch.zeros_like(lower))
        high = torch.where(valid, upper, torch.zeros_like(upper))
        top = torch.where(finite, best_lower, torch.zeros_like(best_lower)).unsqueeze(-1)
        width = high - low
        reach = torch.where(valid, (high - top).clamp_min(0.0), torch.zeros_like(high))
        slope = torch.where(valid & (width > 0), reach / width.clamp_min(1e-300), torch.zeros_like(width))
        # The plane's mean over the box is L + sum(reach) / 2, the constant's L + max(reach).
        plane = finite & (reach.sum(dim=-1) <= 2 * reach.amax(dim=-1))
        slope = torch.where(plane.unsqueeze(-1), slope, torch.zeros_like(slope))
        plane_bias = top.squeeze(-1) - (slope * low).sum(dim=-1)
        upper_bias = torch.where(plane, plane_bias, upper.amax(dim=-1))
        upper_weight = torch.zeros(batch, n_out, self.n_in + 1, dtype=DTYPE)
        upper_weight.scatter_add_(-1, index, slope)
        return LinearRelaxation(
            lower_weight, torch.zeros(batch, n_out, dtype=DTYPE), upper_weight[..., : self.n_in], upper_bias
        )


def build(ctx: NodeContext) -> Op:
    if len(ctx.node.output) > 1 and ctx.node.output[1]:
        raise UnsupportedForm("the Indices output is not supported")
    shape = single_variable(ctx).shape
    return MaxPool(shape, windows_of(ctx, shape))
