"""What can be known about a network's values: graph IR, ONNX import, bound propagation."""

from bounds.errors import ModelError, ShapeError, Unsupported, UnsupportedOperatorError
from bounds.graph import Graph, Node, TensorInfo
from bounds.interval import LinearTermBounds, propagate
from bounds.onnx_import import import_model, load_onnx
from bounds.ops.base import Interval

__all__ = [
    "Graph",
    "Interval",
    "LinearTermBounds",
    "ModelError",
    "Node",
    "ShapeError",
    "TensorInfo",
    "Unsupported",
    "UnsupportedOperatorError",
    "import_model",
    "load_onnx",
    "propagate",
]
