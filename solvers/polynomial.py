"""The product terms of a case's polynomial rows, in torch: values and interval bounds.

A polynomial row's degree-1 terms are a linear row of the objective like any other; the
terms of degree 2 and more (``coeff * y_i * y_j * ...``) live here. Their values are
differentiable (the attacks descend on them); their lower bound over a box of outputs is
interval arithmetic: a power ``y_i^k`` bounded exactly (``[0, max]`` for an even power of an
interval around 0), distinct variables multiplied as intervals, so a term is bounded
tightly when each variable's interval is. float64 rounding is covered by a slack rather
than left to the solvers' proof margin, since products of large values can cancel to a small
bound and products of small ones underflow: per operation, `ROUNDING` relative to the
term's magnitude and `TINY` absolute, amplified by the later factors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from specs.property import PolynomialConstraints

Tensor = torch.Tensor

ROUNDING = 2.0**-52
"""Relative error allowed per floating-point operation of a bound (twice the unit roundoff)."""
TINY = 2.0**-1022
"""Absolute error allowed per operation for underflow (the smallest normal: flushed to zero)."""


@dataclass(frozen=True)
class Products:
    """Terms ``coeff[t] * prod(y[i] ** power[t, f] for f, i in enumerate(variable[t]))``
    added to row ``row[t]`` of an objective with ``rows`` rows; ``variable`` lists each
    term's distinct variables, padded with -1 (power 0)."""

    row: Tensor  # (t,) int64
    coeff: Tensor  # (t,) float64
    variable: Tensor  # (t, f) int64
    power: Tensor  # (t, f) float64, integral
    rows: int
    ops: Tensor  # (m,) float64: operations per row whose rounding `lower` allows for

    @staticmethod
    def of(parts: list[tuple[int, PolynomialConstraints]], rows: int) -> Products:
        """The terms of degree >= 2 of each ``(first row, constraints)`` pair: the
        constraints' row ``r`` is objective row ``first + r``."""
        terms = [
            (first + r, c, np.unique(m, return_counts=True))
            for first, constraints in parts
            for r, row in enumerate(constraints.rows)
            for m, c in row.terms
            if len(m) > 1
        ]
        width = max((len(v) for _, _, (v, _) in terms), default=0)
        variable = np.full((len(terms), width), -1, dtype=np.int64)
        power = np.zeros((len(terms), width))
        for t, (_, _, (v, k)) in enumerate(terms):
            variable[t, : len(v)] = v
            power[t, : len(k)] = k
        row = np.array([r for r, _, _ in terms], dtype=np.int64)
        degree = np.array([sum(k) for _, _, (_, k) in terms], dtype=np.float64)
        per_row = np.bincount(row, minlength=rows).astype(np.float64)
        most = np.zeros(rows)
        np.maximum.at(most, row, degree)
        return Products(
            torch.as_tensor(row),
            torch.tensor([c for _, c, _ in terms], dtype=torch.float64),
            torch.as_tensor(variable),
            torch.as_tensor(power),
            rows,
            torch.as_tensor(most + per_row + 2),
        )

    @property
    def watched(self) -> Tensor:
        """The variables some term reads, ascending (p,)."""
        watched: Tensor = torch.unique(self.variable[self.variable >= 0])
        return watched

    def values(self, y: Tensor) -> Tensor:
        """The product terms summed per row (batch, m) at points y (batch, n); differentiable."""
        base = torch.where(self.variable >= 0, y[:, self.variable.clamp_min(0)], 1.0)  # padding: 1 ** 0
        terms = self.coeff * (base**self.power).prod(dim=-1)
        return torch.zeros(y.shape[0], self.rows, dtype=terms.dtype).index_add(1, self.row, terms)

    def lower(self, lower: Tensor, upper: Tensor) -> Tensor:
        """A lower bound per row (batch, m) on the product terms over the boxes
        ``lower <= y <= upper`` (batch, n); NaN where a bound is infinite in a way that
        cancels (never a proof), -inf where it overflows upwards (the terms' value is finite,
        so +inf is no bound: a term of 8 y^4 at y = 6.9e76 overflowed so)."""
        index = self.variable.clamp_min(0)
        lo, hi = _powers(lower[:, index], upper[:, index], self.power)
        term_lo, term_hi = lo[..., 0], hi[..., 0]
        for f in range(1, self.variable.shape[1]):
            corners = torch.stack(
                [term_lo * lo[..., f], term_lo * hi[..., f], term_hi * lo[..., f], term_hi * hi[..., f]]
            )
            term_lo, term_hi = corners.amin(dim=0), corners.amax(dim=0)  # NaN (0 * inf) stays NaN
        bound = torch.where(self.coeff >= 0, self.coeff * term_lo, self.coeff * term_hi)
        size = torch.maximum(term_lo.abs(), term_hi.abs())
        amplified = torch.maximum(lo.abs(), hi.abs()).clamp_min(1.0).prod(dim=-1)
        slack = self.coeff.abs() * ROUNDING * size + self.coeff.abs().clamp_min(1.0) * TINY * amplified
        total = torch.zeros(lower.shape[0], self.rows, dtype=bound.dtype).index_add(1, self.row, bound)
        total = total - self.ops * torch.zeros_like(total).index_add(1, self.row, slack)
        return total.masked_fill(total == torch.inf, -torch.inf)


def _powers(lower: Tensor, upper: Tensor, power: Tensor) -> tuple[Tensor, Tensor]:
    """Exact interval of ``y ** power`` over ``[lower, upper]`` elementwise (power 0: [1, 1])."""
    a, b = lower**power, upper**power
    lo, hi = torch.minimum(a, b), torch.maximum(a, b)
    even_around_zero = (power % 2 == 0) & (power > 0) & (lower < 0) & (upper > 0)
    return torch.where(even_around_zero, torch.zeros_like(lo), lo), hi
