"""Rigorous rounding-error terms for back-substitution run in float32.

CROWN's refinement of intermediate bounds spends most of a ReLU-split search in matrix
products (``bounds.crown``); float32 products take about half float64's time. A float32
back-substitution stays sound if every step's rounding is paid for: each step maps
coefficients ``A`` on a tensor t (float32, taken as exact) to coefficients on the next
tensor and a bias, and the float32 result differs from the exact one (with the step's
float64 data) by at most ``gamma_(n+8) |A| @ v`` per row, where ``v`` >= 0 bounds the
magnitudes the step multiplies ``A`` by, per element of t (``gamma_k = k u / (1 - k u)``,
``u = 2^-24``, Higham 2002, for dot products of length n summed in any order, with or
without FMA; the 8 covers casting the step's float64 data to float32, and at most three
further roundings per term):

- a dense affine map ``W s + c`` (A on its output): ``v = |W| @ max|s| + |c|``; the
  coefficients on s are off by at most ``gamma |A| |W|``, which costs at most that times
  ``max|s|`` on the bound, over the bounds of s;
- an elementwise relaxation of t: ``v = max(|slopes|) * max|t| + |offsets|`` (its four
  coefficient-wise products are correctly rounded, its two offset sums are dot products);
- the minimum over a box of t: ``v = max|t|`` (the box's centre and radius rounded too).

``error_bound`` is ``2 gamma_(n+8) |A| @ v``, the sums ``|A| @ v`` computed in float32 at
worst: a sum of non-negative terms is within ``gamma_(n+1)`` of its exact value, so the
factor 2 covers it. An absolute term covers underflow (each product may lose the smallest
normal number, ``2^-126``, also where denormals are flushed to zero); an overflow makes
the term infinite. The kernels weigh ``A`` in the pass the step makes anyway
(``Kernels.relax_measured``, ``concretise_measured``); a relaxation also weighs its output
coefficients for the dense map they go through next, a BLAS product with no pass of ours.
Each step's bias is accumulated in float64 less its term, so a bound computed this way is
as sound as the float64 one: the step's float64 data (relaxations, box) are the same, and
only the step's own arithmetic differs.

This holds only where float32 products are IEEE single precision: not under TF32 or
bfloat16 matmuls (``torch.set_float32_matmul_precision`` other than ``highest``, or the
``fp32_precision`` settings other than ``ieee``), which ``exact_float32`` checks.
"""

from __future__ import annotations

import torch

from bounds.ops.base import DTYPE, Interval, Tensor

FLOAT32 = torch.float32
UNIT = 2.0**-24
SMALLEST_NORMAL = 2.0**-126


def exact_float32(device: torch.device) -> bool:
    """Whether torch's float32 matrix products on ``device`` (CPU or CUDA) are IEEE single
    precision: the matmul precision in effect, the most specific of torch's settings (the
    op's, the backend's, the global ``fp32_precision``, then the legacy
    ``get_float32_matmul_precision``), is ``ieee`` / ``highest``, and on CUDA TF32 is off."""
    if device.type not in ("cpu", "cuda"):
        return False
    backend = torch.backends.mkldnn if device.type == "cpu" else torch.backends.cuda
    for setting in (backend.matmul, backend, torch.backends):
        precision = getattr(setting, "fp32_precision", "none")
        if precision != "none":
            exact = precision == "ieee"
            break
    else:
        try:
            exact = torch.get_float32_matmul_precision() == "highest"
        except RuntimeError:  # torch refuses to answer when both of its APIs were used
            exact = False
    return exact and (device.type == "cpu" or not torch.backends.cuda.matmul.allow_tf32)


def gamma(k: int) -> float:
    """Higham's ``gamma_k = k u / (1 - k u)``: the relative error bound of a dot product of
    length k (``|fl(x . y) - x . y| <= gamma_k |x| . |y|``, any order, with or without FMA)."""
    return k * UNIT / (1 - k * UNIT)


def magnitude(value: Interval) -> Tensor:
    """``max(|lower|, |upper|)`` per element, in float64: a bound on the tensor's absolute value."""
    return torch.maximum(value.lower.abs(), value.upper.abs()).to(DTYPE)


def error_bound(sums: Tensor, n: int, total: Tensor) -> Tensor:
    """The rounding-error term (batch, m), float64, of a float32 step on coefficients of
    length ``n`` whose weighted sums ``|A| @ v`` are ``sums`` (batch, m; computed in float32
    or better), ``v`` summing to ``total`` (batch, 1) per box. A NaN (an infinite ``v``
    against a zero coefficient) counts as infinite."""
    bound = 2 * gamma(n + 8) * sums + SMALLEST_NORMAL * (2 * n + 1) * (1 + total)
    return torch.nan_to_num(bound, nan=torch.inf)


def penalty(A: Tensor, v: Tensor) -> Tensor:
    """``error_bound`` for coefficients ``A`` (batch, m, n) and data bounded by ``v``
    (batch, n), in a pass of its own (a step whose kernel does not weigh A itself)."""
    sums = (A.abs() * v.to(A.dtype).reshape(v.shape[0], 1, -1)).sum(dim=-1).to(DTYPE)
    return error_bound(sums, A.shape[-1], v.sum(dim=-1, keepdim=True))
