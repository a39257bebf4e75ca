"""Every claim of ``nnverify supports`` is exercised by a query with a known answer, and
what is not claimed is refused with an error.

Operators: one small model per claimed operator, over a box of radius R around a random
point. The largest value of the first output over the box is known exactly: for linear ops
(affine maps and data movement) it is ``f(x0) + R * sum|A[0]|``, with A read off by
running onnxruntime on unit vectors; for the monotone activations it is ``f(x0 + R)``. So
``y0 >= max + margin`` is unsat and ``y0 >= max - margin`` is sat, and both must be found.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path
from typing import Literal

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from bounds.onnx_build import dense_network
from bounds.ops import FOLDED_ONLY
from specs import Box, Case, InputRegion, LinearConstraints, OutputCondition, Property, Variable
from verify.capabilities import answer
from verify.cli import EXIT_INPUT, EXIT_OK, main
from verify.options import Options
from verify.pipeline import check_property, load_model
from verify.result import Status

R = 0.25
"""Radius of the input box around the random centre."""

_RNG = np.random.default_rng(5)


def _array(*shape: int, positive: bool = False) -> np.ndarray:
    values = _RNG.normal(size=shape).astype(np.float32)
    return np.abs(values) + 0.5 if positive else values


def _scalar(value: float) -> np.ndarray:
    return np.array(value, np.float32)


def _node(op: str, inputs: list[str], **attributes: object) -> onnx.NodeProto:
    return helper.make_node(op, inputs, ["y"], name=op.lower(), **attributes)


Largest = Literal["linear", "monotone"] | Callable[[np.ndarray], np.ndarray]
"""Where the first output is largest over the box: an affine model (its exact maximum),
nondecreasing in every input (the upper corner), or the corner whose signs a function of
the centre gives."""

# op type -> (nodes, input shape, initializers, where the first output is largest)
OPERATOR_MODELS: dict[str, tuple[list[onnx.NodeProto], tuple[int, ...], dict[str, np.ndarray], Largest]] = {
    "Add": ([_node("Add", ["x", "c"])], (1, 4), {"c": _array(4)}, "linear"),
    "Sub": ([_node("Sub", ["c", "x"])], (1, 4), {"c": _array(4)}, "linear"),
    "Mul": ([_node("Mul", ["x", "c"])], (1, 4), {"c": _array(4)}, "linear"),
    "Div": ([_node("Div", ["x", "c"])], (1, 4), {"c": _array(4, positive=True)}, "linear"),
    "Neg": ([_node("Neg", ["x"])], (1, 4), {}, "linear"),
    "Gemm": ([_node("Gemm", ["x", "w", "b"], transB=1)], (1, 4), {"w": _array(3, 4), "b": _array(3)}, "linear"),
    "MatMul": ([_node("MatMul", ["x", "m"])], (1, 4), {"m": _array(4, 3)}, "linear"),
    "Conv": (
        [_node("Conv", ["x", "k", "b"], kernel_shape=[2, 2], pads=[1, 0, 0, 1])],
        (1, 2, 3, 3),
        {"k": _array(3, 2, 2, 2), "b": _array(3)},
        "linear",
    ),
    "BatchNormalization": (
        [_node("BatchNormalization", ["x", "s", "b", "m", "v"])],
        (1, 2, 3, 3),
        {"s": _array(2), "b": _array(2), "m": _array(2), "v": _array(2, positive=True)},
        "linear",
    ),
    "Flatten": ([_node("Flatten", ["x"], axis=2)], (1, 2, 3, 2), {}, "linear"),
    "Reshape": ([_node("Reshape", ["x", "shape"])], (1, 2, 3), {"shape": np.array([1, 3, 2], np.int64)}, "linear"),
    "Squeeze": ([_node("Squeeze", ["x", "axes"])], (1, 1, 4), {"axes": np.array([1], np.int64)}, "linear"),
    "Unsqueeze": ([_node("Unsqueeze", ["x", "axes"])], (1, 4), {"axes": np.array([2], np.int64)}, "linear"),
    "Transpose": ([_node("Transpose", ["x"], perm=[0, 2, 1])], (1, 2, 3), {}, "linear"),
    "Identity": ([_node("Identity", ["x"])], (1, 4), {}, "linear"),
    "Constant": (
        [
            helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(_array(4)), name="constant"),
            _node("Add", ["x", "c"]),
        ],
        (1, 4),
        {},
        "linear",
    ),
    "Relu": ([_node("Relu", ["x"])], (1, 4), {}, "monotone"),
    "Sigmoid": ([_node("Sigmoid", ["x"])], (1, 4), {}, "monotone"),
    "Tanh": ([_node("Tanh", ["x"])], (1, 4), {}, "monotone"),
    "LeakyRelu": ([_node("LeakyRelu", ["x"], alpha=0.1)], (1, 4), {}, "monotone"),
    "Clip": ([_node("Clip", ["x", "lo", "hi"])], (1, 4), {"lo": _scalar(-0.5), "hi": _scalar(0.5)}, "monotone"),
    "Sign": ([_node("Sign", ["x"])], (1, 4), {}, "monotone"),
    "Pow": ([_node("Pow", ["x", "e"])], (1, 4), {"e": _scalar(3.0)}, "monotone"),
    "MaxPool": ([_node("MaxPool", ["x"], kernel_shape=[2, 2])], (1, 1, 3, 3), {}, "monotone"),
    "Abs": ([_node("Abs", ["x"])], (1, 4), {}, lambda centre: np.where(centre >= 0, 1.0, -1.0)),
    "Softmax": ([_node("Softmax", ["x"], axis=1)], (1, 4), {}, lambda centre: np.array([1.0, -1.0, -1.0, -1.0])),
    "AveragePool": ([_node("AveragePool", ["x"], kernel_shape=[2, 2])], (1, 1, 3, 3), {}, "linear"),
    "GlobalAveragePool": ([_node("GlobalAveragePool", ["x"])], (1, 2, 2, 2), {}, "linear"),
    "Pad": ([_node("Pad", ["x", "pads"])], (1, 4), {"pads": np.array([0, 0, 0, 2], np.int64)}, "linear"),
    "Concat": ([_node("Concat", ["x", "c"], axis=1)], (1, 4), {"c": _array(1, 2)}, "linear"),
    "Slice": (
        [_node("Slice", ["x", "starts", "ends", "axes"])],
        (1, 4),
        {"starts": np.array([1], np.int64), "ends": np.array([3], np.int64), "axes": np.array([1], np.int64)},
        "linear",
    ),
    "Gather": ([_node("Gather", ["x", "i"], axis=1)], (1, 4), {"i": np.array([2, 0], np.int64)}, "linear"),
    "Split": (
        [helper.make_node("Split", ["x", "s"], ["y", "rest"], name="split", axis=1)],
        (1, 4),
        {"s": np.array([3, 1], np.int64)},
        "linear",
    ),
    "Expand": ([_node("Expand", ["x", "shape"])], (1, 4), {"shape": np.array([2, 4], np.int64)}, "linear"),
    "Tile": ([_node("Tile", ["x", "reps"])], (1, 4), {"reps": np.array([1, 2], np.int64)}, "linear"),
    "Where": (
        [_node("Where", ["cond", "x", "c"])],
        (1, 4),
        {"cond": np.array([True, False, True, False]), "c": _array(4)},
        "linear",
    ),
    "Cast": ([_node("Cast", ["x"], to=TensorProto.FLOAT)], (1, 4), {}, "linear"),
    "ReduceSum": ([_node("ReduceSum", ["x", "axes"], keepdims=0)], (1, 4), {"axes": np.array([1], np.int64)}, "linear"),
    "ReduceMean": ([_node("ReduceMean", ["x"], axes=[1], keepdims=0)], (1, 4), {}, "linear"),
    # shape plumbing: folded to constants at import, so these models are affine
    "Shape": (
        [
            helper.make_node("Shape", ["x"], ["s"], name="shape"),
            helper.make_node("Cast", ["s"], ["f"], name="cast", to=TensorProto.FLOAT),
            helper.make_node("ReduceSum", ["f"], ["total"], name="total", keepdims=1),
            _node("Add", ["x", "total"]),
        ],
        (1, 4),
        {},
        "linear",
    ),
    "Size": (
        [
            helper.make_node("Size", ["x"], ["n"], name="size"),
            helper.make_node("Cast", ["n"], ["f"], name="cast", to=TensorProto.FLOAT),
            _node("Add", ["x", "f"]),
        ],
        (1, 4),
        {},
        "linear",
    ),
    "ConstantOfShape": (
        [
            helper.make_node("ConstantOfShape", ["dims"], ["c"], name="fill", value=numpy_helper.from_array(_array(1))),
            _node("Add", ["x", "c"]),
        ],
        (1, 4),
        {"dims": np.array([1, 4], np.int64)},
        "linear",
    ),
    "Range": (
        [helper.make_node("Range", ["start", "limit", "delta"], ["r"], name="range"), _node("Add", ["x", "r"])],
        (1, 4),
        {"start": _scalar(0.0), "limit": _scalar(4.0), "delta": _scalar(1.0)},
        "linear",
    ),
    "Equal": (
        [helper.make_node("Equal", ["a", "b"], ["mask"], name="equal"), _node("Where", ["mask", "x", "c"])],
        (1, 4),
        {"a": np.array([1, 2, 3, 4], np.float32), "b": np.array([1, 0, 3, 0], np.float32), "c": _array(4)},
        "linear",
    ),
}


def _model_bytes(op: str) -> bytes:
    nodes, shape, initializers, _ = OPERATOR_MODELS[op]
    graph = helper.make_graph(
        nodes,
        op,
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, list(shape))],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
        [numpy_helper.from_array(v, k) for k, v in initializers.items()],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    model = onnx.shape_inference.infer_shapes(model)  # fills in the output's shape
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


@functools.cache
def _largest_first_output(op: str) -> tuple[np.ndarray, float]:
    """The box centre and the exact largest value of the first output over the box."""
    _, shape, _, largest = OPERATOR_MODELS[op]
    session = ort.InferenceSession(_model_bytes(op), providers=["CPUExecutionProvider"])

    def run(x: np.ndarray) -> np.ndarray:
        return np.asarray(session.run(None, {"x": x.astype(np.float32).reshape(shape)})[0], np.float64).reshape(-1)

    n = int(np.prod(shape))
    centre = np.random.default_rng(len(op)).normal(size=n)
    if largest == "monotone":
        return centre, float(run(centre + R)[0])
    if callable(largest):
        return centre, float(run(centre + R * largest(centre))[0])
    offset = run(np.zeros(n))
    row = np.array([run(np.eye(n)[j])[0] - offset[0] for j in range(n)])
    return centre, float(run(centre)[0] + R * np.abs(row).sum())


def _first_output_at_least(threshold: float, centre: np.ndarray, n_outputs: int) -> Property:
    n = centre.size
    clause = LinearConstraints(-np.eye(n_outputs)[:1], np.array([-threshold]), np.zeros(1, bool))
    case = Case(InputRegion(Box(centre - R, centre + R), LinearConstraints.empty(n)), OutputCondition((clause,)))
    return Property(Variable("X", "real", (n,)), Variable("Y", "real", (n_outputs,)), (case,))


def test_every_claimed_operator_has_a_known_answer_model() -> None:
    assert set(answer("onnx-operators")) == set(OPERATOR_MODELS)


@pytest.mark.parametrize("op", sorted(OPERATOR_MODELS))
def test_claimed_operator_decides_known_answers(op: str, tmp_path: Path) -> None:
    path = tmp_path / f"{op}.onnx"
    path.write_bytes(_model_bytes(op))
    model = load_model(path)
    assert op in FOLDED_ONLY or op in {node.op_type for node in model.graph.nodes}
    centre, largest = _largest_first_output(op)
    margin = 1e-3 * (1 + abs(largest))
    n_outputs = model.graph.output.size
    options = Options(timeout=30)
    above = check_property(model, _first_output_at_least(largest + margin, centre, n_outputs), options)
    assert above.status is Status.UNSAT, above.reason
    below = check_property(model, _first_output_at_least(largest - margin, centre, n_outputs), options)
    assert below.status is Status.SAT and below.counterexample is not None
    assert below.counterexample.output[0] >= largest - margin


@pytest.mark.parametrize("opset", [int(v) for v in answer("onnx-opset-versions")])
def test_claimed_opset_range_ends_decide(opset: int, tmp_path: Path) -> None:
    path = tmp_path / "m.onnx"
    proto = dense_network(
        [np.array([[1.0], [-1.0]]), np.array([[1.0, 1.0], [-1.0, -1.0]])],
        [np.zeros(2), np.array([0.0, 1.0])],
        opset=opset,
    )
    onnx.save(proto, path)
    model = load_model(path)
    assert model.graph.opset == opset
    assert check_property(model, _first_output_at_least(1.01, np.zeros(1), 2)).status is Status.UNSAT  # y0 = |x|
    assert check_property(model, _first_output_at_least(0.2, np.zeros(1), 2)).status is Status.SAT


# -- VNN-LIB versions and theories, through the command line, on y = [|x|, 1 - |x|] ------------

V1_HEADER = "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
V1_BOX = "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n"
V2_HEADER = "(vnnlib-version <2.0>)\n(declare-network f (declare-input X real [1,1]) (declare-output Y real [1,2]))\n"
V2_BOX = "(assert (and (>= X[0,0] -1.0) (<= X[0,0] 1.0)))\n"

# theory -> (VNN-LIB 1.0 output assertion, VNN-LIB 2.0 output assertion) as templates in t,
# with the threshold making it unsat and the one making it sat
THEORY_QUERIES = {
    # BND: one variable against a constant; y0 = |x| <= 1
    "BND": ("(assert (>= Y_0 {t}))", "(assert (>= Y[0,0] {t}))", 1.5, 0.9),
    # COUT: outputs compared; y0 - y1 = 2|x| - 1 <= 1
    "COUT": ("(assert (>= Y_0 (+ Y_1 {t})))", "(assert (>= Y[0,0] (+ Y[0,1] {t})))", 1.5, 0.5),
    # LIN: linear combination; 0.5 y0 + 0.75 y1 = 0.75 - 0.25|x| in [0.5, 0.75]
    "LIN": (
        "(assert (>= (+ (* 0.5 Y_0) (* 0.75 Y_1)) {t}))",
        "(assert (>= (+ (* 0.5 Y[0,0]) (* 0.75 Y[0,1])) {t}))",
        0.8,
        0.7,
    ),
}


# POLY (VNN-LIB 2.0 only): name -> (unsat assertion, sat assertion, also decided for float32)
POLY_QUERIES = {
    # y0^2 = x^2 <= 1
    "square of an output": ("(assert (>= (* Y[0,0] Y[0,0]) 1.5))", "(assert (>= (* Y[0,0] Y[0,0]) 0.81))", True),
    # x y0 = x |x| <= 1
    "input times output": ("(assert (>= (* X[0,0] Y[0,0]) 1.5))", "(assert (>= (* X[0,0] Y[0,0]) 0.5))", False),
    # y0 y1 = |x| (1 - |x|) <= 1/4
    "two outputs": ("(assert (>= (* Y[0,0] Y[0,1]) 0.3))", "(assert (>= (* Y[0,0] Y[0,1]) 0.2))", True),
    # y0^2 - 0.5 y1 = x^2 + 0.5 |x| - 0.5 in [-0.5, 1]
    "with a linear term": (
        "(assert (>= (- (* Y[0,0] Y[0,0]) (* 0.5 Y[0,1])) 1.1))",
        "(assert (>= (- (* Y[0,0] Y[0,0]) (* 0.5 Y[0,1])) 0.9))",
        True,
    ),
    # at the maximum 1/4 (|x| = 1/2): strictly above never (z3), reached exactly
    "touching its maximum": ("(assert (> (* Y[0,0] Y[0,1]) 0.25))", "(assert (>= (* Y[0,0] Y[0,1]) 0.25))", False),
}


def test_every_claimed_arithmetic_theory_has_queries() -> None:
    assert answer("arithmetic-complexity-theories") == [*THEORY_QUERIES, "POLY"]


@pytest.mark.parametrize("version", answer("vnnlib-versions"))
@pytest.mark.parametrize("theory", sorted(THEORY_QUERIES))
def test_claimed_theories_decide_known_answers(
    theory: str, version: str, abs_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    v1, v2, unsat, sat = THEORY_QUERIES[theory]
    verdicts = []
    for threshold in (unsat, sat):
        query = tmp_path / "q.vnnlib"
        if version == "1.0":
            query.write_text(V1_HEADER + V1_BOX + v1.format(t=threshold) + "\n")
        else:
            query.write_text(V2_HEADER + V2_BOX + v2.format(t=threshold) + "\n")
        assert main(["verify", str(query), "--network", f"f={abs_model_path}", "--timeout", "20"]) == EXIT_OK
        verdicts.append(capsys.readouterr().out.splitlines()[0])
    assert verdicts == ["unsat", "sat"]


@pytest.mark.parametrize("name", sorted(POLY_QUERIES))
def test_claimed_polynomial_theory_decides_known_answers(
    name: str, abs_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    verdicts = []
    for assertion in POLY_QUERIES[name][:2]:
        query = tmp_path / "q.vnnlib"
        query.write_text(V2_HEADER + V2_BOX + assertion + "\n")
        assert main(["verify", str(query), "--network", f"f={abs_model_path}", "--timeout", "10"]) == EXIT_OK
        verdicts.append(capsys.readouterr().out.splitlines())
    assert [lines[0] for lines in verdicts] == ["unsat", "sat"]
    x, y0, y1 = (float(v) for v in (verdicts[1][2], verdicts[1][4], verdicts[1][5]))
    assert y0 == abs(np.float32(x)) and y1 == np.float32(1) - abs(np.float32(x))


def test_claimed_element_types() -> None:
    """The queries above are NH, SIO, SNET and SNC with element types real and float32; the
    other theories' claims are tested in test_vnnlib2_theories.py."""
    assert answer("onnx-element-types") == ["real", "float32"]


FLOAT32_QUERIES = {
    **{theory: tuple(v2.format(t=t) for t in (unsat, sat)) for theory, (_, v2, unsat, sat) in THEORY_QUERIES.items()},
    **{f"POLY {name}": (unsat, sat) for name, (unsat, sat, float32) in POLY_QUERIES.items() if float32},
}


@pytest.mark.parametrize("theory", sorted(FLOAT32_QUERIES))
def test_claimed_float32_type_decides_known_answers(
    theory: str, abs_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """float32 declarations: the same answers, proved for the model as executed in float32.
    Not for the polynomial query touching its maximum (z3 does not prove float execution),
    nor for a product of an input and an output (such a query reads the input as an output
    of a composed model, and float32 is analysed for single models only)."""
    verdicts = []
    for assertion in FLOAT32_QUERIES[theory]:
        query = tmp_path / "q.vnnlib"
        query.write_text(V2_HEADER.replace("real", "float32") + V2_BOX + assertion + "\n")
        assert main(["verify", str(query), "--network", f"f={abs_model_path}", "--timeout", "20"]) == EXIT_OK
        verdicts.append(capsys.readouterr().out.splitlines()[0])
    assert verdicts == ["unsat", "sat"]


def test_float32_is_refused_for_models_without_float_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    softmax = helper.make_graph(
        [helper.make_node("Softmax", ["x"], ["y"], axis=1)],
        "softmax",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    )
    model = helper.make_model(softmax, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path = tmp_path / "softmax.onnx"
    onnx.save(model, path)
    query = tmp_path / "q.vnnlib"
    query.write_text(
        V2_HEADER.replace("real", "float32").replace("[1,1]", "[1,2]")
        + "(assert (and (>= X[0,0] -1.0) (<= X[0,0] 1.0) (>= X[0,1] -1.0) (<= X[0,1] 1.0)))\n"
        + "(assert (>= Y[0,0] 2.0))\n"
    )
    assert main(["verify", str(query), "--network", f"f={path}"]) == EXIT_INPUT
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1
    assert "no float error rule for Softmax" in captured.err and "declare it 'real'" in captured.err


UNCLAIMED = {
    "float16 element type": V2_HEADER.replace("real", "float16") + V2_BOX,
}


REFUSALS = {
    "float16 element type": "is declared float16",
}


@pytest.mark.parametrize("what", sorted(UNCLAIMED))
def test_unclaimed_theories_are_refused(
    what: str, abs_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = tmp_path / "q.vnnlib"
    query.write_text(UNCLAIMED[what])
    assert main(["verify", str(query), "--network", f"f={abs_model_path}"]) == EXIT_INPUT
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert REFUSALS[what] in captured.err


def test_claimed_serialised_assignments(
    abs_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert answer("serialise-assignments") == ["true"]
    query = tmp_path / "q.vnnlib"
    query.write_text(V2_HEADER + V2_BOX + "(assert (>= Y[0,0] 0.9))\n")  # sat: |x| >= 0.9
    folder = tmp_path / "out" / "assignment"
    args = ["verify", str(query), "--network", f"f={abs_model_path}", "--serialise-assignments", str(folder)]
    assert main(args) == EXIT_OK
    assert capsys.readouterr().out == "sat\n"
    assert sorted(p.name for p in folder.iterdir()) == ["X.pb", "Y.pb"]
    x, y = (numpy_helper.to_array(onnx.load_tensor(str(folder / f"{name}.pb"))) for name in ("X", "Y"))
    assert x.shape == (1, 1) and y.shape == (1, 2) and x.dtype == y.dtype == np.float32
    assert -1 <= x[0, 0] <= 1 and y[0, 0] >= 0.9
    assert y[0, 0] == abs(x[0, 0]) and y[0, 1] == np.float32(1) - abs(x[0, 0])


def test_serialised_assignments_folder_that_cannot_be_written(
    abs_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = tmp_path / "q.vnnlib"
    query.write_text(V2_HEADER + V2_BOX + "(assert (>= Y[0,0] 0.9))\n")
    blocker = tmp_path / "file"
    blocker.write_text("")
    args = ["verify", str(query), "--network", f"f={abs_model_path}", "--serialise-assignments", str(blocker)]
    assert main(args) == EXIT_INPUT
    captured = capsys.readouterr()
    assert captured.out == "" and "cannot write assignments" in captured.err and captured.err.count("\n") == 1


def test_unsat_writes_no_assignment(abs_model_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    query = tmp_path / "q.vnnlib"
    query.write_text(V2_HEADER + V2_BOX + "(assert (>= Y[0,0] 1.5))\n")
    folder = tmp_path / "assignment"
    args = ["verify", str(query), "--network", f"f={abs_model_path}", "--serialise-assignments", str(folder)]
    assert main(args) == EXIT_OK
    assert capsys.readouterr().out == "unsat\n" and not folder.exists()
