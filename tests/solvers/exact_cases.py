"""Small queries for the exact-engine tests: cases over networks built in code."""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from specs.property import Box, Case, InputRegion, LinearConstraints, OutputCondition


def case(lower, upper, clauses, strict=False, constraints=None) -> Case:
    """A case over the box; ``clauses`` is a list of (A, b) pairs."""
    n = len(lower)
    rows = tuple(
        LinearConstraints(np.asarray(A, float), np.asarray(b, float), np.full(len(b), strict)) for A, b in clauses
    )
    region = InputRegion(Box(lower, upper), constraints if constraints is not None else LinearConstraints.empty(n))
    return Case(region, OutputCondition(rows))


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
