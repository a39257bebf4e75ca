"""A case's output condition in the form the solvers work with.

All rows of all clauses are stacked into ``C @ y + P(y) <= d``; ``clause_of_row`` says
which clause owns each row. ``P`` holds the product terms of polynomial rows
(`solvers.polynomial.Products`; None when every row is linear), whose degree-1 terms are
in ``C``. A clause holds when all its rows hold; the case is violated when some clause
holds. The *margin* of a clause is ``max_i (C_i y + P_i(y) - d_i)``: it holds iff the
margin is <= 0 (< 0 on strict rows), so minimising the smallest clause margin searches for
a violation.

Bound methods bound ``bound_rows @ y``: ``C``, and for polynomial rows also ``y_i`` and
``-y_i`` for every output in a product; ``row_lower`` turns those into lower bounds on the
rows, by interval arithmetic on the products.

Under float arithmetic (``with_rounding``) each row also carries a slack ``|C_i| @ e`` for a
bound ``e`` on how far the model executed in float can be from the real network
(``bounds.float_error``): a row is refuted only when ``lower_i - slack_i`` clears ``d_i``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from solvers.polynomial import Products
from specs.property import Case

Tensor = torch.Tensor

PROOF_MARGIN = 1e-9
"""Relative margin by which a bound must clear a constraint to refute it (see ``refuted``)."""


@dataclass(frozen=True)
class Objective:
    """Stacked rows of a case's clauses (see module docstring)."""

    C: Tensor  # (m, n_out): each row's linear part
    d: Tensor  # (m,)
    strict: Tensor  # (m,) bool
    clause_of_row: Tensor  # (m,) int64: which clause each row belongs to
    clauses: int
    rounding: Tensor | None = None
    """(m,) slack per row for float execution (see module docstring); None: real arithmetic."""
    products: Products | None = None
    """The product terms of polynomial rows; None when every row is linear."""

    @staticmethod
    def of(case: Case) -> Objective:
        """Every clause's linear rows, then its polynomial rows (degree-1 terms in ``C``)."""
        clauses = case.condition.clauses
        n_out = clauses[0].size if clauses else 0
        C: list[np.ndarray] = [np.zeros((0, n_out))]
        d: list[np.ndarray] = [np.zeros(0)]
        strict: list[np.ndarray] = [np.zeros(0, dtype=bool)]
        owner: list[np.ndarray] = [np.zeros(0, dtype=np.int64)]
        polynomial = []
        for j, clause in enumerate(clauses):
            C.append(clause.A)
            d.append(clause.b)
            strict.append(clause.strict)
            if clause.polynomial is not None:
                rows = clause.polynomial.rows
                polynomial.append((sum(len(b) for b in d), clause.polynomial))
                linear = np.zeros((len(rows), n_out))
                for r, row in enumerate(rows):
                    for monomial, c in row.terms:
                        if len(monomial) == 1:
                            linear[r, monomial[0]] = c
                C.append(linear)
                d.append(np.array([row.bound for row in rows]))
                strict.append(np.array([row.strict for row in rows], dtype=bool))
            owner.append(np.full(len(clause), j, dtype=np.int64))
        return Objective(
            torch.tensor(np.concatenate(C), dtype=torch.float64),
            torch.tensor(np.concatenate(d), dtype=torch.float64),
            torch.as_tensor(np.concatenate(strict), dtype=torch.bool),
            torch.as_tensor(np.concatenate(owner), dtype=torch.int64),
            len(clauses),
            products=Products.of(polynomial, sum(len(b) for b in d)) if polynomial else None,
        )

    @property
    def bound_rows(self) -> Tensor:
        """(r, n_out): the rows whose lower bounds `row_lower` needs: ``C``, then for
        polynomial rows ``e_i`` and ``-e_i`` for each output ``i`` in a product."""
        if self.products is None:
            return self.C
        eye = torch.eye(self.C.shape[1], dtype=self.C.dtype)[self.products.watched]
        return torch.cat([self.C, eye, -eye])

    def row_lower(self, bounds: Tensor) -> Tensor:
        """Lower bounds (batch, m) on the rows from lower bounds (batch, r) on ``bound_rows
        @ y``: the linear part's bound plus the interval bound of the products over the
        outputs' bounds; +inf for a box whose output bounds cross (it holds no point)."""
        if self.products is None:
            return bounds
        m, watched = self.C.shape[0], self.products.watched
        lower = torch.full((bounds.shape[0], self.C.shape[1]), -torch.inf, dtype=bounds.dtype)
        upper = torch.full_like(lower, torch.inf)
        lower[:, watched] = bounds[:, m : m + watched.numel()]
        upper[:, watched] = -bounds[:, m + watched.numel() :]
        rows = bounds[:, :m] + self.products.lower(lower, upper)
        void = (lower > upper).any(dim=1, keepdim=True)
        return torch.where(void, torch.inf, rows)

    def with_rounding(self, error: Tensor) -> Objective:
        """This objective for a float model whose flat output is within ``error`` (n_out,)
        of the real network's over the case's box (valid for every sub-box). Linear rows
        only: the bound methods widen polynomial rows per box (``row_slack``)."""
        if self.products is not None:
            raise ValueError("a fixed rounding slack applies to linear rows only")
        return replace(self, rounding=self.row_slack(error[None])[0])

    def row_slack(self, error: Tensor) -> Tensor:
        """``|bound_rows| @ e`` per bound row (batch, r) for output error bounds (batch,
        n_out): subtracted from the bounds before ``row_lower``, it widens every output of
        a product by its error too. An infinite error counts only in rows that use that
        output (no ``0 * inf``)."""
        rows = self.bound_rows
        terms = rows.abs() * error.to(rows.dtype)[:, None, :]
        return torch.where(rows != 0, terms, 0.0).sum(dim=-1)

    @property
    def proof_d(self) -> Tensor:
        """The bound each row's lower bound must exceed: ``d`` plus the rounding slack."""
        return self.d if self.rounding is None else self.d + self.rounding

    def _per_clause_max(self, rows: Tensor) -> Tensor:
        """Max over each clause's rows: (batch, m) -> (batch, clauses); empty clause -> -inf."""
        out = torch.full((rows.shape[0], self.clauses), -torch.inf, dtype=rows.dtype)
        index = self.clause_of_row.expand(rows.shape[0], -1)
        return out.scatter_reduce(1, index, rows, reduce="amax", include_self=True)

    def values(self, y: Tensor) -> Tensor:
        """Left-hand sides (batch, m) of the rows at flat outputs y (batch, n_out); differentiable."""
        linear = y @ self.C.T
        return linear if self.products is None else linear + self.products.values(y)

    def margins(self, y: Tensor) -> Tensor:
        """Clause margins (batch, clauses) for flat outputs y (batch, n_out); differentiable."""
        return self._per_clause_max(self.values(y) - self.d)

    def satisfied(self, y: Tensor) -> Tensor:
        """Whether some clause holds at each output (batch,) -> bool, in float64 (candidates
        are checked exactly by the caller)."""
        values = self.values(y)
        rows_hold = torch.where(self.strict, values < self.d, values <= self.d)
        violated_rows = (~rows_hold).to(torch.float64)
        return (self._per_clause_max(violated_rows) <= 0).any(dim=1)

    def clause_slack(self, lower: Tensor) -> Tensor:
        """(batch, clauses): per clause, the largest ``lower_i - d_i`` among its rows: how far
        the bounds are from refuting it (positive: refuted, up to strictness, which
        ``refuted`` decides exactly); the lowest is the likeliest to be violated."""
        return self._per_clause_max(lower - self.proof_d)

    def clauses_refuted(self, lower: Tensor) -> Tensor:
        """(batch, clauses) bool: the clauses the lower bounds refute (see ``refuted``)."""
        return self._per_clause_max((lower > self._threshold).to(torch.float64)) > 0

    def refuted(self, lower: Tensor) -> Tensor:
        """Given lower bounds (batch, m) on ``C @ y``, whether every clause is impossible (batch,).

        A row counts as impossible only when its bound clears ``d`` by PROOF_MARGIN (relative),
        so the float64 rounding of the bound computation itself cannot decide a proof; this
        also makes strict and non-strict rows alike (a sound simplification). Under float
        arithmetic the rounding slack is added to ``d`` first.
        """
        return self.clauses_refuted(lower).all(dim=1)  # NaN never refutes

    def live_rows(self, bounds: Tensor) -> Tensor:
        """(batch, r) over ``bound_rows``, from lower bounds on them: the rows whose tighter
        bounds could still refute something, those of the clauses left open (with products,
        every row of a box not refuted)."""
        if self.products is None:
            return ~self.clauses_refuted(bounds)[:, self.clause_of_row]
        return (~self.refuted(self.row_lower(bounds)))[:, None].expand(-1, self.bound_rows.shape[0])

    def open_rows(self, lower: Tensor) -> Tensor:
        """(batch, m): rows whose lower bound does not refute them (see ``refuted``)."""
        return lower <= self._threshold

    @property
    def _threshold(self) -> Tensor:
        return self.proof_d + PROOF_MARGIN * (1 + self.d.abs())
