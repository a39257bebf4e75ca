"""The float error bound: onnxruntime's float32 output (and float32 sums in adversarial
orders) stays within ``tensor_errors`` of the float64 evaluation, on every conformance
example with a rule and on random deep networks with badly scaled weights; ops without a
rule, and weights the file does not hold, give no claim."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from onnx import helper
from onnx_cases import make_model, ort_batch
from test_conformance import CASES, Case, graph_of, model_of

import bounds
from bounds.float_error import ARITHMETIC, RULES, output_error, refusals, tensor_errors
from bounds.onnx_build import dense_network
from bounds.ops.base import Interval

COVERED = [c for c in CASES if all(t in RULES for t in c.op_types)]


def _boxes(case: Case, rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    lower, upper = {}, {}
    for name, shape in case.inputs.items():
        centre = case.scale * rng.normal(size=shape)
        radius = rng.uniform(0.0, case.scale, size=shape)
        lower[name], upper[name] = centre - radius, centre + radius
    return lower, upper


def _float32_points(lower: np.ndarray, upper: np.ndarray, rng: np.random.Generator, count: int) -> np.ndarray:
    """Float32 points inside the box (rounded, then clipped to the box's float32 interior)."""
    points = (lower + rng.uniform(size=(count, *lower.shape)) * (upper - lower)).astype(np.float32)
    inner_lo = np.where(lower.astype(np.float32) < lower, np.nextafter(lower.astype(np.float32), np.inf), lower)
    inner_hi = np.where(upper.astype(np.float32) > upper, np.nextafter(upper.astype(np.float32), -np.inf), upper)
    return np.clip(points, inner_lo.astype(np.float32), inner_hi.astype(np.float32))


def test_every_conformance_op_with_a_rule_is_exercised() -> None:
    assert {t for c in COVERED for t in c.op_types} == set(RULES)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in COVERED])
def test_onnxruntime_within_the_bound(case: Case) -> None:
    graph, model = graph_of(case.id), model_of(case.id)
    assert refusals(graph) == []
    rng = np.random.default_rng(3)
    lower, upper = _boxes(case, rng)
    boxes = {n: Interval(torch.as_tensor(lower[n][None]), torch.as_tensor(upper[n][None])) for n in lower}
    error = tensor_errors(graph, boxes)[graph.output.name][0]
    assert bool(torch.isfinite(error).all())
    points = {n: _float32_points(lower[n], upper[n], rng, 64) for n in lower}
    actual = ort_batch(model, [{n: points[n][i] for n in points} for i in range(64)]).astype(np.float64)
    with torch.no_grad():
        real = graph.evaluate({n: torch.as_tensor(p.astype(np.float64)) for n, p in points.items()})
    deviation = np.abs(actual - real[graph.output.name].numpy())
    assert (deviation <= error.numpy()).all(), f"worst excess {(deviation - error.numpy()).max():.3g}"


def _random_network(rng: np.random.Generator, widths: list[int], scale_spread: float) -> list[np.ndarray]:
    """Weights with log-uniform magnitudes over ``10**±scale_spread`` and random signs."""
    return [
        (rng.choice([-1.0, 1.0], size=(o, i)) * 10.0 ** rng.uniform(-scale_spread, scale_spread, size=(o, i))) / i
        for i, o in itertools.pairwise(widths)
    ]


def _float32_dense(weights: list[np.ndarray], biases: list[np.ndarray], x: np.ndarray, reverse: bool) -> np.ndarray:
    """The network in float32 with sequential sums, front to back or back to front."""
    h = x.astype(np.float32)
    for k, (w, b) in enumerate(zip(weights, biases, strict=True)):
        terms = (h[:, None, :] * w.astype(np.float32)[None]).astype(np.float32)
        if reverse:
            terms = terms[..., ::-1]
        h = (np.cumsum(terms, axis=-1, dtype=np.float32)[..., -1] + b.astype(np.float32)).astype(np.float32)
        if k < len(weights) - 1:
            h = np.maximum(h, np.float32(0))
    return h.astype(np.float64)


@pytest.mark.parametrize("seed", range(6))
def test_deep_badly_scaled_networks_within_the_bound(seed: int) -> None:
    rng = np.random.default_rng(seed)
    widths = [int(rng.integers(3, 30)) for _ in range(int(rng.integers(2, 6)))] + [int(rng.integers(1, 5))]
    weights = _random_network(rng, widths, scale_spread=3.0)
    biases = [rng.normal(size=w.shape[0]) * 10.0 ** rng.uniform(-3, 3) for w in weights]
    model = dense_network(weights, biases)
    graph = bounds.import_model(model)
    centre = rng.normal(size=widths[0]) * 10.0 ** rng.uniform(-2, 3)
    radius = np.abs(centre) * rng.uniform(0, 0.1) + 1e-3
    lower, upper = centre - radius, centre + radius
    error = output_error(graph, torch.as_tensor(lower[None]), torch.as_tensor(upper[None]))[0].numpy()
    x = _float32_points(lower, upper, rng, 200)
    real = graph.run_numpy(x.astype(np.float64))
    ort = ort_batch(model, [{"x": p[None]} for p in x])[:, 0].astype(np.float64)
    for flavour in (ort, _float32_dense(weights, biases, x, False), _float32_dense(weights, biases, x, True)):
        assert (np.abs(flavour - real) <= error).all()


def test_cancellation_is_covered() -> None:
    """1 + 1e8 - 1e8 in float32, summed front to back, is 0: the bound must admit it."""
    weights = [np.array([[1.0, 1e8, -1e8]])]
    biases = [np.zeros(1)]
    graph = bounds.import_model(dense_network(weights, biases))
    x = np.ones((1, 3))
    float32 = _float32_dense(weights, biases, x, reverse=False)
    assert float32[0, 0] == 0.0 and graph.run_numpy(x)[0, 0] == 1.0
    error = output_error(graph, torch.as_tensor(x), torch.as_tensor(x))[0, 0].item()
    assert 1.0 <= error < 100.0


def test_error_shrinks_with_the_box_and_relu_stops_it() -> None:
    rng = np.random.default_rng(0)
    weights = _random_network(rng, [5, 20, 20, 2], scale_spread=0.5)
    graph = bounds.import_model(dense_network(weights, [np.zeros(w.shape[0]) for w in weights]))
    centre = torch.as_tensor(rng.normal(size=(1, 5)))
    wide, narrow = (output_error(graph, centre - r, centre + r).max().item() for r in (1.0, 0.01))
    assert narrow < wide
    dead = bounds.import_model(dense_network([np.ones((1, 2)), np.ones((1, 1))], [np.full(1, -10.0), np.ones(1)]))
    point = torch.zeros(1, 2)
    only_bias = ARITHMETIC["float32"].gamma(1 + 4 + 1)  # Gemm: one term, alpha, beta, bias
    assert output_error(dead, point, point).item() == pytest.approx(only_bias, rel=1e-3)


def _refused(model: object) -> list[str]:
    return refusals(bounds.import_model(model))  # type: ignore[arg-type]


def test_ops_without_rules_and_weights_not_in_the_file_are_refused() -> None:
    softmax = make_model([helper.make_node("Softmax", ["x"], ["y"])], {"x": [1, 3]}, {"y": [1, 3]})
    assert any("Softmax" in r for r in _refused(softmax))
    conv_bn = make_model(
        [
            helper.make_node("Conv", ["x", "W"], ["c"]),
            helper.make_node("BatchNormalization", ["c", "s", "b", "m", "v"], ["y"]),
        ],
        {"x": [1, 1, 3, 3]},
        {"y": [1, 1, 3, 3]},
        {"W": np.ones((1, 1, 1, 1)), "s": [0.3], "b": [0.1], "m": [0.2], "v": [0.7]},
    )
    graph = bounds.import_model(conv_bn)
    assert [n.op_type for n in graph.nodes] == ["Conv"] and refusals(graph)
    box = torch.zeros(1, 9)
    assert bool(torch.isinf(output_error(graph, box, box)).all())


def test_gemm_alpha_and_beta_within_the_bound() -> None:
    """alpha and beta fold into the weights (rounded to float32); onnxruntime applies them."""
    rng = np.random.default_rng(5)
    W, C = rng.normal(size=(6, 3)), rng.normal(size=3)
    model = make_model(
        [helper.make_node("Gemm", ["x", "W", "C"], ["y"], alpha=0.3, beta=-1.7)],
        {"x": [1, 6]},
        {"y": [1, 3]},
        {"W": W, "C": C},
    )
    graph = bounds.import_model(model)
    assert refusals(graph) == []
    lower, upper = -np.ones(6) * 3, np.ones(6) * 3
    error = output_error(graph, torch.as_tensor(lower[None]), torch.as_tensor(upper[None]))[0].numpy()
    x = _float32_points(lower, upper, rng, 300)
    actual = ort_batch(model, [{"x": p[None]} for p in x])[:, 0].astype(np.float64)
    assert (np.abs(actual - graph.run_numpy(x.astype(np.float64))) <= error).all()
