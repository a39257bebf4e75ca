"""Time the MILP engine's clauses with HiGHS's RENS heuristic on and off, in one run.

    PYTHONPATH=. python benchmarks/milp_heuristics.py [--timeout S] [--shared PATH]

Each clause is one program of ``solvers.milp.RegionProgram`` over the whole input box,
with big-M from the root's alpha-CROWN node bounds: what the MILP beside the ReLU-split
search solves. Instances: MNIST-FC clauses from ../shared (skipped when absent), four
unsat clauses of 256x2 prop_1 eps 0.03 (the MILP beside's first four), two of 256x4
prop_3 eps 0.03, and the sat clause of 256x2 prop_0 eps 0.05; torch on one thread, as in
the MILP beside. Prints each clause's outcome and seconds with RENS on (HiGHS's default)
and off (``MilpOptions.rens``, our default), and the ratio off/on.
"""

from __future__ import annotations

import time

from benchmarks.mnistfc_roots import arguments, root_instances
from solvers.milp import MilpOptions, RegionProgram

INSTANCES = (  # (network, property, clauses)
    ("mnist-net_256x2.onnx", "prop_1_0.03.vnnlib", (2, 7, 3, 6)),
    ("mnist-net_256x2.onnx", "prop_0_0.05.vnnlib", (8,)),
    ("mnist-net_256x4.onnx", "prop_3_0.03.vnnlib", (0, 1)),
)


def main() -> None:
    args = arguments(__doc__.splitlines()[0])
    if not args.shared.is_dir():
        print(f"# {args.shared} absent: nothing to time")
        return
    print(f"{'instance':34} {'clause':>6} {'RENS on':>16} {'RENS off':>16} {'off/on':>7}")
    totals = {True: 0.0, False: 0.0}
    for instance in root_instances(args.shared, INSTANCES):
        box, constraints = instance.case.region.box, instance.case.region.constraints
        programs = {
            rens: RegionProgram(instance.graph, box, constraints, instance.node_bounds, MilpOptions(rens=rens))
            for rens in (True, False)
        }
        for clause in instance.clauses:
            cells, seconds = [], {}
            for rens in (True, False):
                start = time.monotonic()
                result = programs[rens].decide(instance.objective, clause, start + args.timeout)
                seconds[rens] = time.monotonic() - start
                totals[rens] += seconds[rens]
                cells.append(f"{result.outcome.name.lower()} {seconds[rens]:6.2f}s")
            print(
                f"{instance.name:34} {clause:>6} {cells[0]:>16} {cells[1]:>16} {seconds[False] / seconds[True]:>6.2f}x"
            )
    print(f"{'total':41} {totals[True]:>15.2f}s {totals[False]:>15.2f}s {totals[False] / totals[True]:>6.2f}x")


if __name__ == "__main__":
    main()
