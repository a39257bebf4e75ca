"""The hot loops of back-substitution behind one interface, with three backends.

CROWN's backward pass (``bounds.crown``) spends its time in three steps, each on a batch of
coefficient matrices ``A`` shaped (batch, m, n) (m bounded linear functions of an n-vector,
per box):

- ``relax``: through an elementwise relaxation, ``A⁺ * lower_slope + A⁻ * upper_slope``
  and the offset term ``A⁺ @ lower_offset + A⁻ @ upper_offset``;
- ``concretise``: the minimum of ``A @ x`` over a box, ``A @ mid - |A| @ rad``;
- ``affine``: through a dense affine map ``W x + c``, ``A @ W`` and ``A @ c``.

``relax_measured`` and ``concretise_measured`` also weigh the coefficients, ``|A| @ v``, in
the same pass: what the rounding-error terms of float32 back-substitution scale
(``bounds.rounding``).

Backends take and return torch tensors (zero-copy views on CPU), so the driver is one code
path: ``NumpyKernels`` is the plain-numpy reference; ``NumbaKernels`` fuses ``relax`` and
``concretise`` into compiled loops that never materialise ``A⁺``, ``A⁻`` or ``|A|``
(numba is imported, and each kernel compiled, on first use, with an on-disk cache);
``TorchKernels`` runs on any torch device, CUDA included, and is the only one autograd can
differentiate (alpha/beta-CROWN's optimisation uses it whatever the choice).

The default (``auto``) is chosen by measurement: see ``make_kernels``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from bounds.kernel_names import CHOICES

Tensor = torch.Tensor


class Kernels(Protocol):
    """The back-substitution steps a backend provides; all shapes are per box (batch first)."""

    @property
    def device(self) -> torch.device:
        """Where the tensors given to and returned by the kernels live."""

    def relax(
        self, A: Tensor, lower_slope: Tensor, upper_slope: Tensor, lower_offset: Tensor, upper_offset: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Coefficients on the relaxed op's input and the bias gained, for a lower bound:
        ``(A⁺ * ls + A⁻ * us, A⁺ @ lo + A⁻ @ uo)``. A is (batch, m, n); slopes (batch, 1, n)
        or (batch, m, n); offsets (batch, n). Returns (batch, m, n) and (batch, m)."""

    def concretise(self, A: Tensor, lower: Tensor, upper: Tensor) -> Tensor:
        """``min A @ x`` over the box ``[lower, upper]`` (batch, n): (batch, m)."""

    def affine(self, A: Tensor, weight: Tensor, offset: Tensor) -> tuple[Tensor, Tensor]:
        """``(A @ weight, A @ offset)`` for a dense map: weight (n, k), offset (n,)."""

    def relax_measured(
        self,
        A: Tensor,
        lower_slope: Tensor,
        upper_slope: Tensor,
        lower_offset: Tensor,
        upper_offset: Tensor,
        v_in: Tensor,
        v_out: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        """``relax`` for coefficients A of any float type (the other arguments float64), and
        the sums ``|A| @ v_in + |part| @ v_out`` (batch, m) that a float32 step's
        rounding-error term scales (``bounds.rounding``; ``v_in``, ``v_out``: (batch, n),
        ``v_out`` None for none). ``part`` has A's type; the bias and the sums are float64."""

    def concretise_measured(self, A: Tensor, lower: Tensor, upper: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        """``concretise`` for coefficients A of any float type (the box float64), and the sums
        ``|A| @ v`` (batch, m); both float64."""


@dataclass(frozen=True)
class TorchKernels:
    """Torch on any device; differentiable (used for alpha/beta-CROWN)."""

    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    def relax(
        self, A: Tensor, lower_slope: Tensor, upper_slope: Tensor, lower_offset: Tensor, upper_offset: Tensor
    ) -> tuple[Tensor, Tensor]:
        positive, negative = A.clamp_min(0), A.clamp_max(0)
        bias = _dot(positive, lower_offset) + _dot(negative, upper_offset)
        return positive * lower_slope + negative * upper_slope, bias

    def concretise(self, A: Tensor, lower: Tensor, upper: Tensor) -> Tensor:
        return _dot(A, (lower + upper) / 2) - _dot(A.abs(), (upper - lower) / 2)

    def affine(self, A: Tensor, weight: Tensor, offset: Tensor) -> tuple[Tensor, Tensor]:
        return A @ weight, A @ offset

    def relax_measured(
        self,
        A: Tensor,
        lower_slope: Tensor,
        upper_slope: Tensor,
        lower_offset: Tensor,
        upper_offset: Tensor,
        v_in: Tensor,
        v_out: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        data = (lower_slope, upper_slope, lower_offset, upper_offset)
        part, bias = self.relax(A, *(x.to(A.dtype) for x in data))
        sums = _dot(A.abs(), v_in.to(A.dtype))
        if v_out is not None:
            sums = sums + _dot(part.abs(), v_out.to(A.dtype))
        return part, bias.double(), sums.double()

    def concretise_measured(self, A: Tensor, lower: Tensor, upper: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        value = self.concretise(A, lower.to(A.dtype), upper.to(A.dtype))
        return value.double(), _dot(A.abs(), v.to(A.dtype)).double()


@dataclass(frozen=True)
class NumpyKernels:
    """Plain numpy on CPU: the reference the other backends are tested against."""

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    def relax(
        self, A: Tensor, lower_slope: Tensor, upper_slope: Tensor, lower_offset: Tensor, upper_offset: Tensor
    ) -> tuple[Tensor, Tensor]:
        a = _array(A)
        positive, negative = np.maximum(a, 0.0), np.minimum(a, 0.0)
        part = positive * _array(lower_slope) + negative * _array(upper_slope)
        bias = _array_dot(positive, _array(lower_offset)) + _array_dot(negative, _array(upper_offset))
        return torch.from_numpy(part), torch.from_numpy(bias)

    def concretise(self, A: Tensor, lower: Tensor, upper: Tensor) -> Tensor:
        a, lo, up = _array(A), _array(lower), _array(upper)
        return torch.from_numpy(_array_dot(a, (lo + up) / 2) - _array_dot(np.abs(a), (up - lo) / 2))

    def affine(self, A: Tensor, weight: Tensor, offset: Tensor) -> tuple[Tensor, Tensor]:
        a = _array(A)
        batch, m, n = a.shape
        flat = a.reshape(batch * m, n)  # one BLAS product (a stack of them is slower)
        return torch.from_numpy((flat @ _array(weight)).reshape(batch, m, -1)), torch.from_numpy(a @ _array(offset))

    def relax_measured(
        self,
        A: Tensor,
        lower_slope: Tensor,
        upper_slope: Tensor,
        lower_offset: Tensor,
        upper_offset: Tensor,
        v_in: Tensor,
        v_out: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        part, bias = self.relax(A, lower_slope, upper_slope, lower_offset, upper_offset)
        sums = _array_dot(np.abs(_array(A)), _array(v_in))
        if v_out is not None:
            sums = sums + _array_dot(np.abs(_array(part)), _array(v_out))
        return part.to(A.dtype), bias, torch.from_numpy(sums)

    def concretise_measured(self, A: Tensor, lower: Tensor, upper: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        value = self.concretise(A, lower, upper)
        return value, torch.from_numpy(_array_dot(np.abs(_array(A)), _array(v)))


class NumbaKernels(NumpyKernels):
    """Numba-compiled fused loops for ``relax`` and ``concretise`` on CPU. ``affine`` is a
    BLAS product, which a loop would not beat: it is torch's, run on zero-copy views, so it
    obeys the process's torch thread count (numpy's BLAS keeps its own). Numba is imported
    when the backend is made, and each kernel compiled on its first call (cached on disk),
    so importing nnverify costs nothing."""

    def __init__(self) -> None:
        from bounds import numba_loops

        self._loops: Any = numba_loops

    def relax(
        self, A: Tensor, lower_slope: Tensor, upper_slope: Tensor, lower_offset: Tensor, upper_offset: Tensor
    ) -> tuple[Tensor, Tensor]:
        a = np.ascontiguousarray(_array(A))
        batch, m, n = a.shape
        part = np.empty_like(a)
        bias = np.empty((batch, m))
        self._loops.relax(
            a,
            np.ascontiguousarray(_array(lower_slope).reshape(batch, -1, n)),
            np.ascontiguousarray(_array(upper_slope).reshape(batch, -1, n)),
            np.ascontiguousarray(_array(lower_offset).reshape(batch, n)),
            np.ascontiguousarray(_array(upper_offset).reshape(batch, n)),
            part,
            bias,
        )
        return torch.from_numpy(part), torch.from_numpy(bias)

    def concretise(self, A: Tensor, lower: Tensor, upper: Tensor) -> Tensor:
        a = np.ascontiguousarray(_array(A))
        batch = a.shape[0]
        lo, up = _array(lower).reshape(batch, -1), _array(upper).reshape(batch, -1)
        out = np.empty(a.shape[:2])
        self._loops.concretise(a, (lo + up) / 2, (up - lo) / 2, out)
        return torch.from_numpy(out)

    def affine(self, A: Tensor, weight: Tensor, offset: Tensor) -> tuple[Tensor, Tensor]:
        return A @ weight, A @ offset

    def relax_measured(
        self,
        A: Tensor,
        lower_slope: Tensor,
        upper_slope: Tensor,
        lower_offset: Tensor,
        upper_offset: Tensor,
        v_in: Tensor,
        v_out: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        a = np.ascontiguousarray(A.detach().numpy())  # float32 stays float32
        batch, m, n = a.shape
        part = np.empty_like(a)
        bias, sums = np.empty((batch, m)), np.empty((batch, m))
        inward = _array(v_in).reshape(batch, n)
        outward = np.zeros((batch, n)) if v_out is None else _array(v_out).reshape(batch, n)
        self._loops.relax_measured(
            a,
            np.ascontiguousarray(_array(lower_slope).reshape(batch, -1, n)),
            np.ascontiguousarray(_array(upper_slope).reshape(batch, -1, n)),
            np.ascontiguousarray(_array(lower_offset).reshape(batch, n)),
            np.ascontiguousarray(_array(upper_offset).reshape(batch, n)),
            np.ascontiguousarray(inward),
            np.ascontiguousarray(outward),
            part,
            bias,
            sums,
        )
        return torch.from_numpy(part), torch.from_numpy(bias), torch.from_numpy(sums)

    def concretise_measured(self, A: Tensor, lower: Tensor, upper: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        a = np.ascontiguousarray(A.detach().numpy())
        batch, m, _ = a.shape
        lo, up = _array(lower).reshape(batch, -1), _array(upper).reshape(batch, -1)
        out, sums = np.empty((batch, m)), np.empty((batch, m))
        self._loops.concretise_measured(a, (lo + up) / 2, (up - lo) / 2, np.ascontiguousarray(_array(v)), out, sums)
        return torch.from_numpy(out), torch.from_numpy(sums)


class DeferredNumbaKernels:
    """Torch's kernels until they have carried ``budget`` coefficients through ``relax`` and
    ``concretise``, numba's from then on. Loading numba costs about 0.55 s per process
    (importing it, loading its cached loops): more than the whole search of an easy
    instance, while a long search repays it many times. The budget (3e7, about 0.1 s of
    torch's kernels) lets a search of a few dozen ACAS Xu boxes or a few MNIST-FC domains
    end on torch. Measured side by side (``nnverify bench``, 60 s cap): MNIST-FC's ten of
    issue 4, 68.0 s against 74.1 s with numba from the start; ACAS Xu's twelve, 34.6 s
    against 34.4 s (a budget of 1e8 cost their medium instances 0.3-0.5 s each). A count,
    not a clock, decides, so a run repeats exactly."""

    def __init__(self, budget: int = 30_000_000) -> None:
        self.budget = budget
        self._torch = TorchKernels()
        self._numba: NumbaKernels | None = None
        self._spent = 0

    @property
    def device(self) -> torch.device:
        return torch.device("cpu")

    @property
    def on_numba(self) -> bool:
        """Whether the budget is spent and numba's kernels run."""
        return self._numba is not None

    def _for(self, A: Tensor) -> Kernels:
        if self._numba is None:
            self._spent += A.numel()
            if self._spent <= self.budget:
                return self._torch
            self._numba = NumbaKernels()
        return self._numba

    def relax(
        self, A: Tensor, lower_slope: Tensor, upper_slope: Tensor, lower_offset: Tensor, upper_offset: Tensor
    ) -> tuple[Tensor, Tensor]:
        return self._for(A).relax(A, lower_slope, upper_slope, lower_offset, upper_offset)

    def concretise(self, A: Tensor, lower: Tensor, upper: Tensor) -> Tensor:
        return self._for(A).concretise(A, lower, upper)

    def affine(self, A: Tensor, weight: Tensor, offset: Tensor) -> tuple[Tensor, Tensor]:
        return self._torch.affine(A, weight, offset)  # numba's is torch's too

    def relax_measured(
        self,
        A: Tensor,
        lower_slope: Tensor,
        upper_slope: Tensor,
        lower_offset: Tensor,
        upper_offset: Tensor,
        v_in: Tensor,
        v_out: Tensor | None,
    ) -> tuple[Tensor, Tensor, Tensor]:
        return self._for(A).relax_measured(A, lower_slope, upper_slope, lower_offset, upper_offset, v_in, v_out)

    def concretise_measured(self, A: Tensor, lower: Tensor, upper: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
        return self._for(A).concretise_measured(A, lower, upper, v)


def make_kernels(name: str = "auto", device: str | torch.device = "cpu") -> Kernels:
    """The backend called ``name`` (one of ``bounds.kernel_names.CHOICES``) on ``device``;
    numpy and numba run on CPU only.

    ``auto`` on CPU is numba, deferred (`DeferredNumbaKernels`): per CROWN bound computation
    numba took 0.45-0.82x torch's time (``benchmarks/kernels.py``, one thread, minimum of
    3, three runs on a loaded 2-core machine: ACAS Xu 1_1 with 128 boxes 0.45-0.55x,
    mnist-net_256x2/4/6 with 8 boxes 0.57-0.64x / 0.52-0.61x / 0.59-0.82x; the numpy
    reference 0.65-1.14x), but it costs about 0.55 s once per process (2.8 s when its loops
    are first compiled).
    """
    if name not in CHOICES:
        raise ValueError(f"unknown kernels {name!r}; choose from {', '.join(CHOICES)}")
    target = torch.device(device)
    if name == "auto":
        if target.type == "cpu":
            return DeferredNumbaKernels()
        name = "torch"
    if name == "torch":
        return TorchKernels(target)
    if target.type != "cpu":
        raise ValueError(f"{name} kernels run on the CPU only, not on {target}")
    return NumbaKernels() if name == "numba" else NumpyKernels()


def _dot(A: Tensor, v: Tensor) -> Tensor:
    """``A @ v`` per box: (batch, m, n) and a (batch, ...) tensor of n values -> (batch, m)."""
    return (A @ v.reshape(v.shape[0], -1, 1)).squeeze(-1)


def _array(x: Tensor) -> np.ndarray[Any, np.dtype[np.float64]]:
    """A CPU tensor as a float64 numpy array (a view when it already is float64)."""
    return np.asarray(x.detach().numpy(), dtype=np.float64)


def _array_dot(
    A: np.ndarray[Any, np.dtype[np.float64]], v: np.ndarray[Any, np.dtype[np.float64]]
) -> np.ndarray[Any, np.dtype[np.float64]]:
    product: np.ndarray[Any, np.dtype[np.float64]] = np.matmul(A, v.reshape(v.shape[0], -1, 1))
    return product[..., 0]
