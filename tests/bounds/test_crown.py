"""CROWN: sound on random networks, exact on linear ones, never looser than interval bounds."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import helper
from onnx_cases import make_model

from bounds import LinearTermBounds, import_model
from bounds.crown import CrownBounds, Parameters
from bounds.onnx_build import dense_network
from bounds.ops.base import Interval


def _network(seed: int, sizes: list[int], activation: str = "Relu"):
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=(o, i)) / np.sqrt(i) for i, o in itertools.pairwise(sizes)]
    biases = [rng.normal(size=o) * 0.3 for o in sizes[1:]]
    return import_model(dense_network(weights, biases, activation=activation))


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 100_000),
    sizes=st.lists(st.integers(1, 8), min_size=2, max_size=5),
    radius=st.floats(0.01, 2.0),
)
def test_crown_and_alpha_are_sound_and_no_looser_than_interval(seed, sizes, radius):
    graph = _network(seed, sizes)
    rng = np.random.default_rng(seed + 1)
    C = torch.tensor(rng.normal(size=(3, sizes[-1])))
    centre = torch.tensor(rng.normal(size=(2, sizes[0])))
    lower, upper = centre - radius, centre + radius
    bounds = CrownBounds(graph, C)
    crown = bounds(lower, upper)
    alpha = bounds.optimised(lower, upper, steps=5)
    interval = LinearTermBounds(graph, C)(lower, upper).lower
    assert torch.all(crown >= interval - 1e-9)
    assert torch.all(alpha >= crown - 1e-9)
    for b in range(2):
        x = lower[b] + (upper[b] - lower[b]) * torch.rand(500, sizes[0], dtype=torch.float64)
        x = torch.cat([x, lower[b : b + 1], upper[b : b + 1]])
        values = graph.run(x) @ C.T
        assert torch.all(values >= alpha[b] - 1e-9)


def test_crown_is_exact_on_a_linear_network():
    rng = np.random.default_rng(0)
    weights = [rng.normal(size=(4, 3)), rng.normal(size=(2, 4))]
    model = dense_network(weights, [np.zeros(4), np.zeros(2)])
    # drop the activation: a purely linear network has the exact bound at a box corner
    model.graph.node.remove(next(n for n in model.graph.node if n.op_type == "Relu"))
    model.graph.node[-1].input[0] = "h0"
    graph = import_model(model)
    C = torch.eye(2, dtype=torch.float64)
    lower, upper = -torch.ones(1, 3, dtype=torch.float64), torch.ones(1, 3, dtype=torch.float64)
    W = torch.tensor(weights[1] @ weights[0])
    exact = -W.abs().sum(dim=1)
    assert torch.allclose(CrownBounds(graph, C)(lower, upper)[0], exact)


@pytest.mark.parametrize("activation", ["Sigmoid", "Tanh"])
def test_crown_on_s_shaped_activations_is_sound_and_no_looser_than_interval(activation):
    graph = _network(3, [3, 6, 5, 2], activation=activation)
    rng = np.random.default_rng(4)
    C = torch.tensor(rng.normal(size=(3, 2)))
    centre = torch.tensor(rng.normal(size=(4, 3)))
    radius = torch.tensor([[0.01], [0.3], [1.0], [3.0]])
    lower, upper = centre - radius, centre + radius
    crown = CrownBounds(graph, C)(lower, upper)
    assert torch.all(crown >= LinearTermBounds(graph, C)(lower, upper).lower - 1e-9)
    for box in range(4):
        x = lower[box] + (upper[box] - lower[box]) * torch.rand(500, 3, dtype=torch.float64)
        values = graph.run(x) @ C.T
        assert torch.all(values >= crown[box] - 1e-9)


def test_relu_relaxation_encloses_relu_densely():
    relu = next(n.op for n in _network(0, [1, 2, 1]).nodes if n.op_type == "Relu")
    lo = torch.tensor([-2.0, -0.5, 0.3, -3.0], dtype=torch.float64)
    hi = torch.tensor([1.0, 2.0, 0.9, -0.1], dtype=torch.float64)
    relax = relu.relaxation(lo, hi)
    t = torch.linspace(0, 1, 1001, dtype=torch.float64)[:, None]
    x = lo + (hi - lo) * t
    y = torch.relu(x)
    assert torch.all(relax.lower_slope * x + relax.lower_offset <= y + 1e-12)
    assert torch.all(relax.upper_slope * x + relax.upper_offset >= y - 1e-12)


def test_relu_lower_slopes_anywhere_in_their_range_are_valid():
    relu = next(n.op for n in _network(0, [1, 2, 1]).nodes if n.op_type == "Relu")
    lo = torch.tensor([-2.0, -0.5, 0.3, -3.0], dtype=torch.float64)
    hi = torch.tensor([1.0, 2.0, 0.9, -0.1], dtype=torch.float64)
    relax = relu.relaxation(lo, hi)
    x = lo + (hi - lo) * torch.linspace(0, 1, 1001, dtype=torch.float64)[:, None]
    for t in torch.linspace(0, 1, 11, dtype=torch.float64):
        slope = relax.lower_slope_min + t * (relax.lower_slope_max - relax.lower_slope_min)
        assert torch.all(slope * x + relax.lower_offset <= torch.relu(x) + 1e-12)


def test_alpha_tightens_crown_somewhere():
    graph = _network(3, [4, 16, 16, 2])
    C = torch.tensor([[1.0, -1.0]], dtype=torch.float64)
    lower, upper = -torch.ones(8, 4, dtype=torch.float64), torch.ones(8, 4, dtype=torch.float64)
    lower = lower + 0.1 * torch.arange(8, dtype=torch.float64)[:, None]
    bounds = CrownBounds(graph, C)
    assert torch.any(bounds.optimised(lower, upper, steps=20) > bounds(lower, upper) + 1e-6)


def test_rows_no_longer_needed_leave_the_optimisation_and_the_others_end_as_they_would():
    graph = _network(5, [4, 16, 16, 3])
    C = torch.tensor([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0], [1.0, 0.0, -1.0]], dtype=torch.float64)
    lower = -torch.ones(6, 4, dtype=torch.float64) + 0.1 * torch.arange(6, dtype=torch.float64)[:, None]
    upper = lower + 2.0
    crown = CrownBounds(graph, C)
    analysis = crown.analyse(lower, upper)
    every, every_ended = crown.optimise(analysis, steps=10)
    generator = torch.Generator().manual_seed(0)
    wanted = torch.rand(6, 3, generator=generator) < 0.7  # rows optimised from the start
    wanted[0] = False  # a box with nothing to tighten
    staying = wanted & (torch.rand(6, 3, generator=generator) < 0.5)  # ... of which these to the end
    calls = []

    def needed(bounds):
        calls.append(bounds.clone())
        return wanted if len(calls) <= 3 else staying

    some, some_ended = crown.optimise(analysis, steps=10, needed=needed)
    plain = crown.final(analysis)
    assert len(calls) == 11
    assert torch.equal(torch.where(wanted, some, plain), some)  # unwanted rows are not optimised
    assert torch.all(some >= plain - 1e-12) and torch.all(some <= every + 1e-9)
    assert int(staying.sum()) >= 2 and bool((wanted & ~staying).any())
    assert torch.allclose(some[staying], every[staying], rtol=0, atol=1e-9)  # as in the full run
    for name, alpha in every_ended.alphas.items():
        assert torch.allclose(some_ended.alphas[name][staying], alpha[staying], rtol=0, atol=1e-9)
    assert torch.any(some[wanted] > plain[wanted] + 1e-6)


def test_the_root_slopes_reproduce_its_alpha_bounds_where_a_subdomain_refines():
    """An alpha-optimised analysis keeps the slopes of its intermediate bounds; refining the
    first refined tensor again from loose clamps with them gives the alpha bounds back,
    where CROWN's own slopes give looser ones (so the rows are laid out as used)."""
    graph = _network(3, [4, 16, 16, 16, 2])
    bounds = CrownBounds(graph, torch.tensor([[1.0, -1.0]], dtype=torch.float64))
    lower, upper = -torch.ones(1, 4, dtype=torch.float64), torch.ones(1, 4, dtype=torch.float64)
    root = bounds.analyse(lower, upper, alpha_steps=20)
    first = next(node.output for node in bounds.nodes if node.output in bounds.refined)
    assert set(root.slopes) == bounds.refined and [s.shape for s in root.slopes[first].values()] == [(1, 32, 16)]
    loose = {first: Interval(torch.full((1, 16), -torch.inf), torch.full((1, 16), torch.inf))}
    reused = bounds.analyse(lower, upper, loose, slopes=root.slopes).bounds[first]
    crown = bounds.analyse(lower, upper, loose).bounds[first]
    want = root.bounds[first]
    assert torch.allclose(reused.lower, want.lower, rtol=1e-9, atol=1e-9)
    assert torch.allclose(reused.upper, want.upper, rtol=1e-9, atol=1e-9)
    assert torch.any(crown.upper - crown.lower > reused.upper - reused.lower + 1e-6)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 100_000), sizes=st.lists(st.integers(2, 8), min_size=3, max_size=5))
def test_sub_boxes_clamped_by_their_parents_bounds_are_sound_and_no_looser(seed, sizes):
    """A sub-box analysed with its parent's bounds as clamps (as the input-split search does)
    refines only the neurons still unstable: its bounds stay sound, never come out looser
    than the parent's, and are no looser than a fresh analysis's where the parent already
    knew a neuron to be stable (it keeps the parent's bounds there). Its alpha bound, started
    from the parent's slopes, is sound and no looser than its CROWN bound."""
    graph = _network(seed, sizes)
    rng = np.random.default_rng(seed + 2)
    C = torch.tensor(rng.normal(size=(2, sizes[-1])))
    crown = CrownBounds(graph, C)
    lower = torch.tensor(rng.normal(size=(1, sizes[0])))
    upper = lower + 1.0
    parent = crown.analyse(lower, upper)
    cut = lower + torch.tensor(rng.uniform(0.2, 0.8, size=(1, sizes[0])))  # two sub-boxes
    sub_lower, sub_upper = torch.cat([lower, cut]), torch.cat([cut, upper])
    clamps = {name: parent.bounds[name] for name in crown.refined}
    twice = {name: type(v)(v.lower.repeat(2, 1), v.upper.repeat(2, 1)) for name, v in clamps.items()}
    clamped = crown.analyse(sub_lower, sub_upper, twice)
    points = sub_lower[:, None] + (sub_upper - sub_lower)[:, None] * torch.rand(2, 200, sizes[0], dtype=torch.float64)
    flat = points.reshape(400, -1)
    values = graph.evaluate({graph.input.name: flat.reshape(400, *graph.input.shape)})
    final = crown.final(clamped)
    assert torch.all((values[graph.output.name].reshape(400, -1) @ C.T).reshape(2, 200, -1) >= final[:, None] - 1e-9)
    for name, bound in clamped.bounds.items():
        sampled = values[name].reshape(2, 200, -1)
        assert torch.all(sampled >= bound.lower[:, None] - 1e-9) and torch.all(sampled <= bound.upper[:, None] + 1e-9)
    for name in crown.refined:
        assert torch.all(clamped.bounds[name].lower >= twice[name].lower)
        assert torch.all(clamped.bounds[name].upper <= twice[name].upper)
    _, slopes = crown.optimise(parent, steps=5)  # the sub-boxes' alpha starts from the parent's slopes
    warm, _ = crown.optimise(clamped, steps=3, start=slopes.twice())
    assert torch.all((values[graph.output.name].reshape(400, -1) @ C.T).reshape(2, 200, -1) >= warm[:, None] - 1e-9)
    assert torch.all(warm >= final - 1e-12)


def test_a_lopsided_relu_input_refines_only_its_near_bound():
    graph = _network(3, [4, 16, 16, 16, 2])
    crown = CrownBounds(graph, torch.tensor([[1.0, -1.0]], dtype=torch.float64))
    last = [node.output for node in crown.nodes if node.output in crown.refined][-1]
    value = Interval(
        torch.tensor([[-10.0, -1.0, -1.0, -torch.inf, 0.5, -2.0]], dtype=torch.float64),
        torch.tensor([[1.0, 10.0, 1.0, 1.0, 2.0, -1.0]], dtype=torch.float64),
    )
    needed = torch.tensor([[True, True, True, True, False, False]])  # the unstable ones
    lower, upper = crown._sides(last, value, needed, 3.0)
    assert lower.tolist() == [[False, True, True, True, False, False]]
    assert upper.tolist() == [[True, False, True, True, False, False]]
    # on a sub-box, the refined bounds lie between refining both sides and the inherited ones
    lower_box, upper_box = -torch.ones(1, 4, dtype=torch.float64), torch.ones(1, 4, dtype=torch.float64)
    root = crown.analyse(lower_box, upper_box).bounds[last]
    inherited = {last: Interval(root.lower - 2.0, root.upper + 0.2)}
    sub_lower, sub_upper = lower_box + 0.3, upper_box
    sides = crown.analyse(sub_lower, sub_upper, inherited, lopsided=3.0).bounds[last]
    both = crown.analyse(sub_lower, sub_upper, inherited).bounds[last]  # by default both sides
    assert torch.all(both.lower >= sides.lower) and torch.all(sides.lower >= inherited[last].lower)
    assert torch.all(both.upper <= sides.upper) and torch.all(sides.upper <= inherited[last].upper)
    assert torch.any(both.lower > sides.lower + 1e-6)  # some far bound was kept


def test_meeting_enclosures_that_cross_by_rounding_is_no_proof_of_a_void_box():
    from bounds.crown import _meet
    from bounds.ops.base import Interval

    value = torch.tensor([[0.3, -2.0]], dtype=torch.float64)
    ulp = torch.nextafter(value, torch.full_like(value, torch.inf)) - value
    fresh = Interval(value + ulp, value + ulp)  # the same exact value, rounded differently
    inherited = Interval(value - 1.0, value)
    met, void = _meet(fresh, inherited)
    assert not bool(void.any())
    assert torch.all(met.lower <= met.upper) and torch.all(met.lower <= value) and torch.all(met.upper >= value)
    _, void = _meet(Interval(value + 1e-3, value + 1.0), inherited)  # really disjoint
    assert bool(void.all())


def test_the_bounds_optimise_returns_are_its_parameters_bounds_in_float64():
    """The optimisation steps run in float32 (``STEP_DTYPE``), but what ``optimise``
    returns is sound as float64 CROWN is: per box and row, the better of CROWN's bound and
    the bound its returned parameters give, evaluated in float64."""
    graph = _network(7, [4, 16, 16, 3])
    C = torch.tensor([[1.0, -1.0, 0.0], [0.0, 1.0, -1.0]], dtype=torch.float64)
    lower = -torch.ones(5, 4, dtype=torch.float64) + 0.1 * torch.arange(5, dtype=torch.float64)[:, None]
    upper = lower + 2.0
    crown = CrownBounds(graph, C)
    analysis = crown.analyse(lower, upper)
    relu_input = next(node.inputs[0] for node in crown.nodes if node.op_type == "Relu")
    generator = torch.Generator().manual_seed(1)
    splits = {relu_input: torch.randint(-1, 2, (5, 16), generator=generator, dtype=torch.int8)}
    bounds, ended = crown.optimise(analysis, steps=10, splits=splits)
    assert all(t.dtype == torch.float64 for t in [*ended.alphas.values(), *ended.betas.values()])
    slopes = {
        name: torch.clamp(
            a,
            min=analysis.relaxations[name].lower_slope_min[:, None],
            max=analysis.relaxations[name].lower_slope_max[:, None],
        )
        for name, a in ended.alphas.items()
    }
    multipliers = {name: b.clamp_min(0) * splits[name][:, None].to(b.dtype) for name, b in ended.betas.items()}
    again = crown.final(analysis, slopes=slopes, multipliers=multipliers)
    plain = crown.final(analysis)
    assert torch.allclose(bounds, torch.maximum(again, plain), rtol=1e-12, atol=1e-12)
    assert torch.any(bounds > plain + 1e-6)


def test_refining_picks_the_producing_maps_rows_as_unit_rows_times_it_would():
    """The first step of a refinement through a dense affine map picks the map's rows
    (``_crown_rows``): the bounds are those of unit rows multiplied through it."""
    graph = _network(11, [5, 12, 12, 12, 2])
    crown = CrownBounds(graph, torch.tensor([[1.0, -1.0]], dtype=torch.float64))
    lower = -torch.ones(3, 5, dtype=torch.float64) + 0.2 * torch.arange(3, dtype=torch.float64)[:, None]
    analysis = crown.analyse(lower, lower + 1.5)
    name = max(crown.refined, key=lambda t: len(crown._ancestry(t)))  # the deepest, after two ReLUs
    generator = torch.Generator().manual_seed(2)
    lower_order = torch.stack([torch.randperm(12, generator=generator)[:5] for _ in range(3)])
    upper_order = torch.stack([torch.randperm(12, generator=generator)[:4] for _ in range(3)])
    units = torch.eye(12, dtype=torch.float64)
    A = torch.cat([units[lower_order], -units[upper_order]], dim=1)
    picked = crown._crown_rows(name, lower_order, upper_order, analysis, None)
    assert crown._producers[name].op.affine and picked.shape == (3, 9)
    assert torch.allclose(picked, crown._backward(name, A, analysis, None, crown.kernels), rtol=1e-12, atol=1e-12)


def test_a_split_tensor_that_is_also_a_relaxed_output_keeps_its_slopes_and_its_multipliers():
    """A ReLU reading a Sigmoid's output: the Sigmoid has alpha slopes and the split ReLU
    input a beta multiplier under the same tensor name; both are optimised and returned."""
    rng = np.random.default_rng(4)
    nodes = [
        helper.make_node("MatMul", ["x", "W0"], ["h"]),
        helper.make_node("Sigmoid", ["h"], ["s"]),
        helper.make_node("Relu", ["s"], ["r"]),
        helper.make_node("MatMul", ["r", "W1"], ["y"]),
    ]
    weights = {"W0": rng.normal(size=(3, 6)), "W1": rng.normal(size=(6, 2))}
    model = make_model(nodes, {"x": [1, 3]}, {"y": [1, 2]}, weights)
    crown = CrownBounds(import_model(model), torch.tensor([[1.0, -1.0]], dtype=torch.float64))
    lower = -torch.ones(2, 3, dtype=torch.float64)
    analysis = crown.analyse(lower, lower + 2.0)
    splits = {"s": torch.ones(2, 6, dtype=torch.int8)}
    bounds, ended = crown.optimise(analysis, steps=5, splits=splits)
    assert "s" in ended.alphas and "s" in ended.betas
    assert ended.alphas["s"].shape == ended.betas["s"].shape == (2, 1, 6)
    assert not torch.equal(ended.alphas["s"], ended.betas["s"])  # one did not overwrite the other
    assert torch.all(bounds >= crown.final(analysis) - 1e-12)


def test_input_coefficients_are_those_of_the_optimised_bound():
    # y = W2 relu(W1 x + b1) with neuron 0 unstable on the box and the others active: a row
    # reaching neuron 0 positively takes its alpha slope (clamped into [0, 1]), negatively
    # the upper line's u / (u - l); a split's multiplier beta >= 0 enters as - beta * sign.
    rng = np.random.default_rng(3)
    w1 = rng.uniform(-1, 1, size=(4, 3)).astype(np.float32)
    b1 = np.array([0.0, 9.0, 9.0, 9.0], dtype=np.float32)
    w2 = rng.uniform(-1, 1, size=(2, 4)).astype(np.float32)
    graph = import_model(dense_network([w1, w2], [b1, np.zeros(2, dtype=np.float32)]))
    C = torch.tensor([[1.0, -2.0], [-1.0, 0.5], [0.3, 1.0]], dtype=torch.float64)
    crown = CrownBounds(graph, C)
    lower, upper = -torch.ones(1, 3, dtype=torch.float64), torch.ones(1, 3, dtype=torch.float64)
    analysis = crown.analyse(lower, upper)
    (relu,) = (node for node in graph.nodes if node.op_type == "Relu")
    pre = analysis.bounds[relu.inputs[0]]
    lo, hi = float(pre.lower.reshape(-1)[0]), float(pre.upper.reshape(-1)[0])
    assert lo < 0 < hi and bool((pre.lower.reshape(-1)[1:] > 0).all())
    alphas = torch.full((1, 3, 4), 1.7, dtype=torch.float64)  # clamped to 1 where it counts
    alphas[0, 1, 0] = 0.3
    betas = torch.tensor([[[0.0, 0.5, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.2, 0.0, 0.0, 0.4]]], dtype=torch.float64)
    signs = torch.tensor([[1, 1, 0, -1]], dtype=torch.int8)
    parameters = Parameters({relu.output: alphas}, {relu.inputs[0]: betas})

    A = crown.input_coefficients(analysis, parameters, {relu.inputs[0]: signs})

    reaching = C.numpy() @ w2.astype(np.float64)  # coefficients on the ReLU's output, (3, 4)
    slopes = np.ones((3, 4))
    slopes[:, 0] = np.where(reaching[:, 0] > 0, np.clip(alphas[0, :, 0].numpy(), 0, 1), hi / (hi - lo))
    expected = (reaching * slopes - betas[0].numpy() * signs.numpy()) @ w1.astype(np.float64)
    assert A is not None and A.shape == (1, 3, 3)
    np.testing.assert_allclose(A[0].numpy(), expected, rtol=1e-9, atol=1e-9)
