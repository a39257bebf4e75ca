"""Small queries for the exact-engine tests: cases over networks built in code."""

from __future__ import annotations

import itertools

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

from bounds.crown import CrownBounds
from bounds.graph import Graph
from bounds.onnx_build import dense_network
from bounds.onnx_import import import_model
from specs.property import (
    Box,
    Case,
    InputRegion,
    LinearConstraints,
    OutputCondition,
    PolynomialConstraints,
    PolynomialRow,
)


def case(lower, upper, clauses, strict=False, constraints=None) -> Case:
    """A case over the box; ``clauses`` is a list of (A, b) pairs."""
    n = len(lower)
    rows = tuple(
        LinearConstraints(np.asarray(A, float), np.asarray(b, float), np.full(len(b), strict)) for A, b in clauses
    )
    region = InputRegion(Box(lower, upper), constraints if constraints is not None else LinearConstraints.empty(n))
    return Case(region, OutputCondition(rows))


def polynomial_case(lower, upper, n_out, clauses) -> Case:
    """A case over the box; ``clauses`` is a list of (A, b, polynomial rows) triples over
    n_out outputs, A a list of rows (possibly empty)."""
    rows = tuple(
        LinearConstraints(
            np.asarray(A, float).reshape(len(b), n_out),
            np.asarray(b, float),
            np.zeros(len(b), bool),
            PolynomialConstraints(n_out, tuple(PolynomialRow(*row) for row in polynomial)),
        )
        for A, b, polynomial in clauses
    )
    return Case(InputRegion(Box(lower, upper), LinearConstraints.empty(len(lower))), OutputCondition(rows))


def residual_network() -> onnx.ModelProto:
    """y = relu(W1 x) + W2 x for x of size 2: a sum of two variable tensors (SumOfTwo)."""
    w1 = np.array([[1.0, -1.0], [-1.0, 1.0]], np.float32)
    w2 = np.array([[0.5, 0.0], [0.0, -0.5]], np.float32)
    nodes = [
        helper.make_node("Gemm", ["x", "W1"], ["h"], transB=1),
        helper.make_node("Relu", ["h"], ["a"]),
        helper.make_node("Gemm", ["x", "W2"], ["s"], transB=1),
        helper.make_node("Add", ["a", "s"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "residual",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
        [numpy_helper.from_array(w1, "W1"), numpy_helper.from_array(w2, "W2")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def _model(nodes, shape_in, shape_out, inits, opset=13) -> onnx.ModelProto:
    graph = helper.make_graph(
        nodes,
        "piecewise",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape_in)],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, shape_out)],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def difference_through(op_type: str, *, opset: int = 13, bounds=(), **attributes) -> onnx.ModelProto:
    """y = op(x0 - x1) for x of size 2; ``bounds`` are Clip's optional min/max inputs."""
    inits = {"W": np.array([[1.0, -1.0]], np.float32), "B": np.zeros(1, np.float32)}
    names = []
    for name, value in zip(("lo", "hi"), bounds, strict=False):
        if value is not None:
            inits[name] = np.array(value, np.float32)
        names.append(name if value is not None else "")
    nodes = [
        helper.make_node("Gemm", ["x", "W", "B"], ["h"], transB=1),
        helper.make_node(op_type, ["h", *names], ["y"], **attributes),
    ]
    return _model(nodes, [1, 2], [1, 1], inits, opset)


def max_pool_less_input() -> onnx.ModelProto:
    """y_i = max(x_{i-1}, x_i, x_{i+1}) - x_i for x of shape (1, 1, 4): a 1-D MaxPool of
    kernel 3, stride 1 and padding 1 (the end windows hold padding). Always y >= 0."""
    nodes = [
        helper.make_node("MaxPool", ["x"], ["p"], kernel_shape=[3], pads=[1, 1]),
        helper.make_node("Sub", ["p", "x"], ["d"]),
        helper.make_node("Flatten", ["d"], ["y"]),
    ]
    return _model(nodes, [1, 1, 4], [1, 4], {})


def random_piecewise_network(rng: np.random.Generator, n_in: int, n_out: int) -> onnx.ModelProto:
    """A random fully connected network whose hidden layers end in Relu, LeakyRelu, Abs or
    Clip, picked at random, some followed by a 1-D MaxPool (kernel 2 or 3, stride 1 or 2)."""
    nodes, inits = [], {}
    current, width = "x", n_in
    for i in range(int(rng.integers(1, 4))):
        out = int(rng.integers(3, 9))
        inits[f"W{i}"] = (rng.normal(size=(out, width)) / np.sqrt(width)).astype(np.float32)
        inits[f"B{i}"] = (rng.normal(size=out) * 0.3).astype(np.float32)
        nodes.append(helper.make_node("Gemm", [current, f"W{i}", f"B{i}"], [f"h{i}"], transB=1))
        kind = str(rng.choice(["Relu", "LeakyRelu", "Abs", "Clip"]))
        attributes: dict = {"alpha": float(rng.uniform(-0.5, 0.5))} if kind == "LeakyRelu" else {}
        operands = [f"h{i}"]
        if kind == "Clip":
            low = float(rng.uniform(-1.0, 0.0))
            inits[f"lo{i}"] = np.array(low, np.float32)
            inits[f"hi{i}"] = np.array(low + rng.uniform(0.2, 1.5), np.float32)
            operands += [f"lo{i}", f"hi{i}"]
        nodes.append(helper.make_node(kind, operands, [f"a{i}"], **attributes))
        current, width = f"a{i}", out
        if rng.random() < 0.5:
            kernel, stride = int(rng.integers(2, 4)), int(rng.integers(1, 3))
            inits[f"s{i}"] = np.array([1, 1, width], np.int64)
            inits[f"f{i}"] = np.array([1, -1], np.int64)
            nodes += [
                helper.make_node("Reshape", [current, f"s{i}"], [f"r{i}"]),
                helper.make_node("MaxPool", [f"r{i}"], [f"m{i}"], kernel_shape=[kernel], strides=[stride]),
                helper.make_node("Reshape", [f"m{i}", f"f{i}"], [f"p{i}"]),
            ]
            current, width = f"p{i}", (width - kernel) // stride + 1
    inits["Wout"] = (rng.normal(size=(n_out, width)) / np.sqrt(width)).astype(np.float32)
    nodes.append(helper.make_node("Gemm", [current, "Wout"], ["y"], transB=1))
    return _model(nodes, [1, n_in], [1, n_out], inits)


def dense_graph(seed: int, sizes: list[int]) -> Graph:
    """A random dense ReLU network with the given layer sizes."""
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(o, i)) / np.sqrt(i) for i, o in itertools.pairwise(sizes)]
    biases = [rng.normal(size=o) * 0.3 for o in sizes[1:]]
    return import_model(dense_network(weights, biases))


def two_clause_case(lower, upper, thresholds) -> Case:
    """Violation: ``y0 >= thresholds[0]`` or ``y1 >= thresholds[1]`` (two clauses)."""
    clauses = tuple(
        LinearConstraints(-np.eye(2)[i : i + 1], np.array([-t]), np.zeros(1, bool)) for i, t in enumerate(thresholds)
    )
    box = Box(np.asarray(lower), np.asarray(upper))
    return Case(InputRegion(box, LinearConstraints.empty(len(lower))), OutputCondition(clauses))


def planted_cases(graph: Graph, lower: np.ndarray, upper: np.ndarray) -> list[Case]:
    """Two two-clause cases the root bounds leave open: one clause violated, then none."""
    peaks = graph.run_numpy(np.random.default_rng(1).uniform(lower, upper, size=(20000, len(lower)))).max(axis=0)
    ceilings = -CrownBounds(graph, -torch.eye(2, dtype=torch.float64))(
        torch.tensor(lower)[None], torch.tensor(upper)[None]
    )[0].numpy()
    assert np.all(ceilings > peaks + 0.05), "bounds alone should not decide these cases"
    between = peaks + 0.5 * (ceilings - peaks)
    return [two_clause_case(lower, upper, thresholds) for thresholds in ([between[0], peaks[1] - 0.05], between)]
