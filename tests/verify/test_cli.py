"""End-to-end tests of the nnverify command on tiny models with known answers."""

from __future__ import annotations

import dataclasses
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from known_nets import ABS_UNSAT_VNNLIB as UNSAT_V1

from verify import __version__, cli
from verify.artifact import check_file, read_json
from verify.capabilities import CAPABILITIES
from verify.cli import EXIT_INPUT, EXIT_OK, EXIT_USAGE, main
from verify.limits import usable_cores
from verify.options import Options
from verify.result import Result, Status

# Over x in [-1, 1] the abs network (tests/conftest.py) gives y0 = |x| in [0, 1].
SAT_V1 = UNSAT_V1.replace("(>= Y_0 1.5)", "(>= Y_0 0.9)")


def _v2(element_type: str, bound: float) -> str:
    return f"""(vnnlib-version <2.0>)
(declare-network f
    (declare-input X {element_type} [1,1])
    (declare-output Y {element_type} [1,2])
)
(assert (and (>= X[0,0] -1.0) (<= X[0,0] 1.0)))
(assert (>= Y[0,0] {bound}))
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_name_and_version(capsys):
    assert main(["--name"]) == EXIT_OK
    assert capsys.readouterr().out.strip() == "nnverify"
    assert main(["--version"]) == EXIT_OK
    out = capsys.readouterr().out.strip()
    assert out == __version__ and re.fullmatch(r"\d+\.\d+\.\d+", out)


@pytest.mark.parametrize(("flags", "threads"), [([], usable_cores()), (["--threads", "1"], 1)])
def test_the_worker_gets_the_threads_and_the_parent_one(flags, threads, abs_model_path, tmp_path, monkeypatch):
    """One torch thread per core by default, in the worker only: a child forked from a
    process that ran torch in parallel hangs in OpenMP's pool."""
    seen = []

    def fake_check(model, prop, options, limits):
        seen.append((limits.threads, torch.get_num_threads()))
        return Result(Status.UNKNOWN)

    monkeypatch.setattr(cli, "check_within", fake_check)
    query = tmp_path / "q.vnnlib"
    query.write_text(UNSAT_V1)
    assert main([*flags, "run", str(abs_model_path), str(query)]) == EXIT_OK
    assert seen == [(threads, 1)]


@pytest.mark.parametrize("capability", CAPABILITIES)
def test_supports_answers_every_capability(capability, capsys):
    assert main(["supports", f"--{capability}"]) == EXIT_OK
    lines = capsys.readouterr().out.split()
    assert lines, capability
    if capability.endswith(("versions",)):
        assert len(lines) == 2
    if capability in ("optimised-disjunctive-reasoning", "serialise-assignments"):
        assert lines[0] in ("true", "false")


def test_supports_lists_the_eleven_standard_capabilities():
    standard = {
        "onnx-opset-versions", "onnx-element-types", "onnx-operators", "vnnlib-versions",
        "hidden-node-theories", "multiple-input-output-theories", "multiple-network-theories",
        "multiple-node-comparison-theories", "arithmetic-complexity-theories",
        "optimised-disjunctive-reasoning", "serialise-assignments",
    }  # fmt: skip
    assert standard <= set(CAPABILITIES)


def test_supports_reports_real_and_float32(capsys):
    main(["supports", "--onnx-element-types"])
    assert capsys.readouterr().out.split() == ["real", "float32"]


def test_run_unsat_writes_result_file(abs_model_path, tmp_path, capsys):
    prop = _write(tmp_path, "p.vnnlib", UNSAT_V1)
    out = tmp_path / "result.txt"
    assert main(["run", str(abs_model_path), str(prop), "--timeout", "20", "--out", str(out)]) == EXIT_OK
    assert capsys.readouterr().out.splitlines()[0] == "unsat"
    assert out.read_text() == "unsat\n"


def test_run_float_rounding_writes_its_arithmetic_to_the_record(abs_model_path, tmp_path, capsys):
    prop = _write(tmp_path, "p.vnnlib", UNSAT_V1)
    record = tmp_path / "r.json"
    args = ["run", str(abs_model_path), str(prop), "--timeout", "20", "--float-rounding", "--json", str(record)]
    assert main(args) == EXIT_OK
    assert capsys.readouterr().out.splitlines()[0] == "unsat"
    document = json.loads(record.read_text())
    assert document["options"]["float_rounding"] is True and document["reason"].endswith("(float execution)")


def test_run_sat_writes_checked_counterexample(abs_model_path, tmp_path, capsys):
    prop = _write(tmp_path, "p.vnnlib", SAT_V1)
    out = tmp_path / "result.txt"
    assert main(["run", str(abs_model_path), str(prop), "--timeout", "20", "--out", str(out)]) == EXIT_OK
    assert capsys.readouterr().out.splitlines()[0] == "sat"
    lines = out.read_text().splitlines()
    assert lines[0] == "sat"
    values = dict(re.findall(r"\((\w+) (\S+)\)", "\n".join(lines[1:])))
    assert set(values) == {"X_0", "Y_0", "Y_1"}
    x, y0 = float(values["X_0"]), float(values["Y_0"])
    assert -1 <= x <= 1 and y0 >= 0.9
    assert y0 == pytest.approx(abs(np.float32(x)), abs=1e-6)


def test_verify_v2_real_sat_prints_assignment(abs_model_path, tmp_path, capsys):
    query = _write(tmp_path, "q.vnnlib", _v2("real", 0.9))
    assert main(["verify", str(query), "--network", f"f={abs_model_path}", "--timeout", "20"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "sat"
    assert lines[1] == "X real [1,1]"
    assert lines[3] == "Y real [1,2]"
    assert len(lines) == 6
    assert float(lines[4]) >= 0.9


def test_verify_v2_real_unsat(abs_model_path, tmp_path, capsys):
    query = _write(tmp_path, "q.vnnlib", _v2("real", 1.5))
    assert main(["verify", str(query), "--network", f"f={abs_model_path}"]) == EXIT_OK
    assert capsys.readouterr().out == "unsat\n"


def test_verify_v2_float32_decides_for_float_execution(abs_model_path, tmp_path, capsys):
    query = _write(tmp_path, "q.vnnlib", _v2("float32", 1.5))
    assert main(["verify", str(query), "--network", f"f={abs_model_path}"]) == EXIT_OK
    assert capsys.readouterr().out == "unsat\n"
    query = _write(tmp_path, "q.vnnlib", _v2("float32", 0.9))
    assert main(["verify", str(query), "--network", f"f={abs_model_path}", "--timeout", "20"]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "sat" and lines[1] == "X float32 [1,1]"


@pytest.mark.parametrize("content", [b"", b"\x00\x01garbage\xff" * 10, b"not a model at all"])
def test_bad_model_file_is_one_line_error(tmp_path, capsys, content):
    model = tmp_path / "bad.onnx"
    model.write_bytes(content)
    prop = _write(tmp_path, "p.vnnlib", UNSAT_V1)
    assert main(["run", str(model), str(prop)]) == EXIT_INPUT
    captured = capsys.readouterr()
    assert captured.out == ""
    assert str(model) in captured.err and captured.err.count("\n") == 1


def test_missing_files_are_named(abs_model_path, tmp_path, capsys):
    assert main(["run", str(abs_model_path), str(tmp_path / "none.vnnlib")]) == EXIT_INPUT
    assert "none.vnnlib" in capsys.readouterr().err
    prop = _write(tmp_path, "p.vnnlib", UNSAT_V1)
    assert main(["run", str(tmp_path / "none.onnx"), str(prop)]) == EXIT_INPUT
    assert "none.onnx" in capsys.readouterr().err


def test_size_mismatch_between_query_and_model(abs_model_path, tmp_path, capsys):
    prop = _write(tmp_path, "p.vnnlib", UNSAT_V1.replace("(declare-const Y_1 Real)\n", ""))
    assert main(["run", str(abs_model_path), str(prop)]) == EXIT_INPUT
    assert "output" in capsys.readouterr().err


@pytest.mark.parametrize("timeout", ["0", "-3", "abc", "nan", "inf"])
def test_bad_timeout_is_a_usage_error(abs_model_path, tmp_path, capsys, timeout):
    prop = _write(tmp_path, "p.vnnlib", UNSAT_V1)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(abs_model_path), str(prop), "--timeout", timeout])
    assert exit_info.value.code == EXIT_USAGE
    assert "timeout" in capsys.readouterr().err


def test_console_script_runs_as_a_process(abs_model_path, tmp_path):
    """It leaves by ``os._exit``: stdout (a pipe), stderr and the result file are complete,
    and an input error still gives its exit code."""
    prop = _write(tmp_path, "p.vnnlib", SAT_V1)
    out = tmp_path / "result.txt"
    command = [sys.executable, "-m", "verify", "run", str(abs_model_path), str(prop), "--timeout", "20"]
    proc = subprocess.run([*command, "--out", str(out)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] == "sat"
    assert proc.stderr.startswith("[nnverify] sat") and proc.stderr.endswith("\n")
    assert out.read_text().startswith("sat\n((X_0 ") and out.read_text().endswith(")\n")
    bad = subprocess.run([*command[:5], str(tmp_path / "missing.vnnlib")], capture_output=True, text=True, timeout=120)
    assert bad.returncode == EXIT_INPUT and bad.stderr.startswith("nnverify: error:")


@pytest.mark.parametrize("module", ["verify", "verify.cli"])
def test_both_module_forms_run_the_command_with_the_collector_on(module):
    """``python -m verify`` (the console script's module) and ``python -m verify.cli`` run
    the command, and the garbage collector paused for the imports is on again by then."""
    probe = (
        "import gc, runpy, sys\n"
        "import verify.cli\n"
        "command = verify.cli.main\n"
        "verify.cli.main = lambda argv=None: print(gc.isenabled()) or command(argv)\n"
        "sys.argv = ['nnverify', '--version']\n"
        f"runpy.run_module({module!r}, run_name='__main__', alter_sys=True)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["True", __version__]


@pytest.mark.parametrize("method", ["auto", "interval", "crown", "alpha"])
def test_every_bound_method_decides_the_known_answers(abs_model_path, tmp_path, capsys, method):
    unsat = _write(tmp_path, "u.vnnlib", UNSAT_V1)
    sat = _write(tmp_path, "s.vnnlib", SAT_V1)
    assert main(["run", str(abs_model_path), str(unsat), "--bounds", method]) == EXIT_OK
    assert main(["run", str(abs_model_path), str(sat), "--bounds", method]) == EXIT_OK
    assert capsys.readouterr().out.split() == ["unsat", "sat"]


@pytest.mark.parametrize("kernels", ["auto", "torch", "numba", "numpy"])
def test_every_kernel_backend_decides_the_known_answers(abs_model_path, tmp_path, capsys, kernels):
    unsat = _write(tmp_path, "u.vnnlib", UNSAT_V1)
    sat = _write(tmp_path, "s.vnnlib", SAT_V1)
    for prop in (unsat, sat):
        assert main(["run", str(abs_model_path), str(prop), "--bounds", "crown", "--kernels", kernels]) == EXIT_OK
    assert capsys.readouterr().out.split() == ["unsat", "sat"]


@pytest.mark.parametrize("kernels", ["auto", "numba"])
def test_cuda_without_cuda_or_with_cpu_kernels_is_a_usage_error(abs_model_path, tmp_path, capsys, kernels):
    prop = _write(tmp_path, "p.vnnlib", UNSAT_V1)
    if kernels == "auto" and torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(abs_model_path), str(prop), "--device", "cuda", "--kernels", kernels])
    assert exit_info.value.code == EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--device cuda" in err[0]


def test_unknown_bound_method_is_a_usage_error(abs_model_path, tmp_path, capsys):
    prop = _write(tmp_path, "p.vnnlib", UNSAT_V1)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", str(abs_model_path), str(prop), "--bounds", "magic"])
    assert exit_info.value.code == EXIT_USAGE


@pytest.mark.parametrize("engine", ["milp", "smt"])
def test_run_with_an_exact_engine(abs_model_path, tmp_path, capsys, engine):
    prop = _write(tmp_path, "p.vnnlib", UNSAT_V1)
    assert main(["run", str(abs_model_path), str(prop), "--timeout", "20", "--engine", engine]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "unsat" and engine in captured.err


@pytest.mark.parametrize("method", ["interval", "crown", "alpha"])
def test_no_search_answers_unsat_from_bounds_and_never_sat(abs_model_path, tmp_path, capsys, method):
    unsat = _write(tmp_path, "unsat.vnnlib", UNSAT_V1.replace("1.5", "2.5"))  # within interval's reach
    sat = _write(tmp_path, "sat.vnnlib", SAT_V1)
    for prop, expected in ((unsat, "unsat"), (sat, "unknown")):
        code = main(["run", str(abs_model_path), str(prop), "--timeout", "20", "--bounds", method, "--no-search"])
        assert code == EXIT_OK
        assert capsys.readouterr().out.splitlines()[0] == expected


def _without_torch(script: str) -> subprocess.CompletedProcess[str]:
    """Run ``script`` in a fresh interpreter that then fails if it imported torch."""
    check = "\nassert 'torch' not in sys.modules, 'torch was imported'\n"
    return subprocess.run(
        [sys.executable, "-c", "import sys\n" + script + check], capture_output=True, text=True, timeout=120
    )


def test_the_command_line_parses_and_answers_its_own_questions_without_torch():
    """The analysis (torch, about 2 s) is imported only by a command that needs it."""
    script = (
        "from verify.cli import main\nfor flags in (['--version'], ['supports', '--vnnlib-versions']):\n    main(flags)"
    )
    proc = _without_torch(script)
    assert proc.returncode == 0, proc.stderr


def test_run_answers_a_sampled_counterexample_without_loading_the_analysis(abs_model_path, tmp_path):
    """With the analysis's own options given too: their names are checked without it."""
    prop = _write(tmp_path, "p.vnnlib", SAT_V1)
    out, record = tmp_path / "result.txt", tmp_path / "record.json"
    arguments = ["run", str(abs_model_path), str(prop), "--out", str(out), "--json", str(record)]
    arguments += ["--bounds", "crown", "--engine", "input-split", "--kernels", "numpy"]
    proc = _without_torch(f"from verify.cli import main\nassert main({arguments!r}) == 0")
    assert proc.returncode == 0, proc.stderr
    assert "found by sampling in onnxruntime" in proc.stderr
    assert out.read_text().startswith("sat\n((X_0 ")
    document = read_json(record)  # the record too, with every option, and it checks
    every = dataclasses.asdict(Options())
    assert document["options"].keys() == every.keys()
    assert (document["options"]["bounds"], document["options"]["kernels"]) == ("crown", "numpy")
    assert document["options"]["activation_split"].keys() == every["activation_split"].keys()
    assert check_file(record)[0].startswith(f"{record}: ok sat")


def test_verify_answers_a_sampled_counterexample_without_loading_the_analysis(abs_model_path, tmp_path):
    """The VNN-LIB 2.0 command samples first too, for one model over the reals: the
    assignment printed, the record written and checked, and no torch imported."""
    record = tmp_path / "record.json"
    for name, text in (("q2.vnnlib", _v2("real", 0.5)), ("q1.vnnlib", SAT_V1)):
        query = _write(tmp_path, name, text)
        arguments = ["verify", str(query), "--network", f"f={abs_model_path}", "--json", str(record)]
        proc = _without_torch(f"from verify.cli import main\nassert main({arguments!r}) == 0")
        assert proc.returncode == 0, proc.stderr
        assert "found by sampling in onnxruntime" in proc.stderr
        lines = proc.stdout.splitlines()
        assert lines[0] == "sat" and lines[1] in ("X real [1,1]", "X real [1]") and float(lines[4]) >= 0.5
        assert check_file(record)[0].startswith(f"{record}: ok sat")


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        ("(declare-input X real [1,1]) (declare-output Y real [2,1])", "Y is declared with shape [2, 1]"),
        ("(declare-input X real [1]) (declare-output Y real [1,2])", "input 'x' has shape [1, 1], not [1]"),
        ("(declare-input X float64 [1,1]) (declare-output Y float64 [1,2])", "X is declared float64"),
    ],
)
def test_verify_refuses_declarations_the_model_does_not_fit_though_sampling_would_find_a_violation(
    abs_model_path, tmp_path, capsys, declared, message
):
    """A violation sampling finds at once (|x| >= 0.5) does not answer a query whose
    declarations misfit the model: the analysis checks them and says so."""
    x = "X[0]" if "X real [1])" in declared else "X[0,0]"
    query = _write(
        tmp_path,
        "q.vnnlib",
        f"(vnnlib-version <2.0>)\n(declare-network f {declared})\n"
        f"(assert (and (>= {x} -1.0) (<= {x} 1.0)))\n(assert (>= Y[0,0] 0.5))\n",
    )
    assert main(["verify", str(query), "--network", f"f={abs_model_path}"]) == EXIT_INPUT
    assert message in capsys.readouterr().err
