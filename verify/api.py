"""The Python API: load a model, state or read a property, check it, certify a dataset.

    from verify import api
    model = api.load("net.onnx")                     # or api.load(torch_module, input_shape=(1, 64))
    result = api.check(model, api.read_property("prop.vnnlib"), api.Options(timeout=30))
    sweep = api.certify_robustness(model, images, labels, [0.01, 0.02], lower=0, upper=1)

Results are `verify.result.Result` (status, counterexample, time, statistics, reason); every
call that decides something can also write the JSON result artifact (``json=PATH``).
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from bounds.onnx_import import parse_onnx
from specs import Property, local_robustness, read_property
from verify.artifact import ModelRecord, QueryRecord, check_file, result_record, write_json
from verify.errors import QueryError
from verify.options import Options
from verify.pipeline import Model, check_property, load_model
from verify.result import Result, Status

if TYPE_CHECKING:
    import torch

__all__ = [
    "Model",
    "Options",
    "PointResult",
    "Result",
    "RobustnessSweep",
    "Status",
    "certify_robustness",
    "check",
    "check_result",
    "load",
    "read_property",
    "robustness_property",
    "save_model",
]

ROBUSTNESS_SCHEMA = "nnverify.robustness"
DEFAULT_OPTIONS = Options()
SWEEP_OPTIONS = Options(timeout=10.0)  # per point and radius


def load(
    source: str | os.PathLike[str] | bytes | torch.nn.Module, *, input_shape: Sequence[int] | None = None
) -> Model:
    """A model from an ONNX file, ONNX bytes, or a ``torch.nn.Module`` exported in memory
    (``input_shape``, batch axis included, is then required; the module is exported in eval
    mode with float32 weights, so what is verified is exactly what onnxruntime runs)."""
    if isinstance(source, (str, os.PathLike)):
        return load_model(source)
    if isinstance(source, bytes):
        return Model(parse_onnx(source, "<bytes>"), source, "<bytes>")
    import torch

    if not isinstance(source, torch.nn.Module):
        raise TypeError(f"cannot load a model from {type(source).__name__}")
    if input_shape is None:
        raise QueryError("a torch module needs input_shape (with the batch axis, e.g. (1, 64))")
    data = _export(source, tuple(input_shape))
    name = f"<torch {type(source).__name__}>"
    return Model(parse_onnx(data, name), data, name)


def _export(module: torch.nn.Module, input_shape: tuple[int, ...]) -> bytes:
    import torch

    buffer = io.BytesIO()
    was_training = module.training
    module.eval()
    try:
        with warnings.catch_warnings():
            # the TorchScript exporter: no onnxscript needed, and it emits Gemm/Conv as we read them
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                module,
                (torch.zeros(input_shape),),
                buffer,  # type: ignore[arg-type]  # file objects work; the stub names paths only
                input_names=["input"],
                output_names=["output"],
                dynamo=False,
            )
    finally:
        module.train(was_training)
    return buffer.getvalue()


def robustness_property(
    model: Model,
    x: npt.ArrayLike,
    eps: float,
    label: int,
    *,
    lower: npt.ArrayLike | None = None,
    upper: npt.ArrayLike | None = None,
) -> Property:
    """Local robustness of ``model`` at ``x`` (its input shape) within L-inf radius ``eps``,
    clipped to ``[lower, upper]``: SAT iff some input there scores another class at least
    as high as ``label``."""
    point = np.asarray(x, dtype=np.float64).reshape(model.graph.input.shape)
    return local_robustness(point, eps, label, num_classes=model.graph.output.size, lower=lower, upper=upper)


def check(
    model: Model,
    prop: Property,
    options: Options = DEFAULT_OPTIONS,
    *,
    json: str | os.PathLike[str] | None = None,
    context: dict[str, Any] | None = None,
) -> Result:
    """Decide ``prop`` on ``model``; with ``json``, also write the result artifact there."""
    result = check_property(model, prop, options)
    if json is not None:
        query = QueryRecord.of_property(prop)
        write_json(json, result_record(result, ModelRecord.of_model(model), query, options, context=context))
    return result


@dataclass(frozen=True)
class PointResult:
    """One point at one radius of a robustness sweep. ``status`` is None when the point is
    misclassified (nothing to certify). ``record`` is the result artifact; ``implied`` marks a
    sat carried over from a smaller radius's counterexample (no record of its own)."""

    index: int
    eps: float
    label: int
    predicted: int
    status: Status | None
    time: float
    record: dict[str, Any] | None
    implied: bool = False


@dataclass(frozen=True)
class RobustnessSweep:
    """Local robustness of a dataset at several radii."""

    epsilons: tuple[float, ...]
    inputs: np.ndarray
    labels: tuple[int, ...]
    predicted: tuple[int, ...]
    results: tuple[PointResult, ...]

    def certified_accuracy(self, eps: float) -> float:
        """Share of points classified correctly and proved robust (unsat) at ``eps``."""
        proved = sum(1 for r in self.results if r.eps == eps and r.status is Status.UNSAT)
        return proved / len(self.labels)

    def falsified(self, eps: float) -> float:
        """Share of points misclassified or with a counterexample at ``eps``: 1 minus this
        bounds the true robust accuracy from above."""
        bad = sum(1 for r in self.results if r.eps == eps and r.status in (None, Status.SAT))
        return bad / len(self.labels)

    def document(self, image_shape: Sequence[int] | None = None) -> dict[str, Any]:
        """The sweep as JSON (schema ``nnverify.robustness``, see docs/result-schema.md)."""
        return {
            "schema": ROBUSTNESS_SCHEMA,
            "schema_version": 1,
            "epsilons": list(self.epsilons),
            "points": len(self.labels),
            "clean_accuracy": sum(p == t for p, t in zip(self.predicted, self.labels, strict=True)) / len(self.labels),
            "certified_accuracy": [self.certified_accuracy(e) for e in self.epsilons],
            "falsified": [self.falsified(e) for e in self.epsilons],
            "image_shape": list(image_shape) if image_shape else None,
            "results": [
                {
                    "index": r.index,
                    "eps": r.eps,
                    "label": r.label,
                    "predicted": r.predicted,
                    "verdict": r.status.value if r.status else "misclassified",
                    "time_s": r.time,
                    "implied": r.implied,
                    "result": r.record,
                }
                for r in self.results
            ],
        }


def certify_robustness(
    model: Model,
    inputs: npt.ArrayLike,
    labels: Sequence[int],
    epsilons: Sequence[float],
    *,
    lower: npt.ArrayLike | None = None,
    upper: npt.ArrayLike | None = None,
    options: Options = SWEEP_OPTIONS,
    json: str | os.PathLike[str] | None = None,
    image_shape: Sequence[int] | None = None,
    on_result: Callable[[PointResult], None] | None = None,
) -> RobustnessSweep:
    """Local robustness of every point (``inputs[i]`` with true class ``labels[i]``) at every
    radius, each check under ``options``. Points the model misclassifies are not checked.
    Radii are taken in increasing order; once a point has a counterexample, it is one for
    every larger radius too (the box only grows), so those are answered sat without a search.
    ``on_result`` sees each point result as it is decided (for progress display)."""
    points = np.asarray(inputs, dtype=np.float64).reshape(-1, model.graph.input.size)
    if len(points) != len(labels):
        raise QueryError(f"{len(points)} inputs but {len(labels)} labels")
    radii = tuple(sorted(float(e) for e in epsilons))
    predicted = tuple(int(v) for v in np.argmax(model.graph.run_numpy(points), axis=1))
    results: list[PointResult] = []
    for index, (x, label, guess) in enumerate(zip(points, labels, predicted, strict=True)):
        previous: PointResult | None = None
        for eps in radii:
            if guess != label:
                point = PointResult(index, eps, int(label), guess, None, 0.0, None)
            elif previous is not None and previous.status is Status.SAT:
                point = replace(previous, eps=eps, time=0.0, record=None, implied=True)
            else:
                prop = robustness_property(model, x, eps, int(label), lower=lower, upper=upper)
                result = check_property(model, prop, options)
                context = {"reference": x.tolist(), "label": int(label), "eps": eps, "index": index}
                identity = ModelRecord.of_model(model)
                record = result_record(result, identity, QueryRecord.of_property(prop), options, context=context)
                point = PointResult(index, eps, int(label), guess, result.status, result.time, record)
            results.append(point)
            previous = point
            if on_result is not None:
                on_result(point)
    sweep = RobustnessSweep(radii, points, tuple(int(v) for v in labels), predicted, tuple(results))
    if json is not None:
        write_json(json, sweep.document(image_shape))
    return sweep


def check_result(path: str | os.PathLike[str], model: str | None = None, query: str | None = None) -> list[str]:
    """Re-check a result file as ``nnverify check-result`` does: one line per record, or
    ``ArtifactError`` for the first record that fails."""
    return check_file(path, model, query)


def save_model(model: Model, path: str | os.PathLike[str]) -> Path:
    """Write the model's ONNX bytes (for a model built in memory) so others can re-check it."""
    target = Path(path)
    target.write_bytes(model.onnx)
    return target
