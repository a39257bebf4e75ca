"""Input regions cut down by their linear rows: certified bounds, certified emptiness."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from region_cases import has_point, region_of, regions

from solvers import region as region_module
from solvers.region import tightened
from specs import InputRegion


def test_rows_that_each_hold_somewhere_but_never_together_empty_theregion_of() -> None:
    """x0 + x1 <= 0 and x0 + x1 >= 1 on [-1, 1]^2: each row alone holds on part of the box."""
    region = region_of([-1.0, -1.0], [1.0, 1.0], [[1.0, 1.0], [-1.0, -1.0]], [0.0, -1.0])
    assert not region.is_empty()
    assert tightened(region) is None


def test_rows_bound_inputs_the_box_leaves_unbounded() -> None:
    """x0, x1 >= 0 and x0 + x1 <= 1: each input lies in [0, 1]; the rows are kept."""
    region = region_of([0.0, 0.0], [np.inf, np.inf], [[1.0, 1.0]], [1.0])
    out = tightened(region)
    assert out is not None
    np.testing.assert_array_equal(out.box.lower, [0.0, 0.0])
    np.testing.assert_array_equal(out.box.upper, [1.0, 1.0])
    assert out.constraints is region.constraints


def test_a_bound_that_is_no_float_is_rounded_outward() -> None:
    """3 x0 >= 1 on [0, 1]: x0 >= 1/3, which lies between two floats; the lower bound is the
    float below it, and the point 1/3 rounded up (the nearest float above) is still inside."""
    out = tightened(region_of([0.0], [1.0], [[-3.0]], [-1.0]))
    assert out is not None
    bound = float(out.box.lower[0])
    assert Fraction(bound) <= Fraction(1, 3) < Fraction(np.nextafter(bound, 2.0))


def test_rows_that_cut_nothing_leave_the_region_as_it_is() -> None:
    region = region_of([0.0, 0.0], [1.0, 1.0], [[1.0, 1.0]], [5.0])
    assert tightened(region) is region
    no_rows = region_of([0.0], [1.0], [], [])
    assert tightened(no_rows) is no_rows


def test_rows_over_more_inputs_than_the_limit_tighten_only_unbounded_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(region_module, "TIGHTENED_AT_MOST", 1)
    cutting = region_of([0.0, 0.0], [1.0, 1.0], [[1.0, 1.0]], [0.5])
    assert tightened(cutting) is cutting
    empty = region_of([0.0, 0.0], [1.0, 1.0], [[1.0, 1.0]], [-0.5])
    assert tightened(empty) is None
    out = tightened(region_of([0.0, 0.0], [1.0, np.inf], [[1.0, 1.0]], [0.5]))
    assert out is not None
    np.testing.assert_array_equal(out.box.upper, [1.0, 0.5])  # x0 keeps its bound; x1 gets one


@settings(max_examples=300, deadline=None)
@given(regions(max_rows=4, strict=False))
def test_no_point_of_a_region_is_ever_cut_off(region: InputRegion) -> None:
    """Against z3 over the rationals, with floats such as 0.1 and 2^-53 beside 1: a region
    called empty has no point, and a tightened box holds every point of the region."""
    out = tightened(region)
    every_row = range(len(region.constraints))
    if out is None:
        assert not has_point(region, every_row)
    else:
        assert not has_point(region, every_row, outside=out.box)
