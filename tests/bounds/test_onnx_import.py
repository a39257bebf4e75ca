"""The ONNX importer: error reporting, constant folding, BatchNorm folding, shapes, real models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper
from onnx_cases import make_model, ort_batch

import bounds
from bounds import ModelError, ShapeError, UnsupportedOperatorError
from bounds.onnx_build import dense_network

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "benchmarks" / "vnncomp2021"


def _matches_onnxruntime(model: onnx.ModelProto, graph: bounds.Graph, count: int = 5, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    shape = graph.input.shape
    x = rng.normal(size=(count, *shape)).astype(np.float32)
    expected = ort_batch(model, [{graph.input.name: row} for row in x]).reshape(count, -1)
    np.testing.assert_allclose(graph.run_numpy(x.reshape(count, -1)), expected, rtol=1e-5, atol=1e-5)


# --- unsupported operators and forms -------------------------------------------------------


def test_all_unsupported_operators_are_reported_at_once() -> None:
    nodes = [
        helper.make_node("Cos", ["x"], ["c"], name="my_cos"),
        helper.make_node("Relu", ["c"], ["r"], name="fine_relu"),
        helper.make_node("Erf", ["x"], ["e"], name="my_erf"),
        helper.make_node("Add", ["r", "e"], ["y"], name="sum"),
    ]
    model = make_model(nodes, {"x": [1, 3]}, {"y": [1, 3]})
    with pytest.raises(UnsupportedOperatorError) as info:
        bounds.import_model(model)
    error = info.value
    assert {(o.op_type, o.node) for o in error.offenders} == {("Cos", "my_cos"), ("Erf", "my_erf")}
    for text in ("Cos", "my_cos", "Erf", "my_erf"):
        assert text in str(error)
    assert "fine_relu" not in str(error)
    assert all(o.reason for o in error.offenders)
    assert isinstance(error, ModelError)


def test_unsupported_operators_in_sequence_are_all_reported() -> None:
    nodes = [
        helper.make_node("Cos", ["x"], ["c"], name="first"),
        helper.make_node("Erf", ["c"], ["y"], name="second"),
    ]
    with pytest.raises(UnsupportedOperatorError) as info:
        bounds.import_model(make_model(nodes, {"x": [2]}, {"y": [2]}))
    assert [(o.op_type, o.node) for o in info.value.offenders] == [("Cos", "first"), ("Erf", "second")]


def test_unnamed_unsupported_node_gets_a_generated_name() -> None:
    model = make_model([helper.make_node("Cos", ["x"], ["y"])], {"x": [2]}, {"y": [2]})
    with pytest.raises(UnsupportedOperatorError) as info:
        bounds.import_model(model)
    (offender,) = info.value.offenders
    assert offender.op_type == "Cos"
    assert offender.node.startswith("Cos")


def test_unsupported_forms_are_reported_together() -> None:
    nodes = [
        helper.make_node("MatMul", ["a", "b"], ["m"], name="var_matmul"),
        helper.make_node("Div", ["a", "b"], ["d"], name="var_div"),
        helper.make_node("Add", ["m", "d"], ["y"], name="sum"),
    ]
    model = make_model(nodes, {"a": [2, 2], "b": [2, 2]}, {"y": [2, 2]})
    with pytest.raises(UnsupportedOperatorError) as info:
        bounds.import_model(model)
    offenders = {o.node: o for o in info.value.offenders}
    assert set(offenders) == {"var_matmul", "var_div"}
    assert offenders["var_matmul"].op_type == "MatMul"
    assert offenders["var_div"].op_type == "Div"
    assert "var_matmul" in str(info.value)
    assert "var_div" in str(info.value)


def _form(op: str, ins: list[str], inputs: dict, inits: dict, out: list[int], id: str) -> object:
    return pytest.param(helper.make_node(op, ins, ["y"], name="n"), inputs, inits, out, id=id)


@pytest.mark.parametrize(
    ("node", "inputs", "inits", "out"),
    [
        _form("MatMul", ["a", "b"], {"a": [2, 3], "b": [3, 2]}, {}, [2, 2], "MatMul-two-vars"),
        _form("Div", ["a", "b"], {"a": [2], "b": [2]}, {}, [2], "Div-by-variable"),
        _form("Div", ["c", "a"], {"a": [2]}, {"c": np.ones(2)}, [2], "Div-constant-by-variable"),
        _form("Div", ["a", "c"], {"a": [2]}, {"c": np.array([1.0, 0.0])}, [2], "Div-by-zero"),
        _form("MatMul", ["a", "c"], {"a": [2, 3]}, {"c": np.ones(3)}, [2], "MatMul-vector-right"),
        _form("Gemm", ["a", "b"], {"a": [2, 3], "b": [3, 2]}, {}, [2, 2], "Gemm-variable-B"),
        _form("Conv", ["a", "w"], {"a": [1, 1, 3, 3], "w": [1, 1, 2, 2]}, {}, [1, 1, 2, 2], "Conv-variable-weight"),
        _form(
            "BatchNormalization",
            ["a", "g", "b", "m", "v"],
            {"a": [1, 2], "g": [2]},
            {"b": np.zeros(2), "m": np.zeros(2), "v": np.ones(2)},
            [1, 2],
            "BatchNormalization-variable-scale",
        ),
    ],
)
def test_unsupported_form(node: onnx.NodeProto, inputs: dict, inits: dict, out: list[int]) -> None:
    model = make_model([node], inputs, {"y": out}, inits)
    with pytest.raises(UnsupportedOperatorError) as info:
        bounds.import_model(model)
    (offender,) = info.value.offenders
    assert (offender.op_type, offender.node) == (node.op_type, "n")
    assert offender.reason
    assert "n" in str(info.value)


def test_operator_from_another_domain_is_unsupported() -> None:
    node = helper.make_node("Relu", ["x"], ["y"], name="custom", domain="com.example")
    graph = helper.make_graph(
        [node],
        "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.example", 1)])
    model.ir_version = 8
    with pytest.raises(UnsupportedOperatorError) as info:
        bounds.import_model(model)
    (offender,) = info.value.offenders
    assert offender.op_type == "com.example.Relu"
    assert offender.node == "custom"


# --- constant folding and BatchNorm folding ------------------------------------------------


def test_constant_subgraph_feeding_a_gemm_weight_is_folded() -> None:
    rng = np.random.default_rng(0)
    base = rng.normal(size=(3, 4)).astype(np.float32)
    delta = rng.normal(size=(3, 4)).astype(np.float32)
    nodes = [
        helper.make_node("Constant", [], ["W0"], name="const_w", value=numpy_helper.from_array(base, "W0")),
        helper.make_node("Add", ["W0", "delta"], ["W"], name="add_w"),
        helper.make_node("Neg", ["W"], ["Wn"], name="neg_w"),
        helper.make_node("Gemm", ["x", "Wn", "b"], ["h"], name="dense", transB=1),
        helper.make_node("Relu", ["h"], ["y"], name="relu"),
    ]
    model = make_model(nodes, {"x": [1, 4]}, {"y": [1, 3]}, {"delta": delta, "b": rng.normal(size=3)})
    graph = bounds.import_model(model)
    assert [(n.name, n.op_type) for n in graph.nodes] == [("dense", "Gemm"), ("relu", "Relu")]
    assert graph.nodes[0].inputs == ("x",)
    assert not {"W0", "W", "Wn"} & set(graph.shapes)
    _matches_onnxruntime(model, graph)
    np.testing.assert_allclose(graph.nodes[0].op.weight.numpy(), -(base + delta).T.astype(np.float64), rtol=1e-6)


def test_constant_shape_computation_feeding_reshape_is_folded() -> None:
    nodes = [
        helper.make_node("Shape", ["s0"], ["shape"], name="shape_of_const"),
        helper.make_node("Reshape", ["x", "shape"], ["y"], name="reshape"),
    ]
    model = make_model(nodes, {"x": [1, 6]}, {"y": [2, 3]}, {"s0": np.zeros((2, 3))})
    graph = bounds.import_model(model)
    assert [n.op_type for n in graph.nodes] == ["Reshape"]
    assert graph.output.shape == (2, 3)
    _matches_onnxruntime(model, graph)


def _bn_nodes(source: str, channels: int, rng: np.random.Generator, name: str = "bn") -> tuple[onnx.NodeProto, dict]:
    inits = {
        f"{name}_g": rng.normal(size=channels),
        f"{name}_b": rng.normal(size=channels),
        f"{name}_m": rng.normal(size=channels),
        f"{name}_v": rng.uniform(0.1, 2.0, size=channels),
    }
    node = helper.make_node("BatchNormalization", [source, *inits], ["y"], name=name, epsilon=1e-3)
    return node, inits


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("group", [1, 2])
def test_batchnorm_after_conv_is_folded(bias: bool, group: int) -> None:
    rng = np.random.default_rng(1)
    inits = {"W": rng.normal(size=(4, 4 // group, 3, 3))}
    conv_inputs = ["x", "W"]
    if bias:
        inits["B"] = rng.normal(size=4)
        conv_inputs.append("B")
    bn, bn_inits = _bn_nodes("h", 4, rng)
    nodes = [helper.make_node("Conv", conv_inputs, ["h"], name="conv", pads=[1, 1, 1, 1], group=group), bn]
    model = make_model(nodes, {"x": [1, 4, 5, 5]}, {"y": [1, 4, 5, 5]}, {**inits, **bn_inits})
    graph = bounds.import_model(model)
    assert [n.op_type for n in graph.nodes] == ["Conv"]
    assert "BatchNormalization" not in {n.op_type for n in graph.nodes}
    assert graph.output.name == "y"
    _matches_onnxruntime(model, graph)


@pytest.mark.parametrize("trans_b", [0, 1])
@pytest.mark.parametrize("bias_shape", [(3,), (1, 3), None])
def test_batchnorm_after_gemm_is_folded(trans_b: int, bias_shape: tuple[int, ...] | None) -> None:
    rng = np.random.default_rng(2)
    inits = {"W": rng.normal(size=(3, 4) if trans_b else (4, 3))}
    gemm_inputs = ["x", "W"]
    if bias_shape is not None:
        inits["C"] = rng.normal(size=bias_shape)
        gemm_inputs.append("C")
    bn, bn_inits = _bn_nodes("h", 3, rng)
    nodes = [
        helper.make_node("Gemm", gemm_inputs, ["h"], name="dense", transB=trans_b),
        bn,
        helper.make_node("Relu", ["y"], ["out"], name="relu"),
    ]
    model = make_model(nodes, {"x": [1, 4]}, {"out": [1, 3]}, {**inits, **bn_inits})
    graph = bounds.import_model(model)
    assert [n.op_type for n in graph.nodes] == ["Gemm", "Relu"]
    _matches_onnxruntime(model, graph)


def test_batchnorm_is_not_folded_where_it_would_be_wrong() -> None:
    """The Conv output is also used elsewhere, and a Gemm has alpha != 1: BN stays, results agree."""
    rng = np.random.default_rng(3)
    bn1, bn1_inits = _bn_nodes("h", 2, rng, name="bn1")
    bn1.output[0] = "n1"
    bn2, bn2_inits = _bn_nodes("g", 2, rng, name="bn2")
    bn2.output[0] = "n2"
    nodes = [
        helper.make_node("Conv", ["x", "W"], ["h"], name="conv"),
        bn1,
        helper.make_node("Add", ["n1", "h"], ["s"], name="residual"),
        helper.make_node("Flatten", ["s"], ["f"], name="flatten"),
        helper.make_node("Gemm", ["f", "V"], ["g"], name="dense", alpha=0.5, transB=1),
        bn2,
    ]
    nodes[-1].output[0] = "y"
    inits = {"W": rng.normal(size=(2, 1, 2, 2)), "V": rng.normal(size=(2, 18)), **bn1_inits, **bn2_inits}
    model = make_model(nodes, {"x": [1, 1, 4, 4]}, {"y": [1, 2]}, inits)
    graph = bounds.import_model(model)
    assert [n.op_type for n in graph.nodes].count("BatchNormalization") == 2
    _matches_onnxruntime(model, graph)


def test_fold_batchnorm_leaves_its_argument_unchanged() -> None:
    from bounds.passes import fold_batchnorm

    rng = np.random.default_rng(4)
    bn, bn_inits = _bn_nodes("h", 3, rng)
    nodes = [helper.make_node("Gemm", ["x", "W"], ["h"], name="dense"), bn]
    model = make_model(nodes, {"x": [1, 2]}, {"y": [1, 3]}, {"W": rng.normal(size=(2, 3)), **bn_inits})
    before = model.SerializeToString()
    folded = fold_batchnorm(model)
    assert model.SerializeToString() == before
    assert [n.op_type for n in folded.graph.node] == ["Gemm"]
    assert folded.graph.node[0].output[0] == "y"
    onnx.checker.check_model(folded)


# --- shapes -------------------------------------------------------------------------------


def test_dynamic_batch_dimension_becomes_one() -> None:
    nodes = [helper.make_node("Relu", ["x"], ["y"], name="relu")]
    model = make_model(nodes, {"x": ["N", 3]}, {"y": ["N", 3]})
    graph = bounds.import_model(model)
    assert graph.input.shape == (1, 3)
    assert graph.output.shape == (1, 3)
    _matches_onnxruntime(model, graph)


def test_unknown_batch_dimension_becomes_one() -> None:
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": [None, 3]}, {"y": [None, 3]})
    assert bounds.import_model(model).input.shape == (1, 3)


def test_dynamic_non_batch_dimension_raises_shape_error() -> None:
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": [1, "M"]}, {"y": [1, "M"]})
    with pytest.raises(ShapeError, match="dynamic"):
        bounds.import_model(model)


def test_input_shapes_override_fixes_dynamic_dimensions() -> None:
    model = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": ["N", "M"]}, {"y": ["N", "M"]})
    graph = bounds.import_model(model, input_shapes={"x": (2, 5)})
    assert graph.input.shape == (2, 5)
    with pytest.raises(ShapeError):
        bounds.import_model(model, input_shapes={"x": (2, 5, 1)})
    fixed = make_model([helper.make_node("Relu", ["x"], ["y"])], {"x": [1, 3]}, {"y": [1, 3]})
    with pytest.raises(ShapeError):
        bounds.import_model(fixed, input_shapes={"x": (1, 4)})


def test_declared_output_shape_must_match() -> None:
    model = make_model([helper.make_node("Flatten", ["x"], ["y"])], {"x": [1, 2, 3]}, {"y": [1, 5]}, check=False)
    with pytest.raises(ShapeError, match="'y'"):
        bounds.import_model(model)


def test_inconsistent_shapes_raise_shape_error_naming_the_node() -> None:
    nodes = [helper.make_node("Gemm", ["x", "W"], ["y"], name="bad_gemm")]
    model = make_model(nodes, {"x": [1, 3]}, {"y": [1, 2]}, {"W": np.ones((4, 2))})
    with pytest.raises(ShapeError, match="bad_gemm"):
        bounds.import_model(model)


def _bad(op: str, ins: list[str], inputs: dict, inits: dict, id: str, **attrs: object) -> object:
    return pytest.param(helper.make_node(op, ins, ["y"], name="bad_node", **attrs), inputs, inits, id=id)


def _ints(*values: int) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


@pytest.mark.parametrize(
    ("node", "inputs", "inits"),
    [
        _bad("Reshape", ["x", "s"], {"x": [2, 3]}, {"s": _ints(4, -1)}, "Reshape-size"),
        _bad("Reshape", ["x", "s"], {"x": [2, 3]}, {"s": _ints(-1, -1)}, "Reshape-two-minus-ones"),
        _bad("Reshape", ["x", "s"], {"x": [2, 3]}, {"s": _ints(0, 0, 0, 1)}, "Reshape-zero-beyond-rank"),
        _bad("Transpose", ["x"], {"x": [2, 3]}, {}, "Transpose-not-a-permutation", perm=[0, 0]),
        _bad("Squeeze", ["x", "s"], {"x": [2, 3]}, {"s": _ints(0)}, "Squeeze-not-size-1"),
        _bad("Squeeze", ["x", "s"], {"x": [2, 3]}, {"s": _ints(5)}, "Squeeze-axis-out-of-range"),
        _bad("Unsqueeze", ["x", "s"], {"x": [2, 3]}, {"s": _ints(0, 0)}, "Unsqueeze-repeated-axis"),
        _bad("Flatten", ["x"], {"x": [2, 3]}, {}, "Flatten-axis-out-of-range", axis=5),
        _bad("Add", ["x", "c"], {"x": [2, 3]}, {"c": np.ones(4)}, "Add-no-broadcast"),
        _bad("Sub", ["x", "z"], {"x": [2, 3], "z": [4]}, {}, "Sub-two-vars-no-broadcast"),
        _bad("MatMul", ["x", "c"], {"x": [2, 3]}, {"c": np.ones((4, 2))}, "MatMul-inner-dims"),
        _bad("MatMul", ["c", "x"], {"x": [2, 3]}, {"c": np.ones((4, 3))}, "MatMul-left-inner-dims"),
        _bad("Gemm", ["x", "c"], {"x": [1, 2, 3]}, {"c": np.ones((3, 2))}, "Gemm-3d-input"),
        _bad("Gemm", ["x", "c"], {"x": [1, 3]}, {"c": np.ones(3)}, "Gemm-1d-B"),
        _bad("Gemm", ["x", "c"], {"x": [1, 3]}, {"c": np.ones((3, 2, 2))}, "Gemm-3d-B"),
        _bad("Gemm", ["x", "c", "b"], {"x": [1, 3]}, {"c": np.ones((3, 2)), "b": np.ones(5)}, "Gemm-C-size"),
        _bad("Gemm", ["x", "c", "b"], {"x": [1, 3]}, {"c": np.ones((3, 2)), "b": np.ones((4, 2))}, "Gemm-C-too-big"),
        _bad("Conv", ["x", "w"], {"x": [1, 2, 3, 3]}, {"w": np.ones((1, 3, 2, 2))}, "Conv-channels"),
        _bad("Conv", ["x", "w"], {"x": [1, 4, 3, 3]}, {"w": np.ones((2, 2, 2, 2))}, "Conv-group", group=3),
        _bad("Conv", ["x", "w"], {"x": [1, 1, 2, 2]}, {"w": np.ones((1, 1, 3, 3))}, "Conv-empty-output"),
        _bad("Conv", ["x", "w"], {"x": [1, 1, 5]}, {"w": np.ones((1, 1, 3, 3))}, "Conv-rank"),
        _bad("Conv", ["x", "w"], {"x": [1, 1, 5, 5]}, {"w": np.ones((1, 1, 3, 3))}, "Conv-pads-length", pads=[1, 1]),
        _bad("Conv", ["x", "w"], {"x": [1, 1, 5, 5]}, {"w": np.ones((1, 1, 3, 3))}, "Conv-stride-0", strides=[0, 1]),
        _bad(
            "Conv",
            ["x", "w"],
            {"x": [1, 1, 5, 5]},
            {"w": np.ones((1, 1, 3, 3))},
            "Conv-same-strides-length",
            auto_pad="SAME_UPPER",
            strides=[1],
        ),
        _bad("Conv", ["x", "w", "b"], {"x": [1, 1, 3, 3]}, {"w": np.ones((2, 1, 2, 2)), "b": np.ones(3)}, "Conv-bias"),
        _bad(
            "BatchNormalization",
            ["x", "g", "b", "m", "v"],
            {"x": [1, 3, 2, 2]},
            {k: np.ones(2) for k in "gbmv"},
            "BatchNormalization-channels",
        ),
    ],
)
def test_malformed_node_raises_shape_error_naming_it(node: onnx.NodeProto, inputs: dict, inits: dict) -> None:
    # The declared output shape does not matter: the node is rejected before outputs are checked.
    model = make_model([node], inputs, {"y": ["n"]}, inits)
    with pytest.raises(ShapeError, match="bad_node"):
        bounds.import_model(model)


def test_batchnorm_with_negative_variance_raises_model_error() -> None:
    node = helper.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["y"], name="bad_bn")
    inits = {"g": np.ones(3), "b": np.zeros(3), "m": np.zeros(3), "v": np.array([1.0, -1.0, 1.0])}
    model = make_model([node], {"x": [1, 3]}, {"y": [1, 3]}, inits)
    with pytest.raises(ModelError, match="bad_bn"):
        bounds.import_model(model)


# --- invalid models -----------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_initializer_raises_model_error(bad: float) -> None:
    weight = np.ones((2, 2))
    weight[1, 0] = bad
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y"])]
    model = make_model(nodes, {"x": [1, 2]}, {"y": [1, 2]}, {"W": weight})
    with pytest.raises(ModelError, match="'W'"):
        bounds.import_model(model)


def test_model_without_variable_input_raises_model_error() -> None:
    nodes = [helper.make_node("Relu", ["c"], ["y"])]
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("c", onnx.TensorProto.FLOAT, [2])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [2])],
        [numpy_helper.from_array(np.ones(2, np.float32), "c")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    with pytest.raises(ModelError, match="no variable input"):
        bounds.import_model(model)


def test_output_that_does_not_depend_on_the_input_raises_model_error() -> None:
    nodes = [helper.make_node("Relu", ["x"], ["h"]), helper.make_node("Neg", ["c"], ["y"])]
    model = make_model(nodes, {"x": [2]}, {"y": [2]}, {"c": np.ones(2)})
    with pytest.raises(ModelError, match="'y'"):
        bounds.import_model(model)


def test_checker_rejection_raises_model_error() -> None:
    node = helper.make_node("Relu", ["missing"], ["y"])
    model = make_model([node], {"x": [2]}, {"y": [2]}, check=False)
    with pytest.raises(ModelError, match="checker"):
        bounds.import_model(model)


def test_load_onnx_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "does-not-exist.onnx"
    with pytest.raises(ModelError) as info:
        bounds.load_onnx(path)
    assert str(path) in str(info.value)
    assert info.value.file == str(path)


def test_load_onnx_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelError) as info:
        bounds.load_onnx(tmp_path)
    assert str(tmp_path) in str(info.value)


def test_load_onnx_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(ModelError, match="empty") as info:
        bounds.load_onnx(path)
    assert str(path) in str(info.value)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("size", [1, 7, 100, 5000])
def test_load_onnx_random_bytes(tmp_path: Path, seed: int, size: int) -> None:
    path = tmp_path / f"random-{seed}-{size}.onnx"
    path.write_bytes(np.random.default_rng(seed).integers(0, 256, size=size, dtype=np.uint8).tobytes())
    with pytest.raises(ModelError) as info:
        bounds.load_onnx(path)
    assert str(path) in str(info.value)


def test_load_onnx_text_file(tmp_path: Path) -> None:
    path = tmp_path / "notes.onnx"
    path.write_text("this is not a model\n")
    with pytest.raises(ModelError) as info:
        bounds.load_onnx(path)
    assert str(path) in str(info.value)


def test_load_onnx_error_from_import_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "cos.onnx"
    onnx.save(make_model([helper.make_node("Cos", ["x"], ["y"], name="c")], {"x": [2]}, {"y": [2]}), path)
    with pytest.raises(UnsupportedOperatorError) as info:
        bounds.load_onnx(path)
    assert str(path) in str(info.value)
    assert "Cos" in str(info.value)
    assert info.value.file == str(path)


def test_load_onnx_reads_a_valid_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    model = dense_network([rng.normal(size=(4, 3)), rng.normal(size=(2, 4))], [rng.normal(size=4), rng.normal(size=2)])
    path = tmp_path / "net.onnx"
    onnx.save(model, path)
    graph = bounds.load_onnx(str(path))
    assert graph.input.shape == (1, 3)
    assert graph.output.shape == (1, 2)
    assert graph.opset == 13
    _matches_onnxruntime(model, graph)


# --- pruning ------------------------------------------------------------------------------


def test_nodes_not_reaching_the_output_are_pruned() -> None:
    rng = np.random.default_rng(6)
    nodes = [
        helper.make_node("Gemm", ["x", "W"], ["h"], name="dense", transB=1),
        helper.make_node("Sigmoid", ["x"], ["dead1"], name="dead_sigmoid"),
        helper.make_node("Neg", ["dead1"], ["dead2"], name="dead_neg"),
        helper.make_node("Relu", ["h"], ["y"], name="relu"),
        helper.make_node("Tanh", ["h"], ["dead3"], name="dead_tanh"),
    ]
    model = make_model(nodes, {"x": [1, 3]}, {"y": [1, 2]}, {"W": rng.normal(size=(2, 3))})
    graph = bounds.import_model(model)
    assert [n.name for n in graph.nodes] == ["dense", "relu"]
    _matches_onnxruntime(model, graph)


# --- the real benchmark models --------------------------------------------------------------


def _shared(*parts: str) -> Path:
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


@pytest.mark.shared
@pytest.mark.parametrize(
    "name", ["ACASXU_run2a_1_1_batch_2000", "ACASXU_run2a_3_3_batch_2000", "ACASXU_run2a_5_9_batch_2000"]
)
def test_acasxu_model_matches_onnxruntime(name: str) -> None:
    path = _shared("acasxu", f"{name}.onnx")
    graph = bounds.load_onnx(path)
    assert graph.input.size == 5
    assert graph.output.size == 5
    assert {n.op_type for n in graph.nodes} <= {"Sub", "Flatten", "MatMul", "Add", "Relu", "Div", "Mul"}
    _matches_onnxruntime(onnx.load(path), graph, count=8)


@pytest.mark.shared
@pytest.mark.parametrize("name", ["mnist-net_256x2", "mnist-net_256x4", "mnist-net_256x6"])
def test_mnist_model_matches_onnxruntime(name: str) -> None:
    path = _shared("mnistfc", f"{name}.onnx")
    graph = bounds.load_onnx(path)
    assert graph.input.size == 784
    assert graph.output.size == 10
    model = onnx.load(path)
    rng = np.random.default_rng(8)
    x = rng.uniform(0.0, 1.0, size=(4, *graph.input.shape)).astype(np.float32)
    expected = ort_batch(model, [{graph.input.name: row} for row in x]).reshape(4, -1)
    np.testing.assert_allclose(graph.run_numpy(x.reshape(4, -1)), expected, rtol=1e-5, atol=1e-5)


@pytest.mark.shared
def test_acasxu_bounds_are_sound_on_a_box() -> None:
    path = _shared("acasxu", "ACASXU_run2a_1_1_batch_2000.onnx")
    graph = bounds.load_onnx(path)
    rng = np.random.default_rng(9)
    center = rng.uniform(-0.3, 0.3, size=(1, 5))
    lower, upper = torch.as_tensor(center - 0.02), torch.as_tensor(center + 0.02)
    terms = bounds.LinearTermBounds(graph, torch.eye(5))
    box = terms(lower, upper)
    x = lower + torch.as_tensor(rng.uniform(size=(300, 5))) * (upper - lower)
    y = graph.run(x)
    assert bool((y >= box.lower - 1e-9).all())
    assert bool((y <= box.upper + 1e-9).all())


@pytest.mark.parametrize("opset", [6, 22])
def test_opset_outside_the_supported_range_is_refused(opset):
    model = dense_network([np.ones((1, 1))], [np.zeros(1)], opset=13)
    model.opset_import[0].version = opset
    with pytest.raises(ModelError, match="outside the supported range"):
        bounds.import_model(model)


def test_a_nan_attribute_is_refused_and_an_infinite_clip_bound_is_no_bound() -> None:
    def clip(**bounds: float) -> onnx.ModelProto:
        node = helper.make_node("Clip", ["x"], ["y"], name="clip", **bounds)
        return make_model([node], {"x": [1, 2]}, {"y": [1, 2]}, opset=10)

    graph = bounds.import_model(clip(min=0.0, max=float("inf")))
    x = torch.tensor([[-1.0, 1e30]], dtype=torch.float64)
    assert graph.run(x).tolist() == [[0.0, 1e30]]
    with pytest.raises(ModelError, match="node 'clip' \\(Clip\\) has a NaN or infinite attribute 'max'"):
        bounds.import_model(clip(min=0.0, max=float("nan")))
