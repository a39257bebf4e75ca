"""MaxPool (1-, 2- or 3-D; pads, auto_pad, dilations, ceil_mode; no Indices output).

Monotone, so intervals are the pooled bounds. The linear relaxation (DeepPoly-style,
Singh et al. 2019): below, each output is at least the window input with the largest lower
bound; above, it equals that input when its lower bound dominates every other upper bound
in the window, else it is at most the largest upper bound (a constant).
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
        chosen = self.index.expand(batch, -1, -1).gather(-1, pick.unsqueeze(-1)).squeeze(-1)
        others = upper.scatter(-1, pick.unsqueeze(-1), -torch.inf).amax(dim=-1)
        exact = best_lower >= others
        n_out = chosen.shape[1]
        one_hot = torch.zeros(batch, n_out, self.n_in, dtype=DTYPE)
        one_hot.scatter_(-1, chosen.unsqueeze(-1), 1.0)
        zeros = torch.zeros(batch, n_out, dtype=DTYPE)
        upper_weight = one_hot * exact.unsqueeze(-1).to(DTYPE)
        upper_bias = torch.where(exact, zeros, upper.amax(dim=-1))
        return LinearRelaxation(one_hot, zeros, upper_weight, upper_bias)


def build(ctx: NodeContext) -> Op:
    if len(ctx.node.output) > 1 and ctx.node.output[1]:
        raise UnsupportedForm("the Indices output is not supported")
    shape = single_variable(ctx).shape
    return MaxPool(shape, windows_of(ctx, shape))
