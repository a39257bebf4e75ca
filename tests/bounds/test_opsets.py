"""The supported opset range: one small convolutional network written in each opset's own
forms (attributes that later became inputs: Clip, Pad, Slice, Split, ReduceSum, Unsqueeze),
imported, evaluated against onnxruntime and bounded soundly, for every supported version."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import helper
from onnx_cases import assert_within, batched, make_model, ort_batch, sample_box

import bounds
from bounds.onnx_import import SUPPORTED_OPSETS
from bounds.ops.base import Interval


def _ints(*values: int) -> np.ndarray:
    return np.asarray(values, dtype=np.int64)


def _network(opset: int) -> onnx.ModelProto:
    rng = np.random.default_rng(opset)
    inits: dict[str, np.ndarray] = {
        "W": rng.normal(size=(4, 1, 3, 3)),
        "b": rng.normal(size=4),
        "G": rng.normal(size=(3, 6)),
        "c": rng.normal(size=3),
    }
    nodes = [helper.make_node("Conv", ["x", "W", "b"], ["conv"], pads=[1, 1, 1, 1])]
    if opset < 11:
        nodes.append(helper.make_node("Clip", ["conv"], ["clip"], min=-1.0, max=2.0))
        nodes.append(helper.make_node("Pad", ["clip"], ["pad"], pads=[0, 0, 1, 0, 0, 0, 0, 1]))
    else:
        inits |= {"lo": np.asarray(-1.0), "hi": np.asarray(2.0), "pads": _ints(0, 0, 1, 0, 0, 0, 0, 1)}
        nodes.append(helper.make_node("Clip", ["conv", "lo", "hi"], ["clip"]))
        nodes.append(helper.make_node("Pad", ["clip", "pads"], ["pad"]))
    nodes.append(helper.make_node("MaxPool", ["pad"], ["pool"], kernel_shape=[2, 2], strides=[2, 2]))
    if opset < 10:
        nodes.append(helper.make_node("Slice", ["pool"], ["slice"], starts=[0], ends=[3], axes=[2]))
    else:
        inits |= {"starts": _ints(0), "ends": _ints(3), "axes": _ints(2)}
        nodes.append(helper.make_node("Slice", ["pool", "starts", "ends", "axes"], ["slice"]))
    if opset < 13:
        nodes.append(helper.make_node("Split", ["slice"], ["s1", "s2"], axis=1, split=[1, 3]))
        nodes.append(helper.make_node("ReduceSum", ["s2"], ["sum"], axes=[1], keepdims=1))
    else:
        inits |= {"split": _ints(1, 3), "sum_axes": _ints(1)}
        nodes.append(helper.make_node("Split", ["slice", "split"], ["s1", "s2"], axis=1))
        nodes.append(helper.make_node("ReduceSum", ["s2", "sum_axes"], ["sum"], keepdims=1))
    nodes += [
        helper.make_node("Sub", ["sum", "s1"], ["diff"]),
        helper.make_node("Flatten", ["diff"], ["flat"]),
        helper.make_node("Gemm", ["flat", "G", "c"], ["y"], transB=1),
    ]
    return make_model(nodes, {"x": [1, 1, 5, 4]}, {"y": [1, 3]}, inits, opset=opset)


@pytest.mark.parametrize("opset", range(SUPPORTED_OPSETS[0], SUPPORTED_OPSETS[1] + 1))
def test_network_in_each_supported_opset(opset: int) -> None:
    model = _network(opset)
    graph = bounds.import_model(model)
    assert graph.opset == opset
    rng = np.random.default_rng(0)
    feeds = [{"x": rng.normal(size=(1, 1, 5, 4)).astype(np.float32)} for _ in range(4)]
    with torch.no_grad():
        actual = graph.evaluate({"x": batched([f["x"] for f in feeds])})[graph.output.name]
    np.testing.assert_allclose(actual.numpy(), ort_batch(model, feeds), rtol=1e-5, atol=1e-5)
    center = rng.normal(size=(1, 1, 5, 4))
    lower, upper = center - 0.3, center + 0.3
    with torch.no_grad():
        box = bounds.propagate(graph, {"x": Interval(torch.as_tensor(lower), torch.as_tensor(upper))})
        points = sample_box({"x": lower[0]}, {"x": upper[0]}, rng)
        values = graph.evaluate(points)[graph.output.name]
    assert_within(values, box[graph.output.name], 0, what=f"opset {opset}")


def test_opsets_outside_the_range_are_refused() -> None:
    model = _network(SUPPORTED_OPSETS[1])
    model.opset_import[0].version = SUPPORTED_OPSETS[1] + 1
    with pytest.raises(bounds.ModelError, match="outside the supported range"):
        bounds.import_model(model)
