"""The SMT engine's own behaviour: exact strictness and rationals."""

import time

import numpy as np
from exact_cases import case, polynomial_case
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


# y = [|x|, 1 - |x|]: y0 y1 = |x| (1 - |x|) is at most 1/4, reached at |x| = 1/2
PRODUCT_ABOVE = (((0, 1), -1.0),)  # -y0 y1


def test_products_of_outputs_are_exact():
    graph = import_model(abs_network())
    strict = polynomial_case([-1.0], [1.0], 2, [([], [], [(PRODUCT_ABOVE, -0.25, True)])])
    assert _solve(graph, strict).outcome is ExactOutcome.PROVED  # y0 y1 > 1/4: never
    reached = _solve(graph, polynomial_case([-1.0], [1.0], 2, [([], [], [(PRODUCT_ABOVE, -0.25, False)])]))
    assert reached.outcome is ExactOutcome.FOUND and abs(reached.candidate[0]) == 0.5


def test_linear_and_polynomial_rows_of_one_clause_together():
    """y0 y1 >= 0.2 needs |x| in [0.276, 0.724]; with y0 <= 0.3 some remain, with y0 <= 0.25 none."""
    graph = import_model(abs_network())
    found = _solve(graph, polynomial_case([-1.0], [1.0], 2, [([[1, 0]], [0.3], [(PRODUCT_ABOVE, -0.2, False)])]))
    assert found.outcome is ExactOutcome.FOUND and 0.276 < abs(found.candidate[0]) <= 0.3
    none = polynomial_case([-1.0], [1.0], 2, [([[1, 0]], [0.25], [(PRODUCT_ABOVE, -0.2, False)])])
    assert _solve(graph, none).outcome is ExactOutcome.PROVED


def test_an_irrational_witness_comes_back_as_the_nearest_float():
    """y0^2 = 1/2 holds only at |x| = sqrt(1/2): z3's witness is an algebraic number."""
    graph = import_model(abs_network())
    square = (((0, 0), 1.0),)
    equal = [([], [], [(square, 0.5, False), (tuple((m, -c) for m, c in square), -0.5, False)])]
    found = _solve(graph, polynomial_case([-1.0], [1.0], 2, equal))
    assert found.outcome is ExactOutcome.FOUND and abs(found.candidate[0]) == np.sqrt(0.5)


class _FiresAsCancelled:
    """A ``threading.Timer`` whose deadline comes just as the check returns: it calls its
    function when cancelled, never on its own."""

    def __init__(self, _interval: float, function) -> None:
        self.function = function

    def start(self) -> None:
        pass

    def cancel(self) -> None:
        self.function()


def test_an_interrupt_as_the_check_returns_is_a_timeout_not_an_error(monkeypatch):
    """z3 refuses to read a model after the deadline's interrupt; that must not escape."""
    monkeypatch.setattr(smt.threading, "Timer", _FiresAsCancelled)
    graph = import_model(abs_network())
    holds = case([-0.3], [1.0], [([[-1, 0]], [-0.9])])  # |x| >= 0.9
    assert _solve(graph, holds, options=smt.SmtOptions(interior=0.0)).outcome is ExactOutcome.TIMEOUT
