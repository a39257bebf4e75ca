"""Backward linear bound propagation (CROWN, Zhang et al. 2018) for chain networks.

The network is viewed as alternating linear layers ``z = W h + c`` and elementwise
activations with linear relaxations. A lower bound on ``C @ y`` is found by carrying the
coefficients ``A`` backwards: through a linear layer ``A <- A W`` (offset ``+= A c``);
through an activation, each coefficient picks the relaxation side that bounds it from
below (lower side where ``A >= 0``, upper side where ``A < 0``). At the input box the
linear function is minimised exactly: ``A x_mid - |A| x_rad``. The pre-activation bounds
each relaxation needs come from the same procedure run on earlier layers, intersected
with interval bounds.

Scope: chains (each node consumes the previous node's output) of ops that provide
``linear_map`` or ``relaxation``. ``CrownBounds.supports`` says whether a graph qualifies;
branching graphs and ops without a relaxation use interval bounds instead.
Arithmetic is float64 over the reals (see ARCHITECTURE.md).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from bounds.graph import Graph, Node
from bounds.ops.base import DTYPE, Interval, Op, Tensor


@dataclass(frozen=True)
class _Linear:
    weight: Tensor  # (n_out, n_in)
    offset: Tensor  # (n_out,)


@dataclass(frozen=True)
class _Activation:
    op: Op


_Layer = _Linear | _Activation


def _chain(graph: Graph) -> list[Node] | None:
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        return None
    current = graph.input.name
    for node in graph.nodes:
        if node.inputs != (current,):
            return None
        current = node.output
    return list(graph.nodes) if current == graph.output.name else None


def _layers(graph: Graph, nodes: list[Node]) -> list[_Layer] | None:
    """Linear layers merged where adjacent; None if some op has neither form."""
    layers: list[_Layer] = []
    probe = torch.zeros(1, dtype=DTYPE)
    for node in nodes:
        mapped = node.op.linear_map(graph.shapes[node.inputs[0]])
        if mapped is not None:
            weight, offset = mapped
            previous = layers[-1] if layers else None
            if isinstance(previous, _Linear):
                layers[-1] = _Linear(weight @ previous.weight, weight @ previous.offset + offset)
            else:
                layers.append(_Linear(weight, offset))
        elif node.op.relaxation(probe, probe) is not None:
            layers.append(_Activation(node.op))
        else:
            return None
    return layers


class CrownBounds:
    """CROWN lower bounds on ``C @ y`` over batches of flat input boxes (each bound, final and
    intermediate, is intersected with its interval bound, so it is never looser)."""

    def __init__(self, graph: Graph, C: Tensor) -> None:
        nodes = _chain(graph)
        layers = _layers(graph, nodes) if nodes is not None else None
        if layers is None:
            raise ValueError("CROWN needs a chain of linear ops and ops with relaxations")
        C = C.to(DTYPE)
        last = layers[-1]
        if isinstance(last, _Linear):  # fold C into the last linear layer
            layers.pop()
            self.spec = _Linear(C @ last.weight, C @ last.offset)
        else:
            self.spec = _Linear(C, torch.zeros(C.shape[0], dtype=DTYPE))
        self.layers = layers

    @staticmethod
    def supports(graph: Graph) -> bool:
        nodes = _chain(graph)
        return nodes is not None and _layers(graph, nodes) is not None

    @torch.no_grad()
    def __call__(self, lower: Tensor, upper: Tensor) -> Tensor:
        """Lower bounds (batch, m) for boxes given as (batch, n_in) tensors."""
        lower, upper = lower.to(DTYPE), upper.to(DTYPE)
        batch = lower.shape[0]
        # pre-activation bounds of each activation layer, in order
        pre: list[tuple[Tensor, Tensor]] = []
        value_lo, value_hi = lower, upper  # interval bounds of the current layer's output
        for index, layer in enumerate(self.layers):
            if isinstance(layer, _Linear):
                mid, rad = (value_lo + value_hi) / 2, (value_hi - value_lo) / 2
                centre = mid @ layer.weight.T + layer.offset
                radius = rad @ layer.weight.abs().T
                ibp_lo, ibp_hi = centre - radius, centre + radius
                if index > 0:  # after an activation: tighten with CROWN from this layer back
                    n = layer.weight.shape[0]
                    # one pass bounds both sides: upper(f) = -lower(-f)
                    A = torch.cat([layer.weight, -layer.weight]).expand(batch, -1, -1)
                    offset = torch.cat([layer.offset, -layer.offset]).expand(batch, -1)
                    both = self._backward(A, offset, index, pre, lower, upper)
                    ibp_lo, ibp_hi = torch.maximum(ibp_lo, both[:, :n]), torch.minimum(ibp_hi, -both[:, n:])
                value_lo, value_hi = ibp_lo, ibp_hi
            else:
                pre.append((value_lo, value_hi))
                image = layer.op.interval(Interval(value_lo, value_hi))  # elementwise: flat is fine
                value_lo, value_hi = image.lower, image.upper
        A = self.spec.weight.expand(batch, -1, -1)
        offset = self.spec.offset.expand(batch, -1)
        crown = self._backward(A, offset, len(self.layers), pre, lower, upper)
        mid, rad = (value_lo + value_hi) / 2, (value_hi - value_lo) / 2
        interval = mid @ self.spec.weight.T + self.spec.offset - rad @ self.spec.weight.abs().T
        return torch.maximum(crown, interval)  # never looser than interval bounds

    def _backward(
        self,
        A: Tensor,
        offset: Tensor,
        end: int,
        pre: list[tuple[Tensor, Tensor]],
        lower: Tensor,
        upper: Tensor,
    ) -> Tensor:
        """Lower bound (batch, m) of ``A h + offset``, h the output of layer ``end - 1`` (the
        input when end is 0); A is (batch, m, n)."""
        activations = sum(1 for layer in self.layers[:end] if isinstance(layer, _Activation))
        for layer in reversed(self.layers[:end]):
            if isinstance(layer, _Linear):
                offset = offset + A @ layer.offset
                A = A @ layer.weight
            else:
                activations -= 1
                lo, hi = pre[activations]
                relax = layer.op.relaxation(lo, hi)
                assert relax is not None
                positive, negative = A.clamp_min(0), A.clamp_max(0)
                shifts = positive @ relax.lower_offset[..., None] + negative @ relax.upper_offset[..., None]
                offset = offset + shifts.squeeze(-1)
                A = positive * relax.lower_slope[:, None, :] + negative * relax.upper_slope[:, None, :]
        mid, rad = (lower + upper) / 2, (upper - lower) / 2
        bound = (A @ mid[..., None]).squeeze(-1) - (A.abs() @ rad[..., None]).squeeze(-1) + offset
        return bound
