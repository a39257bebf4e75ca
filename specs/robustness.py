"""Builders of common properties from Python values."""

from __future__ import annotations

import math
import operator

import numpy as np
import numpy.typing as npt

from specs.errors import SpecError
from specs.property import (
    Box,
    Case,
    InputRegion,
    LinearConstraints,
    OutputCondition,
    Property,
    Variable,
)


def local_robustness(
    x: npt.ArrayLike,
    eps: float,
    label: int,
    *,
    num_classes: int,
    lower: npt.ArrayLike | None = None,
    upper: npt.ArrayLike | None = None,
    input_name: str = "X",
    output_name: str = "Y",
    element_type: str = "real",
) -> Property:
    """Whether some input in the L-infinity ball of radius ``eps`` around ``x`` (clipped to
    the valid input range ``[lower, upper]``, scalars or arrays broadcast to ``x``) makes
    another class score at least as high as ``label``.

    The violation is ``Y[label] - Y[j] <= 0`` for some ``j != label``: one clause per ``j``,
    so a tie counts as a counterexample. The input keeps ``x``'s shape; the output is a
    vector of ``num_classes`` logits.
    """
    try:
        point = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise SpecError(f"x must be an array of numbers: {error}") from None
    if point.size == 0 or not np.all(np.isfinite(point)):
        raise SpecError("x must be a non-empty array of finite numbers")
    if not (math.isfinite(eps) and eps >= 0):
        raise SpecError(f"eps must be finite and non-negative, got {eps!r}")
    num_classes = _integer(num_classes, "num_classes")
    label = _integer(label, "label")
    if num_classes < 2:
        raise SpecError(f"num_classes must be at least 2, got {num_classes}")
    if not 0 <= label < num_classes:
        raise SpecError(f"label {label} is not a class in 0..{num_classes - 1}")
    low = _range_bound(lower, -math.inf, point.shape, "lower")
    high = _range_bound(upper, math.inf, point.shape, "upper")
    outside = np.flatnonzero((point < low) | (point > high))
    if outside.size:
        raise SpecError(f"x[{outside[0]}] (flattened) lies outside [lower, upper]")
    box = Box(np.maximum(point - eps, low).ravel(), np.minimum(point + eps, high).ravel())
    clauses = []
    for other in range(num_classes):
        if other != label:
            row = np.zeros((1, num_classes))
            row[0, label], row[0, other] = 1.0, -1.0
            clauses.append(LinearConstraints(row, np.zeros(1), np.zeros(1, dtype=bool)))
    region = InputRegion(box, LinearConstraints.empty(point.size))
    return Property(
        Variable(input_name, element_type, point.shape),
        Variable(output_name, element_type, (num_classes,)),
        (Case(region, OutputCondition(tuple(clauses))),),
    )


def _integer(value: int, name: str) -> int:
    try:
        return operator.index(value)
    except TypeError:
        raise SpecError(f"{name} must be an integer, got {value!r}") from None


def _range_bound(
    bound: npt.ArrayLike | None, default: float, shape: tuple[int, ...], name: str
) -> npt.NDArray[np.float64]:
    """The bound broadcast to ``shape`` (``default`` when absent); NaN is refused."""
    try:
        value = np.broadcast_to(np.asarray(default if bound is None else bound, np.float64), shape)
    except ValueError as error:
        raise SpecError(f"{name} cannot be broadcast to the shape {shape} of x") from error
    if np.any(np.isnan(value)):
        raise SpecError(f"{name} contains NaN")
    return value
