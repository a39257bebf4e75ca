"""CROWN over general graphs: residual and branching networks, ops without relaxations,
subdomain clamps and dense linear relaxations. Soundness is checked on sampled points."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from bounds import import_model
from bounds.crown import CrownBounds
from bounds.graph import Graph, Node
from bounds.interval import propagate
from bounds.onnx_file import TensorInfo
from bounds.ops.base import DTYPE, Interval, LinearRelaxation, Monotone, Tensor

ACTIVATIONS = ("Relu", "Sigmoid", "Tanh")


def _branching_model(rng: np.random.Generator, n_in: int, width: int, activation: str, mix: str) -> onnx.ModelProto:
    """x -> relu(W0 x) = a; b = act(W1 a) + a (residual); c = act(W2 x) (side branch);
    d = b <mix> c (Add, Sub or Mul of two variables); y = W3 d."""
    inits = {
        "W0": rng.normal(size=(n_in, width)),
        "W1": rng.normal(size=(width, width)) / np.sqrt(width),
        "W2": rng.normal(size=(n_in, width)),
        "W3": rng.normal(size=(width, 3)),
        "B0": rng.normal(size=width) * 0.5,
        "B1": rng.normal(size=width) * 0.5,
    }
    nodes = [
        helper.make_node("MatMul", ["x", "W0"], ["p0"]),
        helper.make_node("Add", ["p0", "B0"], ["q0"]),
        helper.make_node("Relu", ["q0"], ["a"]),
        helper.make_node("MatMul", ["a", "W1"], ["p1"]),
        helper.make_node("Add", ["p1", "B1"], ["q1"]),
        helper.make_node(activation, ["q1"], ["r1"]),
        helper.make_node("Add", ["r1", "a"], ["b"]),
        helper.make_node("MatMul", ["x", "W2"], ["p2"]),
        helper.make_node(activation, ["p2"], ["c"]),
        helper.make_node(mix, ["b", "c"], ["d"]),
        helper.make_node("MatMul", ["d", "W3"], ["y"]),
    ]
    graph = helper.make_graph(
        nodes,
        "branching",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, n_in])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        [numpy_helper.from_array(v.astype(np.float32), k) for k, v in inits.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


def _samples(lower: Tensor, upper: Tensor, count: int = 400) -> Tensor:
    points = lower + (upper - lower) * torch.rand(count, lower.shape[0], dtype=DTYPE)
    return torch.cat([points, lower[None], upper[None]])


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n_in=st.integers(1, 4),
    width=st.integers(1, 6),
    activation=st.sampled_from(ACTIVATIONS),
    mix=st.sampled_from(["Add", "Sub", "Mul"]),
    radius=st.sampled_from([0.01, 0.3, 1.5]),
)
def test_crown_is_sound_on_branching_graphs(seed, n_in, width, activation, mix, radius):
    rng = np.random.default_rng(seed)
    graph = import_model(_branching_model(rng, n_in, width, activation, mix))
    C = torch.as_tensor(rng.normal(size=(4, 3)))
    centre = torch.as_tensor(rng.normal(size=(3, n_in)))
    lower, upper = centre - radius, centre + radius
    bounds = CrownBounds(graph, C)
    crown = bounds(lower, upper)
    alpha = bounds.optimised(lower, upper, steps=4)
    box = Interval(lower.reshape(3, 1, n_in), upper.reshape(3, 1, n_in))
    out = propagate(graph, {"x": box})["y"]
    interval = (C.clamp_min(0) @ out.lower.reshape(3, 3, 1) + C.clamp_max(0) @ out.upper.reshape(3, 3, 1))[..., 0]
    assert torch.all(crown >= interval - 1e-9)
    assert torch.all(alpha >= crown - 1e-9)
    for b in range(3):
        values = graph.run(_samples(lower[b], upper[b])) @ C.T
        assert torch.all(values >= alpha[b] - 1e-7)


def test_crown_is_exact_through_a_residual_linear_graph():
    rng = np.random.default_rng(3)
    model = _branching_model(rng, 3, 4, "Relu", "Add")
    graph = import_model(model)
    lower, upper = torch.full((1, 3), 0.5, dtype=DTYPE), torch.full((1, 3), 0.5, dtype=DTYPE)
    C = torch.eye(3, dtype=DTYPE)
    point = graph.run(lower)
    assert torch.allclose(CrownBounds(graph, C)(lower, upper), point, atol=1e-9)


def test_clamps_bound_the_subdomain_and_detect_empty_ones():
    rng = np.random.default_rng(7)
    graph = import_model(_branching_model(rng, 2, 5, "Relu", "Add"))
    C = torch.as_tensor(rng.normal(size=(2, 3)))
    lower, upper = -torch.ones(2, 2, dtype=DTYPE), torch.ones(2, 2, dtype=DTYPE)
    bounds = CrownBounds(graph, C)
    analysis = bounds.analyse(lower, upper)
    pre = analysis.bounds["q0"]
    # box 0: neuron 0 of q0 forced nonnegative; box 1: forced below its own lower bound (empty)
    clamp_lower = torch.full_like(pre.lower, -torch.inf)
    clamp_upper = torch.full_like(pre.upper, torch.inf)
    clamp_lower[0, 0] = 0.0
    clamp_upper[1, 0] = pre.lower[1, 0] - 1.0
    result = bounds(lower, upper, {"q0": Interval(clamp_lower, clamp_upper)})
    assert torch.all(torch.isinf(result[1]))
    x = _samples(lower[0], upper[0], 4000)
    values = graph.evaluate({"x": x.reshape(-1, 1, 2)})
    inside = values["q0"].reshape(len(x), -1)[:, 0] >= 0
    assert bool(inside.any())
    outputs = values["y"].reshape(len(x), -1)[inside] @ C.T
    assert torch.all(outputs >= result[0] - 1e-9)
    unclamped = bounds(lower, upper)
    assert torch.all(result[0] >= unclamped[0] - 1e-9)


class _MaxOfPair(Monotone):
    """max(x0, x1) as a test op with a dense linear relaxation (lower: x0; upper: the
    interval maximum), to exercise the ``LinearRelaxation`` path."""

    output_shape = (1,)

    def evaluate(self, *xs: Tensor) -> Tensor:
        return xs[0].amax(dim=-1, keepdim=True)

    def linear_relaxation(self, *xs: Interval) -> LinearRelaxation:
        (x,) = xs
        batch = x.lower.shape[0]
        lower_weight = torch.zeros(batch, 1, 2, dtype=DTYPE)
        lower_weight[:, 0, 0] = 1.0
        upper = x.upper.reshape(batch, -1).amax(dim=-1, keepdim=True)
        return LinearRelaxation(
            lower_weight, torch.zeros(batch, 1, dtype=DTYPE), torch.zeros(batch, 1, 2, dtype=DTYPE), upper
        )


@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_dense_linear_relaxations_are_used_soundly(sign):
    graph = Graph(
        inputs=(TensorInfo("x", (2,), "float"),),
        outputs=(TensorInfo("y", (1,), "float"),),
        nodes=(Node("max", "MaxOfPair", _MaxOfPair(), ("x",), "y"),),
        shapes={"x": (2,), "y": (1,)},
        opset=13,
    )
    lower = torch.tensor([[-1.0, 0.0]], dtype=DTYPE)
    upper = torch.tensor([[2.0, 1.0]], dtype=DTYPE)
    C = torch.tensor([[sign]], dtype=DTYPE)
    bounds = CrownBounds(graph, C)
    assert isinstance(bounds.analyse(lower, upper).relaxations["y"], LinearRelaxation)
    bound = bounds(lower, upper)
    values = graph.run(_samples(lower[0], upper[0])) @ C.T
    assert torch.all(values >= bound[0] - 1e-12)
    # y >= max of the lower bounds (0, the interval) beats the relaxation's x0 >= -1;
    # -y >= -2 both ways
    assert bound.item() == pytest.approx(0.0 if sign > 0 else -2.0)
