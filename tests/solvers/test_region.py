"""Input regions cut down by their linear rows: certified bounds, certified emptiness."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from solvers import region as region_module
from solvers.region import tightened
from specs import Box, InputRegion, LinearConstraints


def _region(lower: list[float], upper: list[float], A: list[list[float]], b: list[float]) -> InputRegion:
    rows = LinearConstraints(
        np.array(A, dtype=np.float64).reshape(len(b), len(lower)), np.array(b), np.zeros(len(b), bool)
    )
    return InputRegion(Box(lower, upper), rows)


def test_rows_that_each_hold_somewhere_but_never_together_empty_the_region() -> None:
    """x0 + x1 <= 0 and x0 + x1 >= 1 on [-1, 1]^2: each row alone holds on part of the box."""
    region = _region([-1.0, -1.0], [1.0, 1.0], [[1.0, 1.0], [-1.0, -1.0]], [0.0, -1.0])
    assert not region.is_empty()
    assert tightened(region) is None


def test_rows_bound_inputs_the_box_leaves_unbounded() -> None:
    """x0, x1 >= 0 and x0 + x1 <= 1: each input lies in [0, 1]; the rows are kept."""
    region = _region([0.0, 0.0], [np.inf, np.inf], [[1.0, 1.0]], [1.0])
    out = tightened(region)
    assert out is not None
    np.testing.assert_array_equal(out.box.lower, [0.0, 0.0])
    np.testing.assert_array_equal(out.box.upper, [1.0, 1.0])
    assert out.constraints is region.constraints


def test_a_bound_that_is_no_float_is_rounded_outward() -> None:
    """3 x0 >= 1 on [0, 1]: x0 >= 1/3, which lies between two floats; the lower bound is the
    float below it, and the point 1/3 rounded up (the nearest float above) is still inside."""
    out = tightened(_region([0.0], [1.0], [[-3.0]], [-1.0]))
    assert out is not None
    bound = float(out.box.lower[0])
    assert Fraction(bound) <= Fraction(1, 3) < Fraction(np.nextafter(bound, 2.0))


def test_rows_that_cut_nothing_leave_the_region_as_it_is() -> None:
    region = _region([0.0, 0.0], [1.0, 1.0], [[1.0, 1.0]], [5.0])
    assert tightened(region) is region
    no_rows = _region([0.0], [1.0], [], [])
    assert tightened(no_rows) is no_rows


def test_rows_over_more_inputs_than_the_limit_tighten_only_unbounded_inputs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(region_module, "TIGHTENED_AT_MOST", 1)
    cutting = _region([0.0, 0.0], [1.0, 1.0], [[1.0, 1.0]], [0.5])
    assert tightened(cutting) is cutting
    empty = _region([0.0, 0.0], [1.0, 1.0], [[1.0, 1.0]], [-0.5])
    assert tightened(empty) is None
    out = tightened(_region([0.0, 0.0], [1.0, np.inf], [[1.0, 1.0]], [0.5]))
    assert out is not None
    np.testing.assert_array_equal(out.box.upper, [1.0, 0.5])  # x0 keeps its bound; x1 gets one


def _point_outside(region: InputRegion, box: Box | None) -> bool:
    """Whether, over the rationals (z3), some point of the box meets every row, closed, and
    lies outside ``box`` (any point at all when ``box`` is None)."""
    x = [z3.Real(f"x{i}") for i in range(region.box.size)]
    solver = z3.Solver()
    for v, lo, hi in zip(x, region.box.lower, region.box.upper, strict=True):
        solver.add(v >= Fraction(float(lo)), v <= Fraction(float(hi)))
    c = region.constraints
    for r in range(len(c)):
        solver.add(z3.Sum([Fraction(float(a)) * v for a, v in zip(c.A[r], x, strict=True)]) <= Fraction(float(c.b[r])))
    if box is not None:
        solver.add(
            z3.Or(
                *(
                    z3.Or(v < Fraction(float(lo)), v > Fraction(float(hi)))
                    for v, lo, hi in zip(x, box.lower, box.upper, strict=True)
                )
            )
        )
    return solver.check() == z3.sat


_values = st.sampled_from([-1.0, -0.5, -0.1, 0.0, 2.0**-53, 0.1, 0.2, 0.3, 0.5, 1.0, 1.0 + 2.0**-52, 3.0])


@st.composite
def _regions(draw: st.DrawFn) -> InputRegion:
    n = draw(st.integers(1, 3))
    m = draw(st.integers(1, 4))
    ends = [sorted(draw(st.lists(_values, min_size=2, max_size=2))) for _ in range(n)]
    A = draw(st.lists(st.lists(_values, min_size=n, max_size=n), min_size=m, max_size=m))
    b = draw(st.lists(_values, min_size=m, max_size=m))
    return _region([e[0] for e in ends], [e[1] for e in ends], A, b)


@settings(max_examples=300, deadline=None)
@given(_regions())
def test_no_point_of_a_region_is_ever_cut_off(region: InputRegion) -> None:
    """Against z3 over the rationals, with floats such as 0.1 and 2^-53 beside 1: a region
    called empty has no point, and a tightened box holds every point of the region."""
    out = tightened(region)
    if out is None:
        assert not _point_outside(region, None)
    else:
        assert not _point_outside(region, out.box)
