"""Composing several ONNX models into one with a single flat input and a single flat output.

VNN-LIB 2.0 queries may span several networks, several inputs and outputs per network and
hidden tensors. Rather than teach every bounder and search about tuples of tensors, the
query's models are merged into one ONNX model: its input ``x`` is the concatenation of every
declared input (flattened, row-major, in order), sliced and reshaped into each network's
inputs; its output ``y`` is the concatenation of the observed tensors (hidden nodes and
outputs, flattened, cast to double so that one Concat takes them all), optionally followed
by ``x`` itself so that constraints relating inputs and outputs are output constraints.
The same bytes are run by onnxruntime to confirm counterexamples, so the analysis and the
check see one model. Gather, Reshape, Cast and Concat are exact, which keeps both sound.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import onnx
from onnx import TensorProto, compose, helper, numpy_helper

from bounds.errors import ModelError
from bounds.onnx_file import variable_inputs

if TYPE_CHECKING:
    import networkx as nx

INPUT = "x"
OUTPUT = "y"


@dataclass(frozen=True)
class Part:
    """One network in the composition: its model, the shapes its inputs are given (in the
    model's input order), and the tensors it contributes to the output, in order."""

    model: onnx.ModelProto
    input_shapes: tuple[tuple[int, ...], ...]
    observed: tuple[str, ...]


def opset(model: onnx.ModelProto) -> int:
    return next((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), 0)


def compose_models(
    parts: Sequence[Part], *, passthrough: bool = False, input_index: Sequence[int] | None = None
) -> onnx.ModelProto:
    """One model computing every part side by side (see the module docstring).

    ``input_index`` says where each element of the concatenated inputs is read from ``x``
    (default: in order); elements given one place share one input value.

    Raises ``ModelError`` when the parts use different opsets or input element types, or an
    observed tensor does not exist in its model.
    """
    opsets = {opset(part.model) for part in parts}
    if len(opsets) != 1:
        raise ModelError(f"the networks use different opsets ({', '.join(map(str, sorted(opsets)))})")
    (version,) = opsets
    input_types = {value.type.tensor_type.elem_type for part in parts for value in variable_inputs(part.model)}
    if len(input_types) != 1:
        raise ModelError("the networks' inputs have different element types")
    (input_type,) = input_types
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    observed: list[str] = []
    sizes = [int(np.prod(shape, dtype=np.int64)) for part in parts for shape in part.input_shapes]
    index = np.arange(sum(sizes)) if input_index is None else np.asarray(input_index, np.int64)
    if index.shape != (sum(sizes),):
        raise ModelError(f"input index has {index.shape[0]} entries, the inputs {sum(sizes)}")
    offset = 0
    for k, part in enumerate(parts):
        prefix = f"n{k}/"
        model = compose.add_prefix(part.model, prefix)
        produced = {name for node in model.graph.node for name in node.output}
        inputs = variable_inputs(model)
        for position, (value, shape) in enumerate(zip(inputs, part.input_shapes, strict=True)):
            size = int(np.prod(shape, dtype=np.int64))
            stem = f"{prefix}input{position}"
            inits.append(numpy_helper.from_array(index[offset : offset + size].astype(np.int64), f"{stem}/index"))
            nodes.append(helper.make_node("Gather", [INPUT, f"{stem}/index"], [f"{stem}/flat"], name=f"{stem}/g"))
            inits.append(numpy_helper.from_array(np.array(shape, np.int64), f"{stem}/shape"))
            nodes.append(helper.make_node("Reshape", [f"{stem}/flat", f"{stem}/shape"], [value.name], name=stem))
            offset += size
        for name in part.observed:
            if prefix + name not in produced and prefix + name not in {v.name for v in inputs}:
                raise ModelError(f"the model has no tensor named {name!r}")
            observed.append(prefix + name)
        nodes.extend(model.graph.node)
        inits.extend(model.graph.initializer)
    if passthrough:
        observed.append(INPUT)
    flat = [f"{name}/observed" for name in observed]
    inits.append(numpy_helper.from_array(np.array([-1], np.int64), "observed/shape"))
    for name, target in zip(observed, flat, strict=True):
        nodes.append(helper.make_node("Reshape", [name, "observed/shape"], [f"{target}/float"], name=f"{target}/r"))
        nodes.append(helper.make_node("Cast", [f"{target}/float"], [target], name=f"{target}/c", to=TensorProto.DOUBLE))
    nodes.append(helper.make_node("Concat", flat, [OUTPUT], name="observed", axis=0))
    graph = helper.make_graph(
        nodes,
        "composed",
        [helper.make_tensor_value_info(INPUT, input_type, [int(index.max(initial=-1)) + 1])],
        [helper.make_tensor_value_info(OUTPUT, TensorProto.DOUBLE, [None])],
        inits,
    )
    merged = helper.make_model(graph, opset_imports=[helper.make_opsetid("", version)])
    # IR 4 lets initializers stay out of the graph inputs (older models list them there)
    merged.ir_version = max(4, *(part.model.ir_version for part in parts))
    return merged


def _structure(model: onnx.ModelProto) -> nx.MultiDiGraph:
    """The model as a labelled graph: nodes are operators (type, domain, attributes), graph
    inputs and outputs (by position), and initializers (by shape: not by values or element type, as VNN-LIB 2.0 asks);
    edges carry the consuming input slot."""
    import networkx as nx  # 0.2 s to import: only when a query compares networks

    graph = model.graph
    structure = nx.MultiDiGraph()
    source: dict[str, str] = {}
    for index, value in enumerate(variable_inputs(model)):
        structure.add_node(f"input:{value.name}", label=("input", index))
        source[value.name] = f"input:{value.name}"
    for init in graph.initializer:
        structure.add_node(f"init:{init.name}", label=("initializer", tuple(init.dims)))
        source[init.name] = f"init:{init.name}"
    for index, node in enumerate(graph.node):
        attributes = tuple(sorted((a.name, _attribute(a)) for a in node.attribute))
        key = f"node:{index}"
        structure.add_node(key, label=("node", node.domain, node.op_type, attributes, len(node.output)))
        for slot, name in enumerate(node.output):
            source[name] = f"{key}:{slot}"
            structure.add_node(f"{key}:{slot}", label=("result", slot))
            structure.add_edge(key, f"{key}:{slot}", slot=slot)
    for index, node in enumerate(graph.node):
        for slot, name in enumerate(node.input):
            if name:
                structure.add_edge(source.get(name, f"missing:{name}"), f"node:{index}", slot=slot)
    for index, value in enumerate(graph.output):
        structure.add_node(f"output:{index}", label=("output", index))
        structure.add_edge(source.get(value.name, f"missing:{value.name}"), f"output:{index}", slot=0)
    for key in structure.nodes:
        structure.nodes[key].setdefault("label", ("missing",))
    return structure


def _attribute(attribute: onnx.AttributeProto) -> str:
    """An attribute's structural value: tensors (a Constant's weights) by shape."""
    if attribute.type == onnx.AttributeProto.TENSOR:
        return repr(tuple(attribute.t.dims))
    return repr(helper.get_attribute_value(attribute))


def isomorphic(a: onnx.ModelProto, b: onnx.ModelProto) -> bool:
    """Whether two models have the same graph structure: the same operators with the same
    attributes wired the same way, initializers of the same shapes (their values and element
    types may differ), inputs and outputs in the same positions. Names do not matter;
    tensor attributes (weights in Constant nodes) count by shape only."""
    import networkx as nx  # 0.2 s to import: only when a query compares networks

    first, second = _structure(a), _structure(b)
    if first.number_of_nodes() != second.number_of_nodes() or first.number_of_edges() != second.number_of_edges():
        return False
    return bool(
        nx.is_isomorphic(
            first,
            second,
            node_match=lambda x, y: x["label"] == y["label"],
            edge_match=lambda x, y: sorted(e["slot"] for e in x.values()) == sorted(e["slot"] for e in y.values()),
        )
    )
