"""Fuzzing the ONNX reader: mutated model bytes, and models with mutated fields, give a
`Graph` or a `ModelError`, never another exception."""

from __future__ import annotations

import numpy as np
import onnx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from bounds import Graph
from bounds.errors import ModelError
from bounds.onnx_build import dense_network
from bounds.onnx_import import parse_onnx


def _conv_model() -> onnx.ModelProto:
    """Conv, Relu, Flatten, Gemm, Reshape, Transpose, Add with a Constant node: many op forms."""
    rng = np.random.default_rng(0)
    nodes = [
        helper.make_node("Conv", ["x", "K", "kb"], ["c"], kernel_shape=[2, 2], strides=[1, 1], pads=[0, 0, 1, 1]),
        helper.make_node("Relu", ["c"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"], perm=[0, 1, 3, 2]),
        helper.make_node("Flatten", ["t"], ["f"], axis=1),
        helper.make_node("Gemm", ["f", "W", "b"], ["g"], transB=1),
        helper.make_node("Constant", [], ["shift"], value=numpy_helper.from_array(np.ones((1, 3), np.float32))),
        helper.make_node("Add", ["g", "shift"], ["a"]),
        helper.make_node("Reshape", ["a", "shape"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array(rng.normal(size=(2, 1, 2, 2)).astype(np.float32), "K"),
        numpy_helper.from_array(np.zeros(2, np.float32), "kb"),
        numpy_helper.from_array(rng.normal(size=(3, 18)).astype(np.float32), "W"),
        numpy_helper.from_array(np.zeros(3, np.float32), "b"),
        numpy_helper.from_array(np.array([1, 3], np.int64), "shape"),
    ]
    graph = helper.make_graph(
        nodes,
        "conv",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


_RNG = np.random.default_rng(1)
SEEDS = (
    dense_network([_RNG.normal(size=(4, 2)), _RNG.normal(size=(2, 4))], [np.zeros(4), np.zeros(2)]),
    dense_network([_RNG.normal(size=(3, 2)), _RNG.normal(size=(1, 3))], [np.ones(3), np.ones(1)], activation="Tanh"),
    _conv_model(),
)
OP_TYPES = ("Relu", "Sigmoid", "Gemm", "MatMul", "Add", "Conv", "Flatten", "Reshape", "Softmax", "If", "Identity")
SPECIAL = (np.nan, np.inf, -np.inf, 0.0, -0.0, 1e38, -1e-45, 3.0)


def _check(data: bytes) -> None:
    try:
        assert isinstance(parse_onnx(data, "fuzz.onnx"), Graph)
    except ModelError as error:
        assert str(error).startswith("fuzz.onnx")


_FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(st.sampled_from(SEEDS), st.data())
def test_mutated_bytes(seed: onnx.ModelProto, data: st.DataObject) -> None:
    raw = bytearray(seed.SerializeToString())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(raw) - 1))
        edit = data.draw(st.sampled_from(["flip", "set", "delete", "insert", "cut"]))
        if edit == "flip":
            raw[at] ^= 1 << data.draw(st.integers(0, 7))
        elif edit == "set":
            raw[at] = data.draw(st.integers(0, 255))
        elif edit == "delete":
            del raw[at : at + data.draw(st.integers(1, 8))]
        elif edit == "insert":
            raw[at:at] = data.draw(st.binary(min_size=1, max_size=8))
        else:
            del raw[at:]
        if not raw:
            break
    _check(bytes(raw))


@_FUZZ
@given(st.sampled_from(SEEDS), st.data())
def test_mutated_fields(seed: onnx.ModelProto, data: st.DataObject) -> None:
    model = onnx.ModelProto()
    model.CopyFrom(seed)
    graph = model.graph
    for _ in range(data.draw(st.integers(1, 3))):
        edit = data.draw(st.sampled_from(["weight", "dims", "op", "drop", "rewire", "attribute", "opset", "io"]))
        if edit == "weight" and graph.initializer:
            init = data.draw(st.sampled_from(list(graph.initializer)))
            try:
                array = numpy_helper.to_array(init).copy()
            except ValueError:  # an earlier edit broke its dims
                continue
            if array.size:
                values = SPECIAL if array.dtype.kind == "f" else (0, -1, 2**31, 7)
                array.reshape(-1)[data.draw(st.integers(0, array.size - 1))] = data.draw(st.sampled_from(values))
            init.CopyFrom(numpy_helper.from_array(array, init.name))
        elif edit == "dims" and graph.initializer:
            init = data.draw(st.sampled_from(list(graph.initializer)))
            if init.dims:
                init.dims[data.draw(st.integers(0, len(init.dims) - 1))] = data.draw(st.integers(-1, 5))
        elif edit == "op" and graph.node:
            data.draw(st.sampled_from(list(graph.node))).op_type = data.draw(st.sampled_from(OP_TYPES))
        elif edit == "drop" and graph.node:
            del graph.node[data.draw(st.integers(0, len(graph.node) - 1))]
        elif edit == "rewire" and graph.node:
            node = data.draw(st.sampled_from(list(graph.node)))
            names = [n for other in graph.node for n in other.output] + ["x", "W", "nowhere", ""]
            if node.input:
                node.input[data.draw(st.integers(0, len(node.input) - 1))] = data.draw(st.sampled_from(names))
        elif edit == "attribute":
            attributes = [a for n in graph.node for a in n.attribute if a.type == onnx.AttributeProto.INTS]
            attributes += [a for n in graph.node for a in n.attribute if a.type == onnx.AttributeProto.INT]
            if attributes:
                attribute = data.draw(st.sampled_from(attributes))
                value = data.draw(st.integers(-3, 4))
                if attribute.type == onnx.AttributeProto.INT:
                    attribute.i = value
                elif attribute.ints:
                    attribute.ints[data.draw(st.integers(0, len(attribute.ints) - 1))] = value
        elif edit == "opset":
            model.opset_import[0].version = data.draw(st.integers(0, 30))
        elif edit == "io":
            value = data.draw(st.sampled_from([*graph.input, *graph.output]))
            dims = value.type.tensor_type.shape.dim
            if dims:
                dim = dims[data.draw(st.integers(0, len(dims) - 1))]
                if data.draw(st.booleans()):
                    dim.dim_param = "N"
                else:
                    dim.dim_value = data.draw(st.integers(0, 5))
            value.type.tensor_type.elem_type = data.draw(st.sampled_from([TensorProto.FLOAT, TensorProto.DOUBLE, 7, 0]))
    _check(model.SerializeToString())
