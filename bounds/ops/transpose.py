"""Transpose: permute axes (default: reverse them)."""

from __future__ import annotations

from bounds.errors import ShapeError
from bounds.ops.base import DataMovement, NodeContext, Op, Shape, Tensor, single_variable

ONNX_TYPE = "Transpose"


class Transpose(DataMovement):
    def __init__(self, input_shape: Shape, perm: tuple[int, ...]) -> None:
        if sorted(perm) != list(range(len(input_shape))):
            raise ShapeError(f"Transpose perm {list(perm)} is not a permutation of rank {len(input_shape)}")
        self.perm = perm
        self.output_shape = tuple(input_shape[p] for p in perm)

    def evaluate(self, *xs: Tensor) -> Tensor:
        return xs[0].permute(0, *(p + 1 for p in self.perm))


def build(ctx: NodeContext) -> Op:
    shape = single_variable(ctx).shape
    perm = ctx.attr("perm")
    return Transpose(shape, tuple(int(p) for p in perm) if perm is not None else tuple(reversed(range(len(shape)))))
