"""The MILP engine's own behaviour: tolerances, node bounds and their tightening, the LP
relaxation's polish, and a clean stdout."""

import itertools
import os
import subprocess
import sys
import time
from functools import partial
from pathlib import Path

import highspy
import numpy as np
import pytest
import torch
from exact_cases import case, dense_graph, planted_cases, polynomial_case
from known_nets import abs_network

from bounds import import_model
from bounds.onnx_build import dense_network
from bounds.ops.base import Interval
from solvers import milp
from solvers.exact import ExactOutcome, interval_node_bounds
from solvers.falsify import polish
from solvers.objective import Objective
from solvers.options import AttackOptions
from specs.property import LinearConstraints


def _solve(graph, c, **kwargs):
    r = c.region
    return milp.solve(graph, r.box, r.constraints, Objective.of(c), deadline=time.monotonic() + 20, **kwargs)


def test_an_optimum_within_the_proof_margin_is_not_a_proof():
    graph = import_model(abs_network())
    # min |x| over [1e-8, 1] is 1e-8: |x| <= 0 is false, but only by less than the margin.
    result = _solve(graph, case([1e-8], [1.0], [([[1, 0]], [0.0])]))
    assert result.outcome is ExactOutcome.UNKNOWN and "proof margin" in result.reason
    tiny = milp.MilpOptions(proof_margin=1e-12)
    assert _solve(graph, case([1e-8], [1.0], [([[1, 0]], [0.0])]), options=tiny).outcome is ExactOutcome.PROVED


def test_stable_neurons_need_no_binaries_and_given_bounds_are_used():
    graph = import_model(abs_network())
    box = case([0.5], [1.0], [([[-1, 0]], [-2.0])]).region.box
    bounds = interval_node_bounds(graph, box)
    result = _solve(graph, case([0.5], [1.0], [([[-1, 0]], [-2.0])]), node_bounds=bounds)
    assert result.outcome is ExactOutcome.PROVED and "(0 binaries)" in result.reason
    # Infinite bounds on an unstable ReLU cannot make a big-M: unknown, not a guess.
    wide = {
        name: Interval(torch.full_like(b.lower, -torch.inf), torch.full_like(b.upper, torch.inf))
        for name, b in bounds.items()
    }
    unbounded = _solve(graph, case([0.5], [1.0], [([[-1, 0]], [-2.0])]), node_bounds=wide)
    assert unbounded.outcome is ExactOutcome.UNKNOWN and "infinite" in unbounded.reason


@pytest.mark.parametrize(
    ("side", "clause"),
    [((0.0, 1.0), ([[1.0, 0.0]], [-0.5])), ((-1.0, 0.0), ([[0.0, -1.0]], [-1.0]))],
    ids=["active", "inactive"],
)
def test_node_bounds_that_fix_a_relu_s_phase_encode_that_subdomain_exactly(side, clause):
    """A ReLU-split leaf's node bounds hold on its subdomain only. Here h = relu(x + (0,
    0.5)), y = h, x in [-1, 1], and the first neuron's input is clamped to one side. Active
    ([0, 1]): y0 = x >= 0, so y0 <= -0.5 has no point, though y0 = x reaches -1 at x = -1
    if the sign is not kept. Inactive ([-1, 0]): y1 <= 0.5, so y1 >= 1 has none, though
    y0 = 0 with y1 = 1.5 at x = 1 if it is not."""
    graph = import_model(dense_network([np.ones((2, 1)), np.eye(2)], [np.array([0.0, 0.5]), np.zeros(2)]))
    box = case([-1.0], [1.0], [clause]).region.box
    bounds = dict(interval_node_bounds(graph, box))
    name = next(node.inputs[0] for node in graph.nodes if node.op_type == "Relu")
    lower, upper = bounds[name].lower.clone(), bounds[name].upper.clone()
    lower.view(-1)[0], upper.view(-1)[0] = side  # the first neuron only
    bounds[name] = Interval(lower, upper)
    result = _solve(graph, case([-1.0], [1.0], [clause]), node_bounds=bounds)
    assert result.outcome is ExactOutcome.PROVED, result.reason


def test_tightened_bounds_hold_every_reached_value_and_leave_verdicts_as_they_were():
    """Each unstable ReLU input's side nearer zero is tightened by a MILP over the network
    before it (interval bounds are loose, so some are); the bounds still hold every value
    the network reaches on samples and corners, later tensors get the refreshed bounds, and
    the MILP's verdicts with the tightened bounds are those with the loose ones."""
    graph = dense_graph(3, [3, 16, 16, 16, 2])
    lower, upper = -np.ones(3), np.ones(3)
    relus = [node.inputs[0] for node in graph.nodes if node.op_type == "Relu"]
    some = case(lower, upper, [([[1.0, -1.0]], [0.0])])
    box, constraints = some.region.box, some.region.constraints
    loose = interval_node_bounds(graph, box)
    given: list[list[str]] = []

    def refresh(done):
        given.append(list(done))
        return {name: Interval(b.lower - 1.0, b.upper + 1.0) for name, b in loose.items()}  # looser: no effect

    deadline = time.monotonic() + 60
    tight = milp.tightened_bounds(
        graph, box, constraints, loose, deadline=deadline, refresh=refresh, tightening=milp.TighteningOptions(share=1.0)
    )
    assert given == [relus[1:2], relus[1:3]]  # after each tensor changed (the first has no binary before it)
    assert torch.equal(tight[relus[0]].lower, loose[relus[0]].lower)
    for name in relus[1:]:
        assert bool((tight[name].lower > loose[name].lower).any() or (tight[name].upper < loose[name].upper).any())
    corners = np.array(list(itertools.product(*zip(lower, upper, strict=True))))
    x = np.concatenate([np.random.default_rng(0).uniform(lower, upper, (20000, 3)), corners])
    values = graph.evaluate({graph.input.name: torch.tensor(x).reshape(len(x), 1, 3)})
    for name, bounds in tight.items():
        v = values[name].reshape(len(x), -1)
        assert bool((v >= bounds.lower.reshape(1, -1)).all() and (v <= bounds.upper.reshape(1, -1)).all()), name
    for planted in planted_cases(graph, lower, upper):
        objective = Objective.of(planted)
        verdicts = [
            milp.solve(graph, box, constraints, objective, deadline=deadline, node_bounds=bounds).outcome
            for bounds in (loose, tight)
        ]
        assert verdicts[0] is verdicts[1] and verdicts[0] in (ExactOutcome.PROVED, ExactOutcome.FOUND)


class _InProcessAssistant:
    """An assistant (``solvers.exact.Assistant``) that does its share at once, here: ready
    for work once every ``every`` readiness checks, so that it is given a tensor's
    remaining neurons at different points."""

    def __init__(self, graph, box, constraints, every: int) -> None:
        self.graph, self.box, self.constraints, self.every = graph, box, constraints, every
        self.checks, self.given, self._leasts = 0, [], None

    def ready(self) -> bool:
        self.checks += 1
        return self._leasts is None and self.checks % self.every == 0

    def give(self, work) -> None:
        self.given.append(work)
        self._leasts = milp.near_sides(self.graph, self.box, self.constraints, work)

    def results(self, until: float):
        leasts, self._leasts = self._leasts, None
        return leasts


def test_an_assistant_bounds_its_share_of_each_tensor_to_the_same_bounds():
    """Given an assistant, ``tightened_bounds`` hands it every other neuron still to bound
    in a tensor, once per tensor, and takes its bounds: the result is the bounds it finds
    alone (each neuron's MILP is the same program, whoever solves it)."""
    graph = dense_graph(7, [3, 10, 10, 10, 2])
    some = case(-np.ones(3), np.ones(3), [([[1.0, -1.0]], [0.0])])
    box, constraints = some.region.box, some.region.constraints
    loose = interval_node_bounds(graph, box)
    options = milp.TighteningOptions(share=1.0)
    alone = milp.tightened_bounds(graph, box, constraints, loose, deadline=time.monotonic() + 60, tightening=options)
    for every in (1, 3):
        assistant = _InProcessAssistant(graph, box, constraints, every)
        shared = milp.tightened_bounds(
            graph, box, constraints, loose, deadline=time.monotonic() + 60, tightening=options, assistant=assistant
        )
        assert [work.tensor for work in assistant.given] == list(dict.fromkeys(w.tensor for w in assistant.given))
        assert len(assistant.given) == 2 and all(len(work.neurons) >= 1 for work in assistant.given)
        for name in alone:
            assert torch.allclose(shared[name].lower, alone[name].lower, rtol=0, atol=1e-9), (every, name)
            assert torch.allclose(shared[name].upper, alone[name].upper, rtol=0, atol=1e-9), (every, name)


def test_input_constraints_tighten_the_first_tensor_by_lp_and_bounds_hold_on_the_region():
    """Before any binary, a tensor's program is an LP, worth solving only when linear input
    rows cut the box: the first ReLU input's near sides are tightened by it, and every value
    reached on sampled points of the region lies inside the bounds."""
    graph = dense_graph(5, [2, 12, 12, 2])
    first = next(node.inputs[0] for node in graph.nodes if node.op_type == "Relu")
    rows = LinearConstraints(np.array([[1.0, 1.0]]), np.array([-1.0]), np.zeros(1, bool))  # x0 + x1 <= -1
    cut = case([-1.0, -1.0], [1.0, 1.0], [([[1.0, -1.0]], [0.0])], constraints=rows)
    box = cut.region.box
    loose = interval_node_bounds(graph, box)
    tight = milp.tightened_bounds(
        graph, box, rows, loose, deadline=time.monotonic() + 60, tightening=milp.TighteningOptions(share=1.0)
    )
    assert bool((tight[first].lower > loose[first].lower).any() or (tight[first].upper < loose[first].upper).any())
    x = np.random.default_rng(0).uniform(-1.0, 1.0, (40000, 2))
    x = np.concatenate([x[x.sum(axis=1) <= -1.0], [[-1.0, -1.0], [-1.0, 0.0], [0.0, -1.0]]])
    values = graph.evaluate({graph.input.name: torch.tensor(x).reshape(len(x), 1, 2)})
    for name, bounds in tight.items():
        v = values[name].reshape(len(x), -1)
        assert bool((v >= bounds.lower.reshape(1, -1)).all() and (v <= bounds.upper.reshape(1, -1)).all()), name


def test_highs_banner_stays_off_stdout_and_stderr():
    code = (
        "import time, numpy as np; from known_nets import abs_network; from bounds import import_model;"
        "from exact_cases import case; from solvers import milp; from solvers.objective import Objective;"
        "c = case([-1.0], [1.0], [([[-1, 0]], [-0.9])]);"
        "r = milp.solve(import_model(abs_network()), c.region.box, c.region.constraints, Objective.of(c),"
        " deadline=time.monotonic() + 20); print(r.outcome.value)"
    )
    here = Path(__file__).resolve().parent
    env_path = f"{here}{':'}{here.parent}{':'}{here.parents[1]}"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env={"PYTHONPATH": env_path}, check=True
    )
    assert out.stdout == "found\n" and "HiGHS" not in out.stderr


def test_whether_the_engine_encodes_a_graph_is_known_without_importing_cvxpy():
    here = Path(__file__).resolve().parent
    code = (
        "import sys, numpy as np; from bounds import import_model; from bounds.onnx_build import dense_network;"
        "import solvers.activation_split, solvers.input_split; from solvers.milp_encoders import encodes;"
        "w, b = [np.ones((1, 1))] * 2, [np.zeros(1)] * 2;"
        "print(encodes(import_model(dense_network(w, b))),"
        " encodes(import_model(dense_network(w, b, activation='Sigmoid'))), 'cvxpy' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(here.parents[1])},
        check=True,
    )
    assert out.stdout == "True False False\n"


def _corner_network():
    """y = relu(x0 + x1 + x2 - 2.5) over [0, 1]^3: zero, and flat, but near the corner (1, 1, 1)."""
    return import_model(dense_network([np.ones((1, 3)), np.ones((1, 1))], [np.array([-2.5]), np.zeros(1)]))


@pytest.mark.parametrize("interior_point", [False, True])
def test_the_lp_relaxation_s_minimiser_is_polished_before_the_milp(interior_point):
    graph = _corner_network()
    method = milp.MilpOptions(interior_point_binaries=0 if interior_point else 10**9)
    over = case([0.0] * 3, [1.0] * 3, [([[-1]], [-0.3])])  # y >= 0.3: only near the corner
    objective = Objective.of(over)
    lower, upper = (torch.tensor(b, dtype=torch.float64) for b in (over.region.box.lower, over.region.box.upper))
    polisher = partial(polish, graph, objective, lower, upper, AttackOptions(steps=20, step_fractions=(0.05, 0.25)))
    assert polisher(np.full(3, 0.5)) is None  # from the centre PGD finds no slope to follow
    seen: list[np.ndarray] = []

    def recorded(point: np.ndarray) -> np.ndarray | None:
        seen.append(point)
        return polisher(point)

    result = _solve(graph, over, polish=recorded, options=method)
    # The relaxation's only minimiser: the triangle's upper side is largest at the largest sum.
    assert len(seen) == 1 and np.allclose(seen[0], 1.0)
    assert result.outcome is ExactOutcome.FOUND and "LP relaxation" in result.reason
    assert float(graph.run_numpy(result.candidate[None])[0, 0]) >= 0.3

    def refused(point: np.ndarray) -> None:
        seen.append(point)

    never = case([0.0] * 3, [1.0] * 3, [([[-1]], [-0.6])])  # y <= 0.5 everywhere
    assert _solve(graph, never, polish=refused).outcome is ExactOutcome.PROVED and len(seen) == 2
    found = _solve(graph, over, polish=refused)
    assert found.outcome is ExactOutcome.FOUND and "LP relaxation" not in found.reason  # the MILP's own
    stable = case([0.9] * 3, [1.0] * 3, [([[-1]], [-0.3])])  # active throughout: an LP, nothing to polish
    assert _solve(graph, stable, polish=refused).outcome is ExactOutcome.FOUND and len(seen) == 3


def test_polynomial_rows_are_not_encoded():
    graph = import_model(abs_network())
    result = _solve(graph, polynomial_case([-1.0], [1.0], 2, [([], [], [((((0, 1), -1.0),), -0.3, False)])]))
    assert result.outcome is ExactOutcome.UNKNOWN and "polynomial" in result.reason


def _threads() -> set[str]:
    """This process's threads (their ids)."""
    return set(os.listdir("/proc/self/task"))


def test_a_fork_comes_after_highs_joined_its_workers_and_the_child_solves():
    """A fork copies HiGHS's worker pool and the workers' locks but not the workers: a worker
    caught holding a lock left the child hanging in its first solve (a forked test hung so in
    CI). The workers are joined before every fork; parent and child then solve as before."""
    graph = import_model(abs_network())
    violated = case([-1.0], [1.0], [([[-1, 0]], [-0.9])])
    highspy.Highs.resetGlobalScheduler(True)
    before = _threads()
    highs = highspy.Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("threads", 2)
    highs.run()  # a pool of two: this thread and one worker
    worker = _threads() - before
    assert len(worker) == 1
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = 0 if _solve(graph, violated).outcome is ExactOutcome.FOUND else 2
        finally:
            os._exit(code)
    done = (0, 0)
    try:
        assert not worker & _threads()
        deadline = time.monotonic() + 60
        while (done := os.waitpid(pid, os.WNOHANG))[0] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert done[0] == pid and os.waitstatus_to_exitcode(done[1]) == 0, "the forked child did not solve"
        assert _solve(graph, violated).outcome is ExactOutcome.FOUND
    finally:
        if done[0] == 0:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
