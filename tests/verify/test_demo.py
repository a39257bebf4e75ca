"""``nnverify demo`` end to end: trains on scikit-learn's digits, certifies, reports."""

from __future__ import annotations

import json

import pytest

from verify.cli import EXIT_INPUT, EXIT_OK, main


@pytest.mark.slow
def test_demo_writes_model_sweep_and_report(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo"]) == EXIT_OK
    out = tmp_path / "nnverify-demo"
    sweep = json.loads((out / "sweep.json").read_text())
    assert sweep["schema"] == "nnverify.robustness" and sweep["clean_accuracy"] > 0.9
    assert sweep["certified_accuracy"] == sorted(sweep["certified_accuracy"], reverse=True)
    assert sweep["certified_accuracy"][0] > 0.5
    html = (out / "report.html").read_text()
    assert 'id="robustness"' in html and 'id="counterexamples"' in html
    capsys.readouterr()
    assert main(["check-result", str(out / "sweep.json"), str(out / "digits.onnx")]) == EXIT_OK
    assert main(["run", str(out / "digits.onnx"), str(next(out.glob("*.vnnlib"))), "--timeout", "20"]) == EXIT_OK


def test_a_file_in_the_demos_place_is_one_line(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "nnverify-demo").write_text("mine")
    assert main(["demo"]) == EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "nnverify-demo" in err and "not a folder" in err
    assert (tmp_path / "nnverify-demo").read_text() == "mine"
