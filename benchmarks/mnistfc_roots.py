"""What the MILP benchmarks share: MNIST-FC instances from ../shared with the root's
alpha-CROWN node bounds, the big-M of the programs the MILP beside the ReLU-split search
solves, and their command line (``--timeout``, ``--shared``)."""

from __future__ import annotations

import argparse
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

from bounds.crown import CrownBounds
from bounds.graph import Graph
from bounds.kernels import make_kernels
from bounds.ops.base import Interval
from solvers.objective import Objective
from solvers.options import ActivationSplitOptions
from specs import read_property
from specs.property import Case
from verify.pipeline import load_model

FOLDER = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "vnncomp2021" / "mnistfc"


@dataclass(frozen=True)
class RootInstance:
    name: str  # "256x4 prop_8_0.05"
    graph: Graph
    case: Case
    objective: Objective
    node_bounds: Mapping[str, Interval]
    clauses: tuple[int, ...]


def arguments(description: str) -> argparse.Namespace:
    """``--timeout`` (seconds per clause and setting) and ``--shared`` (the MNIST-FC folder)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per clause and setting")
    parser.add_argument("--shared", type=Path, default=FOLDER, help="MNIST-FC folder")
    return parser.parse_args()


def root_instances(folder: Path, instances: Sequence[tuple[str, str, tuple[int, ...]]]) -> Iterator[RootInstance]:
    """Each (network, property, clauses) of ``folder`` with its root node bounds, torch on
    one thread (as in the MILP beside)."""
    torch.set_num_threads(1)
    for network, prop, clauses in instances:
        graph = load_model(folder / network).graph
        case = read_property(folder / prop).cases[0]
        objective = Objective.of(case)
        box = case.region.box
        lower = torch.tensor(box.lower, dtype=torch.float64)[None]
        upper = torch.tensor(box.upper, dtype=torch.float64)[None]
        crown = CrownBounds(graph, objective.C, kernels=make_kernels())
        node_bounds = crown.analyse(lower, upper, alpha_steps=ActivationSplitOptions().root_alpha_steps).bounds
        name = f"{network[10:15]} {prop.removesuffix('.vnnlib')}"
        yield RootInstance(name, graph, case, objective, node_bounds, clauses)
