"""Small random input regions, and z3 over the rationals to say which points they hold:
the ground truth for the exact emptiness check (specs) and the certified tightening
(solvers.region)."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import numpy as np
import z3
from hypothesis import strategies as st

from specs import Box, InputRegion, LinearConstraints


def region_of(
    lower: list[float], upper: list[float], A: list[list[float]], b: list[float], *, strict: bool = False
) -> InputRegion:
    """The box with rows ``A x <= b`` (``<`` throughout when ``strict``)."""
    rows = LinearConstraints(
        np.array(A, dtype=np.float64).reshape(len(b), len(lower)), np.array(b), np.full(len(b), strict)
    )
    return InputRegion(Box(lower, upper), rows)


VALUES = st.sampled_from([-1.0, -0.5, -0.1, 0.0, 2.0**-53, 0.1, 0.2, 0.3, 0.5, 1.0, 1.0 + 2.0**-52, 3.0])
"""Floats that are not what they look like (0.1), tiny ones (2^-53) and ones beside 1."""


@st.composite
def regions(draw: st.DrawFn, *, max_rows: int, strict: bool) -> InputRegion:
    """A box over 1-3 inputs with 1 to ``max_rows`` rows drawn from VALUES (strict ones too
    when ``strict``)."""
    n = draw(st.integers(1, 3))
    m = draw(st.integers(1, max_rows))
    ends = [sorted(draw(st.lists(VALUES, min_size=2, max_size=2))) for _ in range(n)]
    A = draw(st.lists(st.lists(VALUES, min_size=n, max_size=n), min_size=m, max_size=m))
    b = draw(st.lists(VALUES, min_size=m, max_size=m))
    flags = draw(st.lists(st.booleans(), min_size=m, max_size=m)) if strict else [False] * m
    rows = LinearConstraints(np.array(A), np.array(b), np.array(flags))
    return InputRegion(Box([lo for lo, _ in ends], [hi for _, hi in ends]), rows)


def has_point(region: InputRegion, rows: Sequence[int], *, outside: Box | None = None) -> bool:
    """Whether some point of the region's box meets the given rows (strict where flagged)
    and, given ``outside``, lies outside that box: z3 over the rationals, floats taken
    exactly."""
    c = region.constraints
    x = [z3.Real(f"x{i}") for i in range(region.box.size)]
    solver = z3.Solver()
    for v, lo, hi in zip(x, region.box.lower, region.box.upper, strict=True):
        solver.add(v >= Fraction(float(lo)), v <= Fraction(float(hi)))
    for r in rows:
        lhs = z3.Sum([Fraction(float(a)) * v for a, v in zip(c.A[r], x, strict=True)])
        bound = Fraction(float(c.b[r]))
        solver.add(lhs < bound if c.strict[r] else lhs <= bound)
    if outside is not None:
        solver.add(
            z3.Or(
                *(
                    z3.Or(v < Fraction(float(lo)), v > Fraction(float(hi)))
                    for v, lo, hi in zip(x, outside.lower, outside.upper, strict=True)
                )
            )
        )
    return solver.check() == z3.sat
