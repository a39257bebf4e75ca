"""Interval bound propagation (IBP) over the graph, for many input boxes at once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

import torch

from bounds.graph import Graph, Node
from bounds.ops.base import DTYPE, Interval, Tensor


def _propagate(nodes: Iterable[Node], env: dict[str, Interval]) -> dict[str, Interval]:
    for node in nodes:
        env[node.output] = node.op.interval(*(env[name] for name in node.inputs))
    return env


def propagate(graph: Graph, inputs: Mapping[str, Interval]) -> dict[str, Interval]:
    """Bounds on every tensor for batched input boxes, each bound shaped (batch, *shape)."""
    return _propagate(graph.nodes, dict(inputs))


class LinearTermBounds:
    """Interval bounds on ``C @ y`` (y the flat network output) over flat input boxes.

    ``C`` is (m, n_out). C is folded once through the chain of single-input linear nodes
    (those with a ``linear_map``: MatMul, Add, Reshape...) that ends the network, and the
    terms are bounded from that chain's input: tighter than bounding y first, since cancellations in ``C @ W`` are kept.
    """

    def __init__(self, graph: Graph, C: Tensor) -> None:
        self.graph = graph
        weight = C.to(DTYPE)
        offset = torch.zeros(C.shape[0], dtype=DTYPE)
        source = graph.output.name
        body = list(graph.nodes)
        uses = Counter(name for node in graph.nodes for name in node.inputs)
        while body and body[-1].output == source and len(body[-1].inputs) == 1:
            mapped = body[-1].op.linear_map(graph.shapes[body[-1].inputs[0]])
            if mapped is None:
                break
            node = body.pop()
            matrix, bias = mapped
            offset = offset + weight @ bias
            weight = weight @ matrix
            source = node.inputs[0]
            if uses[source] != 1 or source == graph.input.name:
                break
        self.body = tuple(body)
        self.source = source
        self.weight = weight
        self.abs_weight = weight.abs()
        self.offset = offset

    @torch.no_grad()
    def __call__(self, lower: Tensor, upper: Tensor) -> Interval:
        """Bounds of shape (batch, m) for boxes given as (batch, n_in) tensors."""
        info = self.graph.input
        batch = lower.shape[0]
        box = Interval(lower.to(DTYPE).reshape(batch, *info.shape), upper.to(DTYPE).reshape(batch, *info.shape))
        hidden = _propagate(self.body, {info.name: box})[self.source]
        center = hidden.center.reshape(batch, -1) @ self.weight.T + self.offset
        radius = hidden.radius.reshape(batch, -1) @ self.abs_weight.T
        return Interval(center - radius, center + radius)
