"""The pipeline on tiny networks with known answers, and its soundness on random ones."""

import itertools
from dataclasses import replace

import numpy as np
import onnx
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from known_nets import abs_network

from bounds.crown import CrownBounds
from bounds.float_error import output_error
from bounds.onnx_build import dense_network
from solvers.options import ActivationSplitOptions
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
from specs.vnnlib1 import parse_vnnlib1
from verify import pipeline
from verify.errors import QueryError
from verify.options import Options
from verify.pipeline import Model, check_property, choose_engine, load_model
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


def test_input_rows_cut_the_box_the_search_covers(tmp_path, monkeypatch):
    """|x| <= 0.4 holds at x = 0, which the row 4 x >= 2 excludes: over the region's box cut
    down to [0.5, 1] it never holds (unsat); searched over the whole box (no time left to
    tighten), the sub-boxes the row excludes whole are dropped, which proves it too."""
    model = _model(abs_network(), tmp_path)
    region = InputRegion(Box([-1.0], [1.0]), LinearConstraints(np.array([[-4.0]]), np.array([-2.0]), np.zeros(1, bool)))
    clause = LinearConstraints(np.array([[1.0, 0.0]]), np.array([0.4]), np.zeros(1, bool))
    prop = Property(
        Variable("X", "real", (1,)), Variable("Y", "real", (2,)), (Case(region, OutputCondition((clause,))),)
    )
    assert check_property(model, prop, Options(timeout=10)).status is Status.UNSAT
    monkeypatch.setattr(pipeline, "TIGHTEN_SHARE", 0.0)
    assert check_property(model, prop, Options(timeout=10)).status is Status.UNSAT


_SIMPLEX = (
    "(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)\n(assert (>= X_0 0))(assert (>= X_1 0))\n"
)


@pytest.mark.parametrize(("output", "status"), [("(>= Y_0 2.5)", Status.UNSAT), ("(>= Y_0 0.9)", Status.SAT)])
def test_inputs_bounded_only_by_linear_constraints_are_decided(tmp_path, output, status):
    """y = relu(x0) + relu(x1) on x0, x1 >= 0 with x0 + x1 <= 1: the box has no upper bounds
    until the row gives them ([0, 1] each)."""
    model = _model(dense_network([np.eye(2), np.ones((1, 2))], [np.zeros(2), np.zeros(1)]), tmp_path)
    prop = parse_vnnlib1(_SIMPLEX + f"(assert (<= (+ X_0 X_1) 1))\n(assert {output})")
    assert check_property(model, prop, Options(timeout=10)).status is status


def test_an_input_the_linear_constraints_leave_unbounded_is_a_query_error(tmp_path):
    """x0 - x1 <= 1 with x0, x1 >= 0 bounds neither from above."""
    model = _model(dense_network([np.eye(2), np.ones((1, 2))], [np.zeros(2), np.zeros(1)]), tmp_path)
    prop = parse_vnnlib1(_SIMPLEX + "(assert (<= (- X_0 X_1) 1))\n(assert (>= Y_0 1))", "p.vnnlib")
    with pytest.raises(QueryError, match=r"p\.vnnlib: input X element 0 has no upper bound, not even from"):
        check_property(model, prop)


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


def test_an_unsat_proved_by_the_milp_alone_says_so(tmp_path):
    """The ReLU-split search handing every clause to the MILP at once (a threshold halfway
    between the sampled peak and plain CROWN's ceiling): the reason names no domains."""
    rng = np.random.default_rng(0)
    sizes = [4, 12, 12, 2]
    weights = [rng.normal(size=(o, i)) / np.sqrt(i) for i, o in itertools.pairwise(sizes)]
    biases = [rng.normal(size=o) * 0.1 for o in sizes[1:]]
    model = _model(dense_network(weights, biases), tmp_path)
    lower, upper = -np.ones(4), np.ones(4)
    y = model.graph.run_numpy(rng.uniform(lower, upper, size=(20000, 4)))
    peak = float((y[:, 0] - y[:, 1]).max())
    row = torch.tensor([[-1.0, 1.0]], dtype=torch.float64)
    ceiling = -float(CrownBounds(model.graph, row)(torch.tensor(lower)[None], torch.tensor(upper)[None])[0, 0])
    prop = _prop(lower, upper, [[-1, 1]], [-(peak + ceiling) / 2])  # violation: y0 - y1 >= the midpoint
    search = ActivationSplitOptions(exact_share=0.0, exact_beside_after=None)
    options = Options(engine="activation-split", attack_share=0.0, activation_split=search)
    result = check_property(model, prop, options)
    assert result.status is Status.UNSAT
    assert result.reason == "every clause proved by MILP on the whole box (real arithmetic)"


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


# -- polynomial rows: y = [|x|, 1 - |x|] on x in [-1, 1], so y0 y1 = |x| (1 - |x|) <= 1/4 ----------


def _poly_prop(rows, lo=(-1.0,), hi=(1.0,), n_out=2) -> Property:
    polynomial = PolynomialConstraints(n_out, tuple(PolynomialRow(*row) for row in rows))
    clause = LinearConstraints(np.zeros((0, n_out)), np.zeros(0), np.zeros(0, bool), polynomial)
    case = Case(InputRegion(Box(lo, hi), LinearConstraints.empty(len(lo))), OutputCondition((clause,)))
    return Property(Variable("X", "real", (len(lo),)), Variable("Y", "real", (n_out,)), (case,))


def _product_at_least(t: float, strict: bool = False) -> Property:
    return _poly_prop([((((0, 1), -1.0),), -t, strict)])


def test_polynomial_rows_decided_by_bounds_and_by_falsification(tmp_path):
    model = _model(abs_network(), tmp_path)
    unsat = check_property(model, _product_at_least(0.3), Options(timeout=20))
    assert unsat.status is Status.UNSAT and unsat.reason == "every input box refuted by bounds (real arithmetic)"
    sat = check_property(model, _product_at_least(0.2), Options(timeout=20))
    assert sat.status is Status.SAT and sat.counterexample is not None
    y = sat.counterexample.output.astype(np.float64)
    assert y[0] * y[1] >= 0.2


def test_polynomial_rows_left_open_by_bounds_go_to_z3(tmp_path):
    """y0 y1 > 1/4 touches the maximum: bounds never clear it by a margin, z3 proves it."""
    model = _model(abs_network(), tmp_path)
    result = check_property(model, _product_at_least(0.25, strict=True), Options(timeout=4))
    assert result.status is Status.UNSAT and "z3" in result.reason
    # not with a search asked for explicitly: it only splits
    alone = check_property(model, _product_at_least(0.25, strict=True), Options(timeout=2, engine="input-split"))
    assert alone.status is Status.TIMEOUT


def test_polynomial_rows_and_the_other_engines(tmp_path):
    model = _model(abs_network(), tmp_path)
    smt = check_property(model, _product_at_least(0.25, strict=True), Options(timeout=10, engine="smt"))
    assert smt.status is Status.UNSAT
    milp = check_property(model, _product_at_least(0.3), Options(timeout=10, engine="milp"))
    assert milp.status is Status.UNKNOWN and "polynomial" in milp.reason
    relu = check_property(model, _product_at_least(0.3), Options(timeout=10, engine="activation-split"))
    assert relu.status is Status.UNKNOWN and "linear output constraints only" in relu.reason
    square = _poly_prop([((((0, 0), -1.0),), -1.5, False)])  # y0^2 >= 1.5; y0 <= 1 over the whole box
    assert check_property(model, square, Options(search=False)).status is Status.UNSAT
    assert check_property(model, _product_at_least(0.3), Options(search=False)).status is Status.UNKNOWN


def test_polynomial_rows_under_float_rounding(tmp_path):
    """The bounds widen each output of a product by its float error; the exact engines do
    not encode that and leave the case open."""
    model = _model(abs_network(), tmp_path)
    rounded = Options(timeout=10, float_rounding=True)
    result = check_property(model, _product_at_least(0.3), rounded)
    assert result.status is Status.UNSAT and result.reason.endswith("(float execution)")
    exact = check_property(model, _product_at_least(0.3), replace(rounded, engine="smt"))
    assert exact.status is Status.UNKNOWN and "float execution" in exact.reason


def test_auto_splits_the_input_for_polynomial_rows_however_wide(tmp_path):
    model = _model(_margin_net(100), tmp_path)
    assert choose_engine(model.graph, "auto") == "activation-split"
    assert choose_engine(model.graph, "auto", polynomial=True) == "input-split"
    # y = relu(sum x) over [0, 0.01]^100: y^2 <= 1 < 1.5
    prop = _poly_prop([((((0, 0), -1.0),), -1.5, False)], lo=(0.0,) * 100, hi=(0.01,) * 100, n_out=1)
    assert check_property(model, prop, Options(timeout=20)).status is Status.UNSAT


@settings(max_examples=10, deadline=None)
@given(seed=st.integers(0, 10_000), threshold=st.floats(-1, 1))
def test_random_networks_polynomial_verdicts_agree_with_dense_sampling(tmp_path_factory, seed, threshold):
    """Soundness for y0 y1 - y1^2 >= threshold: unsat only if no sampled point satisfies it;
    a sat counterexample satisfies it."""
    rng = np.random.default_rng(seed)
    sizes = [2, 6, 2]
    weights = [rng.normal(size=(o, i)) / np.sqrt(i) for i, o in itertools.pairwise(sizes)]
    biases = [rng.normal(size=o) * 0.1 for o in sizes[1:]]
    model = _model(dense_network(weights, biases), tmp_path_factory.mktemp("net"))
    prop = _poly_prop([((((0, 1), -1.0), ((1, 1), 1.0)), -threshold, False)], lo=(-1.0, -1.0), hi=(1.0, 1.0))
    result = check_property(model, prop, Options(timeout=4, seed=seed))
    grid = np.stack(np.meshgrid(np.linspace(-1, 1, 101), np.linspace(-1, 1, 101)), -1).reshape(-1, 2)
    y = model.graph.run_numpy(grid)
    exists = bool(np.any(y[:, 0] * y[:, 1] - y[:, 1] ** 2 >= threshold + 1e-9))
    if result.status is Status.UNSAT:
        assert not exists
    if result.status is Status.SAT:
        ce = result.counterexample
        assert ce is not None and prop.is_violated_by(ce.input, ce.output)
