"""Confirming counterexamples on the model as executed, by onnxruntime.

A candidate from the search is rounded to the model's input element type without leaving
the case's box, run through onnxruntime, and accepted only if the query's assertions hold
exactly for that input and the output onnxruntime computed.
"""

from __future__ import annotations

import numpy as np
import onnxruntime as ort

from bounds.errors import ModelError
from bounds.graph import TensorInfo
from specs.property import Box, Property
from verify.result import Counterexample


def round_into_box(x: np.ndarray, box: Box, dtype: np.dtype) -> np.ndarray | None:
    """x in ``dtype`` with every element inside the box, or None if some interval holds no
    value of that type. Rounding may push an element past a bound; it is then moved one
    representable step back inside."""
    rounded = np.clip(np.asarray(x, dtype=np.float64), box.lower, box.upper).astype(dtype)
    too_high = rounded.astype(np.float64) > box.upper
    too_low = rounded.astype(np.float64) < box.lower
    rounded[too_high] = np.nextafter(rounded[too_high], dtype.type(-np.inf))
    rounded[too_low] = np.nextafter(rounded[too_low], dtype.type(np.inf))
    inside = (rounded.astype(np.float64) >= box.lower) & (rounded.astype(np.float64) <= box.upper)
    return rounded if bool(inside.all()) else None


class OnnxChecker:
    """Runs a model in onnxruntime and confirms candidates against a property."""

    def __init__(self, model: bytes, input_info: TensorInfo, prop: Property) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])
        except Exception as error:  # onnxruntime raises its own exception hierarchy
            raise ModelError(f"onnxruntime cannot load the model: {error}") from error
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
            x = round_into_box(candidate, case.region.box, self.dtype)
            if x is None or not case.region.contains(x):
                continue
            y = self.run(x)
            if case.condition.holds(y.astype(np.float64)):
                return Counterexample(x, y)
        return None
