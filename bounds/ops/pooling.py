"""Pooling windows shared by MaxPool and AveragePool.

A window lists, for each output element, the flat input positions it covers; positions in
the explicit padding are ``PADDED`` and positions past it (the extra room ``ceil_mode``
makes) are ``BEYOND``, so each op can apply its own padding rule.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bounds.errors import ShapeError
from bounds.ops.base import NodeContext, Shape, UnsupportedForm

PADDED = -1
BEYOND = -2


@dataclass(frozen=True)
class Windows:
    """``index`` is (n_out, kernel size): a flat input position, PADDED or BEYOND."""

    index: np.ndarray
    output_shape: Shape


def _attribute_ints(ctx: NodeContext, name: str, default: Sequence[int]) -> list[int]:
    return [int(v) for v in ctx.attr(name, default)]


def windows_of(ctx: NodeContext, input_shape: Shape) -> Windows:
    """The windows of a MaxPool/AveragePool node (kernel, strides, pads or auto_pad,
    dilations, ceil_mode) over an (N, C, *spatial) input."""
    spatial = tuple(input_shape[2:])
    rank = len(spatial)
    kernel = _attribute_ints(ctx, "kernel_shape", [])
    strides = _attribute_ints(ctx, "strides", [1] * rank)
    dilations = _attribute_ints(ctx, "dilations", [1] * rank)
    if rank < 1 or len(kernel) != rank or len(strides) != rank or len(dilations) != rank:
        raise ShapeError(f"pooling kernel {kernel} does not fit input {list(input_shape)}")
    if min(*kernel, *strides, *dilations) <= 0:
        raise ShapeError(f"pooling kernel {kernel}, strides {strides} or dilations {dilations} are invalid")
    extent = [(k - 1) * d + 1 for k, d in zip(kernel, dilations, strict=True)]
    auto_pad = ctx.attr("auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else str(auto_pad)
    ceil_mode = bool(ctx.attr("ceil_mode", 0))
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        out = [math.ceil(n / s) for n, s in zip(spatial, strides, strict=True)]
        totals = [max((o - 1) * s + e - n, 0) for o, s, e, n in zip(out, strides, extent, spatial, strict=True)]
        small = [t // 2 for t in totals]
        large = [t - t // 2 for t in totals]
        begins, ends = (small, large) if auto_pad == "SAME_UPPER" else (large, small)
    elif auto_pad in ("NOTSET", "VALID"):
        pads = _attribute_ints(ctx, "pads", [0] * (2 * rank)) if auto_pad == "NOTSET" else [0] * (2 * rank)
        if len(pads) != 2 * rank or min(pads) < 0:
            raise ShapeError(f"pooling pads {pads} are invalid for a {rank}-D input")
        begins, ends = pads[:rank], pads[rank:]
        out = []
        for n, b, e, k, s in zip(spatial, begins, ends, extent, strides, strict=True):
            room = n + b + e - k
            if room < 0:
                raise ShapeError(f"pooling window {k} is larger than the padded input {n + b + e}")
            size = (-(-room // s) if ceil_mode else room // s) + 1
            if ceil_mode and (size - 1) * s >= n + b:
                size -= 1  # a window may not start in the end padding
            out.append(size)
    else:
        raise UnsupportedForm(f"auto_pad {auto_pad}")
    return Windows(_index(input_shape, out, kernel, strides, dilations, begins, ends), (*input_shape[:2], *out))


def _index(
    input_shape: Shape,
    out: Sequence[int],
    kernel: Sequence[int],
    strides: Sequence[int],
    dilations: Sequence[int],
    begins: Sequence[int],
    ends: Sequence[int],
) -> np.ndarray:
    spatial = input_shape[2:]
    rank = len(spatial)
    place = [int(np.prod(spatial[i + 1 :], dtype=np.int64)) for i in range(rank)]
    flat = np.zeros((*out, *kernel), dtype=np.int64)
    inside = np.ones((*out, *kernel), dtype=bool)
    padded = np.ones((*out, *kernel), dtype=bool)
    for i in range(rank):
        positions = np.arange(out[i])[:, None] * strides[i] - begins[i] + np.arange(kernel[i])[None, :] * dilations[i]
        view = [1] * (2 * rank)
        view[i], view[rank + i] = out[i], kernel[i]
        positions = positions.reshape(view)
        flat = flat + np.clip(positions, 0, spatial[i] - 1) * place[i]
        inside = inside & (positions >= 0) & (positions < spatial[i])
        padded = padded & (positions < spatial[i] + ends[i])
    codes = np.where(inside, flat, np.where(padded, PADDED, BEYOND)).reshape(int(np.prod(out)), -1)
    planes = int(np.prod(input_shape[:2], dtype=np.int64))
    plane = int(np.prod(spatial, dtype=np.int64))
    shifted = np.where(codes >= 0, codes[None] + plane * np.arange(planes)[:, None, None], codes[None])
    return shifted.reshape(-1, codes.shape[1])
