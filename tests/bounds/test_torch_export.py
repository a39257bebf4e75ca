"""Networks built in PyTorch and exported with ``torch.onnx.export`` import cleanly, evaluate
as onnxruntime does, and are bounded soundly.

Two exporters: the default one (``dynamo=True`` since torch 2.9; needs the ``onnxscript``
package, a dev dependency; it stores larger weights in a side file) and the legacy
TorchScript one (``dynamo=False``) with a dynamic batch axis, which emits Shape -> Gather ->
Unsqueeze -> Concat -> Reshape chains; those fold away at import.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
from onnx_cases import assert_within, ort_batch, sample_box
from torch import nn

import bounds
from bounds.ops.base import Interval

INPUT_SHAPE = (1, 1, 8, 8)


class SmallCnn(nn.Module):
    """Conv/BatchNorm/ReLU/MaxPool twice, then Flatten and two Linear layers."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1),
            nn.BatchNorm2d(4),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(4, 6, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(24, 10), nn.ReLU(), nn.Linear(10, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class ResidualBlock(nn.Module):
    """``relu(x + bn(conv(relu(bn(conv(x))))))``: two paths meeting at an Add."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(x + self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class SmallResNet(nn.Module):
    """A stem convolution, one residual block, global average pooling and a Linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3, stride=2, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.block = ResidualBlock(4)
        self.head = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.block(self.stem(x)))


class Assorted(nn.Module):
    """The other operators torch exports: pad, leaky ReLU, hardtanh (Clip), average pooling,
    chunk (Split), cat, sigmoid, tanh, abs, square (Pow), mean, reshape by the runtime
    batch size (a Shape chain), slicing, softmax."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3)
        self.linear = nn.Linear(12, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = nn.functional.leaky_relu(self.conv(nn.functional.pad(x, (1, 0, 0, 1))), 0.1)
        h = nn.functional.avg_pool2d(nn.functional.hardtanh(h, -1.0, 2.0), 2)
        a, b = torch.chunk(h, 2, dim=1)
        h = torch.cat([torch.sigmoid(a) - torch.tanh(b), b.abs(), a**2], dim=1)
        h = h.mean(dim=3)
        return torch.softmax(self.linear(h.reshape(h.shape[0], -1)[:, :12]), dim=-1)


MODELS: dict[str, Callable[[], nn.Module]] = {"cnn": SmallCnn, "resnet": SmallResNet, "assorted": Assorted}


def _trained_looking(model: nn.Module, seed: int) -> nn.Module:
    """Random weights and BatchNorm statistics (so BatchNorm is not the identity), eval mode."""
    torch.manual_seed(seed)
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.running_mean.uniform_(-0.5, 0.5)
            module.running_var.uniform_(0.5, 2.0)
            nn.init.uniform_(module.weight, 0.5, 1.5)
            nn.init.uniform_(module.bias, -0.3, 0.3)
    return model.eval()


def export(model: nn.Module, path: Path, *, dynamo: bool) -> onnx.ModelProto:
    """Export with ``torch.onnx.export``: its defaults, or the legacy exporter with a
    dynamic batch axis."""
    example = (torch.zeros(INPUT_SHAPE),)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if dynamo:
            torch.onnx.export(model, example, str(path), input_names=["x"], output_names=["y"])
        else:
            torch.onnx.export(
                model,
                example,
                str(path),
                input_names=["x"],
                output_names=["y"],
                dynamo=False,
                dynamic_axes={"x": {0: "batch"}, "y": {0: "batch"}},
            )
    return onnx.load(str(path))


@pytest.mark.parametrize("dynamo", [True, False], ids=["default-exporter", "legacy-exporter"])
@pytest.mark.parametrize("name", sorted(MODELS))
def test_exported_model_imports_evaluates_and_bounds_soundly(name: str, dynamo: bool, tmp_path: Path) -> None:
    if dynamo:
        pytest.importorskip("onnxscript", reason="the default torch.onnx exporter needs onnxscript")
    torch.set_num_threads(1)
    model = _trained_looking(MODELS[name](), seed=len(name))
    proto = export(model, tmp_path / f"{name}.onnx", dynamo=dynamo)
    # onnx.load resolves the weights the default exporter writes to a side file (.onnx.data);
    # load_onnx reads the model file alone for now.
    graph = bounds.import_model(proto)
    assert graph.input.shape == INPUT_SHAPE

    rng = np.random.default_rng(0)
    feeds = [{"x": rng.normal(size=INPUT_SHAPE).astype(np.float32)} for _ in range(4)]
    expected = ort_batch(proto, feeds)
    with torch.no_grad():
        actual = graph.evaluate(
            {graph.input.name: torch.as_tensor(np.stack([f["x"] for f in feeds]), dtype=torch.float64)}
        )
        torch_out = model(torch.as_tensor(np.concatenate([f["x"] for f in feeds])))
    np.testing.assert_allclose(actual[graph.output.name].numpy(), expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(expected.reshape(4, -1), torch_out.numpy().reshape(4, -1), rtol=1e-4, atol=1e-5)

    for radius in (0.01, 0.1):
        center = rng.normal(size=INPUT_SHAPE)
        lower, upper = center - radius, center + radius
        box = Interval(torch.as_tensor(lower[None]), torch.as_tensor(upper[None]))
        with torch.no_grad():
            bounded = bounds.propagate(graph, {graph.input.name: box})
            values = graph.evaluate(sample_box({graph.input.name: lower}, {graph.input.name: upper}, rng, count=300))
        for tensor, interval in bounded.items():
            assert_within(values[tensor], interval, 0, what=f"{name} tensor {tensor!r} radius {radius}")
