"""A first look for a counterexample before the analysis is loaded: uniform samples of each
case's input box, run in onnxruntime.

Every ``nnverify run`` (or ``verify``) is a process of its own, and loading the analysis
(torch, mostly) takes about 2 s: most of the time of an instance whose violations are
common. So the command samples first, with onnxruntime and the property alone (this module imports
neither torch nor the analysis), and loads the analysis only when sampling finds nothing.
Each sample is rounded into its case's box in the model's input type and checked exactly,
like every candidate (``OnnxChecker.confirm_in``). On ACAS Xu, 1,024 uniform samples
(0.05-0.1 s) hit 38 of the 47 sat instances, all but one within the first 450.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np
import onnx

from bounds.onnx_file import single_input
from specs.property import OutputCondition, Property
from verify.check import OnnxChecker, round_into_box
from verify.result import Counterexample

if TYPE_CHECKING:
    from bounds.ops.base import Shape

SAMPLES = 1024
"""Samples per property, shared evenly among its cases (at least one each)."""


def sampled_counterexample(
    model: bytes,
    prop: Property,
    *,
    deadline: float,
    samples: int = SAMPLES,
    seed: int = 0,
    shapes: tuple[Shape, Shape] | None = None,
) -> tuple[Counterexample | None, int]:
    """A counterexample among uniform samples of the property's case boxes, taken until the
    ``deadline`` (a ``time.monotonic()`` value), and the number of samples run. None and 0
    where the model cannot be sampled so (not one input of static shape and one output of
    the property's sizes, or of the input and output ``shapes`` a query declares, or onnx
    or onnxruntime refuses it): the analysis then says why."""
    try:  # any failure to load or run here is reported by the analysis, with its own diagnosis
        proto = onnx.load_model_from_string(model)
        checker = OnnxChecker(model, single_input(proto), prop)
        if len(proto.graph.output) != 1 or checker.input.size != prop.input.size:
            return None, 0
        zero = np.zeros(checker.input.shape, dtype=checker.dtype)
        output_shape = np.shape(checker.session.run(None, {checker.input.name: zero})[0])
        if int(np.prod(output_shape)) != prop.output.size:
            return None, 0
        if shapes is not None and (checker.input.shape, output_shape) != tuple(tuple(s) for s in shapes):
            return None, 0
    except Exception:
        return None, 0
    rng = np.random.default_rng(seed)
    per_case = max(1, samples // len(prop.cases))
    tried = 0
    for case in prop.cases:
        box = case.region.box
        if case.region.is_empty() or not (np.isfinite(box.lower).all() and np.isfinite(box.upper).all()):
            continue
        points = round_into_box(rng.uniform(box.lower, box.upper, size=(per_case, box.size)), box, checker.dtype)
        if points is None:  # some interval holds no value of the input type
            continue
        outputs: list[np.ndarray] = []
        for point in points:
            if time.monotonic() > deadline:
                break
            outputs.append(checker.run(point))
        if not outputs:  # the deadline came first
            break
        tried += len(outputs)
        for index in np.flatnonzero(_may_hold(case.condition, np.array(outputs, dtype=np.float64))):
            found = checker.confirm_in(case, points[index])
            if found is not None:
                return found, tried
        if time.monotonic() > deadline:
            break
    return None, tried


def _may_hold(condition: OutputCondition, outputs: np.ndarray) -> np.ndarray:
    """Per output (rows of ``outputs``), whether some clause's linear rows hold within a
    relative 1e-6: a filter for the exact check (polynomial rows are left to it)."""
    hits = np.zeros(len(outputs), dtype=bool)
    with np.errstate(invalid="ignore", over="ignore"):  # non-finite outputs: the exact check decides
        for clause in condition.clauses:
            slack = 1e-6 * (1 + np.abs(outputs) @ np.abs(clause.A).T + np.abs(clause.b))
            hits |= (outputs @ clause.A.T <= clause.b + slack).all(axis=1)
    return hits
