"""What nnverify supports, answered for ``nnverify supports --CAPABILITY``.

Every answer here is checked by a test that runs a query of that kind with a known answer.
The analysis modules an answer reads are imported when it is asked for: the command line
builds its parser from ``CAPABILITIES`` without importing them (or torch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from specs.property import Property

if TYPE_CHECKING:
    from bounds.graph import Graph


def answer(capability: str) -> list[str]:
    """The lines printed for one capability."""
    return list(_ANSWERS[capability]())


def _opsets() -> list[str]:
    from bounds.onnx_import import SUPPORTED_OPSETS

    return [str(v) for v in SUPPORTED_OPSETS]


def _element_types() -> list[str]:
    from verify.query import ELEMENT_TYPES

    return list(ELEMENT_TYPES)


def _operators() -> list[str]:
    from bounds.ops import FOLDED_ONLY, OPERATORS, SPLITTERS

    return sorted({*OPERATORS, *SPLITTERS, *FOLDED_ONLY})


_ANSWERS: dict[str, Callable[[], list[str]]] = {
    "onnx-opset-versions": _opsets,
    "onnx-element-types": _element_types,
    "onnx-operators": _operators,
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
    from verify.query import check_element_type, check_variable

    for variable, tensor in ((prop.input, graph.input), (prop.output, graph.output)):
        if prop.network is not None:
            check_variable(variable, tensor, source, graph)
        else:
            check_element_type(variable, tensor, source, graph)
