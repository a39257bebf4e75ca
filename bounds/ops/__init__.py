"""The operator registry: ONNX op type -> factory building an ``Op`` from a node.

Adding an operator means adding one module here with ``ONNX_TYPE`` and ``build``, listing
it below, and adding its examples to the conformance test. Constant subgraphs (including
``Constant`` nodes) never reach a factory: the importer folds them first.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from bounds.ops import (
    add,
    batchnormalization,
    conv,
    div,
    flatten,
    gemm,
    identity,
    matmul,
    mul,
    neg,
    relu,
    reshape,
    sigmoid,
    squeeze,
    sub,
    tanh,
    transpose,
    unsqueeze,
)
from bounds.ops.base import Interval, NodeContext, Op, Operand, OpFactory, UnsupportedForm

_MODULES = (
    add,
    batchnormalization,
    conv,
    div,
    flatten,
    gemm,
    identity,
    matmul,
    mul,
    neg,
    relu,
    reshape,
    sigmoid,
    squeeze,
    sub,
    tanh,
    transpose,
    unsqueeze,
)

OPERATORS: Mapping[str, OpFactory] = MappingProxyType({m.ONNX_TYPE: m.build for m in _MODULES})
"""Every ONNX op type with a factory, plus nothing else."""

FOLDED_ONLY = frozenset({"Constant"})
"""Op types accepted only where the importer folds them into constants."""

__all__ = ["FOLDED_ONLY", "OPERATORS", "Interval", "NodeContext", "Op", "OpFactory", "Operand", "UnsupportedForm"]
