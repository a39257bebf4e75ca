"""Fitting a VNN-LIB 2.0 query's networks to their ONNX models.

Each ``--network NAME=MODEL.onnx`` maps a declared network that is not ``equal-to`` another
(those share their target's model file). Every model is imported and checked against its
declaration (the number, order and shapes of inputs and outputs, element types, hidden
tensors), ``isomorphic-to`` is checked on the graph structure, and, unless the query is a
single network with one input and one output, the models are composed into one model
whose flat input and output are the query property's (see `bounds.compose`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import onnx

from bounds.compose import Part, compose_models, isomorphic
from bounds.errors import ModelError
from bounds.float_error import refusals
from bounds.graph import Graph
from bounds.onnx_file import TensorInfo, read_model_bytes, variable_inputs
from bounds.onnx_import import parse_onnx
from specs.property import Variable
from specs.query import Network, Query
from verify.check import observe
from verify.errors import QueryError
from verify.pipeline import Model
from verify.result import Counterexample, Result, Status

ELEMENT_TYPES = ("real", "float32")
"""``real``: the network over the reals. ``float32``: the model as executed in float32, by a
proven error bound (``bounds.float_error``), for models whose every op has a rule."""


@dataclass(frozen=True)
class QueryModel:
    """The model a query's property is checked on, and the models it was composed of."""

    model: Model
    parts: tuple[Part, ...]


def query_model(query: Query, mappings: Mapping[str, str], source: str) -> QueryModel:
    """The model the query's property is checked on (``QueryError`` / ``ModelError`` when
    the mappings or models do not fit the declarations)."""
    paths = _model_paths(query, mappings, source)
    data = {path: read_model_bytes(path) for path in set(paths.values())}
    loaded = {path: _proto(model, path) for path, model in data.items()}
    protos = {network.name: loaded[paths[network.name]] for network in query.networks}
    graphs = {
        network.name: _check_network(
            network, protos[network.name], data[paths[network.name]], paths[network.name], source, query.is_single
        )
        for network in query.networks
    }
    for network in query.networks:
        target = network.isomorphic_to
        if target is not None and not isomorphic(protos[network.name], protos[target]):
            raise QueryError(
                f"{source}: network {network.name} is declared isomorphic-to {target}, but "
                f"{paths[network.name]} and {paths[target]} differ in graph structure"
            )
    parts = tuple(
        Part(
            protos[n.name],
            tuple(v.shape for v in n.inputs),
            (*(h.onnx_name for h in n.hidden), *(o.name for o in protos[n.name].graph.output)),
        )
        for n in query.networks
    )
    if query.is_single:
        (network,) = query.networks
        path = paths[network.name]
        return QueryModel(Model(graphs[network.name], data[path], path), parts)
    named = " + ".join(dict.fromkeys(paths[n.name] for n in query.networks))
    try:
        composed = compose_models(
            parts, passthrough=query.passthrough, input_index=query.input_index
        ).SerializeToString()
    except ModelError as error:
        raise QueryError(f"{source}: {error.message}") from error
    graph = parse_onnx(composed, named)
    _check_hidden(query, graph.shapes, source)
    if graph.output.size != query.prop.output.size:
        raise QueryError(
            f"{source}: the composed model gives {graph.output.size} values, the query declares "
            f"{query.prop.output.size}"
        )
    return QueryModel(Model(graph, composed, named), parts)


def recheck(query: Query, parts: Sequence[Part], result: Result) -> Result:
    """A sat result confirmed again on the models as given, each run alone by onnxruntime
    with its hidden tensors observed: sat with those values if the query's assertions hold
    for them exactly, else unknown. Other results, and those of a single model (checked on
    the model as given already), are returned as they are."""
    found = result.counterexample
    if result.status is not Status.SAT or found is None or query.is_single:
        return result
    x = np.asarray(found.input).reshape(-1)
    declared = x[list(query.input_index)]
    observed: list[np.ndarray] = []
    at = 0
    for network, part in zip(query.networks, parts, strict=True):
        inputs = []
        for variable in network.inputs:
            inputs.append(declared[at : at + variable.size].reshape(variable.shape))
            at += variable.size
        observed += [v.astype(np.float64) for v in observe(part.model, inputs, part.observed)]
    if query.passthrough:
        observed.append(x.astype(np.float64))
    y = np.concatenate(observed) if observed else np.zeros(0)
    if y.shape == np.shape(found.output) and query.prop.is_violated_by(x, y):
        return replace(result, counterexample=Counterexample(found.input, y))
    return replace(
        result,
        status=Status.UNKNOWN,
        counterexample=None,
        reason=f"{result.reason}; but the models run alone do not confirm the counterexample",
    )


def _proto(data: bytes, path: str) -> onnx.ModelProto:
    """The model's protobuf, read before the declarations are checked against it."""
    if not data:
        raise ModelError("model file is empty", file=path)
    try:
        return onnx.load_model_from_string(data)
    except Exception as error:  # protobuf raises several unrelated types on garbage
        raise ModelError(f"not an ONNX model ({type(error).__name__})", file=path) from error


def _model_paths(query: Query, mappings: Mapping[str, str], source: str) -> dict[str, str]:
    """Each declared network's model file: its own mapping, or its ``equal-to`` target's."""
    wanted = [n.name for n in query.networks if n.equal_to is None]
    if len(mappings) != len(wanted):
        raise QueryError(
            f"{source}: the query declares {len(wanted)} network{'s' if len(wanted) != 1 else ''} needing a model "
            f"({', '.join(wanted)}), {len(mappings)} --network mappings given"
        )
    for name in mappings:
        if name not in wanted:
            raise QueryError(f"{source}: no network named {name!r} is declared (declared: {', '.join(wanted)})")
    return {n.name: mappings[n.equal_to if n.equal_to is not None else n.name] for n in query.networks}


def _check_network(
    network: Network, proto: onnx.ModelProto, data: bytes, path: str, source: str, single: bool
) -> Graph:
    """The model's graph, its inputs and outputs checked against the declaration: count,
    order, shape, element type (float ones only for a ``single``-network query)."""
    inputs, outputs = variable_inputs(proto), list(proto.graph.output)
    for kind, declared, actual in (("inputs", network.inputs, inputs), ("outputs", network.outputs, outputs)):
        if len(declared) != len(actual):
            raise QueryError(
                f"{source}: network {network.name} declares {len(declared)} {kind}, {path} has {len(actual)}"
            )
    graph = parse_onnx(data, path, input_shapes={v.name: d.shape for v, d in zip(inputs, network.inputs, strict=True)})
    pairs = (*zip(network.inputs, graph.inputs, strict=True), *zip(network.outputs, graph.outputs, strict=True))
    for variable, tensor in pairs:
        check_variable(variable, tensor, source, graph if single else None)
    for hidden in network.hidden:
        check_element_type(hidden.variable, None, source)
    return graph


def _check_hidden(query: Query, shapes: Mapping[str, tuple[int, ...]], source: str) -> None:
    for k, network in enumerate(query.networks):
        for hidden in network.hidden:
            shape = shapes.get(f"n{k}/{hidden.onnx_name}")
            if shape is not None and tuple(shape) != hidden.variable.shape:
                raise QueryError(
                    f"{source}: hidden {hidden.variable.name} is declared with shape {list(hidden.variable.shape)} "
                    f"but the model's {hidden.onnx_name!r} has shape {list(shape)}"
                )


def check_variable(variable: Variable, tensor: TensorInfo, source: str, graph: Graph | None = None) -> None:
    """A declared input or output against the model's tensor: shape and element type."""
    if variable.shape != tensor.shape:
        raise QueryError(
            f"{source}: {variable.name} is declared with shape {list(variable.shape)} but the model's "
            f"{tensor.name!r} has shape {list(tensor.shape)}"
        )
    check_element_type(variable, tensor, source, graph)


def check_element_type(variable: Variable, tensor: TensorInfo | None, source: str, graph: Graph | None = None) -> None:
    """``real`` consents to real-arithmetic analysis. ``float32`` asks for proofs about the
    model as executed (``bounds.float_error``): accepted for a single network (``graph``)
    whose every op has a float error rule and whose tensor is float32; refused otherwise,
    with a mismatch against the model's type reported first."""
    if variable.element_type == "real":
        return
    if tensor is not None and variable.element_type != tensor.element_type:
        raise QueryError(
            f"{source}: {variable.name} is declared {variable.element_type} but the model's "
            f"{tensor.name!r} is {tensor.element_type}"
        )
    if variable.element_type not in ELEMENT_TYPES:
        raise QueryError(
            f"{source}: {variable.name} is declared {variable.element_type}; nnverify cannot guarantee "
            f"soundness for {variable.element_type} (supported: {', '.join(ELEMENT_TYPES)})"
        )
    if graph is None:
        raise QueryError(
            f"{source}: {variable.name} is declared {variable.element_type}; float execution is analysed for "
            "single-network queries only: declare it 'real' to consent to real arithmetic"
        )
    reasons = refusals(graph)
    if reasons:
        raise QueryError(
            f"{source}: {variable.name} is declared {variable.element_type}, but nnverify cannot bound the "
            f"model's {variable.element_type} execution ({'; '.join(reasons)}): declare it 'real' to consent"
        )
