"""Known answers for both exact engines (MILP and SMT) on tiny networks built in code."""

import time

import numpy as np
import pytest
from exact_cases import case, residual_network
from known_nets import abs_network

from bounds import import_model
from bounds.onnx_build import dense_network
from solvers.exact import ENGINES, ExactOutcome, engine
from solvers.objective import Objective
from specs.property import LinearConstraints


def _solve(name, graph, c, seconds=20.0, **kwargs):
    solve = engine(name)
    region = c.region
    return solve(graph, region.box, region.constraints, Objective.of(c), deadline=time.monotonic() + seconds, **kwargs)


@pytest.fixture(scope="module")
def abs_graph():
    return import_model(abs_network())  # y = [|x|, 1 - |x|]


@pytest.mark.parametrize("name", ENGINES)
def test_unsat_and_sat_with_a_witness(name, abs_graph):
    assert _solve(name, abs_graph, case([-1.0], [1.0], [([[-1, 0]], [-1.5])])).outcome is ExactOutcome.PROVED
    found = _solve(name, abs_graph, case([-0.3], [1.0], [([[-1, 0]], [-0.9])]))  # |x| >= 0.9: only x >= 0.9
    assert found.outcome is ExactOutcome.FOUND and found.candidate is not None
    assert 0.9 - 1e-6 <= found.candidate[0] <= 1.0
    # x >= 0 excludes the only violations of |x| <= -0.1... none exist; and of y1 >= 0.95: |x| <= 0.05
    assert _solve(name, abs_graph, case([-1.0], [1.0], [([[1, 0]], [-0.1])])).outcome is ExactOutcome.PROVED


@pytest.mark.parametrize("name", ENGINES)
def test_several_clauses_need_all_refuted(name, abs_graph):
    # |x| >= 1.5 (impossible) or |x| <= 0.25 (possible at 0)
    two = case([-1.0], [1.0], [([[-1, 0]], [-1.5]), ([[1, 0]], [0.25])])
    result = _solve(name, abs_graph, two)
    assert result.outcome is ExactOutcome.FOUND and abs(result.candidate[0]) <= 0.25 + 1e-6
    none = case([-1.0], [1.0], [([[-1, 0]], [-1.5]), ([[0, -1]], [-1.5])])
    assert _solve(name, abs_graph, none).outcome is ExactOutcome.PROVED


@pytest.mark.parametrize("name", ENGINES)
def test_linear_input_constraints_are_exact(name, abs_graph):
    # |x| >= 0.9 on [-1, 1] holds at both ends; with x + 0.5 <= 0 and -x <= 0.8 it cannot.
    constraints = LinearConstraints(np.array([[1.0], [-1.0]]), np.array([-0.5, 0.8]), np.zeros(2, bool))
    c = case([-1.0], [1.0], [([[-1, 0]], [-0.9])], constraints=constraints)
    assert _solve(name, abs_graph, c).outcome is ExactOutcome.PROVED
    looser = LinearConstraints(np.array([[1.0], [-1.0]]), np.array([-0.5, 0.95]), np.zeros(2, bool))
    found = _solve(name, abs_graph, case([-1.0], [1.0], [([[-1, 0]], [-0.9])], constraints=looser))
    assert found.outcome is ExactOutcome.FOUND and -0.95 - 1e-6 <= found.candidate[0] <= -0.9 + 1e-6


@pytest.mark.parametrize("name", ENGINES)
def test_residual_sum_of_two_variables(name):
    graph = import_model(residual_network())  # y = relu(W1 x) + W2 x
    c_sat = case([-1.0, -1.0], [1.0, 1.0], [([[-1, 0]], [-2.4])])  # y0 = relu(x0 - x1) + x0/2 reaches 2.5
    found = _solve(name, graph, c_sat)
    assert found.outcome is ExactOutcome.FOUND
    assert graph.run_numpy(found.candidate[None])[0, 0] >= 2.4 - 1e-6
    c_unsat = case([-1.0, -1.0], [1.0, 1.0], [([[-1, 0]], [-2.6])])
    assert _solve(name, graph, c_unsat).outcome is ExactOutcome.PROVED


@pytest.mark.parametrize("name", ENGINES)
def test_ops_without_an_exact_encoding_are_reported_not_guessed(name):
    weights = [np.array([[1.0]]), np.array([[1.0]])]
    graph = import_model(dense_network(weights, [np.zeros(1), np.zeros(1)], activation="Sigmoid"))
    result = _solve(name, graph, case([-1.0], [1.0], [([[1.0]], [0.0])]))
    assert result.outcome is ExactOutcome.UNKNOWN
    assert "Sigmoid" in result.reason and name in result.reason


@pytest.mark.parametrize("name", ENGINES)
def test_a_past_deadline_is_a_timeout(name, abs_graph):
    result = _solve(name, abs_graph, case([-1.0], [1.0], [([[-1, 0]], [-0.9])]), seconds=-1.0)
    assert result.outcome is ExactOutcome.TIMEOUT


def test_unknown_engine_is_a_value_error():
    with pytest.raises(ValueError, match="milp"):
        engine("lp")
