"""Random differential tests: MILP and z3 agree, and the default pipeline never contradicts MILP.

Small random ReLU networks (2-4 inputs, 1-3 hidden layers of at most 8 neurons), and
likewise with LeakyRelu, Abs, Clip and 1-D MaxPool layers (``exact_cases``), random boxes,
and output conditions whose thresholds sit near the sampled extreme, so both verdicts
occur. MILP is the ground truth; the pipeline, with either search (the input split also with its
boxes shared by two processes), may say unknown, never the opposite.

Near the optimum: larger networks (3-8 inputs for the input split, 17-30 for the ReLU
split; 2-3 hidden layers of 8-20), clauses of 1-3 rows whose thresholds sit a relative
0.1-5% beyond their exact optimum over the box (a MILP), or for one clause short of it,
so that the searches go deep (the ReLU split to leaves its LP decides). The default
pipeline on two threads (the MILP beside the ReLU split, boxes shared by the input split)
must give the truth or time out, never unknown.
"""

from __future__ import annotations

import itertools
import time
from functools import partial

import cvxpy as cp
import numpy as np
import pytest
import torch
from exact_cases import random_piecewise_network
from in_fork import with_threads

from bounds.crown import CrownBounds
from bounds.onnx_build import dense_network
from bounds.onnx_import import parse_onnx
from solvers import milp, smt
from solvers.exact import ExactOutcome
from solvers.objective import Objective
from solvers.options import SplitOptions
from specs.property import Box, Case, InputRegion, LinearConstraints, OutputCondition, Property, Variable
from verify.options import Options
from verify.pipeline import Model, check_property
from verify.result import Status


def _instance(seed: int, piecewise: bool = False) -> tuple[Model, Property]:
    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(2, 5)), int(rng.integers(2, 4))
    if piecewise:
        data = random_piecewise_network(rng, n_in, n_out).SerializeToString()
    else:
        sizes = [n_in, *(int(h) for h in rng.integers(2, 9, size=int(rng.integers(1, 4)))), n_out]
        weights = [rng.normal(size=(o, i)) / np.sqrt(i) for i, o in itertools.pairwise(sizes)]
        biases = [rng.normal(size=o) * 0.3 for o in sizes[1:]]
        data = dense_network(weights, biases).SerializeToString()
    graph = parse_onnx(data, f"random-{seed}")
    centre = rng.uniform(-1, 1, n_in)
    radius = rng.uniform(0.05, 1.0, n_in)
    lower, upper = centre - radius, centre + radius
    # A clause: some random direction of the output reaches a threshold near its sampled max.
    clauses = []
    samples = graph.run_numpy(rng.uniform(lower, upper, size=(512, n_in)))
    for _ in range(int(rng.integers(1, 3))):
        direction = rng.normal(size=n_out)
        reach = float((samples @ direction).max())
        threshold = reach + float(rng.normal()) * 0.05 * (1 + abs(reach))
        clauses.append(LinearConstraints(-direction[None], np.array([-threshold]), np.zeros(1, bool)))
    case = Case(InputRegion(Box(lower, upper), LinearConstraints.empty(n_in)), OutputCondition(tuple(clauses)))
    prop = Property(Variable("X", "real", (n_in,)), Variable("Y", "real", (n_out,)), (case,))
    return Model(graph, data, f"random-{seed}"), prop


def _check(seed: int, piecewise: bool = False) -> None:
    model, prop = _instance(seed, piecewise)
    (case,) = prop.cases
    objective = Objective.of(case)
    box, constraints = case.region.box, case.region.constraints
    deadline = time.monotonic() + 30
    by_milp = milp.solve(model.graph, box, constraints, objective, deadline=deadline)
    # z3 may take long on some instances; it is compared only where it decides.
    by_smt = smt.solve(model.graph, box, constraints, objective, deadline=min(deadline, time.monotonic() + 10))
    assert by_milp.outcome in (ExactOutcome.PROVED, ExactOutcome.FOUND), by_milp.reason
    if by_milp.outcome is ExactOutcome.FOUND:
        margins = objective.margins(model.graph.run(torch.tensor(by_milp.candidate[None])))
        assert float(margins.min()) <= 1e-6
    if by_smt.outcome in (ExactOutcome.PROVED, ExactOutcome.FOUND):
        assert by_smt.outcome is by_milp.outcome, (seed, by_milp.reason, by_smt.reason)
    shared = Options(timeout=3, seed=seed, split=SplitOptions(share_after=0.0))  # boxes shared by two processes
    verdicts = {
        engine: check_property(model, prop, Options(timeout=3, seed=seed, engine=engine)).status
        for engine in ("auto", "activation-split")  # auto: input split for these few inputs
    }
    verdicts["shared"] = with_threads(2, partial(check_property, model, prop, shared))[0].status
    for mode, verdict in verdicts.items():
        if verdict is Status.UNSAT:
            assert by_milp.outcome is ExactOutcome.PROVED, (seed, mode)
        if verdict is Status.SAT:
            assert by_milp.outcome is ExactOutcome.FOUND, (seed, mode)


@pytest.mark.parametrize("seed", range(6))
def test_engines_and_pipeline_agree(seed):
    _check(seed)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(6, 206))
def test_engines_and_pipeline_agree_sweep(seed):
    _check(seed)


@pytest.mark.parametrize("seed", [0, 1, 5, 6, 11, 12])  # quick for z3; both verdicts; the sweep has the rest
def test_engines_and_pipeline_agree_on_piecewise_linear_ops(seed):
    _check(seed, piecewise=True)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [*range(2, 5), *range(7, 11), *range(13, 106)])
def test_engines_and_pipeline_agree_on_piecewise_linear_ops_sweep(seed):
    _check(seed, piecewise=True)


def _near_optimum_instance(seed: int, inputs: tuple[int, int]) -> tuple[Model, Property, Status]:
    """A random network, a case near its clauses' exact optima (see the module docstring),
    and the verdict that follows from those optima."""
    rng = np.random.default_rng(seed)
    n_in, n_out = int(rng.integers(*inputs)), int(rng.integers(3, 6))
    sizes = [n_in, *(int(h) for h in rng.integers(8, 21, size=int(rng.integers(2, 4)))), n_out]
    weights = [rng.normal(size=(o, i)) / np.sqrt(i) for i, o in itertools.pairwise(sizes)]
    biases = [rng.normal(size=o) * 0.3 for o in sizes[1:]]
    data = dense_network(weights, biases).SerializeToString()
    graph = parse_onnx(data, f"random-{seed}")
    centre, radius = rng.uniform(-1, 1, n_in), rng.uniform(0.05, 0.6, n_in)
    box = Box(centre - radius, centre + radius)
    lower, upper = torch.tensor(box.lower)[None], torch.tensor(box.upper)[None]
    node_bounds = CrownBounds(graph, torch.eye(n_out, dtype=torch.float64)).analyse(lower, upper).bounds
    program = milp.RegionProgram(graph, box, LinearConstraints.empty(n_in), node_bounds)
    count = int(rng.integers(1, 4))
    short = int(rng.integers(0, count)) if rng.integers(0, 2) else -1  # the one clause reached, if any
    clauses = []
    for index in range(count):
        D = rng.normal(size=(int(rng.integers(1, 4)), n_out))
        c = rng.normal(size=D.shape[0]) * 0.3
        least = cp.Variable()  # the clause's least row margin D y - c, at its optimum
        problem = cp.Problem(cp.Maximize(least), [*program.network, D @ program.y - c >= least])
        problem.solve(solver=cp.HIGHS, time_limit=60, mip_rel_gap=0.0, mip_abs_gap=1e-9)
        assert problem.status == cp.OPTIMAL, (seed, problem.status)
        best = float(problem.value)
        relative = float(rng.choice([1e-3, 1e-2, 5e-2])) * (1 + abs(best))
        threshold = best - relative if index == short else best + relative
        clauses.append(LinearConstraints(-D, -(c + threshold), np.zeros(len(c), bool)))  # D y >= c + threshold
    case = Case(InputRegion(box, LinearConstraints.empty(n_in)), OutputCondition(tuple(clauses)))
    prop = Property(Variable("X", "real", (n_in,)), Variable("Y", "real", (n_out,)), (case,))
    return Model(graph, data, f"random-{seed}"), prop, Status.SAT if short >= 0 else Status.UNSAT


def _check_near_optimum(seed: int, inputs: tuple[int, int]) -> None:
    model, prop, truth = _near_optimum_instance(seed, inputs)
    options = Options(timeout=30, seed=seed)
    result, _ = with_threads(2, partial(check_property, model, prop, options))
    assert result.status in (truth, Status.TIMEOUT), (seed, truth, result.status, result.reason)


@pytest.mark.parametrize("seed", range(2))
@pytest.mark.parametrize("inputs", [(3, 9), (17, 31)], ids=["input-split", "relu-split"])
def test_the_pipeline_decides_near_the_optimum_as_milp_does(seed, inputs):
    _check_near_optimum(seed, inputs)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(2, 62))
@pytest.mark.parametrize("inputs", [(3, 9), (17, 31)], ids=["input-split", "relu-split"])
def test_the_pipeline_decides_near_the_optimum_as_milp_does_sweep(seed, inputs):
    _check_near_optimum(seed, inputs)
