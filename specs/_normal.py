"""Normalisation shared by the VNN-LIB readers: linear terms, comparisons, DNF, cases.

A reader turns arithmetic into `Linear` forms, each comparison into `Row` s over either the
input or the output (`compare`), combines formulas with `conjoin` / `disjoin`, and hands the
result to `build_cases`. The DNF is kept factored: a `Term` pairs one input conjunction with
a disjunction of output conjunctions. So ``(and (or k input regions) (or m output clauses))``
is k terms of m clauses each, not k * m terms, and becomes k cases.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Final, Literal, NamedTuple

import numpy as np

from specs.errors import SpecError
from specs.property import Box, Case, InputRegion, LinearConstraints, OutputCondition

MAX_CLAUSES: Final = 1_000_000
"""Largest DNF (summed over input regions) a reader builds before giving up."""

Operator = Literal["<=", "<", ">=", ">", "="]
VariableKey = tuple[bool, int]
"""(is_output, flat index) of one scalar variable."""
ErrorAt = Callable[[str], SpecError]
"""Makes a SpecError located where the caller is reading; the helpers raise what it makes."""


class Linear(NamedTuple):
    """``sum(c * v for v, c in coeffs.items()) + constant``; a key may carry coefficient 0."""

    coeffs: dict[VariableKey, float]
    constant: float


def constant(value: float) -> Linear:
    return Linear({}, value)


def variable(key: VariableKey) -> Linear:
    return Linear({key: 1.0}, 0.0)


def add(terms: Iterable[Linear]) -> Linear:
    """The sum of the terms (exact when no two terms share a variable)."""
    coeffs: dict[VariableKey, float] = {}
    total = 0.0
    for term in terms:
        for key, coeff in term.coeffs.items():
            coeffs[key] = coeffs.get(key, 0.0) + coeff
        total += term.constant
    return Linear(coeffs, total)


def scale(term: Linear, factor: float) -> Linear:
    return Linear({key: factor * c for key, c in term.coeffs.items()}, factor * term.constant)


def multiply(factors: Sequence[Linear], error: ErrorAt) -> Linear:
    """The product, provided at most one factor has variables (else it is not linear)."""
    symbolic = [f for f in factors if f.coeffs]
    if len(symbolic) > 1:
        raise error("product of variables is not linear")
    product = 1.0
    for factor in factors:
        if not factor.coeffs:
            product *= factor.constant
    return scale(symbolic[0], product) if symbolic else constant(product)


class Row(NamedTuple):
    """One constraint ``sum(c * v[i] for i, c in coeffs) <= bound``, ``<`` when strict."""

    coeffs: tuple[tuple[int, float], ...]
    bound: float
    strict: bool


Conjunction = tuple[Row, ...]


class Term(NamedTuple):
    """An input conjunction together with the disjunction of output conjunctions asked of it."""

    inputs: Conjunction
    outputs: tuple[Conjunction, ...]


Dnf = tuple[Term, ...]
"""A disjunction of terms; never empty (false is `FALSE`)."""

TRUE: Final[Dnf] = (Term((), ((),)),)
FALSE: Final[Dnf] = (Term((), ()),)


def compare(operator: Operator, lhs: Linear, rhs: Linear, error: ErrorAt) -> Dnf:
    """The DNF of ``lhs operator rhs``: rows on one side, or a constant truth value.

    ``=`` gives two rows. A comparison relating input and output variables is not
    expressible in a `Property` and is refused.
    """
    coeffs = dict(lhs.coeffs)
    for key, coeff in rhs.coeffs.items():
        coeffs[key] = coeffs.get(key, 0.0) - coeff
    offset = lhs.constant - rhs.constant  # the comparison is (coeffs . v + offset) op 0
    if not (math.isfinite(offset) and all(math.isfinite(c) for c in coeffs.values())):
        raise error("coefficient or constant is not a finite double")
    # 0.0 - x rather than -x (and x + 0.0): rows never carry a -0.0 bound or coefficient
    below = tuple((index, c) for (_, index), c in coeffs.items())
    if operator in ("<=", "<"):
        rows: Conjunction = (Row(below, 0.0 - offset, operator == "<"),)
    else:
        above = Row(tuple((index, 0.0 - c) for index, c in below), offset + 0.0, operator == ">")
        rows = (above,) if operator != "=" else (Row(below, 0.0 - offset, False), above)
    sides = {is_output for is_output, _ in coeffs}
    if not sides:
        holds = all(row.bound > 0.0 if row.strict else row.bound >= 0.0 for row in rows)
        return TRUE if holds else FALSE
    if len(sides) == 2:
        raise error("comparison mixes input and output variables, which is not supported")
    return (Term((), (rows,)),) if True in sides else (Term(rows, ((),)),)


def conjoin(dnfs: Iterable[Dnf], error: ErrorAt) -> Dnf:
    """The DNF of the conjunction, distributing only over the operands that branch."""
    inputs: list[Row] = []
    outputs: list[Row] = []
    branching: list[Dnf] = []
    for dnf in dnfs:
        if len(dnf) == 1 and len(dnf[0].outputs) == 1:
            inputs.extend(dnf[0].inputs)
            outputs.extend(dnf[0].outputs[0])
        else:
            branching.append(dnf)
    result: Dnf = (Term(tuple(inputs), (tuple(outputs),)),)
    for dnf in branching:
        clauses = sum(len(t.outputs) for t in result) * sum(len(t.outputs) for t in dnf)
        if max(clauses, len(result) * len(dnf)) > MAX_CLAUSES:
            raise error(f"disjunctive normal form exceeds {MAX_CLAUSES} clauses")
        result = tuple(
            Term(a.inputs + b.inputs, tuple(x + y for x in a.outputs for y in b.outputs)) for a in result for b in dnf
        )
    return result


def disjoin(dnfs: Iterable[Dnf]) -> Dnf:
    """The DNF of the disjunction; terms with the same input conjunction share one term."""
    merged: dict[Conjunction, list[Conjunction]] = {}
    for dnf in dnfs:
        for term in dnf:
            merged.setdefault(term.inputs, []).extend(term.outputs)
    return tuple(Term(i, tuple(o)) for i, o in merged.items()) if merged else FALSE


def build_cases(
    dnf: Dnf, n_inputs: int, n_outputs: int, unbounded: Callable[[int, str], SpecError]
) -> tuple[Case, ...]:
    """One case per distinct input region, with every output clause asked of that region.

    ``unbounded(index, "lower" | "upper")`` makes the error for an input lacking a bound.
    """
    cases: dict[tuple[bytes, ...], tuple[InputRegion, list[LinearConstraints]]] = {}
    for term in dnf:
        region = _region(term.inputs, n_inputs, unbounded)
        clauses = [_constraints(clause, n_outputs) for clause in term.outputs]
        key = tuple(
            (np.asarray(a, dtype=np.float64) + 0.0).tobytes()  # + 0.0 makes -0.0 and 0.0 one key
            for a in (
                region.box.lower,
                region.box.upper,
                region.constraints.A,
                region.constraints.b,
                region.constraints.strict,
            )
        )
        cases.setdefault(key, (region, []))[1].extend(clauses)
    return tuple(Case(region, OutputCondition(tuple(c))) for region, c in cases.values())


def _region(rows: Conjunction, n: int, unbounded: Callable[[int, str], SpecError]) -> InputRegion:
    """Single-variable rows with coefficient +-1 bound the box; the rest stay as rows.

    A strict such row also bounds the box (by its closure) and stays as a row, since a box
    is closed. Every input must end up with both bounds.
    """
    lower = [-math.inf] * n
    upper = [math.inf] * n
    kept: list[Row] = []
    for row in rows:
        if len(row.coeffs) == 1 and row.coeffs[0][1] in (1.0, -1.0):
            index, coeff = row.coeffs[0]
            if coeff == 1.0:
                upper[index] = min(upper[index], row.bound)
            else:
                lower[index] = max(lower[index], -row.bound)
            if not row.strict:
                continue
        kept.append(row)
    for index in range(n):
        if lower[index] == -math.inf:
            raise unbounded(index, "lower")
        if upper[index] == math.inf:
            raise unbounded(index, "upper")
    return InputRegion(Box(np.array(lower), np.array(upper)), _constraints(kept, n))


def _constraints(rows: Sequence[Row], n: int) -> LinearConstraints:
    A = np.zeros((len(rows), n))
    for r, row in enumerate(rows):
        for index, coeff in row.coeffs:
            A[r, index] = coeff
    return LinearConstraints(A, np.array([row.bound for row in rows]), np.array([row.strict for row in rows]))
