"""The JSON result artifact: written by --json, accepted by check-result, tampering rejected."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from bounds.errors import ModelError
from bounds.onnx_build import dense_network
from verify.artifact import SCHEMA, SCHEMA_VERSION, ModelRecord, _canonical, sha256
from verify.cli import EXIT_INPUT, EXIT_OK, main
from verify.pipeline import load_model

# Over x in [-1, 1] the abs network gives y0 = |x| in [0, 1]: y0 >= 0.9 is sat, >= 1.5 unsat.
QUERY = """(declare-const X_0 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(assert (>= X_0 -1))
(assert (<= X_0 1))
(assert (>= Y_0 {bound}))
"""


@pytest.fixture
def sat_record(tmp_path, abs_model_path, capsys):
    query = tmp_path / "sat.vnnlib"
    query.write_text(QUERY.format(bound=0.9))
    out = tmp_path / "sat.json"
    assert main(["run", str(abs_model_path), str(query), "--timeout", "10", "--json", str(out)]) == EXIT_OK
    capsys.readouterr()
    return out


def _rewrite(path, change, *, redigest=True):
    record = json.loads(path.read_text())
    change(record)
    if redigest:
        record["digest"] = sha256(_canonical(record))
    path.write_text(json.dumps(record))


def test_sat_record_holds_the_schema_fields_and_checks_out(sat_record, abs_model_path, capsys):
    record = json.loads(sat_record.read_text())
    assert record["schema"] == SCHEMA and record["schema_version"] == SCHEMA_VERSION
    assert record["model"]["sha256"] == sha256(abs_model_path.read_bytes())
    assert record["verdict"] == "sat" and record["proof"] is None
    counterexample = record["counterexample"]
    assert abs(counterexample["input"][0]) >= 0.9 and counterexample["output"][0] >= 0.9
    assert counterexample["input_type"] == "float32" and counterexample["input_shape"] == [1, 1]
    assert {"timeout", "bounds"} <= set(record["options"]) and "candidates_checked" in record["statistics"]
    assert main(["check-result", str(sat_record)]) == EXIT_OK
    assert "ok sat" in capsys.readouterr().out


def test_verify_command_writes_an_unsat_record(tmp_path, abs_model_path, capsys):
    query = tmp_path / "q.vnnlib"
    query.write_text(QUERY.format(bound=1.5))
    out = tmp_path / "r.json"
    assert main(["verify", str(query), "--network", f"f={abs_model_path}", "--json", str(out)]) == EXIT_OK
    assert json.loads(out.read_text())["verdict"] == "unsat"
    assert main(["check-result", str(out), str(abs_model_path), str(query)]) == EXIT_OK
    assert "ok unsat" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "redigest", "message"),
    [
        (lambda r: r.update(verdict="unsat"), False, "digest does not match"),
        (lambda r: r.update(time_s=0.001), False, "digest does not match"),
        (lambda r: r["counterexample"].update(input=[0.5], output=[0.5, 0.5]), True, "does not satisfy the query"),
        (lambda r: r["counterexample"].update(output=[0.95, 0.05]), True, "recorded output is not what onnxruntime"),
        (lambda r: r["counterexample"].update(input=[0.1 + 1e-12]), True, "not a vector of float32"),
        (lambda r: r.update(counterexample=None), True, "sat record without a counterexample"),
        (lambda r: r["model"].update(sha256="0" * 64), True, "model's SHA-256 differs"),
        (lambda r: r["query"].update(sha256="0" * 64), True, "query's SHA-256 differs"),
        (lambda r: r.pop("verdict"), True, "malformed record"),
    ],
)
def test_tampered_records_are_rejected(sat_record, change, redigest, message, capsys):
    _rewrite(sat_record, change, redigest=redigest)
    assert main(["check-result", str(sat_record)]) == EXIT_INPUT
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"nnverify: error: {sat_record}: rejected: ") and message in err and "\n" not in err


def test_a_different_model_is_rejected(sat_record, tmp_path, capsys):
    other = tmp_path / "other.onnx"
    onnx.save(dense_network([np.array([[2.0], [1.0]])], [np.zeros(2)]), other)
    assert main(["check-result", str(sat_record), str(other)]) == EXIT_INPUT
    assert "model's SHA-256 differs" in capsys.readouterr().err


def test_not_a_result_file(tmp_path, capsys):
    path = tmp_path / "x.json"
    path.write_text('{"a": 1}')
    assert main(["check-result", str(path)]) == EXIT_INPUT
    assert "not an nnverify result" in capsys.readouterr().err


@pytest.mark.parametrize(
    "content, message",
    [
        (b"\xff\xfe{}", "not UTF-8 text"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"schema": "nnverify.bench", "rows": 5}', "rows are not a list"),
    ],
    ids=["not_utf8", "deep", "rows_not_a_list"],
)
@pytest.mark.parametrize("command", ["check-result", "report"])
def test_a_bad_result_file_is_one_line_naming_it(command, content, message, tmp_path, capsys):
    path = tmp_path / "x.json"
    path.write_bytes(content)
    args = [command, str(path)] + (["-o", str(tmp_path / "r.html")] if command == "report" else [])
    assert main(args) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err and message in err


def test_a_bench_row_whose_verdict_differs_from_its_record_is_rejected(sat_record, tmp_path, capsys):
    # Tables and reports show the row's verdict: editing it (and not the record) must not pass.
    record = json.loads(sat_record.read_text())
    row = {"tool": "nnverify", "onnx": "abs.onnx", "vnnlib": "sat.vnnlib", "verdict": "sat", "result": record}
    bench = tmp_path / "bench.json"
    document = {"schema": "nnverify.bench", "schema_version": 1, "rows": [row]}
    bench.write_text(json.dumps(document))
    assert main(["check-result", str(bench)]) == EXIT_OK
    assert "record 1: ok sat" in capsys.readouterr().out
    bench.write_text(json.dumps({**document, "rows": [{**row, "verdict": "unsat"}]}))
    assert main(["check-result", str(bench)]) == EXIT_INPUT
    err = capsys.readouterr().err.strip()
    assert err == f"nnverify: error: {bench}: record 1: rejected: the row says 'unsat', its record 'sat'"


def test_a_model_is_recorded_alike_from_its_declarations_and_from_the_importer(tmp_path):
    """A run answered by sampling records the model from its file alone (no analysis):
    the same input and output as a run that imported it, a dynamic batch axis set to 1."""
    model = dense_network([np.ones((3, 2)), np.ones((1, 3))], [np.zeros(3), np.zeros(1)])
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_param = "batch"
    path = tmp_path / "net.onnx"
    onnx.save(model, path)
    data = path.read_bytes()
    assert ModelRecord.of_bytes(data, str(path)) == ModelRecord.of_model(load_model(path))
    assert ModelRecord.of_bytes(data, str(path)).input.shape == (1, 2)
    model.graph.output.append(onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 2]))
    with pytest.raises(ModelError, match="2 outputs"):
        ModelRecord.of_bytes(model.SerializeToString(), "two.onnx")


def test_a_sampled_counterexample_on_a_model_the_analysis_cannot_import_is_recorded_and_checks(tmp_path, capsys):
    """Sampling runs the model in onnxruntime alone, and so does check-result: a violation
    of a model with an operator the analysis lacks (Sin) is answered, recorded and checked."""
    x = onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 1])
    y = onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 1])
    graph = onnx.helper.make_graph([onnx.helper.make_node("Sin", ["x"], ["y"])], "sine", [x], [y])
    model = tmp_path / "sine.onnx"
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 13)]), model)
    query = tmp_path / "q.vnnlib"
    query.write_text(
        "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(assert (>= X_0 0))\n(assert (<= X_0 3))\n"
        "(assert (>= Y_0 0.5))\n"
    )
    out = tmp_path / "r.json"
    assert main(["run", str(model), str(query), "--json", str(out)]) == EXIT_OK
    assert json.loads(out.read_text())["verdict"] == "sat"
    assert main(["check-result", str(out)]) == EXIT_OK
    assert "ok sat" in capsys.readouterr().out
