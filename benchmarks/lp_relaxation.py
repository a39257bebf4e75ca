"""Time a clause's LP relaxation with HiGHS's interior point and simplex, in one run.

    PYTHONPATH=. python benchmarks/lp_relaxation.py [--timeout S] [--shared PATH]

The relaxation is what ``RegionProgram.polished`` solves before its PGD (each binary in
[0, 1]) for every clause the MILP beside the ReLU-split search takes: one program over the
whole input box, big-M from the root's alpha-CROWN node bounds. Instances: MNIST-FC
clauses from ../shared (skipped when absent) on the three networks; torch on one thread,
as in the MILP beside. Each clause and method gets a freshly compiled program (cvxpy warm
starts a program's next solve from its last). Prints seconds per method and the ratio
ipm/simplex, per clause and in total.
"""

from __future__ import annotations

import time

from benchmarks.mnistfc_roots import arguments, root_instances
from solvers.milp import MilpOptions, RegionProgram

INSTANCES = (  # (network, property, clauses)
    ("mnist-net_256x2.onnx", "prop_1_0.03.vnnlib", (2, 7)),
    ("mnist-net_256x4.onnx", "prop_8_0.05.vnnlib", (0, 1)),
    ("mnist-net_256x6.onnx", "prop_0_0.03.vnnlib", (1, 2)),
)
METHODS = {"simplex": 10**9, "ipm": 0}  # MilpOptions.interior_point_binaries for each


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    if not args.shared.is_dir():
        print(f"# {args.shared} absent: nothing to time")
        return
    print(f"{'instance':28} {'clause':>6} {'binaries':>8} {'simplex':>9} {'ipm':>9} {'ipm/simplex':>11}")
    totals = dict.fromkeys(METHODS, 0.0)
    for instance in root_instances(args.shared, INSTANCES):
        box, constraints = instance.case.region.box, instance.case.region.constraints
        for clause in instance.clauses:
            seconds = {}
            for method, binaries in METHODS.items():
                options = MilpOptions(interior_point_binaries=binaries)
                program = RegionProgram(instance.graph, box, constraints, instance.node_bounds, options)
                start = time.monotonic()
                program.polished(instance.objective, clause, start + args.timeout, lambda point: None)
                seconds[method] = time.monotonic() - start
                totals[method] += seconds[method]
            cells = " ".join(f"{seconds[m]:8.2f}s" for m in METHODS)
            ratio = seconds["ipm"] / seconds["simplex"]
            print(f"{instance.name:28} {clause:>6} {program.binaries:>8} {cells} {ratio:>10.2f}x")
    cells = " ".join(f"{totals[m]:8.2f}s" for m in METHODS)
    print(f"{'total':44} {cells} {totals['ipm'] / totals['simplex']:>10.2f}x")


if __name__ == "__main__":
    main()
