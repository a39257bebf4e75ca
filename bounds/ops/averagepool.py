"""AveragePool (1-, 2- or 3-D; pads, auto_pad, dilations, ceil_mode, count_include_pad).

Affine with nonnegative weights: each output is a weighted sum of its window. Padding
counts in the divisor when ``count_include_pad`` is set, but the extra room ``ceil_mode``
adds never does (as onnxruntime and PyTorch compute it).
"""

from __future__ import annotations

import numpy as np
import torch

from bounds.ops.base import DTYPE, Affine, NodeContext, Op, Shape, Tensor, single_variable
from bounds.ops.pooling import BEYOND, Windows, windows_of

ONNX_TYPE = "AveragePool"


class AveragePool(Affine):
    def __init__(self, input_shape: Shape, windows: Windows, include_pad: bool) -> None:
        self.output_shape = windows.output_shape
        n_in = int(np.prod(input_shape, dtype=np.int64))
        counted = windows.index != BEYOND if include_pad else windows.index >= 0
        divisor = counted.sum(axis=1, keepdims=True)
        self.weight = torch.as_tensor(np.where(windows.index >= 0, 1.0 / divisor, 0.0), dtype=DTYPE)
        self.index = torch.as_tensor(np.where(windows.index >= 0, windows.index, n_in))

    def linear(self, x: Tensor) -> Tensor:
        flat = x.reshape(x.shape[0], -1)
        extended = torch.cat([flat, torch.zeros(x.shape[0], 1, dtype=flat.dtype)], dim=1)
        out = (extended[:, self.index] * self.weight).sum(dim=-1)
        return out.reshape(x.shape[0], *self.output_shape)

    def abs_linear(self, x: Tensor) -> Tensor:
        return self.linear(x)

    def evaluate(self, *xs: Tensor) -> Tensor:
        return self.linear(xs[0])


def build(ctx: NodeContext) -> Op:
    shape = single_variable(ctx).shape
    return AveragePool(shape, windows_of(ctx, shape), bool(ctx.attr("count_include_pad", 0)))
