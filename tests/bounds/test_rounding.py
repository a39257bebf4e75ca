"""Float32 refinement with rounding-error terms (``bounds.rounding``): never above the
float64 bound of the same relaxation, close to it, and the terms are what keeps it so."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_crown_graphs import _branching_model

from bounds import import_model
from bounds.crown import Analysis, CrownBounds
from bounds.graph import Graph
from bounds.kernel_names import BACKENDS
from bounds.onnx_build import dense_network
from bounds.ops.base import Interval
from bounds.rounding import error_bound, exact_float32, gamma

DTYPE = torch.float64


def _network(seed: int, sizes: list[int], scale: float) -> Graph:
    rng = np.random.default_rng(seed)
    weights = [scale * rng.normal(size=(o, i)) / np.sqrt(i) for i, o in itertools.pairwise(sizes)]
    biases = [scale * rng.normal(size=o) for o in sizes[1:]]
    return import_model(dense_network(weights, biases))


def _box(seed: int, boxes: int, n: int, radius: float) -> tuple[torch.Tensor, torch.Tensor]:
    centre = torch.as_tensor(np.random.default_rng(seed).normal(size=(boxes, n)))
    return centre - radius, centre + radius


def _rows_both_ways(crown: CrownBounds, analysis: Analysis, name: str, float32: bool) -> torch.Tensor:
    """Lower bounds of every neuron of ``name`` and of minus each (unit rows), back-substituted
    through ``analysis``'s relaxations."""
    batch, n = analysis.bounds[name].lower.shape
    units = torch.eye(n, dtype=DTYPE)
    A = torch.cat([units, -units]).expand(batch, -1, -1)
    return crown._backward(name, A, analysis, None, crown.kernels, float32=float32)


def _refined_pairs(graph: Graph, kernels: str, lower: torch.Tensor, upper: torch.Tensor):
    """Per refined tensor, its rows' bounds in float32 with terms and in float64, both
    through the same (float64) analysis; then the same for the dense first step."""
    crown = CrownBounds(graph, torch.eye(graph.output.size, dtype=DTYPE), kernels=kernels)
    analysis = crown.analyse(lower, upper)
    for name in sorted(crown.refined):
        yield _rows_both_ways(crown, analysis, name, True), _rows_both_ways(crown, analysis, name, False)
        rounded = CrownBounds(graph, crown.C, kernels=kernels, float32_refinement=True)
        rows = torch.arange(analysis.bounds[name].lower.shape[1]).expand(lower.shape[0], -1)
        yield rounded._crown_rows(name, rows, rows, analysis, None), crown._crown_rows(name, rows, rows, analysis, None)


def _assert_below_and_close(rounded: torch.Tensor, exact: torch.Tensor) -> None:
    assert rounded.dtype == exact.dtype == DTYPE
    assert bool((rounded <= exact).all())  # the terms exceed float64's own rounding by far
    scale = 1 + exact.abs().amax(dim=1, keepdim=True)  # the terms scale with the magnitudes, not the result
    assert bool((exact - rounded <= 1e-3 * scale).all())


@pytest.mark.parametrize("kernels", BACKENDS)
@pytest.mark.parametrize("scale", [1.0, 300.0])
def test_float32_rows_never_rise_above_float64_ones_and_stay_close(kernels, scale):
    """Weights up to 300x (values up to 5e7, heavy cancellation): float32's rounding alone
    moves bounds both ways; with the terms, never up."""
    graph = _network(3, [6, 40, 40, 40, 3], scale)
    lower, upper = _box(1, 4, 6, 0.2)
    for rounded, exact in _refined_pairs(graph, kernels, lower, upper):
        _assert_below_and_close(rounded, exact)


@pytest.mark.parametrize("kernels", ["torch", "numba"])
def test_refining_with_the_roots_slopes_in_float32_stays_below_float64(kernels):
    """As the ReLU-split search refines a domain: the root's per-row alpha slopes, inherited
    bounds, lopsided neurons refined on their near side only. The first refined tensor (the
    same relaxations before it either way) comes out no tighter than in float64, and close."""
    graph = _network(4, [5, 30, 30, 30, 2], 30.0)
    lower, upper = _box(5, 1, 5, 0.3)
    C = torch.tensor([[1.0, -1.0]], dtype=DTYPE)
    exact = CrownBounds(graph, C, kernels=kernels)
    rounded = CrownBounds(graph, C, kernels=kernels, float32_refinement=True)
    root = exact.analyse(lower, upper, alpha_steps=10)
    first = next(node.output for node in exact.nodes if node.output in exact.refined)
    inherited = {first: Interval(root.bounds[first].lower - 1.0, root.bounds[first].upper + 1.0)}
    got, want = (
        crown.analyse(lower, upper, inherited, slopes=root.slopes, lopsided=3.0).bounds[first]
        for crown in (rounded, exact)
    )
    assert bool((got.lower > inherited[first].lower).any())  # refined, not merely inherited
    _assert_below_and_close(got.lower, want.lower)
    _assert_below_and_close(-got.upper, -want.upper)


def test_without_the_terms_float32_rows_cross_the_float64_ones(monkeypatch):
    """The control: with every term zeroed, some float32 bound lies above float64's."""
    monkeypatch.setattr("bounds.crown.error_bound", lambda sums, n, total: torch.zeros_like(sums))
    monkeypatch.setattr("bounds.crown.penalty", lambda A, v: torch.zeros(A.shape[:2], dtype=DTYPE))
    graph = _network(3, [6, 40, 40, 40, 3], 300.0)
    lower, upper = _box(1, 4, 6, 0.2)
    assert any(bool((rounded > exact).any()) for rounded, exact in _refined_pairs(graph, "torch", lower, upper))


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n_in=st.integers(1, 4),
    width=st.integers(1, 8),
    activation=st.sampled_from(["Relu", "Sigmoid", "Tanh"]),
    mix=st.sampled_from(["Add", "Sub", "Mul"]),
    radius=st.sampled_from([0.01, 0.3, 1.5]),
)
def test_float32_rows_on_branching_graphs_stay_below_float64_ones(seed, n_in, width, activation, mix, radius):
    """Residual merges and two-variable ops: the steps without a term go on in float64."""
    rng = np.random.default_rng(seed)
    graph = import_model(_branching_model(rng, n_in, width, activation, mix))
    lower, upper = _box(seed, 3, n_in, radius)
    for rounded, exact in _refined_pairs(graph, "torch", lower, upper):
        _assert_below_and_close(rounded, exact)


def test_reduced_precision_float32_products_fall_back_to_float64():
    """Under TF32/bfloat16 matmul precision there is no IEEE float32 to bound, whichever of
    torch's two settings asks for it."""
    graph = _network(5, [4, 12, 12, 2], 1.0)
    lower, upper = _box(2, 2, 4, 0.3)
    cpu, matmul = torch.device("cpu"), torch.backends.mkldnn.matmul
    assert exact_float32(cpu)
    previous, original = torch.get_float32_matmul_precision(), matmul.fp32_precision
    try:
        torch.set_float32_matmul_precision("medium")
        assert not exact_float32(cpu)
        for rounded, exact in _refined_pairs(graph, "torch", lower, upper):
            assert torch.equal(rounded, exact)
        torch.set_float32_matmul_precision(previous)
        matmul.fp32_precision = "bf16"
        assert not exact_float32(cpu)
    finally:
        torch.set_float32_matmul_precision(previous)  # which sets the new API's value too
        matmul.fp32_precision = original
    assert exact_float32(cpu) and not exact_float32(torch.device("meta"))


def test_the_error_bound_is_twice_gamma_n_plus_8_of_the_sums_plus_underflow():
    sums = torch.tensor([[3.0, 0.0]], dtype=DTYPE)
    bound = error_bound(sums, 100, torch.tensor([[5.0]], dtype=DTYPE))
    assert bound[0, 0] >= 2 * gamma(108) * 3.0 and bound[0, 1] > 0
    assert bound[0, 0] < 2 * gamma(108) * 3.0 * (1 + 1e-9)
    assert error_bound(torch.tensor([[torch.nan]], dtype=DTYPE), 3, sums[:, :1]).item() == torch.inf


def test_refinement_through_maps_without_a_dense_matrix_goes_on_in_float64(monkeypatch):
    """Affine maps too large for a dense matrix (convolutions) back-substitute by autograd in
    float64: a refinement through them starts from its tensor's unit rows and comes out as
    float64's."""
    monkeypatch.setattr("bounds.crown.DENSE_LIMIT", 0)
    graph = _network(6, [4, 10, 10, 2], 1.0)
    lower, upper = _box(3, 2, 4, 0.4)
    C = torch.eye(2, dtype=DTYPE)
    rounded = CrownBounds(graph, C, float32_refinement=True).analyse(lower, upper).bounds
    exact = CrownBounds(graph, C).analyse(lower, upper).bounds
    for name, value in exact.items():
        assert torch.equal(rounded[name].lower, value.lower) and torch.equal(rounded[name].upper, value.upper)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    sizes=st.lists(st.integers(2, 24), min_size=3, max_size=5),
    scale=st.sampled_from([1.0, 300.0]),
    kernels=st.sampled_from(BACKENDS),
)
def test_every_tensor_holds_its_sampled_values_under_float32_refinement(seed, sizes, scale, kernels):
    """Points sampled in each box, run through the network: every tensor's values lie in
    the bounds an analysis with float32 refinement gives it."""
    graph = _network(seed, sizes, scale)
    lower, upper = _box(seed, 2, sizes[0], 0.5)
    C = torch.eye(sizes[-1], dtype=DTYPE)
    analysis = CrownBounds(graph, C, kernels=kernels, float32_refinement=True).analyse(lower, upper)
    rng = np.random.default_rng(seed)
    for b in range(2):
        points = lower[b] + torch.as_tensor(rng.uniform(size=(300, sizes[0]))) * (upper[b] - lower[b])
        with torch.no_grad():
            values = graph.evaluate({graph.input.name: points.reshape(-1, *graph.input.shape)})
        for name, bound in analysis.bounds.items():
            flat = values[name].reshape(300, -1)
            slack = 1e-9 * (1 + flat.abs())  # the network's own float64 evaluation
            assert bool((flat >= bound.lower[b] - slack).all()), name
            assert bool((flat <= bound.upper[b] + slack).all()), name
