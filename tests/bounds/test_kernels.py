"""Kernel backends: each step against the numpy reference, CROWN bounds equal across every
backend (dense and branching networks, clamped subdomains), the reference exact on linear
networks, and moving a graph's constants to another device."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from test_crown_graphs import _branching_model

from bounds import import_model
from bounds.crown import CrownBounds
from bounds.graph import Graph
from bounds.kernel_names import BACKENDS
from bounds.kernels import DeferredNumbaKernels, NumpyKernels, TorchKernels, make_kernels
from bounds.onnx_build import dense_network
from bounds.ops.base import DTYPE, Interval

RELATIVE = 1e-6


def _agree(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal within RELATIVE of the larger magnitude (absolute near zero); infinities equal."""
    a, b = a.cpu(), b.cpu()
    finite = torch.isfinite(a) & torch.isfinite(b)
    if not torch.equal(torch.isfinite(a), torch.isfinite(b)) or not torch.equal(a[~finite], b[~finite]):
        return False
    scale = torch.maximum(a[finite].abs(), b[finite].abs()).clamp_min(1.0)
    return bool(torch.all((a[finite] - b[finite]).abs() <= RELATIVE * scale))


def _dense(seed: int, sizes: list[int], activation: str = "Relu") -> Graph:
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(o, i)) / np.sqrt(i) for i, o in itertools.pairwise(sizes)]
    biases = [rng.normal(size=o) * 0.3 for o in sizes[1:]]
    return import_model(dense_network(weights, biases, activation=activation))


def _all_bounds(graph: Graph, C: torch.Tensor, lower: torch.Tensor, upper: torch.Tensor, clamps=None):
    return {name: CrownBounds(graph, C, kernels=name)(lower, upper, clamps) for name in BACKENDS}


@pytest.mark.parametrize("name", BACKENDS)
@pytest.mark.parametrize(("lower_rows", "upper_rows"), [(1, 1), (5, 5), (5, 1), (1, 5)])
def test_each_kernel_matches_the_numpy_reference(name, lower_rows, upper_rows):
    """Slopes per row or shared by all rows, each side on its own (alpha-CROWN optimises
    per-row lower slopes and keeps the shared upper ones)."""
    rng = np.random.default_rng(lower_rows + 10 * upper_rows)
    batch, n, k = 3, 7, 4
    A = torch.as_tensor(rng.normal(size=(batch, 5, n)))
    A[A.abs() < 0.3] = 0.0  # exact zeros take neither side
    ls = torch.as_tensor(rng.uniform(size=(batch, lower_rows, n)))
    us = torch.as_tensor(rng.uniform(size=(batch, upper_rows, n)))
    lo, uo = torch.as_tensor(rng.normal(size=(batch, n))), torch.as_tensor(rng.normal(size=(batch, n)))
    lower = torch.as_tensor(rng.normal(size=(batch, n)))
    upper = lower + torch.as_tensor(rng.uniform(size=(batch, n)))
    W, c = torch.as_tensor(rng.normal(size=(n, k))), torch.as_tensor(rng.normal(size=n))
    reference, kernels = NumpyKernels(), make_kernels(name)
    for got, want in zip(kernels.relax(A, ls, us, lo, uo), reference.relax(A, ls, us, lo, uo), strict=True):
        assert _agree(got, want)
    assert _agree(kernels.concretise(A, lower, upper), reference.concretise(A, lower, upper))
    # an expanded (stride-0) coefficient tensor, as CROWN starts from C.expand(batch, ...)
    expanded = A[:1].expand(batch, -1, -1)
    assert _agree(kernels.concretise(expanded, lower, upper), reference.concretise(expanded.contiguous(), lower, upper))
    for got, want in zip(kernels.affine(A, W, c), reference.affine(A, W, c), strict=True):
        assert _agree(got, want)


@pytest.mark.parametrize("name", [*BACKENDS, "auto"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("ahead", [False, True])
def test_measured_kernels_are_the_plain_ones_and_weigh_their_coefficients(name, dtype, ahead):
    """``relax_measured`` / ``concretise_measured`` on coefficients of either float type:
    the plain results (within float32's rounding) and the sums ``|A| @ v_in + |part| @
    v_out``, ``|A| @ v``; the coefficients keep A's type, the rest is float64."""
    rng = np.random.default_rng(7)
    batch, m, n = 3, 5, 9
    A = torch.as_tensor(rng.normal(size=(batch, m, n))).to(dtype)
    ls = torch.as_tensor(rng.uniform(size=(batch, m, n)))
    us = torch.as_tensor(rng.uniform(size=(batch, 1, n)))
    lo, uo = torch.as_tensor(rng.normal(size=(batch, n))), torch.as_tensor(rng.normal(size=(batch, n)))
    v_in, v_out = (torch.as_tensor(rng.uniform(size=(batch, n))) for _ in range(2))
    lower = torch.as_tensor(rng.normal(size=(batch, n)))
    upper = lower + torch.as_tensor(rng.uniform(size=(batch, n)))
    kernels, reference, exact = make_kernels(name), NumpyKernels(), A.to(DTYPE)
    part, bias, sums = kernels.relax_measured(A, ls, us, lo, uo, v_in, v_out if ahead else None)
    want_part, want_bias = reference.relax(exact, ls, us, lo, uo)
    assert part.dtype == dtype and bias.dtype == sums.dtype == DTYPE
    assert torch.allclose(part.to(DTYPE), want_part, rtol=1e-6, atol=1e-6)
    assert torch.allclose(bias, want_bias, rtol=1e-5, atol=1e-5)
    want_sums = (exact.abs() @ v_in[..., None])[..., 0]
    if ahead:
        want_sums = want_sums + (want_part.abs() @ v_out[..., None])[..., 0]
    assert torch.allclose(sums, want_sums, rtol=1e-5)
    value, weighed = kernels.concretise_measured(A, lower, upper, v_in)
    assert value.dtype == weighed.dtype == DTYPE
    assert torch.allclose(value, reference.concretise(exact, lower, upper), rtol=1e-5, atol=1e-5)
    assert torch.allclose(weighed, (exact.abs() @ v_in[..., None])[..., 0], rtol=1e-5)


def test_the_reference_concretises_exactly():
    """min of a·x over a box is at the corner each coefficient's sign picks."""
    A = torch.tensor([[[2.0, -3.0, 0.0]]], dtype=DTYPE)
    lower, upper = torch.tensor([[-1.0, -2.0, -5.0]], dtype=DTYPE), torch.tensor([[1.0, 4.0, 5.0]], dtype=DTYPE)
    for name in BACKENDS:
        assert make_kernels(name).concretise(A, lower, upper).item() == -14.0


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 100_000),
    sizes=st.lists(st.integers(1, 9), min_size=2, max_size=5),
    activation=st.sampled_from(["Relu", "Sigmoid", "Tanh"]),
    radius=st.sampled_from([0.01, 0.3, 2.0]),
)
def test_backends_agree_on_dense_networks(seed, sizes, activation, radius):
    graph = _dense(seed, sizes, activation)
    rng = np.random.default_rng(seed + 1)
    C = torch.as_tensor(rng.normal(size=(3, sizes[-1])))
    centre = torch.as_tensor(rng.normal(size=(4, sizes[0])))
    bounds = _all_bounds(graph, C, centre - radius, centre + radius)
    for name in BACKENDS:
        assert _agree(bounds[name], bounds["numpy"]), name


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n_in=st.integers(1, 4),
    width=st.integers(1, 6),
    activation=st.sampled_from(["Relu", "Sigmoid", "Tanh"]),
    mix=st.sampled_from(["Add", "Sub", "Mul"]),
    radius=st.sampled_from([0.01, 0.3, 1.5]),
)
def test_backends_agree_on_branching_graphs(seed, n_in, width, activation, mix, radius):
    rng = np.random.default_rng(seed)
    graph = import_model(_branching_model(rng, n_in, width, activation, mix))
    C = torch.as_tensor(rng.normal(size=(4, 3)))
    centre = torch.as_tensor(rng.normal(size=(3, n_in)))
    bounds = _all_bounds(graph, C, centre - radius, centre + radius)
    for name in BACKENDS:
        assert _agree(bounds[name], bounds["numpy"]), name


@pytest.mark.parametrize("seed", range(5))
def test_backends_agree_on_clamped_subdomains(seed):
    """Clamps given to the analysis and to ``restrict`` (branch and bound's two routes),
    one box made empty."""
    rng = np.random.default_rng(seed)
    graph = import_model(_branching_model(rng, 3, 6, "Relu", "Add"))
    C = torch.as_tensor(rng.normal(size=(2, 3)))
    lower = torch.as_tensor(rng.normal(size=(3, 3)))
    upper = lower + 1.0
    pre = CrownBounds(graph, C).analyse(lower, upper).bounds["q0"]
    clamp_lower, clamp_upper = pre.lower.clone(), pre.upper.clone()
    clamp_lower[0, :2] = 0.0
    clamp_upper[1, 1:3] = 0.0
    clamp_upper[2, 0] = pre.lower[2, 0] - 1.0  # empty
    clamps = {"q0": Interval(clamp_lower, clamp_upper)}
    direct = _all_bounds(graph, C, lower, upper, clamps)
    restricted = {}
    for name in BACKENDS:
        crown = CrownBounds(graph, C, kernels=name)
        restricted[name] = crown.final(crown.restrict(crown.analyse(lower, upper), clamps))
    assert torch.all(torch.isinf(direct["numpy"][2]))
    for name in BACKENDS:
        assert _agree(direct[name], direct["numpy"]), name
        assert _agree(restricted[name], restricted["numpy"]), name


def test_the_reference_is_exact_on_a_linear_network():
    rng = np.random.default_rng(4)
    weights = [rng.normal(size=(5, 3)), rng.normal(size=(6, 5)), rng.normal(size=(2, 6))]
    biases = [rng.normal(size=5), rng.normal(size=6), rng.normal(size=2)]
    model = dense_network(weights, biases)
    for node in [n for n in model.graph.node if n.op_type == "Relu"]:  # purely linear: Gemm after Gemm
        model.graph.node.remove(node)
    model.graph.node[1].input[0], model.graph.node[2].input[0] = "h0", "h1"
    graph = import_model(model)
    C = torch.as_tensor(rng.normal(size=(3, 2)))
    lower = torch.as_tensor(rng.normal(size=(2, 3)))
    upper = lower + torch.as_tensor(rng.uniform(size=(2, 3)))
    corners = torch.tensor(list(itertools.product([0.0, 1.0], repeat=3)), dtype=DTYPE)
    for b in range(2):
        points = lower[b] + corners * (upper[b] - lower[b])
        exact = (graph.run(points) @ C.T).min(dim=0).values
        got = CrownBounds(graph, C, kernels="numpy")(lower[b : b + 1], upper[b : b + 1])[0]
        assert torch.allclose(got, exact, rtol=1e-12, atol=1e-12)


def test_alpha_optimisation_gives_the_same_bounds_whatever_the_kernels():
    """alpha-CROWN differentiates through torch kernels; its start (CROWN) uses the chosen
    backend, so the optimised bounds agree too."""
    graph = _dense(11, [3, 8, 8, 2])
    C = torch.tensor([[1.0, -1.0]], dtype=DTYPE)
    lower = torch.zeros(2, 3, dtype=DTYPE) - 0.5
    upper = lower + 1.0
    results = {name: CrownBounds(graph, C, kernels=name).optimised(lower, upper, steps=5) for name in BACKENDS}
    for name in BACKENDS:
        assert _agree(results[name], results["torch"]), name


def test_unknown_kernels_and_non_cpu_numba_are_refused():
    with pytest.raises(ValueError, match="unknown kernels"):
        make_kernels("fortran")
    with pytest.raises(ValueError, match="CPU only"):
        make_kernels("numba", "cuda")


def test_graph_to_moves_every_constant_tensor_and_keeps_the_original():
    """Moved to the ``meta`` device (no data), every tensor an op holds must be there."""
    rng = np.random.default_rng(2)
    graph = import_model(_branching_model(rng, 3, 4, "Relu", "Add"))
    moved = graph.to("meta")
    held = 0
    for before, after in zip(graph.nodes, moved.nodes, strict=True):
        assert after.op is not before.op
        for name, value in vars(after.op).items():
            if isinstance(value, torch.Tensor):
                held += 1
                assert value.device.type == "meta", (after.name, name)
                assert getattr(before.op, name).device.type == "cpu"
    assert held > 0
    x = torch.as_tensor(rng.normal(size=(4, 3)))
    assert torch.equal(graph.to("cpu").run(x), graph.run(x))


@pytest.mark.gpu
def test_cuda_bounds_match_the_cpu_reference():
    graph = _dense(5, [4, 16, 16, 3])
    C = torch.as_tensor(np.random.default_rng(5).normal(size=(2, 3)))
    lower = torch.zeros(8, 4, dtype=DTYPE) - 0.2
    upper = lower + 0.4
    cuda = CrownBounds(graph, C, kernels=TorchKernels(torch.device("cuda")))
    reference = CrownBounds(graph, C, kernels="numpy")
    assert _agree(cuda(lower, upper), reference(lower, upper))
    assert _agree(cuda.optimised(lower, upper, steps=3), reference.optimised(lower, upper, steps=3))


def test_the_deferred_backend_agrees_before_and_after_it_loads_numba():
    """Torch's kernels within the budget, numba's past it: every call agrees with the
    reference, and the switch comes exactly when the coefficients carried pass the budget."""
    rng = np.random.default_rng(7)
    batch, m, n = 2, 3, 5  # 30 coefficients per call
    reference, kernels = NumpyKernels(), DeferredNumbaKernels(budget=60)
    for call in range(4):
        A = torch.as_tensor(rng.normal(size=(batch, m, n)))
        slope = torch.as_tensor(rng.uniform(size=(batch, 1, n)))
        offset = torch.as_tensor(rng.normal(size=(batch, n)))
        lower = torch.as_tensor(rng.normal(size=(batch, n)))
        upper = lower + 1.0
        if call % 2:
            assert _agree(kernels.concretise(A, lower, upper), reference.concretise(A, lower, upper))
        else:
            got, want = kernels.relax(A, slope, slope, offset, offset), reference.relax(A, slope, slope, offset, offset)
            assert all(_agree(g, w) for g, w in zip(got, want, strict=True))
        assert kernels.on_numba == (call >= 2)
    assert isinstance(make_kernels("auto"), DeferredNumbaKernels)
    assert isinstance(make_kernels("auto", "meta"), TorchKernels)
