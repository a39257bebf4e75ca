import warnings
from fractions import Fraction

import numpy as np
import onnx
import pytest
from known_nets import abs_network

from bounds import import_model
from specs.property import (
    Box,
    Case,
    InputRegion,
    LinearConstraints,
    OutputCondition,
    PolynomialConstraints,
    PolynomialRow,
    Property,
    Variable,
)
from verify.check import OnnxChecker, round_into_box


def test_round_into_box_stays_inside_for_unrepresentable_bounds():
    box = Box([0.1], [0.1 + 1e-9])  # no float32 strictly needs to exist at 0.1 exactly
    x = round_into_box(np.array([0.1]), box, np.dtype(np.float32))
    if x is not None:
        assert box.contains(x.astype(np.float64))


def test_round_into_box_moves_rounded_values_back_inside():
    hi = 0.679857769  # float32(hi) > hi
    assert float(np.float32(hi)) > hi
    x = round_into_box(np.array([hi]), Box([0.6], [hi]), np.dtype(np.float32))
    assert x is not None and float(x[0]) <= hi and x.dtype == np.float32


def test_round_into_box_beyond_float32_is_its_largest_value_without_a_warning():
    box = Box([-1e300] * 3, [1e300] * 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        x = round_into_box(np.array([1e300, -1e300, 5.0]), box, np.dtype(np.float32))
    big = np.finfo(np.float32).max
    assert x is not None and x.tolist() == [big, -big, 5.0] and box.contains(x.astype(np.float64))


def test_round_into_box_none_when_no_float32_fits():
    lo = float(np.float32(0.3)) + 1e-12
    assert round_into_box(np.array([lo]), Box([lo], [lo + 1e-12]), np.dtype(np.float32)) is None


def _prop(bound: float) -> Property:
    clause = LinearConstraints(np.array([[-1.0, 0.0]]), np.array([-bound]), np.array([False]))
    case = Case(InputRegion(Box([-1.0], [1.0]), LinearConstraints.empty(1)), OutputCondition((clause,)))
    return Property(Variable("X", "real", (1,)), Variable("Y", "real", (2,)), (case,))


@pytest.fixture(scope="module")
def model_bytes() -> bytes:
    return abs_network().SerializeToString()


def test_confirm_accepts_real_violation_with_onnxruntime_output(model_bytes):
    graph = import_model(onnx.load_from_string(model_bytes))
    checker = OnnxChecker(model_bytes, graph.input, _prop(0.5))
    found = checker.confirm(np.array([0.75]))
    assert found is not None
    assert found.input.dtype == np.float32
    assert found.output[0] == pytest.approx(0.75)


def test_confirm_rejects_non_violation_and_out_of_box(model_bytes):
    graph = import_model(onnx.load_from_string(model_bytes))
    checker = OnnxChecker(model_bytes, graph.input, _prop(0.5))
    assert checker.confirm(np.array([0.25])) is None
    # outside the box the candidate is clipped into it first: 3.0 -> 1.0, |1| >= 0.5 holds
    assert checker.confirm(np.array([3.0])) is not None
    assert checker.confirm(np.array([-0.1])) is None


def test_confirm_decides_polynomial_rows_exactly(model_bytes):
    """0.1 y0 y1 >= t on y = [|x|, 1 - |x|] (float32 outputs): at t = fl(0.1 y0 y1) rounded
    up, float64 arithmetic says the row holds, exact arithmetic says it does not."""
    graph = import_model(onnx.load_from_string(model_bytes))
    for x in np.linspace(0.1, 0.9, 200, dtype=np.float32):
        y0, y1 = float(x), float(np.float32(1) - x)
        computed = 0.1 * y0 * y1
        if Fraction(computed) > Fraction(0.1) * Fraction(y0) * Fraction(y1):
            break
    else:
        pytest.fail("no point where float64 rounds the product up")
    assert -0.1 * y0 * y1 <= -computed  # float64 accepts the row at x...
    assert OnnxChecker(model_bytes, graph.input, _product_at_least(computed)).confirm(np.array([x])) is None
    below = _product_at_least(float(np.nextafter(computed, 0.0)))  # ...exactly only a lower t holds
    assert OnnxChecker(model_bytes, graph.input, below).confirm(np.array([x])) is not None


def _product_at_least(t: float) -> Property:
    """0.1 y0 y1 >= t, written -0.1 y0 y1 <= -t."""
    row = PolynomialRow((((0, 1), -0.1),), -t, False)
    clause = LinearConstraints(np.zeros((0, 2)), np.zeros(0), np.zeros(0, bool), PolynomialConstraints(2, (row,)))
    case = Case(InputRegion(Box([-1.0], [1.0]), LinearConstraints.empty(1)), OutputCondition((clause,)))
    return Property(Variable("X", "real", (1,)), Variable("Y", "real", (2,)), (case,))
