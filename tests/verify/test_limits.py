"""Hard limits: the answer comes by the deadline plus the grace, no process outlives the
command, and running out of memory answers unknown."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from known_nets import ABS_UNSAT_VNNLIB as ABS_UNSAT

from bounds.onnx_build import dense_network
from specs import parse_vnnlib1
from verify import limits, pipeline
from verify.cli import EXIT_INPUT, EXIT_INTERNAL, EXIT_OK, main
from verify.errors import QueryError
from verify.limits import GRACE, Limits, WorkerError, check_within
from verify.options import Options
from verify.pipeline import Model, load_model
from verify.result import Result, Status

STOP = 0.5
"""Seconds allowed beyond the deadline plus GRACE for killing the worker and reporting (README)."""


def _hard_instance(folder: Path) -> tuple[Path, Path]:
    """A random 64-256x4-10 ReLU network and a wide box: neither sampling nor bounds decide
    ``y0 >= y1 + 1`` within seconds."""
    rng = np.random.default_rng(0)
    sizes = [64, 256, 256, 256, 256, 10]
    weights = [rng.normal(0, 1 / np.sqrt(a), (b, a)) for a, b in itertools.pairwise(sizes)]
    model = folder / "hard.onnx"
    onnx.save(dense_network(weights, [np.zeros(b) for b in sizes[1:]]), model)
    lines = [f"(declare-const X_{i} Real)" for i in range(64)] + [f"(declare-const Y_{i} Real)" for i in range(10)]
    lines += [f"(assert (>= X_{i} -0.2))\n(assert (<= X_{i} 0.2))" for i in range(64)]
    lines += ["(assert (>= Y_0 (+ Y_1 1.0)))"]
    prop = folder / "hard.vnnlib"
    prop.write_text("\n".join(lines))
    return model, prop


def _processes_mentioning(text: str) -> list[int]:
    """Live (not zombie) processes whose command line contains ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if text in cmdline and state not in ("Z", "X"):
            found.append(int(entry.name))
    return found


def _children() -> list[int]:
    """Live child processes of this process."""
    children = []
    for entry in Path("/proc").iterdir():
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X") and int(fields[1]) == os.getpid():
            children.append(int(entry.name))
    return children


pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")


@pytest.fixture
def abs_model(abs_model_path: Path) -> Model:
    return load_model(abs_model_path)


@pytest.fixture
def new_children() -> Callable[[], list[int]]:
    """The live child processes started since the test began. Not the others: an earlier
    test's dask cluster leaves multiprocessing's resource tracker for the process's life."""
    before = set(_children())
    return lambda: [pid for pid in _children() if pid not in before]


def test_cli_timeout_on_a_hard_instance_comes_in_time_and_leaves_no_process(tmp_path, capsys, new_children):
    model, prop = _hard_instance(tmp_path)
    start = time.monotonic()
    assert main(["run", str(model), str(prop), "--timeout", "5"]) == EXIT_OK
    elapsed = time.monotonic() - start
    assert capsys.readouterr().out == "timeout\n"
    assert elapsed <= 5 + GRACE + STOP
    assert new_children() == []


def test_cli_timeout_in_a_separate_process(tmp_path):
    model, _ = _hard_instance(tmp_path)
    query = tmp_path / "q.vnnlib"
    query.write_text(
        "(vnnlib-version <2.0>)\n(declare-network f (declare-input X real [1,64]) (declare-output Y real [1,10]))\n"
        + "\n".join(f"(assert (and (>= X[0,{i}] -0.2) (<= X[0,{i}] 0.2)))" for i in range(64))
        + "\n(assert (>= Y[0,0] (+ Y[0,1] 1.0)))\n"
    )
    command = [sys.executable, "-m", "verify", "verify", str(query), "--network", f"f={model}", "--timeout", "3"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2])
    assert proc.returncode == EXIT_OK, proc.stderr
    assert proc.stdout == "timed-out\n"
    assert proc.stderr.count("\n") == 1  # the log line
    assert _processes_mentioning(str(model)) == []


def test_a_stuck_worker_is_killed_with_everything_it_started(abs_model, monkeypatch, tmp_path, new_children):
    marker = str(tmp_path / "grandchild-marker")

    def stuck(*_: object) -> Result:
        subprocess.Popen(["sleep", "60", marker])  # a grandchild: it must die too
        time.sleep(60)
        raise AssertionError("not reached")

    monkeypatch.setattr(pipeline, "check_property", stuck)
    prop = parse_vnnlib1(ABS_UNSAT)
    start = time.monotonic()
    result = check_within(abs_model, prop, Options(), Limits(deadline=start + 1.0))
    assert result.status is Status.TIMEOUT
    assert time.monotonic() - start <= 1.0 + GRACE + STOP
    time.sleep(0.2)  # SIGKILL is asynchronous
    assert _processes_mentioning(marker) == []
    assert new_children() == []


def test_a_budget_spent_before_the_search_is_a_timeout(abs_model):
    prop = parse_vnnlib1(ABS_UNSAT)
    result = check_within(abs_model, prop, Options(), Limits(deadline=time.monotonic() - 1))
    assert result.status is Status.TIMEOUT


def test_the_worker_decides_within_limits(abs_model, new_children):
    prop = parse_vnnlib1(ABS_UNSAT)
    result = check_within(abs_model, prop, Options(), Limits(deadline=time.monotonic() + 30, max_memory=4 * 2**30))
    assert result.status is Status.UNSAT
    assert new_children() == []


@pytest.mark.parametrize(
    "allocate",
    [
        pytest.param(lambda: np.ones(2**40, dtype=np.uint8), id="numpy"),
        pytest.param(lambda: torch.ones(2**40, dtype=torch.uint8), id="torch"),
    ],
)
def test_running_out_of_memory_is_unknown(abs_model, monkeypatch, allocate):
    def hungry(*_: object) -> Result:
        allocate()
        raise AssertionError("not reached")

    monkeypatch.setattr(pipeline, "check_property", hungry)
    prop = parse_vnnlib1(ABS_UNSAT)
    result = check_within(abs_model, prop, Options(), Limits(deadline=time.monotonic() + 30, max_memory=2**30))
    assert result.status is Status.UNKNOWN
    assert "memory" in result.reason


def test_running_out_of_memory_while_reporting_an_error_is_unknown_and_silent(abs_model, monkeypatch, capfd):
    def failing(*_: object) -> Result:
        raise QueryError("cannot load the model") from ValueError("the cause")

    def no_memory() -> str:
        raise MemoryError

    monkeypatch.setattr(pipeline, "check_property", failing)
    monkeypatch.setattr(limits.traceback, "format_exc", no_memory)
    prop = parse_vnnlib1(ABS_UNSAT)
    result = check_within(abs_model, prop, Options(), Limits(deadline=time.monotonic() + 30, max_memory=2**30))
    assert result.status is Status.UNKNOWN and "out of memory" in result.reason
    assert capfd.readouterr().err == ""  # no traceback from the worker process


def test_max_memory_below_what_the_search_needs_is_unknown_on_the_command_line(tmp_path, capsys):
    model, prop = _hard_instance(tmp_path)
    usage = int(Path("/proc/self/status").read_text().split("VmData:")[1].split()[0]) * 1024
    cap = f"{usage // 2 // 2**10}K"  # half of what this process has: the worker cannot grow at all
    assert main(["run", str(model), str(prop), "--timeout", "20", "--max-memory", cap]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out == "unknown\n"
    assert "memory" in captured.err and "Traceback" not in captured.err


@pytest.mark.parametrize(
    "error, exit_code, text",
    [
        (QueryError("q.vnnlib: does not fit"), EXIT_INPUT, "does not fit"),
        (ZeroDivisionError("boom"), EXIT_INTERNAL, "boom"),
    ],
)
def test_worker_errors_come_back_as_one_line(abs_model_path, tmp_path, monkeypatch, capsys, error, exit_code, text):
    def failing(*_: object) -> Result:
        raise error

    monkeypatch.setattr(pipeline, "check_property", failing)
    prop = tmp_path / "p.vnnlib"
    prop.write_text(ABS_UNSAT)
    assert main(["run", str(abs_model_path), str(prop)]) == exit_code
    captured = capsys.readouterr()
    assert captured.out == "" and text in captured.err and captured.err.count("\n") == 1


def test_worker_error_keeps_the_traceback_for_debug(abs_model):
    prop = parse_vnnlib1(ABS_UNSAT)
    bad = Options(bounds="no-such-method")
    with pytest.raises(WorkerError) as info:
        check_within(abs_model, prop, bad, Limits(deadline=time.monotonic() + 30))
    assert not info.value.input_error and "Traceback" in info.value.details


def test_the_worker_dies_with_a_killed_command(tmp_path):
    model, prop = _hard_instance(tmp_path)
    command = [sys.executable, "-m", "verify", "run", str(model), str(prop), "--timeout", "60"]
    proc = subprocess.Popen(
        command, cwd=Path(__file__).parents[2], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while len(_processes_mentioning(str(model))) < 2:  # the command and its worker
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    time.sleep(0.5)  # the kernel's SIGKILL to the orphaned worker is asynchronous
    assert _processes_mentioning(str(model)) == []
