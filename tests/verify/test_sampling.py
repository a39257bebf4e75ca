"""The first look before the analysis is loaded: uniform samples run in onnxruntime."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from known_nets import abs_network

from specs.property import Box, Case, InputRegion, LinearConstraints, OutputCondition, Property, Variable
from verify.sampling import SAMPLES, sampled_counterexample


def _at_least(bound: float, boxes: int = 1) -> Property:
    """y0 = |x| >= bound, over ``boxes`` cases splitting [-1, 1] evenly."""
    clause = LinearConstraints(np.array([[-1.0, 0.0]]), np.array([-bound]), np.array([False]))
    edges = np.linspace(-1.0, 1.0, boxes + 1)
    cases = tuple(
        Case(InputRegion(Box([lo], [hi]), LinearConstraints.empty(1)), OutputCondition((clause,)))
        for lo, hi in itertools.pairwise(edges)
    )
    return Property(Variable("X", "real", (1,)), Variable("Y", "real", (2,)), cases)


@pytest.fixture(scope="module")
def model() -> bytes:
    return abs_network().SerializeToString()


def test_a_common_violation_is_found_as_onnxruntime_computes_it(model):
    found, tried = sampled_counterexample(model, _at_least(0.5), deadline=time.monotonic() + 10)
    assert found is not None and 1 <= tried <= SAMPLES
    assert found.input.dtype == np.float32 and abs(float(found.input[0])) >= 0.5
    assert found.output[0] == pytest.approx(abs(float(found.input[0]))) and found.output[0] >= 0.5


@pytest.mark.parametrize("boxes", [1, 4])
def test_a_property_that_holds_gets_every_sample_shared_among_its_cases(model, boxes):
    assert sampled_counterexample(model, _at_least(1.5, boxes), deadline=time.monotonic() + 10) == (None, SAMPLES)


def test_a_violation_only_the_filter_admits_is_not_found(model):
    """y0 >= 1 holds only at the box's two ends: samples near them pass the float64 filter
    within its 1e-6, and the exact check turns them down."""
    found, _ = sampled_counterexample(model, _at_least(1.0 + 1e-9), deadline=time.monotonic() + 10, samples=10**5)
    assert found is None


def test_nothing_is_sampled_past_the_deadline(model):
    assert sampled_counterexample(model, _at_least(0.5), deadline=time.monotonic() - 1) == (None, 0)


def test_a_model_that_does_not_fit_is_left_to_the_analysis(model):
    clause = LinearConstraints(np.array([[-1.0, 0.0]]), np.array([-0.5]), np.array([False]))
    wide = Case(InputRegion(Box([-1.0, -1.0], [1.0, 1.0]), LinearConstraints.empty(2)), OutputCondition((clause,)))
    two_inputs = Property(Variable("X", "real", (2,)), Variable("Y", "real", (2,)), (wide,))
    assert sampled_counterexample(model, two_inputs, deadline=time.monotonic() + 10) == (None, 0)
    first = LinearConstraints(np.array([[-1.0]]), np.array([-0.5]), np.array([False]))
    narrow = Case(InputRegion(Box([-1.0], [1.0]), LinearConstraints.empty(1)), OutputCondition((first,)))
    one_output = Property(Variable("X", "real", (1,)), Variable("Y", "real", (1,)), (narrow,))
    assert sampled_counterexample(model, one_output, deadline=time.monotonic() + 10) == (None, 0)
    assert sampled_counterexample(b"not a model", _at_least(0.5), deadline=time.monotonic() + 10) == (None, 0)


@pytest.mark.parametrize(
    ("shapes", "found"), [(((1, 1), (1, 2)), True), (((1, 1), (2, 1)), False), (((1,), (1, 2)), False)]
)
def test_a_model_is_sampled_only_in_the_shapes_a_query_declares(model, shapes, found):
    """A VNN-LIB 2.0 query's declared shapes must be the model's (the abs network's input
    [1, 1], output [1, 2]); where they are not, the analysis reports the misfit."""
    result, _ = sampled_counterexample(model, _at_least(0.5), deadline=time.monotonic() + 10, shapes=shapes)
    assert (result is not None) is found
