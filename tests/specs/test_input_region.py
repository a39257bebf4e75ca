"""Input regions: when a region is empty, decided exactly."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from region_cases import has_point, region_of, regions

from specs import Box, InputRegion, LinearConstraints


def test_an_open_interval_around_a_single_value_is_empty_and_the_closed_one_is_not() -> None:
    """0.5 < x0 < 0.5 keeps the box [0.5, 0.5] and both rows, strict: no point."""
    rows = [[1.0], [-1.0]], [0.5, -0.5]
    assert region_of([0.5], [0.5], *rows, strict=True).is_empty()
    assert not region_of([0.5], [0.5], *rows, strict=False).is_empty()


def test_a_row_that_fails_at_its_least_corner_empties_theregion_of() -> None:
    """x0 + x1 is at least -2 on [-1, 1]^2: <= -3 and < -2 never hold, <= -2 holds at a corner;
    a row without coefficients is a constant comparison."""
    box = [-1.0, -1.0], [1.0, 1.0]
    assert region_of(*box, [[1.0, 1.0]], [-3.0], strict=False).is_empty()
    assert region_of(*box, [[1.0, 1.0]], [-2.0], strict=True).is_empty()
    assert not region_of(*box, [[1.0, 1.0]], [-2.0], strict=False).is_empty()
    assert region_of(*box, [[0.0, 0.0]], [-1.0], strict=False).is_empty()
    assert not region_of(*box, [[1.0, 1.0], [-1.0, 0.0]], [0.0, 0.0], strict=False).is_empty()


def test_emptiness_is_exact_where_float64_rounding_would_decide() -> None:
    """x0 + x1 <= 1 with x0 >= 1 and x1 >= 2^-53: float64 rounds the least sum to 1 and would
    call the region non-empty; exactly the sum is above 1 everywhere."""
    assert float(np.float64(1.0) + np.float64(2.0**-53)) == 1.0
    assert region_of([1.0, 2.0**-53], [2.0, 1.0], [[1.0, 1.0]], [1.0], strict=False).is_empty()
    assert not region_of([1.0, 0.0], [2.0, 1.0], [[1.0, 1.0]], [1.0], strict=False).is_empty()


def test_an_unbounded_side_never_makes_a_row_fail() -> None:
    """Below -inf a row's left side has no least value: the row holds somewhere."""
    assert not region_of([-np.inf], [0.0], [[1.0]], [-1e308], strict=True).is_empty()
    assert not region_of([0.0], [np.inf], [[-1.0]], [-1e308], strict=True).is_empty()
    assert InputRegion(Box([1.0], [0.0]), LinearConstraints.empty(1)).is_empty()  # the box itself


@settings(max_examples=300, deadline=None)
@given(regions(max_rows=3, strict=True))
def test_a_region_is_called_empty_only_without_a_point_and_always_when_one_row_has_none(region: InputRegion) -> None:
    """Against z3 over the rationals, on small random regions whose floats are not what they
    read as (0.1) or vanish in a float64 sum (2^-53 next to 1): emptiness is never claimed
    for a region with a point, and a row that alone has no point on the box is always caught."""
    rows = range(len(region.constraints.b))
    if region.is_empty():
        assert not has_point(region, list(rows))
    if any(not has_point(region, [r]) for r in rows):
        assert region.is_empty()
