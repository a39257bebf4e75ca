"""What nnverify supports, answered for ``nnverify supports --CAPABILITY``.

Every answer here is checked by a test that runs a query of that kind with a known answer.
"""

from __future__ import annotations

from bounds.float_error import refusals
from bounds.graph import Graph
from bounds.onnx_import import SUPPORTED_OPSETS
from bounds.ops import FOLDED_ONLY, OPERATORS, SPLITTERS
from specs.property import Property
from verify.errors import QueryError

ELEMENT_TYPES = ("real", "float32")
"""``real``: the network over the reals. ``float32``: the model as executed in float32, by a
proven error bound (``bounds.float_error``), for models whose every op has a rule."""


def answer(capability: str) -> list[str]:
    """The lines printed for one capability."""
    return list(_ANSWERS[capability]())


_ANSWERS = {
    "onnx-opset-versions": lambda: [str(v) for v in SUPPORTED_OPSETS],
    "onnx-element-types": lambda: list(ELEMENT_TYPES),
    "onnx-operators": lambda: sorted({*OPERATORS, *SPLITTERS, *FOLDED_ONLY}),
    "vnnlib-versions": lambda: ["1.0", "2.0"],
    "hidden-node-theories": lambda: ["NH"],
    "multiple-input-output-theories": lambda: ["SIO"],
    "multiple-network-theories": lambda: ["SNET"],
    "multiple-node-comparison-theories": lambda: ["SNC"],
    "arithmetic-complexity-theories": lambda: ["BND", "COUT", "LIN"],
    "optimised-disjunctive-reasoning": lambda: ["false"],
    "serialise-assignments": lambda: ["true"],
}

CAPABILITIES = tuple(_ANSWERS)


def check_declarations(prop: Property, graph: Graph, source: str) -> None:
    """Refuse a VNN-LIB 2.0 query whose declared input or output shape differs from the
    model's, or whose element types we cannot analyse soundly or that do not match the model
    (``real`` consents to real-arithmetic analysis; ``float32`` needs a float error rule for
    every op of the model). VNN-LIB 1.0 declares flat ``Real`` variables: only their number
    is checked, by the pipeline."""
    for variable, tensor in ((prop.input, graph.input), (prop.output, graph.output)):
        if prop.network is not None and variable.shape != tensor.shape:
            raise QueryError(
                f"{source}: {variable.name} is declared with shape {list(variable.shape)} but the model's "
                f"{tensor.name!r} has shape {list(tensor.shape)}"
            )
        if variable.element_type == "real":
            continue
        if variable.element_type != tensor.element_type:
            raise QueryError(
                f"{source}: {variable.name} is declared {variable.element_type} but the model's "
                f"{tensor.name!r} is {tensor.element_type}"
            )
        if variable.element_type not in ELEMENT_TYPES:
            raise QueryError(
                f"{source}: {variable.name} is declared {variable.element_type}; nnverify cannot guarantee "
                f"soundness for {variable.element_type} (supported: {', '.join(ELEMENT_TYPES)})"
            )
        reasons = refusals(graph)
        if reasons:
            raise QueryError(
                f"{source}: {variable.name} is declared {variable.element_type}, but nnverify cannot bound the "
                f"model's {variable.element_type} execution ({'; '.join(reasons)}): declare it 'real' to consent"
            )
