"""Confirming counterexamples on the model as executed, by onnxruntime.

A candidate from the search is rounded to the model's input element type without leaving
the case's box, run through onnxruntime, and accepted only if the query's assertions hold
exactly for that input and the output onnxruntime computed. For a query composed of
several models (`bounds.compose`), `observe` runs each model as given, so the answer is
re-checked on the original models too (`verify.query.recheck`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

from bounds.errors import ModelError
from bounds.onnx_file import TensorInfo, variable_inputs
from specs.property import Box, Case, Property
from verify.result import Counterexample


def round_into_box(x: np.ndarray, box: Box, dtype: np.dtype) -> np.ndarray | None:
    """x in ``dtype`` with every element inside the box, or None if some interval holds no
    value of that type. Rounding may push an element past a bound; it is then moved one
    representable step back inside."""
    with np.errstate(over="ignore"):  # beyond the type's range: infinity, stepped back below
        rounded = np.clip(np.asarray(x, dtype=np.float64), box.lower, box.upper).astype(dtype)
    too_high = rounded.astype(np.float64) > box.upper
    too_low = rounded.astype(np.float64) < box.lower
    rounded[too_high] = np.nextafter(rounded[too_high], dtype.type(-np.inf))
    rounded[too_low] = np.nextafter(rounded[too_low], dtype.type(np.inf))
    inside = (rounded.astype(np.float64) >= box.lower) & (rounded.astype(np.float64) <= box.upper)
    return rounded if bool(inside.all()) else None


def _session(model: bytes) -> ort.InferenceSession:
    ort.set_default_logger_severity(4)  # fatal only: its errors reach the user as ours, in one line
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    except Exception as error:  # onnxruntime raises its own exception hierarchy
        raise ModelError(f"onnxruntime cannot load the model: {error}") from error


def observe(model: onnx.ModelProto, inputs: Sequence[np.ndarray], observed: Sequence[str]) -> list[np.ndarray]:
    """The flat values of the ``observed`` tensors (outputs or any intermediate tensor) when
    onnxruntime runs the model as given on ``inputs`` (one per variable input, in order)."""
    copy = onnx.ModelProto.FromString(model.SerializeToString())
    present = {o.name for o in copy.graph.output}
    copy.graph.output.extend(
        helper.make_empty_tensor_value_info(n) for n in dict.fromkeys(observed) if n not in present
    )
    session = _session(copy.SerializeToString())
    feeds = {}
    for value, x in zip(variable_inputs(copy), inputs, strict=True):
        dtype = helper.tensor_dtype_to_np_dtype(value.type.tensor_type.elem_type)
        feeds[value.name] = np.asarray(x).astype(dtype)
    results = session.run(list(observed), feeds)
    return [np.asarray(r).reshape(-1) for r in results]


class OnnxChecker:
    """Runs a model in onnxruntime and confirms candidates against a property."""

    def __init__(self, model: bytes, input_info: TensorInfo, prop: Property) -> None:
        self.session = _session(model)
        self.input = input_info
        self.dtype = np.dtype(input_info.element_type)
        self.prop = prop

    def run(self, x: np.ndarray) -> np.ndarray:
        """The model's flat output for one flat input, computed by onnxruntime."""
        feed = np.asarray(x, dtype=self.dtype).reshape(self.input.shape)
        return np.asarray(self.session.run(None, {self.input.name: feed})[0]).reshape(-1)

    def confirm(self, candidate: np.ndarray) -> Counterexample | None:
        """The counterexample if the candidate (or its rounding) really violates the property."""
        for case in self.prop.cases:
            found = self.confirm_in(case, candidate)
            if found is not None:
                return found
        return None

    def confirm_in(self, case: Case, candidate: np.ndarray) -> Counterexample | None:
        """The counterexample if the candidate (or its rounding into the case's box) lies in
        the case's input region and onnxruntime's output satisfies its condition exactly."""
        x = round_into_box(candidate, case.region.box, self.dtype)
        if x is None or not case.region.contains(x):
            return None
        y = self.run(x)
        return Counterexample(x, y) if case.condition.holds(y.astype(np.float64)) else None
