"""Polynomial rows of an output clause: canonical form, validation, exact holds."""

from __future__ import annotations

import re

import numpy as np
import pytest

from specs import (
    Box,
    Case,
    InputRegion,
    LinearConstraints,
    OutputCondition,
    PolynomialConstraints,
    PolynomialRow,
    Property,
    SpecError,
    Variable,
    write_vnnlib1,
)


def test_monomials_and_terms_are_stored_in_one_order() -> None:
    given = PolynomialConstraints(3, (PolynomialRow((((2, 0), 2.0), ((1,), -1.0), ((1, 1, 0), 0.5)), 1.0, False),))
    other = PolynomialConstraints(3, (PolynomialRow((((1, 0, 1), 0.5), ((0, 2), 2.0), ((1,), -1.0)), 1.0, False),))
    assert given == other
    assert given.rows[0].terms == (((1,), -1.0), ((0, 2), 2.0), ((0, 1, 1), 0.5))
    assert len(given) == 1


@pytest.mark.parametrize(
    ("terms", "bound", "message"),
    [
        ((((), 1.0), ((0, 1), 1.0)), 0.0, "has no variable"),
        ((((0, 3), 1.0),), 0.0, "variable 3, outside 0..2"),
        ((((0, -1), 1.0),), 0.0, "variable -1, outside 0..2"),
        ((((0, 1), 1.0), ((1, 0), 2.0)), 0.0, "occurs twice"),
        ((((0,), 1.0), ((1,), 2.0)), 0.0, "no term of degree 2"),
        ((((0, 1), np.inf),), 0.0, "must be finite"),
        ((((0, 1), 1.0),), np.nan, "must be finite"),
    ],
)
def test_invalid_rows_are_refused(terms: tuple[tuple[tuple[int, ...], float], ...], bound: float, message: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)):
        PolynomialConstraints(3, (PolynomialRow(terms, bound, False),))


def test_holds_is_exact() -> None:
    """y0^2 - y1 <= 0 at y0 = 1 + 2^-30, y1 = fl(y0^2) = 1 + 2^-29: float64 says it holds
    (both sides round to equal), exactly it does not (y0^2 = y1 + 2^-60)."""
    row = PolynomialConstraints(2, (PolynomialRow((((1,), -1.0), ((0, 0), 1.0)), 0.0, False),))
    y0 = 1.0 + 2.0**-30
    y = np.array([y0, y0 * y0])
    assert y0 * y0 - y[1] <= 0.0
    assert not row.holds(y)
    assert row.holds([y0, y[1] + 2.0**-52])
    strict = PolynomialConstraints(2, (PolynomialRow((((0, 1), 1.0),), 0.0, True),))
    assert not strict.holds([0.0, 5.0]) and strict.holds([-1e-300, 5.0])
    assert not strict.holds([np.nan, 5.0]) and not strict.holds([-np.inf, 5.0])


def test_a_clause_carries_polynomial_rows_beside_its_matrix() -> None:
    square = PolynomialConstraints(2, (PolynomialRow((((0, 0), -1.0),), -1.0, False),))  # y0^2 >= 1
    clause = LinearConstraints(np.array([[0.0, 1.0]]), np.array([0.0]), np.array([False]), square)  # y1 <= 0
    assert len(clause) == 2 and clause.size == 2
    assert clause.holds([-2.0, 0.0]) and not clause.holds([0.5, 0.0]) and not clause.holds([2.0, 1.0])
    assert clause == LinearConstraints(np.array([[0.0, 1.0]]), np.array([0.0]), np.array([False]), square)
    assert clause != LinearConstraints(np.array([[0.0, 1.0]]), np.array([0.0]), np.array([False]))
    empty = LinearConstraints(np.zeros((0, 2)), np.zeros(0), np.zeros(0, bool), PolynomialConstraints(2, ()))
    assert empty.polynomial is None and empty == LinearConstraints.empty(2)
    with pytest.raises(SpecError, match="range over 2 variables, the matrix over 3"):
        LinearConstraints(np.zeros((0, 3)), np.zeros(0), np.zeros(0, bool), square)


def test_input_regions_stay_linear() -> None:
    square = PolynomialConstraints(1, (PolynomialRow((((0, 0), 1.0),), 1.0, False),))
    with pytest.raises(SpecError, match="input constraints must be linear"):
        InputRegion(Box([0.0], [1.0]), LinearConstraints(np.zeros((0, 1)), np.zeros(0), np.zeros(0, bool), square))


def test_vnnlib1_cannot_write_products() -> None:
    square = PolynomialConstraints(1, (PolynomialRow((((0, 0), 1.0),), 1.0, False),))
    clause = LinearConstraints(np.zeros((0, 1)), np.zeros(0), np.zeros(0, bool), square)
    case = Case(InputRegion(Box([0.0], [1.0]), LinearConstraints.empty(1)), OutputCondition((clause,)))
    prop = Property(Variable("X", "real", (1,)), Variable("Y", "real", (1,)), (case,))
    assert prop.is_violated_by([0.5], [1.0]) and not prop.is_violated_by([0.5], [1.5])
    with pytest.raises(SpecError, match=re.escape("VNN-LIB 1.0 has no products")):
        write_vnnlib1(prop)


def test_linear_rows_are_checked_exactly_where_float64_rounding_would_decide() -> None:
    """x0 + x1 <= 1 at (1, 2^-53): float64 rounds the sum to 1 (ties to even) and would say
    it holds; exactly it is 1 + 2^-53 > 1. Rows far from their bound need no exact check,
    and a non-finite value matters only where a row uses it."""
    point = np.array([1.0, 2.0**-53])
    assert float(np.array([1.0, 1.0]) @ point) == 1.0
    row = LinearConstraints(np.array([[1.0, 1.0]]), np.array([1.0]), np.array([False]))
    assert not row.holds(point)
    assert row.holds(np.array([1.0, 0.0])) and not LinearConstraints(row.A, row.b, np.array([True])).holds([1.0, 0.0])
    assert LinearConstraints(np.array([[-1.0, -1.0]]), np.array([-1.0]), np.array([True])).holds(point)
    far = LinearConstraints(np.array([[1.0, 0.0]]), np.array([0.5]), np.array([False]))
    assert not far.holds(point) and far.holds([0.0, np.inf]) and not far.holds([np.nan, 0.0])
