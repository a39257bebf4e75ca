"""An ONNX file as read and as declared, without importing the analysis (or torch).

Its bytes with external data inlined (``read_model_bytes``), and the name, shape and
element type of a graph input or output (``TensorInfo``). The command line reads these
before it loads the analysis engines: a counterexample found by sampling in onnxruntime
(``verify.sampling``) answers without them.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import helper

from bounds.errors import ModelError, ShapeError

if TYPE_CHECKING:
    from bounds.ops.base import Shape


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output: its ONNX name, shape (no batch axis) and element type."""

    name: str
    shape: Shape
    element_type: str

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


MAX_MODEL_BYTES = 2**31 - 1
"""Protobuf's limit on one serialised message; larger models must keep weights in external files."""


def read_model_bytes(path: str | os.PathLike[str]) -> bytes:
    """The bytes of a model file, with tensors kept in external files inlined; ``ModelError``
    naming the file if it cannot be read.

    Only regular files are read (a FIFO or device could block or never end). External data
    must lie in the model's folder: onnx's loader refuses absolute paths, ``..`` and links.
    """
    source = str(path)
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file"
            raise ModelError(f"cannot read model: {kind}", file=source)
        if info.st_size > MAX_MODEL_BYTES:
            raise ModelError(f"model file is larger than {MAX_MODEL_BYTES} bytes, protobuf's limit", file=source)
        data = Path(path).read_bytes()
    except OSError as error:
        raise ModelError(f"cannot read model: {error.strerror or error}", file=source) from error
    try:
        model = onnx.load_model_from_string(data)
    except Exception:  # not a model: parse_onnx says so
        return data
    if not external_tensors(model.graph):
        return data
    try:
        onnx.load_external_data_for_model(model, str(Path(path).parent))
    except Exception as error:  # onnx raises ValidationError, ValueError and OSError here
        raise ModelError(f"cannot read external data: {one_line(error)}", file=source) from error
    if model.ByteSize() > MAX_MODEL_BYTES:
        raise ModelError(f"model with its external data is larger than {MAX_MODEL_BYTES} bytes", file=source)
    return bytes(model.SerializeToString())


def external_tensors(graph: onnx.GraphProto) -> list[str]:
    """Names of the initializers and node attribute tensors stored in external files."""
    tensors = [*graph.initializer]
    for node in graph.node:
        for attribute in node.attribute:
            tensors += [attribute.t, *attribute.tensors]
    return [t.name for t in tensors if t.data_location == onnx.TensorProto.EXTERNAL]


def one_line(error: BaseException) -> str:
    """An error's message with its line breaks and runs of spaces collapsed."""
    return " ".join(str(error).split()) or type(error).__name__


def element_type(elem_type: int) -> str:
    """An ONNX element type as numpy spells it (``float32``), or ``onnx-type-N`` for one numpy lacks."""
    try:
        return str(np.dtype(helper.tensor_dtype_to_np_dtype(elem_type)))
    except (KeyError, TypeError):
        return f"onnx-type-{elem_type}"


def declared_shape(value: onnx.ValueInfoProto) -> list[int | None]:
    """A tensor's declared dimensions, None where dynamic (named, unnamed or 0)."""
    dims = value.type.tensor_type.shape.dim
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None for d in dims]


def input_shape(value: onnx.ValueInfoProto, overrides: Mapping[str, Shape]) -> Shape:
    """A variable input's shape: the one ``overrides`` gives it (which must fit the declared
    one), else the declared one with a dynamic batch axis set to 1; ``ShapeError`` when
    another axis is dynamic."""
    if value.name in overrides:
        given = tuple(int(d) for d in overrides[value.name])
        declared = declared_shape(value)
        if len(declared) != len(given) or any(d is not None and d != g for d, g in zip(declared, given, strict=True)):
            raise ShapeError(f"input {value.name!r} has shape {declared}, not {list(given)}")
        return given
    dims = declared_shape(value)
    if dims and dims[0] is None:
        dims[0] = 1  # a dynamic batch axis: analyse one sample at a time
    if any(d is None for d in dims):
        raise ShapeError(
            f"input {value.name!r} has dynamic dimensions {dims} (unnamed or 0); fix them in the model, "
            "or declare the input's shape in a VNN-LIB 2.0 query"
        )
    return tuple(int(d) for d in dims if d is not None)


def variable_inputs(model: onnx.ModelProto) -> list[onnx.ValueInfoProto]:
    """The model's graph inputs that are not initializers (its variable inputs)."""
    constants = {init.name for init in model.graph.initializer}
    return [value for value in model.graph.input if value.name not in constants]


def input_info(value: onnx.ValueInfoProto, overrides: Mapping[str, Shape]) -> TensorInfo:
    """A variable input's name, shape (``input_shape``) and element type."""
    return TensorInfo(value.name, input_shape(value, overrides), element_type(value.type.tensor_type.elem_type))


def single_input(model: onnx.ModelProto) -> TensorInfo:
    """The model's one variable input, shaped as the importer shapes it (``input_info``);
    ``ModelError`` when it has none or several, ``ShapeError`` when its shape is dynamic."""
    inputs = variable_inputs(model)
    if len(inputs) != 1:
        raise ModelError(f"model has {len(inputs)} variable inputs, not one")
    return input_info(inputs[0], {})
