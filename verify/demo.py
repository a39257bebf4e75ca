"""``nnverify demo``: train a small classifier, export it to ONNX, certify its robustness.

Nothing is downloaded: the data is a synthetic 2-D three-class problem generated here,
the network is trained in a second with torch, and the files land in ``nnverify-demo/``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnx
import torch

from bounds.onnx_build import dense_network
from specs import local_robustness, write_vnnlib1
from verify.pipeline import Options, check_property, load_model
from verify.result import Status

OUT_DIR = Path("nnverify-demo")


def _data(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Points in the unit square; class by which band of a wavy boundary they fall in."""
    x = torch.rand(n, 2, generator=generator)
    wave = x[:, 1] + 0.1 * torch.sin(6 * x[:, 0])
    return x, (wave > 0.4).long() + (wave > 0.75).long()


def train() -> onnx.ModelProto:
    """A 2-24-24-3 ReLU network trained on the synthetic bands (deterministic)."""
    generator = torch.Generator().manual_seed(7)
    torch.manual_seed(7)
    net = torch.nn.Sequential(
        torch.nn.Linear(2, 24), torch.nn.ReLU(), torch.nn.Linear(24, 24), torch.nn.ReLU(), torch.nn.Linear(24, 3)
    )
    x, y = _data(2000, generator)
    optimiser = torch.optim.Adam(net.parameters(), lr=0.02)
    for _ in range(300):
        optimiser.zero_grad()
        torch.nn.functional.cross_entropy(net(x), y).backward()  # type: ignore[no-untyped-call]
        optimiser.step()
    layers = [m for m in net if isinstance(m, torch.nn.Linear)]
    return dense_network([m.weight.detach().numpy() for m in layers], [m.bias.detach().numpy() for m in layers])


def run_demo() -> int:
    OUT_DIR.mkdir(exist_ok=True)
    model_path = OUT_DIR / "bands.onnx"
    onnx.save(train(), model_path)
    model = load_model(model_path)
    print(f"trained a 2-24-24-3 ReLU classifier -> {model_path}")
    print(f"{'point':>14} {'class':>5} {'eps':>5}  verdict   time")
    decided = 0
    for point in ([0.2, 0.2], [0.5, 0.55], [0.8, 0.9]):
        x = np.array(point)
        label = int(np.argmax(model.graph.run_numpy(x[None])[0]))
        for eps in (0.01, 0.05, 0.15):
            prop = local_robustness(x, eps, label, num_classes=3, lower=np.zeros(2), upper=np.ones(2))
            result = check_property(model, prop, Options(timeout=20))
            decided += result.status in (Status.SAT, Status.UNSAT)
            meaning = {Status.UNSAT: "robust", Status.SAT: "counterexample"}.get(result.status, "")
            print(f"{point!s:>14} {label:>5} {eps:>5}  {result.status.value:<7} {result.time:5.2f}s  {meaning}")
            if result.status is Status.SAT and result.counterexample is not None:
                print(f"{'':>28}x' = {np.round(result.counterexample.input, 4).tolist()}")
    centre = np.array([0.5, 0.55])
    label = int(np.argmax(model.graph.run_numpy(centre[None])[0]))
    example = OUT_DIR / "robustness_0.05.vnnlib"
    example.write_text(
        write_vnnlib1(local_robustness(centre, 0.05, label, num_classes=3, lower=np.zeros(2), upper=np.ones(2)))
    )
    print(f"\nsame check from the command line:\n  nnverify run {model_path} {example} --timeout 20")
    return 0 if decided else 1


if __name__ == "__main__":
    sys.exit(run_demo())
