"""The MILP engine's encodings of piecewise-linear ops, by ONNX op type (``ENCODERS``).

Each encoder adapts one op to ``solvers.milp.MilpModel``'s ReLU and maximum (the encodings
themselves are described in ``solvers.milp``). This module does not import cvxpy, so a
search can ask whether the engine encodes a graph (``encodes``) without paying cvxpy's
import (1.5-2 s) on the core it searches on; the engine's child process imports it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING

import numpy as np

from bounds.graph import Graph, Node
from bounds.ops.clip import Clip
from bounds.ops.leakyrelu import LeakyRelu
from bounds.ops.maxpool import MaxPool
from solvers.exact import op_of

if TYPE_CHECKING:
    import cvxpy as cp

    from solvers.milp import MilpModel

Bounds = tuple[np.ndarray, np.ndarray]  # flat lower and upper bounds of a tensor

MilpEncoder = Callable[["MilpModel", Node, tuple["cp.Expression", ...], tuple[Bounds, ...]], "cp.Expression"]
"""Encodes one node: the model to add to, the node, its flat input expressions and their bounds."""


def _relu(model: MilpModel, node: Node, inputs: tuple[cp.Expression, ...], bounds: tuple[Bounds, ...]) -> cp.Expression:
    return model.relu(inputs[0], *bounds[0])


def _abs(model: MilpModel, node: Node, inputs: tuple[cp.Expression, ...], bounds: tuple[Bounds, ...]) -> cp.Expression:
    out: cp.Expression = model.relu(inputs[0], *bounds[0]) * 2 - inputs[0]
    return out


def _leaky_relu(
    model: MilpModel, node: Node, inputs: tuple[cp.Expression, ...], bounds: tuple[Bounds, ...]
) -> cp.Expression:
    alpha = op_of(node, LeakyRelu).alpha
    out: cp.Expression = inputs[0] * alpha + model.relu(inputs[0], *bounds[0]) * (1 - alpha)
    return out


def _clip(model: MilpModel, node: Node, inputs: tuple[cp.Expression, ...], bounds: tuple[Bounds, ...]) -> cp.Expression:
    op = op_of(node, Clip)
    (x,), ((lower, upper),) = inputs, bounds
    out = x
    if op.low is not None:  # max(x, lo) = lo + relu(x - lo)
        out = model.relu(x - op.low, lower - op.low, upper - op.low) + op.low
    if op.high is not None:  # then less relu(x - hi), as lo <= hi
        out = out - model.relu(x - op.high, lower - op.high, upper - op.high)
    return out


def _max_pool(
    model: MilpModel, node: Node, inputs: tuple[cp.Expression, ...], bounds: tuple[Bounds, ...]
) -> cp.Expression:
    return model.maximum(inputs[0], *bounds[0], op_of(node, MaxPool).windows)


ENCODERS: Mapping[str, MilpEncoder] = MappingProxyType(
    {"Relu": _relu, "Abs": _abs, "LeakyRelu": _leaky_relu, "Clip": _clip, "MaxPool": _max_pool}
)
"""Piecewise-linear ops by ONNX op type; affine ops need no entry."""


def encodes(graph: Graph) -> bool:
    """Whether the MILP engine has an exact encoding for every op of the graph."""
    return all(node.op.affine or node.op_type in ENCODERS for node in graph.nodes)
