"""ReduceSum and ReduceMean: affine reductions over constant axes.

Axes are an attribute before opset 13 (ReduceSum) or 18 (ReduceMean) and an optional input
after; ``noop_with_empty_axes`` (input form only) makes empty axes the identity.
"""

from __future__ import annotations

import numpy as np

from bounds.ops.base import Affine, NodeContext, Shape, Tensor, UnsupportedForm, normalise_axes, single_variable


class Reduction(Affine):
    """Sum or mean over ``axes`` (of the unbatched shape), keeping them as 1s when ``keepdims``."""

    def __init__(self, input_shape: Shape, axes: tuple[int, ...], keepdims: bool, mean: bool) -> None:
        self.axes = tuple(a + 1 for a in axes)
        self.keepdims = keepdims
        self.scale = 1.0 / float(np.prod([input_shape[a] for a in axes])) if mean and axes else 1.0
        kept = [1 if a in axes else d for a, d in enumerate(input_shape)]
        self.output_shape = tuple(kept) if keepdims else tuple(d for a, d in enumerate(input_shape) if a not in axes)

    def linear(self, x: Tensor) -> Tensor:
        if not self.axes:
            return x * self.scale
        return x.sum(dim=self.axes, keepdim=self.keepdims) * self.scale

    def abs_linear(self, x: Tensor) -> Tensor:
        return self.linear(x)

    def evaluate(self, *xs: Tensor) -> Tensor:
        return self.linear(xs[0])


def build_reduction(ctx: NodeContext, *, mean: bool) -> Reduction:
    """The reduction a ReduceSum/ReduceMean node describes, in any opset's form."""
    shape = single_variable(ctx).shape
    if ctx.operands[0].is_constant:
        raise UnsupportedForm("the reduced tensor must be the variable input")
    given: list[int] | None
    if len(ctx.operands) > 1 and not ctx.operands[1].is_omitted:
        axes_value = ctx.constant(1)
        if axes_value is None:
            raise UnsupportedForm("axes are not constant")
        given = [int(a) for a in axes_value.reshape(-1)]
    else:
        attribute = ctx.attr("axes")
        given = [int(a) for a in attribute] if attribute is not None else None
    if not given:
        if ctx.attr("noop_with_empty_axes", 0):
            return Reduction(shape, (), keepdims=True, mean=False)
        given = list(range(len(shape)))
    return Reduction(shape, normalise_axes(given, len(shape)), bool(ctx.attr("keepdims", 1)), mean)
