"""L-infinity robustness of a small CNN and a small ResNet-style network of our own.

    python benchmarks/cnn_robustness.py [--count 20] [--radii 0.001 0.003 0.01 0.03 0.2]
                                        [--timeout 10] [--bounds auto] [--epochs 30]

Both networks take 1x8x8 images. With scikit-learn installed they are trained for a few
seconds on its bundled handwritten digits (8x8, pixels scaled to [0, 1]) and the queries use
held-out test images; without it they get fixed random weights and random images, labelled
by the network itself. Each network is exported with ``torch.onnx.export`` (its default
exporter when ``onnxscript`` is installed, else the legacy one) and every query goes through
the verification pipeline (``verify.pipeline.check_property`` on
``specs.local_robustness``), whatever bound method it offers. Prints, per network and
radius, how many queries were verified (unsat), falsified (sat, counterexample confirmed by
onnxruntime) and left open (unknown or timeout), with total and maximum times.
"""

from __future__ import annotations

import argparse
import importlib.util
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

from specs.robustness import local_robustness
from verify.options import Options
from verify.pipeline import Model, check_property, load_model
from verify.result import Status

IMAGE = (1, 1, 8, 8)
CLASSES = 10


class Cnn(nn.Module):
    """Conv/BatchNorm/ReLU/MaxPool, Conv/ReLU/MaxPool, then Flatten and two Linear layers."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Conv2d(1, 8, 3, padding=1),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(8, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(64, 32),
            nn.ReLU(),
            nn.Linear(32, CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


class ResNet(nn.Module):
    """A stem convolution, one residual block (two convolutions beside an identity path,
    joined by an Add), average pooling and a Linear head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU())
        self.branch = nn.Sequential(
            nn.Conv2d(8, 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.Conv2d(8, 8, 3, padding=1, bias=False),
            nn.BatchNorm2d(8),
        )
        self.head = nn.Sequential(nn.AvgPool2d(2), nn.Flatten(), nn.Linear(128, CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        return self.head(torch.relu(h + self.branch(h)))


def _dataset(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray] | None:
    """Digits as (train x, train y, test x, test y), or None without scikit-learn."""
    if importlib.util.find_spec("sklearn") is None:
        return None
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    x = (digits.images / 16.0).astype(np.float32).reshape(-1, *IMAGE[1:])
    train_x, test_x, train_y, test_y = train_test_split(x, digits.target, test_size=0.25, random_state=seed)
    return train_x, train_y, test_x, test_y


def _train(model: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int, seed: int) -> None:
    torch.manual_seed(seed)
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3)
    inputs, labels = torch.as_tensor(x), torch.as_tensor(y, dtype=torch.long)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(inputs))
        for start in range(0, len(inputs), 64):
            batch = order[start : start + 64]
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(inputs[batch]), labels[batch]).backward()
            optimiser.step()
    model.eval()


def _export(model: nn.Module, path: Path) -> Model:
    """Export (weights kept in the one file, which the pipeline reads) and load."""
    raw = path.with_suffix(".export.onnx")
    dynamo = importlib.util.find_spec("onnxscript") is not None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (torch.zeros(IMAGE),), str(raw), input_names=["X"], output_names=["Y"], dynamo=dynamo)
    onnx.save(onnx.load(str(raw)), str(path))
    return load_model(path)


def _run(name: str, model: Model, images: np.ndarray, labels: np.ndarray, args: argparse.Namespace) -> None:
    options = Options(timeout=args.timeout, bounds=args.bounds)
    ops = sorted({n.op_type for n in model.graph.nodes})
    print(f"{name}: {len(model.graph.nodes)} nodes ({', '.join(ops)}), {len(images)} images")
    for radius in args.radii:
        counts: Counter[str] = Counter()
        times = []
        for image, label in zip(images, labels, strict=True):
            prop = local_robustness(
                image.reshape(IMAGE), radius, int(label), num_classes=CLASSES, lower=0.0, upper=1.0,
                input_name=model.graph.input.name, output_name=model.graph.output.name,
            )  # fmt: skip
            result = check_property(model, prop, options)
            times.append(result.time)
            kind = {Status.UNSAT: "verified", Status.SAT: "falsified"}.get(result.status, "open")
            counts[kind] += 1
        print(
            f"  eps={radius:<6g} verified {counts['verified']:>3}  falsified {counts['falsified']:>3}  "
            f"open {counts['open']:>3}  total {sum(times):7.2f} s  max {max(times):6.2f} s"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=20, help="images per radius")
    # 0.2: every trained network is falsified there within a second, so the sat path
    # (counterexample confirmed by onnxruntime) shows in the default figures too
    parser.add_argument("--radii", type=float, nargs="+", default=[0.001, 0.003, 0.01, 0.03, 0.2])
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per query")
    parser.add_argument("--bounds", default="auto", help="bound method of the pipeline")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    data = _dataset(args.seed)
    with tempfile.TemporaryDirectory() as folder:
        for name, network in (("cnn", Cnn()), ("resnet", ResNet())):
            torch.manual_seed(args.seed)
            network.apply(lambda m: m.reset_parameters() if hasattr(m, "reset_parameters") else None)
            start = time.monotonic()
            if data is not None:
                train_x, train_y, test_x, test_y = data
                _train(network, train_x, train_y, args.epochs, args.seed)
                with torch.no_grad():
                    predicted = network(torch.as_tensor(test_x)).argmax(dim=1).numpy()
                accuracy = float((predicted == test_y).mean())
                correct = np.flatnonzero(predicted == test_y)[: args.count]
                images, labels = test_x[correct], test_y[correct]
                origin = f"trained on digits in {time.monotonic() - start:.1f} s, test accuracy {accuracy:.3f}"
            else:
                network.eval()
                images = np.random.default_rng(args.seed).uniform(size=(args.count, *IMAGE[1:])).astype(np.float32)
                with torch.no_grad():
                    labels = network(torch.as_tensor(images)).argmax(dim=1).numpy()
                origin = "fixed random weights (scikit-learn not installed), random images"
            model = _export(network, Path(folder) / f"{name}.onnx")
            print(f"{name}: {origin}")
            _run(name, model, images, labels, args)


if __name__ == "__main__":
    main()
