"""What nnverify supports, answered for ``nnverify supports --CAPABILITY``.

Every answer here is checked by a test that runs a query of that kind with a known answer.
"""

from __future__ import annotations

from bounds.graph import Graph
from bounds.onnx_import import SUPPORTED_OPSETS
from bounds.ops import FOLDED_ONLY, OPERATORS, SPLITTERS
from specs.property import Property
from verify.query import ELEMENT_TYPES, check_element_type, check_variable


def answer(capability: str) -> list[str]:
    """The lines printed for one capability."""
    return list(_ANSWERS[capability]())


_ANSWERS = {
    "onnx-opset-versions": lambda: [str(v) for v in SUPPORTED_OPSETS],
    "onnx-element-types": lambda: list(ELEMENT_TYPES),
    "onnx-operators": lambda: sorted({*OPERATORS, *SPLITTERS, *FOLDED_ONLY}),
    "vnnlib-versions": lambda: ["1.0", "2.0"],
    "hidden-node-theories": lambda: ["NH", "H"],
    "multiple-input-output-theories": lambda: ["SIO", "MIO"],
    "multiple-network-theories": lambda: ["SNET", "MENET", "MINET", "MNET"],
    "multiple-node-comparison-theories": lambda: ["SNC", "MNC"],
    "arithmetic-complexity-theories": lambda: ["BND", "COUT", "LIN", "POLY"],
    "optimised-disjunctive-reasoning": lambda: ["false"],
    "serialise-assignments": lambda: ["true"],
}

CAPABILITIES = tuple(_ANSWERS)


def check_declarations(prop: Property, graph: Graph, source: str) -> None:
    """Refuse a single-network query whose declared input or output does not fit the model
    (see `verify.query.check_variable`): shapes, and element types we cannot analyse soundly
    (``real`` consents to real-arithmetic analysis; ``float32`` needs a float error rule for
    every op of the model). VNN-LIB 1.0 declares flat ``Real`` variables: only their number
    is checked, by the pipeline."""
    for variable, tensor in ((prop.input, graph.input), (prop.output, graph.output)):
        if prop.network is not None:
            check_variable(variable, tensor, source, graph)
        else:
            check_element_type(variable, tensor, source, graph)
