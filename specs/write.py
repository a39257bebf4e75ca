"""Writers for VNN-LIB 1.0 and 2.0 that our readers read back to an equal `Property`.

Numbers are written in positional decimal notation with the shortest digits that round-trip
(``repr``), since the VNN-LIB 2.0 grammar has no exponent notation. Every linear row is
written as ``(<= (+ (* a_i v_i) ...) b)``, ``<`` when strict, with only its non-zero
coefficients (an all-zero row names one variable with coefficient 0.0, so it stays on its
side); a polynomial row (VNN-LIB 2.0 only) as ``(<= (+ (* c v_i v_j ...) ...) b)`` with every
term, zero or not.

``parse(write(p)) == p`` holds for every `Property` in the readers' normal form: no input
constraint row that has a single non-zero coefficient of +-1 (the reader moves such a row
into the box), and distinct input regions across cases (the reader merges equal ones). VNN-LIB
1.0 keeps neither names, element types, shapes nor the network name: it reads back as ``X`` /
``Y`` of type ``real`` and flat shape.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Final

import numpy as np

from specs.errors import SpecError
from specs.property import Case, LinearConstraints, PolynomialRow, Property, Variable
from specs.vnnlib2 import ELEMENT_TYPES

_IDENTIFIER: Final = re.compile(r"[A-Za-z][A-Za-z0-9_]*")
_TRUE: Final = "(<= 0.0 0.0)"
_FALSE: Final = "(< 0.0 0.0)"


def write_vnnlib1(prop: Property) -> str:
    """The property as VNN-LIB 1.0 text (VNN-COMP style when it has one case); SpecError for
    polynomial rows, which VNN-LIB 1.0 cannot express."""
    if any(clause.polynomial is not None for case in prop.cases for clause in case.condition.clauses):
        raise SpecError("VNN-LIB 1.0 has no products of variables: write polynomial constraints as VNN-LIB 2.0")
    inputs = [f"X_{i}" for i in range(prop.input.size)]
    outputs = [f"Y_{i}" for i in range(prop.output.size)]
    lines = [f"(declare-const {name} Real)" for name in inputs + outputs]
    return "\n".join([*lines, *_assertions(prop, inputs, outputs, _real)]) + "\n"


def write_vnnlib2(prop: Property, network: str | None = None) -> str:
    """The property as a VNN-LIB 2.0 query over ``network`` (default: the property's own
    network name, else ``network``).

    Subnormal numbers are refused: the reference parser cannot read them.
    """
    name = network if network is not None else prop.network or "network"
    for identifier in (name, prop.input.name, prop.output.name):
        if not _IDENTIFIER.fullmatch(identifier):
            raise SpecError(f"{identifier!r} is not a VNN-LIB 2.0 identifier")
    if prop.input.name == prop.output.name:
        raise SpecError(f"input and output are both named {prop.input.name!r}")
    lines = [
        "(vnnlib-version <2.0>)",
        f"(declare-network {name}",
        f"    {_declaration('input', prop.input)}",
        f"    {_declaration('output', prop.output)})",
    ]
    inputs = _elements(prop.input)
    outputs = _elements(prop.output)
    return "\n".join([*lines, *_assertions(prop, inputs, outputs, _normal_real)]) + "\n"


def _declaration(kind: str, variable: Variable) -> str:
    if variable.element_type not in ELEMENT_TYPES.values():
        raise SpecError(f"element type {variable.element_type!r} cannot be written")
    shape = ",".join(str(size) for size in variable.shape)
    return f"(declare-{kind} {variable.name} {variable.element_type} [{shape}])"


def _elements(variable: Variable) -> list[str]:
    """The names of the tensor's elements in row-major order, e.g. ``X[0,2]``."""
    if not variable.shape:
        return [variable.name]
    return [f"{variable.name}[{','.join(str(i) for i in index)}]" for index in np.ndindex(*variable.shape)]


def _assertions(
    prop: Property, inputs: Sequence[str], outputs: Sequence[str], real: Callable[[float], str]
) -> list[str]:
    """One assertion per input row and one for the outputs when there is a single case;
    else one disjunction with a conjunction per case."""
    if len(prop.cases) == 1:
        case = prop.cases[0]
        rows = _region_rows(case, inputs, real)
        return [*(f"(assert {row})" for row in rows), f"(assert {_condition(case, outputs, real, '    ')})"]
    cases = (
        " ".join(["(and", *_region_rows(case, inputs, real), _condition(case, outputs, real, "        ")]) + ")"
        for case in prop.cases
    )
    return ["(assert (or", *(f"    {case}" for case in cases), "))"]


def _region_rows(case: Case, inputs: Sequence[str], real: Callable[[float], str]) -> list[str]:
    """Box bounds (an infinite one is omitted), then the input constraint rows."""
    box = case.region.box
    rows: list[str] = []
    for name, lower, upper in zip(inputs, box.lower.tolist(), box.upper.tolist(), strict=True):
        if upper != math.inf:
            rows.append(f"(<= {name} {real(upper)})")
        if lower != -math.inf:
            rows.append(f"(>= {name} {real(lower)})")
    return rows + _rows(case.region.constraints, inputs, real)


def _condition(case: Case, outputs: Sequence[str], real: Callable[[float], str], indent: str) -> str:
    """The output clauses as ``(or (and row...) ...)``, one per line after ``indent``; no
    clause is false, a clause of no row is true."""
    clauses = [
        f"(and {' '.join(rows)})" if (rows := _rows(clause, outputs, real)) else _TRUE
        for clause in case.condition.clauses
    ]
    if not clauses:
        return _FALSE
    return "(or" + "".join(f"\n{indent}{clause}" for clause in clauses) + ")"


def _rows(constraints: LinearConstraints, names: Sequence[str], real: Callable[[float], str]) -> list[str]:
    """The linear rows, then the polynomial rows."""
    linear = [
        f"({'<' if strict else '<='} {_sum(coeffs, names, real)} {real(bound)})"
        for coeffs, bound, strict in zip(
            constraints.A.tolist(), constraints.b.tolist(), constraints.strict.tolist(), strict=True
        )
    ]
    rows = constraints.polynomial.rows if constraints.polynomial is not None else ()
    return linear + [
        f"({'<' if row.strict else '<='} {_polynomial(row, names, real)} {real(row.bound)})" for row in rows
    ]


def _polynomial(row: PolynomialRow, names: Sequence[str], real: Callable[[float], str]) -> str:
    terms = [
        _term(coeff, names[m[0]], real) if len(m) == 1 else _product(coeff, [names[i] for i in m], real)
        for m, coeff in row.terms
    ]
    return terms[0] if len(terms) == 1 else f"(+ {' '.join(terms)})"


def _product(coeff: float, factors: Sequence[str], real: Callable[[float], str]) -> str:
    product = " ".join(factors)
    if coeff == 1.0:
        return f"(* {product})"
    if coeff == -1.0:
        return f"(- (* {product}))"
    return f"(* {real(coeff)} {product})"


def _sum(coeffs: Sequence[float], names: Sequence[str], real: Callable[[float], str]) -> str:
    terms = [_term(c, names[i], real) for i, c in enumerate(coeffs) if c != 0.0]
    if not terms:
        return f"(* 0.0 {names[0]})"
    return terms[0] if len(terms) == 1 else f"(+ {' '.join(terms)})"


def _term(coeff: float, name: str, real: Callable[[float], str]) -> str:
    if coeff == 1.0:
        return name
    if coeff == -1.0:
        return f"(- {name})"
    return f"(* {real(coeff)} {name})"


def _real(value: float) -> str:
    """Shortest round-trip digits in positional notation, always with a decimal point."""
    if not math.isfinite(value):
        raise SpecError(f"cannot write the non-finite number {value!r}")
    text = format(Decimal(repr(value)), "f")
    return text if "." in text else f"{text}.0"


def _normal_real(value: float) -> str:
    """`_real`, refusing subnormal numbers, which the VNN-LIB 2.0 reference parser rejects."""
    if value != 0.0 and abs(value) < sys.float_info.min:
        raise SpecError(f"cannot write the subnormal number {value!r} in VNN-LIB 2.0")
    return _real(value)
