"""The pipeline on tiny networks with known answers, and its soundness on random ones."""

import itertools

import numpy as np
import onnx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from known_nets import abs_network

from bounds.float_error import output_error
from bounds.onnx_build import dense_network
from specs.property import Box, Case, InputRegion, LinearConstraints, OutputCondition, Property, Variable
from verify.errors import QueryError
from verify.pipeline import Model, Options, check_property, load_model
from verify.result import Status


def _model(proto: onnx.ModelProto, tmp_path) -> Model:
    path = tmp_path / "m.onnx"
    onnx.save(proto, path)
    return load_model(path)


def _prop(lo, hi, A, b, n_out=2) -> Property:
    n_in = len(lo)
    clause = LinearConstraints(np.asarray(A, float), np.asarray(b, float), np.zeros(len(b), bool))
    case = Case(InputRegion(Box(lo, hi), LinearConstraints.empty(n_in)), OutputCondition((clause,)))
    return Property(Variable("X", "real", (n_in,)), Variable("Y", "real", (n_out,)), (case,))


def test_unsat_sat_and_empty_region(tmp_path):
    model = _model(abs_network(), tmp_path)
    assert check_property(model, _prop([-1.0], [1.0], [[-1, 0]], [-1.5])).status is Status.UNSAT
    sat = check_property(model, _prop([-1.0], [1.0], [[-1, 0]], [-0.9]))
    assert sat.status is Status.SAT and sat.counterexample is not None
    assert sat.counterexample.output[0] >= 0.9
    empty = check_property(model, _prop([1.0], [-1.0], [[-1, 0]], [-0.9]))
    assert empty.status is Status.UNSAT and "empty" in empty.reason


def test_sat_is_never_reported_without_a_real_counterexample(tmp_path):
    # The violation |x| <= 0 exists only at x = 0; the search may or may not hit it exactly,
    # but it must never claim unsat, and a sat must carry a checked point.
    model = _model(abs_network(), tmp_path)
    result = check_property(model, _prop([-0.3], [1.0], [[1, 0]], [0.0]), Options(timeout=3))
    assert result.status is not Status.UNSAT
    if result.status is Status.SAT:
        assert result.counterexample is not None and result.counterexample.output[0] <= 0


def test_size_mismatch_is_a_query_error(tmp_path):
    model = _model(abs_network(), tmp_path)
    with pytest.raises(QueryError):
        check_property(model, _prop([0.0, 0.0], [1.0, 1.0], [[1, 0]], [0.0]))


@settings(max_examples=12, deadline=None)
@given(seed=st.integers(0, 10_000), threshold=st.floats(-2, 2))
def test_random_networks_verdicts_agree_with_dense_sampling(tmp_path_factory, seed, threshold):
    """Soundness: unsat only if no sampled point violates; sat points really violate."""
    rng = np.random.default_rng(seed)
    sizes = [2, 6, 6, 2]
    weights = [rng.normal(size=(o, i)) / np.sqrt(i) for i, o in itertools.pairwise(sizes)]
    biases = [rng.normal(size=o) * 0.1 for o in sizes[1:]]
    model = _model(dense_network(weights, biases), tmp_path_factory.mktemp("net"))
    prop = _prop([-1.0, -1.0], [1.0, 1.0], [[-1, 1]], [-threshold])  # violation: y0 - y1 >= threshold
    result = check_property(model, prop, Options(timeout=5, seed=seed))
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 101), np.linspace(-1, 1, 101)), -1).reshape(-1, 2)
    y = model.graph.run_numpy(grid)
    exists = bool(np.any(y[:, 0] - y[:, 1] >= threshold + 1e-9))
    if result.status is Status.UNSAT:
        assert not exists
    if result.status is Status.SAT:
        ce = result.counterexample
        assert ce is not None and ce.output[0] - ce.output[1] >= threshold


@pytest.mark.parametrize("engine", ["milp", "smt"])
def test_exact_engines_alone(tmp_path, engine):
    model = _model(abs_network(), tmp_path)
    options = Options(engine=engine, attack_share=0.0)
    unsat = check_property(model, _prop([-1.0], [1.0], [[-1, 0]], [-1.5]), options)
    assert unsat.status is Status.UNSAT and engine in unsat.reason
    # |x| <= 1e-6 only next to 0: sampling almost never hits it, the engine does
    sat = check_property(model, _prop([-0.3], [1.0], [[1, 0]], [1e-6]), options)
    assert sat.status is Status.SAT and sat.counterexample is not None
    assert sat.counterexample.output[0] <= 1e-6


def _margin_net(n_in: int) -> onnx.ModelProto:
    """y = relu(sum x) + 0: one ReLU between two Gemms (activation split needs a ReLU)."""
    return dense_network([np.ones((1, n_in)), np.ones((1, 1))], [np.zeros(1), np.zeros(1)])


@pytest.mark.parametrize(("n_in", "engine"), [(1, "input-split"), (100, "activation-split"), (100, "milp")])
def test_float_rounding_refuses_proofs_closer_than_the_float_error(tmp_path, n_in, engine):
    """Over x in [1, 1.001]^n, y >= n. The query "y <= n - e/2", e the float32 error bound,
    holds by less than e: proved over the reals, not under float rounding; "y <= n / 2" is
    far from the boundary and proved either way."""
    model = _model(_margin_net(n_in), tmp_path)
    lo, hi = [1.0] * n_in, [1.001] * n_in
    error = output_error(model.graph, torch.tensor([lo]), torch.tensor([hi])).item()
    assert 1e-7 * n_in < error < 1e-4 * n_in
    near, far = _prop(lo, hi, [[1.0]], [n_in - error / 2], n_out=1), _prop(lo, hi, [[1.0]], [n_in / 2], n_out=1)
    real, rounded = Options(timeout=20, engine=engine), Options(timeout=20, engine=engine, float_rounding=True)
    assert check_property(model, near, real).status is Status.UNSAT
    assert check_property(model, near, rounded).status in (Status.UNKNOWN, Status.TIMEOUT)
    assert check_property(model, far, real).status is Status.UNSAT
    result = check_property(model, far, rounded)
    assert result.status is Status.UNSAT and result.statistics["float_rounding"] == 1.0


def test_float_rounding_does_not_prove_what_float32_violates(tmp_path):
    """y = x + 5e-8 over x in [1, 2]: over the reals y > 1, but float32 rounds 1 + 5e-8 to 1,
    so x = 1 violates "y > 1" as onnxruntime runs the model."""
    model = _model(dense_network([np.ones((1, 1))], [np.full(1, 5e-8)]), tmp_path)
    query = _prop([1.0], [2.0], [[1.0]], [1.0], n_out=1)
    assert check_property(model, query, Options(timeout=10, float_rounding=True)).status is not Status.UNSAT


def test_float_rounding_needs_rules_for_every_op(tmp_path):
    """Softmax has no float error rule: the default proof is for the reals (and says so);
    asking for float rounding is a query error."""
    softmax = onnx.helper.make_node("Softmax", ["h"], ["y"], axis=1)
    proto = dense_network([np.ones((2, 1))], [np.zeros(2)])
    proto.graph.node[0].output[0] = "h"
    proto.graph.node.append(softmax)
    proto.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 2
    model = _model(proto, tmp_path)
    query = _prop([0.0], [1.0], [[1.0, 0.0]], [-1.0])
    result = check_property(model, query, Options(timeout=5))
    assert result.status is Status.UNSAT and result.reason.endswith("(real arithmetic)")
    with pytest.raises(QueryError, match="no float error rule for Softmax"):
        check_property(model, query, Options(timeout=5, float_rounding=True))
