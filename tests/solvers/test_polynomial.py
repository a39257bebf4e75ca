"""Polynomial rows in the solvers: values, interval bounds (property-based soundness), the
objective's bound rows, and bounds through every method on a network."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from known_nets import abs_network

from bounds import import_model
from solvers.bounders import make_bounder, root_bounds
from solvers.objective import Objective
from solvers.options import BOUND_METHODS
from solvers.polynomial import Products
from specs.property import (
    Box,
    Case,
    InputRegion,
    LinearConstraints,
    OutputCondition,
    PolynomialConstraints,
    PolynomialRow,
)


def _case(n: int, *rows: PolynomialRow, lower: float = -1.0, upper: float = 1.0) -> Case:
    """One clause of polynomial rows over n outputs, on the box [lower, upper] of one input."""
    clause = LinearConstraints(np.zeros((0, n)), np.zeros(0), np.zeros(0, bool), PolynomialConstraints(n, rows))
    return Case(InputRegion(Box([lower], [upper]), LinearConstraints.empty(1)), OutputCondition((clause,)))


def _exact(row: PolynomialRow, y: np.ndarray) -> Fraction:
    """The product terms of the row at y, exactly."""
    return sum(
        (Fraction(c) * math.prod(Fraction(float(y[i])) for i in m) for m, c in row.terms if len(m) > 1), Fraction(0)
    )


@st.composite
def polynomials(draw: st.DrawFn) -> tuple[int, PolynomialRow]:
    n = draw(st.integers(1, 3))
    monomial = st.lists(st.integers(0, n - 1), min_size=1, max_size=4).map(lambda m: tuple(sorted(m)))
    monomials = draw(st.lists(monomial, min_size=1, max_size=4, unique=True).filter(lambda ms: max(map(len, ms)) > 1))
    coeffs = st.floats(-10, 10, allow_subnormal=False)
    return n, PolynomialRow(tuple((m, draw(coeffs)) for m in monomials), 0.0, False)


@settings(max_examples=300, deadline=None)
@given(polynomials(), st.data())
def test_interval_bound_holds_at_sampled_points(polynomial: tuple[int, PolynomialRow], data: st.DataObject) -> None:
    """The lower bound of the product terms over a random box is below their exact value at
    the box's corners, its point nearest 0 and random points (tiny values and overflow
    included)."""
    n, row = polynomial
    ends = st.one_of(st.floats(-5, 5), st.floats(-1e80, 1e80))
    a = np.array(data.draw(st.lists(ends, min_size=n, max_size=n)))
    b = np.array(data.draw(st.lists(ends, min_size=n, max_size=n)))
    lower, upper = np.minimum(a, b), np.maximum(a, b)
    products = Products.of([(0, PolynomialConstraints(n, (row,)))], 1)
    bound = float(products.lower(torch.tensor(lower)[None], torch.tensor(upper)[None])[0, 0])
    if not math.isfinite(bound):  # overflow: no bound, never +inf
        assert math.isnan(bound) or bound == -math.inf
        return
    rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1)))
    corners = [np.where(np.array(bits), upper, lower) for bits in np.ndindex(*(2,) * n)]
    for y in [*corners, np.clip(0.0, lower, upper), *rng.uniform(lower, upper, size=(64, n))]:
        assert Fraction(bound) <= _exact(row, y), (bound, y)


def test_a_bound_that_overflows_upwards_is_no_bound() -> None:
    """8 y^4 at y = 6.9e76 is finite but beyond float64: its bound is -inf, never +inf."""
    row = PolynomialRow((((0, 0, 0, 0), 8.0),), 0.0, False)
    products = Products.of([(0, PolynomialConstraints(1, (row,)))], 1)
    point = torch.tensor([[6.885038819102322e76]], dtype=torch.float64)
    assert float(products.lower(point, point)[0, 0]) == -math.inf


def test_interval_bound_is_exact_for_single_terms() -> None:
    """y0^2 over [-1, 2] is [0, 4]; -y0 y1 over [-1, 2] x [3, 4] is [-8, 4]."""
    square = PolynomialRow((((0, 0), 1.0),), 0.0, False)
    product = PolynomialRow((((0, 1), -1.0),), 0.0, False)
    products = Products.of([(0, PolynomialConstraints(2, (square, product)))], 2)
    bound = products.lower(torch.tensor([[-1.0, 3.0]]), torch.tensor([[2.0, 4.0]]))
    assert bound[0].tolist() == pytest.approx([0.0, -8.0], abs=1e-12)
    assert bound[0, 1] < -8.0  # the rounding slack keeps it strictly below


def test_infinite_bounds_give_no_proof() -> None:
    products = Products.of([(0, PolynomialConstraints(2, (PolynomialRow((((0, 1), 1.0),), 0.0, False),)))], 1)
    bound = products.lower(torch.tensor([[0.0, -torch.inf]]), torch.tensor([[0.0, 1.0]]))  # 0 * inf
    assert torch.isnan(bound).all() or bool((bound == -torch.inf).all())


def test_values_and_gradients() -> None:
    """y0^2 y1 - 2 y1^3 at (0, 2): value -16, gradient (0, -24), finite at y0 = 0."""
    row = PolynomialRow((((0, 0, 1), 1.0), ((1, 1, 1), -2.0)), 0.0, False)
    products = Products.of([(0, PolynomialConstraints(2, (row,)))], 1)
    y = torch.tensor([[0.0, 2.0]], dtype=torch.float64, requires_grad=True)
    value = products.values(y)
    (grad,) = torch.autograd.grad(value.sum(), y)
    assert value.item() == -16.0 and grad.tolist() == [[0.0, -24.0]]


def test_objective_stacks_linear_and_polynomial_rows() -> None:
    """Clause 0: y0 <= 1 and y0 y1 - y1 <= 0.5 ; clause 1: y1^2 >= 1."""
    rows = (PolynomialRow((((1,), -1.0), ((0, 1), 1.0)), 0.5, False),)
    first = LinearConstraints(
        np.array([[1.0, 0.0]]), np.array([1.0]), np.array([False]), PolynomialConstraints(2, rows)
    )
    second = LinearConstraints(
        np.zeros((0, 2)),
        np.zeros(0),
        np.zeros(0, bool),
        PolynomialConstraints(2, (PolynomialRow((((1, 1), -1.0),), -1.0, True),)),
    )
    case = Case(InputRegion(Box([0.0], [1.0]), LinearConstraints.empty(1)), OutputCondition((first, second)))
    objective = Objective.of(case)
    assert objective.C.tolist() == [[1.0, 0.0], [0.0, -1.0], [0.0, 0.0]]
    assert objective.d.tolist() == [1.0, 0.5, -1.0] and objective.clause_of_row.tolist() == [0, 0, 1]
    assert objective.strict.tolist() == [False, False, True]
    y = torch.tensor([[0.5, 2.0], [2.0, 0.5], [0.0, -1.0]], dtype=torch.float64)
    assert objective.values(y).tolist() == [[0.5, -1.0, -4.0], [2.0, 0.5, -0.25], [0.0, 1.0, -1.0]]
    assert objective.satisfied(y).tolist() == [True, False, False]  # y1^2 > 1 is strict
    assert objective.bound_rows.tolist() == [[1, 0], [0, -1], [0, 0], [1, 0], [0, 1], [-1, 0], [0, -1]]
    # y in [0, 1] x [2, 3]: y0 y1 - y1 >= 0 * 2 - 3 ... row bounds from the linear part and the box
    bounds = torch.tensor([[0.0, -3.0, 0.0, 0.0, 2.0, -1.0, -3.0]], dtype=torch.float64)
    lower = objective.row_lower(bounds)
    assert lower[0].tolist() == pytest.approx([0.0, -3.0, -9.0], abs=1e-12)
    assert not bool(objective.refuted(lower)[0])
    crossed = bounds.clone()
    crossed[0, 3] = 2.0  # y0 >= 2 and y0 <= 1: no point
    assert bool(objective.refuted(objective.row_lower(crossed))[0])
    with pytest.raises(ValueError, match="linear rows only"):
        objective.with_rounding(torch.zeros(2, dtype=torch.float64))
    slack = objective.row_slack(torch.tensor([[0.1, 0.2]], dtype=torch.float64))
    assert slack[0].tolist() == pytest.approx([0.1, 0.2, 0.0, 0.1, 0.2, 0.1, 0.2])


@pytest.mark.parametrize("method", BOUND_METHODS)
def test_every_bound_method_is_sound_on_products_of_outputs(method: str) -> None:
    """y = [|x|, 1 - |x|] on x in [-1, 1]: y0 y1 = |x| (1 - |x|) <= 1/4 and y0^2 <= 1; the
    bound on -y0 y1 and -y0^2 stays below the sampled values, and refutes y0^2 >= 1.5
    (intervals, y0 in [0, 2] over the whole box, only on the smaller boxes)."""
    graph = import_model(abs_network())
    case = _case(
        2,
        PolynomialRow((((0, 1), -1.0),), 0.0, False),
        PolynomialRow((((0, 0), -1.0),), -1.5, False),
    )
    objective = Objective.of(case)
    xs = torch.linspace(-1, 1, 201, dtype=torch.float64)[:, None]
    values = objective.values(graph.run(xs))
    lower = torch.tensor([[-1.0], [-1.0], [0.25]], dtype=torch.float64)
    upper = torch.tensor([[1.0], [-0.5], [0.75]], dtype=torch.float64)
    bounds = make_bounder(graph, objective, method)(lower, upper).bounds
    for box in range(3):
        inside = (xs[:, 0] >= lower[box, 0]) & (xs[:, 0] <= upper[box, 0])
        assert bool((bounds[box] <= values[inside].amin(dim=0)).all())
    refuted = (bounds[:, 1] > -1.5).tolist()  # -y0^2 >= -1 > -1.5: the second row is refuted...
    assert refuted == [method != "interval", True, True]  # ...where y0's bounds are tight
    root = root_bounds(graph, objective, method, lower[:1], upper[:1])
    assert bool((root[0] <= values.amin(dim=0)).all()) and (root[0, 1] > -1.5) == (method != "interval")
