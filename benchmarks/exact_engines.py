"""Time the exact engines (MILP, z3) against the default search, in one process and run.

    python benchmarks/exact_engines.py [--timeout S] [--random N] [--shared PATH]

Instances: N seeded random ReLU networks (4 inputs, two hidden layers of 12, a threshold
near the sampled maximum of y0 - y1) and three ACAS Xu instances from ../shared (skipped
when absent). Each instance runs through ``verify.pipeline.check_property`` with engine
``auto``, ``milp`` and ``smt`` (falsification first in all three, same seed); the engines
use interval node bounds. Prints verdict and seconds per engine, and each engine's time
as a ratio to the default's in the same run.
"""

from __future__ import annotations

import argparse
import itertools
from pathlib import Path

import numpy as np
import torch

from bounds.onnx_build import dense_network
from bounds.onnx_import import parse_onnx
from specs import read_property
from specs.property import Box, Case, InputRegion, LinearConstraints, OutputCondition, Property, Variable
from verify.options import Options
from verify.pipeline import Model, check_property, load_model

ENGINES = ("auto", "milp", "smt")
ACASXU = (  # (network, property): one sat, two unsat that the search decides quickly
    ("ACASXU_run2a_1_1_batch_2000.onnx", "prop_1.vnnlib"),
    ("ACASXU_run2a_4_8_batch_2000.onnx", "prop_3.vnnlib"),
    ("ACASXU_run2a_2_7_batch_2000.onnx", "prop_2.vnnlib"),
)


def random_instance(seed: int) -> tuple[str, Model, Property]:
    rng = np.random.default_rng(seed)
    sizes = [4, 12, 12, 2]
    weights = [rng.normal(size=(o, i)) / np.sqrt(i) for i, o in itertools.pairwise(sizes)]
    biases = [rng.normal(size=o) * 0.3 for o in sizes[1:]]
    data = dense_network(weights, biases).SerializeToString()
    graph = parse_onnx(data, f"random-{seed}")
    lower, upper = -np.ones(4), np.ones(4)
    y = graph.run_numpy(rng.uniform(lower, upper, size=(2048, 4)))
    reach = float((y[:, 0] - y[:, 1]).max())
    threshold = reach + (0.05 if seed % 2 else -0.01) * (1 + abs(reach))  # odd seeds: likely unsat
    clause = LinearConstraints(np.array([[-1.0, 1.0]]), np.array([-threshold]), np.zeros(1, bool))
    case = Case(InputRegion(Box(lower, upper), LinearConstraints.empty(4)), OutputCondition((clause,)))
    prop = Property(Variable("X", "real", (4,)), Variable("Y", "real", (2,)), (case,))
    return f"random-{seed}", Model(graph, data, f"random-{seed}"), prop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per instance and engine")
    parser.add_argument("--random", type=int, default=4, help="number of random networks")
    default_shared = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "vnncomp2021" / "acasxu"
    parser.add_argument("--shared", type=Path, default=default_shared, help="ACAS Xu folder")
    args = parser.parse_args()
    torch.set_num_threads(1)

    instances = [random_instance(seed) for seed in range(args.random)]
    if args.shared.is_dir():
        for network, prop in ACASXU:
            instances.append(
                (
                    f"acasxu {network[13:16]} {prop}",
                    load_model(args.shared / network),
                    read_property(args.shared / prop),
                )
            )
    else:
        print(f"# {args.shared} absent: ACAS Xu skipped")
    print(f"{'instance':28} " + " ".join(f"{e:>18}" for e in ENGINES) + "  milp/auto  smt/auto")
    totals = dict.fromkeys(ENGINES, 0.0)
    for name, model, prop in instances:
        times, cells = {}, []
        for engine in ENGINES:
            result = check_property(model, prop, Options(timeout=args.timeout, engine=engine))
            times[engine] = result.time
            totals[engine] += result.time
            cells.append(f"{result.status.value:>8} {result.time:8.2f}s")
        ratios = "  ".join(f"{times[e] / max(times['auto'], 1e-9):9.2f}" for e in ENGINES[1:])
        print(f"{name:28} " + " ".join(f"{c:>18}" for c in cells) + f"  {ratios}")
    total_ratio = "  ".join(f"{totals[e] / max(totals['auto'], 1e-9):9.2f}" for e in ENGINES[1:])
    print(f"{'total':28} " + " ".join(f"{totals[e]:17.2f}s" for e in ENGINES) + f"  {total_ratio}")


if __name__ == "__main__":
    main()
