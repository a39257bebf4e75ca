"""Verdicts and counterexamples, as users and the CLI see them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum

import numpy as np


class Status(Enum):
    """The answer to a query.

    SAT means a counterexample to the property exists: an input satisfying all the query's
    assertions, found and re-checked on the model as executed by onnxruntime. UNSAT means
    the property holds (no such input). UNKNOWN and TIMEOUT decide nothing; ERROR means the
    query or model could not be processed.
    """

    SAT = "sat"
    UNSAT = "unsat"
    UNKNOWN = "unknown"
    TIMEOUT = "timeout"
    ERROR = "error"


@dataclass(frozen=True, eq=False)
class Counterexample:
    """A violating input (flat, row-major, as fed to the model) and the model's actual output."""

    input: np.ndarray
    output: np.ndarray


@dataclass(frozen=True)
class Result:
    status: Status
    counterexample: Counterexample | None = None
    time: float = 0.0
    statistics: Mapping[str, float] = field(default_factory=dict)
    reason: str = ""
