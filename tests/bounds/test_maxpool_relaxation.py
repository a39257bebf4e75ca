"""MaxPool's linear relaxation: sound at every corner of the input box (the upper plane is
above a convex function on the box iff it is at every corner), exact where one input
dominates its window, and tight at the all-lower corner."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from onnx import helper
from onnx_cases import make_model

from bounds import import_model
from bounds.ops.base import DTYPE, Interval

SHAPE = (1, 1, 3, 3)


def _op(out, **attributes):
    node = helper.make_node("MaxPool", ["x"], ["y"], **attributes)
    return import_model(make_model([node], {"x": SHAPE}, {"y": [1, 1, out, out]})).nodes[0].op


def _corners(lower: torch.Tensor, upper: torch.Tensor) -> torch.Tensor:
    """Every corner of the box, (2**n, *SHAPE)."""
    choice = torch.tensor(list(itertools.product((0.0, 1.0), repeat=lower.numel())), dtype=DTYPE)
    return (lower.reshape(1, -1) + choice * (upper - lower).reshape(1, -1)).reshape(-1, *SHAPE)


@pytest.mark.parametrize(
    "attributes",
    [{"kernel_shape": [2, 2]}, {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "strides": [2, 2]}],
    ids=["2x2", "3x3-padded"],
)
@pytest.mark.parametrize("seed", range(5))
def test_bounds_hold_at_every_corner(attributes, seed):
    op = _op(2, **attributes)
    rng = np.random.default_rng(seed)
    centre = torch.tensor(rng.normal(size=(1, *SHAPE)), dtype=DTYPE)
    radius = torch.tensor(rng.uniform(0.0, 1.0, size=(1, *SHAPE)) * (rng.random((1, *SHAPE)) < 0.8), dtype=DTYPE)
    lower, upper = centre - radius, centre + radius
    relax = op.linear_relaxation(Interval(lower, upper))
    points = _corners(lower, upper)
    values = op.evaluate(points).reshape(len(points), -1)
    flat = points.reshape(len(points), -1)
    high = flat @ relax.upper_weight[0].T + relax.upper_bias[0]
    low = flat @ relax.lower_weight[0].T + relax.lower_bias[0]
    assert bool((high >= values - 1e-9).all()) and bool((low <= values + 1e-9).all())
    # Where a window takes the plane, it is tight at the all-lower corner (the largest lower bound).
    at_lower = (lower.reshape(1, -1) @ relax.upper_weight[0].T + relax.upper_bias[0])[0]
    plane = relax.upper_weight[0].abs().sum(dim=1) > 0
    assert torch.allclose(at_lower[plane], op.evaluate(lower).reshape(-1)[plane])


def test_a_dominating_input_makes_the_bounds_exact():
    op = _op(1, kernel_shape=[3, 3])  # one window over all nine inputs
    lower = torch.zeros(1, *SHAPE, dtype=DTYPE)
    upper = torch.full((1, *SHAPE), 0.5, dtype=DTYPE)
    lower[0, 0, 0, 1, 1], upper[0, 0, 0, 1, 1] = 0.6, 2.0
    relax = op.linear_relaxation(Interval(lower, upper))
    assert torch.equal(relax.upper_weight, relax.lower_weight) and float(relax.upper_bias.abs().max()) == 0.0
    assert float(relax.upper_weight[0, 0, 4]) == 1.0


def test_each_window_takes_the_bound_of_smaller_mean():
    op = _op(1, kernel_shape=[3, 3])
    lower = torch.zeros(1, *SHAPE, dtype=DTYPE)
    upper = torch.full((1, *SHAPE), -1.0, dtype=DTYPE)
    upper[0, 0, 0, 0, :2] = 1.0  # two inputs reach above the others' lower bounds: the plane
    relax = op.linear_relaxation(Interval(lower.clamp_max(upper), upper))
    assert torch.equal(relax.upper_weight[0, 0, :2], torch.ones(2, dtype=DTYPE))
    assert float(relax.upper_bias[0, 0]) == 0.0  # y <= x0 + x1 on [0, 1]^2 (others at most -1)
    wide = op.linear_relaxation(Interval(torch.zeros(1, *SHAPE, dtype=DTYPE), torch.ones(1, *SHAPE, dtype=DTYPE)))
    # Nine inputs in [0, 1]: the plane's mean 4.5 exceeds the constant 1.
    assert float(wide.upper_weight.abs().max()) == 0.0 and float(wide.upper_bias[0, 0]) == 1.0


def test_infinite_bounds_fall_back_to_the_constant():
    op = _op(2, kernel_shape=[2, 2])
    lower = torch.full((1, *SHAPE), -torch.inf, dtype=DTYPE)
    upper = torch.ones(1, *SHAPE, dtype=DTYPE)
    relax = op.linear_relaxation(Interval(lower, upper))
    assert float(relax.upper_weight.abs().max()) == 0.0 and torch.equal(relax.upper_bias, torch.ones(1, 4, dtype=DTYPE))
