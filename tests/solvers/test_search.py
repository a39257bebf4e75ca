"""Falsification and input-split search on a network with known answers (tests/conftest.py)."""

import math
import multiprocessing
import os
import time
from functools import partial

import numpy as np
import pytest
import torch
from exact_cases import dense_graph, planted_cases, two_clause_case
from in_fork import with_threads
from known_nets import abs_network

from bounds import import_model
from bounds.float_error import output_error
from bounds.onnx_build import dense_network
from solvers import milp
from solvers.bounders import Bounded, make_bounder, make_influence
from solvers.exact import ExactOutcome
from solvers.falsify import descend, falsify
from solvers.input_split import Outcome, input_split_search
from solvers.objective import Objective
from solvers.options import AttackOptions, SplitOptions
from specs.property import Box, Case, InputRegion, LinearConstraints, OutputCondition


@pytest.fixture(scope="module")
def graph():
    return import_model(abs_network())


def _case(lo, hi, A, b, strict=False):
    clause = LinearConstraints(np.asarray(A, float), np.asarray(b, float), np.full(len(b), strict))
    return Case(InputRegion(Box([lo], [hi]), LinearConstraints.empty(1)), OutputCondition((clause,)))


def _search(graph, case, confirm, method="interval", **kwargs):
    objective = Objective.of(case)
    bounder, influence = make_bounder(graph, objective, method), make_influence(graph, objective, method)
    return input_split_search(graph, case, confirm, bounder=bounder, influence=influence, **kwargs)


def _exact(graph, case):
    """A confirm callback that checks the case on the graph itself (float64)."""
    return lambda x: case.condition.holds(graph.run_numpy(np.asarray(x)[None])[0]) and case.region.contains(x)


@pytest.mark.parametrize("method", ["interval", "crown"])
def test_proves_upper_bound_of_abs(graph, method):
    case = _case(-1, 1, [[0, 1]], [-1e-3])  # violation: 1 - |x| <= -0.001 (impossible on [-1, 1])
    result = _search(graph, case, _exact(graph, case), method, deadline=time.monotonic() + 30)
    assert result.outcome is Outcome.PROVED
    if method == "interval":
        assert result.stats.splits > 0  # interval bounds cannot prove it at the root (CROWN can)


@pytest.mark.parametrize("method", ["interval", "crown"])
def test_boxes_outside_the_input_constraints_are_dropped(method):
    """y = relu(x0 + x1) over [-1, 1]^2 with x0 + x1 <= 0: y >= 0.5 holds nowhere in the
    region, but everywhere in the box's corner beyond x0 + x1 = 0.5, whose bounds can
    never refute it. Those boxes are dropped, so the search proves it."""
    graph = import_model(dense_network([np.ones((1, 2)), np.ones((1, 1))], [np.zeros(1), np.zeros(1)]))
    clause = LinearConstraints(np.array([[-1.0]]), np.array([-0.5]), np.zeros(1, bool))
    region = InputRegion(
        Box([-1.0, -1.0], [1.0, 1.0]), LinearConstraints(np.ones((1, 2)), np.zeros(1), np.zeros(1, bool))
    )
    case = Case(region, OutputCondition((clause,)))
    result = _search(graph, case, _exact(graph, case), method, deadline=time.monotonic() + 20)
    assert result.outcome is Outcome.PROVED


@pytest.mark.parametrize("seed", range(5))
def test_a_dropped_box_holds_no_point_of_the_region(seed):
    """Random boxes inside a root box cut by random rows ``A x <= b``: no point sampled in
    a box the search drops meets every row, and some boxes are dropped."""
    from solvers.input_split import _Boxes, _Search

    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 6))
    A = rng.normal(size=(int(rng.integers(1, 4)), n))
    b = rng.normal(size=A.shape[0])
    region = InputRegion(Box(-np.ones(n), np.ones(n)), LinearConstraints(A, b, np.zeros(len(b), bool)))
    case = Case(region, OutputCondition((LinearConstraints(np.ones((1, 1)), np.zeros(1), np.zeros(1, bool)),)))
    search = _Search(
        None, case, Objective.of(case), torch.full((1, n), 2.0), math.inf, SplitOptions(), None, None, None
    )
    corners = rng.uniform(-1, 1, size=(2, 400, n))
    lower, upper = torch.tensor(corners.min(axis=0)), torch.tensor(corners.max(axis=0))
    unknown = Bounded(torch.zeros(400, 1, dtype=torch.float64), {})
    dropped = search._outside_region(_Boxes(lower, upper, unknown, 0))
    assert bool(dropped.any())
    for box in torch.nonzero(dropped).flatten().tolist():
        points = rng.uniform(lower[box].numpy(), upper[box].numpy(), size=(200, n))
        points = np.vstack([points, lower[box].numpy(), upper[box].numpy()])
        assert not (points @ A.T <= b).all(axis=1).any()


@pytest.mark.parametrize("method", ["interval", "crown"])
def test_finds_violation_by_search(graph, method):
    case = _case(-1, 1, [[1, 0]], [1e-4])  # |x| <= 1e-4: only near zero
    result = _search(graph, case, _exact(graph, case), method, deadline=time.monotonic() + 30)
    assert result.outcome is Outcome.FOUND
    assert abs(result.counterexample[0]) <= 1e-4


def test_strict_violation_at_a_single_point_is_exhausted_not_proved(graph):
    # |x| <= 0 holds only at x = 0 exactly; make the box so its centres never hit 0 exactly
    case = _case(-0.3, 1.0, [[1, 0]], [0.0])
    opts = SplitOptions(min_width=1e-3)
    result = _search(graph, case, lambda x: False, deadline=time.monotonic() + 30, options=opts)
    assert result.outcome is Outcome.EXHAUSTED  # never PROVED: a violation exists


def test_timeout_is_reported(graph):
    case = _case(-1, 1, [[1, 0]], [-1e-3])
    result = _search(graph, case, lambda x: False, deadline=time.monotonic() - 1)
    assert result.outcome is Outcome.TIMEOUT


def test_falsify_finds_boundary_violation(graph):
    case = _case(-1, 1, [[-1, 0]], [-0.99])  # |x| >= 0.99: near the box corners
    x = falsify(graph, case, _exact(graph, case), options=AttackOptions(samples=16), deadline=time.monotonic() + 10)
    assert x is not None and abs(x[0]) >= 0.99


def test_falsify_returns_none_when_nothing_is_confirmed(graph):
    case = _case(-1, 1, [[-1, 0]], [-0.5])
    x = falsify(
        graph, case, lambda _: False, options=AttackOptions(samples=16, steps=5), deadline=time.monotonic() + 10
    )
    assert x is None


def test_restarts_take_the_step_fractions_in_turn(graph):
    objective = Objective.of(_case(-1, 1, [[-1, 0]], [-0.99]))  # |x| >= 0.99: at the box's ends
    starts = torch.full((4, 1), 0.2, dtype=torch.float64)
    lower, upper = torch.tensor([-1.0], dtype=torch.float64), torch.tensor([1.0], dtype=torch.float64)

    def one_step(fractions):
        options = AttackOptions(step_fractions=fractions)
        x, score = descend(graph, objective, starts, lower, upper, steps=1, deadline=math.inf, options=options)
        return x[:, 0].tolist(), score.tolist()

    x, score = one_step((0.01,))  # a step of 0.02 from 0.2: no violation
    assert x == pytest.approx([0.22] * 4) and min(score) > 0
    x, score = one_step((0.01, 0.5))  # every second start steps by 1.0, to the box's end
    assert x == pytest.approx([0.22, 1.0, 0.22, 1.0])
    assert [s <= 0 for s in score] == [False, True, False, True]
    with pytest.raises(ValueError, match="step_fractions"):
        AttackOptions(step_fractions=())


@pytest.mark.parametrize("method", ["interval", "crown", "alpha"])
def test_float_rounding_lowers_bounds_by_the_error_slack(graph, method):
    objective = Objective.of(_case(-1.0, 1.0, [[1, 0], [0, -1]], [0.5, -0.2]))
    lower = torch.tensor([[-1.0], [0.2]], dtype=torch.float64)
    upper = torch.tensor([[-0.5], [1.0]], dtype=torch.float64)
    real = make_bounder(graph, objective, method)(lower, upper).bounds
    rounded = make_bounder(graph, objective, method, float_rounding=True)(lower, upper).bounds
    slack = objective.row_slack(output_error(graph, lower, upper))
    assert bool((slack > 0).all()) and bool((rounded <= real).all())
    if method == "interval":
        torch.testing.assert_close(real - rounded, slack)


@pytest.mark.parametrize("method", ["crown", "alpha"])
def test_a_box_s_minimiser_is_its_worst_corner_where_the_network_is_linear(method):
    # Every ReLU active on the boxes (biases of 9 over [-1, 1]^3): CROWN is exact, so the
    # corner minimising its bound on the lowest live row (both are: no bound reaches 100)
    # is where that row is least.
    rng = np.random.default_rng(5)
    weights = [rng.uniform(-1, 1, size=(4, 3)), rng.uniform(-1, 1, size=(2, 4))]
    graph = import_model(dense_network(weights, [np.full(4, 9.0), np.zeros(2)]))
    rows = LinearConstraints(np.array([[1.0, -1.0], [-0.5, 2.0]]), np.array([100.0, 100.0]), np.zeros(2, bool))
    case = Case(InputRegion(Box([-1.0] * 3, [1.0] * 3), LinearConstraints.empty(3)), OutputCondition((rows,)))
    objective = Objective.of(case)
    lower = torch.tensor(rng.uniform(-1, 0, size=(5, 3)))
    upper = lower + torch.tensor(rng.uniform(0.1, 1, size=(5, 3)))
    bounded = make_bounder(graph, objective, method)(lower, upper)
    assert bounded.minimisers is not None
    on_corner = (bounded.minimisers == lower) | (bounded.minimisers == upper)
    assert bool(on_corner.all())
    values = graph.run(bounded.minimisers) @ objective.C.T  # (5, 2): each row at each minimiser
    lowest = bounded.bounds.argmin(dim=1)
    reached = values[torch.arange(5), lowest]
    torch.testing.assert_close(reached, bounded.bounds[torch.arange(5), lowest], rtol=1e-9, atol=1e-6)
    assert Bounded(bounded.bounds, {}, None, bounded.minimisers).twice().minimisers is None


def _every(boxes):
    """Every dimension of every box as a trial candidate."""
    return torch.arange(boxes.lower.shape[1]).expand(len(boxes), -1)


def test_trial_split_skips_flat_dimensions_and_falls_back_to_the_widest():
    from solvers.bounders import Bounded
    from solvers.input_split import _Boxes, _trial_dimension

    objective = Objective.of(_case(-1, 1, [[1, 0]], [-1.0]))

    def no_gain(lower, upper, clamps=None):  # halves bound exactly as the box did
        return Bounded(torch.zeros(lower.shape[0], 1, dtype=torch.float64), {})

    lower = torch.tensor([[0.0, 0.0, 0.0]], dtype=torch.float64)
    upper = torch.tensor([[0.0, 0.5, 0.1]], dtype=torch.float64)  # dimension 0 is a point
    boxes = _Boxes(lower, upper, no_gain(lower, upper), 3)
    root = torch.tensor([[1.0, 4.0, 0.1]], dtype=torch.float64)  # relative widths: -, 1/8, 1
    assert _trial_dimension(no_gain, objective, boxes, root, 64, _every(boxes))[0].tolist() == [2]


def test_trial_split_counts_a_lift_of_any_open_row_not_only_the_best():
    """Halving dimension 1 lifts only the clause's second-best row: the clause's slack
    (its best row) does not move, yet that split is the one chosen over dimension 0,
    which lifts nothing."""
    from solvers.bounders import Bounded
    from solvers.input_split import _Boxes, _trial_dimension

    objective = Objective.of(_case(-1, 1, [[1, 0], [0, 1]], [0.0, 0.0]))  # one clause, two rows
    known = torch.tensor([[-1.0, -3.0]], dtype=torch.float64)

    def lift_second_row_on_dim_1(lower, upper, clamps=None):
        narrowed = (upper - lower)[:, 1] < 1.0
        second = torch.where(narrowed, -2.0, -3.0)
        return Bounded(torch.stack([torch.full_like(second, -1.0), second], dim=1), {})

    lower = torch.zeros(1, 2, dtype=torch.float64)
    upper = torch.ones(1, 2, dtype=torch.float64)
    boxes = _Boxes(lower, upper, Bounded(known, {}), 3)
    assert _trial_dimension(lift_second_row_on_dim_1, objective, boxes, upper - lower, 64, _every(boxes))[
        0
    ].tolist() == [1]


def test_trial_split_prefers_a_halving_that_proves_a_half_void():
    from solvers.bounders import Bounded
    from solvers.input_split import _Boxes, _trial_dimension

    objective = Objective.of(_case(-1, 1, [[1, 0]], [0.0]))

    def void_left_half_on_dim_0(lower, upper, clamps=None):
        halved_0 = (upper - lower)[:, 0] < 1.0
        left = upper[:, 0] <= 0.5
        bound = torch.where(halved_0 & left, torch.inf, torch.where(halved_0, -1.0, -0.5))
        return Bounded(bound[:, None].to(torch.float64), {})

    lower, upper = torch.zeros(1, 2, dtype=torch.float64), torch.ones(1, 2, dtype=torch.float64)
    boxes = _Boxes(lower, upper, Bounded(torch.tensor([[-1.0]], dtype=torch.float64), {}), 3)
    assert _trial_dimension(void_left_half_on_dim_0, objective, boxes, upper - lower, 64, _every(boxes))[
        0
    ].tolist() == [0]


@pytest.mark.parametrize("at_once", [1, 8])  # one dimension per bound call, or both in one
def test_halves_start_from_what_the_trial_found_for_their_box_s_chosen_dimension(at_once):
    """The trial's bounds and node bounds of the chosen halves (left, then right, in the
    boxes' order) become the halves' start, raised to their parent's row bounds; the
    parent's alpha parameters carry over. The same whether the dimensions' halves are
    bounded in one batch or one batch each."""
    from bounds.crown import Parameters
    from bounds.ops.base import Interval
    from solvers.bounders import Bounded
    from solvers.input_split import _Boxes, _trial_dimension

    objective = Objective.of(_case(-1, 1, [[1, 0], [0, 1]], [0.0, 0.0]))

    def narrower_is_higher(lower, upper, clamps=None):  # row 1 never beats the parent's -1
        width = (upper - lower).sum(dim=1)
        return Bounded(torch.stack([-width, torch.full_like(width, -9.0)], dim=1), {"t": Interval(lower, upper)})

    lower = torch.tensor([[0.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    upper = torch.tensor([[1.0, 4.0], [2.0, 1.0]], dtype=torch.float64)  # widest: dimension 1, then 0
    parameters = Parameters({"n": torch.arange(2.0)[:, None, None]}, {})
    parent = Bounded(torch.tensor([[-4.0, -1.0], [-4.0, -1.0]], dtype=torch.float64), {}, parameters)
    boxes = _Boxes(lower, upper, parent, 0)
    dim, start = _trial_dimension(narrower_is_higher, objective, boxes, upper - lower, at_once, _every(boxes))
    assert dim.tolist() == [1, 0]
    assert start.nodes["t"].lower.tolist() == [[0.0, 0.0], [0.0, 0.0], [0.0, 2.0], [1.0, 0.0]]
    assert start.nodes["t"].upper.tolist() == [[1.0, 2.0], [1.0, 1.0], [1.0, 4.0], [2.0, 1.0]]
    assert start.bounds.tolist() == [[-3.0, -1.0], [-2.0, -1.0], [-3.0, -1.0], [-2.0, -1.0]]
    assert start.parameters is not None and start.parameters.alphas["n"].flatten().tolist() == [0.0, 1.0, 0.0, 1.0]


def test_a_trial_split_tries_only_each_box_s_candidates():
    """Halving dimension 1 would lift most, but the candidates are 2 and 0: only their
    halves are bounded, and the better of them (0) is chosen."""
    from solvers.input_split import _Boxes, _trial_dimension

    objective = Objective.of(_case(-1, 1, [[1, 0]], [0.0]))
    halved = []

    def lifts_by_dimension(lower, upper, clamps=None):
        narrowed = (upper - lower) < 1.0  # (halves, 3): which dimension each half was cut along
        halved.extend(narrowed.int().argmax(dim=1).tolist())
        return Bounded((narrowed.double() @ torch.tensor([2.0, 3.0, 1.0], dtype=torch.float64))[:, None], {})

    lower, upper = torch.zeros(1, 3, dtype=torch.float64), torch.ones(1, 3, dtype=torch.float64)
    boxes = _Boxes(lower, upper, Bounded(torch.zeros(1, 1, dtype=torch.float64), {}), 3)
    dim, _ = _trial_dimension(lifts_by_dimension, objective, boxes, upper - lower, 64, torch.tensor([[2, 0]]))
    assert dim.tolist() == [0] and sorted(set(halved)) == [0, 2]


def _candidate_search(influence, dims, candidates=2):
    from solvers.input_split import _Search

    objective = Objective.of(_case(-1, 1, [[1, 0]], [0.0]))
    root = torch.ones(1, dims, dtype=torch.float64)
    return _Search(
        None, None, objective, root, math.inf, SplitOptions(trial_candidates=candidates), None, None, influence
    )


def test_trial_candidates_are_the_splittable_dimensions_of_largest_influence():
    from solvers.input_split import _Boxes

    def influence(lower, upper, nodes, rows):
        return torch.tensor([[5.0, 1.0, 9.0, 3.0], [1.0, 2.0, 3.0, 4.0]], dtype=torch.float64)

    lower = torch.zeros(2, 4, dtype=torch.float64)
    upper = torch.tensor([[1.0, 1.0, 0.0, 1.0], [1.0, 1.0, 1.0, 1.0]], dtype=torch.float64)  # box 0: dim 2 a point
    boxes = _Boxes(lower, upper, Bounded(torch.zeros(2, 1, dtype=torch.float64), {}), 3)
    candidates = _candidate_search(influence, 4)._candidates(boxes)
    assert [sorted(row) for row in candidates.tolist()] == [[0, 3], [2, 3]]
    assert _candidate_search(None, 4)._candidates(boxes).tolist() == [[0, 1, 2, 3]] * 2  # no ranking: all
    few = _candidate_search(influence, 4, candidates=4)._candidates(boxes)
    assert few.tolist() == [[0, 1, 2, 3]] * 2


def test_influence_is_the_crown_coefficients_of_the_open_rows_times_the_widths():
    """One affine layer: CROWN's coefficients on the input are the rows' weights. On a ReLU
    network, the boxes' own node bounds (settled) give the coefficients a fresh CROWN does."""
    weight = np.array([[1.0, -2.0, 0.5], [0.0, 3.0, -1.0]])
    affine = import_model(dense_network([weight], [np.zeros(2)]))
    clauses = tuple(LinearConstraints(np.eye(2)[i : i + 1], np.zeros(1), np.zeros(1, bool)) for i in range(2))
    region = InputRegion(Box(-np.ones(3), np.ones(3)), LinearConstraints.empty(3))
    objective = Objective.of(Case(region, OutputCondition(clauses)))
    influence = make_influence(affine, objective, "crown")
    lower = torch.zeros(2, 3, dtype=torch.float64)
    upper = torch.tensor([[1.0, 1.0, 1.0], [2.0, 0.5, 1.0]], dtype=torch.float64)
    rows = torch.tensor([[True, False], [True, True]])
    expected = torch.tensor([[1.0, 2.0, 0.5], [2 * 1.0, 0.5 * 5.0, 1.5]], dtype=torch.float64)
    torch.testing.assert_close(influence(lower, upper, {}, rows), expected)
    assert make_influence(affine, objective, "interval") is None

    relu = dense_graph(7, [4, 12, 12, 2])
    objective = Objective.of(two_clause_case(-np.ones(4), np.ones(4), [0.0, 0.0]))
    lower, upper = torch.full((1, 4), -1.0, dtype=torch.float64), torch.ones(1, 4, dtype=torch.float64)
    own = make_bounder(relu, objective, "crown")(lower, upper).nodes
    assert own
    influence, rows = make_influence(relu, objective, "crown"), torch.ones(1, 2, dtype=torch.bool)
    torch.testing.assert_close(influence(lower, upper, own, rows), influence(lower, upper, {}, rows))


def test_the_alpha_bounder_hands_its_slopes_to_sub_boxes(graph):
    """The alpha bounder returns, per box, the slopes its optimisation ended with (for the
    boxes CROWN left open); sub-boxes bounded from them get sound bounds no looser than CROWN's."""
    case = _case(-1, 1, [[1.0, 0.0]], [0.05])  # |x| <= 0.05 near 0: CROWN leaves it open
    objective = Objective.of(case)
    alpha, crown = make_bounder(graph, objective, "alpha"), make_bounder(graph, objective, "crown")
    lower, upper = torch.tensor([[-1.0]], dtype=torch.float64), torch.tensor([[1.0]], dtype=torch.float64)
    parent = alpha(lower, upper)
    assert parent.parameters is not None
    halves_lower = torch.tensor([[-1.0], [0.0]], dtype=torch.float64)
    halves_upper = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    twice = parent.twice()
    warm = alpha(halves_lower, halves_upper, twice.nodes, twice.parameters).bounds
    assert torch.all(warm >= crown(halves_lower, halves_upper, twice.nodes).bounds - 1e-12)
    points = halves_lower[:, None] + (halves_upper - halves_lower)[:, None] * torch.rand(2, 500, 1, dtype=torch.float64)
    outputs = torch.stack([graph.run(p) for p in points]) @ objective.C.T
    assert torch.all(outputs >= warm[:, None] - 1e-9)


def test_box_attack_finds_a_violation_inside_each_box(graph):
    from solvers.falsify import attack_boxes

    case = _case(-1, 1, [[1, 0]], [0.05])  # |x| <= 0.05
    objective = Objective.of(case)
    lower = torch.tensor([[-0.9], [0.02]], dtype=torch.float64)
    upper = torch.tensor([[-0.5], [0.9]], dtype=torch.float64)  # only the second box holds one
    found = attack_boxes(graph, objective, _exact(graph, case), lower, upper, AttackOptions(box_steps=40))
    assert found is not None and 0.02 <= found[0] <= 0.05
    starts = torch.tensor([[-0.5], [0.4]], dtype=torch.float64)  # from given points (a domain's minimiser)
    found = attack_boxes(
        graph, objective, _exact(graph, case), lower, upper, AttackOptions(box_steps=40), starts=starts
    )
    assert found is not None and 0.02 <= found[0] <= 0.05


def test_falsification_rounds_come_at_doubling_times():
    from solvers.falsify import Rounds

    calls = []
    rounds = Rounds(lambda seed, deadline: calls.append((seed, deadline)), first=0.05, share=0.1, least=0.01)
    assert rounds() is None and calls == []  # none due yet
    time.sleep(0.06)
    rounds()
    rounds()  # the second is due only after 0.1 s
    assert [seed for seed, _ in calls] == [1]
    time.sleep(0.05)
    rounds()
    assert [seed for seed, _ in calls] == [1, 2]


def test_a_falsification_round_gets_its_share_of_the_time_since_the_previous_one(monkeypatch):
    """Not of all the time so far, which every round would count again (about twice the share)."""
    import solvers.falsify
    from solvers.falsify import Rounds

    clock = [100.0]
    monkeypatch.setattr(solvers.falsify.time, "monotonic", lambda: clock[0])
    budgets = []

    def round_(seed, deadline):
        budgets.append(round(deadline - clock[0], 6))
        clock[0] = deadline  # the round runs until its deadline

    rounds = Rounds(round_, first=2.0, share=0.1, least=0.25)
    for now in (102.0, 104.0, 108.0, 116.0):
        clock[0] = now
        rounds()
    assert budgets == [0.25, 0.25, 0.375, round(0.1 * (116.0 - 108.375), 6)]
    assert sum(budgets) < 0.1 * (clock[0] - 100.0)


@pytest.mark.parametrize("method", ["crown", "alpha"])
def test_a_bounder_given_its_own_crown_node_bounds_as_settled_bounds_as_without_them(method):
    """Settled clamps skip the intermediate refinement, which would only find them again."""
    from exact_cases import dense_graph

    graph = dense_graph(3, [3, 6, 6, 6, 2])
    region = InputRegion(Box([-1.0] * 3, [1.0] * 3), LinearConstraints.empty(3))
    clause = LinearConstraints(np.array([[1.0, -1.0]]), np.array([0.0]), np.array([False]))
    objective = Objective.of(Case(region, OutputCondition((clause,))))
    centre = torch.tensor(np.random.default_rng(0).uniform(-1, 1, (8, 3)))
    lower, upper = centre - 0.3, centre + 0.3
    bound = make_bounder(graph, objective, method)
    fresh = bound(lower, upper)
    assert fresh.nodes  # the graph has tensors CROWN refines
    settled = bound(lower, upper, fresh.nodes, settled=True)
    torch.testing.assert_close(settled.bounds, fresh.bounds)


def _children() -> list[int]:
    """This process's child processes, zombies included."""
    me, found = str(os.getpid()), []
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):  # it ended meanwhile
            continue
        if fields[1] == me:
            found.append(int(entry))
    return found


def _shared_search(graph, case, options, bounds, deadline) -> tuple[Outcome, int, int, list[int]]:
    """The input-split search, with the helper processes it starts counted: its outcome,
    how many boxes it bounded, how many helpers, and the children left after it."""
    import solvers.input_split as module

    started = []

    class Counted(module.Forked):
        def __init__(self, work) -> None:
            super().__init__(work)
            started.append(self.pid)

    module.Forked = Counted  # this runs in a forked process: the patch dies with it
    result = _search(graph, case, _planted_confirm(graph, case), bounds, deadline=deadline, options=options)
    return result.outcome, result.stats.bounded, len(started), _children()


def test_the_milp_beside_decides_what_the_boxes_leave_open_as_the_milp_engine_alone():
    """Boxes are never split (narrower than ``min_width`` from the start): the search
    ends EXHAUSTED at the root and waits for the MILP engine beside it (from the start,
    on one of two threads), which decides: both clauses proved there, or a point found
    (by it or by the boxes' PGD) and confirmed here."""
    graph = dense_graph(7, [4, 12, 12, 2])
    options = SplitOptions(min_width=10.0, share_after=None, exact_beside_share=0.0)
    for case in planted_cases(graph, -np.ones(4), np.ones(4)):
        objective = Objective.of(case)
        bounder = make_bounder(graph, objective, "interval")
        search = partial(
            input_split_search,
            graph,
            case,
            _planted_confirm(graph, case),
            deadline=time.monotonic() + 60,
            options=options,
            bounder=bounder,
        )
        result, _ = with_threads(2, search)
        truth = milp.solve(graph, case.region.box, case.region.constraints, objective, deadline=time.monotonic() + 60)
        if truth.outcome is ExactOutcome.PROVED:
            assert result.outcome is Outcome.PROVED and result.stats.milp_clauses == 2
        else:
            assert result.outcome is Outcome.FOUND


def _planted_confirm(graph, case):
    objective = Objective.of(case)
    return lambda point: bool(objective.satisfied(torch.as_tensor(graph.run_numpy(point[None]))).all())


@pytest.mark.parametrize(("bounds", "threads"), [("interval", 2), ("crown", 2), ("interval", 3)])
def test_boxes_shared_among_processes_decide_as_the_milp_engine(bounds, threads):
    """With n torch threads the pending boxes go to n processes (n - 1 of them helpers
    whose candidates the search confirms): one clause violated or none, the verdict is the
    MILP engine's, torch gets its threads back, and no helper outlives the search."""
    graph = dense_graph(7, [4, 12, 12, 2])
    lower, upper = -np.ones(4), np.ones(4)
    options = SplitOptions(batch=4, share_after=0.0)
    for case in planted_cases(graph, lower, upper):
        work = partial(_shared_search, graph, case, options, bounds, time.monotonic() + 120)
        (outcome, _, helpers, left), after = with_threads(threads, work)
        truth = milp.solve(
            graph, case.region.box, case.region.constraints, Objective.of(case), deadline=time.monotonic() + 60
        )
        assert outcome is {ExactOutcome.PROVED: Outcome.PROVED, ExactOutcome.FOUND: Outcome.FOUND}[truth.outcome]
        assert helpers == threads - 1 and left == [] and after == threads


def _helper_process(case, deadline):
    """A helper process of the input-split search over the case's box (CROWN bounds)."""
    from solvers.forked import Forked
    from solvers.input_split import _Boxes, _helper, _Search

    graph = dense_graph(7, [4, 12, 12, 2])
    objective = Objective.of(case)
    lower, upper = torch.full((1, 4), -1.0, dtype=torch.float64), torch.ones(1, 4, dtype=torch.float64)
    unknown = Bounded(torch.full((1, objective.C.shape[0]), -torch.inf, dtype=torch.float64), {})
    bounder = make_bounder(graph, objective, "crown")
    search = _Search(graph, case, objective, upper - lower, deadline, SplitOptions(), bounder, None, None)
    return Forked(partial(_helper, search=search, stack=[_Boxes(lower, upper, unknown, 0)])), unknown


def _next(child, kind, deadline):
    """The next message of that kind from the child (others skipped)."""
    for got, value in child.messages(until=deadline):
        if got == kind:
            return value
    raise AssertionError(f"no {kind} message")


def test_a_helper_sends_its_candidates_and_half_its_boxes_when_asked():
    """A helper cannot confirm a point (onnxruntime lives in the search's process): it sends
    each candidate and searches on; asked to give, it hands over boxes it had pending."""
    graph = dense_graph(7, [4, 12, 12, 2])
    violated, _ = planted_cases(graph, -np.ones(4), np.ones(4))
    deadline = time.monotonic() + 5
    child, _ = _helper_process(violated, deadline)
    try:
        point = _next(child, "candidate", deadline)
        assert _planted_confirm(graph, violated)(point)
        child.tell(("give", None))
        boxes = _next(child, "boxes", deadline)
        assert sum(len(b) for b in boxes) >= 1
    finally:
        child.stop()


def test_a_dry_helper_says_so_and_searches_the_boxes_it_is_given():
    """Run dry, a helper reports whether any box was too small to split and its statistics
    so far, then waits; boxes it is given are searched, and it reports again."""
    from solvers.input_split import _Boxes

    graph = dense_graph(7, [4, 12, 12, 2])
    _, safe = planted_cases(graph, -np.ones(4), np.ones(4))
    deadline = time.monotonic() + 30
    child, unknown = _helper_process(safe, deadline)
    try:
        exhausted, stats = _next(child, "idle", deadline)
        assert not exhausted and stats.bounded > 0
        lower, upper = torch.full((1, 4), -1.0, dtype=torch.float64), torch.zeros(1, 4, dtype=torch.float64)
        child.tell(("boxes", [_Boxes(lower, upper, unknown, 0)]))
        exhausted, again = _next(child, "idle", deadline)
        assert not exhausted and again.bounded > stats.bounded
        child.tell(("give", None))  # dry: nothing to give
        assert _next(child, "boxes", deadline) == []
    finally:
        child.stop()


def test_a_shared_search_times_out_in_time_and_leaves_no_helper():
    """Interval bounds take far longer than two seconds to prove this case."""
    graph = dense_graph(7, [6, 40, 40, 40, 2])
    _, safe = planted_cases(graph, -np.ones(6), np.ones(6))
    options = SplitOptions(batch=2, share_after=0.0)
    start = time.monotonic()
    work = partial(_shared_search, graph, safe, options, "interval", start + 2)
    (outcome, _, helpers, left), _ = with_threads(2, work)
    assert outcome is Outcome.TIMEOUT and helpers == 1 and left == []
    assert time.monotonic() - start < 6


def test_run_dry_the_search_waits_for_its_helpers_only_until_the_milp_is_due_or_has_news():
    """The search's own boxes done, it waits for its helpers' (``_Helpers.refill``), but
    not past ``until`` (when the MILP engine is to join) nor once the MILP beside has a
    message (``wake``): a helper deep in one long batch answers no one meanwhile."""
    from solvers.forked import Forked
    from solvers.input_split import SearchStats, _Helpers

    busy = Forked(lambda connection: time.sleep(60))  # never answers
    helpers = _Helpers([busy], time.monotonic() + 60)
    news, wake = multiprocessing.Pipe()
    try:
        stack: list = []
        start = time.monotonic()
        assert helpers.refill(stack, lambda point: True, False, SearchStats(), until=start + 0.5, wake=wake) is None
        assert 0.5 <= time.monotonic() - start < 10 and stack == [] and not helpers.over
        news.send("clause 0 proved")
        start = time.monotonic()
        assert helpers.refill(stack, lambda point: True, False, SearchStats(), wake=wake) is None
        assert time.monotonic() - start < 10 and stack == [] and not helpers.over
        assert wake.recv() == "clause 0 proved"  # left for the search to read
    finally:
        busy.stop()
