"""Sigmoid: ``1 / (1 + exp(-x))``."""

from __future__ import annotations

import torch

from bounds.ops.base import Elementwise, NodeContext, Op, single_variable

ONNX_TYPE = "Sigmoid"


class Sigmoid(Elementwise):
    function = staticmethod(torch.sigmoid)


def build(ctx: NodeContext) -> Op:
    return Sigmoid(single_variable(ctx).shape)
