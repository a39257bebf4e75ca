"""Operator conformance: every registered ONNX op, in each of its forms, against onnxruntime.

Each example is a one- or two-node ONNX model. For each we check that

(a) evaluation equals onnxruntime on random inputs (1e-5 relative/absolute),
(b) interval propagation is sound: lower <= upper, and ~200 random samples in each box
    (plus every corner when the input is small) evaluate within the bounds,
(c) for single-input affine ops, ``op.matrix`` reproduces evaluation, and the interval
    is exactly the center-radius image of the box.

Adding an operator to ``bounds.ops.OPERATORS`` without adding an example here fails
``test_every_registered_operator_has_an_example``.
"""

from __future__ import annotations

import functools
import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
import pytest
import torch
from onnx import helper
from onnx_cases import assert_within, batched, make_model, ort_batch, ort_run, sample_box

import bounds
from bounds.ops import FOLDED_ONLY, OPERATORS, SPLITTERS
from bounds.ops.base import Affine, Interval, Op

AFFINE_TYPES = frozenset(
    {
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Neg",
        "Gemm",
        "MatMul",
        "Conv",
        "BatchNormalization",
        "AveragePool",
        "GlobalAveragePool",
        "ReduceMean",
        "ReduceSum",
    }
)
"""Op types whose single-variable forms must build an ``Affine`` op."""


@dataclass(eq=False)
class Case:
    """One conformance example: a tiny ONNX model and the input shapes to feed it."""

    id: str
    nodes: Sequence[onnx.NodeProto]
    inputs: Mapping[str, tuple[int, ...]]
    initializers: Mapping[str, np.ndarray] = field(default_factory=dict)
    opset: int = 13
    scale: float = 2.0  # spread of random inputs and box centers
    graph_nodes: Sequence[str] | None = None  # the imported graph's op types, where not the nodes' own

    @property
    def op_types(self) -> list[str]:
        """The node op types the imported graph should have (Constant nodes are folded)."""
        if self.graph_nodes is not None:
            return list(self.graph_nodes)
        return [n.op_type for n in self.nodes if n.op_type != "Constant"]

    @property
    def affine(self) -> bool:
        return len(self.inputs) == 1 and len(self.op_types) == 1 and self.op_types[0] in AFFINE_TYPES


def _rng(name: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(name.encode()))


def _const(case_id: str, shape: Sequence[int], *, away_from_zero: bool = False) -> np.ndarray:
    value = _rng(case_id + str(shape)).normal(size=tuple(shape))
    if away_from_zero:
        value = np.sign(value + 1e-3) * (0.5 + np.abs(value))
    return value.astype(np.float32)


def unary(case_id: str, op: str, shape: Sequence[int], *, opset: int = 13, **attrs: object) -> Case:
    node = helper.make_node(op, ["x"], ["y"], name=f"{op.lower()}_node", **attrs)
    return Case(case_id, [node], {"x": tuple(shape)}, opset=opset)


def with_const(
    case_id: str,
    op: str,
    x_shape: Sequence[int],
    c_shape: Sequence[int],
    *,
    const_first: bool = False,
    away_from_zero: bool = False,
) -> Case:
    """``op(x, c)`` (or ``op(c, x)``) with a random constant initializer c."""
    c = _const(case_id, c_shape, away_from_zero=away_from_zero)
    ins = ["c", "x"] if const_first else ["x", "c"]
    node = helper.make_node(op, ins, ["y"], name=f"{op.lower()}_node")
    return Case(case_id, [node], {"x": tuple(x_shape)}, {"c": c})


def two_vars(case_id: str, op: str, a_shape: Sequence[int], b_shape: Sequence[int]) -> Case:
    node = helper.make_node(op, ["a", "b"], ["y"], name=f"{op.lower()}_node")
    return Case(case_id, [node], {"a": tuple(a_shape), "b": tuple(b_shape)}, scale=1.5)


def gemm(
    case_id: str, a_shape: Sequence[int], b_shape: Sequence[int], c_shape: Sequence[int] | None, **attrs: object
) -> Case:
    inits = {"B": _const(case_id + "B", b_shape)}
    ins = ["x", "B"]
    if c_shape is not None:
        inits["C"] = _const(case_id + "C", c_shape)
        ins.append("C")
    node = helper.make_node("Gemm", ins, ["y"], name="gemm_node", **attrs)
    return Case(case_id, [node], {"x": tuple(a_shape)}, inits)


def matmul(case_id: str, x_shape: Sequence[int], w_shape: Sequence[int], *, const_left: bool) -> Case:
    ins = ["W", "x"] if const_left else ["x", "W"]
    node = helper.make_node("MatMul", ins, ["y"], name="matmul_node")
    return Case(case_id, [node], {"x": tuple(x_shape)}, {"W": _const(case_id, w_shape)})


def conv(case_id: str, x_shape: Sequence[int], w_shape: Sequence[int], *, bias: bool = True, **attrs: object) -> Case:
    inits = {"W": _const(case_id + "W", w_shape)}
    ins = ["x", "W"]
    if bias:
        inits["b"] = _const(case_id + "b", [w_shape[0]])
        ins.append("b")
    node = helper.make_node("Conv", ins, ["y"], name="conv_node", **attrs)
    return Case(case_id, [node], {"x": tuple(x_shape)}, inits, scale=1.0)


def batchnorm(case_id: str, x_shape: Sequence[int], **attrs: object) -> Case:
    channels = x_shape[1]
    rng = _rng(case_id)
    inits = {
        "gamma": rng.normal(size=channels),
        "beta": rng.normal(size=channels),
        "mean": rng.normal(size=channels),
        "var": rng.uniform(0.2, 2.0, size=channels),
    }
    node = helper.make_node("BatchNormalization", ["x", "gamma", "beta", "mean", "var"], ["y"], name="bn_node", **attrs)
    return Case(case_id, [node], {"x": tuple(x_shape)}, inits)


def with_shape_input(
    case_id: str, op: str, x_shape: Sequence[int], values: Sequence[int], *, opset: int = 13, **attrs: object
) -> Case:
    """Reshape / Squeeze / Unsqueeze with their int64 second input as an initializer."""
    node = helper.make_node(op, ["x", "s"], ["y"], name=f"{op.lower()}_node", **attrs)
    return Case(case_id, [node], {"x": tuple(x_shape)}, {"s": np.asarray(values, dtype=np.int64)}, opset=opset)


def _constant_then_add() -> Case:
    """Two nodes: a Constant node (folded at import) feeding Add with a variable."""
    value = helper.make_tensor("k", onnx.TensorProto.FLOAT, [3], [0.5, -1.0, 2.0])
    nodes = [
        helper.make_node("Constant", [], ["k"], name="const_node", value=value),
        helper.make_node("Add", ["x", "k"], ["y"], name="add_node"),
    ]
    return Case("Add-constant-node", nodes, {"x": (2, 3)})


def _gemm_then_relu() -> Case:
    nodes = [
        helper.make_node("Gemm", ["x", "W", "b"], ["h"], name="gemm_node", transB=1),
        helper.make_node("Relu", ["h"], ["y"], name="relu_node"),
    ]
    inits = {"W": _const("gr-W", [4, 3]), "b": _const("gr-b", [4])}
    return Case("Gemm-then-Relu", nodes, {"x": (1, 3)}, inits)


def _conv_then_flatten() -> Case:
    nodes = [
        helper.make_node("Conv", ["x", "W"], ["h"], name="conv_node", pads=[1, 1, 1, 1]),
        helper.make_node("Flatten", ["h"], ["y"], name="flatten_node"),
    ]
    return Case("Conv-then-Flatten", nodes, {"x": (1, 1, 4, 4)}, {"W": _const("cf-W", [2, 1, 3, 3])}, scale=1.0)


def op_case(
    case_id: str,
    op: str,
    x_shape: Sequence[int],
    constants: Sequence[np.ndarray | None] = (),
    *,
    opset: int = 13,
    scale: float = 2.0,
    **attrs: object,
) -> Case:
    """``op(x, c1, c2, ...)`` with constant inputs (None: an omitted optional input)."""
    names = ["x"] + [f"c{i}" if c is not None else "" for i, c in enumerate(constants)]
    node = helper.make_node(op, names, ["y"], name=f"{op.lower()}_node", **attrs)
    inits = {f"c{i}": c for i, c in enumerate(constants) if c is not None}
    return Case(case_id, [node], {"x": tuple(x_shape)}, inits, opset=opset, scale=scale)


def ints(*values: int) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def floats(*values: float) -> np.ndarray:
    return np.asarray(values, dtype=np.float32).reshape(() if len(values) == 1 else -1)


def _split_then_concat(case_id: str, opset: int, sizes: Sequence[int] | None, **attrs: object) -> Case:
    """Split along axis 1 into parts, concatenated back in reverse order (Split has several
    outputs; the model's one output needs them all)."""
    parts = len(sizes) if sizes is not None else int(attrs.get("num_outputs", 2))  # type: ignore[call-overload]
    outs = [f"p{i}" for i in range(parts)]
    inits: dict[str, np.ndarray] = {}
    ins = ["x"]
    if sizes is not None and opset >= 13:
        inits["s"] = ints(*sizes)
        ins.append("s")
    elif sizes is not None:
        attrs["split"] = list(sizes)
    nodes = [
        helper.make_node("Split", ins, outs, name="split_node", axis=1, **attrs),
        helper.make_node("Concat", list(reversed(outs)), ["y"], name="concat_node", axis=1),
    ]
    return Case(case_id, nodes, {"x": (2, 6, 2)}, inits, opset=opset, graph_nodes=["Split"] * parts + ["Concat"])


def _split_one_output_used() -> Case:
    nodes = [
        helper.make_node("Split", ["x"], ["a", "b", "c"], name="split_node", axis=0),
        helper.make_node("Relu", ["b"], ["y"], name="relu_node"),
    ]
    return Case("Split-one-output-used", nodes, {"x": (3, 2)}, opset=13, graph_nodes=["Split", "Relu"])


def _two_var_node(case_id: str, op: str, shapes: Sequence[Sequence[int]], **attrs: object) -> Case:
    names = [f"x{i}" for i in range(len(shapes))]
    node = helper.make_node(op, names, ["y"], name=f"{op.lower()}_node", **attrs)
    return Case(case_id, [node], {n: tuple(s) for n, s in zip(names, shapes, strict=True)}, scale=1.5)


def _concat_with_constant() -> Case:
    node = helper.make_node("Concat", ["x", "k", "x"], ["y"], name="concat_node", axis=-1)
    return Case("Concat-with-constant", [node], {"x": (2, 3)}, {"k": _const("concat-k", [2, 2])})


def _where(case_id: str, y_variable: bool) -> Case:
    condition = _rng(case_id).uniform(size=(2, 3)) > 0.5
    ins = ["cond", "x", "z"]
    node = helper.make_node("Where", ins, ["y"], name="where_node")
    inputs = {"x": (2, 3), "z": (1, 3)} if y_variable else {"x": (2, 3)}
    inits: dict[str, np.ndarray] = {"cond": condition}
    if not y_variable:
        inits["z"] = _const(case_id, [3])
    return Case(case_id, [node], inputs, inits)


def _shape_plumbing() -> Case:
    """torch.onnx's flatten: Shape -> Gather -> Unsqueeze -> Concat -> Reshape; all of it
    but the Reshape folds, since the variable's shape is static."""
    nodes = [
        helper.make_node("Shape", ["x"], ["shape"], name="shape_node"),
        helper.make_node("Gather", ["shape", "zero"], ["batch"], name="gather_node", axis=0),
        helper.make_node("Unsqueeze", ["batch", "axes"], ["batch1"], name="unsqueeze_node"),
        helper.make_node("Concat", ["batch1", "minus_one"], ["target"], name="concat_node", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="reshape_node"),
    ]
    inits = {"zero": np.asarray(0, dtype=np.int64), "axes": ints(0), "minus_one": ints(-1)}
    return Case("Shape-Gather-Concat-Reshape-folded", nodes, {"x": (1, 2, 3)}, inits, graph_nodes=["Reshape"])


def _shape_with_start_end() -> Case:
    """Shape with opset-15 start/end folds to part of the static shape."""
    nodes = [
        helper.make_node("Shape", ["x"], ["dims"], name="shape_node", start=-2, end=-1),
        helper.make_node("Concat", ["minus_one", "dims"], ["target"], name="concat_node", axis=0),
        helper.make_node("Reshape", ["x", "target"], ["y"], name="reshape_node"),
    ]
    inits = {"minus_one": ints(-1)}
    return Case("Shape-start-end-opset-15", nodes, {"x": (1, 2, 3)}, inits, opset=15, graph_nodes=["Reshape"])


def _constant_plumbing() -> Case:
    """ConstantOfShape, Range, Equal, Where and Size on constants all fold: x + mask."""
    nodes = [
        helper.make_node("Size", ["x"], ["n"], name="size_node"),
        helper.make_node("Range", ["zero", "three", "one"], ["r"], name="range_node"),
        helper.make_node("Equal", ["r", "one"], ["is_one"], name="equal_node"),
        helper.make_node(
            "ConstantOfShape",
            ["dims"],
            ["twos"],
            name="cos_node",
            value=helper.make_tensor("v", onnx.TensorProto.FLOAT, [1], [2.0]),
        ),
        helper.make_node("Where", ["is_one", "twos", "minus"], ["mask"], name="where_node"),
        helper.make_node("Cast", ["n"], ["nf"], name="cast_node", to=onnx.TensorProto.FLOAT),
        helper.make_node("Mul", ["mask", "nf"], ["scaled"], name="mul_node"),
        helper.make_node("Add", ["x", "scaled"], ["y"], name="add_node"),
    ]
    inits = {
        "zero": np.asarray(0, dtype=np.int64),
        "three": np.asarray(3, dtype=np.int64),
        "one": np.asarray(1, dtype=np.int64),
        "dims": ints(3),
        "minus": floats(-1.0, -1.0, -1.0),
    }
    return Case("Range-Equal-Where-folded", nodes, {"x": (2, 3)}, inits, graph_nodes=["Add"])


def _softmax_hidden() -> Case:
    nodes = [
        helper.make_node("Softmax", ["x"], ["s"], name="softmax_node", axis=-1),
        helper.make_node("MatMul", ["s", "W"], ["y"], name="matmul_node"),
    ]
    return Case("Softmax-hidden", nodes, {"x": (1, 4)}, {"W": _const("smh-W", [4, 3])})


def _conv_relu_maxpool() -> Case:
    nodes = [
        helper.make_node("Conv", ["x", "W"], ["h"], name="conv_node", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h"], ["r"], name="relu_node"),
        helper.make_node("MaxPool", ["r"], ["y"], name="maxpool_node", kernel_shape=[2, 2], strides=[2, 2]),
    ]
    return Case("Conv-Relu-MaxPool", nodes, {"x": (1, 1, 4, 4)}, {"W": _const("crm-W", [2, 1, 3, 3])}, scale=1.0)


CASES: list[Case] = [
    # Add: constant right / left, broadcasting lower, higher rank and scalar; two variables.
    with_const("Add-const-right", "Add", [2, 3], [2, 3]),
    with_const("Add-const-left", "Add", [2, 3], [2, 3], const_first=True),
    with_const("Add-const-lower-rank", "Add", [1, 2, 3], [3]),
    with_const("Add-const-higher-rank", "Add", [3], [2, 3]),
    with_const("Add-const-higher-rank-left", "Add", [1, 3], [2, 4, 1], const_first=True),
    with_const("Add-const-scalar", "Add", [2, 3], []),
    two_vars("Add-two-vars", "Add", [2, 3], [2, 3]),
    two_vars("Add-two-vars-broadcast", "Add", [2, 1, 3], [4, 1]),
    _constant_then_add(),
    # Sub
    with_const("Sub-const-right", "Sub", [2, 3], [2, 3]),
    with_const("Sub-const-left", "Sub", [2, 3], [2, 3], const_first=True),
    with_const("Sub-const-lower-rank", "Sub", [1, 2, 3], [2, 1]),
    with_const("Sub-const-higher-rank-left", "Sub", [3], [2, 2, 3], const_first=True),
    two_vars("Sub-two-vars", "Sub", [2, 3], [2, 3]),
    two_vars("Sub-two-vars-broadcast", "Sub", [3], [2, 1]),
    # Mul
    with_const("Mul-const-right", "Mul", [2, 3], [2, 3]),
    with_const("Mul-const-left", "Mul", [2, 3], [2, 3], const_first=True),
    with_const("Mul-const-lower-rank", "Mul", [1, 3, 2, 2], [3, 1, 1]),
    with_const("Mul-const-higher-rank", "Mul", [2], [3, 2]),
    with_const("Mul-const-scalar-left", "Mul", [2, 3], [], const_first=True),
    two_vars("Mul-two-vars", "Mul", [2, 3], [2, 3]),
    two_vars("Mul-two-vars-broadcast", "Mul", [1, 3], [2, 1]),
    two_vars("Mul-two-vars-scalar", "Mul", [4], []),
    # Div by a constant (never by a variable)
    with_const("Div-const", "Div", [2, 3], [2, 3], away_from_zero=True),
    with_const("Div-const-lower-rank", "Div", [1, 2, 3], [3], away_from_zero=True),
    with_const("Div-const-higher-rank", "Div", [3], [2, 3], away_from_zero=True),
    with_const("Div-const-scalar", "Div", [2, 3], [], away_from_zero=True),
    # Gemm
    gemm("Gemm-transB", [1, 4], [3, 4], [3], transB=1),
    gemm("Gemm-plain", [2, 4], [4, 3], [3]),
    gemm("Gemm-no-C", [2, 4], [4, 3], None),
    gemm("Gemm-no-C-transB", [1, 4], [3, 4], None, transB=1),
    gemm("Gemm-transA", [4, 2], [4, 3], [3], transA=1),
    gemm("Gemm-transA-transB", [4, 2], [3, 4], [2, 3], transA=1, transB=1),
    gemm("Gemm-alpha-beta", [2, 4], [4, 3], [1, 3], alpha=0.5, beta=-2.0),
    gemm("Gemm-alpha-no-C", [1, 4], [3, 4], None, alpha=-1.5, transB=1),
    gemm("Gemm-C-scalar", [2, 4], [4, 3], [], beta=3.0),
    gemm("Gemm-C-column", [2, 4], [4, 3], [2, 1]),
    # MatMul with a constant on the right or on the left
    matmul("MatMul-const-right", [1, 4], [4, 3], const_left=False),
    matmul("MatMul-const-right-1d", [4], [4, 3], const_left=False),
    matmul("MatMul-const-right-3d", [2, 3, 4], [4, 5], const_left=False),
    matmul("MatMul-const-left", [4, 2], [3, 4], const_left=True),
    matmul("MatMul-const-left-3d-input", [2, 4, 3], [5, 4], const_left=True),
    matmul("MatMul-const-left-1d", [4, 2], [4], const_left=True),
    matmul("MatMul-const-left-3d-weight", [4, 2], [2, 3, 4], const_left=True),
    # Conv: 1-D, 2-D, 3-D; strides, symmetric and asymmetric pads, dilations, groups, auto_pad
    conv("Conv1d", [1, 2, 9], [3, 2, 3]),
    conv("Conv1d-strides-pads-dilations", [1, 2, 11], [3, 2, 3], strides=[2], pads=[1, 2], dilations=[2]),
    conv("Conv2d", [1, 2, 5, 5], [3, 2, 3, 3]),
    conv("Conv2d-no-bias", [1, 1, 4, 4], [2, 1, 2, 2], bias=False),
    conv("Conv2d-batch-2", [2, 2, 4, 4], [3, 2, 3, 3], pads=[1, 1, 1, 1]),
    conv("Conv2d-strides-pads", [1, 2, 7, 6], [2, 2, 3, 3], strides=[2, 2], pads=[1, 1, 1, 1]),
    conv("Conv2d-asymmetric-pads", [1, 2, 5, 6], [2, 2, 3, 2], strides=[2, 1], pads=[0, 1, 2, 0]),
    conv("Conv2d-dilations", [1, 1, 7, 7], [2, 1, 3, 3], dilations=[2, 3], pads=[2, 1, 0, 3]),
    conv("Conv2d-group-2", [1, 4, 5, 5], [6, 2, 3, 3], group=2, pads=[1, 1, 1, 1]),
    conv("Conv2d-depthwise", [1, 3, 5, 5], [3, 1, 3, 3], group=3, strides=[2, 2]),
    conv("Conv2d-same-upper", [1, 2, 5, 6], [2, 2, 3, 4], auto_pad="SAME_UPPER", strides=[2, 2]),
    conv("Conv2d-same-upper-stride-1", [1, 1, 5, 5], [2, 1, 2, 2], auto_pad="SAME_UPPER"),
    conv("Conv2d-kernel-shape-attribute", [1, 2, 5, 5], [2, 2, 3, 3], kernel_shape=[3, 3], pads=[0, 2, 1, 0]),
    conv("Conv2d-same-lower", [1, 2, 5, 6], [2, 2, 3, 4], auto_pad="SAME_LOWER", strides=[2, 2]),
    conv("Conv2d-valid", [1, 2, 5, 5], [2, 2, 3, 3], auto_pad="VALID", strides=[2, 1]),
    conv("Conv3d", [1, 1, 4, 4, 3], [2, 1, 2, 3, 2], pads=[1, 0, 1, 0, 1, 0]),
    # BatchNormalization on its own (not after Conv/Gemm, so not folded)
    batchnorm("BatchNormalization-2d", [2, 3]),
    batchnorm("BatchNormalization-3d", [1, 3, 5], epsilon=1e-3),
    batchnorm("BatchNormalization-4d", [2, 3, 2, 3]),
    # Flatten
    unary("Flatten-default", "Flatten", [1, 2, 3, 4]),
    unary("Flatten-axis-0", "Flatten", [1, 2, 3], axis=0),
    unary("Flatten-axis-2", "Flatten", [2, 2, 3, 2], axis=2),
    unary("Flatten-axis-rank", "Flatten", [2, 3], axis=2),
    unary("Flatten-axis-negative", "Flatten", [1, 2, 3, 4], axis=-1),
    # Reshape with 0 (copy) and -1 (infer)
    with_shape_input("Reshape-0-and-minus-1", "Reshape", [1, 2, 3, 4], [0, -1]),
    with_shape_input("Reshape-two-zeros", "Reshape", [1, 2, 3, 4], [0, 0, -1]),
    with_shape_input("Reshape-zero-middle", "Reshape", [1, 2, 3, 4], [4, 0, -1]),
    with_shape_input("Reshape-flat", "Reshape", [2, 3, 2], [-1]),
    with_shape_input("Reshape-explicit", "Reshape", [1, 6], [1, 2, 3]),
    # Squeeze / Unsqueeze: axes as an attribute (opset < 13) and as an input (opset >= 13)
    unary("Squeeze-axes-attribute", "Squeeze", [1, 3, 1, 2], opset=11, axes=[0, 2]),
    unary("Squeeze-negative-axes-attribute", "Squeeze", [1, 3, 1, 2], opset=11, axes=[-2]),
    unary("Squeeze-all", "Squeeze", [1, 3, 1, 2]),
    with_shape_input("Squeeze-axes-input", "Squeeze", [1, 3, 1, 2], [0, 2]),
    with_shape_input("Squeeze-negative-axes-input", "Squeeze", [1, 3, 1, 2], [-4]),
    unary("Unsqueeze-axes-attribute", "Unsqueeze", [2, 3], opset=11, axes=[0, 3]),
    unary("Unsqueeze-negative-axes-attribute", "Unsqueeze", [2, 3], opset=11, axes=[-1]),
    with_shape_input("Unsqueeze-axes-input", "Unsqueeze", [2, 3], [1]),
    with_shape_input("Unsqueeze-axes-input-unsorted", "Unsqueeze", [2, 3], [-1, 0]),
    # Transpose with and without perm
    unary("Transpose-perm", "Transpose", [1, 2, 3, 4], perm=[0, 2, 3, 1]),
    unary("Transpose-perm-2d", "Transpose", [2, 3], perm=[1, 0]),
    unary("Transpose-default", "Transpose", [2, 3, 4]),
    # Identity, Neg and activations
    unary("Identity", "Identity", [2, 3]),
    unary("Neg", "Neg", [2, 3]),
    unary("Neg-4d", "Neg", [1, 2, 2, 2]),
    unary("Relu", "Relu", [2, 3]),
    unary("Relu-4d", "Relu", [1, 2, 3, 2]),
    unary("Sigmoid", "Sigmoid", [2, 3]),
    unary("Sigmoid-4d", "Sigmoid", [1, 2, 2, 2]),
    unary("Tanh", "Tanh", [2, 3]),
    unary("Tanh-1d", "Tanh", [5]),
    # Pad: pads input (opset 11+), attribute (before 11); modes; negative pads; axes (18+)
    op_case("Pad-constant-zero", "Pad", [1, 2, 3], [ints(0, 1, 2, 0, 0, 1)]),
    op_case("Pad-constant-value", "Pad", [2, 3], [ints(1, 0, 0, 2), floats(1.5)]),
    op_case("Pad-reflect", "Pad", [1, 2, 4], [ints(0, 0, 2, 0, 0, 1)], mode="reflect"),
    op_case("Pad-edge", "Pad", [1, 2, 3], [ints(0, 1, 1, 0, 0, 2)], mode="edge"),
    op_case("Pad-wrap-opset-19", "Pad", [2, 3], [ints(0, 2, 1, 1)], opset=19, mode="wrap"),
    op_case("Pad-negative", "Pad", [1, 3, 4], [ints(0, -1, 1, 0, 0, -2)]),
    op_case("Pad-negative-reflect", "Pad", [2, 5], [ints(-1, 2, 0, -1)], mode="reflect"),
    op_case("Pad-negative-attribute-opset-9", "Pad", [3, 4], opset=9, pads=[1, -1, -2, 1], value=2.0),
    op_case("Pad-axes-opset-18", "Pad", [1, 2, 3], [ints(1, 2, 0, 1), None, ints(1, -1)], opset=18),
    op_case("Pad-attribute-opset-9", "Pad", [1, 2, 3], opset=9, pads=[0, 1, 1, 0, 0, 1], value=0.5),
    op_case("Pad-attribute-reflect-opset-10", "Pad", [2, 4], opset=10, pads=[0, 1, 0, 2], mode="reflect"),
    # Slice: attributes (before 10) and inputs; axes, steps (negative too), omitted axes
    op_case("Slice-attributes-opset-9", "Slice", [2, 3, 4], opset=9, starts=[1, 0], ends=[3, -1], axes=[1, 2]),
    op_case("Slice-inputs", "Slice", [2, 3, 4], [ints(0, 1), ints(1, 4)]),
    op_case("Slice-axes-steps", "Slice", [2, 5, 4], [ints(4, 0), ints(0, 10), ints(1, 2), ints(-2, 3)]),
    op_case("Slice-omitted-axes", "Slice", [3, 4], [ints(1, 1), ints(3, 4), None, ints(1, 2)]),
    op_case("Slice-large-end", "Slice", [3, 4], [ints(1), ints(2**62), ints(-1)], opset=11),
    # Gather with constant indices: axes, negative and scalar indices, 2-D indices
    op_case("Gather-axis-0", "Gather", [3, 2], [ints(2, 0, 0)]),
    op_case("Gather-axis-1-negative", "Gather", [2, 4, 2], [ints(-1, 1)], axis=1),
    op_case("Gather-scalar-index", "Gather", [2, 3], [np.asarray(1, dtype=np.int64)], axis=1),
    op_case("Gather-2d-indices", "Gather", [4, 2], [np.asarray([[0, 3], [2, 2]], dtype=np.int64)]),
    # Expand, Tile
    op_case("Expand", "Expand", [3, 1], [ints(2, 3, 4)]),
    op_case("Expand-same-rank", "Expand", [1, 2, 1], [ints(3, 1, 2)]),
    op_case("Tile", "Tile", [2, 3], [ints(2, 1)]),
    # Concat of variables, and of a variable with a constant; Split into several nodes
    _two_var_node("Concat-two-vars", "Concat", [[2, 3], [2, 1]], axis=1),
    _two_var_node("Concat-three-vars-axis-0", "Concat", [[1, 3], [2, 3], [1, 3]], axis=0),
    _concat_with_constant(),
    _split_then_concat("Split-attribute-opset-11", 11, [2, 4]),
    _split_then_concat("Split-input-opset-13", 13, [1, 2, 3]),
    _split_then_concat("Split-equal-opset-13", 13, None),
    _split_then_concat("Split-num-outputs-opset-18", 18, None, num_outputs=3),
    _split_one_output_used(),
    # Where with a constant condition; constant plumbing that folds away
    _where("Where-variable-and-constant", y_variable=False),
    _where("Where-two-variables", y_variable=True),
    _shape_plumbing(),
    _shape_with_start_end(),
    _constant_plumbing(),
    # Cast to float types
    op_case("Cast-to-float", "Cast", [2, 3], to=onnx.TensorProto.FLOAT),
    Case(
        "Cast-to-double-and-back",
        [
            helper.make_node("Cast", ["x"], ["d"], name="cast_double", to=onnx.TensorProto.DOUBLE),
            helper.make_node("Cast", ["d"], ["y"], name="cast_float", to=onnx.TensorProto.FLOAT),
        ],
        {"x": (2, 3)},
    ),
    # ReduceSum (axes attribute before 13, input from 13), ReduceMean (attribute before 18)
    op_case("ReduceSum-attribute-opset-11", "ReduceSum", [2, 3, 4], opset=11, axes=[1], keepdims=0),
    op_case("ReduceSum-axes-input", "ReduceSum", [2, 3, 4], [ints(0, -1)]),
    op_case("ReduceSum-all", "ReduceSum", [2, 3]),
    op_case("ReduceSum-noop-empty-axes", "ReduceSum", [2, 3], noop_with_empty_axes=1),
    op_case("ReduceMean-attribute", "ReduceMean", [2, 3, 4], axes=[2, 0]),
    op_case("ReduceMean-no-keepdims", "ReduceMean", [2, 3], keepdims=0),
    op_case("ReduceMean-axes-input-opset-18", "ReduceMean", [2, 3, 4], [ints(1)], opset=18),
    # Pooling
    op_case("MaxPool2d", "MaxPool", [1, 2, 4, 4], kernel_shape=[2, 2], strides=[2, 2]),
    op_case("MaxPool2d-pads-stride-1", "MaxPool", [1, 1, 4, 5], kernel_shape=[3, 3], pads=[1, 1, 1, 0]),
    op_case("MaxPool2d-ceil-mode", "MaxPool", [1, 2, 5, 5], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1),
    op_case("MaxPool2d-dilations", "MaxPool", [1, 1, 6, 6], kernel_shape=[2, 2], dilations=[2, 2]),
    op_case(
        "MaxPool2d-same-upper", "MaxPool", [2, 1, 5, 4], kernel_shape=[2, 3], strides=[2, 2], auto_pad="SAME_UPPER"
    ),
    op_case("MaxPool1d", "MaxPool", [1, 2, 7], kernel_shape=[3], strides=[2], pads=[1, 1]),
    op_case("MaxPool3d", "MaxPool", [1, 1, 3, 4, 4], kernel_shape=[2, 2, 2], strides=[1, 2, 2]),
    op_case("MaxPool2d-opset-9", "MaxPool", [1, 2, 4, 4], opset=9, kernel_shape=[2, 2], strides=[2, 2]),
    op_case("AveragePool2d", "AveragePool", [1, 2, 4, 4], kernel_shape=[2, 2], strides=[2, 2]),
    op_case("AveragePool2d-pads-exclude", "AveragePool", [1, 1, 4, 5], kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
    op_case(
        "AveragePool2d-pads-include",
        "AveragePool",
        [1, 1, 4, 5],
        kernel_shape=[3, 3],
        pads=[1, 0, 1, 1],
        count_include_pad=1,
    ),
    op_case(
        "AveragePool2d-ceil-include",
        "AveragePool",
        [1, 1, 5, 5],
        kernel_shape=[2, 2],
        strides=[2, 2],
        pads=[1, 1, 0, 0],
        ceil_mode=1,
        count_include_pad=1,
    ),
    op_case("AveragePool2d-same-lower", "AveragePool", [1, 2, 5, 5], kernel_shape=[2, 2], auto_pad="SAME_LOWER"),
    op_case("AveragePool1d", "AveragePool", [1, 2, 6], kernel_shape=[2], strides=[2]),
    op_case(
        "AveragePool2d-dilations-opset-19", "AveragePool", [1, 1, 5, 5], opset=19, kernel_shape=[2, 2], dilations=[2, 1]
    ),
    unary("GlobalAveragePool2d", "GlobalAveragePool", [1, 3, 4, 5]),
    unary("GlobalAveragePool1d", "GlobalAveragePool", [2, 3, 4]),
    # Elementwise nonlinear ops
    op_case("Clip-attributes-opset-9", "Clip", [2, 3], opset=9, min=-0.5, max=1.0),
    op_case("Clip-min-only-attribute-opset-9", "Clip", [2, 3], opset=9, min=0.0),
    op_case("Clip-inputs", "Clip", [2, 3], [floats(-1.0), floats(0.5)]),
    op_case("Clip-min-only-input", "Clip", [2, 3], [floats(0.25)]),
    op_case("Clip-max-only-input", "Clip", [2, 3], [None, floats(6.0)], scale=4.0),
    op_case("Clip-no-bounds", "Clip", [2, 3]),
    unary("LeakyRelu-default", "LeakyRelu", [2, 3]),
    unary("LeakyRelu-alpha", "LeakyRelu", [1, 2, 2, 2], alpha=0.2),
    unary("LeakyRelu-negative-alpha", "LeakyRelu", [2, 3], alpha=-0.5),
    unary("LeakyRelu-alpha-above-1", "LeakyRelu", [2, 3], alpha=2.0),
    unary("Abs", "Abs", [2, 3]),
    unary("Sign", "Sign", [2, 3]),
    op_case("Pow-square", "Pow", [2, 3], [floats(2.0)]),
    op_case("Pow-cube", "Pow", [2, 3], [floats(3.0)], scale=1.0),
    op_case("Pow-fourth", "Pow", [3], [floats(4.0)], scale=1.0),
    op_case("Pow-one", "Pow", [3], [floats(1.0)]),
    op_case("Pow-zero", "Pow", [3], [floats(0.0)]),
    op_case("Pow-int-exponent", "Pow", [2, 2], [np.asarray(2, dtype=np.int64)]),
    # Softmax: axis (13+), flattening semantics (before 13), hidden
    unary("Softmax-last-axis", "Softmax", [2, 4]),
    unary("Softmax-axis-1", "Softmax", [1, 3, 2], axis=1),
    unary("Softmax-flatten-opset-11", "Softmax", [1, 2, 3], opset=11),
    unary("Softmax-flatten-axis-2-opset-11", "Softmax", [2, 2, 3], opset=11, axis=2),
    _softmax_hidden(),
    _conv_relu_maxpool(),
    # Two-node models
    _gemm_then_relu(),
    _conv_then_flatten(),
]

CASE_BY_ID = {c.id: c for c in CASES}
AFFINE_CASES = [c for c in CASES if c.affine]


@functools.cache
def model_of(case_id: str) -> onnx.ModelProto:
    """The case's model, its output shape declared as onnxruntime computes it."""
    case = CASE_BY_ID[case_id]
    build = functools.partial(make_model, case.nodes, case.inputs, initializers=case.initializers, opset=case.opset)
    zeros = {name: np.zeros(shape, np.float32) for name, shape in case.inputs.items()}
    (out,) = ort_run(build({"y": None}, check=False), zeros)
    return build({"y": out.shape})


@functools.cache
def graph_of(case_id: str) -> bounds.Graph:
    return bounds.import_model(model_of(case_id))


def _random_feeds(case: Case, rng: np.random.Generator, count: int) -> list[dict[str, np.ndarray]]:
    return [
        {name: (case.scale * rng.normal(size=shape)).astype(np.float32) for name, shape in case.inputs.items()}
        for _ in range(count)
    ]


def _case_params(cases: Sequence[Case]) -> list[object]:
    return [pytest.param(c, id=c.id) for c in cases]


def test_case_ids_are_unique() -> None:
    assert len(CASE_BY_ID) == len(CASES)


def test_every_registered_operator_has_an_example() -> None:
    """Every op type ``supports --onnx-operators`` lists: built ops appear in an imported
    graph, folded-only ones among the nodes of an example."""
    covered = {t for case in CASES for t in case.op_types}
    missing = sorted((set(OPERATORS) | set(SPLITTERS)) - covered)
    assert not missing, f"operators without a conformance example: {missing}"
    folded = {n.op_type for case in CASES for n in case.nodes}
    assert not sorted(FOLDED_ONLY - folded), f"folded operators without an example: {sorted(FOLDED_ONLY - folded)}"


@pytest.mark.parametrize("op_type", sorted(AFFINE_TYPES))
def test_every_affine_operator_has_a_matrix_example(op_type: str) -> None:
    assert any(c.op_types == [op_type] for c in AFFINE_CASES)


@pytest.mark.parametrize("case", _case_params(CASES))
def test_import_builds_expected_nodes(case: Case) -> None:
    graph = graph_of(case.id)
    assert [n.op_type for n in graph.nodes] == case.op_types
    assert [i.name for i in graph.inputs] == list(case.inputs)
    assert {i.name: i.shape for i in graph.inputs} == dict(case.inputs)
    declared = model_of(case.id).graph.output[0].type.tensor_type.shape.dim
    assert graph.output.shape == tuple(d.dim_value for d in declared)
    for node in graph.nodes:
        assert node.op.output_shape == graph.shapes[node.output]


@pytest.mark.parametrize("case", _case_params(CASES))
def test_evaluation_matches_onnxruntime(case: Case) -> None:
    model, graph = model_of(case.id), graph_of(case.id)
    feeds = _random_feeds(case, np.random.default_rng(0), 5)
    expected = ort_batch(model, feeds)
    values = {name: batched([f[name] for f in feeds]) for name in case.inputs}
    with torch.no_grad():
        actual = graph.evaluate(values)[graph.output.name]
    assert actual.dtype == torch.float64
    assert tuple(actual.shape) == expected.shape
    np.testing.assert_allclose(actual.numpy(), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", _case_params(CASES))
def test_interval_soundness(case: Case) -> None:
    graph = graph_of(case.id)
    rng = np.random.default_rng(1)
    widths = (1.0, 0.1, 0.0)  # a wide box, a narrow box and a point
    lower, upper = {}, {}
    for name, shape in case.inputs.items():
        center = case.scale * rng.normal(size=(len(widths), *shape))
        radius = np.stack([w * rng.uniform(0.0, case.scale, size=shape) for w in widths])
        lower[name], upper[name] = center - radius, center + radius
    boxes = {n: Interval(torch.as_tensor(lower[n]), torch.as_tensor(upper[n])) for n in case.inputs}
    with torch.no_grad():
        bounded = bounds.propagate(graph, boxes)
    assert set(bounded) == set(graph.shapes)
    for name, box in bounded.items():
        assert tuple(box.lower.shape) == (len(widths), *graph.shapes[name]), name
        assert tuple(box.upper.shape) == tuple(box.lower.shape), name
        assert bool((box.lower <= box.upper).all()), name
    for index in range(len(widths)):
        points = sample_box({n: lower[n][index] for n in lower}, {n: upper[n][index] for n in upper}, rng)
        with torch.no_grad():
            values = graph.evaluate(points)
        for name, box in bounded.items():
            assert_within(values[name], box, index, what=f"{case.id} tensor {name!r} box {index}")
    # A point box has (up to rounding) the point's value as both bounds.
    point = {n: torch.as_tensor(lower[n][-1:]) for n in lower}
    with torch.no_grad():
        exact = graph.evaluate(point)[graph.output.name][0]
    out = bounded[graph.output.name]
    torch.testing.assert_close(out.lower[-1], exact, rtol=0, atol=1e-9)
    torch.testing.assert_close(out.upper[-1], exact, rtol=0, atol=1e-9)


@pytest.mark.parametrize("case", _case_params(AFFINE_CASES))
def test_affine_matrix_reproduces_evaluation(case: Case) -> None:
    graph = graph_of(case.id)
    (node,) = graph.nodes
    assert isinstance(node.op, Affine), f"{case.id}: {type(node.op).__name__} is not Affine"
    in_shape = graph.shapes[node.inputs[0]]
    n_in, n_out = math.prod(in_shape), math.prod(node.op.output_shape)
    matrix, offset = node.op.linear_map(in_shape)
    assert tuple(matrix.shape) == (n_out, n_in)
    assert tuple(offset.shape) == (n_out,)
    rng = np.random.default_rng(2)
    x = torch.as_tensor(case.scale * rng.normal(size=(6, *in_shape)))
    with torch.no_grad():
        expected = node.op.evaluate(x).reshape(6, -1)
        linear = node.op.linear(x).reshape(6, -1)
    torch.testing.assert_close(x.reshape(6, -1) @ matrix.T + offset, expected, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(x.reshape(6, -1) @ matrix.T, linear, rtol=1e-10, atol=1e-10)
    # abs_linear is |L| applied to a nonnegative vector.
    r = torch.as_tensor(rng.uniform(size=(6, *in_shape)))
    with torch.no_grad():
        abs_applied = node.op.abs_linear(r).reshape(6, -1)
    torch.testing.assert_close(abs_applied, r.reshape(6, -1) @ matrix.abs().T, rtol=1e-10, atol=1e-10)
    # The interval of an affine op is exact: center W c + b, radius |W| r.
    center = torch.as_tensor(rng.normal(size=(3, *in_shape)))
    radius = torch.as_tensor(rng.uniform(size=(3, *in_shape)))
    with torch.no_grad():
        box = node.op.interval(Interval(center - radius, center + radius))
    mid = center.reshape(3, -1) @ matrix.T + offset
    rad = radius.reshape(3, -1) @ matrix.abs().T
    torch.testing.assert_close(box.lower.reshape(3, -1), mid - rad, rtol=1e-10, atol=1e-10)
    torch.testing.assert_close(box.upper.reshape(3, -1), mid + rad, rtol=1e-10, atol=1e-10)


def _node_boxes(case: Case) -> tuple[bounds.Graph, dict[str, Interval], dict[str, torch.Tensor]]:
    """The case's graph, bounds on every tensor for three boxes (wide, narrow, a point),
    and 300 sampled values of every tensor per box (batch axis: box * 300 + sample)."""
    graph = graph_of(case.id)
    rng = np.random.default_rng(3)
    widths = (1.0, 0.1, 0.0)
    lower, upper = {}, {}
    for name, shape in case.inputs.items():
        center = case.scale * rng.normal(size=(len(widths), *shape))
        radius = np.stack([w * rng.uniform(0.0, case.scale, size=shape) for w in widths])
        lower[name], upper[name] = center - radius, center + radius
    boxes = {n: Interval(torch.as_tensor(lower[n]), torch.as_tensor(upper[n])) for n in case.inputs}
    samples = {
        n: torch.as_tensor(
            lower[n][:, None] + rng.uniform(size=(3, 300, *lower[n].shape[1:])) * (upper[n] - lower[n])[:, None]
        ).reshape(-1, *lower[n].shape[1:])
        for n in case.inputs
    }
    with torch.no_grad():
        return graph, bounds.propagate(graph, boxes), graph.evaluate(samples)


RELAXED_CASES = [
    c
    for c in CASES
    if any(
        type(n.op).relaxation is not Op.relaxation or type(n.op).linear_relaxation is not Op.linear_relaxation
        for n in graph_of(c.id).nodes
    )
]


@pytest.mark.parametrize("case", _case_params(RELAXED_CASES))
def test_linear_bounds_contain_samples(case: Case) -> None:
    """For every node with ``relaxation`` (at both ends of its lower-slope range too) or
    ``linear_relaxation``, sampled inputs from its input bounds map between the lines."""
    graph, bounded, values = _node_boxes(case)
    for node in graph.nodes:
        boxes = [bounded[name] for name in node.inputs]
        inputs = [values[name] for name in node.inputs]
        with torch.no_grad():
            out = node.op.evaluate(*inputs).reshape(3, 300, -1)
            relax = node.op.relaxation(boxes[0].lower, boxes[0].upper) if len(boxes) == 1 else None
            linear = node.op.linear_relaxation(*boxes)
        if relax is not None:
            x = inputs[0].reshape(3, 300, -1)
            flat = [t.reshape(3, 1, -1) for t in (relax.lower_offset, relax.upper_slope, relax.upper_offset)]
            for slope in (relax.lower_slope, relax.lower_slope_min, relax.lower_slope_max):
                assert bool((slope.reshape(3, 1, -1) * x + flat[0] <= out + 1e-9).all()), f"{case.id} {node.name}"
            assert bool((flat[1] * x + flat[2] >= out - 1e-9).all()), f"{case.id} {node.name}"
        if linear is not None:
            x = inputs[0].reshape(3, 300, -1)
            low = torch.einsum("bon,bsn->bso", linear.lower_weight, x) + linear.lower_bias[:, None]
            high = torch.einsum("bon,bsn->bso", linear.upper_weight, x) + linear.upper_bias[:, None]
            assert bool((low <= out + 1e-9).all()), f"{case.id} {node.name}: lower"
            assert bool((high >= out - 1e-9).all()), f"{case.id} {node.name}: upper"


ELEMENTWISE_CASES = [c for c in RELAXED_CASES if len(c.op_types) == 1 and c.op_types[0] not in ("MaxPool", "Softmax")]


@pytest.mark.parametrize("case", _case_params(ELEMENTWISE_CASES))
def test_elementwise_relaxation_holds_densely(case: Case) -> None:
    """1-D check: for intervals with ends on a grid over [-5, 5] (points, ends at 0 and at
    the kinks included), 401 points in each interval lie between the two lines, for every
    lower slope in the declared range; a point interval gives the value exactly."""
    (node,) = graph_of(case.id).nodes
    grid = torch.cat([torch.linspace(-5, 5, 41, dtype=torch.float64), torch.tensor([-1.0, -0.5, 0.25, 1.0, 6.0])])
    lo, hi = torch.meshgrid(grid, grid, indexing="ij")
    keep = lo <= hi
    lower, upper = lo[keep][:, None], hi[keep][:, None]
    x = lower + (upper - lower) * torch.linspace(0, 1, 401, dtype=torch.float64)
    with torch.no_grad():
        y = node.op.evaluate(x)
        relax = node.op.relaxation(lower, upper)
    assert relax is not None
    assert bool((relax.lower_slope_min <= relax.lower_slope + 1e-12).all())
    assert bool((relax.lower_slope <= relax.lower_slope_max + 1e-12).all())
    for slope in (relax.lower_slope, relax.lower_slope_min, relax.lower_slope_max):
        assert bool((slope * x + relax.lower_offset <= y + 1e-9).all()), case.id
    assert bool((relax.upper_slope * x + relax.upper_offset >= y - 1e-9).all()), case.id
    point = (lower == upper).reshape(-1)
    at = lower[point]
    with torch.no_grad():
        exact = node.op.evaluate(at)
    torch.testing.assert_close(relax.lower_slope[point] * at + relax.lower_offset[point], exact, rtol=0, atol=1e-9)
    torch.testing.assert_close(relax.upper_slope[point] * at + relax.upper_offset[point], exact, rtol=0, atol=1e-9)


AFFINE_FLAGGED = [c for c in CASES if all(n.op.affine for n in graph_of(c.id).nodes)]


@pytest.mark.parametrize("case", _case_params(AFFINE_FLAGGED))
def test_affine_ops_are_affine_through_their_jacobian(case: Case) -> None:
    """Ops flagged ``affine`` are exactly ``J x + f(0)``, with J from autograd (the
    vector-Jacobian products backward propagation uses)."""
    graph = graph_of(case.id)
    rng = np.random.default_rng(4)
    for node in graph.nodes:
        shapes = [graph.shapes[name] for name in node.inputs]
        zeros = [torch.zeros(1, *s, dtype=torch.float64) for s in shapes]
        points = [torch.as_tensor(case.scale * rng.normal(size=(1, *s))) for s in shapes]
        jacobians = torch.autograd.functional.jacobian(node.op.evaluate, tuple(points))
        with torch.no_grad():
            at_zero = node.op.evaluate(*zeros).reshape(-1)
            value = node.op.evaluate(*points).reshape(-1)
        n_out = value.shape[0]
        linear = sum(j.reshape(n_out, -1) @ p.reshape(-1) for j, p in zip(jacobians, points, strict=True))
        torch.testing.assert_close(linear + at_zero, value, rtol=1e-10, atol=1e-10)
        if len(shapes) == 1 and (mapped := node.op.linear_map(shapes[0])) is not None:
            matrix, offset = mapped
            torch.testing.assert_close(matrix, jacobians[0].reshape(n_out, -1), rtol=1e-10, atol=1e-10)
            torch.testing.assert_close(offset, at_zero, rtol=1e-10, atol=1e-10)


def test_unsupported_forms_are_all_named_at_load_time() -> None:
    """Forms the ops cannot analyse are refused at import, every offender named at once."""
    nodes = [
        helper.make_node("Cast", ["x"], ["as_int"], name="cast_to_int", to=onnx.TensorProto.INT64),
        helper.make_node("Pad", ["x", "crop"], ["cropped"], name="cropped_away"),
        helper.make_node("Pow", ["x", "half"], ["root"], name="fractional_pow"),
        helper.make_node("Gather", ["table", "as_int"], ["looked_up"], name="variable_indices"),
        helper.make_node("MaxPool", ["x4"], ["pooled", "where"], name="maxpool_indices", kernel_shape=[2, 2]),
        helper.make_node("Clip", ["x", "x"], ["clipped"], name="variable_min"),
        helper.make_node("Erf", ["x"], ["erf"], name="erf_node"),
        helper.make_node("Equal", ["x", "x"], ["same"], name="variable_equal"),
        helper.make_node("Add", ["root", "clipped"], ["y"], name="add_node"),
    ]
    inits = {"crop": ints(0, -4, 0, 0), "half": floats(0.5), "table": _const("table", [3, 3])}
    model = make_model(nodes, {"x": [2, 3], "x4": [1, 1, 2, 2]}, {"y": [2, 3]}, inits, check=False)
    with pytest.raises(bounds.UnsupportedOperatorError) as raised:
        bounds.import_model(model)
    named = {o.node for o in raised.value.offenders}
    # The Gather's variable indices come from the refused Cast, which is what gets named.
    assert named == {
        "cast_to_int",
        "cropped_away",
        "fractional_pow",
        "maxpool_indices",
        "variable_min",
        "erf_node",
        "variable_equal",
    }
    reasons = {o.node: o.reason for o in raised.value.offenders}
    assert reasons["variable_equal"] == "only supported on constants"
    assert reasons["erf_node"] == "not supported"
    assert "INT64" in reasons["cast_to_int"]
