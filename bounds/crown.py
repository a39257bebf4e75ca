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

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from bounds.graph import Graph, Node
from bounds.ops.base import DTYPE, Interval, Op, Relaxation, Tensor


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
        relaxations, last = self._intermediate(lower, upper)
        return self._final(lower, upper, relaxations, last, None)

    def optimised(
        self,
        lower: Tensor,
        upper: Tensor,
        *,
        steps: int,
        done: Callable[[Tensor], Tensor] | None = None,
        learning_rate: float = 0.1,
    ) -> Tensor:
        """alpha-CROWN lower bounds (Xu et al. 2021) on ``C @ y``.

        The lower relaxation slopes of the final back-substitution, one per box, row and
        neuron, are tuned by Adam within their valid ranges to maximise the sum of the
        bounds (intermediate bounds stay CROWN's). Every iterate is a valid bound and the
        best per row is kept, so the result is never looser than CROWN. ``done`` maps bounds
        (batch, m) to a per-box flag; optimisation stops once every box is done.
        """
        lower, upper = lower.to(DTYPE), upper.to(DTYPE)
        with torch.no_grad():
            relaxations, last = self._intermediate(lower, upper)
            best = self._final(lower, upper, relaxations, last, None)
        if not relaxations or (done is not None and bool(done(best).all())):
            return best
        with torch.enable_grad():  # callers may be under no_grad
            m = self.spec.weight.shape[0]
            slopes = [r.lower_slope[:, None, :].expand(-1, m, -1).clone().requires_grad_(True) for r in relaxations]
            optimiser = torch.optim.Adam(slopes, lr=learning_rate)
            for _ in range(steps):
                clamped = [
                    torch.minimum(torch.maximum(a, r.lower_slope_min[:, None, :]), r.lower_slope_max[:, None, :])
                    for a, r in zip(slopes, relaxations, strict=True)
                ]
                bound = self._final(lower, upper, relaxations, last, clamped)
                best = torch.maximum(best, bound.detach())
                if done is not None and bool(done(best).all()):
                    break
                optimiser.zero_grad()
                (-bound.sum()).backward()  # type: ignore[no-untyped-call]
                optimiser.step()
        return best

    def _intermediate(self, lower: Tensor, upper: Tensor) -> tuple[list[Relaxation], Interval]:
        """The relaxation of every activation layer, from pre-activation bounds by CROWN
        (intersected with interval bounds), and interval bounds on the last layer's output."""
        batch = lower.shape[0]
        relaxations: list[Relaxation] = []
        value = Interval(lower, upper)  # bounds of the current layer's output
        for index, layer in enumerate(self.layers):
            if isinstance(layer, _Linear):
                centre = value.center @ layer.weight.T + layer.offset
                radius = value.radius @ layer.weight.abs().T
                lo, hi = centre - radius, centre + radius
                if index > 0:  # after an activation: tighten with CROWN from this layer back
                    n = layer.weight.shape[0]
                    # one pass bounds both sides: upper(f) = -lower(-f)
                    A = torch.cat([layer.weight, -layer.weight]).expand(batch, -1, -1)
                    offset = torch.cat([layer.offset, -layer.offset]).expand(batch, -1)
                    both = self._backward(A, offset, index, relaxations, lower, upper, None)
                    lo, hi = torch.maximum(lo, both[:, :n]), torch.minimum(hi, -both[:, n:])
                value = Interval(lo, hi)
            else:
                relaxation = layer.op.relaxation(value.lower, value.upper)
                if relaxation is None:
                    raise ValueError(f"{type(layer.op).__name__} has no relaxation")
                relaxations.append(relaxation)
                value = layer.op.interval(value)  # elementwise: flat is fine
        return relaxations, value

    def _final(
        self,
        lower: Tensor,
        upper: Tensor,
        relaxations: Sequence[Relaxation],
        last: Interval,
        slopes: Sequence[Tensor] | None,
    ) -> Tensor:
        """Lower bounds on ``C @ y``: back-substitution, never looser than interval bounds."""
        A = self.spec.weight.expand(lower.shape[0], -1, -1)
        offset = self.spec.offset.expand(lower.shape[0], -1)
        crown = self._backward(A, offset, len(self.layers), relaxations, lower, upper, slopes)
        interval = last.center @ self.spec.weight.T + self.spec.offset - last.radius @ self.spec.weight.abs().T
        return torch.maximum(crown, interval)

    def _backward(
        self,
        A: Tensor,
        offset: Tensor,
        end: int,
        relaxations: Sequence[Relaxation],
        lower: Tensor,
        upper: Tensor,
        slopes: Sequence[Tensor] | None,
    ) -> Tensor:
        """Lower bound (batch, m) of ``A h + offset``, h the output of layer ``end - 1`` (the
        input when end is 0); A is (batch, m, n). ``slopes`` (one (batch, m, n) tensor per
        activation) replace the relaxations' lower slopes when given."""
        activations = sum(1 for layer in self.layers[:end] if isinstance(layer, _Activation))
        for layer in reversed(self.layers[:end]):
            if isinstance(layer, _Linear):
                offset = offset + A @ layer.offset
                A = A @ layer.weight
            else:
                activations -= 1
                relax = relaxations[activations]
                lower_slope = slopes[activations] if slopes is not None else relax.lower_slope[:, None, :]
                positive, negative = A.clamp_min(0), A.clamp_max(0)
                shifts = positive @ relax.lower_offset[..., None] + negative @ relax.upper_offset[..., None]
                offset = offset + shifts.squeeze(-1)
                A = positive * lower_slope + negative * relax.upper_slope[:, None, :]
        mid, rad = (lower + upper) / 2, (upper - lower) / 2
        return (A @ mid[..., None]).squeeze(-1) - (A.abs() @ rad[..., None]).squeeze(-1) + offset
