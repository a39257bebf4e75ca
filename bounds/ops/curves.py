"""Linear bounds for scalar functions on intervals, elementwise over tensors.

Shared by the elementwise nonlinear ops: two-piece linear functions with a kink at 0
(Abs, LeakyRelu), convex functions (even powers) and S-shaped functions, convex left of 0
and concave right of it (sigmoid, tanh, and odd powers up to a sign). Every bound is valid
on the whole of ``[lower, upper]``; for ``lower == upper`` the bounds meet at the value.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from bounds.ops.base import Relaxation, Tensor

Function = Callable[[Tensor], Tensor]

_BISECTION_STEPS = 40


def fixed(lower_slope: Tensor, lower_offset: Tensor, upper_slope: Tensor, upper_offset: Tensor) -> Relaxation:
    """A relaxation whose lower slope cannot move (its offset depends on the slope)."""
    return Relaxation(lower_slope, lower_offset, upper_slope, upper_offset, lower_slope, lower_slope)


def interval_from_candidates(function: Function, lower: Tensor, upper: Tensor, *points: float) -> tuple[Tensor, Tensor]:
    """Bounds of a function whose extremes on an interval are at its ends or at ``points``
    (piecewise monotone with turns only there)."""
    values = [function(lower), function(upper)]
    values += [function(torch.clamp(torch.full_like(lower, p), lower, upper)) for p in points]
    stacked = torch.stack(values)
    return stacked.amin(dim=0), stacked.amax(dim=0)


def two_piece(lower: Tensor, upper: Tensor, left: float, right: float) -> Relaxation:
    """``f(x) = left*x`` for x < 0, ``right*x`` for x >= 0.

    Convex (left <= right): the chord above, and below any line through the origin with
    slope in [left, right] (the alpha range; the default is the one covering more of the
    interval, as CROWN does for ReLU). Concave: the mirror image, with the chord below.
    Stable intervals are exact.
    """
    zeros = torch.zeros_like(lower)
    width = (upper - lower).clamp_min(1e-300)
    unstable = (lower < 0) & (upper > 0)
    stable_slope = torch.where(upper <= 0, torch.full_like(lower, left), torch.full_like(lower, right))
    stable_slope = torch.where(lower >= 0, torch.full_like(lower, right), stable_slope)
    chord = torch.where(unstable, (right * upper - left * lower) / width, stable_slope)
    chord_offset = torch.where(unstable, left * lower - chord * lower, zeros)
    choice = torch.where(upper > -lower, torch.full_like(lower, right), torch.full_like(lower, left))
    pivot = torch.where(unstable, choice, stable_slope)
    if left <= right:
        low_min = torch.where(unstable, torch.full_like(lower, left), stable_slope)
        low_max = torch.where(unstable, torch.full_like(lower, right), stable_slope)
        return Relaxation(pivot, zeros, chord, chord_offset, low_min, low_max)
    return fixed(chord, chord_offset, pivot, zeros)


def _chord(function: Function, derivative: Function, lower: Tensor, upper: Tensor) -> tuple[Tensor, Tensor]:
    """Slope and offset of the chord; the tangent at ``lower`` when the interval is a point."""
    width = upper - lower
    flat = width <= 0
    slope = torch.where(
        flat, derivative(lower), (function(upper) - function(lower)) / torch.where(flat, torch.ones_like(width), width)
    )
    return slope, function(lower) - slope * lower


def _tangent(function: Function, derivative: Function, at: Tensor) -> tuple[Tensor, Tensor]:
    slope = derivative(at)
    return slope, function(at) - slope * at


def convex(function: Function, derivative: Function, lower: Tensor, upper: Tensor) -> Relaxation:
    """A convex function: the chord above, the tangent at the midpoint below."""
    up_slope, up_offset = _chord(function, derivative, lower, upper)
    low_slope, low_offset = _tangent(function, derivative, (lower + upper) / 2)
    return fixed(low_slope, low_offset, up_slope, up_offset)


def _s_upper(function: Function, derivative: Function, lower: Tensor, upper: Tensor) -> tuple[Tensor, Tensor]:
    """An upper line for f convex on x <= 0 and concave on x >= 0.

    Convex part only: the chord. Concave part only: the tangent at the midpoint. Across 0:
    a tangent at some d in [0, upper] that passes on or above (lower, f(lower)), which is
    above f on the concave side by concavity and on the convex side because it is above f
    at both ends of it; the smallest such d is found by bisection (the line's height at
    ``lower`` grows with d). When even d = upper falls short, the chord lies above f.
    """
    chord_slope, chord_offset = _chord(function, derivative, lower, upper)
    mid_slope, mid_offset = _tangent(function, derivative, (lower + upper) / 2)
    f_lower = function(lower)

    def reaches(d: Tensor) -> Tensor:
        slope, offset = _tangent(function, derivative, d)
        return slope * lower + offset >= f_lower

    low = torch.zeros_like(lower)
    high = upper.clamp_min(0)
    for _ in range(_BISECTION_STEPS):
        middle = (low + high) / 2
        ok = reaches(middle)
        high = torch.where(ok, middle, high)
        low = torch.where(ok, low, middle)
    cross_slope, cross_offset = _tangent(function, derivative, high)
    use_chord = ~reaches(upper.clamp_min(0))
    cross_slope = torch.where(use_chord, chord_slope, cross_slope)
    cross_offset = torch.where(use_chord, chord_offset, cross_offset)
    slope = torch.where(upper <= 0, chord_slope, torch.where(lower >= 0, mid_slope, cross_slope))
    offset = torch.where(upper <= 0, chord_offset, torch.where(lower >= 0, mid_offset, cross_offset))
    return slope, offset


def s_shaped(function: Function, derivative: Function, lower: Tensor, upper: Tensor) -> Relaxation:
    """Bounds for f convex on x <= 0 and concave on x >= 0 (sigmoid, tanh).

    The lower line is the upper line of the point reflection ``g(y) = -f(-y)`` (the same
    shape) on ``[-upper, -lower]``, reflected back.
    """
    up_slope, up_offset = _s_upper(function, derivative, lower, upper)

    def reflected(y: Tensor) -> Tensor:
        return -function(-y)

    def reflected_derivative(y: Tensor) -> Tensor:
        return derivative(-y)

    slope, offset = _s_upper(reflected, reflected_derivative, -upper, -lower)
    return fixed(slope, -offset, up_slope, up_offset)
