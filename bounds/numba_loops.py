"""Numba loops behind ``bounds.kernels.NumbaKernels`` (imported only by it: importing numba
takes a while). Each is compiled on its first call and cached on disk. They are serial (the
batch is small and the machine's cores are shared) and branch-free over the contiguous last
axis, with reassociation allowed so the sums vectorise; NaN and infinity keep their meaning
(no ``nnan``/``ninf`` flags), as infinite bounds occur."""

from __future__ import annotations

from typing import Any

import numba

Array = Any
FASTMATH = {"reassoc", "nsz", "contract"}


@numba.njit(cache=True, fastmath=FASTMATH)
def relax(A: Array, ls: Array, us: Array, lo: Array, uo: Array, part: Array, bias: Array) -> None:
    """``part = A⁺ * ls + A⁻ * us`` and ``bias = A⁺ @ lo + A⁻ @ uo``, one pass over A;
    A and part are (batch, m, n), ls and us each (batch, m or 1, n), lo and uo (batch, n),
    bias (batch, m)."""
    batch, m, n = A.shape
    lower_per_row = ls.shape[1] > 1
    upper_per_row = us.shape[1] > 1
    for b in range(batch):
        for r in range(m):
            s = r if lower_per_row else 0
            t = r if upper_per_row else 0
            total = 0.0
            for j in range(n):
                a = A[b, r, j]
                positive = max(a, 0.0)
                negative = min(a, 0.0)
                part[b, r, j] = positive * ls[b, s, j] + negative * us[b, t, j]
                total += positive * lo[b, j] + negative * uo[b, j]
            bias[b, r] = total


@numba.njit(cache=True, fastmath=FASTMATH)
def concretise(A: Array, mid: Array, rad: Array, out: Array) -> None:
    """``out = A @ mid - |A| @ rad``, the minimum of ``A @ x`` over the box with centre
    ``mid`` and radius ``rad`` (batch, n); A is (batch, m, n), out (batch, m)."""
    batch, m, n = A.shape
    for b in range(batch):
        for r in range(m):
            total = 0.0
            for j in range(n):
                a = A[b, r, j]
                total += a * mid[b, j] - abs(a) * rad[b, j]
            out[b, r] = total


@numba.njit(cache=True, fastmath=FASTMATH)
def relax_measured(
    A: Array,
    ls: Array,
    us: Array,
    lo: Array,
    uo: Array,
    v_in: Array,
    v_out: Array,
    part: Array,
    bias: Array,
    sums: Array,
) -> None:
    """``relax``, and ``sums = |A| @ v_in + |part| @ v_out`` (batch, m) in the same pass;
    v_in and v_out are (batch, n). A and part may be float32 (each product is rounded once,
    into ``part``); the sums are accumulated in float64."""
    batch, m, n = A.shape
    lower_per_row = ls.shape[1] > 1
    upper_per_row = us.shape[1] > 1
    for b in range(batch):
        for r in range(m):
            s = r if lower_per_row else 0
            t = r if upper_per_row else 0
            total = 0.0
            weighed = 0.0
            for j in range(n):
                a = A[b, r, j]
                positive = max(a, 0.0)
                negative = min(a, 0.0)
                p = positive * ls[b, s, j] + negative * us[b, t, j]
                part[b, r, j] = p
                total += positive * lo[b, j] + negative * uo[b, j]
                weighed += abs(a) * v_in[b, j] + abs(p) * v_out[b, j]
            bias[b, r] = total
            sums[b, r] = weighed


@numba.njit(cache=True, fastmath=FASTMATH)
def concretise_measured(A: Array, mid: Array, rad: Array, v: Array, out: Array, sums: Array) -> None:
    """``concretise``, and ``sums = |A| @ v`` (batch, m) in the same pass."""
    batch, m, n = A.shape
    for b in range(batch):
        for r in range(m):
            total = 0.0
            weighed = 0.0
            for j in range(n):
                a = A[b, r, j]
                total += a * mid[b, j] - abs(a) * rad[b, j]
                weighed += abs(a) * v[b, j]
            out[b, r] = total
            sums[b, r] = weighed
