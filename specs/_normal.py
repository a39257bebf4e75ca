"""Normalisation shared by the VNN-LIB readers: polynomial terms, comparisons, DNF, cases.

A reader turns arithmetic into `Polynomial` forms (linear ones for VNN-LIB 1.0, which has no
products of variables; VNN-LIB 2.0 multiplies out with `expand`), each comparison into `Row` s
over either the input or the output (`compare`), combines formulas with `conjoin` /
`disjoin`, and hands the result to `build_cases`. A row with a product of variables becomes
a polynomial row of its output clause; the input region stays linear. The DNF is kept
factored: a `Term` pairs one input conjunction with a disjunction of output conjunctions.
So ``(and (or k input regions) (or m output clauses))`` is k terms of m clauses each, not
k * m terms, and becomes k cases.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Final, Literal, NamedTuple

import numpy as np

from specs.errors import SpecError
from specs.property import (
    Box,
    Case,
    InputRegion,
    LinearConstraints,
    OutputCondition,
    PolynomialConstraints,
    PolynomialRow,
)

MAX_CLAUSES: Final = 1_000_000
"""Largest DNF (summed over input regions) a reader builds before giving up."""
MAX_TERMS: Final = 100_000
"""Most term products `expand` computes for one multiplication before giving up."""
MAX_DEGREE: Final = 64
"""Highest degree of a monomial a reader accepts."""

Operator = Literal["<=", "<", ">=", ">", "="]
VariableKey = tuple[bool, int]
"""(is_output, flat index) of one scalar variable."""
ErrorAt = Callable[[str], SpecError]
"""Makes a SpecError located where the caller is reading; the helpers raise what it makes."""


Monomial = tuple[VariableKey, ...]
"""A product of at least two variables, keys sorted, a key repeated for a power."""
_NO_PRODUCTS: Final[Mapping[Monomial, float]] = MappingProxyType({})


class Polynomial(NamedTuple):
    """``sum(c * v for v, c in coeffs.items()) + sum(c * prod(m) for m, c in products.items())
    + constant``: degree-1 terms in ``coeffs``, higher ones in ``products``; a key may carry
    coefficient 0. Linear when ``products`` is empty."""

    coeffs: dict[VariableKey, float]
    constant: float
    products: Mapping[Monomial, float] = _NO_PRODUCTS


def constant(value: float) -> Polynomial:
    return Polynomial({}, value)


def variable(key: VariableKey) -> Polynomial:
    return Polynomial({key: 1.0}, 0.0)


def add(terms: Iterable[Polynomial]) -> Polynomial:
    """The sum of the terms (exact when no two terms share a monomial)."""
    coeffs: dict[VariableKey, float] = {}
    products: dict[Monomial, float] = {}
    total = 0.0
    for term in terms:
        for key, coeff in term.coeffs.items():
            coeffs[key] = coeffs.get(key, 0.0) + coeff
        for monomial, coeff in term.products.items():
            products[monomial] = products.get(monomial, 0.0) + coeff
        total += term.constant
    return Polynomial(coeffs, total, products or _NO_PRODUCTS)


def scale(term: Polynomial, factor: float) -> Polynomial:
    products = {m: factor * c for m, c in term.products.items()}
    return Polynomial(
        {key: factor * c for key, c in term.coeffs.items()}, factor * term.constant, products or _NO_PRODUCTS
    )


def multiply(factors: Sequence[Polynomial], error: ErrorAt) -> Polynomial:
    """The product, provided at most one factor has variables (else it is not linear)."""
    symbolic = [f for f in factors if f.coeffs]
    if len(symbolic) > 1:
        raise error("product of variables is not linear")
    product = 1.0
    for factor in factors:
        if not factor.coeffs:
            product *= factor.constant
    return scale(symbolic[0], product) if symbolic else constant(product)


def expand(factors: Sequence[Polynomial], error: ErrorAt) -> Polynomial:
    """The product multiplied out. Constant factors scale the rest, as in `multiply`, so a
    zero factor keeps its variables with coefficient 0."""
    factor = 1.0
    symbolic: list[Polynomial] = []
    for f in factors:
        if f.coeffs or f.products:
            symbolic.append(f)
        else:
            factor *= f.constant
    if len(symbolic) < 2:
        return scale(symbolic[0], factor) if symbolic else constant(factor)
    product: dict[Monomial, float] = {(): 1.0}
    for f in symbolic:
        terms: dict[Monomial, float] = {(key,): c for key, c in f.coeffs.items()}
        terms.update(f.products)
        if f.constant != 0.0:
            terms[()] = f.constant
        if len(product) * len(terms) > MAX_TERMS:
            raise error(f"multiplying out the product takes more than {MAX_TERMS} term products")
        expanded: dict[Monomial, float] = {}
        for a, ca in product.items():
            for b, cb in terms.items():
                monomial = tuple(sorted(a + b))
                if len(monomial) > MAX_DEGREE:
                    raise error(f"polynomial degree exceeds {MAX_DEGREE}")
                expanded[monomial] = expanded.get(monomial, 0.0) + ca * cb
        product = expanded
    coeffs = {m[0]: c for m, c in product.items() if len(m) == 1}
    products = {m: c for m, c in product.items() if len(m) > 1}
    return scale(Polynomial(coeffs, product.get((), 0.0), products or _NO_PRODUCTS), factor)


class Row(NamedTuple):
    """One constraint ``sum(c * v[i] for i, c in coeffs) + sum(c * prod(v[i] for i in m) for
    m, c in products) <= bound``, ``<`` when strict; polynomial when ``products`` is not empty."""

    coeffs: tuple[tuple[int, float], ...]
    bound: float
    strict: bool
    products: tuple[tuple[tuple[int, ...], float], ...] = ()


Conjunction = tuple[Row, ...]


class Term(NamedTuple):
    """An input conjunction together with the disjunction of output conjunctions asked of it."""

    inputs: Conjunction
    outputs: tuple[Conjunction, ...]


Dnf = tuple[Term, ...]
"""A disjunction of terms; never empty (false is `FALSE`)."""

TRUE: Final[Dnf] = (Term((), ((),)),)
FALSE: Final[Dnf] = (Term((), ()),)


def compare(operator: Operator, lhs: Polynomial, rhs: Polynomial, error: ErrorAt) -> Dnf:
    """The DNF of ``lhs operator rhs``: rows on one side, or a constant truth value.

    ``=`` gives two rows. A comparison relating input and output variables, or a polynomial
    one over input variables, is not expressible in a `Property` and is refused.
    """
    coeffs = dict(lhs.coeffs)
    for key, coeff in rhs.coeffs.items():
        coeffs[key] = coeffs.get(key, 0.0) - coeff
    products = dict(lhs.products)
    for monomial, coeff in rhs.products.items():
        products[monomial] = products.get(monomial, 0.0) - coeff
    offset = lhs.constant - rhs.constant  # the comparison is (coeffs . v + products + offset) op 0
    if not (math.isfinite(offset) and all(math.isfinite(c) for c in (*coeffs.values(), *products.values()))):
        raise error("coefficient or constant is not a finite double")
    # 0.0 - x rather than -x (and x + 0.0): rows never carry a -0.0 bound or coefficient
    below = tuple((index, c) for (_, index), c in coeffs.items())
    below_products = tuple((tuple(index for _, index in m), c) for m, c in products.items())
    if operator in ("<=", "<"):
        rows: Conjunction = (Row(below, 0.0 - offset, operator == "<", below_products),)
    else:
        above = Row(
            tuple((index, 0.0 - c) for index, c in below),
            offset + 0.0,
            operator == ">",
            tuple((m, 0.0 - c) for m, c in below_products),
        )
        rows = (above,) if operator != "=" else (Row(below, 0.0 - offset, False, below_products), above)
    sides = {is_output for is_output, _ in coeffs} | {is_output for m in products for is_output, _ in m}
    if not sides:
        holds = all(row.bound > 0.0 if row.strict else row.bound >= 0.0 for row in rows)
        return TRUE if holds else FALSE
    if len(sides) == 2:
        raise error("comparison mixes input and output variables, which is not supported")
    if True in sides:
        return (Term((), (rows,)),)
    if products:
        raise error("a product of input variables is not supported here (only in the output condition)")
    return (Term(rows, ((),)),)


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
    is closed. Every input must end up with both bounds, except one that a linear row uses:
    the rows may bound it (``x0 >= 0, x1 >= 0, x0 + x1 <= 1``), which the verifier finds out
    when it cuts the box down to them.
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
    constraints = _constraints(kept, n)
    in_rows = np.any(constraints.A != 0, axis=0)
    for index in range(n):
        if lower[index] == -math.inf and not in_rows[index]:
            raise unbounded(index, "lower")
        if upper[index] == math.inf and not in_rows[index]:
            raise unbounded(index, "upper")
    return InputRegion(Box(np.array(lower), np.array(upper)), constraints)


def _constraints(rows: Sequence[Row], n: int) -> LinearConstraints:
    """Linear rows as a matrix; polynomial rows with their degree-1 terms as monomials."""
    linear = [row for row in rows if not row.products]
    A = np.zeros((len(linear), n))
    for r, row in enumerate(linear):
        for index, coeff in row.coeffs:
            A[r, index] = coeff
    polynomial = [
        PolynomialRow(tuple(((index,), c) for index, c in row.coeffs) + row.products, row.bound, row.strict)
        for row in rows
        if row.products
    ]
    return LinearConstraints(
        A,
        np.array([row.bound for row in linear]),
        np.array([row.strict for row in linear]),
        PolynomialConstraints(n, tuple(polynomial)) if polynomial else None,
    )
