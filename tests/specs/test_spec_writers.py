"""The VNN-LIB writers: what they write, and that our readers read it back unchanged."""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from specs import (
    Box,
    Case,
    InputRegion,
    LinearConstraints,
    OutputCondition,
    PolynomialConstraints,
    PolynomialRow,
    Property,
    SpecError,
    Variable,
    local_robustness,
    parse_vnnlib1,
    parse_vnnlib2,
    write_vnnlib1,
    write_vnnlib2,
)
from specs.vnnlib2 import ELEMENT_TYPES


def constraints(rows: list[list[float]], b: list[float], strict: list[bool], n: int) -> LinearConstraints:
    return LinearConstraints(np.array(rows, dtype=float).reshape(len(rows), n), b, strict)


def flat_property(cases: list[Case], n_in: int, n_out: int) -> Property:
    return Property(Variable("X", "real", (n_in,)), Variable("Y", "real", (n_out,)), tuple(cases))


def test_vnncomp_style_single_case() -> None:
    prop = local_robustness([0.5, 0.25], 0.25, 1, num_classes=2, lower=0.0, upper=1.0)
    assert write_vnnlib1(prop) == (
        "(declare-const X_0 Real)\n(declare-const X_1 Real)\n(declare-const Y_0 Real)\n(declare-const Y_1 Real)\n"
        "(assert (<= X_0 0.75))\n(assert (>= X_0 0.25))\n(assert (<= X_1 0.5))\n(assert (>= X_1 0.0))\n"
        "(assert (or\n    (and (<= (+ (- Y_0) Y_1) 0.0))))\n"
    )
    assert parse_vnnlib1(write_vnnlib1(prop)) == prop


def test_vnnlib2_header_and_indexing() -> None:
    prop = local_robustness(np.zeros((1, 2)), 1e-20, 0, num_classes=2, element_type="float32")
    prop = dataclasses.replace(prop, network="classifier")
    text = write_vnnlib2(prop)
    assert text.startswith(
        "(vnnlib-version <2.0>)\n(declare-network classifier\n"
        "    (declare-input X float32 [1,2])\n    (declare-output Y float32 [2]))\n"
        "(assert (<= X[0,0] 0.00000000000000000001))\n"
    )
    assert parse_vnnlib2(text) == prop
    assert "(declare-network other" in write_vnnlib2(prop, network="other")


def test_polynomial_rows_are_written_term_by_term() -> None:
    rows = (PolynomialRow((((0,), 0.0), ((0, 1), 1.0), ((1, 1), -1.0), ((0, 0, 1), 2.5)), 0.5, True),)
    clause = LinearConstraints(np.zeros((0, 2)), np.zeros(0), np.zeros(0, bool), PolynomialConstraints(2, rows))
    case = Case(InputRegion(Box([0.0], [1.0]), constraints([], [], [], 1)), OutputCondition((clause,)))
    prop = dataclasses.replace(flat_property([case], 1, 2), network="n")
    text = write_vnnlib2(prop)
    assert "(< (+ (* 0.0 Y[0]) (* Y[0] Y[1]) (- (* Y[1] Y[1])) (* 2.5 Y[0] Y[0] Y[1])) 0.5)" in text
    assert parse_vnnlib2(text) == prop


def test_special_clauses_round_trip() -> None:
    region = InputRegion(Box([0.0, -1.0], [1.0, 2.0]), constraints([[0.0, 0.0], [2.0, -1.0]], [1, 0], [True, False], 2))
    clauses = (
        constraints([], [], [], 1),  # no row: always true
        constraints([[0.0]], [-1.0], [False], 1),  # an all-zero row
        constraints([[1.0], [-3.5]], [1e300, 5e-324], [True, False], 1),
    )
    empty = Case(InputRegion(Box([5.0, 5.0], [6.0, 6.0]), constraints([], [], [], 2)), OutputCondition(()))
    for cases in ([Case(region, OutputCondition(clauses))], [Case(region, OutputCondition(clauses)), empty]):
        prop = flat_property(cases, 2, 1)
        assert parse_vnnlib1(write_vnnlib1(prop)) == prop
    with pytest.raises(SpecError, match="subnormal"):
        write_vnnlib2(prop)


def test_infinite_bounds_are_omitted_and_non_finite_rows_refused() -> None:
    box = Box([0.0], [np.inf])
    prop = flat_property([Case(InputRegion(box, constraints([], [], [], 1)), OutputCondition(()))], 1, 1)
    text = write_vnnlib1(prop)
    assert "(>= X_0 0.0)" in text and "(<= X_0" not in text
    with pytest.raises(SpecError, match="no upper bound"):
        parse_vnnlib1(text)
    bad = Case(
        InputRegion(Box([0.0], [1.0]), constraints([], [], [], 1)),
        OutputCondition((constraints([[np.nan]], [0.0], [False], 1),)),
    )
    with pytest.raises(SpecError, match="non-finite"):
        write_vnnlib1(flat_property([bad], 1, 1))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"network": "my-net"}, "not a VNN-LIB 2.0 identifier"),
        ({"input": Variable("1x", "real", (2,))}, "not a VNN-LIB 2.0 identifier"),
        ({"output": Variable("X", "real", (2,))}, "both named 'X'"),
        ({"output": Variable("Y", "int8", (2,))}, "element type 'int8' cannot be written"),
    ],
)
def test_vnnlib2_writer_validates_names_and_types(change: dict[str, object], message: str) -> None:
    prop = dataclasses.replace(local_robustness([0.5, 0.5], 0.1, 0, num_classes=2), **change)
    with pytest.raises(SpecError, match=re.escape(message)):
        write_vnnlib2(prop)


# Random properties in the readers' normal form round-trip exactly.


def absorbable(row: list[float]) -> bool:
    """A row the reader would move into the box: one non-zero coefficient, +-1."""
    nonzero = [c for c in row if c != 0.0]
    return len(nonzero) == 1 and abs(nonzero[0]) == 1.0


@st.composite
def polynomial_row(draw: st.DrawFn, n: int, numbers: st.SearchStrategy[float]) -> PolynomialRow:
    """Distinct monomials of degree 1 to 3, one of degree 2 or more, coefficients including +-1 and 0."""
    monomial = st.lists(st.integers(0, n - 1), min_size=1, max_size=3).map(lambda m: tuple(sorted(m)))
    monomials = draw(st.lists(monomial, min_size=1, max_size=4, unique=True).filter(lambda ms: max(map(len, ms)) > 1))
    coeffs = st.one_of(numbers, st.sampled_from([0.0, 1.0, -1.0]))
    terms = tuple((m, draw(coeffs)) for m in monomials)
    return PolynomialRow(terms, draw(numbers), draw(st.booleans()))


@st.composite
def linear_constraints(
    draw: st.DrawFn, n: int, max_rows: int, numbers: st.SearchStrategy[float], inputs: bool, polynomial: bool = False
) -> LinearConstraints:
    """Rows over n variables; with ``polynomial``, maybe polynomial rows too."""
    row = st.lists(st.one_of(numbers, st.sampled_from([0.0, 1.0, -1.0])), min_size=n, max_size=n)
    if inputs:
        row = row.filter(lambda r: not absorbable(r))
    rows = draw(st.lists(row, max_size=max_rows))
    b = draw(st.lists(numbers, min_size=len(rows), max_size=len(rows)))
    strict = draw(st.lists(st.booleans(), min_size=len(rows), max_size=len(rows)))
    products = draw(st.lists(polynomial_row(n, numbers), max_size=2)) if polynomial else []
    linear = constraints(rows, b, strict, n)
    return LinearConstraints(linear.A, linear.b, linear.strict, PolynomialConstraints(n, tuple(products)))


@st.composite
def properties(draw: st.DrawFn, *, version: int) -> Property:
    numbers = st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=version == 1)
    if version == 1:
        inputs = Variable("X", "real", (draw(st.integers(1, 4)),))
        outputs = Variable("Y", "real", (draw(st.integers(1, 4)),))
        network = None
    else:
        shapes = st.lists(st.integers(1, 3), max_size=3).map(tuple).filter(lambda s: int(np.prod(s)) <= 6)
        element_type = draw(st.sampled_from(sorted(ELEMENT_TYPES.values())))
        names = draw(
            st.lists(
                st.sampled_from(["X", "x_in", "input0", "Y", "logits", "out_1"]), min_size=2, max_size=2, unique=True
            )
        )
        inputs = Variable(names[0], element_type, draw(shapes))
        outputs = Variable(names[1], element_type, draw(shapes))
        network = draw(st.sampled_from(["acc", "net_2", "N"]))
    n_in, n_out = inputs.size, outputs.size
    cases = []
    for _ in range(draw(st.integers(1, 3))):
        box = Box(*(draw(st.lists(numbers, min_size=n_in, max_size=n_in)) for _ in "lu"))
        region = InputRegion(box, draw(linear_constraints(n_in, 2, numbers, inputs=True)))
        clauses = draw(
            st.lists(linear_constraints(n_out, 3, numbers, inputs=False, polynomial=version == 2), max_size=3)
        )
        cases.append(Case(region, OutputCondition(tuple(clauses))))
    assume(all(a.region != b.region for i, a in enumerate(cases) for b in cases[i + 1 :]))
    return Property(inputs, outputs, tuple(cases), network=network)


@settings(max_examples=200, deadline=None)
@given(properties(version=1))
def test_vnnlib1_round_trip(prop: Property) -> None:
    assert parse_vnnlib1(write_vnnlib1(prop)) == prop


@settings(max_examples=200, deadline=None)
@given(properties(version=2))
def test_vnnlib2_round_trip(prop: Property) -> None:
    assert parse_vnnlib2(write_vnnlib2(prop)) == prop


@settings(max_examples=50, deadline=None)
@given(properties(version=2))
def test_vnnlib1_flattens_names_and_shapes(prop: Property) -> None:
    assume(all(c.polynomial is None for case in prop.cases for c in case.condition.clauses))
    flat = Property(Variable("X", "real", (prop.input.size,)), Variable("Y", "real", (prop.output.size,)), prop.cases)
    assert parse_vnnlib1(write_vnnlib1(prop)) == flat


def test_outside_the_normal_form_the_meaning_is_kept() -> None:
    """A unit single-variable input row comes back as a box bound: equal meaning, not equal value."""
    region = InputRegion(Box([0.0], [2.0]), constraints([[1.0]], [1.0], [False], 1))
    prop = flat_property([Case(region, OutputCondition((constraints([[1.0]], [0.0], [True], 1),)))], 1, 1)
    back = parse_vnnlib1(write_vnnlib1(prop))
    assert back != prop
    assert back.cases[0].region.box.upper.tolist() == [1.0] and len(back.cases[0].region.constraints) == 0
    for x in np.linspace(-0.5, 2.5, 13):
        for y in (-1.0, 0.0, 1.0):
            assert back.is_violated_by([x], [y]) == prop.is_violated_by([x], [y])
