"""The internal graph: immutable, typed, topologically ordered, ONNX names kept."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

import numpy as np
import torch

from bounds.errors import ShapeError
from bounds.onnx_file import TensorInfo
from bounds.ops.base import DTYPE, Op, Shape, Tensor


@dataclass(frozen=True)
class Node:
    """One operator application: ``output = op(*inputs)`` over variable tensors."""

    name: str
    op_type: str
    op: Op
    inputs: tuple[str, ...]
    output: str


@dataclass(frozen=True)
class Graph:
    """A network: variable inputs, nodes in topological order, and outputs.

    ``shapes`` maps every variable tensor name to its ONNX shape. Constants are baked into
    the ops, so every edge here carries a value that depends on the inputs.
    """

    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    nodes: tuple[Node, ...]
    shapes: Mapping[str, Shape]
    opset: int
    folded: frozenset[str] = frozenset()
    """ONNX op types the importer merged into other nodes (BatchNormalization into a Conv or
    Gemm): the graph computes them exactly, the model's float execution does not."""

    @property
    def input(self) -> TensorInfo:
        """The single input (most networks have one)."""
        if len(self.inputs) != 1:
            raise ShapeError(f"network has {len(self.inputs)} inputs, expected one")
        return self.inputs[0]

    @property
    def output(self) -> TensorInfo:
        """The single output (most networks have one)."""
        if len(self.outputs) != 1:
            raise ShapeError(f"network has {len(self.outputs)} outputs, expected one")
        return self.outputs[0]

    def evaluate(self, values: Mapping[str, Tensor]) -> dict[str, Tensor]:
        """All tensor values for a batch of inputs, each shaped (batch, *shape)."""
        env = dict(values)
        for node in self.nodes:
            env[node.output] = node.op.evaluate(*(env[name] for name in node.inputs))
        return env

    def run(self, x: Tensor) -> Tensor:
        """Single-input single-output evaluation on flat inputs: (batch, n_in) -> (batch, n_out)."""
        shaped = x.to(DTYPE).reshape(x.shape[0], *self.input.shape)
        out = self.evaluate({self.input.name: shaped})[self.output.name]
        return out.reshape(x.shape[0], -1)

    def to(self, device: str | torch.device) -> Graph:
        """The same graph with every op's constant tensors on ``device`` (ops are copied;
        this graph is unchanged)."""
        target = torch.device(device)
        nodes = tuple(replace(node, op=op_to(node.op, target)) for node in self.nodes)
        return replace(self, nodes=nodes)

    def run_numpy(self, x: np.ndarray) -> np.ndarray:
        """``run`` on a numpy batch, without autograd."""
        with torch.no_grad():
            return self.run(torch.as_tensor(np.asarray(x, dtype=np.float64))).numpy()


OpT = TypeVar("OpT", bound=Op)


def op_to(op: OpT, device: torch.device) -> OpT:
    """A copy of ``op`` whose tensor attributes (also inside tuples, lists and dicts) are on
    ``device``: ops keep their constants as plain attributes, so one walk covers them all."""
    moved = copy.copy(op)
    for name, value in vars(op).items():
        setattr(moved, name, _moved(value, device))
    return moved


def _moved(value: Any, device: torch.device) -> Any:
    if isinstance(value, torch.Tensor):
        return value.to(device)
    if isinstance(value, tuple | list):
        return type(value)(_moved(v, device) for v in value)
    if isinstance(value, dict):
        return {k: _moved(v, device) for k, v in value.items()}
    if isinstance(value, Op):
        return op_to(value, device)
    return value
