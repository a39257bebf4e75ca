"""Satisfying assignments in the VNN-LIB 2.0 serialised format: one ONNX TensorProto file
``DIR/NAME.pb`` per declared variable, with the variable's shape and its values' own element
type (the model's: inputs are the values onnxruntime ran, outputs what it computed)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from onnx import numpy_helper

from specs.property import Variable
from verify.errors import QueryError


def write_assignments(folder: str | os.PathLike[str], assignment: Sequence[tuple[Variable, np.ndarray]]) -> None:
    """Write every variable's values (flat, row-major) as ``folder/NAME.pb``; ``QueryError``
    naming the folder when it cannot be written or a name is not a plain file name."""
    target = Path(folder)
    for variable, _ in assignment:
        if Path(variable.name).name != variable.name or variable.name in (".", ".."):
            raise QueryError(f"{folder}: variable name {variable.name!r} cannot name a file")
    try:
        target.mkdir(parents=True, exist_ok=True)
        for variable, values in assignment:
            tensor = numpy_helper.from_array(np.asarray(values).reshape(variable.shape), variable.name)
            (target / f"{variable.name}.pb").write_bytes(tensor.SerializeToString())
    except OSError as error:
        raise QueryError(f"{folder}: cannot write assignments: {error.strerror or error}") from error
