"""What can be known about a network's values: graph IR, ONNX import, bound propagation.

The names below are imported from their modules on first use (PEP 562), so that importing
one torch-free module of the package (``bounds.errors``, ``bounds.onnx_file``,
``bounds.compose``) does not import torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from bounds.errors import ModelError, ShapeError, Unsupported, UnsupportedOperatorError
from bounds.onnx_file import TensorInfo

if TYPE_CHECKING:
    from bounds.graph import Graph, Node
    from bounds.interval import LinearTermBounds, propagate
    from bounds.onnx_import import import_model, load_onnx
    from bounds.ops.base import Interval

_LAZY = {
    "Graph": "bounds.graph",
    "Node": "bounds.graph",
    "LinearTermBounds": "bounds.interval",
    "propagate": "bounds.interval",
    "import_model": "bounds.onnx_import",
    "load_onnx": "bounds.onnx_import",
    "Interval": "bounds.ops.base",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'bounds' has no attribute {name!r}")


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
