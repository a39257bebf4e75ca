"""Helpers for the bounds/ tests: building small ONNX models and running them in onnxruntime.

Imported by the tests in this folder (``tests/bounds/conftest.py`` puts the folder on
``sys.path``). The name is unique so it cannot clash with helpers elsewhere in tests/.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import onnx
import onnxruntime as ort
import torch
from onnx import TensorProto, helper, numpy_helper

from bounds.ops.base import Interval

Dim = int | str | None
"""A declared dimension: a size, a symbolic name (dynamic), or None (unknown)."""


def make_model(
    nodes: Iterable[onnx.NodeProto],
    inputs: Mapping[str, Sequence[Dim]],
    outputs: Mapping[str, Sequence[Dim] | None],
    initializers: Mapping[str, np.ndarray] | None = None,
    *,
    opset: int = 13,
    check: bool = True,
) -> onnx.ModelProto:
    """A float32 model; constants are initializers (stored as float32 unless integer)."""
    inits = []
    for name, value in (initializers or {}).items():
        array = np.asarray(value)
        if array.dtype.kind == "f":
            array = array.astype(np.float32)
        inits.append(numpy_helper.from_array(array, name))
    graph = helper.make_graph(
        list(nodes),
        "test",
        [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in inputs.items()],
        [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, None if s is None else list(s))
            for n, s in outputs.items()
        ],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 8
    if check:
        onnx.checker.check_model(model)
    return model


def ort_session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def ort_run(model: onnx.ModelProto, feeds: Mapping[str, np.ndarray]) -> list[np.ndarray]:
    """All outputs of the model for one set of (unbatched) float32 inputs."""
    session = ort_session(model)
    return session.run(None, {k: np.asarray(v, dtype=np.float32) for k, v in feeds.items()})


def ort_batch(model: onnx.ModelProto, feeds: Sequence[Mapping[str, np.ndarray]], output: int = 0) -> np.ndarray:
    """One output of the model for each of several feeds, stacked along a new leading axis."""
    session = ort_session(model)
    results = [session.run(None, {k: np.asarray(v, dtype=np.float32) for k, v in f.items()})[output] for f in feeds]
    return np.stack(results)


def batched(arrays: Sequence[np.ndarray]) -> torch.Tensor:
    """Stack numpy samples into one float64 torch batch (the leading axis nnverify expects)."""
    return torch.as_tensor(np.stack([np.asarray(a, dtype=np.float64) for a in arrays]))


def sample_box(
    lower: Mapping[str, np.ndarray],
    upper: Mapping[str, np.ndarray],
    rng: np.random.Generator,
    count: int = 200,
    max_corner_dims: int = 10,
) -> dict[str, torch.Tensor]:
    """Random points inside one box (plus all of its corners when it is small), batched.

    ``lower[name]`` and ``upper[name]`` are unbatched arrays of the input's shape.
    """
    names = list(lower)
    points = {
        n: [lower[n] + rng.uniform(size=lower[n].shape) * (upper[n] - lower[n]) for _ in range(count)] for n in names
    }
    total = sum(int(lower[n].size) for n in names)
    if total <= max_corner_dims:
        for bits in itertools.product((0.0, 1.0), repeat=total):
            flat = np.asarray(bits)
            offset = 0
            for n in names:
                size = int(lower[n].size)
                choice = flat[offset : offset + size].reshape(lower[n].shape)
                offset += size
                points[n].append(np.where(choice > 0, upper[n], lower[n]))
    return {n: batched(points[n]) for n in names}


def assert_within(values: torch.Tensor, box: Interval, index: int, tol: float = 1e-9, what: str = "") -> None:
    """Every sample in ``values`` (batch, *shape) lies within box ``index`` of ``box``."""
    lower = box.lower[index].unsqueeze(0)
    upper = box.upper[index].unsqueeze(0)
    assert values.shape[1:] == lower.shape[1:], what
    below = (values < lower - tol).sum().item()
    above = (values > upper + tol).sum().item()
    worst = max((lower - values).max().item(), (values - upper).max().item())
    assert below == 0 and above == 0, f"{what}: {below} below, {above} above the bounds (worst excess {worst:.3g})"
