"""Cast of a variable to a floating-point type: the identity in real arithmetic.

Casting a variable to an integer or boolean type makes the network piecewise constant in
a way the bounds do not model, so that form is unsupported (casts of constants fold away).
"""

from __future__ import annotations

from onnx import TensorProto

from bounds.ops.base import NodeContext, Op, Reshaped, UnsupportedForm, single_variable

ONNX_TYPE = "Cast"

_FLOAT_TYPES = frozenset({TensorProto.FLOAT, TensorProto.DOUBLE, TensorProto.FLOAT16, TensorProto.BFLOAT16})


def build(ctx: NodeContext) -> Op:
    shape = single_variable(ctx).shape
    to = int(ctx.attr("to", TensorProto.UNDEFINED))
    if to not in _FLOAT_TYPES:
        name = TensorProto.DataType.Name(to) if to in TensorProto.DataType.values() else str(to)
        raise UnsupportedForm(f"cast of a variable to {name}: only float types are supported")
    return Reshaped(shape, shape)
