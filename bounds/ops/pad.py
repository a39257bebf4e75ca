"""Pad (constant, reflect, edge or wrap; pads as an attribute before opset 11, an input from
11, optional axes from 18): a selection of input elements and the fill value, so exact
(see ``selection``).

Negative pads crop. ONNX's reference evaluator, which derives the selection, does not
implement them, so the node is traced with the negative pads set to 0 and the result
cropped.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from onnx import helper

from bounds.ops.base import NodeContext, Op, Operand, UnsupportedForm
from bounds.ops.selection import Selection, selection_of

ONNX_TYPE = "Pad"


def _pads_and_axes(ctx: NodeContext, rank: int) -> tuple[np.ndarray, list[int]]:
    """The pads (begins then ends) and the axes they apply to."""
    given = ctx.attr("pads") if ctx.opset < 11 else ctx.constant(1)
    if given is None:
        raise UnsupportedForm("pads are not constant")
    pads = np.asarray(given, dtype=np.int64).reshape(-1)
    axes_value = ctx.constant(3) if ctx.opset >= 18 else None
    axes = [int(a) % rank for a in axes_value.reshape(-1)] if axes_value is not None else list(range(rank))
    if pads.size != 2 * len(axes):
        raise UnsupportedForm(f"{pads.size} pads for {len(axes)} axes")
    return pads, axes


def _without_negative_pads(ctx: NodeContext, pads: np.ndarray) -> NodeContext:
    """The same node with its negative pads replaced by 0."""
    kept = np.maximum(pads, 0)
    if ctx.opset < 11:
        node = helper.make_node(
            "Pad",
            list(ctx.node.input),
            list(ctx.node.output),
            **{**{a.name: helper.get_attribute_value(a) for a in ctx.node.attribute}, "pads": kept.tolist()},
        )
        return replace(ctx, node=node, attributes={**ctx.attributes, "pads": kept.tolist()})
    operands = list(ctx.operands)
    operands[1] = Operand(operands[1].name, operands[1].shape, kept)
    return replace(ctx, operands=tuple(operands))


def build(ctx: NodeContext) -> Op:
    data = ctx.operands[0]
    if data.is_constant:
        raise UnsupportedForm("the padded tensor must be the variable input")
    pads, axes = _pads_and_axes(ctx, len(data.shape))
    if not np.any(pads < 0):
        return selection_of(ctx, {0})
    padded = selection_of(_without_negative_pads(ctx, pads), {0})
    index = np.where(padded.selected.numpy(), padded.index.numpy(), -1).reshape(padded.output_shape)
    fill = padded.fill.numpy().reshape(padded.output_shape)
    window = [slice(None)] * len(data.shape)
    for k, axis in enumerate(axes):
        begin, end = max(-int(pads[k]), 0), max(-int(pads[k + len(axes)]), 0)
        if begin + end > index.shape[axis]:
            raise UnsupportedForm(f"pads {pads.tolist()} crop axis {axis} below size 0")
        window[axis] = slice(begin, index.shape[axis] - end)
    crop = tuple(window)
    return Selection(padded.input_shapes, index[crop], fill[crop])
