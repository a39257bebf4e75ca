"""Tanh: hyperbolic tangent."""

from __future__ import annotations

import torch

from bounds.ops.base import Elementwise, NodeContext, Op, single_variable

ONNX_TYPE = "Tanh"


class Tanh(Elementwise):
    function = staticmethod(torch.tanh)


def build(ctx: NodeContext) -> Op:
    return Tanh(single_variable(ctx).shape)
