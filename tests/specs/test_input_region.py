"""Input regions: when a region is empty, decided exactly."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from specs import Box, InputRegion, LinearConstraints


def _region(lower: list[float], upper: list[float], A: list[list[float]], b: list[float], strict: bool) -> InputRegion:
    rows = LinearConstraints(np.array(A), np.array(b), np.full(len(b), strict))
    return InputRegion(Box(lower, upper), rows)


def test_an_open_interval_around_a_single_value_is_empty_and_the_closed_one_is_not() -> None:
    """0.5 < x0 < 0.5 keeps the box [0.5, 0.5] and both rows, strict: no point."""
    rows = [[1.0], [-1.0]], [0.5, -0.5]
    assert _region([0.5], [0.5], *rows, strict=True).is_empty()
    assert not _region([0.5], [0.5], *rows, strict=False).is_empty()


def test_a_row_that_fails_at_its_least_corner_empties_the_region() -> None:
    """x0 + x1 is at least -2 on [-1, 1]^2: <= -3 and < -2 never hold, <= -2 holds at a corner;
    a row without coefficients is a constant comparison."""
    box = [-1.0, -1.0], [1.0, 1.0]
    assert _region(*box, [[1.0, 1.0]], [-3.0], strict=False).is_empty()
    assert _region(*box, [[1.0, 1.0]], [-2.0], strict=True).is_empty()
    assert not _region(*box, [[1.0, 1.0]], [-2.0], strict=False).is_empty()
    assert _region(*box, [[0.0, 0.0]], [-1.0], strict=False).is_empty()
    assert not _region(*box, [[1.0, 1.0], [-1.0, 0.0]], [0.0, 0.0], strict=False).is_empty()


def test_emptiness_is_exact_where_float64_rounding_would_decide() -> None:
    """x0 + x1 <= 1 with x0 >= 1 and x1 >= 2^-53: float64 rounds the least sum to 1 and would
    call the region non-empty; exactly the sum is above 1 everywhere."""
    assert float(np.float64(1.0) + np.float64(2.0**-53)) == 1.0
    assert _region([1.0, 2.0**-53], [2.0, 1.0], [[1.0, 1.0]], [1.0], strict=False).is_empty()
    assert not _region([1.0, 0.0], [2.0, 1.0], [[1.0, 1.0]], [1.0], strict=False).is_empty()


def test_an_unbounded_side_never_makes_a_row_fail() -> None:
    """Below -inf a row's left side has no least value: the row holds somewhere."""
    assert not _region([-np.inf], [0.0], [[1.0]], [-1e308], strict=True).is_empty()
    assert not _region([0.0], [np.inf], [[-1.0]], [-1e308], strict=True).is_empty()
    assert InputRegion(Box([1.0], [0.0]), LinearConstraints.empty(1)).is_empty()  # the box itself


def _has_point(region: InputRegion, rows: list[int]) -> bool:
    """Whether some point of the box meets the given rows, by z3 over the rationals (the
    floats taken exactly)."""
    c = region.constraints
    x = [z3.Real(f"x{i}") for i in range(region.box.size)]
    solver = z3.Solver()
    for i, v in enumerate(x):
        solver.add(v >= Fraction(float(region.box.lower[i])), v <= Fraction(float(region.box.upper[i])))
    for r in rows:
        lhs = z3.Sum([Fraction(float(a)) * v for a, v in zip(c.A[r], x, strict=True)])
        bound = Fraction(float(c.b[r]))
        solver.add(lhs < bound if c.strict[r] else lhs <= bound)
    return solver.check() == z3.sat


_values = st.sampled_from([-1.0, -0.5, -0.1, 0.0, 2.0**-53, 0.1, 0.2, 0.3, 0.5, 1.0, 1.0 + 2.0**-52, 3.0])


@st.composite
def _regions(draw: st.DrawFn) -> InputRegion:
    n = draw(st.integers(1, 3))
    m = draw(st.integers(1, 3))
    ends = [sorted(draw(st.lists(_values, min_size=2, max_size=2))) for _ in range(n)]
    A = draw(st.lists(st.lists(_values, min_size=n, max_size=n), min_size=m, max_size=m))
    b = draw(st.lists(_values, min_size=m, max_size=m))
    strict = draw(st.lists(st.booleans(), min_size=m, max_size=m))
    rows = LinearConstraints(np.array(A), np.array(b), np.array(strict))
    return InputRegion(Box([lo for lo, _ in ends], [hi for _, hi in ends]), rows)


@settings(max_examples=300, deadline=None)
@given(_regions())
def test_a_region_is_called_empty_only_without_a_point_and_always_when_one_row_has_none(region: InputRegion) -> None:
    """Against z3 over the rationals, on small random regions whose floats are not what they
    read as (0.1) or vanish in a float64 sum (2^-53 next to 1): emptiness is never claimed
    for a region with a point, and a row that alone has no point on the box is always caught."""
    rows = range(len(region.constraints.b))
    if region.is_empty():
        assert not _has_point(region, list(rows))
    if any(not _has_point(region, [r]) for r in rows):
        assert region.is_empty()
