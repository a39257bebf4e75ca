"""Input regions cut down to what their linear rows allow, certified exactly by LP duality.

The searches bound over a case's box and relax its extra linear rows away (sound: the box
contains the region). Rows can shrink the box a great deal, or to nothing: ``x0 + x1 <= 0``
with ``x0 + x1 >= 1`` holds nowhere, though each row holds somewhere on the box, and a row
such as ``x0 + x1 <= 1`` can bound inputs that the box leaves unbounded. ``tightened`` asks
HiGHS for small LPs over the closed region (strict rows relaxed, a superset) and keeps only
what their dual multipliers certify: for any ``y >= 0`` on the rows ``A x <= b``, every point
``x`` of the region satisfies

    g x >= g x + y (A x - b) >= min over the box of (g + A^T y) x - y b    (weak duality),

which is evaluated in exact rational arithmetic and rounded outward to float64. So no
tolerance or inaccuracy of the solver can cut off a point of the region: a poor ``y`` only
gives a weaker bound. With ``g = 0`` a positive right side proves the region empty (a Farkas
certificate); ``y`` then comes from the LP that minimises the rows' largest violation.
"""

from __future__ import annotations

import math
import sys
from dataclasses import replace
from fractions import Fraction

import highspy
import numpy as np

from solvers.highs import banner_discarded
from specs.property import Box, InputRegion

TIGHTENED_AT_MOST = 64
"""The most inputs the rows may use for their bounds to be tightened (two LPs and two
rational certificates each); of a region whose rows use more, only the inputs without a
finite bound are (the searches need one)."""

_OPTIMAL = highspy.HighsModelStatus.kOptimal


def tightened(region: InputRegion) -> InputRegion | None:
    """The region with its box shrunk to the bounds its rows certifiably imply on the inputs
    they use (see the module docstring); None when a certificate shows it has no point. The
    region is returned unchanged when it has no rows, or when the LPs certify nothing."""
    A, b = region.constraints.A, region.constraints.b
    used = np.flatnonzero(np.any(A != 0, axis=0))
    if used.size == 0:
        return region
    box = region.box
    lower, upper = box.lower.copy(), box.upper.copy()
    with banner_discarded():
        lp = _Program(A[:, used], b, lower[used], upper[used])
        if lp.certified_empty():
            return None
        unbounded = ~(np.isfinite(lower[used]) & np.isfinite(upper[used]))
        for position in np.flatnonzero(unbounded) if used.size > TIGHTENED_AT_MOST else range(used.size):
            index = used[position]
            lower[index] = max(lower[index], lp.least(int(position), 1.0))
            upper[index] = min(upper[index], -lp.least(int(position), -1.0))
    if np.any(lower > upper):  # each bound is certified, so crossed bounds prove emptiness too
        return None
    if np.array_equal(lower, box.lower) and np.array_equal(upper, box.upper):
        return region
    return replace(region, box=Box(lower, upper))


class _Program:
    """The LP over the inputs the rows use: columns ``x`` (box bounds) and a slack ``s``;
    rows ``A x - s <= b``. With ``s`` fixed at 0 it is the closed region."""

    def __init__(self, A: np.ndarray, b: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        self.A, self.b, self.lower, self.upper = A, b, lower, upper
        m, n = A.shape
        self.n = n
        highs = highspy.Highs()  # type: ignore[no-untyped-call]
        highs.setOptionValue("output_flag", False)
        highs.addVars(n, lower, upper)
        highs.addVars(1, np.array([0.0]), np.array([0.0]))  # s; bounded below when minimised
        rows = np.hstack([A, -np.ones((m, 1))])
        starts = np.arange(m) * (n + 1)
        highs.addRows(
            m, np.full(m, -highspy.kHighsInf), b, rows.size, starts, np.tile(np.arange(n + 1), m), rows.ravel()
        )
        self.highs = highs

    def _solve(self, g: np.ndarray, slack: float) -> np.ndarray | None:
        """Minimise ``g x + slack s``, with ``s >= -1`` when it has a cost and ``s = 0``
        otherwise; the row multipliers ``y >= 0``, None without an optimum."""
        highs = self.highs
        highs.changeColBounds(self.n, -1.0 if slack else 0.0, highspy.kHighsInf if slack else 0.0)
        highs.changeColsCost(self.n + 1, np.arange(self.n + 1), np.append(g, slack))
        highs.run()
        if highs.getModelStatus() != _OPTIMAL:
            return None
        # HiGHS's row dual is the objective's rate of change with the row's bound: <= 0 at an
        # active upper bound of a minimisation; any finite y >= 0 makes a valid certificate
        y = np.maximum(-np.asarray(highs.getSolution().row_dual, dtype=np.float64), 0.0)
        return y if np.isfinite(y).all() else None

    def certified_empty(self) -> bool:
        """Whether the multipliers of the least-violation LP (minimise ``s``) prove that no
        point of the box meets every row."""
        y = self._solve(np.zeros(self.n), 1.0)
        return y is not None and self._certified(np.zeros(self.n), y) > 0

    def least(self, position: int, sign: float) -> float:
        """A certified lower bound on ``sign * x[position]`` over the closed region (-inf
        when the LP gives none)."""
        g = np.zeros(self.n)
        g[position] = sign
        y = self._solve(g, 0.0)
        if y is None:
            return -math.inf
        return _down(self._certified(g, y))

    def _certified(self, g: np.ndarray, y: np.ndarray) -> Fraction | float:
        """``min over the box of (g + A^T y) x - y b``, exactly; -inf where a nonzero
        coefficient meets an infinite side."""
        ys = [Fraction(float(v)) for v in y]
        total = -sum((w * Fraction(float(v)) for w, v in zip(ys, self.b, strict=True) if w), Fraction(0))
        for j in range(self.n):
            c = Fraction(float(g[j])) + sum(
                (w * Fraction(float(a)) for w, a in zip(ys, self.A[:, j], strict=True) if w and a), Fraction(0)
            )
            if c == 0:
                continue
            side = self.lower[j] if c > 0 else self.upper[j]
            if not math.isfinite(side):
                return -math.inf
            total += c * Fraction(float(side))
        return total


def _down(value: Fraction | float) -> float:
    """The largest float64 at most ``value``."""
    if isinstance(value, float):
        return value
    try:
        nearest = float(value)
    except OverflowError:
        return -math.inf if value < 0 else sys.float_info.max
    return math.nextafter(nearest, -math.inf) if Fraction(nearest) > value else nearest
