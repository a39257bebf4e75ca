"""ACAS Xu instances from ../shared with their expected verdicts (skipped when absent).

The default run takes a fast, mixed subset; the whole category runs with ``-m slow`` (and
with figures, through ``nnverify bench``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from known_nets import SHARED, shared_or_skip

from specs import read_property
from verify.options import Options
from verify.pipeline import check_property, load_model
from verify.result import Status

FAST = [  # each decided in under 10 s in the benchmark runs (see the closing note of issue 2)
    ("ACASXU_run2a_1_1_batch_2000.onnx", "prop_1.vnnlib"),  # unsat
    ("ACASXU_run2a_1_2_batch_2000.onnx", "prop_2.vnnlib"),  # sat
    ("ACASXU_run2a_2_7_batch_2000.onnx", "prop_2.vnnlib"),  # sat
    ("ACASXU_run2a_4_8_batch_2000.onnx", "prop_3.vnnlib"),  # unsat
    ("ACASXU_run2a_4_5_batch_2000.onnx", "prop_10.vnnlib"),  # unsat
]


def _read_expected(path: Path) -> dict[tuple[str, str], str]:
    with path.open() as handle:
        return {(row["onnx"], row["vnnlib"]): row["expected"] for row in csv.DictReader(handle)}


def _expected() -> dict[tuple[str, str], str]:
    return _read_expected(shared_or_skip("acasxu", "expected.csv"))


def _check(model_name: str, prop_name: str, timeout: float) -> Status:
    expected = _expected()[(model_name, prop_name)]
    model = load_model(shared_or_skip("acasxu", model_name))
    result = check_property(model, read_property(shared_or_skip("acasxu", prop_name)), Options(timeout=timeout))
    if result.status in (Status.SAT, Status.UNSAT):
        assert result.status.value == expected, (model_name, prop_name, result.reason)
    if result.status is Status.SAT:
        assert result.counterexample is not None
    return result.status


@pytest.mark.shared
@pytest.mark.parametrize("model_name, prop_name", FAST)
def test_fast_subset_is_decided_correctly(model_name, prop_name):
    assert _check(model_name, prop_name, timeout=60) in (Status.SAT, Status.UNSAT)


def _every_instance() -> list[tuple[str, str]]:
    """All 186 instances when ../shared is present (collected as one test each, so each gets
    pytest's per-test timeout), else none (the test is then skipped as empty)."""
    path = SHARED / "acasxu" / "expected.csv"
    return sorted(_read_expected(path)) if path.exists() else []


@pytest.mark.slow
@pytest.mark.shared
@pytest.mark.parametrize("model_name, prop_name", _every_instance())
def test_every_instance_is_never_wrong(model_name, prop_name):
    _check(model_name, prop_name, timeout=116)
