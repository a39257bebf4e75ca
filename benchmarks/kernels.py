"""Time per CROWN bound computation for each kernel backend, as ratios to torch.

    PYTHONPATH=. python benchmarks/kernels.py [--repeats 3] [--device cpu]

Networks from ../shared (absent files are skipped): ACAS Xu 1_1 with prop_1's objective on
128 random sub-boxes of prop_1's input box (a batch of the input-split search), and
mnist-net_256x2/4/6 on the 8 boxes of prop_0..7 at radius 0.03 (the objective of prop_0).
Each backend bounds the same batch ``--repeats`` times after one warm-up call (numba
compiles there); the minimum counts, since the machine is shared. Torch runs one thread, as
the CLI does, and so does numpy's BLAS (threadpoolctl) for a like-for-like figure. The
bounds of every backend are checked against torch's (1e-6 relative).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from bounds import load_onnx
from bounds.crown import CrownBounds
from bounds.kernel_names import BACKENDS, make_kernels
from solvers.objective import Objective
from specs import SpecError, read_property

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "vnncomp2021"


def _acasxu(rng: np.random.Generator) -> tuple[str, Path, torch.Tensor, torch.Tensor, torch.Tensor]:
    prop = read_property(SHARED / "acasxu" / "prop_1.vnnlib")
    case = prop.cases[0]
    box_lower, box_upper = case.region.box.lower, case.region.box.upper
    width = (box_upper - box_lower) * rng.uniform(0.05, 0.25, size=(128, box_lower.size))
    lower = box_lower + (box_upper - box_lower - width) * rng.uniform(size=(128, box_lower.size))
    model = SHARED / "acasxu" / "ACASXU_run2a_1_1_batch_2000.onnx"
    return "acasxu 1_1 x128", model, Objective.of(case).C, torch.as_tensor(lower), torch.as_tensor(lower + width)


def _mnist(depth: int) -> tuple[str, Path, torch.Tensor, torch.Tensor, torch.Tensor]:
    cases = [read_property(SHARED / "mnistfc" / f"prop_{i}_0.03.vnnlib").cases[0] for i in range(8)]
    lower = torch.as_tensor(np.stack([c.region.box.lower for c in cases]))
    upper = torch.as_tensor(np.stack([c.region.box.upper for c in cases]))
    model = SHARED / "mnistfc" / f"mnist-net_256x{depth}.onnx"
    return f"mnist 256x{depth} x8", model, Objective.of(cases[0]).C, lower, upper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--device", default="cpu", help="device for the torch backend (numba and numpy: CPU)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    threadpool_limits(1)
    rng = np.random.default_rng(0)
    makers = [lambda: _acasxu(rng), *(lambda d=d: _mnist(d) for d in (2, 4, 6))]
    print(f"{'network':<18}" + "".join(f"{name:>17}" for name in BACKENDS))
    for make in makers:
        try:
            label, path, C, lower, upper = make()
        except (OSError, SpecError) as error:
            print(f"skipped: {error}")
            continue
        if not path.exists():
            print(f"skipped: {path} not available")
            continue
        graph = load_onnx(path)
        times: dict[str, float] = {}
        results: dict[str, torch.Tensor] = {}
        for name in BACKENDS:
            device = args.device if name == "torch" else "cpu"
            crown = CrownBounds(graph, C, kernels=make_kernels(name, device))
            results[name] = crown(lower, upper)  # warm-up (numba compiles or loads its cache)
            best = float("inf")
            for _ in range(args.repeats):
                start = time.perf_counter()
                crown(lower, upper)
                best = min(best, time.perf_counter() - start)
            times[name] = best
        for name in BACKENDS:
            gap = (results[name] - results["torch"]).abs() / results["torch"].abs().clamp_min(1.0)
            if float(gap.max()) > 1e-6:
                print(f"  {name}: bounds differ from torch's by {float(gap.max()):.2e} relative")
        cells = "".join(f"{times[n] * 1000:9.1f}ms {times[n] / times['torch']:4.2f}x" for n in BACKENDS)
        print(f"{label:<18}{cells}")


if __name__ == "__main__":
    main()
