"""The Python API: loading from every source, checking, dataset sweeps, and the README example."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch

from verify import api
from verify.errors import QueryError

README = Path(__file__).resolve().parents[2] / "README.md"


def _threshold_net() -> torch.nn.Module:
    """Scores (x, 0.5) for scalar x: class 0 iff x > 0.5."""
    net = torch.nn.Linear(1, 2)
    with torch.no_grad():
        net.weight.copy_(torch.tensor([[1.0], [0.0]]))
        net.bias.copy_(torch.tensor([0.0, 0.5]))
    return net


def test_load_from_file_bytes_and_torch_agree(abs_model_path):
    from_file = api.load(abs_model_path)
    from_bytes = api.load(abs_model_path.read_bytes())
    x = np.array([[-0.7], [0.2]])
    assert np.array_equal(from_file.graph.run_numpy(x), from_bytes.graph.run_numpy(x))
    net = torch.nn.Sequential(torch.nn.Linear(3, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))
    model = api.load(net, input_shape=(1, 3))
    points = np.random.default_rng(1).random((4, 3))
    expected = net(torch.tensor(points, dtype=torch.float32)).detach().numpy()
    assert np.allclose(model.graph.run_numpy(points), expected, atol=1e-5)
    assert net.training  # the export restores the module's mode


def test_torch_module_needs_an_input_shape():
    with pytest.raises(QueryError, match="input_shape"):
        api.load(torch.nn.Linear(2, 2))


def test_check_reads_a_property_file_and_records_its_hash(tmp_path, abs_model_path):
    query = tmp_path / "q.vnnlib"
    query.write_text(
        "(declare-const X_0 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
        "(assert (>= X_0 -1))\n(assert (<= X_0 1))\n(assert (>= Y_0 1.5))\n"
    )
    model = api.load(abs_model_path)
    result = api.check(model, api.read_property(query), api.Options(timeout=5), json=tmp_path / "r.json")
    assert result.status is api.Status.UNSAT
    lines = api.check_result(tmp_path / "r.json")
    assert lines == [f"{tmp_path / 'r.json'}: ok unsat: hashes match; no certificate to check for this verdict"]


def test_certify_robustness_sweep(tmp_path):
    model = api.load(_threshold_net(), input_shape=(1, 1))
    inputs = [[0.9], [0.52], [0.9]]
    labels = [0, 0, 1]  # the last point is misclassified
    sweep = api.certify_robustness(
        model,
        inputs,
        labels,
        [0.1, 0.05, 0.3],
        lower=0,
        upper=1,
        options=api.Options(timeout=5),
        json=tmp_path / "s.json",
    )
    assert sweep.epsilons == (0.05, 0.1, 0.3)
    assert sweep.predicted == (0, 0, 0)
    verdicts = {(r.index, r.eps): (r.status, r.implied) for r in sweep.results}
    assert verdicts[0, 0.05] == (api.Status.UNSAT, False) and verdicts[0, 0.3] == (api.Status.UNSAT, False)
    assert verdicts[1, 0.05] == (api.Status.SAT, False)
    assert verdicts[1, 0.1] == (api.Status.SAT, True) and verdicts[1, 0.3] == (api.Status.SAT, True)
    assert all(verdicts[2, e] == (None, False) for e in sweep.epsilons)
    assert [sweep.certified_accuracy(e) for e in sweep.epsilons] == pytest.approx([1 / 3] * 3)
    assert sweep.falsified(0.05) == pytest.approx(2 / 3)
    api.save_model(model, tmp_path / "m.onnx")
    lines = api.check_result(tmp_path / "s.json", model=str(tmp_path / "m.onnx"))
    assert len(lines) == 4 and sum(" ok sat: " in line for line in lines) == 1


def test_sweep_rejects_mismatched_labels():
    model = api.load(_threshold_net(), input_shape=(1, 1))
    with pytest.raises(QueryError, match="2 inputs but 1 labels"):
        api.certify_robustness(model, [[0.1], [0.2]], [0], [0.1])


def test_readme_example_runs_as_written(tmp_path):
    block = re.search(r"## Python\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert block is not None
    (tmp_path / "example.py").write_text(block.group(1))
    env = {**os.environ, "PYTHONPATH": str(README.parent), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, "example.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert re.search(r"eps 0\.2: certified accuracy \d+%", proc.stdout)
    assert ": ok " in proc.stdout.strip().splitlines()[-1]
    assert onnx.load(tmp_path / "model.onnx").graph.node
    assert (tmp_path / "result.json").exists()
