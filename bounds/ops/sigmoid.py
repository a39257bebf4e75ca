"""Sigmoid: ``1 / (1 + exp(-x))``, with tangent/chord bounds (S-shaped, see ``curves``)."""

from __future__ import annotations

import torch

from bounds.ops.base import Elementwise, NodeContext, Op, Relaxation, Tensor, single_variable
from bounds.ops.curves import s_shaped

ONNX_TYPE = "Sigmoid"


def _derivative(x: Tensor) -> Tensor:
    s = torch.sigmoid(x)
    return s * (1 - s)


class Sigmoid(Elementwise):
    function = staticmethod(torch.sigmoid)

    def relaxation(self, lower: Tensor, upper: Tensor) -> Relaxation:
        return s_shaped(torch.sigmoid, _derivative, lower, upper)


def build(ctx: NodeContext) -> Op:
    return Sigmoid(single_variable(ctx).shape)
