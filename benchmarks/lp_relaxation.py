"""Time a clause's LP relaxation with HiGHS's interior point and simplex, in one run.

    python benchmarks/lp_relaxation.py [--timeout S] [--shared PATH]

The relaxation is what ``RegionProgram.polished`` solves before its PGD (each binary in
[0, 1]) for every clause the MILP beside the ReLU-split search takes: one program over the
whole input box, big-M from the root's alpha-CROWN node bounds. Instances: MNIST-FC
clauses from ../shared (skipped when absent) on the three networks; torch on one thread,
as in the MILP beside. Each clause and method gets a freshly compiled program (cvxpy warm
starts a program's next solve from its last). Prints seconds per method and the ratio
ipm/simplex, per clause and in total.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from bounds.crown import CrownBounds
from bounds.kernels import make_kernels
from solvers.activation_split import ActivationSplitOptions
from solvers.milp import MilpOptions, RegionProgram
from solvers.objective import Objective
from specs import read_property
from verify.pipeline import load_model

INSTANCES = (  # (network, property, clauses)
    ("mnist-net_256x2.onnx", "prop_1_0.03.vnnlib", (2, 7)),
    ("mnist-net_256x4.onnx", "prop_8_0.05.vnnlib", (0, 1)),
    ("mnist-net_256x6.onnx", "prop_0_0.03.vnnlib", (1, 2)),
)
METHODS = {"simplex": 10**9, "ipm": 0}  # MilpOptions.interior_point_binaries for each


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per clause and method")
    default_shared = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "vnncomp2021" / "mnistfc"
    parser.add_argument("--shared", type=Path, default=default_shared, help="MNIST-FC folder")
    args = parser.parse_args()
    if not args.shared.is_dir():
        print(f"# {args.shared} absent: nothing to time")
        return
    torch.set_num_threads(1)
    print(f"{'instance':28} {'clause':>6} {'binaries':>8} {'simplex':>9} {'ipm':>9} {'ipm/simplex':>11}")
    totals = dict.fromkeys(METHODS, 0.0)
    for network, prop, clauses in INSTANCES:
        graph = load_model(args.shared / network).graph
        case = read_property(args.shared / prop).cases[0]
        objective = Objective.of(case)
        box = case.region.box
        lower = torch.tensor(box.lower, dtype=torch.float64)[None]
        upper = torch.tensor(box.upper, dtype=torch.float64)[None]
        crown = CrownBounds(graph, objective.C, kernels=make_kernels())
        node_bounds = crown.analyse(lower, upper, alpha_steps=ActivationSplitOptions().root_alpha_steps).bounds
        for clause in clauses:
            seconds = {}
            for method, binaries in METHODS.items():
                options = MilpOptions(interior_point_binaries=binaries)
                program = RegionProgram(graph, box, case.region.constraints, node_bounds, options)
                start = time.monotonic()
                program.polished(objective, clause, start + args.timeout, lambda point: None)
                seconds[method] = time.monotonic() - start
                totals[method] += seconds[method]
            name = f"{network[10:15]} {prop.removesuffix('.vnnlib')}"
            cells = " ".join(f"{seconds[m]:8.2f}s" for m in METHODS)
            print(f"{name:28} {clause:>6} {program.binaries:>8} {cells} {seconds['ipm'] / seconds['simplex']:>10.2f}x")
    cells = " ".join(f"{totals[m]:8.2f}s" for m in METHODS)
    print(f"{'total':44} {cells} {totals['ipm'] / totals['simplex']:>10.2f}x")


if __name__ == "__main__":
    main()
