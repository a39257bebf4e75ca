import numpy as np
import torch

from solvers.objective import Objective
from specs.property import Box, Case, InputRegion, LinearConstraints, OutputCondition


def _case(*clauses: LinearConstraints) -> Case:
    return Case(InputRegion(Box([0.0], [1.0]), LinearConstraints.empty(1)), OutputCondition(clauses))


def _rows(A, b, strict=None):
    A = np.asarray(A, float)
    return LinearConstraints(A, b, strict if strict is not None else np.zeros(len(b), bool))


def test_margins_are_max_over_rows_per_clause():
    # clause 0: y0 <= 1 and y1 <= 2 ; clause 1: -y0 <= 0
    obj = Objective.of(_case(_rows([[1, 0], [0, 1]], [1, 2]), _rows([[-1, 0]], [0])))
    y = torch.tensor([[3.0, 0.0], [0.5, 5.0]], dtype=torch.float64)
    margins = obj.margins(y)
    assert torch.allclose(margins, torch.tensor([[2.0, -3.0], [3.0, -0.5]], dtype=torch.float64))


def test_satisfied_respects_strictness():
    strict = Objective.of(_case(_rows([[1.0]], [0.0], np.array([True]))))
    loose = Objective.of(_case(_rows([[1.0]], [0.0])))
    zero = torch.zeros(1, 1, dtype=torch.float64)
    assert not bool(strict.satisfied(zero)[0])
    assert bool(loose.satisfied(zero)[0])


def test_refuted_needs_every_clause_impossible():
    obj = Objective.of(_case(_rows([[1.0]], [0.0]), _rows([[-1.0]], [-5.0])))
    # rows: y <= 0 (clause 0), -y <= -5 i.e. y >= 5 (clause 1); lower bounds on C @ y
    both = torch.tensor([[0.1, -4.0]], dtype=torch.float64)  # y > 0 and -y > -5: both impossible
    one = torch.tensor([[0.1, -6.0]], dtype=torch.float64)
    assert bool(obj.refuted(both)[0])
    assert not bool(obj.refuted(one)[0])


def test_empty_clause_is_always_satisfied_and_never_refuted():
    obj = Objective.of(_case(LinearConstraints.empty(1)))
    assert bool(obj.satisfied(torch.zeros(1, 1, dtype=torch.float64))[0])
    assert not bool(obj.refuted(torch.zeros(1, 0, dtype=torch.float64))[0])


def test_refutation_needs_a_margin_beyond_rounding():
    obj = Objective.of(_case(_rows([[1.0]], [1.0])))
    assert not bool(obj.refuted(torch.tensor([[1.0 + 1e-12]], dtype=torch.float64))[0])
    assert bool(obj.refuted(torch.tensor([[1.0 + 1e-6]], dtype=torch.float64))[0])


def test_rounding_slack_must_be_cleared_to_refute():
    # clause: y0 - y1 <= 0 ; outputs within 0.1 (y0) and 0.2 (y1) of the real network
    obj = Objective.of(_case(_rows([[1.0, -1.0]], [0.0])))
    rounded = obj.with_rounding(torch.tensor([0.1, 0.2], dtype=torch.float64))
    assert torch.allclose(rounded.rounding, torch.tensor([0.3], dtype=torch.float64))
    lower = torch.tensor([[0.25], [0.35]], dtype=torch.float64)
    assert obj.refuted(lower).tolist() == [True, True]
    assert rounded.refuted(lower).tolist() == [False, True]
    assert torch.allclose(rounded.clause_slack(lower)[:, 0], torch.tensor([-0.05, 0.05], dtype=torch.float64))
    # the satisfaction test (counterexamples) is not widened
    y = torch.tensor([[0.0, 0.0]], dtype=torch.float64)
    assert bool(rounded.satisfied(y)[0]) and bool(obj.satisfied(y)[0])


def test_infinite_error_counts_only_where_an_output_is_used():
    obj = Objective.of(_case(_rows([[1.0, 0.0], [0.0, 1.0]], [0.0, 0.0])))
    slack = obj.row_slack(torch.tensor([[torch.inf, 0.5]], dtype=torch.float64))
    assert slack[0, 0] == torch.inf and slack[0, 1] == 0.5
