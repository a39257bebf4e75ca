"""Composing models into one flat-input flat-output model, and the structural isomorphism check."""

from __future__ import annotations

import itertools

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from bounds.compose import INPUT, OUTPUT, Part, compose_models, isomorphic
from bounds.errors import ModelError
from bounds.onnx_build import dense_network
from bounds.onnx_import import import_model

_RNG = np.random.default_rng(3)


def _dense(*sizes: int, opset: int = 13) -> onnx.ModelProto:
    weights = [_RNG.normal(size=(b, a)) for a, b in itertools.pairwise(sizes)]
    return dense_network(weights, [_RNG.normal(size=w.shape[0]) for w in weights], opset=opset)


def _two_inputs() -> onnx.ModelProto:
    """p = |x1 - x2| (shape [2]), q = x1 + x2 (shape [2])."""
    nodes = [
        helper.make_node("Sub", ["x1", "x2"], ["d"], name="sub"),
        helper.make_node("Abs", ["d"], ["p"], name="abs"),
        helper.make_node("Add", ["x1", "x2"], ["q"], name="add"),
    ]
    values = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [2]) for n in ("x1", "x2", "p", "q")]
    model = helper.make_model(
        helper.make_graph(nodes, "mio", values[:2], values[2:]), opset_imports=[helper.make_opsetid("", 13)]
    )
    model.ir_version = 8
    return model


def _run(model: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    return dict(zip(names, session.run(None, feeds), strict=True))


@pytest.mark.parametrize("opset", [9, 13])
def test_composed_model_computes_every_part_side_by_side(opset: int) -> None:
    dense = _dense(3, 4, 2, opset=opset)
    mio = _two_inputs()
    mio.opset_import[0].version = opset
    parts = [Part(dense, ((1, 3),), ("a0", "y")), Part(mio, ((2,), (2,)), ("q", "p")), Part(dense, ((1, 3),), ("y",))]
    composed = compose_models(parts, passthrough=True)
    onnx.checker.check_model(composed, full_check=True)
    x = _RNG.normal(size=3 + 4 + 3).astype(np.float32)
    (y,) = _run(composed, {INPUT: x}).values()
    first = _run(_with_outputs(dense, "a0"), {"x": x[:3].reshape(1, 3)})
    second = _run(mio, {"x1": x[3:5], "x2": x[5:7]})
    third = _run(dense, {"x": x[7:].reshape(1, 3)})
    expected = [first["a0"], first["y"], second["q"], second["p"], third["y"], x]
    assert y.dtype == np.float64
    assert np.array_equal(y, np.concatenate([np.asarray(e, np.float64).reshape(-1) for e in expected]))
    graph = import_model(composed)
    assert [i.shape for i in graph.inputs] == [(10,)] and [o.name for o in graph.outputs] == [OUTPUT]
    assert np.allclose(graph.run_numpy(x.reshape(1, -1).astype(np.float64))[0], y, atol=1e-5)


def _with_outputs(model: onnx.ModelProto, *names: str) -> onnx.ModelProto:
    copy = onnx.ModelProto.FromString(model.SerializeToString())
    copy.graph.output.extend(helper.make_empty_tensor_value_info(n) for n in names)
    return copy


def test_composition_refuses_what_it_cannot_join() -> None:
    with pytest.raises(ModelError, match="no tensor named 'missing'"):
        compose_models([Part(_dense(2, 2), ((1, 2),), ("missing",))])
    with pytest.raises(ModelError, match="different opsets"):
        compose_models([Part(_dense(2, 2, opset=11), ((1, 2),), ("y",)), Part(_dense(2, 2), ((1, 2),), ("y",))])
    float64 = _dense(2, 2)
    float64.graph.input[0].type.tensor_type.elem_type = TensorProto.DOUBLE
    with pytest.raises(ModelError, match="different element types"):
        compose_models([Part(float64, ((1, 2),), ("y",)), Part(_dense(2, 2), ((1, 2),), ("y",))])


def test_isomorphism_is_structural() -> None:
    a, b = _dense(3, 4, 2), _dense(3, 4, 2)
    assert isomorphic(a, b), "same architecture, other weights"
    renamed = onnx.compose.add_prefix(b, "other/")
    assert isomorphic(a, renamed), "names do not matter"
    assert not isomorphic(a, _dense(3, 5, 2)), "a layer of another width"
    assert not isomorphic(a, _dense(3, 4, 4, 2)), "another depth"
    tanh = dense_network([np.ones((4, 3)), np.ones((2, 4))], [np.zeros(4), np.zeros(2)], activation="Tanh")
    assert not isomorphic(a, tanh), "another activation"
    swapped = _two_inputs()
    sub = swapped.graph.node[0]
    sub.input[:] = ["x2", "x1"]
    assert isomorphic(_two_inputs(), _two_inputs())
    assert not isomorphic(_two_inputs(), swapped), "operands of Sub in the other order"


def test_isomorphism_compares_constant_node_weights_by_shape_only() -> None:
    def model(weights: np.ndarray) -> onnx.ModelProto:
        nodes = [
            helper.make_node("Constant", [], ["w"], value=numpy_helper.from_array(weights, "w")),
            helper.make_node("MatMul", ["x", "w"], ["y"]),
        ]
        graph = helper.make_graph(
            nodes,
            "g",
            [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
            [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, weights.shape[1]])],
        )
        return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])

    assert isomorphic(model(np.ones((2, 3), np.float32)), model(np.zeros((2, 3), np.float32)))
    assert not isomorphic(model(np.ones((2, 3), np.float32)), model(np.ones((2, 4), np.float32)))


def test_isomorphism_ignores_element_types_of_weights() -> None:
    a = _dense(3, 2)
    b = onnx.ModelProto.FromString(a.SerializeToString())
    weights = numpy_helper.to_array(b.graph.initializer[0]).astype(np.float64)
    b.graph.initializer[0].CopyFrom(numpy_helper.from_array(weights, b.graph.initializer[0].name))
    assert isomorphic(a, b)
