"""``nnverify bench`` on tiny instances: results, resume, side by side, interruption, Dask."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from verify.bench import BenchOptions, plan, read_instances, verdict_of
from verify.cli import EXIT_INPUT, EXIT_OK, main
from verify.errors import QueryError

ROOT = Path(__file__).resolve().parents[2]
# Over x in [-1, 1] the abs network (tests/conftest.py) gives y0 = |x| in [0, 1].
QUERY = """(declare-const X_0 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(assert (>= X_0 -1))
(assert (<= X_0 1))
(assert (>= Y_0 {bound}))
"""
WRITE_UNSAT = f"{sys.executable} -c \"import sys; open(sys.argv[1], 'w').write('holds')\" {{result}}"
SLEEP = f"{sys.executable} -c 'import time; time.sleep(60)' {{result}}"


@pytest.fixture
def instances(tmp_path, abs_model_path) -> Path:
    """Three instances of the abs network: sat, unsat, sat; expected verdicts in the csv."""
    (tmp_path / "sat.vnnlib").write_text(QUERY.format(bound=0.9))
    (tmp_path / "unsat.vnnlib").write_text(QUERY.format(bound=1.5))
    (tmp_path / "sat2.vnnlib").write_text(QUERY.format(bound=0.5))
    path = tmp_path / "expected.csv"
    path.write_text(
        "onnx,vnnlib,timeout,expected\n"
        f"{abs_model_path.name},sat.vnnlib,10,sat\n"
        f"{abs_model_path.name},unsat.vnnlib,10,unsat\n"
        f"{abs_model_path.name},sat2.vnnlib,10,sat\n"
    )
    return path


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def _verdicts(path: Path) -> dict[tuple[str, str], str]:
    return {(r["tool"], r["vnnlib"]): r["verdict"] for r in _rows(path)}


def test_read_instances_both_forms_and_expected_file(tmp_path):
    (tmp_path / "list.csv").write_text("a.onnx,p.vnnlib,116\n\nb.onnx,q.vnnlib,60\n")
    (tmp_path / "expected.csv").write_text("onnx,vnnlib,timeout,expected\na.onnx,p.vnnlib,116,violated\n")
    first, second = read_instances(tmp_path / "list.csv", tmp_path / "expected.csv")
    assert (first.model, first.timeout, first.expected) == (tmp_path / "a.onnx", 116.0, "sat")
    assert (second.onnx, second.expected) == ("b.onnx", None)
    (tmp_path / "bad.csv").write_text("a.onnx,p.vnnlib,116\nb.onnx,q.vnnlib,soon\n")
    with pytest.raises(QueryError, match=r"bad.csv:2: timeout 'soon' is not a positive number of seconds"):
        read_instances(tmp_path / "bad.csv")


def test_read_instances_paths_are_absolute_for_workers_elsewhere(tmp_path, monkeypatch):
    # A Dask worker runs in its own directory: a relative instance list must not leave
    # relative paths in the command line it runs (regression: "cannot read property file").
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "list.csv").write_text("../nets/a.onnx,p.vnnlib,116\n")
    monkeypatch.chdir(tmp_path)
    (instance,) = read_instances(Path("sub/list.csv"))
    assert instance.model == tmp_path / "nets" / "a.onnx"
    assert instance.prop == tmp_path / "sub" / "p.vnnlib"
    assert (instance.onnx, instance.vnnlib) == ("../nets/a.onnx", "p.vnnlib")  # the key stays as written


def test_verdicts_from_result_files():
    assert [verdict_of(t) for t in ("sat\n((X_0 1))", "holds", "violated", "timed-out", "", "banana")] == [
        "sat",
        "unsat",
        "sat",
        "timeout",
        "unknown",
        "unknown",
    ]


def test_bench_writes_results_and_resumes(instances, tmp_path, capsys):
    out = tmp_path / "results.csv"
    assert main(["bench", str(instances), "--out", str(out)]) == EXIT_OK
    assert _verdicts(out) == {
        ("nnverify", "sat.vnnlib"): "sat",
        ("nnverify", "unsat.vnnlib"): "unsat",
        ("nnverify", "sat2.vnnlib"): "sat",
    }
    document = json.loads(out.with_suffix(".json").read_text())
    assert document["schema"] == "nnverify.bench"
    assert document["summary"][0] | {"median_s": 0, "total_s": 0} == {
        "tool": "nnverify",
        "total": 3,
        "solved": 3,
        "sat": 2,
        "unsat": 1,
        "correct": 3,
        "wrong": 0,
        "unknown": 0,
        "errors": 0,
        "median_s": 0,
        "total_s": 0,
    }
    assert all(row["result"]["schema"] == "nnverify.result" for row in document["rows"])
    summary = capsys.readouterr().out
    assert "solved" in summary and "3 (2 sat, 1 unsat)" in summary
    assert main(["check-result", str(out.with_suffix(".json"))]) == EXIT_OK
    capsys.readouterr()
    # a second run finds everything done
    assert main(["bench", str(instances), "--out", str(out)]) == EXIT_OK
    assert "resuming: 3 results already" in capsys.readouterr().err
    assert len(_rows(out)) == 3


def test_a_wrong_verdict_fails_the_run(instances, tmp_path, capsys):
    instances.write_text(instances.read_text().replace("unsat.vnnlib,10,unsat", "unsat.vnnlib,10,sat"))
    out = tmp_path / "results.csv"
    assert main(["bench", str(instances), "--out", str(out), "--only", "unsat"]) == 1
    assert "WRONG" in capsys.readouterr().err


def test_side_by_side_with_another_command(instances, tmp_path, capsys):
    out = tmp_path / "results.csv"
    argv = ["bench", str(instances), "--out", str(out), "--only", "unsat"]
    assert main([*argv, "--command", WRITE_UNSAT, "--command-name", "stub"]) == EXIT_OK
    assert _verdicts(out) == {("nnverify", "unsat.vnnlib"): "unsat", ("stub", "unsat.vnnlib"): "unsat"}
    table = capsys.readouterr().out
    assert "side by side" in table and "stub" in table


def test_bad_instance_list_is_bad_input(tmp_path, capsys):
    assert main(["bench", str(tmp_path / "missing.csv")]) == EXIT_INPUT
    assert capsys.readouterr().err.startswith("nnverify: error: ")


@pytest.mark.parametrize(
    "content, message",
    [
        (b"m.onnx,p.vnnlib,nan\n", "not a positive number of seconds"),
        (b"m.onnx,p.vnnlib,inf\n", "not a positive number of seconds"),
        (b"m.onnx,p.vnnlib,-5\n", "not a positive number of seconds"),
        (b"m.onnx,p.vnnlib,ten\n", "not a positive number of seconds"),
        (b"m\xe9.onnx,p.vnnlib,10\n", "not UTF-8 text"),
        (b"onnx,vnnlib,timeout,expected\n", "lists no instance"),
    ],
    ids=["nan", "inf", "negative", "word", "not_utf8", "empty"],
)
def test_a_bad_instance_list_is_one_line_and_leaves_nothing(content, message, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "list.csv").write_bytes(content)
    assert main(["bench", "list.csv"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "list.csv" in err and message in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["list.csv"]


@pytest.mark.parametrize("out", ["folder", "not_utf8"])
def test_a_results_file_that_cannot_be_read_or_written_is_one_line(out, instances, tmp_path, capsys):
    path = tmp_path / out
    if out == "folder":
        path.mkdir()
    else:
        path.write_bytes(b"tool,onnx\n\xff\n")
    assert main(["bench", str(instances), "--out", str(path)]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err


@pytest.mark.slow
def test_ctrl_c_keeps_finished_results_and_a_rerun_resumes(instances, tmp_path):
    out = tmp_path / "results.csv"
    argv = [sys.executable, "-m", "verify", "bench", str(instances), "--out", str(out), "--only", "unsat"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [*argv, "--command", SLEEP, "--command-name", "slow"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as a terminal's Ctrl-C signals
    )
    deadline = time.monotonic() + 60
    while not (out.exists() and len(_rows(out)) == 1) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    assert "interrupted: 1 results kept" in err
    assert _verdicts(out) == {("nnverify", "unsat.vnnlib"): "unsat"}
    done = subprocess.run(
        [*argv, "--command", WRITE_UNSAT, "--command-name", "slow"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "resuming: 1 results already" in done.stderr
    assert _verdicts(out) == {("nnverify", "unsat.vnnlib"): "unsat", ("slow", "unsat.vnnlib"): "unsat"}


def test_plan_skips_only_the_finished_tool(instances, tmp_path):
    out = tmp_path / "results.csv"
    out.write_text(
        "tool,onnx,vnnlib,timeout,expected,verdict,seconds,record,detail\n"
        "nnverify,abs.onnx,sat.vnnlib,10.000,sat,sat,0.5,,\n"
        "nnverify,abs.onnx,unsat.vnnlib,10.0"  # cut short by an interruption
    )
    options = BenchOptions(instances, out, out.with_suffix(".json"), command="x", command_name="other")
    _, tools, tasks, results = plan(options)
    assert [t.name for t in tools] == ["nnverify", "other"] and len(results.rows) == 1
    assert sorted((t.tool.name, t.instance.vnnlib) for t in tasks) == [
        ("nnverify", "sat2.vnnlib"),
        ("nnverify", "unsat.vnnlib"),
        ("other", "sat.vnnlib"),
        ("other", "sat2.vnnlib"),
        ("other", "unsat.vnnlib"),
    ]


@pytest.mark.parametrize(
    ("workers", "scheduler", "pinned"), [(1, None, False), (2, None, True), (1, "tcp://127.0.0.1:8786", True)]
)
def test_parallel_instances_get_one_thread_each(instances, tmp_path, workers, scheduler, pinned):
    """Instances side by side share the cores: each gets one torch thread, not one per core."""
    out = tmp_path / "results.csv"
    options = BenchOptions(instances, out, out.with_suffix(".json"), workers=workers, scheduler=scheduler)
    _, tools, _, _ = plan(options)
    argv = tools[0].argv(read_instances(instances, None)[0], 10.0, tmp_path / "r.txt")
    assert argv[3 : argv.index("run")] == (["--threads", "1"] if pinned else [])


@pytest.mark.parametrize(("workers", "passed"), [(1, ["--threads", "3"]), (2, ["--threads", "1"])])
def test_the_global_threads_reach_instances_run_one_at_a_time(instances, tmp_path, workers, passed):
    """``nnverify --threads 3 bench``: each instance run alone gets 3; side by side, still 1."""
    out = tmp_path / "results.csv"
    options = BenchOptions(instances, out, out.with_suffix(".json"), workers=workers, threads=3)
    _, tools, _, _ = plan(options)
    argv = tools[0].argv(read_instances(instances, None)[0], 10.0, tmp_path / "r.txt")
    assert argv[3 : argv.index("run")] == passed


@pytest.mark.slow
def test_dask_local_cluster_gives_the_sequential_verdicts(instances, tmp_path, capsys):
    out = tmp_path / "results.csv"
    assert main(["bench", str(instances), "--out", str(out), "--workers", "2"]) == EXIT_OK
    assert _verdicts(out) == {  # as the sequential run in test_bench_writes_results_and_resumes
        ("nnverify", "sat.vnnlib"): "sat",
        ("nnverify", "unsat.vnnlib"): "unsat",
        ("nnverify", "sat2.vnnlib"): "sat",
    }
    assert main(["check-result", str(out.with_suffix(".json"))]) == EXIT_OK


@pytest.mark.slow
def test_dask_scheduler_address(instances, tmp_path, capsys):
    from distributed import LocalCluster

    out = tmp_path / "results.csv"
    with LocalCluster(n_workers=1, threads_per_worker=2, dashboard_address=None) as cluster:
        argv = ["bench", str(instances), "--out", str(out), "--scheduler", cluster.scheduler_address]
        assert main(argv) == EXIT_OK
    assert _verdicts(out) == {
        ("nnverify", "sat.vnnlib"): "sat",
        ("nnverify", "unsat.vnnlib"): "unsat",
        ("nnverify", "sat2.vnnlib"): "sat",
    }
