"""Build small ONNX models from weights in code (for the demo, tests and benchmarks)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

ACTIVATIONS = ("Relu", "Sigmoid", "Tanh")


def dense_network(
    weights: Sequence[np.ndarray],
    biases: Sequence[np.ndarray],
    *,
    activation: str = "Relu",
    opset: int = 13,
) -> onnx.ModelProto:
    """A float32 fully connected network: Gemm (y = x W^T + b) and ``activation`` between layers.

    ``weights[i]`` has shape (out, in), as in ``torch.nn.Linear``. Input ``x`` and output
    ``y`` have shapes (1, in) and (1, out).
    """
    if activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}")
    nodes, inits = [], []
    current = "x"
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        inits += [
            numpy_helper.from_array(np.asarray(w, np.float32), f"W{i}"),
            numpy_helper.from_array(np.asarray(b, np.float32), f"B{i}"),
        ]
        last = i == len(weights) - 1
        out = "y" if last else f"h{i}"
        nodes.append(helper.make_node("Gemm", [current, f"W{i}", f"B{i}"], [out], name=f"dense{i}", transB=1))
        if not last:
            nodes.append(helper.make_node(activation, [out], [f"a{i}"], name=f"act{i}"))
            out = f"a{i}"
        current = out
    graph = helper.make_graph(
        nodes,
        "dense",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, int(weights[0].shape[1])])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, int(weights[-1].shape[0])])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model
