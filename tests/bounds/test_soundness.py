"""Property-based soundness of interval propagation and ``LinearTermBounds`` on dense networks."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper
from onnx_cases import make_model, ort_batch

import bounds
from bounds.onnx_build import ACTIVATIONS, dense_network
from bounds.ops.base import Interval


@st.composite
def networks(draw: st.DrawFn) -> tuple[onnx.ModelProto, int, np.random.Generator]:
    """A random dense network (depth 1-4, width 1-8), its input size, and a seeded generator."""
    depth = draw(st.integers(1, 4))
    widths = draw(st.lists(st.integers(1, 8), min_size=depth + 1, max_size=depth + 1))
    activation = draw(st.sampled_from(ACTIVATIONS))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([0.3, 1.0, 3.0]))
    weights = [scale * rng.normal(size=(widths[i + 1], widths[i])) for i in range(depth)]
    biases = [scale * rng.normal(size=widths[i + 1]) for i in range(depth)]
    return dense_network(weights, biases, activation=activation), widths[0], rng


def _boxes(rng: np.random.Generator, n_in: int, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    center = rng.normal(size=(count, n_in))
    radius = rng.uniform(0.0, 1.0, size=(count, n_in)) * rng.choice([0.0, 0.01, 0.3, 1.0, 3.0], size=(count, 1))
    return torch.as_tensor(center - radius), torch.as_tensor(center + radius)


def _samples(rng: np.random.Generator, lower: torch.Tensor, upper: torch.Tensor, count: int = 200) -> torch.Tensor:
    """Random points in one flat box, plus its corners when the box is small."""
    lo, hi = lower.numpy(), upper.numpy()
    points = lo + rng.uniform(size=(count, lo.size)) * (hi - lo)
    if lo.size <= 8:
        bits = (np.arange(2**lo.size)[:, None] >> np.arange(lo.size)) & 1
        points = np.concatenate([points, np.where(bits > 0, hi, lo)])
    return torch.as_tensor(points)


@settings(max_examples=150, deadline=None)
@given(networks(), st.integers(1, 4))
def test_linear_term_bounds_sound_and_no_looser_than_propagate(net, m) -> None:
    model, n_in, rng = net
    graph = bounds.import_model(model)
    n_out = graph.output.size
    C = torch.as_tensor(rng.normal(size=(m, n_out)) * rng.choice([0.0, 1.0], size=(m, n_out), p=[0.2, 0.8]))
    terms = bounds.LinearTermBounds(graph, C)
    lower, upper = _boxes(rng, n_in, 3)
    with torch.no_grad():
        bounded = terms(lower, upper)
        shaped = Interval(lower.reshape(3, *graph.input.shape), upper.reshape(3, *graph.input.shape))
        y_box = bounds.propagate(graph, {graph.input.name: shaped})[graph.output.name]
    assert tuple(bounded.lower.shape) == (3, m)
    assert bool((bounded.lower <= bounded.upper).all())
    # No looser than applying C to the output box in center-radius form.
    naive_width = 2 * (y_box.radius.reshape(3, -1) @ C.abs().T)
    assert bool((bounded.upper - bounded.lower <= naive_width + 1e-9).all())
    # Sound: C @ y of every sampled input lies within the bounds.
    for b in range(3):
        x = _samples(rng, lower[b], upper[b])
        with torch.no_grad():
            terms_at_x = graph.run(x) @ C.T
        assert bool((terms_at_x >= bounded.lower[b] - 1e-9).all())
        assert bool((terms_at_x <= bounded.upper[b] + 1e-9).all())


@settings(max_examples=100, deadline=None)
@given(networks())
def test_propagate_sound_on_every_tensor(net) -> None:
    model, n_in, rng = net
    graph = bounds.import_model(model)
    lower, upper = _boxes(rng, n_in, 2)
    shaped = Interval(lower.reshape(2, *graph.input.shape), upper.reshape(2, *graph.input.shape))
    with torch.no_grad():
        bounded = bounds.propagate(graph, {graph.input.name: shaped})
    for b in range(2):
        x = _samples(rng, lower[b], upper[b]).reshape(-1, *graph.input.shape)
        with torch.no_grad():
            values = graph.evaluate({graph.input.name: x})
        for name, box in bounded.items():
            assert bool((box.lower[b] <= box.upper[b]).all()), name
            assert bool((values[name] >= box.lower[b] - 1e-9).all()), name
            assert bool((values[name] <= box.upper[b] + 1e-9).all()), name


@settings(max_examples=50, deadline=None)
@given(networks())
def test_dense_network_evaluation_matches_onnxruntime(net) -> None:
    model, n_in, rng = net
    graph = bounds.import_model(model)
    ops = [n.op_type for n in graph.nodes]
    assert ops[::2] == ["Gemm"] * ((len(ops) + 1) // 2)
    assert len(set(ops[1::2])) <= 1
    x = rng.normal(scale=2.0, size=(4, n_in)).astype(np.float32)
    expected = ort_batch(model, [{"x": row.reshape(1, n_in)} for row in x]).reshape(4, -1)
    # float64 here vs float32 in onnxruntime: rounding grows with depth and weight size
    np.testing.assert_allclose(graph.run_numpy(x), expected, rtol=1e-4, atol=1e-4)


def test_identity_C_matches_propagate_on_the_output() -> None:
    """With C = I the terms are the output bounds: folding the last layer neither helps nor hurts."""
    rng = np.random.default_rng(3)
    model = dense_network([rng.normal(size=(5, 3)), rng.normal(size=(4, 5))], [rng.normal(size=5), rng.normal(size=4)])
    graph = bounds.import_model(model)
    lower, upper = _boxes(rng, 3, 4)
    with torch.no_grad():
        terms = bounds.LinearTermBounds(graph, torch.eye(4))(lower, upper)
        shaped = Interval(lower.reshape(4, 1, 3), upper.reshape(4, 1, 3))
        y_box = bounds.propagate(graph, {"x": shaped})["y"]
    torch.testing.assert_close(terms.lower, y_box.lower.reshape(4, -1), rtol=0, atol=1e-9)
    torch.testing.assert_close(terms.upper, y_box.upper.reshape(4, -1), rtol=0, atol=1e-9)


def test_cancellation_is_kept() -> None:
    """C @ y with y = [h, h] and C = [1, -1] is exactly 0; bounding y first would not see that."""
    w1, w2 = np.array([[1.0, -2.0], [0.5, 1.0]]), np.array([[1.0, 1.0], [1.0, 1.0]])
    graph = bounds.import_model(dense_network([w1, w2], [np.zeros(2), np.zeros(2)]))
    terms = bounds.LinearTermBounds(graph, torch.tensor([[1.0, -1.0]]))
    bounded = terms(torch.full((1, 2), -1.0), torch.full((1, 2), 1.0))
    torch.testing.assert_close(bounded.lower, torch.zeros(1, 1, dtype=torch.float64))
    torch.testing.assert_close(bounded.upper, torch.zeros(1, 1, dtype=torch.float64))


def _affine_tail_model() -> onnx.ModelProto:
    """Gemm -> Relu -> MatMul -> Add -> Sub -> Flatten-free affine chain (as in ACAS Xu)."""
    rng = np.random.default_rng(4)
    nodes = [
        helper.make_node("Gemm", ["x", "W1", "b1"], ["h"], name="gemm", transB=1),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("MatMul", ["r", "W2"], ["m"], name="matmul"),
        helper.make_node("Add", ["m", "b2"], ["a"], name="add"),
        helper.make_node("Mul", ["a", "s"], ["y"], name="scale"),
    ]
    inits = {
        "W1": rng.normal(size=(6, 3)),
        "b1": rng.normal(size=6),
        "W2": rng.normal(size=(6, 4)),
        "b2": rng.normal(size=4),
        "s": rng.normal(size=4),
    }
    return make_model(nodes, {"x": [1, 3]}, {"y": [1, 4]}, inits)


def test_affine_chain_is_folded_and_sound() -> None:
    model = _affine_tail_model()
    graph = bounds.import_model(model)
    rng = np.random.default_rng(5)
    C = torch.as_tensor(rng.normal(size=(3, 4)))
    terms = bounds.LinearTermBounds(graph, C)
    assert terms.source == "r"
    assert [n.op_type for n in terms.body] == ["Gemm", "Relu"]
    assert tuple(terms.weight.shape) == (3, 6)
    lower, upper = _boxes(rng, 3, 3)
    with torch.no_grad():
        bounded = terms(lower, upper)
        y_box = bounds.propagate(graph, {"x": Interval(lower.reshape(3, 1, 3), upper.reshape(3, 1, 3))})["y"]
    naive = 2 * (y_box.radius.reshape(3, -1) @ C.abs().T)
    assert bool((bounded.upper - bounded.lower <= naive + 1e-9).all())
    for b in range(3):
        x = _samples(rng, lower[b], upper[b])
        terms_at_x = graph.run(x) @ C.T
        assert bool((terms_at_x >= bounded.lower[b] - 1e-9).all())
        assert bool((terms_at_x <= bounded.upper[b] + 1e-9).all())
    # The offset and weight reproduce C @ y exactly from the chain's input.
    x = torch.as_tensor(rng.normal(size=(5, 3)))
    r = graph.evaluate({"x": x.reshape(5, 1, 3)})["r"].reshape(5, -1)
    torch.testing.assert_close(r @ terms.weight.T + terms.offset, graph.run(x) @ C.T)


def test_purely_affine_network_folds_to_the_input() -> None:
    """A single Gemm: the whole network folds and the bounds are exact (attained at corners)."""
    rng = np.random.default_rng(6)
    graph = bounds.import_model(dense_network([rng.normal(size=(3, 2))], [rng.normal(size=3)]))
    C = torch.as_tensor(rng.normal(size=(2, 3)))
    terms = bounds.LinearTermBounds(graph, C)
    assert terms.source == "x"
    assert terms.body == ()
    lower, upper = torch.tensor([[-1.0, 0.0]]), torch.tensor([[2.0, 0.5]])
    bounded = terms(lower, upper)
    corners = graph.run(_samples(rng, lower[0], upper[0], count=0)) @ C.T
    torch.testing.assert_close(bounded.lower[0], corners.min(dim=0).values)
    torch.testing.assert_close(bounded.upper[0], corners.max(dim=0).values)


def _conv_model(seed: int) -> onnx.ModelProto:
    """Conv -> Relu -> Conv -> Add: a 4-D output, and an affine tail of two nodes."""
    rng = np.random.default_rng(seed)
    nodes = [
        helper.make_node("Conv", ["x", "W1", "b1"], ["h"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["h"], ["r"], name="relu"),
        helper.make_node("Conv", ["r", "W2"], ["c"], name="conv2", strides=[2, 2]),
        helper.make_node("Add", ["c", "b2"], ["y"], name="bias"),
    ]
    inits = {
        "W1": rng.normal(size=(3, 1, 3, 3)),
        "b1": rng.normal(size=3),
        "W2": rng.normal(size=(2, 3, 2, 2)),
        "b2": rng.normal(size=(2, 1, 1)),
    }
    return make_model(nodes, {"x": [1, 1, 4, 4]}, {"y": [1, 2, 2, 2]}, inits)


@pytest.mark.parametrize("seed", range(3))
def test_linear_term_bounds_on_a_conv_network(seed: int) -> None:
    model = _conv_model(seed)
    graph = bounds.import_model(model)
    rng = np.random.default_rng(100 + seed)
    C = torch.as_tensor(rng.normal(size=(4, graph.output.size)))
    terms = bounds.LinearTermBounds(graph, C)
    assert terms.source == "r"
    lower, upper = _boxes(rng, graph.input.size, 3)
    with torch.no_grad():
        bounded = terms(lower, upper)
        shaped = Interval(lower.reshape(3, *graph.input.shape), upper.reshape(3, *graph.input.shape))
        y_box = bounds.propagate(graph, {"x": shaped})["y"]
    naive = 2 * (y_box.radius.reshape(3, -1) @ C.abs().T)
    assert bool((bounded.upper - bounded.lower <= naive + 1e-9).all())
    for b in range(3):
        x = _samples(rng, lower[b], upper[b], count=300)
        terms_at_x = graph.run(x) @ C.T
        assert bool((terms_at_x >= bounded.lower[b] - 1e-9).all())
        assert bool((terms_at_x <= bounded.upper[b] + 1e-9).all())
    x = rng.normal(size=(3, graph.input.size)).astype(np.float32)
    expected = ort_batch(model, [{"x": row.reshape(graph.input.shape)} for row in x]).reshape(3, -1)
    # float64 here vs float32 in onnxruntime: rounding grows with depth and weight size
    np.testing.assert_allclose(graph.run_numpy(x), expected, rtol=1e-4, atol=1e-4)
