"""Known answers for both exact engines (MILP and SMT) on tiny networks built in code."""

import time

import numpy as np
import pytest
from exact_cases import case, difference_through, max_pool_less_input, residual_network
from known_nets import abs_network

from bounds import import_model
from bounds.onnx_build import dense_network
from solvers.exact import ExactOutcome, engine
from solvers.objective import Objective
from solvers.options import EXACT_ENGINES
from specs.property import LinearConstraints


def _solve(name, graph, c, seconds=20.0, **kwargs):
    solve = engine(name)
    region = c.region
    return solve(graph, region.box, region.constraints, Objective.of(c), deadline=time.monotonic() + seconds, **kwargs)


@pytest.fixture(scope="module")
def abs_graph():
    return import_model(abs_network())  # y = [|x|, 1 - |x|]


@pytest.mark.parametrize("name", EXACT_ENGINES)
def test_unsat_and_sat_with_a_witness(name, abs_graph):
    assert _solve(name, abs_graph, case([-1.0], [1.0], [([[-1, 0]], [-1.5])])).outcome is ExactOutcome.PROVED
    found = _solve(name, abs_graph, case([-0.3], [1.0], [([[-1, 0]], [-0.9])]))  # |x| >= 0.9: only x >= 0.9
    assert found.outcome is ExactOutcome.FOUND and found.candidate is not None
    assert 0.9 - 1e-6 <= found.candidate[0] <= 1.0
    # x >= 0 excludes the only violations of |x| <= -0.1... none exist; and of y1 >= 0.95: |x| <= 0.05
    assert _solve(name, abs_graph, case([-1.0], [1.0], [([[1, 0]], [-0.1])])).outcome is ExactOutcome.PROVED


@pytest.mark.parametrize("name", EXACT_ENGINES)
def test_several_clauses_need_all_refuted(name, abs_graph):
    # |x| >= 1.5 (impossible) or |x| <= 0.25 (possible at 0)
    two = case([-1.0], [1.0], [([[-1, 0]], [-1.5]), ([[1, 0]], [0.25])])
    result = _solve(name, abs_graph, two)
    assert result.outcome is ExactOutcome.FOUND and abs(result.candidate[0]) <= 0.25 + 1e-6
    none = case([-1.0], [1.0], [([[-1, 0]], [-1.5]), ([[0, -1]], [-1.5])])
    assert _solve(name, abs_graph, none).outcome is ExactOutcome.PROVED


@pytest.mark.parametrize("name", EXACT_ENGINES)
def test_linear_input_constraints_are_exact(name, abs_graph):
    # |x| >= 0.9 on [-1, 1] holds at both ends; with x + 0.5 <= 0 and -x <= 0.8 it cannot.
    constraints = LinearConstraints(np.array([[1.0], [-1.0]]), np.array([-0.5, 0.8]), np.zeros(2, bool))
    c = case([-1.0], [1.0], [([[-1, 0]], [-0.9])], constraints=constraints)
    assert _solve(name, abs_graph, c).outcome is ExactOutcome.PROVED
    looser = LinearConstraints(np.array([[1.0], [-1.0]]), np.array([-0.5, 0.95]), np.zeros(2, bool))
    found = _solve(name, abs_graph, case([-1.0], [1.0], [([[-1, 0]], [-0.9])], constraints=looser))
    assert found.outcome is ExactOutcome.FOUND and -0.95 - 1e-6 <= found.candidate[0] <= -0.9 + 1e-6


@pytest.mark.parametrize("name", EXACT_ENGINES)
def test_residual_sum_of_two_variables(name):
    graph = import_model(residual_network())  # y = relu(W1 x) + W2 x
    c_sat = case([-1.0, -1.0], [1.0, 1.0], [([[-1, 0]], [-2.4])])  # y0 = relu(x0 - x1) + x0/2 reaches 2.5
    found = _solve(name, graph, c_sat)
    assert found.outcome is ExactOutcome.FOUND
    assert graph.run_numpy(found.candidate[None])[0, 0] >= 2.4 - 1e-6
    c_unsat = case([-1.0, -1.0], [1.0, 1.0], [([[-1, 0]], [-2.6])])
    assert _solve(name, graph, c_unsat).outcome is ExactOutcome.PROVED


def _found_at(name, graph, c, low, high):
    """The engine finds a candidate whose output (on the graph) lies in [low, high]."""
    result = _solve(name, graph, c)
    assert result.outcome is ExactOutcome.FOUND, result.reason
    value = graph.run_numpy(result.candidate[None])[0, 0]
    assert low - 1e-6 <= value <= high + 1e-6, value


BOX = ([-1.0, -1.0], [1.0, 1.0])  # x0 - x1 ranges over [-2, 2]


@pytest.mark.parametrize("name", EXACT_ENGINES)
def test_abs(name):
    graph = import_model(difference_through("Abs"))  # |x0 - x1| in [0, 2]
    assert _solve(name, graph, case(*BOX, [([[-1]], [-2.1])])).outcome is ExactOutcome.PROVED
    assert _solve(name, graph, case(*BOX, [([[1]], [-0.01])])).outcome is ExactOutcome.PROVED
    _found_at(name, graph, case(*BOX, [([[-1]], [-1.9])]), 1.9, 2.0)
    _found_at(name, graph, case(*BOX, [([[1]], [0.05])]), 0.0, 0.05)


@pytest.mark.parametrize("name", EXACT_ENGINES)
@pytest.mark.parametrize(("alpha", "least"), [(0.1, -0.2), (-0.5, 0.0), (1.5, -3.0)])
def test_leaky_relu(name, alpha, least):
    graph = import_model(difference_through("LeakyRelu", alpha=alpha))  # max(h, alpha h) for h >= 0...
    assert _solve(name, graph, case(*BOX, [([[1]], [least - 0.01])])).outcome is ExactOutcome.PROVED
    _found_at(name, graph, case(*BOX, [([[1]], [least + 0.01])]), least, least + 0.01)
    assert _solve(name, graph, case(*BOX, [([[-1]], [-2.01])])).outcome is ExactOutcome.PROVED
    _found_at(name, graph, case(*BOX, [([[-1]], [-1.99])]), 1.99, 2.0)


@pytest.mark.parametrize("name", EXACT_ENGINES)
@pytest.mark.parametrize(
    ("opset", "bounds", "attributes", "low", "high"),
    [
        (13, (-0.5, 0.25), {}, -0.5, 0.25),
        (13, (-0.5, None), {}, -0.5, 2.0),
        (13, (None, 0.25), {}, -2.0, 0.25),
        (13, (3.0, 3.0), {}, 3.0, 3.0),  # min = max, beyond the input's range
        (10, (), {"min": -0.5, "max": 0.25}, -0.5, 0.25),  # bounds as attributes before opset 11
    ],
)
def test_clip(name, opset, bounds, attributes, low, high):
    graph = import_model(difference_through("Clip", opset=opset, bounds=bounds, **attributes))
    assert _solve(name, graph, case(*BOX, [([[-1]], [-(high + 0.01)])])).outcome is ExactOutcome.PROVED
    assert _solve(name, graph, case(*BOX, [([[1]], [low - 0.01])])).outcome is ExactOutcome.PROVED
    _found_at(name, graph, case(*BOX, [([[-1]], [-(high - 0.01)])]), high - 0.01, high)
    _found_at(name, graph, case(*BOX, [([[1]], [low + 0.01])]), low, low + 0.01)


@pytest.mark.parametrize("name", EXACT_ENGINES)
def test_max_pool(name):
    graph = import_model(max_pool_less_input())  # max of a window of 3 (padded) less its centre
    box = ([-1.0] * 4, [1.0] * 4)
    every = [([np.eye(4)[i]], [-0.01]) for i in range(4)]  # some y_i < 0: never
    assert _solve(name, graph, case(*box, every)).outcome is ExactOutcome.PROVED
    assert _solve(name, graph, case(*box, [([[-1, 0, 0, 0]], [-2.01])])).outcome is ExactOutcome.PROVED
    _found_at(name, graph, case(*box, [([[-1, 0, 0, 0]], [-1.99])]), 1.99, 2.0)
    # y_0 + y_3 = max(x0, x1) - x0 + max(x2, x3) - x3 reaches 4; with x1 <= 0.5, only 3.5.
    narrow = ([-1.0, -1.0, -1.0, -1.0], [1.0, 0.5, 1.0, 1.0])
    assert _solve(name, graph, case(*narrow, [([[-1, 0, 0, -1]], [-3.51])])).outcome is ExactOutcome.PROVED
    found = _solve(name, graph, case(*narrow, [([[-1, 0, 0, -1]], [-3.49])]))
    assert found.outcome is ExactOutcome.FOUND
    outputs = graph.run_numpy(found.candidate[None])[0]
    assert outputs[0] + outputs[3] >= 3.49 - 1e-6


def test_max_pool_windows_with_one_candidate_need_no_binaries():
    graph = import_model(max_pool_less_input())
    # x1 dominates windows 0-2 (x1 >= 0.6 > every other upper bound); window 3 holds x2, x3.
    box = ([-1.0, 0.6, -1.0, -1.0], [0.5, 1.0, 0.5, 0.5])
    result = _solve("milp", graph, case(*box, [([[0, 1, 0, 0]], [-0.01])]))  # y_1 = 0 always: y_1 <= -0.01 never
    assert result.outcome is ExactOutcome.PROVED and "(1 binaries)" not in result.reason
    assert "(2 binaries)" in result.reason  # window 3 only: one binary per candidate


def test_sign_is_exact_in_smt_and_left_to_it_by_milp():
    graph = import_model(difference_through("Sign"))
    zero = _solve("smt", graph, case(*BOX, [([[1], [-1]], [0.0, 0.0])]))  # sign = 0: x0 = x1
    assert zero.outcome is ExactOutcome.FOUND and zero.candidate[0] == zero.candidate[1]
    between = case(*BOX, [([[-1], [1]], [0.0, 1.0])], strict=True)  # 0 < sign < 1: never
    assert _solve("smt", graph, between).outcome is ExactOutcome.PROVED
    _found_at("smt", graph, case(*BOX, [([[1]], [-0.5])]), -1, -1)
    milp = _solve("milp", graph, between)
    assert milp.outcome is ExactOutcome.UNKNOWN and "Sign" in milp.reason and "milp" in milp.reason


@pytest.mark.parametrize("name", EXACT_ENGINES)
def test_ops_without_an_exact_encoding_are_reported_not_guessed(name):
    weights = [np.array([[1.0]]), np.array([[1.0]])]
    graph = import_model(dense_network(weights, [np.zeros(1), np.zeros(1)], activation="Sigmoid"))
    result = _solve(name, graph, case([-1.0], [1.0], [([[1.0]], [0.0])]))
    assert result.outcome is ExactOutcome.UNKNOWN
    assert "Sigmoid" in result.reason and name in result.reason


@pytest.mark.parametrize("name", EXACT_ENGINES)
def test_a_past_deadline_is_a_timeout(name, abs_graph):
    result = _solve(name, abs_graph, case([-1.0], [1.0], [([[-1, 0]], [-0.9])]), seconds=-1.0)
    assert result.outcome is ExactOutcome.TIMEOUT


def test_unknown_engine_is_a_value_error():
    with pytest.raises(ValueError, match="milp"):
        engine("lp")
