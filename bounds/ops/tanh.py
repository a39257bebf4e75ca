"""Tanh, with tangent/chord bounds (S-shaped, see ``curves``)."""

from __future__ import annotations

import torch

from bounds.ops.base import Elementwise, NodeContext, Op, Relaxation, Tensor, single_variable
from bounds.ops.curves import s_shaped

ONNX_TYPE = "Tanh"


def _derivative(x: Tensor) -> Tensor:
    return 1 - torch.tanh(x) ** 2


class Tanh(Elementwise):
    function = staticmethod(torch.tanh)

    def relaxation(self, lower: Tensor, upper: Tensor) -> Relaxation:
        return s_shaped(torch.tanh, _derivative, lower, upper)


def build(ctx: NodeContext) -> Op:
    return Tanh(single_variable(ctx).shape)
