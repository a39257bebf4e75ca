"""The operator registry: ONNX op type -> factory building an ``Op`` from a node.

Adding an operator means adding one module here with ``ONNX_TYPE`` and ``build``, listing
it below, and adding its examples to the conformance test. Constant subgraphs (including
``Constant`` nodes) never reach a factory: the importer folds them first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from bounds.ops import (
    absolute,
    add,
    averagepool,
    batchnormalization,
    cast,
    clip,
    concat,
    conv,
    div,
    expand,
    flatten,
    gather,
    gemm,
    globalaveragepool,
    identity,
    leakyrelu,
    matmul,
    maxpool,
    mul,
    neg,
    pad,
    power,
    reducemean,
    reducesum,
    relu,
    reshape,
    sigmoid,
    sign,
    slicing,
    softmax,
    split,
    squeeze,
    sub,
    tanh,
    tile,
    transpose,
    unsqueeze,
    where,
)
from bounds.ops.base import Interval, NodeContext, Op, Operand, OpFactory, UnsupportedForm

_MODULES = (
    absolute,
    add,
    averagepool,
    batchnormalization,
    cast,
    clip,
    concat,
    conv,
    div,
    expand,
    flatten,
    gather,
    gemm,
    globalaveragepool,
    identity,
    leakyrelu,
    matmul,
    maxpool,
    mul,
    neg,
    pad,
    power,
    reducemean,
    reducesum,
    relu,
    reshape,
    sigmoid,
    sign,
    slicing,
    softmax,
    squeeze,
    sub,
    tanh,
    tile,
    transpose,
    unsqueeze,
    where,
)

OPERATORS: Mapping[str, OpFactory] = MappingProxyType({m.ONNX_TYPE: m.build for m in _MODULES})
"""Every ONNX op type with a factory, plus nothing else."""

SPLITTERS: Mapping[str, Callable[[NodeContext], tuple[Op, ...]]] = MappingProxyType(
    {split.ONNX_TYPE: split.build_outputs}
)
"""Op types with several outputs: the factory gives one op per output, and the importer makes
one graph node of each (the graph IR has one output per node)."""

FOLDED_ONLY = frozenset({"Constant", "ConstantOfShape", "Equal", "Range", "Shape", "Size"})
"""Op types accepted only where the importer folds them into constants (Shape and Size of
a variable fold too: its shape is static)."""

OPTIONAL_INPUTS = frozenset({"Clip", "Pad", "ReduceMean", "ReduceSum", "Slice", "Split"})
"""Op types whose factories accept omitted optional inputs (empty names in ONNX)."""

__all__ = [
    "FOLDED_ONLY",
    "OPERATORS",
    "OPTIONAL_INPUTS",
    "SPLITTERS",
    "Interval",
    "NodeContext",
    "Op",
    "OpFactory",
    "Operand",
    "UnsupportedForm",
]
