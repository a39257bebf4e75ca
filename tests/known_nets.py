"""Tiny networks built in code with known answers, and where ../shared lives (for tests)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

from bounds.onnx_build import dense_network

SHARED = Path(__file__).resolve().parents[1].parent / "shared" / "benchmarks" / "vnncomp2021"


def shared_or_skip(*parts: str) -> Path:
    """A path under ../shared/benchmarks/vnncomp2021, or skip the test when it is absent."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} not available")
    return path


def abs_network() -> onnx.ModelProto:
    """y = [relu(x) + relu(-x), 1 - relu(x) - relu(-x)] = [|x|, 1 - |x|] for scalar x.

    Known answers: over x in [-1, 1], y0 >= 0 always (min 0 at x = 0), y0 <= 1 always.
    """
    w1 = np.array([[1.0], [-1.0]])
    w2 = np.array([[1.0, 1.0], [-1.0, -1.0]])
    return dense_network([w1, w2], [np.zeros(2), np.array([0.0, 1.0])])


ABS_UNSAT_VNNLIB = """
(declare-const X_0 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(assert (>= X_0 -1))
(assert (<= X_0 1))
(assert (>= Y_0 1.5))
"""
"""A VNN-LIB 1.0 property unsat on ``abs_network``: over x in [-1, 1], y0 = |x| <= 1 < 1.5."""
