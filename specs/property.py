"""The normalised property every reader and builder produces.

A property asks whether a violation exists: it is SAT iff some case has an input point in
its region whose network output satisfies the case's output condition. Inputs and outputs
are flattened in row-major order (VNN-LIB 1.0's ``X_i`` / ``Y_i`` indices).
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from specs.errors import SpecError

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]
Monomial = tuple[int, ...]
"""A product of variables by index, ascending, an index repeated for a power: (0, 0, 2) is v0² v2."""
_UNIT = 2.0**-53  # float64 unit roundoff (LinearConstraints.holds)


def _frozen(array: npt.ArrayLike, dtype: type) -> np.ndarray:
    out: np.ndarray = np.array(array, dtype=dtype)
    out.setflags(write=False)
    return out


class PolynomialRow(NamedTuple):
    """``sum(c * prod(v[i] for i in monomial) for monomial, c in terms) <= bound``, ``<`` when strict."""

    terms: tuple[tuple[Monomial, float], ...]
    bound: float
    strict: bool


@dataclass(frozen=True)
class PolynomialConstraints:
    """A conjunction of polynomial rows over a vector of ``size`` variables.

    Every row has a term of degree >= 2 (a row without one is linear and belongs in a
    `LinearConstraints` matrix); a row's monomials are distinct, their indices in range, its
    coefficients and bound finite. Monomials are stored ascending and terms by degree, then
    indices, so equal constraints compare equal whatever order they were given in.
    """

    size: int
    rows: tuple[PolynomialRow, ...]

    def __post_init__(self) -> None:
        rows = tuple(_canonical_row(row, self.size) for row in self.rows)
        object.__setattr__(self, "size", int(self.size))
        object.__setattr__(self, "rows", rows)

    def __len__(self) -> int:
        return len(self.rows)

    def holds(self, v: npt.ArrayLike) -> bool:
        """Whether every row holds at the point v, in exact rational arithmetic; a row over a
        non-finite value does not hold."""
        values = np.asarray(v, dtype=np.float64).reshape(-1)
        for row in self.rows:
            used = {i for m, _ in row.terms for i in m}
            if not all(math.isfinite(values[i]) for i in used):
                return False
            exact = {i: Fraction(float(values[i])) for i in used}
            lhs = sum((Fraction(c) * math.prod(exact[i] for i in m) for m, c in row.terms), Fraction(0))
            bound = Fraction(row.bound)
            if not (lhs < bound if row.strict else lhs <= bound):
                return False
        return True


def _canonical_row(row: PolynomialRow, size: int) -> PolynomialRow:
    """The row with sorted monomials and terms, numbers as Python floats; SpecError when invalid."""
    terms = []
    for monomial, coeff in row.terms:
        indices = tuple(sorted(int(i) for i in monomial))
        if not indices:
            raise SpecError("a polynomial term has no variable (constants belong in the bound)")
        outside = [i for i in indices if not 0 <= i < size]
        if outside:
            raise SpecError(f"a polynomial term names variable {outside[0]}, outside 0..{size - 1}")
        terms.append((indices, float(coeff)))
    if not all(math.isfinite(c) for _, c in terms) or not math.isfinite(row.bound):
        raise SpecError("polynomial coefficients and bounds must be finite")
    terms.sort(key=lambda term: (len(term[0]), term[0]))
    if any(a[0] == b[0] for a, b in itertools.pairwise(terms)):
        raise SpecError("a monomial occurs twice in one polynomial row")
    if all(len(m) < 2 for m, _ in terms):
        raise SpecError("a polynomial row has no term of degree 2 or more (linear rows belong in the matrix)")
    return PolynomialRow(tuple(terms), float(row.bound), bool(row.strict))


@dataclass(frozen=True, eq=False)
class LinearConstraints:
    """A conjunction of rows ``A[i] @ v <= b[i]``, strict (``<``) where ``strict[i]``, and,
    in an output clause, optionally of polynomial rows (``polynomial``) over the same vector.

    ``A`` has shape (m, n) for m constraints over a vector of n variables; m may be 0. An
    empty ``polynomial`` is stored as None, so linear clauses stay purely linear.
    """

    A: FloatArray
    b: FloatArray
    strict: BoolArray
    polynomial: PolynomialConstraints | None = None

    def __post_init__(self) -> None:
        A = _frozen(self.A, np.float64)
        if A.ndim != 2:
            raise SpecError(f"constraint matrix must be 2-D, got shape {A.shape}")
        b = _frozen(self.b, np.float64).reshape(-1)
        strict = _frozen(self.strict, np.bool_).reshape(-1)
        if b.shape[0] != A.shape[0] or strict.shape[0] != A.shape[0]:
            raise SpecError("constraint matrix, right-hand side and strictness differ in length")
        if self.polynomial is not None and self.polynomial.size != A.shape[1]:
            raise SpecError(
                f"polynomial rows range over {self.polynomial.size} variables, the matrix over {A.shape[1]}"
            )
        object.__setattr__(self, "A", A)
        object.__setattr__(self, "b", b)
        object.__setattr__(self, "strict", strict)
        if self.polynomial is not None and not self.polynomial.rows:
            object.__setattr__(self, "polynomial", None)

    @staticmethod
    def empty(n: int) -> LinearConstraints:
        """No constraint over n variables (always true)."""
        return LinearConstraints(np.zeros((0, n)), np.zeros(0), np.zeros(0, dtype=bool))

    @property
    def size(self) -> int:
        """Number of variables the rows range over."""
        return int(self.A.shape[1])

    def __len__(self) -> int:
        """Number of rows, linear and polynomial."""
        return int(self.A.shape[0]) + (len(self.polynomial) if self.polynomial is not None else 0)

    def holds(self, v: npt.ArrayLike) -> bool:
        """Whether every row holds at the point v, exactly (no tolerance): linear rows as
        ``_rows_hold`` decides them; polynomial rows in rational arithmetic. A row over a
        non-finite value does not hold."""
        values = np.broadcast_to(np.asarray(v, dtype=np.float64).reshape(-1), self.A.shape)
        linear = _rows_hold(self.A, values, self.b, self.strict)
        return bool(np.all(linear)) and (self.polynomial is None or self.polynomial.holds(v))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, LinearConstraints)
            and self.A.shape == other.A.shape
            and bool(np.array_equal(self.A, other.A))
            and bool(np.array_equal(self.b, other.b))
            and bool(np.array_equal(self.strict, other.strict))
            and self.polynomial == other.polynomial
        )

    __hash__ = None  # type: ignore[assignment]


def _rows_hold(A: FloatArray, X: FloatArray, b: FloatArray, strict: BoolArray) -> BoolArray:
    """Per row i, whether ``A[i] @ X[i] <= b[i]`` (``<`` where strict) holds exactly: in
    float64 where its rounding cannot change the answer, else in rational arithmetic. A row
    over a non-finite value (with a non-zero coefficient) does not hold."""
    used = A != 0
    finite = np.all(np.isfinite(X) | ~used, axis=1)
    X = np.where(used & finite[:, None], X, 0.0)  # an unused non-finite value must not make 0 * inf
    lhs = np.einsum("ij,ij->i", A, X)
    n = A.shape[1] + 1
    gamma = n * _UNIT / (1 - n * _UNIT)  # Higham's bound on a float64 dot product of length n
    unclear = np.abs(lhs - b) <= 2 * gamma * (np.einsum("ij,ij->i", np.abs(A), np.abs(X)) + np.abs(b))
    clear = np.where(strict, lhs < b, lhs <= b)
    for i in np.nonzero(unclear & finite)[0]:
        difference = sum(
            (Fraction(float(a)) * Fraction(float(x)) for a, x in zip(A[i], X[i], strict=True)),
            -Fraction(float(b[i])),
        )
        clear[i] = difference < 0 if strict[i] else difference <= 0
    return np.asarray(clear & finite)


@dataclass(frozen=True, eq=False)
class Box:
    """Elementwise bounds ``lower <= x <= upper`` on a flattened vector."""

    lower: FloatArray
    upper: FloatArray

    def __post_init__(self) -> None:
        lower = _frozen(self.lower, np.float64).reshape(-1)
        upper = _frozen(self.upper, np.float64).reshape(-1)
        if lower.shape != upper.shape:
            raise SpecError("box lower and upper bounds differ in length")
        object.__setattr__(self, "lower", lower)
        object.__setattr__(self, "upper", upper)

    @property
    def size(self) -> int:
        return int(self.lower.shape[0])

    def is_empty(self) -> bool:
        """True when some lower bound exceeds its upper bound."""
        return bool(np.any(self.lower > self.upper))

    def contains(self, x: npt.ArrayLike) -> bool:
        v = np.asarray(x, dtype=np.float64).reshape(-1)
        return bool(np.all(self.lower <= v) and np.all(v <= self.upper))

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Box)
            and bool(np.array_equal(self.lower, other.lower))
            and bool(np.array_equal(self.upper, other.upper))
        )

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class InputRegion:
    """A box, intersected with optional further linear constraints on the input."""

    box: Box
    constraints: LinearConstraints

    def __post_init__(self) -> None:
        if self.constraints.size != self.box.size:
            raise SpecError("input constraints and input box differ in dimension")
        if self.constraints.polynomial is not None:
            raise SpecError("input constraints must be linear (polynomial ones belong in the output condition)")

    def contains(self, x: npt.ArrayLike) -> bool:
        return self.box.contains(x) and self.constraints.holds(x)

    def is_empty(self) -> bool:
        """True only when no point lies in the region: its box is empty, or some constraint
        row fails everywhere on the box (decided exactly, at the box's corner where the row's
        left side is least). Rows that each hold somewhere but never together go undetected."""
        if self.box.is_empty():
            return True
        A = self.constraints.A
        corners = np.where(A > 0, self.box.lower, self.box.upper)
        bounded = np.all(np.isfinite(corners) | (A == 0), axis=1)  # else the row's least value is -inf
        holds = _rows_hold(A, corners, self.constraints.b, self.constraints.strict)
        return bool(np.any(bounded & ~holds))


@dataclass(frozen=True)
class OutputCondition:
    """A disjunction of conjunctions: satisfied when all rows of some clause hold."""

    clauses: tuple[LinearConstraints, ...]

    def holds(self, y: npt.ArrayLike) -> bool:
        return any(clause.holds(y) for clause in self.clauses)


@dataclass(frozen=True)
class Case:
    """One input region together with the output condition asked of it."""

    region: InputRegion
    condition: OutputCondition


@dataclass(frozen=True)
class Variable:
    """A declared tensor: its name in the query, element type and shape.

    ``element_type`` is an ONNX type name (``float32``...) or ``real``, VNN-LIB 2.0's consent
    to real-arithmetic analysis. VNN-LIB 1.0 declares only flat ``Real`` variables, so its
    reader gives ``real`` and a one-dimensional shape.
    """

    name: str
    element_type: str
    shape: tuple[int, ...]

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))


@dataclass(frozen=True)
class Property:
    """A query over one network with one input and one output tensor.

    SAT iff some case has an input in its region whose output satisfies its condition.
    ``network`` is the VNN-LIB 2.0 network name (``None`` for VNN-LIB 1.0).
    """

    input: Variable
    output: Variable
    cases: tuple[Case, ...]
    network: str | None = None
    source: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if not self.cases:
            raise SpecError("property has no case", file=self.source)
        for case in self.cases:
            if case.region.box.size != self.input.size:
                raise SpecError(
                    f"input region has {case.region.box.size} variables, input {self.input.name} has {self.input.size}",
                    file=self.source,
                )
            for clause in case.condition.clauses:
                if clause.size != self.output.size:
                    raise SpecError(
                        f"output constraint has {clause.size} variables, "
                        f"output {self.output.name} has {self.output.size}",
                        file=self.source,
                    )

    def is_violated_by(self, x: npt.ArrayLike, y: npt.ArrayLike) -> bool:
        """Whether the pair (x, y) satisfies the query's assertions, exactly."""
        return any(c.region.contains(x) and c.condition.holds(y) for c in self.cases)
