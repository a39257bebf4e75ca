"""The bad-input corpus: every case gives one line on stderr naming the file and the problem,
the documented exit code, no traceback and no verdict on stdout.

Property files live in ``bad_inputs/`` (their first line says the expected message);
models and other cases are built here. ``v1_*`` files run against the abs network with
``run``, ``v2_*`` files with ``verify --network f=...``.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from verify.cli import EXIT_INPUT, EXIT_OK, EXIT_USAGE, main

CORPUS = Path(__file__).parent / "bad_inputs"
ROOT = Path(__file__).parents[2]

GOOD_V1 = """(declare-const X_0 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(assert (>= X_0 -1))
(assert (<= X_0 1))
(assert (>= Y_0 1.5))
"""
GOOD_V2 = """(vnnlib-version <2.0>)
(declare-network f (declare-input X real [1,1]) (declare-output Y real [1,2]))
(assert (and (>= X[0,0] -1.0) (<= X[0,0] 1.0)))
(assert (>= Y[0,0] 1.5))
"""


def assert_one_error(capsys: pytest.CaptureFixture[str], code: int, expected_code: int, *fragments: str) -> str:
    """The checks every bad input must pass; returns the error line."""
    captured = capsys.readouterr()
    assert code == expected_code, captured.err
    assert captured.out == "", "nothing on stdout that could be read as a verdict"
    assert captured.err.count("\n") == 1 and captured.err.endswith("\n"), captured.err
    assert captured.err.startswith("nnverify: error: ") and "Traceback" not in captured.err
    for fragment in fragments:
        assert fragment in captured.err
    return captured.err


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


# -- property files -------------------------------------------------------------------------


def _expected(path: Path) -> str:
    first = path.read_text().splitlines()[0] if path.read_text() else ""
    assert first.startswith("; expect: "), f"{path.name} must open with '; expect: MESSAGE'"
    return first.removeprefix("; expect: ")


@pytest.mark.parametrize("path", sorted(CORPUS.glob("*.vnnlib")), ids=lambda p: p.stem)
def test_property_corpus(path: Path, abs_model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if path.name.startswith("v2_"):
        code = main(["verify", str(path), "--network", f"f={abs_model_path}", "--timeout", "5"])
    else:
        code = main(["run", str(abs_model_path), str(path), "--timeout", "5"])
    line = assert_one_error(capsys, code, EXIT_INPUT, _expected(path))
    assert path.name in line or abs_model_path.name in line


def test_corpus_covers_both_versions() -> None:
    names = {p.name[:3] for p in CORPUS.glob("*.vnnlib")}
    assert names == {"v1_", "v2_"}


def test_run_points_a_query_over_two_networks_to_verify(
    tmp_path: Path, abs_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    two = GOOD_V2.replace(
        "(assert", "(declare-network g (declare-input X2 real [1,1]) (declare-output Y2 real [1,2]))\n(assert", 1
    )
    prop = _write(tmp_path / "two.vnnlib", two)
    code = main(["run", str(abs_model_path), str(prop)])
    assert_one_error(capsys, code, EXIT_INPUT, f"{prop}:3:18: 2 networks are declared", "`nnverify verify`")


def test_property_not_utf8(tmp_path: Path, abs_model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prop = tmp_path / "latin1.vnnlib"
    prop.write_bytes(GOOD_V1.encode() + b"; caf\xe9\n")
    code = main(["run", str(abs_model_path), str(prop)])
    assert_one_error(capsys, code, EXIT_INPUT, str(prop), "not UTF-8")


# -- files that cannot be read ----------------------------------------------------------------


@pytest.mark.parametrize("which", ["model", "property"])
def test_missing_file(which: str, tmp_path: Path, abs_model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "absent"
    prop = _write(tmp_path / "p.vnnlib", GOOD_V1)
    args = [missing, prop] if which == "model" else [abs_model_path, missing]
    code = main(["run", *map(str, args)])
    assert_one_error(capsys, code, EXIT_INPUT, str(missing), "No such file")


@pytest.mark.parametrize("which", ["model", "property"])
def test_directory_in_place_of_a_file(
    which: str, tmp_path: Path, abs_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prop = _write(tmp_path / "p.vnnlib", GOOD_V1)
    args = [tmp_path, prop] if which == "model" else [abs_model_path, tmp_path]
    code = main(["run", *map(str, args)])
    assert_one_error(capsys, code, EXIT_INPUT, str(tmp_path), "directory")


@pytest.mark.parametrize("which", ["model", "property"])
def test_fifo_is_refused_without_blocking(
    which: str, tmp_path: Path, abs_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    prop = _write(tmp_path / "p.vnnlib", GOOD_V1)
    args = [fifo, prop] if which == "model" else [abs_model_path, fifo]
    code = main(["run", *map(str, args)])
    assert_one_error(capsys, code, EXIT_INPUT, str(fifo), "not a regular file")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root reads every file")
@pytest.mark.parametrize("which", ["model", "property"])
def test_unreadable_file(which: str, tmp_path: Path, abs_model_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prop = _write(tmp_path / "p.vnnlib", GOOD_V1)
    locked = tmp_path / "locked"
    locked.write_bytes(abs_model_path.read_bytes() if which == "model" else GOOD_V1.encode())
    locked.chmod(0)
    args = [locked, prop] if which == "model" else [abs_model_path, locked]
    code = main(["run", *map(str, args)])
    assert_one_error(capsys, code, EXIT_INPUT, str(locked), "Permission denied")


# -- models -----------------------------------------------------------------------------------

_X = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1])
_Y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])


def _weights(values: list[list[float]] | None = None) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values or [[1.0], [-1.0]], np.float32), "W")


def _gemm(x: str = "x", out: str = "y", name: str = "dense") -> onnx.NodeProto:
    return helper.make_node("Gemm", [x, "W"], [out], transB=1, name=name)


def _model(
    nodes: list[onnx.NodeProto],
    inputs: list[onnx.ValueInfoProto] | None = None,
    initializers: list[onnx.TensorProto] | None = None,
    opset: int = 13,
) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs or [_X], [_Y], [_weights()] if initializers is None else initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    return bytes(model.SerializeToString())


def _good() -> bytes:
    return _model([_gemm()])


def _without_opset(data: bytes) -> bytes:
    model = onnx.load_model_from_string(data)
    del model.opset_import[:]
    return bytes(model.SerializeToString())


MODELS: dict[str, tuple[Callable[[], bytes], str]] = {
    "empty": (lambda: b"", "model file is empty"),
    "random_bytes": (lambda: np.random.default_rng(1).bytes(300), "not an ONNX model"),
    "text": (lambda: b"this is not a model\n", "not an ONNX model"),
    "truncated": (lambda: _good()[: len(_good()) // 2], "not an ONNX model"),
    "a_tensor_not_a_model": (
        lambda: numpy_helper.from_array(np.ones(3, np.float32)).SerializeToString(),
        "not an ONNX",
    ),
    "a_graph_not_a_model": (lambda: onnx.load_model_from_string(_good()).graph.SerializeToString(), "not an ONNX"),
    "checker_undefined_input": (
        lambda: _model([helper.make_node("Gemm", ["x", "W", "nowhere"], ["y"], transB=1)]),
        "ONNX checker rejected the model",
    ),
    "cycle": (
        lambda: _model(
            [helper.make_node("Add", ["x", "b"], ["a"]), _gemm("a", "b"), helper.make_node("Relu", ["b"], ["y"])]
        ),
        "ONNX checker rejected",
    ),
    "unsupported_operators_all_listed": (
        lambda: _model(
            [
                _gemm(out="h"),
                helper.make_node("Erf", ["h"], ["s"], name="erf"),
                helper.make_node("LpNormalization", ["s"], ["y"], name="lpnorm"),
            ]
        ),
        "Erf at node 'erf' (not supported); LpNormalization at node 'lpnorm'",
    ),
    "dynamic_shape": (
        lambda: _model([_gemm()], inputs=[helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "M"])]),
        "input 'x' has dynamic dimensions",
    ),
    "nan_weights": (
        lambda: _model([_gemm()], initializers=[_weights([[np.nan], [1.0]])]),
        "initializer 'W' has NaN or infinite values",
    ),
    "infinite_weights": (
        lambda: _model([_gemm()], initializers=[_weights([[np.inf], [1.0]])]),
        "initializer 'W' has NaN or infinite values",
    ),
    "infinite_constant_node": (
        lambda: _model(
            [helper.make_node("Constant", [], ["W"], value=_weights([[-np.inf], [1.0]]), name="c"), _gemm()],
            initializers=[],
        ),
        "node 'c' (Constant) gives NaN or infinite constants",
    ),
    "nan_attribute": (
        lambda: _model([helper.make_node("Gemm", ["x", "W"], ["y"], transB=1, alpha=float("nan"), name="dense")]),
        "node 'dense' (Gemm) has a NaN or infinite attribute 'alpha'",
    ),
    "infinite_attribute": (
        lambda: _model([_gemm(out="h"), helper.make_node("LeakyRelu", ["h"], ["y"], alpha=float("inf"), name="leaky")]),
        "node 'leaky' (LeakyRelu) has a NaN or infinite attribute 'alpha'",
    ),
    "two_inputs": (
        lambda: _model(
            [_gemm(out="h"), helper.make_node("Add", ["h", "z"], ["y"])],
            inputs=[_X, helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 2])],
        ),
        "model has 2 inputs",
    ),
    "opset_out_of_range": (lambda: _model([_gemm()], opset=99), "opset 99 is outside the supported range"),
    "no_opset": (  # what a file cut short before its opset import reads as
        lambda: _without_opset(_model([_gemm()])),
        "the model imports no default-domain ONNX opset",
    ),
    "output_independent_of_input": (
        lambda: _model(
            [helper.make_node("Constant", [], ["y"], value=numpy_helper.from_array(np.zeros((1, 2), np.float32)))],
            initializers=[],
        ),
        "output 'y' does not depend on any input",
    ),
}


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model_corpus(name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    build, message = MODELS[name]
    model = tmp_path / f"{name}.onnx"
    model.write_bytes(build())
    prop = _write(tmp_path / "p.vnnlib", GOOD_V1)
    code = main(["run", str(model), str(prop), "--timeout", "5"])
    assert_one_error(capsys, code, EXIT_INPUT, str(model), message)


def _external(location: str) -> onnx.TensorProto:
    tensor = _weights()
    tensor.ClearField("raw_data")
    tensor.data_location = TensorProto.EXTERNAL
    for key, value in (("location", location), ("offset", "0"), ("length", "8")):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value
    return tensor


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/hostname", "link.bin", "absent.bin"])
def test_external_data_cannot_leave_the_model_folder(
    location: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "secret.bin").write_bytes(np.array([1.0, -1.0], np.float32).tobytes())
    (folder / "link.bin").symlink_to(tmp_path / "secret.bin")
    model = folder / "m.onnx"
    model.write_bytes(_model([_gemm()], initializers=[_external(location)]))
    prop = _write(tmp_path / "p.vnnlib", GOOD_V1)
    code = main(["run", str(model), str(prop)])
    assert_one_error(capsys, code, EXIT_INPUT, str(model), "cannot read external data")


def test_external_data_in_the_model_folder_is_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "w.bin").write_bytes(np.array([1.0, -1.0], np.float32).tobytes())
    model = tmp_path / "m.onnx"
    model.write_bytes(_model([_gemm()], initializers=[_external("w.bin")]))
    prop = _write(tmp_path / "p.vnnlib", GOOD_V1.replace("(>= Y_0 1.5)", "(>= Y_0 1.01)"))
    assert main(["run", str(model), str(prop)]) == EXIT_OK  # y0 = x <= 1
    assert capsys.readouterr().out == "unsat\n"


# -- the command line ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--timeout", "0"], "timeout must be a positive number"),
        (["--timeout", "-5"], "timeout must be a positive number"),
        (["--timeout", "soon"], "timeout must be a positive number"),
        (["--timeout", "inf"], "timeout must be a positive number"),
        (["--timeout", "1e12"], "up to 1e7"),
        (["--max-memory", "lots"], "memory must be from 1M to 1024T"),
        (["--max-memory", "0"], "memory must be from 1M to 1024T"),
        (["--max-memory", "99999999999T"], "memory must be from 1M to 1024T"),
        (["--bounds", "magic"], "invalid choice"),
        (["--no-such-option"], "unrecognized arguments"),
    ],
)
def test_usage_errors_are_one_line(
    extra: list[str], message: str, tmp_path: Path, abs_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prop = _write(tmp_path / "p.vnnlib", GOOD_V1)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(abs_model_path), str(prop), *extra])
    assert exit_info.value.code == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and message in captured.err


@pytest.mark.parametrize("threads", ["0", "-1", "100000"])
def test_threads_out_of_range_are_a_usage_error(
    threads: str, tmp_path: Path, abs_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prop = _write(tmp_path / "p.vnnlib", GOOD_V1)
    with pytest.raises(SystemExit) as exit_info:
        main(["--threads", threads, "run", str(abs_model_path), str(prop)])
    assert exit_info.value.code == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "--threads must be from 1 to" in captured.err


@pytest.mark.parametrize(
    "network_args, message",
    [
        ([], "the query declares 1 network needing a model (f), 0 --network mappings given"),
        (["--network", "f=MODEL", "--network", "g=MODEL"], "2 --network mappings given"),
        (["--network", "g=MODEL"], "no network named 'g'"),
    ],
)
def test_wrong_network_mappings(
    network_args: list[str], message: str, tmp_path: Path, abs_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = _write(tmp_path / "q.vnnlib", GOOD_V2)
    args = [a.replace("MODEL", str(abs_model_path)) for a in network_args]
    code = main(["verify", str(query), *args])
    assert_one_error(capsys, code, EXIT_INPUT, message)


@pytest.mark.parametrize(
    "args, message",
    [
        (["verify", "q.vnnlib", "--network", "f.onnx"], "argument --network: expects NAME=MODEL.onnx, got 'f.onnx'"),
        (["verify", "q.vnnlib", "--network", "f=MODEL", "--network", "f=MODEL"], "--network f given twice"),
        (["supports", "--no-such-capability"], "unrecognized arguments: --no-such-capability"),
        (["supports"], "name one capability, such as --vnnlib-versions (see nnverify supports --help)"),
    ],
)
def test_malformed_command_lines_are_usage_errors(
    args: list[str], message: str, tmp_path: Path, abs_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(tmp_path / "q.vnnlib", GOOD_V2)
    args = [a.replace("MODEL", str(abs_model_path)).replace("q.vnnlib", str(tmp_path / "q.vnnlib")) for a in args]
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and message in captured.err


# -- output files ---------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["missing_folder", "directory", "fifo", "the_model", "twice"])
def test_an_output_that_cannot_be_written_is_refused_before_the_search(
    where: str, tmp_path: Path, abs_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prop = _write(tmp_path / "p.vnnlib", GOOD_V1)
    model = tmp_path / "m.onnx"
    model.write_bytes(abs_model_path.read_bytes())
    out = {"missing_folder": tmp_path / "no" / "r.txt", "directory": tmp_path, "the_model": model}.get(
        where, tmp_path / "r.txt"
    )
    if where == "fifo":
        os.mkfifo(out)
    extra = ["--json", str(out)] if where == "twice" else []
    code = main(["run", str(model), str(prop), "--timeout", "60", "--out", str(out), *extra])
    messages = {
        "missing_folder": "does not exist",
        "directory": "a directory",
        "fifo": "not a regular file",
        "the_model": "is an input of this command",
        "twice": "given for two outputs",
    }
    assert_one_error(capsys, code, EXIT_INPUT, str(out), messages[where])
    assert model.read_bytes() == abs_model_path.read_bytes()


def test_a_device_is_written_to_and_never_removed(
    tmp_path: Path, abs_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    prop = _write(tmp_path / "p.vnnlib", GOOD_V1)
    assert main(["run", str(abs_model_path), str(prop), "--out", os.devnull, "--json", os.devnull]) == EXIT_INPUT
    assert_one_error(capsys, EXIT_INPUT, EXIT_INPUT, "given for two outputs")
    assert main(["run", str(abs_model_path), str(prop), "--timeout", "20", "--out", os.devnull]) == EXIT_OK
    assert capsys.readouterr().out == "unsat\n"
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)
    bad = _write(tmp_path / "bad.vnnlib", GOOD_V1.replace("1.5", "nan"))
    assert main(["run", str(abs_model_path), str(bad), "--out", os.devnull]) == EXIT_INPUT
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_a_failed_run_leaves_no_earlier_verdict_behind(
    tmp_path: Path, abs_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out, record = tmp_path / "r.txt", tmp_path / "r.json"
    out.write_text("sat\n((X_0 0.5)\n (Y_0 0.5)\n (Y_1 0.5))\n")  # an earlier run's
    record.write_text("{}")
    bad = _write(tmp_path / "bad.vnnlib", GOOD_V1.replace("1.5", "nan"))
    code = main(["run", str(abs_model_path), str(bad), "--out", str(out), "--json", str(record)])
    assert_one_error(capsys, code, EXIT_INPUT, bad.name)
    assert not out.exists() and not record.exists()


def test_assignments_into_a_file_are_refused_before_the_search(
    tmp_path: Path, abs_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    query = _write(tmp_path / "q.vnnlib", GOOD_V2)
    blocker = _write(tmp_path / "file", "")
    for target in (blocker, blocker / "below"):
        code = main(["verify", str(query), "--network", f"f={abs_model_path}", "--serialise-assignments", str(target)])
        assert_one_error(capsys, code, EXIT_INPUT, str(target), "not a folder")


# -- decided, not refused -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "assertions",
    [
        "(assert (>= X_0 1))\n(assert (<= X_0 -1))\n(assert (>= Y_0 0))",  # lo > hi
        "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n(assert (or))",  # an empty disjunction is false
        "(assert (> X_0 0.5))\n(assert (< X_0 0.5))\n(assert (>= Y_0 0))",  # an open interval, no width
        "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n(assert (>= (* 2 X_0) 3))\n(assert (>= Y_0 0))",  # row fails on box
        # each row holds on part of the box, never both: an LP certificate
        "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n(assert (<= (* 2 X_0) 1))\n(assert (>= (* 2 X_0) 1.5))\n"
        "(assert (>= Y_0 0))",
    ],
    ids=["lo_above_hi", "empty_or", "open_point", "row_fails_on_box", "rows_fail_together"],
)
def test_empty_region_or_false_condition_is_unsat_with_the_reason(
    assertions: str, tmp_path: Path, abs_model_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Documented choice (README): no input can satisfy the query, so it is unsat."""
    header = "\n".join(GOOD_V1.splitlines()[:3])
    prop = _write(tmp_path / "p.vnnlib", f"{header}\n{assertions}\n")
    assert main(["run", str(abs_model_path), str(prop)]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out == "unsat\n"
    assert "every input region is empty or its output condition false" in captured.err


# -- as a separate process ------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["model", "property"])
def test_bad_input_in_a_separate_process(which: str, tmp_path: Path, abs_model_path: Path) -> None:
    garbage = tmp_path / "garbage"
    garbage.write_bytes(b"\x08\x96\x01garbage")
    prop = _write(tmp_path / "p.vnnlib", GOOD_V1)
    args = [garbage, prop] if which == "model" else [abs_model_path, garbage]
    proc = subprocess.run(
        [sys.executable, "-m", "verify", "run", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert proc.returncode == EXIT_INPUT
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and str(garbage) in proc.stderr and "Traceback" not in proc.stderr
