"""Numba loops behind ``bounds.kernels.NumbaKernels`` (imported only by it: importing numba
takes a while). Each is compiled on its first call and cached on disk. They are serial:
the batch is small and the machine's cores are shared with the search's other work."""

from __future__ import annotations

from typing import Any

import numba

Array = Any


@numba.njit(cache=True)
def relax(A: Array, ls: Array, us: Array, lo: Array, uo: Array, part: Array, bias: Array) -> None:
    """``part = A⁺ * ls + A⁻ * us`` and ``bias = A⁺ @ lo + A⁻ @ uo``, one pass over A;
    A, ls, us, part are (batch, m, n), lo and uo (batch, n), bias (batch, m)."""
    batch, m, n = A.shape
    for b in range(batch):
        for r in range(m):
            total = 0.0
            for j in range(n):
                a = A[b, r, j]
                if a > 0.0:
                    part[b, r, j] = a * ls[b, r, j]
                    total += a * lo[b, j]
                elif a < 0.0:
                    part[b, r, j] = a * us[b, r, j]
                    total += a * uo[b, j]
                else:
                    part[b, r, j] = 0.0
            bias[b, r] = total


@numba.njit(cache=True)
def concretise(A: Array, lower: Array, upper: Array, out: Array) -> None:
    """``out = min over [lower, upper] of A @ x``: A is (batch, m, n), lower and upper
    (batch, n), out (batch, m); each term picks the box end its coefficient's sign favours."""
    batch, m, n = A.shape
    for b in range(batch):
        for r in range(m):
            total = 0.0
            for j in range(n):
                a = A[b, r, j]
                if a > 0.0:
                    total += a * lower[b, j]
                elif a < 0.0:
                    total += a * upper[b, j]
            out[b, r] = total
