"""The SMT engine's own behaviour: exact strictness and rationals."""

import time

import numpy as np
from exact_cases import case
from known_nets import abs_network

from bounds import import_model
from solvers import smt
from solvers.exact import ExactOutcome
from solvers.objective import Objective


def _solve(graph, c, **kwargs):
    r = c.region
    return smt.solve(graph, r.box, r.constraints, Objective.of(c), deadline=time.monotonic() + 20, **kwargs)


def test_strict_rows_are_exact():
    graph = import_model(abs_network())
    # |x| <= 0 holds only at x = 0; |x| < 0 never.
    found = _solve(graph, case([-0.3], [1.0], [([[1, 0]], [0.0])]))
    assert found.outcome is ExactOutcome.FOUND and found.candidate[0] == 0.0
    assert _solve(graph, case([-0.3], [1.0], [([[1, 0]], [0.0])], strict=True)).outcome is ExactOutcome.PROVED


def test_proofs_closer_than_any_milp_margin():
    graph = import_model(abs_network())
    # min |x| over [1e-12, 1] is 1e-12 > 0: z3 proves |x| <= 0 impossible exactly.
    assert _solve(graph, case([1e-12], [1.0], [([[1, 0]], [0.0])])).outcome is ExactOutcome.PROVED


def test_sat_witnesses_are_moved_inside_the_condition():
    graph = import_model(abs_network())
    found = _solve(graph, case([-0.3], [1.0], [([[-1, 0]], [-0.9])]))  # |x| >= 0.9
    assert found.outcome is ExactOutcome.FOUND and found.candidate[0] > 0.9
    assert "inside" in found.reason
    boundary = _solve(graph, case([-0.3], [1.0], [([[-1, 0]], [-0.9])]), options=smt.SmtOptions(interior=0.0))
    assert boundary.outcome is ExactOutcome.FOUND and np.isclose(boundary.candidate[0], 0.9)
