"""Softmax along an axis (opset 13 on), or over the flattened trailing axes from ``axis``
(before 13, default 1).

Each output ``y_i = 1 / (1 + sum_{j != i} exp(x_j - x_i))`` grows with x_i and falls with
every other x_j, so its interval on a box is exact at the extreme corners: lower at
(x_i low, others high), upper at (x_i high, others low).

Linear relaxation: below, that constant. Above, ``log y_i = x_i - logsumexp(x)`` is
concave, so it lies under its tangent plane T_i at the box centre, and ``y_i <= exp(T_i(x))
<= chord of exp over the range of T_i on the box``, which is linear in x. Each output keeps
whichever upper bound (this line or the constant) is lower at the centre; both are sound
for a hidden or a final Softmax.
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
        (x,) = xs
        box = self.interval(x)
        batch = box.lower.shape[0]
        size = math.prod(self.output_shape)
        low, high = self._rows(x.lower), self._rows(x.upper)
        center, radius = (low + high) / 2, (high - low) / 2
        n = center.shape[-1]
        p = torch.softmax(center, dim=-1)
        # Gradient of log y_i at the centre: row i of (I - 1 p^T); tangent value and range.
        gradient = torch.eye(n, dtype=DTYPE) - p.unsqueeze(-2)
        at_center = torch.log_softmax(center, dim=-1)
        spread = (gradient.abs() * radius.unsqueeze(-2)).sum(dim=-1)
        t_low, t_high = at_center - spread, at_center + spread
        width = t_high - t_low
        flat = width <= 0
        slope = torch.where(
            flat, torch.exp(t_low), (torch.exp(t_high) - torch.exp(t_low)) / torch.where(flat, 1.0, width)
        )
        # y_i <= exp(t_low) + slope * (T_i(x) - t_low), T_i(x) = at_center + gradient_i . (x - center)
        weight = slope.unsqueeze(-1) * gradient
        bias = torch.exp(t_low) + slope * (at_center - t_low) - (weight * center.unsqueeze(-2)).sum(dim=-1)
        line_wins = self._back(torch.exp(t_low) + slope * (at_center - t_low)).reshape(batch, -1) < box.upper.reshape(
            batch, -1
        )
        positions = self._rows(torch.arange(size, dtype=DTYPE).reshape(1, *self.output_shape))[0].long()
        upper_weight = torch.zeros(batch, size, size, dtype=DTYPE)
        upper_weight[:, positions.unsqueeze(-1), positions.unsqueeze(-2)] = weight
        upper_bias = torch.zeros(batch, size, dtype=DTYPE)
        upper_bias[:, positions] = bias
        upper_weight = torch.where(line_wins.unsqueeze(-1), upper_weight, torch.zeros_like(upper_weight))
        upper_bias = torch.where(line_wins, upper_bias, box.upper.reshape(batch, -1))
        zeros = torch.zeros(batch, size, size, dtype=DTYPE)
        return LinearRelaxation(zeros, box.lower.reshape(batch, -1), upper_weight, upper_bias)


def build(ctx: NodeContext) -> Op:
    shape = single_variable(ctx).shape
    flatten = ctx.opset < 13
    return Softmax(shape, int(ctx.attr("axis", 1 if flatten else -1)), flatten)
