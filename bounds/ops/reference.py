"""Running one ONNX node with ONNX's reference evaluator, at the model's opset.

Used to fold constant nodes at import and to trace selections (``selection``). The node is
wrapped in a one-node model so the evaluator picks the implementation of the right opset
(operators such as Pad changed from attributes to inputs across versions).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import onnx
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator


def run_node(node: onnx.NodeProto, opset: int, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """All outputs of ``node`` for the given inputs (every non-empty input name must be fed)."""
    inputs = [
        helper.make_tensor_value_info(name, helper.np_dtype_to_tensor_dtype(np.asarray(value).dtype), None)
        for name, value in feeds.items()
    ]
    outputs = [helper.make_tensor_value_info(name, TensorProto.UNDEFINED, None) for name in node.output if name]
    graph = helper.make_graph([node], "node", inputs, outputs)
    domains = {node.domain or ""}
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid(d, opset if d == "" else 1) for d in domains])
    results = ReferenceEvaluator(model).run(None, dict(feeds))
    return [np.asarray(r) for r in results]
