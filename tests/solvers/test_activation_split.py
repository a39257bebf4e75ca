"""ReLU-split branch and bound: beta-CROWN bounds are sound on their subdomains, and the
search proves what plain bounds cannot and finds planted violations."""

from __future__ import annotations

import math
import time
from functools import partial
from types import SimpleNamespace

import numpy as np
import onnx
import pytest
import torch
from exact_cases import dense_graph, planted_cases, polynomial_case, two_clause_case
from hypothesis import given, settings
from hypothesis import strategies as st
from in_fork import with_threads
from known_nets import shared_or_skip

from bounds import import_model
from bounds.crown import CrownBounds, Parameters
from bounds.ops.base import Interval
from solvers import milp
from solvers.activation_split import (
    _Batch,
    _Choice,
    _exact_beside,
    _joins,
    _Progress,
    _separated,
    activation_split_search,
)
from solvers.beside import MilpBeside
from solvers.exact import ExactOutcome
from solvers.falsify import polish
from solvers.input_split import Outcome, SearchStats
from solvers.objective import Objective
from solvers.options import ActivationSplitOptions, AttackOptions
from specs.property import Box, Case, InputRegion, LinearConstraints, OutputCondition
from specs.read import read_property


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31), width=st.integers(2, 6), radius=st.sampled_from([0.3, 1.0]))
def test_split_bounds_with_beta_hold_on_the_subdomain(seed, width, radius):
    graph = dense_graph(seed, [3, width, width, 2])
    rng = np.random.default_rng(seed)
    C = torch.as_tensor(rng.normal(size=(2, 2)))
    crown = CrownBounds(graph, C)
    lower, upper = torch.full((1, 3), -radius, dtype=torch.float64), torch.full((1, 3), radius, dtype=torch.float64)
    root = crown.analyse(lower, upper)
    relu_inputs = [n.inputs[0] for n in graph.nodes if n.op_type == "Relu"]
    signs = {name: torch.as_tensor(rng.integers(-1, 2, size=(1, width)), dtype=torch.int8) for name in relu_inputs}
    clamps = {
        name: Interval(
            torch.where(s > 0, 0.0, -torch.inf).to(torch.float64), torch.where(s < 0, 0.0, torch.inf).to(torch.float64)
        )
        for name, s in signs.items()
    }
    analysis = crown.restrict(root, clamps)
    bound, _ = crown.optimise(analysis, steps=10, splits=signs)
    # any parameters are safe to start from (a parent domain's, here arbitrary ones)
    _, ended = crown.optimise(analysis, steps=1, splits=signs)
    noise = torch.Generator().manual_seed(seed)
    start = Parameters(
        {n: a + 3 * torch.randn(a.shape, generator=noise, dtype=a.dtype) for n, a in ended.alphas.items()},
        {n: b + torch.randn(b.shape, generator=noise, dtype=b.dtype) for n, b in ended.betas.items()},
    )
    warm, _ = crown.optimise(analysis, steps=3, splits=signs, start=start)
    x = lower + (upper - lower) * torch.rand(20000, 3, dtype=torch.float64)
    values = graph.evaluate({graph.input.name: x.reshape(-1, *graph.input.shape)})
    inside = torch.ones(len(x), dtype=torch.bool)
    for name, s in signs.items():
        z = values[name].reshape(len(x), -1)
        inside &= ((s.to(torch.float64) * z) >= 0).all(dim=1)
    outputs = values[graph.output.name].reshape(len(x), -1)[inside] @ C.T
    if bool(analysis.empty.all()):
        assert bool(torch.isinf(bound).all()) and bool(torch.isinf(warm).all())
    else:
        assert torch.all(outputs >= bound[0] - 1e-9)
        assert torch.all(outputs >= warm[0] - 1e-9)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    width=st.integers(2, 6),
    settled=st.integers(0, 2),
    slopes=st.sampled_from(["crown", "root", "arbitrary"]),
    lopsided=st.sampled_from([math.inf, 3.0, 1.0]),
    some_rows=st.booleans(),
)
def test_a_domains_refined_bounds_hold_on_it(seed, width, settled, slopes, lopsided, some_rows):
    """As the search bounds a domain: its parent's node bounds met with its split clamps,
    refined by CROWN except in the tensors ``settled`` (before its newest split), with
    CROWN's adaptive slopes, the alpha-optimised root's, or arbitrary ones (out of range
    too: they are clamped), both sides of each unstable neuron or only the near one where
    ``lopsided``; alpha/beta on every row or on ``some_rows``. Every tensor's bounds and
    the final bound hold at sampled points of the domain."""
    graph = dense_graph(seed, [3, width, width, width, 2])
    rng = np.random.default_rng(seed)
    C = torch.as_tensor(rng.normal(size=(2, 2)))
    crown = CrownBounds(graph, C)
    lower, upper = torch.full((1, 3), -1.0, dtype=torch.float64), torch.full((1, 3), 1.0, dtype=torch.float64)
    parent = crown.analyse(lower, upper, alpha_steps=0 if slopes == "crown" else 3)
    given_slopes = parent.slopes
    if slopes == "arbitrary":
        given_slopes = {
            name: {node: torch.as_tensor(rng.uniform(-1, 2, size=s.shape)) for node, s in per_node.items()}
            for name, per_node in parent.slopes.items()
        }
    relu_inputs = [n.inputs[0] for n in graph.nodes if n.op_type == "Relu"]
    # split some neurons to the side a random point of the box takes, so the domain holds it
    anchor = torch.as_tensor(rng.uniform(-1, 1, size=(1, 3)))
    at_anchor = graph.evaluate({graph.input.name: anchor.reshape(-1, *graph.input.shape)})
    signs = {
        name: (torch.sign(at_anchor[name].reshape(1, -1)) * torch.as_tensor(rng.integers(0, 2, size=(1, width)))).to(
            torch.int8
        )
        for name in relu_inputs
    }
    clamps = {
        name: Interval(
            torch.where(s > 0, 0.0, -torch.inf).to(torch.float64), torch.where(s < 0, 0.0, torch.inf).to(torch.float64)
        )
        for name, s in signs.items()
    }
    merged = {
        name: parent.bounds[name].intersect(clamps[name]) if name in crown.refined else clamps[name]
        for name in relu_inputs
    }
    analysis = crown.analyse(
        lower, upper, merged, settled=relu_inputs[:settled], slopes=given_slopes, lopsided=lopsided
    )
    bound = crown.final(analysis)
    rows = torch.as_tensor(rng.integers(0, 2, size=(1, 2)), dtype=torch.bool)
    needed = (lambda b: rows.clone()) if some_rows else None
    optimised, _ = crown.optimise(analysis, steps=5, splits=signs, needed=needed)
    noise = torch.rand(20000, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    x = torch.cat([anchor, lower + (upper - lower) * noise])
    values = graph.evaluate({graph.input.name: x.reshape(-1, *graph.input.shape)})
    inside = torch.ones(len(x), dtype=torch.bool)
    for name, s in signs.items():
        inside &= ((s.to(torch.float64) * values[name].reshape(len(x), -1)) >= 0).all(dim=1)
    assert not bool(analysis.empty.any()) and bool(inside.any())
    for name, value in analysis.bounds.items():
        z = values[name].reshape(len(x), -1)[inside]
        assert torch.all(z >= value.lower[0] - 1e-9) and torch.all(z <= value.upper[0] + 1e-9), name
    outputs = values[graph.output.name].reshape(len(x), -1)[inside] @ C.T
    assert torch.all(outputs >= bound[0] - 1e-9) and torch.all(outputs >= optimised[0] - 1e-9)


def _case(lower, upper, direction, threshold) -> Case:
    """Violation: ``direction @ y >= threshold``."""
    n = len(lower)
    clause = LinearConstraints(-np.asarray(direction, float)[None], np.array([-threshold]), np.zeros(1, bool))
    return Case(
        InputRegion(Box(np.asarray(lower), np.asarray(upper)), LinearConstraints.empty(n)), OutputCondition((clause,))
    )


@pytest.mark.parametrize("refine", [True, False])
def test_search_decides_between_the_sampled_peak_and_the_root_bound_as_milp_does(refine):
    graph = dense_graph(11, [4, 12, 12, 1])
    lower, upper = -np.ones(4), np.ones(4)
    samples = graph.run_numpy(np.random.default_rng(0).uniform(lower, upper, size=(20000, 4)))
    peak = float(samples.max())
    root = -float(
        CrownBounds(graph, torch.tensor([[-1.0]], dtype=torch.float64))(
            torch.tensor(lower)[None], torch.tensor(upper)[None]
        )[0, 0]
    )
    assert root > peak + 0.05, "bounds alone should not decide this instance"

    def confirm(point: np.ndarray) -> bool:  # the found point must really violate
        return bool(graph.run_numpy(point[None])[0, 0] >= threshold)

    options = ActivationSplitOptions(batch=16, refine=refine)
    threshold = root + 1e-3
    above = activation_split_search(
        graph, _case(lower, upper, [1.0], threshold), confirm, deadline=time.monotonic() + 60, options=options
    )
    assert above.outcome is Outcome.PROVED and above.stats.splits == 0
    for threshold in (peak - 0.05, peak + 0.5 * (root - peak)):
        case = _case(lower, upper, [1.0], threshold)
        found = activation_split_search(graph, case, confirm, deadline=time.monotonic() + 120, options=options)
        truth = milp.solve(
            graph, case.region.box, case.region.constraints, Objective.of(case), deadline=time.monotonic() + 120
        )
        expected = {ExactOutcome.PROVED: Outcome.PROVED, ExactOutcome.FOUND: Outcome.FOUND}[truth.outcome]
        assert found.outcome is expected, (threshold, truth.reason)


@pytest.mark.shared
def test_violations_at_corners_the_network_is_flat_around_are_found_by_branching():
    # MNIST-FC 256x2 prop_0 eps 0.05: PGD from random starts and from CROWN's minimising
    # corners stalls there; branching alone (no MILP) had no counterexample after 120 s.
    # The optimised bounds' minimising corners lie near the LP relaxation's minimisers.
    graph = import_model(onnx.load(shared_or_skip("mnistfc", "mnist-net_256x2.onnx")))
    (case,) = read_property(shared_or_skip("mnistfc", "prop_0_0.05.vnnlib")).cases
    objective = Objective.of(case)

    def confirm(point: np.ndarray) -> bool:
        return bool(objective.satisfied(graph.run(torch.as_tensor(point)[None]))[0])

    branching_alone = ActivationSplitOptions(exact_share=1.0, exact_beside_after=None)
    found = activation_split_search(graph, case, confirm, deadline=time.monotonic() + 60, options=branching_alone)
    point = found.counterexample
    assert found.outcome is Outcome.FOUND and point is not None
    assert confirm(point) and case.region.box.contains(point)


def test_polynomial_rows_are_refused() -> None:
    graph = dense_graph(0, [2, 4, 2])
    case = polynomial_case([-1.0, -1.0], [1.0, 1.0], 2, [([], [], [((((0, 1), 1.0),), 0.0, False)])])
    with pytest.raises(ValueError, match="linear output constraints only"):
        activation_split_search(graph, case, lambda _: False, deadline=time.monotonic() + 5)


@pytest.mark.parametrize(
    ("mode", "options"),
    [
        ("hand-over", ActivationSplitOptions(batch=16, exact_share=0.0, exact_beside_after=None)),
        ("beside", ActivationSplitOptions(batch=16, exact_share=1.0, exact_beside_after=0.0)),
        ("alone", ActivationSplitOptions(batch=16, exact_share=1.0, exact_beside_after=None)),
        ("joined", ActivationSplitOptions(batch=16, exact_share=1.0, exact_beside_after=0.0, exact_join_share=0.0)),
        ("stalled", ActivationSplitOptions(batch=16, exact_share=1.0, exact_beside_after=0.0, stall_window=0.0)),
    ],
)
def test_the_exact_modes_decide_as_the_milp_engine_alone(mode, options):
    """The MILP handed every clause at once (big-M from the root's alpha bounds), the MILP
    in a process beside the search (on one of two torch threads, given back after; joined
    at once, or whenever the branching's pace over no window at all looks stalled), or
    branch and bound alone: each gives the MILP engine's verdict alone (interval big-M),
    with one clause violated or none."""
    graph = dense_graph(7, [4, 12, 12, 2])
    for case in planted_cases(graph, -np.ones(4), np.ones(4)):
        objective = Objective.of(case)

        def confirm(point: np.ndarray, objective=objective) -> bool:
            return bool(objective.satisfied(torch.as_tensor(graph.run_numpy(point[None]))).all())

        found, threads = with_threads(
            2,
            partial(activation_split_search, graph, case, confirm, deadline=time.monotonic() + 120, options=options),
        )
        assert threads == 2
        region = case.region
        truth = milp.solve(graph, region.box, region.constraints, objective, deadline=time.monotonic() + 120)
        expected = {ExactOutcome.PROVED: Outcome.PROVED, ExactOutcome.FOUND: Outcome.FOUND}[truth.outcome]
        assert found.outcome is expected, truth.reason
        if mode == "hand-over":
            assert found.by_milp == (expected is Outcome.FOUND)
            assert found.stats.milp_clauses == (2 if expected is Outcome.PROVED else 0)
        if mode == "alone":
            assert not found.by_milp and found.stats.milp_clauses == 0


def test_the_search_joining_the_milp_beside_decides_as_the_milp_engine_alone():
    """At the join this process decides clauses from the end of the child's order while the
    child goes on from its start: together they give the MILP engine's verdict, and a proof
    needs every clause proved by one of them."""
    graph = dense_graph(7, [4, 12, 12, 2])
    lower, upper = torch.tensor(-np.ones(4))[None], torch.tensor(np.ones(4))[None]
    for case in planted_cases(graph, -np.ones(4), np.ones(4)):
        objective = Objective.of(case)

        def confirm(point: np.ndarray, objective=objective) -> bool:
            return bool(objective.satisfied(torch.as_tensor(graph.run_numpy(point[None]))).all())

        node_bounds = CrownBounds(graph, objective.C).analyse(lower, upper, alpha_steps=5).bounds
        stack = [_Batch({}, 1, 0, torch.full((1, len(objective.d)), -torch.inf, dtype=torch.float64))]
        deadline = time.monotonic() + 120
        polisher = partial(polish, graph, objective, lower[0], upper[0], AttackOptions())
        beside = MilpBeside(graph, case, objective, node_bounds, list(range(objective.clauses)), deadline, polisher)
        stats = SearchStats()
        try:
            found = _exact_beside(
                graph, case, objective, node_bounds, stack, False, beside, confirm, deadline, stats, polisher
            )
        finally:
            beside.stop()
        region = case.region
        truth = milp.solve(graph, region.box, region.constraints, objective, deadline=time.monotonic() + 120)
        expected = {ExactOutcome.PROVED: Outcome.PROVED, ExactOutcome.FOUND: Outcome.FOUND}[truth.outcome]
        assert found.outcome is expected, truth.reason
        assert found.by_milp == (expected is Outcome.FOUND)
        if expected is Outcome.PROVED:
            assert stats.milp_clauses + beside.proved == objective.clauses  # each clause counted once


def test_the_milp_engine_decides_only_the_clauses_it_is_given():
    """A caller that refuted a clause itself leaves it out: PROVED then covers the rest."""
    graph = dense_graph(5, [4, 10, 10, 2])
    lower, upper = -np.ones(4), np.ones(4)
    peaks = graph.run_numpy(np.random.default_rng(1).uniform(lower, upper, size=(20000, 4))).max(axis=0)
    case = two_clause_case(lower, upper, [peaks[0] - 0.05, peaks[1] + 2.0])
    args = (graph, case.region.box, case.region.constraints, Objective.of(case))
    assert milp.solve(*args, deadline=time.monotonic() + 60).outcome is ExactOutcome.FOUND
    assert milp.solve(*args, deadline=time.monotonic() + 60, clauses=[0]).outcome is ExactOutcome.FOUND
    assert milp.solve(*args, deadline=time.monotonic() + 60, clauses=[1]).outcome is ExactOutcome.PROVED


def test_batches_shrink_where_a_full_one_would_end_past_the_deadline():
    """The previous batch's pace (2 domains a second) leaves room for 3 domains in 1.5 s."""
    from solvers.activation_split import _batch_size

    assert _batch_size(64, None, 10.0, 11.5) == 64
    assert _batch_size(64, (9.0, 2), 10.0, 11.5) == 3
    assert _batch_size(64, (9.0, 2), 10.0, 100.0) == 64
    assert _batch_size(64, (9.0, 2), 11.6, 11.5) == 1  # past the deadline: the caller stops first


def test_clauses_the_joint_split_serves_badly_go_on_in_copies_of_their_own():
    """Three one-row clauses (violated when ``y_i >= 0``) on two domains: a clause whose
    share of the joint choice is below the threshold leaves for a copy split its own way,
    a refuted one never leaves, and a domain no clause stays with is dropped."""
    clauses = tuple(LinearConstraints(-np.eye(3)[i : i + 1], np.zeros(1), np.zeros(1, bool)) for i in range(3))
    box = Box(np.zeros(1), np.ones(1))
    objective = Objective.of(Case(InputRegion(box, LinearConstraints.empty(1)), OutputCondition(clauses)))
    inf = torch.inf
    floor = torch.tensor([[-1.0, -1.0, -1.0], [-1.0, -1.0, 5.0], [-1.0, -1.0, inf]], dtype=torch.float64)
    batch = _Batch({"a": torch.zeros(3, 4, dtype=torch.int8)}, 3, 2, floor)
    choice = _Choice(
        tensor=torch.tensor([0, 0, 0]),
        neuron=torch.tensor([1, 2, 3]),
        own_tensor=torch.zeros(3, 3, dtype=torch.int64),
        own_neuron=torch.tensor([[1, 3, 0], [2, 2, 1], [0, 1, 2]]),
        share=torch.tensor([[1.0, 0.01, 0.02], [1.0, 0.01, 0.0], [0.01, 0.02, 1.0]], dtype=torch.float64),
    )
    out, origin, tensor, neuron = _separated(objective, batch, choice, 0.05)
    assert origin.tolist() == [0, 1, 0, 0, 1, 2, 2]
    assert tensor.tolist() == [0] * 7
    assert neuron.tolist() == [1, 2, 3, 0, 2, 0, 1]
    expected = [
        [-1.0, inf, inf],  # domain 0 keeps clause 0
        [-1.0, inf, 5.0],  # domain 1 keeps clause 0; clause 2 was refuted there already
        [inf, -1.0, inf],  # domain 0's clause 1, split on its own neuron 3
        [inf, inf, -1.0],  # domain 0's clause 2, on neuron 0
        [inf, -1.0, inf],  # domain 1's clause 1
        [-1.0, inf, inf],  # domain 2's clauses 0 and 1: both left it, so it is dropped
        [inf, -1.0, inf],
    ]
    assert out.floor.tolist() == expected and out.count == 7 and out.depth == 2
    same, origin, tensor, neuron = _separated(objective, batch, choice, 0.0)
    assert origin.tolist() == [0, 1, 2] and neuron.tolist() == [1, 2, 3] and torch.equal(same.floor, floor)


def test_branching_is_stalled_when_its_pace_leaves_open_share_at_the_deadline():
    """Two clauses; the open share falls from 1 to 0.5 in the window's 10 s (0.05 a
    second): enough for a deadline 10 s later, not for one 5 s later. A clause the MILP
    closed is left out of the pace, and nothing is judged before a window has passed."""
    objective = Objective.of(two_clause_case(-np.ones(2), np.ones(2), [0.0, 0.0]))

    def pending(depth: int, floors: list[list[float]]) -> list[_Batch]:
        return [_Batch({}, len(floors), depth, torch.tensor(floors, dtype=torch.float64))]

    both_open, first_open = [-math.inf, -math.inf], [-math.inf, math.inf]
    converging = _Progress(10.0)
    converging.record(0.0, objective, pending(0, [both_open]))
    converging.record(5.0, objective, pending(1, [both_open, both_open]))
    assert not converging.stalled(100.0, torch.zeros(2, dtype=torch.bool))  # within the first window
    converging.record(10.0, objective, pending(1, [both_open]))
    open_ = torch.zeros(2, dtype=torch.bool)
    assert not converging.stalled(20.0, open_)
    assert converging.stalled(15.0, open_)

    split = _Progress(10.0)  # clause 1 closes in the 10 s, clause 0 not at all
    split.record(0.0, objective, pending(0, [both_open]))
    split.record(10.0, objective, pending(0, [first_open]))
    assert not split.stalled(100.0, open_)  # the pace of both clauses together
    assert split.stalled(100.0, torch.tensor([False, True]))  # clause 1 closed by the MILP: clause 0's pace
    assert not split.stalled(100.0, torch.tensor([True, False]))  # nothing left open


@pytest.mark.parametrize(
    ("proved", "tightening", "late", "stalled", "joins"),
    [
        (0, False, True, True, False),  # nothing from the MILP yet: branching goes on
        (1, True, True, False, True),  # late, and the MILP proves clauses
        (0, True, True, False, False),  # late, but the MILP has proved nothing
        (1, True, False, True, True),  # stalled, and the MILP proves clauses
        (0, True, False, True, True),  # stalled, and the MILP tightens: assist it
        (1, True, False, False, False),  # branching still closes its share in time
    ],
)
def test_the_search_joins_the_milp_when_late_or_stalled(proved, tightening, late, stalled, joins):
    beside = SimpleNamespace(proved=proved, tightening=tightening)
    assert _joins(beside, late, stalled) is joins
