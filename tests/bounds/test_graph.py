"""The internal graph: TensorInfo, single input/output access, run / run_numpy / evaluate."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from onnx import helper
from onnx_cases import make_model, ort_batch

import bounds
from bounds import Graph, ShapeError, TensorInfo
from bounds.onnx_build import dense_network


def _dense(seed: int = 0) -> tuple[Graph, object]:
    rng = np.random.default_rng(seed)
    model = dense_network([rng.normal(size=(4, 3)), rng.normal(size=(2, 4))], [rng.normal(size=4), rng.normal(size=2)])
    return bounds.import_model(model), model


def _conv_graph() -> tuple[Graph, object]:
    """Input (1, 1, 4, 4), output (1, 2, 2, 2) -- flat sizes 16 and 8."""
    rng = np.random.default_rng(1)
    nodes = [
        helper.make_node("Conv", ["x", "W", "b"], ["h"], name="conv", strides=[2, 2], pads=[1, 1, 0, 0]),
        helper.make_node("Relu", ["h"], ["y"], name="relu"),
    ]
    model = make_model(
        nodes, {"x": [1, 1, 4, 4]}, {"y": [1, 2, 2, 2]}, {"W": rng.normal(size=(2, 1, 3, 3)), "b": rng.normal(size=2)}
    )
    return bounds.import_model(model), model


def _two_in_two_out() -> Graph:
    nodes = [
        helper.make_node("Add", ["a", "b"], ["s"], name="add"),
        helper.make_node("Sub", ["a", "b"], ["d"], name="sub"),
    ]
    return bounds.import_model(make_model(nodes, {"a": [1, 3], "b": [1, 3]}, {"s": [1, 3], "d": [1, 3]}))


@pytest.mark.parametrize(("shape", "size"), [((1, 1, 1, 5), 5), ((1, 784, 1), 784), ((2, 3), 6), ((7,), 7), ((), 1)])
def test_tensor_info_size(shape: tuple[int, ...], size: int) -> None:
    info = TensorInfo("t", shape, "float32")
    assert info.size == size
    assert isinstance(info.size, int)


def test_tensor_info_and_graph_are_immutable() -> None:
    graph, _ = _dense()
    with pytest.raises(dataclasses.FrozenInstanceError):
        graph.input.name = "z"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        graph.nodes = ()  # type: ignore[misc]


def test_graph_structure_of_a_dense_network() -> None:
    graph, _ = _dense()
    assert graph.input == TensorInfo("x", (1, 3), "float32")
    assert graph.output == TensorInfo("y", (1, 2), "float32")
    assert graph.inputs == (graph.input,)
    assert graph.outputs == (graph.output,)
    assert graph.opset == 13
    assert [(n.name, n.op_type, n.inputs, n.output) for n in graph.nodes] == [
        ("dense0", "Gemm", ("x",), "h0"),
        ("act0", "Relu", ("h0",), "a0"),
        ("dense1", "Gemm", ("a0",), "y"),
    ]
    assert dict(graph.shapes) == {"x": (1, 3), "h0": (1, 4), "a0": (1, 4), "y": (1, 2)}


@pytest.mark.parametrize("batch", [1, 3, 17])
def test_run_shapes_and_values(batch: int) -> None:
    graph, model = _dense()
    x = np.random.default_rng(batch).normal(size=(batch, 3)).astype(np.float32)
    out = graph.run(torch.as_tensor(x))
    assert tuple(out.shape) == (batch, 2)
    assert out.dtype == torch.float64
    expected = ort_batch(model, [{"x": row.reshape(1, 3)} for row in x]).reshape(batch, 2)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_run_matches_evaluate_and_accepts_shaped_input() -> None:
    graph, _ = _conv_graph()
    x = torch.as_tensor(np.random.default_rng(2).normal(size=(5, 16)))
    flat = graph.run(x)
    assert tuple(flat.shape) == (5, 8)
    shaped = graph.evaluate({"x": x.reshape(5, 1, 1, 4, 4)})["y"]
    assert tuple(shaped.shape) == (5, 1, 2, 2, 2)
    torch.testing.assert_close(flat, shaped.reshape(5, 8))
    # run reshapes whatever it is given per sample: a shaped batch works as well as a flat one.
    torch.testing.assert_close(graph.run(x.reshape(5, 1, 1, 4, 4)), flat)


def test_run_rejects_inputs_of_the_wrong_size() -> None:
    graph, _ = _dense()
    with pytest.raises(RuntimeError):
        graph.run(torch.zeros(2, 4, dtype=torch.float64))


def test_run_numpy_matches_run_and_onnxruntime() -> None:
    graph, model = _conv_graph()
    x = np.random.default_rng(3).normal(size=(4, 16)).astype(np.float32)
    out = graph.run_numpy(x)
    assert isinstance(out, np.ndarray)
    assert out.dtype == np.float64
    assert out.shape == (4, 8)
    np.testing.assert_array_equal(out, graph.run(torch.as_tensor(x)).detach().numpy())
    expected = ort_batch(model, [{"x": row.reshape(1, 1, 4, 4)} for row in x]).reshape(4, 8)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_run_numpy_accepts_lists_and_does_not_track_gradients() -> None:
    graph, _ = _dense()
    out = graph.run_numpy([[0.5, -1.0, 2.0]])
    assert out.shape == (1, 2)
    np.testing.assert_allclose(out, graph.run(torch.tensor([[0.5, -1.0, 2.0]])).detach().numpy())


def test_run_keeps_gradients_for_attacks() -> None:
    graph, _ = _dense()
    x = torch.zeros(2, 3, dtype=torch.float64, requires_grad=True)
    graph.run(x).sum().backward()
    assert x.grad is not None
    assert tuple(x.grad.shape) == (2, 3)


def test_evaluate_returns_every_tensor() -> None:
    graph, _ = _dense()
    x = torch.as_tensor(np.random.default_rng(4).normal(size=(3, 1, 3)))
    env = graph.evaluate({"x": x})
    assert set(env) == set(graph.shapes)
    for name, value in env.items():
        assert tuple(value.shape) == (3, *graph.shapes[name]), name
    torch.testing.assert_close(env["a0"], torch.relu(env["h0"]))


def test_multi_input_and_output_graph() -> None:
    graph = _two_in_two_out()
    assert [i.name for i in graph.inputs] == ["a", "b"]
    assert [o.name for o in graph.outputs] == ["s", "d"]
    with pytest.raises(ShapeError, match="2 inputs"):
        _ = graph.input
    with pytest.raises(ShapeError, match="2 outputs"):
        _ = graph.output
    with pytest.raises(ShapeError):
        graph.run(torch.zeros(1, 3))
    with pytest.raises(ShapeError):
        graph.run_numpy(np.zeros((1, 3)))
    a = torch.tensor([[[1.0, 2.0, 3.0]]], dtype=torch.float64)
    b = torch.tensor([[[0.5, -1.0, 4.0]]], dtype=torch.float64)
    env = graph.evaluate({"a": a, "b": b})
    torch.testing.assert_close(env["s"], a + b)
    torch.testing.assert_close(env["d"], a - b)


def test_single_input_multi_output_graph_has_input_but_no_output() -> None:
    nodes = [helper.make_node("Relu", ["x"], ["r"], name="relu"), helper.make_node("Neg", ["x"], ["n"], name="neg")]
    graph = bounds.import_model(make_model(nodes, {"x": [2]}, {"r": [2], "n": [2]}))
    assert graph.input.name == "x"
    with pytest.raises(ShapeError):
        _ = graph.output
