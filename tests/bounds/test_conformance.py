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
from bounds.ops import OPERATORS
from bounds.ops.base import Affine, Interval

AFFINE_TYPES = frozenset({"Add", "Sub", "Mul", "Div", "Neg", "Gemm", "MatMul", "Conv", "BatchNormalization"})
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

    @property
    def op_types(self) -> list[str]:
        """The node op types the imported graph should have (Constant nodes are folded)."""
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
    covered = {t for case in CASES for t in case.op_types}
    missing = sorted(set(OPERATORS) - covered)
    assert not missing, f"operators without a conformance example: {missing}"


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
