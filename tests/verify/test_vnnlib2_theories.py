"""Every VNN-LIB 2.0 theory beyond one network with one input and one output that
``nnverify supports`` claims (H, MIO, MENET, MINET, MNET, MNC) decides a query with a known
answer through the command line, and its sat assignment lists every declared variable in
declaration order with the values onnxruntime gives; queries that do not fit are refused.

Models: ``abs`` computes y = [|x|, 1 - |x|] with hidden ``a0`` = [relu(x), relu(-x)]; ``abs2``
has abs's structure with doubled first-layer weights, y = [2|x|, 1 - 2|x|]; ``mio`` has two
inputs and two outputs, p = |x1 - x2| and q = x1 + x2. Every input ranges over [-1, 1].
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from known_nets import abs_network
from onnx import TensorProto, helper, numpy_helper

from bounds.onnx_build import dense_network
from specs import parse_query
from verify.capabilities import answer
from verify.cli import EXIT_INPUT, EXIT_OK, main
from verify.query import query_model, recheck
from verify.result import Counterexample, Result, Status


def _mio_network() -> onnx.ModelProto:
    nodes = [
        helper.make_node("Sub", ["x1", "x2"], ["d"], name="sub"),
        helper.make_node("Abs", ["d"], ["p"], name="abs"),
        helper.make_node("Add", ["x1", "x2"], ["q"], name="add"),
    ]
    values = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 1]) for n in ("x1", "x2", "p", "q")]
    graph = helper.make_graph(nodes, "mio", values[:2], values[2:])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    return model


MODELS = {
    "abs": abs_network,
    "abs2": lambda: dense_network(
        [np.array([[2.0], [-2.0]]), np.array([[1.0, 1.0], [-1.0, -1.0]])], [np.zeros(2), np.array([0.0, 1.0])]
    ),
    "deep": lambda: dense_network(
        [np.eye(1), np.array([[1.0], [-1.0]]), np.eye(2)], [np.zeros(1)] * 1 + [np.zeros(2)] * 2
    ),
    "mio": _mio_network,
}

HEADER = "(vnnlib-version <2.0>)\n"
F = "(declare-network f (declare-input X real [1,1]) (declare-output Y real [1,2]))\n"
BOX = "(assert (and (>= {v}[0,0] -1.0) (<= {v}[0,0] 1.0)))\n"

# theory -> (declarations, --network mappings (name, model), box variables, assertion in t, unsat t, sat t)
THEORIES: dict[str, tuple[str, list[tuple[str, str]], str, str, float, float]] = {
    # H0 + H1 = |x| <= 1
    "H": (
        '(declare-network f (declare-input X real [1,1]) (declare-hidden H real [1,2] "a0") '
        "(declare-output Y real [1,2]))\n",
        [("f", "abs")],
        "X",
        "(assert (>= (+ H[0,0] H[0,1]) {t}))",
        1.5,
        0.9,
    ),
    # P - Q = |x1 - x2| - x1 - x2 <= 2 (at x1 = -1 or x2 = -1)
    "MIO": (
        "(declare-network m (declare-input A real [1,1]) (declare-input B real [1,1]) "
        "(declare-output P real [1,1]) (declare-output Q real [1,1]))\n",
        [("m", "mio")],
        "AB",
        "(assert (>= (- P[0,0] Q[0,0]) {t}))",
        2.5,
        1.5,
    ),
    # Y0 - B0 = |x| - |a| <= 1, the same model twice with independent inputs
    "MENET": (
        F + "(declare-network g (equal-to f) (declare-input A real [1,1]) (declare-output B real [1,2]))\n",
        [("f", "abs")],
        "XA",
        "(assert (>= (- Y[0,0] B[0,0]) {t}))",
        1.5,
        0.5,
    ),
    # B0 - Y0 = 2|a| - |x| <= 2
    "MINET": (
        F + "(declare-network g (isomorphic-to f) (declare-input A real [1,1]) (declare-output B real [1,2]))\n",
        [("f", "abs"), ("g", "abs2")],
        "XA",
        "(assert (>= (- B[0,0] Y[0,0]) {t}))",
        2.5,
        1.5,
    ),
    # Y0 + P = |x| + |a1 - a2| <= 3, unrelated networks
    "MNET": (
        F + "(declare-network m (declare-input A real [1,1]) (declare-input B real [1,1]) "
        "(declare-output P real [1,1]) (declare-output Q real [1,1]))\n",
        [("f", "abs"), ("m", "mio")],
        "XAB",
        "(assert (>= (+ Y[0,0] P[0,0]) {t}))",
        3.5,
        2.5,
    ),
    # Y0 - X = |x| - x <= 2 (at x = -1): an input and an output in one comparison
    "MNC": (F, [("f", "abs")], "X", "(assert (>= Y[0,0] (+ X[0,0] {t})))", 2.5, 1.5),
}


def test_claims_are_exactly_the_tested_theories() -> None:
    assert answer("hidden-node-theories") == ["NH", "H"]
    assert answer("multiple-input-output-theories") == ["SIO", "MIO"]
    assert answer("multiple-network-theories") == ["SNET", "MENET", "MINET", "MNET"]
    assert answer("multiple-node-comparison-theories") == ["SNC", "MNC"]
    claimed = {*answer("hidden-node-theories"), *answer("multiple-input-output-theories")}
    claimed |= {*answer("multiple-network-theories"), *answer("multiple-node-comparison-theories")}
    assert claimed - {"NH", "SIO", "SNET", "SNC"} == set(THEORIES)


def _models(tmp_path: Path) -> dict[str, Path]:
    paths = {}
    for name, build in MODELS.items():
        paths[name] = tmp_path / f"{name}.onnx"
        onnx.save(build(), paths[name])
    return paths


def _query(tmp_path: Path, declarations: str, boxed: str, assertion: str) -> Path:
    path = tmp_path / "q.vnnlib"
    path.write_text(HEADER + declarations + "".join(BOX.format(v=v) for v in boxed) + assertion + "\n")
    return path


def _assignment(lines: list[str]) -> list[tuple[str, list[float]]]:
    """(header, values) per variable from the lines after the verdict."""
    out: list[tuple[str, list[float]]] = []
    for line in lines:
        if line[0].isalpha():
            out.append((line, []))
        else:
            out[-1][1].append(float(line))
    return out


def _run(model: Path, feeds: dict[str, float]) -> list[np.ndarray]:
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    return [
        np.asarray(v).reshape(-1)
        for v in session.run(None, {k: np.full((1, 1), v, np.float32) for k, v in feeds.items()})
    ]


@pytest.mark.parametrize("theory", sorted(THEORIES))
def test_claimed_theory_decides_known_answers(theory: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    declarations, mappings, boxed, assertion, unsat, sat = THEORIES[theory]
    paths = _models(tmp_path)
    network_args = [a for name, model in mappings for a in ("--network", f"{name}={paths[model]}")]
    verdicts = []
    for threshold in (unsat, sat):
        query = _query(tmp_path, declarations, boxed, assertion.format(t=threshold))
        assert main(["verify", str(query), *network_args, "--timeout", "20"]) == EXIT_OK
        lines = capsys.readouterr().out.splitlines()
        verdicts.append(lines[0])
    assert verdicts == ["unsat", "sat"]
    assignment = _assignment(lines[1:])
    declared = re.findall(r"\(declare-(?:input|hidden|output) (\w+) real (\[[\d,]*\])", declarations)
    assert [header for header, _ in assignment] == [f"{name} real {shape}" for name, shape in declared]
    assert [len(values) for _, values in assignment] == [
        math.prod(int(d) for d in shape.strip("[]").split(",")) for _, shape in declared
    ]


def test_assignment_values_are_what_the_models_compute(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """MNET with a hidden node: inputs, hidden and outputs of both networks, checked against
    onnxruntime on the original models."""
    paths = _models(tmp_path)
    declarations = (
        '(declare-network f (declare-input X real [1,1]) (declare-hidden H real [1,2] "a0") '
        "(declare-output Y real [1,2]))\n"
        "(declare-network m (declare-input A real [1,1]) (declare-input B real [1,1]) "
        "(declare-output P real [1,1]) (declare-output Q real [1,1]))\n"
    )
    query = _query(tmp_path, declarations, "XAB", "(assert (>= (+ H[0,1] P[0,0]) 2.5))")
    args = ["verify", str(query), "--network", f"f={paths['abs']}", "--network", f"m={paths['mio']}"]
    assert main(args) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "sat"
    values = dict(_assignment(lines[1:]))
    assert list(values) == ["X real [1,1]", "H real [1,2]", "Y real [1,2]"] + [
        f"{n} real [1,1]" for n in ("A", "B", "P", "Q")
    ]
    x, a, b = values["X real [1,1]"][0], values["A real [1,1]"][0], values["B real [1,1]"][0]
    (y,) = _run(paths["abs"], {"x": x})
    p, q = _run(paths["mio"], {"x1": a, "x2": b})
    assert values["Y real [1,2]"] == y.tolist() and values["P real [1,1]"] == p.tolist()
    assert values["Q real [1,1]"] == q.tolist()
    assert values["H real [1,2]"] == [max(x, 0.0), max(-x, 0.0)]
    assert values["H real [1,2]"][1] + p[0] >= 2.5 and all(-1 <= v <= 1 for v in (x, a, b))


def test_serialised_assignments_of_every_network(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    paths = _models(tmp_path)
    declarations, _, boxed, assertion, _, sat = THEORIES["MENET"]
    query = _query(tmp_path, declarations, boxed, assertion.format(t=sat))
    folder = tmp_path / "assignment"
    args = ["verify", str(query), "--network", f"f={paths['abs']}", "--serialise-assignments", str(folder)]
    assert main(args) == EXIT_OK
    assert capsys.readouterr().out == "sat\n"
    assert sorted(p.name for p in folder.iterdir()) == ["A.pb", "B.pb", "X.pb", "Y.pb"]
    y = numpy_helper.to_array(onnx.load_tensor(str(folder / "Y.pb")))
    x = numpy_helper.to_array(onnx.load_tensor(str(folder / "X.pb")))
    assert y.shape == (1, 2) and x.shape == (1, 1)
    assert np.allclose(y, [[abs(float(x[0, 0])), 1 - abs(float(x[0, 0]))]], atol=1e-6)


@pytest.mark.parametrize(
    "declarations, mappings, message",
    [
        (THEORIES["MINET"][0], [("f", "abs"), ("g", "deep")], "differ in graph structure"),
        (THEORIES["MENET"][0], [("f", "abs"), ("g", "abs")], "needing a model (f), 2 --network mappings given"),
        (THEORIES["MNET"][0], [("f", "abs")], "needing a model (f, m), 1 --network mappings given"),
        (THEORIES["H"][0].replace('"a0"', '"nowhere"'), [("f", "abs")], "has no tensor named 'nowhere'"),
        (THEORIES["H"][0].replace("H real [1,2]", "H real [1,3]"), [("f", "abs")], "H is declared with shape [1, 3]"),
        (THEORIES["MIO"][0].replace("(declare-input B real [1,1]) ", ""), [("m", "mio")], "declares 1 inputs"),
        (F.replace("real [1,2]", "real [1,2]) (declare-output Z real [1,2]"), [("f", "abs")], "declares 2 outputs"),
        (THEORIES["H"][0].replace("H real", "H float32"), [("f", "abs")], "declare it 'real' to consent"),
    ],
)
def test_queries_that_do_not_fit_are_refused(
    declarations: str, mappings: list[tuple[str, str]], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _models(tmp_path)
    boxed = "".join(v for v in "XAB" if f"declare-input {v} " in declarations)
    query = _query(tmp_path, declarations, boxed, "(assert (>= Y[0,0] 0.5))" if "Y " in declarations else "")
    network_args = [a for name, model in mappings for a in ("--network", f"{name}={paths[model]}")]
    assert main(["verify", str(query), *network_args]) == EXIT_INPUT
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1, captured.err
    assert message in captured.err


def test_sat_is_rechecked_on_each_model_run_alone(tmp_path: Path) -> None:
    """A counterexample stands only if the original models, run alone, satisfy the query."""
    paths = _models(tmp_path)
    declarations, mappings, boxed, assertion, _, sat = THEORIES["MNET"]
    query = parse_query(_query(tmp_path, declarations, boxed, assertion.format(t=sat)).read_text())
    fitted = query_model(query, {name: str(paths[model]) for name, model in mappings}, "q.vnnlib")
    x = np.array([-1.0, 1.0, -1.0], np.float32)  # |x| + |a1 - a2| = 3 >= 2.5
    wrong = np.zeros(query.prop.output.size)
    confirmed = recheck(query, fitted.parts, Result(Status.SAT, Counterexample(x, wrong), reason="found"))
    assert confirmed.status is Status.SAT and confirmed.counterexample is not None
    assert confirmed.counterexample.output.tolist() == [1.0, 0.0, 2.0, 0.0]  # Y, then P and Q, from the models
    inside = np.array([0.0, 0.5, 0.5], np.float32)  # 0 + 0 < 2.5
    refused = recheck(query, fitted.parts, Result(Status.SAT, Counterexample(inside, wrong), reason="found"))
    assert refused.status is Status.UNKNOWN and refused.counterexample is None
    assert "do not confirm" in refused.reason


@pytest.mark.parametrize(("threshold", "verdict"), [(1.5, "unsat"), (0.9, "sat")])
def test_networks_asserted_to_share_their_input(
    threshold: float, verdict: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """B0 - Y0 = 2|a| - |x| = |x| <= 1 when a = x is asserted (unconditionally: the two
    inputs become one); with a and x independent it would reach 2."""
    paths = _models(tmp_path)
    declarations, mappings, boxed, _, _, _ = THEORIES["MINET"]
    assertion = f"(assert (== X[0,0] A[0,0]))\n(assert (>= (- B[0,0] Y[0,0]) {threshold}))"
    query = _query(tmp_path, declarations, boxed, assertion)
    network_args = [a for name, model in mappings for a in ("--network", f"{name}={paths[model]}")]
    assert main(["verify", str(query), *network_args, "--timeout", "20"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == verdict
    if verdict == "sat":
        values = dict(_assignment(lines[1:]))
        assert values["X real [1,1]"] == values["A real [1,1]"]
        assert values["B real [1,2]"][0] - values["Y real [1,2]"][0] >= threshold


@pytest.mark.parametrize(("content", "message"), [(b"", "model file is empty"), (b"\x08\xff\xff", "not an ONNX model")])
def test_a_model_that_is_not_onnx_is_refused(
    content: bytes, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    paths = _models(tmp_path)
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(content)
    declarations, _, boxed, assertion, _, sat = THEORIES["MNET"]
    query = _query(tmp_path, declarations, boxed, assertion.format(t=sat))
    assert main(["verify", str(query), "--network", f"f={paths['abs']}", "--network", f"m={bad}"]) == EXIT_INPUT
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and message in captured.err
    assert str(bad) in captured.err


@pytest.mark.parametrize(
    ("theory", "assertion", "verdict"),
    [
        # Y0 P = |x| |a1 - a2| <= 2: a product of outputs of two networks
        ("MNET", "(assert (>= (* Y[0,0] P[0,0]) 2.5))", "unsat"),
        ("MNET", "(assert (>= (* Y[0,0] P[0,0]) 1.5))", "sat"),
        # H0 H1 = relu(x) relu(-x) = 0: never above 0 (bounds reach 0, z3 proves it), 0 reached
        ("H", "(assert (> (* H[0,0] H[0,1]) 0.0))", "unsat"),
        ("H", "(assert (>= (* H[0,0] H[0,1]) 0.0))", "sat"),
        # (Y0 - X) X = (|x| - x) x <= 0, = -2 x^2 for x < 0: an input multiplies a comparison
        ("MNC", "(assert (<= (* (- Y[0,0] X[0,0]) X[0,0]) -2.5))", "unsat"),
        ("MNC", "(assert (<= (* (- Y[0,0] X[0,0]) X[0,0]) -1.5))", "sat"),
    ],
)
def test_polynomial_assertions_with_other_theories(
    theory: str, assertion: str, verdict: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    declarations, mappings, boxed, _, _, _ = THEORIES[theory]
    paths = _models(tmp_path)
    network_args = [a for name, model in mappings for a in ("--network", f"{name}={paths[model]}")]
    query = _query(tmp_path, declarations, boxed, assertion)
    assert main(["verify", str(query), *network_args, "--timeout", "10"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == verdict
    if verdict == "sat":
        values = {header.split()[0]: v for header, v in _assignment(lines[1:])}
        spec = parse_query(query.read_text())
        x = np.concatenate([values[var.name] for n in spec.networks for var in n.inputs])
        y = [values[var.name] for n in spec.networks for var in n.observed]
        assert spec.prop.is_violated_by(x, np.concatenate([*y, x] if spec.passthrough else y))
