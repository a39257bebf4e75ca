"""A case's output condition in the form the solvers work with.

All rows of all clauses are stacked into ``C @ y <= d``; clause ``j`` owns the rows in
``slices[j]``. A clause holds when all its rows hold; the case is violated when some
clause holds. The *margin* of a clause is ``max_i (C_i y - d_i)``: it holds iff the margin
is <= 0 (< 0 on strict rows), so minimising the smallest clause margin searches for a
violation.

Under float arithmetic (``with_rounding``) each row also carries a slack ``|C_i| @ e`` for a
bound ``e`` on how far the model executed in float can be from the real network
(``bounds.float_error``): a row is refuted only when ``lower_i - slack_i`` clears ``d_i``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from specs.property import Case

Tensor = torch.Tensor

PROOF_MARGIN = 1e-9
"""Relative margin by which a bound must clear a constraint to refute it (see ``refuted``)."""


@dataclass(frozen=True)
class Objective:
    """Stacked rows of a case's clauses (see module docstring)."""

    C: Tensor  # (m, n_out)
    d: Tensor  # (m,)
    strict: Tensor  # (m,) bool
    clause_of_row: Tensor  # (m,) int64: which clause each row belongs to
    clauses: int
    rounding: Tensor | None = None
    """(m,) slack per row for float execution (see module docstring); None: real arithmetic."""

    @staticmethod
    def of(case: Case) -> Objective:
        clauses = case.condition.clauses
        n_out = clauses[0].size
        C = np.concatenate([c.A for c in clauses]) if clauses else np.zeros((0, n_out))
        d = np.concatenate([c.b for c in clauses]) if clauses else np.zeros(0)
        strict = np.concatenate([c.strict for c in clauses]) if clauses else np.zeros(0, bool)
        owner = np.concatenate([np.full(len(c), j) for j, c in enumerate(clauses)]) if clauses else np.zeros(0)
        return Objective(
            torch.tensor(C, dtype=torch.float64),
            torch.tensor(d, dtype=torch.float64),
            torch.as_tensor(strict, dtype=torch.bool),
            torch.as_tensor(owner, dtype=torch.int64),
            len(clauses),
        )

    def with_rounding(self, error: Tensor) -> Objective:
        """This objective for a float model whose flat output is within ``error`` (n_out,)
        of the real network's over the case's box (valid for every sub-box)."""
        return replace(self, rounding=self.row_slack(error[None])[0])

    def row_slack(self, error: Tensor) -> Tensor:
        """``|C| @ e`` per row (batch, m) for output error bounds (batch, n_out); an infinite
        error counts only in rows that use that output (no ``0 * inf``)."""
        terms = self.C.abs() * error.to(self.C.dtype)[:, None, :]
        return torch.where(self.C != 0, terms, 0.0).sum(dim=-1)

    @property
    def proof_d(self) -> Tensor:
        """The bound each row's lower bound must exceed: ``d`` plus the rounding slack."""
        return self.d if self.rounding is None else self.d + self.rounding

    def _per_clause_max(self, rows: Tensor) -> Tensor:
        """Max over each clause's rows: (batch, m) -> (batch, clauses); empty clause -> -inf."""
        out = torch.full((rows.shape[0], self.clauses), -torch.inf, dtype=rows.dtype)
        index = self.clause_of_row.expand(rows.shape[0], -1)
        return out.scatter_reduce(1, index, rows, reduce="amax", include_self=True)

    def margins(self, y: Tensor) -> Tensor:
        """Clause margins (batch, clauses) for flat outputs y (batch, n_out); differentiable."""
        return self._per_clause_max(y @ self.C.T - self.d)

    def satisfied(self, y: Tensor) -> Tensor:
        """Whether some clause holds exactly at each output (batch,) -> bool."""
        values = y @ self.C.T
        rows_hold = torch.where(self.strict, values < self.d, values <= self.d)
        violated_rows = (~rows_hold).to(torch.float64)
        return (self._per_clause_max(violated_rows) <= 0).any(dim=1)

    def slack(self, lower: Tensor) -> Tensor:
        """How far lower bounds (batch, m) on ``C @ y`` are from refuting the case (batch,):
        the smallest over clauses of the largest ``lower_i - d_i`` among its rows. Positive
        means refuted (up to strictness, which ``refuted`` decides exactly)."""
        return self._per_clause_max(lower - self.proof_d).amin(dim=1)

    def refuted(self, lower: Tensor) -> Tensor:
        """Given lower bounds (batch, m) on ``C @ y``, whether every clause is impossible (batch,).

        A row counts as impossible only when its bound clears ``d`` by PROOF_MARGIN (relative),
        so the float64 rounding of the bound computation itself cannot decide a proof; this
        also makes strict and non-strict rows alike (a sound simplification). Under float
        arithmetic the rounding slack is added to ``d`` first.
        """
        row_fails = (lower > self._threshold).to(torch.float64)  # NaN never refutes
        return (self._per_clause_max(row_fails) > 0).all(dim=1)

    def open_rows(self, lower: Tensor) -> Tensor:
        """(batch, m): rows whose lower bound does not refute them (see ``refuted``)."""
        return lower <= self._threshold

    @property
    def _threshold(self) -> Tensor:
        return self.proof_d + PROOF_MARGIN * (1 + self.d.abs())
