"""ONNX model -> ``Graph``: validation, BatchNorm folding, constant folding, op building."""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from bounds.errors import ModelError, ShapeError, Unsupported, UnsupportedOperatorError
from bounds.graph import Graph, Node
from bounds.onnx_file import (
    TensorInfo,
    declared_shape,
    element_type,
    external_tensors,
    input_info,
    one_line,
    read_model_bytes,
)
from bounds.ops import FOLDED_ONLY, OPERATORS, OPTIONAL_INPUTS, SPLITTERS
from bounds.ops.base import NodeContext, Operand, Shape, UnsupportedForm
from bounds.ops.reference import run_node
from bounds.passes import fold_batchnorm

SUPPORTED_OPSETS = (7, 21)
"""The default-domain opset versions the operator modules are written and tested for."""


def load_onnx(path: str | os.PathLike[str], *, input_shapes: Mapping[str, Shape] | None = None) -> Graph:
    """Read an ONNX file into a ``Graph``; raises ``ModelError`` naming the file on any problem."""
    return parse_onnx(read_model_bytes(path), str(path), input_shapes=input_shapes)


def parse_onnx(data: bytes, source: str, *, input_shapes: Mapping[str, Shape] | None = None) -> Graph:
    """An ONNX model's bytes into a ``Graph``; ``source`` names the model in errors."""
    if not data:
        raise ModelError("model file is empty", file=source)
    try:
        model = onnx.load_model_from_string(data)
    except Exception as error:  # protobuf raises several unrelated types on garbage
        raise ModelError(f"not an ONNX model ({type(error).__name__})", file=source) from error
    if not model.graph.node and not model.graph.output:
        raise ModelError("not an ONNX model (no graph)", file=source)
    external = external_tensors(model.graph)
    if external:
        raise ModelError(
            f"tensor {external[0]!r} is stored in an external file; read the model from its file", file=source
        )
    try:
        return import_model(model, input_shapes=input_shapes)
    except ModelError as error:
        error.file = error.file or source
        error.args = (f"{source}: {error.message}",)
        raise


def _check_finite_attributes(name: str, op_type: str, attributes: dict[str, Any]) -> None:
    """``ModelError`` for a NaN or infinite float attribute, like a weight (an infinite
    bound of Clip, before opset 11 an attribute, means no bound)."""
    for key, value in attributes.items():
        if op_type == "Clip" and key in ("min", "max") and not math.isnan(value):
            continue
        floats = [value] if isinstance(value, float) else value if isinstance(value, list) else []
        if any(isinstance(v, float) and not math.isfinite(v) for v in floats):
            raise ModelError(f"node {name!r} ({op_type}) has a NaN or infinite attribute {key!r}")


def _static_shape_value(proto: onnx.NodeProto, shape: Shape) -> np.ndarray:
    """The value of Shape (with its opset-15 ``start``/``end``) or Size of a tensor of known shape."""
    if proto.op_type == "Size":
        return np.asarray(int(np.prod(shape, dtype=np.int64)), dtype=np.int64)
    attributes = {a.name: helper.get_attribute_value(a) for a in proto.attribute}
    start, end = int(attributes.get("start", 0)), attributes.get("end")
    return np.asarray(shape[start : None if end is None else int(end)], dtype=np.int64)


def import_model(model: onnx.ModelProto, *, input_shapes: Mapping[str, Shape] | None = None) -> Graph:
    """Build the analysis graph of an in-memory ONNX model.

    Every node whose inputs are all constant is folded (by ONNX's reference evaluator);
    the rest must have a registered op. All unsupported nodes are reported together.
    """
    opset = next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        raise ModelError("the model imports no default-domain ONNX opset (opset_import; a truncated file?)")
    if not SUPPORTED_OPSETS[0] <= opset <= SUPPORTED_OPSETS[1]:
        raise ModelError(f"opset {opset} is outside the supported range {SUPPORTED_OPSETS[0]}-{SUPPORTED_OPSETS[1]}")
    try:
        onnx.checker.check_model(model)
    except Exception as error:  # ValidationError, or e.g. UnicodeDecodeError on a garbled name
        raise ModelError(f"ONNX checker rejected the model: {one_line(error)}") from error
    types_before = {node.op_type for node in model.graph.node}
    model = fold_batchnorm(model)
    graph = model.graph
    folded = frozenset(types_before - {node.op_type for node in graph.node})
    constants: dict[str, np.ndarray] = {}
    for init in graph.initializer:
        try:
            value = numpy_helper.to_array(init)
        except Exception as error:  # data that does not fit the dims or type: ValueError, TypeError...
            raise ModelError(f"initializer {init.name!r} cannot be read: {one_line(error)}") from error
        if value.dtype.kind == "f" and not np.all(np.isfinite(value)):
            raise ModelError(f"initializer {init.name!r} has NaN or infinite values")
        constants[init.name] = value
    shapes: dict[str, Shape] = {}
    inputs = []
    for value in graph.input:
        if value.name in constants:
            continue
        info = input_info(value, input_shapes or {})
        shapes[value.name] = info.shape
        inputs.append(info)
    if not inputs:
        raise ModelError("model has no variable input")

    nodes: list[Node] = []
    offenders: list[Unsupported] = []
    for index, proto in enumerate(graph.node):
        name = proto.name or f"{proto.op_type}_{index}"
        names = list(proto.input)
        while names and not names[-1]:
            names.pop()
        if proto.op_type in ("Shape", "Size") and proto.domain in ("", "ai.onnx") and names and names[0] in shapes:
            constants[proto.output[0]] = _static_shape_value(proto, shapes[names[0]])
            continue
        if all(not n or n in constants for n in names):
            try:
                feeds = {n: constants[n] for n in names if n}
                results = run_node(proto, opset, feeds)
            except Exception as error:  # the reference evaluator raises many types
                offenders.append(Unsupported(proto.op_type, name, f"constant folding failed: {error}"))
                continue
            values = [np.asarray(r) for r in results]
            if any(v.dtype.kind == "f" and not np.all(np.isfinite(v)) for v in values):
                raise ModelError(f"node {name!r} ({proto.op_type}) gives NaN or infinite constants")
            constants.update(zip(proto.output, values, strict=False))
            continue
        default_domain = proto.domain in ("", "ai.onnx")
        if not default_domain or proto.op_type not in (*OPERATORS, *SPLITTERS):
            why = "only supported on constants" if default_domain and proto.op_type in FOLDED_ONLY else "not supported"
            offenders.append(
                Unsupported(proto.op_type if not proto.domain else f"{proto.domain}.{proto.op_type}", name, why)
            )
            continue
        if any(n and n not in constants and n not in shapes for n in names):
            continue  # downstream of an unsupported node: already reported there
        if "" in names and proto.op_type not in OPTIONAL_INPUTS:
            offenders.append(Unsupported(proto.op_type, name, "omitted optional input"))
            continue
        operands = tuple(
            Operand(n, shapes.get(n, tuple(constants[n].shape) if n in constants else ()), constants.get(n))
            for n in names
        )
        attributes = {a.name: helper.get_attribute_value(a) for a in proto.attribute}
        _check_finite_attributes(name, proto.op_type, attributes)
        context = NodeContext(proto, operands, attributes, opset)
        try:
            built = (
                SPLITTERS[proto.op_type](context)
                if proto.op_type in SPLITTERS
                else (OPERATORS[proto.op_type](context),)
            )
        except UnsupportedForm as error:
            offenders.append(Unsupported(proto.op_type, name, str(error)))
            continue
        except ShapeError as error:
            raise ShapeError(f"node {name!r} ({proto.op_type}): {error.message}") from error
        variables = tuple(n for n in names if n and n not in constants)
        produced = list(proto.output) if proto.op_type in SPLITTERS else [proto.output[0]]
        for k, (op, output) in enumerate(zip(built, produced, strict=True)):
            if output:
                shapes[output] = op.output_shape
                nodes.append(Node(name if len(built) == 1 else f"{name}:{k}", proto.op_type, op, variables, output))
    if offenders:
        raise UnsupportedOperatorError(offenders)

    outputs = []
    for value in graph.output:
        if value.name not in shapes:
            raise ModelError(f"output {value.name!r} does not depend on any input")
        declared = declared_shape(value)
        actual = shapes[value.name]
        if declared and (
            len(declared) != len(actual) or any(d is not None and d != a for d, a in zip(declared, actual, strict=True))
        ):
            raise ShapeError(f"output {value.name!r} is declared {declared} but computes to {list(actual)}")
        outputs.append(TensorInfo(value.name, actual, element_type(value.type.tensor_type.elem_type)))
    needed = {o.name for o in outputs}
    kept = []
    for node in reversed(nodes):
        if node.output in needed:
            kept.append(node)
            needed.update(node.inputs)
    live = {i.name for i in inputs} | {node.output for node in kept}
    return Graph(tuple(inputs), tuple(outputs), tuple(reversed(kept)), {n: shapes[n] for n in live}, opset, folded)
