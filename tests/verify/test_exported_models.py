"""End to end on networks exported from PyTorch: a CNN with
Conv/BatchNorm/ReLU/MaxPool/Flatten/Linear and a ResNet-style block (residual Add) are
proved robust in a tiny ball, and a query whose centre already violates it is answered sat
with a counterexample onnxruntime confirmed; the same with the weights left in the
exporter's side file (``net.onnx.data``), read from the model's folder.

The default exporter folds BatchNorm into the Conv and writes Flatten as Reshape, so its
graphs hold Conv/Relu/MaxPool/Reshape/Gemm (and Pad/Add); the legacy exporter without
constant folding keeps BatchNormalization and Flatten, and the shape plumbing
(Shape/Gather/ConstantOfShape/Slice/Transpose/Cast) that folds away at import."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from specs.robustness import local_robustness
from verify.options import Options
from verify.pipeline import Model, check_property, load_model
from verify.result import Status

IMAGE = (1, 1, 8, 8)


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.branch = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3))
        self.pad = nn.ZeroPad2d(1)
        self.head = nn.Sequential(nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        return self.head(torch.relu(h + self.pad(self.branch(h))))


def _cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3, padding=1),
        nn.BatchNorm2d(4),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(64, 8),
        nn.ReLU(),
        nn.Linear(8, 3),
    )


def _exported(network: nn.Module, path: Path, *, inline: bool = True, legacy: bool = False) -> Model:
    """Export in the default way (``legacy``: with the TorchScript exporter, no constant
    folding) and load from the path; ``inline`` first moves the weights from the exporter's
    side file (``net.onnx.data``) into the model file."""
    if not legacy:
        pytest.importorskip("onnxscript", reason="the default torch.onnx exporter needs onnxscript")
    torch.manual_seed(0)
    for module in network.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
    network.eval()
    names = {"input_names": ["X"], "output_names": ["Y"]}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if legacy:
            torch.onnx.export(
                network, (torch.zeros(IMAGE),), str(path), dynamo=False, do_constant_folding=False, **names
            )
        else:
            torch.onnx.export(network, (torch.zeros(IMAGE),), str(path), **names)
    if inline:
        onnx.save(onnx.load(str(path)), str(path))
    return load_model(path)


# The op types each export must hold for the test to exercise what it claims.
EXPECTED_OPS = {
    ("cnn", False): {"Conv", "Relu", "MaxPool", "Reshape", "Gemm"},
    ("resnet", False): {"Conv", "Relu", "MaxPool", "Reshape", "Gemm", "Pad", "Add"},
    ("cnn", True): {"Conv", "BatchNormalization", "Relu", "MaxPool", "Flatten", "Gemm"},
    ("resnet", True): {"Conv", "BatchNormalization", "Relu", "MaxPool", "Flatten", "Gemm", "Pad", "Add", "Shape"},
}


@pytest.mark.parametrize("legacy", [False, True], ids=["default-exporter", "legacy-unfolded"])
@pytest.mark.parametrize("build", [_cnn, _Residual], ids=["cnn", "resnet"])
def test_exported_network_is_verified_and_falsified(
    build: Callable[[], nn.Module], legacy: bool, tmp_path: Path
) -> None:
    torch.manual_seed(1)
    model = _exported(build(), tmp_path / "net.onnx", legacy=legacy)
    ops = {node.op_type for node in onnx.load(str(tmp_path / "net.onnx")).graph.node}
    name = "cnn" if build is _cnn else "resnet"
    assert EXPECTED_OPS[name, legacy] <= ops, sorted(EXPECTED_OPS[name, legacy] - ops)
    image = np.random.default_rng(0).uniform(size=IMAGE)
    scores = model.graph.run_numpy(image.reshape(1, -1))[0]
    label, runner_up = int(np.argmax(scores)), int(np.argsort(scores)[-2])
    options = Options(timeout=20.0)

    robust = local_robustness(image, 1e-4, label, num_classes=3, lower=0.0, upper=1.0)
    proved = check_property(model, robust, options)
    assert proved.status is Status.UNSAT, proved.reason

    wrong = local_robustness(image, 0.01, runner_up, num_classes=3, lower=0.0, upper=1.0)
    found = check_property(model, wrong, options)
    assert found.status is Status.SAT, found.reason
    assert found.counterexample is not None
    assert np.all(np.abs(np.asarray(found.counterexample.input).reshape(-1) - image.reshape(-1)) <= 0.01 + 1e-7)


def test_weights_in_the_exporters_side_file_are_read_from_the_models_folder(tmp_path: Path) -> None:
    torch.manual_seed(1)
    model = _exported(_cnn(), tmp_path / "net.onnx", inline=False)
    if not (tmp_path / "net.onnx.data").exists():
        pytest.skip("this torch exporter keeps the weights in the model file")
    stored = onnx.load(str(tmp_path / "net.onnx"), load_external_data=False).graph.initializer
    assert any(t.data_location == onnx.TensorProto.EXTERNAL for t in stored)
    image = np.random.default_rng(0).uniform(size=IMAGE)
    scores = model.graph.run_numpy(image.reshape(1, -1))[0]
    label, runner_up = int(np.argmax(scores)), int(np.argsort(scores)[-2])
    options = Options(timeout=20.0)
    proved = check_property(model, local_robustness(image, 1e-4, label, num_classes=3, lower=0.0, upper=1.0), options)
    assert proved.status is Status.UNSAT, proved.reason
    wrong = local_robustness(image, 0.01, runner_up, num_classes=3, lower=0.0, upper=1.0)
    found = check_property(model, wrong, options)  # onnxruntime confirms on the inlined bytes
    assert found.status is Status.SAT and found.counterexample is not None, found.reason
