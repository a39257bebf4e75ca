"""Bound methods without branching on MNIST-FC: width, time, and instances proved.

    python benchmarks/bound_methods.py [--shared ../shared] [--nets 256x2 256x4 256x6] [--props 15]

For every network and property (VNN-COMP 2021 mnistfc, eps 0.03 and 0.05) and every method
(interval, crown, alpha: alpha-CROWN with optimised intermediate bounds, as ``--no-search``
runs it), prints the mean width of the bounds on the ten outputs over the property's input
box, the time of one bound computation, and how many properties the bounds prove
(``nnverify run --no-search --bounds METHOD``), per network and radius. Times are ratios
against interval bounds measured in the same run as well as seconds: this machine is
shared and noisy.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections import defaultdict
from pathlib import Path

import torch

from solvers.bounders import root_bounds
from solvers.objective import Objective
from specs import read_property
from verify.pipeline import load_model

METHODS = ("interval", "crown", "alpha")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default_shared = Path(__file__).resolve().parents[2] / "shared"
    parser.add_argument("--shared", type=Path, default=default_shared)
    parser.add_argument("--nets", nargs="+", default=["256x2", "256x4", "256x6"])
    parser.add_argument("--props", type=int, default=15, help="properties per radius (0..N-1)")
    args = parser.parse_args()
    torch.set_num_threads(1)
    folder = args.shared / "benchmarks" / "vnncomp2021" / "mnistfc"
    if not folder.is_dir():
        raise SystemExit(f"{folder}: not found (pass --shared)")
    print(f"{'network':<14}{'eps':>6}{'method':>10}{'proved':>9}{'mean width':>12}{'time/bound':>12}{'x interval':>12}")
    for net in args.nets:
        model = load_model(folder / f"mnist-net_{net}.onnx")
        graph = model.graph
        eye = torch.eye(graph.output.size, dtype=torch.float64)
        both_sides = Objective(
            torch.cat([eye, -eye]), torch.zeros(20), torch.zeros(20, dtype=torch.bool), torch.arange(20), 20
        )
        for eps in ("0.03", "0.05"):
            proved: dict[str, int] = defaultdict(int)
            widths: dict[str, list[float]] = defaultdict(list)
            times: dict[str, list[float]] = defaultdict(list)
            for index in range(args.props):
                prop = read_property(folder / f"prop_{index}_{eps}.vnnlib")
                (case,) = prop.cases
                lower = torch.tensor(case.region.box.lower, dtype=torch.float64)[None]
                upper = torch.tensor(case.region.box.upper, dtype=torch.float64)[None]
                objective = Objective.of(case)
                for method in METHODS:
                    start = time.perf_counter()
                    sides = root_bounds(graph, both_sides, method, lower, upper)
                    times[method].append(time.perf_counter() - start)
                    widths[method].append(float((-sides[0, 10:] - sides[0, :10]).mean()))
                    bounds = root_bounds(graph, objective, method, lower, upper)
                    proved[method] += int(objective.refuted(bounds).all())
            base = statistics.median(times["interval"])
            for method in METHODS:
                t = statistics.median(times[method])
                print(
                    f"{net:<14}{eps:>6}{method:>10}{proved[method]:>6}/{args.props:<2}"
                    f"{statistics.mean(widths[method]):>12.4g}{t:>11.3f}s{t / base:>11.1f}x",
                    flush=True,
                )


if __name__ == "__main__":
    main()
