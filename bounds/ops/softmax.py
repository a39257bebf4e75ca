"""Softmax along an axis (opset 13 on), or over the flattened trailing axes from ``axis``
(before 13, default 1).

Each output ``y_i = 1 / (1 + sum_{j != i} exp(x_j - x_i))`` grows with x_i and falls with
every other x_j, so its bounds on a box are exact at the extreme corners: lower at
(x_i low, others high), upper at (x_i high, others low). The linear relaxation is these
constant bounds (zero weights): sound for a hidden or final Softmax.
"""

from __future__ import annotations

import math

import torch

from bounds.errors import ShapeError
from bounds.ops.base import DTYPE, Interval, LinearRelaxation, NodeContext, Op, Shape, Tensor, single_variable

ONNX_TYPE = "Softmax"


class Softmax(Op):
    def __init__(self, shape: Shape, axis: int, flatten: bool) -> None:
        rank = len(shape)
        if not -rank <= axis < rank:
            raise ShapeError(f"Softmax axis {axis} out of range for rank {rank}")
        self.output_shape = shape
        self.axis = axis % rank
        self.flatten = flatten

    def _rows(self, x: Tensor) -> Tensor:
        """The input as (batch, rows, n) with the normalised axis (or axes) last."""
        batch = x.shape[0]
        if self.flatten:
            return x.reshape(batch, math.prod(self.output_shape[: self.axis]), -1)
        moved = x.movedim(self.axis + 1, -1)
        return moved.reshape(batch, -1, moved.shape[-1])

    def _back(self, rows: Tensor) -> Tensor:
        batch = rows.shape[0]
        if self.flatten:
            return rows.reshape(batch, *self.output_shape)
        moved_shape = [d for i, d in enumerate(self.output_shape) if i != self.axis] + [self.output_shape[self.axis]]
        return rows.reshape(batch, *moved_shape).movedim(-1, self.axis + 1)

    def evaluate(self, *xs: Tensor) -> Tensor:
        return self._back(torch.softmax(self._rows(xs[0]), dim=-1))

    def interval(self, *xs: Interval) -> Interval:
        (x,) = xs
        low, high = self._rows(x.lower), self._rows(x.upper)
        n = low.shape[-1]
        eye = torch.eye(n, dtype=torch.bool)
        # Row i of the (n, n) matrices: x_i at one extreme, every other x_j at the other.
        against_high = torch.where(eye, low.unsqueeze(-2), high.unsqueeze(-2))
        against_low = torch.where(eye, high.unsqueeze(-2), low.unsqueeze(-2))
        lower = torch.exp(low - torch.logsumexp(against_high, dim=-1))
        upper = torch.exp(high - torch.logsumexp(against_low, dim=-1))
        return Interval(self._back(lower), self._back(upper.clamp_max(1.0)))

    def linear_relaxation(self, *xs: Interval) -> LinearRelaxation:
        box = self.interval(*xs)
        batch = box.lower.shape[0]
        n_out = math.prod(self.output_shape)
        n_in = math.prod(self.output_shape)
        zeros = torch.zeros(batch, n_out, n_in, dtype=DTYPE)
        return LinearRelaxation(zeros, box.lower.reshape(batch, -1), zeros, box.upper.reshape(batch, -1))


def build(ctx: NodeContext) -> Op:
    shape = single_variable(ctx).shape
    flatten = ctx.opset < 13
    return Softmax(shape, int(ctx.attr("axis", 1 if flatten else -1)), flatten)
