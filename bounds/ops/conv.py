"""Conv (1-D, 2-D or 3-D, NC... layout) with constant weights and bias."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch.nn.functional as F

from bounds.errors import ShapeError
from bounds.ops.base import Affine, NodeContext, Op, Shape, Tensor, UnsupportedForm, as_tensor

ONNX_TYPE = "Conv"

_CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


class Conv(Affine):
    def __init__(
        self,
        input_shape: Shape,
        weight: np.ndarray,
        bias: np.ndarray | None,
        strides: Sequence[int],
        pads: Sequence[int],
        dilations: Sequence[int],
        group: int,
    ) -> None:
        spatial = len(input_shape) - 2
        if spatial not in _CONV or weight.ndim != spatial + 2:
            raise ShapeError(f"Conv input {list(input_shape)} and weight {list(weight.shape)} do not match")
        if len(pads) != 2 * spatial:
            raise ShapeError(f"Conv pads {list(pads)} do not fit a {spatial}-D input")
        if bias is not None and bias.shape != (weight.shape[0],):
            raise ShapeError(f"Conv bias {list(bias.shape)} does not match {weight.shape[0]} output channels")
        if input_shape[1] != weight.shape[1] * group:
            raise ShapeError(f"Conv input has {input_shape[1]} channels, weight expects {weight.shape[1] * group}")
        self.input_shape = input_shape
        self.weight = as_tensor(weight)
        self.abs_weight = self.weight.abs()
        self.bias = as_tensor(bias) if bias is not None else None
        self.strides = tuple(strides)
        self.dilations = tuple(dilations)
        self.group = group
        # F.pad wants (last_begin, last_end, ..., first_begin, first_end).
        self.pad = tuple(p for i in reversed(range(spatial)) for p in (pads[i], pads[i + spatial]))
        out_spatial = tuple(
            (input_shape[2 + i] + pads[i] + pads[i + spatial] - dilations[i] * (weight.shape[2 + i] - 1) - 1)
            // strides[i]
            + 1
            for i in range(spatial)
        )
        if any(d <= 0 for d in out_spatial):
            raise ShapeError(f"Conv output would be empty for input {list(input_shape)}")
        self.output_shape = (input_shape[0], weight.shape[0], *out_spatial)

    def _apply(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        batch = x.shape[0]
        flat = x.reshape(batch * self.input_shape[0], *self.input_shape[1:])
        if any(self.pad):
            flat = F.pad(flat, self.pad)
        conv = _CONV[len(self.strides)]
        out = conv(flat, weight, bias, stride=self.strides, dilation=self.dilations, groups=self.group)
        return out.reshape(batch, *self.output_shape)

    def linear(self, x: Tensor) -> Tensor:
        return self._apply(x, self.weight, None)

    def abs_linear(self, x: Tensor) -> Tensor:
        return self._apply(x, self.abs_weight, None)

    def evaluate(self, *xs: Tensor) -> Tensor:
        return self._apply(xs[0], self.weight, self.bias)


def _same_pads(
    input_shape: Shape, kernel: Sequence[int], strides: Sequence[int], dilations: Sequence[int], upper: bool
) -> list[int]:
    begins, ends = [], []
    for size, k, s, d in zip(input_shape[2:], kernel, strides, dilations, strict=True):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        small, large = total // 2, total - total // 2
        begins.append(small if upper else large)
        ends.append(large if upper else small)
    return begins + ends


def build(ctx: NodeContext) -> Op:
    x = ctx.operands[0]
    weight = ctx.constant(1)
    if x.value is not None or weight is None:
        raise UnsupportedForm("only a variable input with constant weights is supported")
    bias = ctx.constant(2)
    if len(ctx.operands) > 2 and bias is None:
        raise UnsupportedForm("bias is not constant")
    spatial = weight.ndim - 2
    strides = [int(s) for s in ctx.attr("strides", [1] * spatial)]
    dilations = [int(d) for d in ctx.attr("dilations", [1] * spatial)]
    if spatial < 1 or len(strides) != spatial or len(dilations) != spatial or min(*strides, *dilations) <= 0:
        raise ShapeError(f"Conv weight {list(weight.shape)}, strides {strides} or dilations {dilations} are invalid")
    auto_pad = ctx.attr("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        pads = _same_pads(x.shape, weight.shape[2:], strides, dilations, auto_pad == "SAME_UPPER")
    elif auto_pad in ("NOTSET", "VALID"):
        default = [0] * (2 * spatial)
        pads = [int(p) for p in ctx.attr("pads", default)] if auto_pad == "NOTSET" else default
    else:
        raise UnsupportedForm(f"auto_pad {auto_pad}")
    return Conv(x.shape, weight, bias, strides, pads, dilations, int(ctx.attr("group", 1)))
