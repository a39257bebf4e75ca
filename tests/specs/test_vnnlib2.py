"""The VNN-LIB 2.0 reader on top of the reference `vnnlib` parser: scope, flattening, errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from specs.errors import SpecError
from specs.property import PolynomialRow
from specs.vnnlib2 import parse_query, parse_vnnlib2, read_vnnlib2

HEADER = """(vnnlib-version <2.0>)
(declare-network acc
  (declare-input X float32 [2,2])
  (declare-output Y float32 [1,3]))
"""
BOX = "(assert (and (>= X[0,0] 0.0) (<= X[0,0] 1.0) (>= X[0,1] 0.0) (<= X[0,1] 1.0)))\n" + (
    "(assert (and (>= X[1,0] -1.0) (<= X[1,0] 1.0) (>= X[1,1] 0.5) (<= X[1,1] 0.5)))\n"
)


def test_reads_names_types_shapes_and_flattens_row_major() -> None:
    text = HEADER + BOX + "(assert (or (>= (- Y[0,2] Y[0,0]) 0.0) (and (< Y[0,1] -0.5) (== Y[0,0] 2.0))))\n"
    prop = parse_vnnlib2(text, source="q.vnnlib")
    assert (prop.input.name, prop.input.element_type, prop.input.shape) == ("X", "float32", (2, 2))
    assert (prop.output.name, prop.output.element_type, prop.output.shape) == ("Y", "float32", (1, 3))
    assert prop.network == "acc" and prop.source == "q.vnnlib"
    (case,) = prop.cases
    assert case.region.box.lower.tolist() == [0.0, 0.0, -1.0, 0.5]
    assert case.region.box.upper.tolist() == [1.0, 1.0, 1.0, 0.5]
    first, second = case.condition.clauses
    assert first.A.tolist() == [[1.0, 0.0, -1.0]] and first.b.tolist() == [0.0]
    assert second.A.tolist() == [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [-1.0, 0.0, 0.0]]
    assert second.b.tolist() == [-0.5, 2.0, -2.0] and second.strict.tolist() == [True, False, False]


def test_scalars_real_type_and_arithmetic() -> None:
    text = """(vnnlib-version <2.0>)
(declare-network n (declare-input x real []) (declare-output y real []))
(assert (and (<= (- x) 1.0) (<= (* 2.0 x) 4.0) (<= x 2.0)))
(assert (<= (+ (* -1.0 y) (- 0.25 x)) (- 1.0)))
"""
    with pytest.raises(SpecError, match="mixes input and output"):
        parse_vnnlib2(text)
    prop = parse_vnnlib2(text.replace("(- 0.25 x)", "(- 0.25 0.5)"))
    assert prop.input.shape == () and prop.input.element_type == "real"
    (case,) = prop.cases
    assert case.region.box.lower.tolist() == [-1.0] and case.region.box.upper.tolist() == [2.0]
    assert case.region.constraints.A.tolist() == [[2.0]]
    assert case.condition.clauses[0].A.tolist() == [[-1.0]]
    assert case.condition.clauses[0].b.tolist() == [-0.75]


def test_input_disjunction_groups_cases() -> None:
    text = HEADER + BOX.replace("(>= X[0,0] 0.0) (<= X[0,0] 1.0)", "(or (<= X[0,0] 0.0) (>= X[0,0] 1.0))")
    text += "(assert (>= X[0,0] -1.0))(assert (<= X[0,0] 2.0))(assert (or (<= Y[0,0] 0.0) (<= Y[0,1] 0.0)))"
    prop = parse_vnnlib2(text)
    assert [(c.region.box.lower[0], c.region.box.upper[0]) for c in prop.cases] == [(-1.0, 0.0), (1.0, 2.0)]
    assert [len(c.condition.clauses) for c in prop.cases] == [2, 2]


def test_read_vnnlib2(tmp_path: Path) -> None:
    path = tmp_path / "q.vnnlib"
    path.write_text(HEADER + BOX)
    assert read_vnnlib2(path).source == str(path)


@pytest.mark.parametrize(
    ("assertions", "message", "line", "column", "token"),
    [
        ("(assert (<= X[0,0] 1e5))", "syntax error", 7, 21, "e5"),
        ("(assert (= X[0,0] 1.0))", "syntax error", 7, 10, "="),
        ("(assert (<= X[0,0] 1.0)", "unexpected end of input", 7, 23, None),
        ("(assert (<= X[0,0] 1))", "Type mismatch", 7, 20, "1"),
        ("(assert (<= Z[0,0] 1.0))", "Undeclared variable", 7, 13, "Z"),
        ("(assert (<= X[0,0] 1.0 2.0))", "syntax error", 7, 24, "2.0"),
        ("(assert (!= X[0,0] 1.0))", "'!=' is not supported", 7, 10, "!="),
        ("(assert (<= X[0,0] Y[0,0]))", "mixes input and output", 7, 10, "<="),
        ("(assert (<= (* X[0,0] X[0,1]) 1.0))", "product of input variables is not supported here", 7, 10, "<="),
        ("(assert (<= (/ Y[0,0] Y[0,1]) 1.0))", "arithmetic has only -, + and *", 7, 14, "/"),
        ("(assert (<= (^ Y[0,0] 2) 1.0))", "arithmetic has only -, + and *", 7, 14, "^"),
        ("(assert (<= (pow Y[0,0] 2.0) 1.0))", "arithmetic has only -, + and *", 7, 14, "pow"),
        ("(assert (<= (* " + "Y[0,0] " * 65 + ") 1.0))", "degree exceeds 64", 7, 14, "*"),
        ("(assert (<= X[0,0] 0." + "0" * 320 + "1))", "out of the range", 7, 20, "0." + "0" * 320 + "1"),
        ("(assert (<= é 1.0))", "non-ASCII", 7, 13, "é"),
    ],
)
def test_errors_are_located(assertions: str, message: str, line: int, column: int, token: str | None) -> None:
    with pytest.raises(SpecError, match=re.escape(message)) as caught:
        parse_vnnlib2(HEADER + BOX + assertions, source="q.vnnlib")
    error = caught.value
    assert (error.file, error.line, error.column, error.token) == ("q.vnnlib", line, column, token)


@pytest.mark.parametrize(
    ("declarations", "message", "line", "column", "token"),
    [
        (
            "(declare-network a (declare-input X real [1]) (declare-output Y real [1]))\n"
            "(declare-network b (declare-input X2 real [1]) (declare-output Y2 real [1]))",
            "2 networks are declared; a single-network property takes one (decide it as a query, with `nnverify",
            3,
            18,
            "b",
        ),
        (
            '(declare-network a (declare-input X real [1]) (declare-hidden H real [1] "h")'
            " (declare-output Y real [1]))",
            "hidden nodes are declared; a single-network property has none (decide it as a query",
            2,
            63,
            "H",
        ),
        (
            "(declare-network a (declare-input X real [1]) (declare-input X2 real [1]) (declare-output Y real [1]))",
            "several inputs are declared; a single-network property takes one (decide it as a query",
            2,
            62,
            "X2",
        ),
        (
            "(declare-network a (declare-input X real [1]) (declare-output Y real [1]) (declare-output Y2 real [1]))",
            "several outputs",
            2,
            91,
            "Y2",
        ),
        (
            "(declare-network a (declare-input X int8 [1]) (declare-output Y real [1]))",
            "element type I8 is not supported",
            2,
            35,
            "X",
        ),
        (
            "(declare-network a (declare-input X real [1]) (declare-output Y real [1]))\n(assert (<= X[0] 1.0))",
            "input X[0] has no lower bound",
            2,
            35,
            "X",
        ),
    ],
)
def test_out_of_scope_queries_are_refused(declarations: str, message: str, line: int, column: int, token: str) -> None:
    text = "(vnnlib-version <2.0>)\n" + declarations + "\n"
    if "assert" not in declarations:
        text += "(assert (<= X[0] 1.0))" if "int8" not in declarations else "(assert (<= Y[0] 1.0))"
    with pytest.raises(SpecError, match=re.escape(message)) as caught:
        parse_vnnlib2(text, source="q.vnnlib")
    error = caught.value
    assert (error.file, error.line, error.column, error.token) == ("q.vnnlib", line, column, token)


def test_type_check_report_with_several_errors_counts_the_rest() -> None:
    with pytest.raises(SpecError, match=r"\(and 1 more errors\)") as caught:
        parse_vnnlib2(HEADER + "(assert (<= X[0,0] 1))\n(assert (<= X[0,1] 2))", source="q.vnnlib")
    assert (caught.value.line, caught.value.column, caught.value.token) == (5, 20, "1")


@pytest.mark.parametrize("levels", [2000, 100_000])  # the reference parser crashed at 100,000
def test_deep_nesting_is_an_error_not_a_crash(levels: int) -> None:
    deep = "(assert (<= " + "(+ 0.0 " * levels + "Y[0,0]" + ")" * levels + " 1.0))"
    with pytest.raises(SpecError, match="nested too deeply") as caught:
        parse_vnnlib2(HEADER + BOX + deep)
    assert caught.value.token == "("


def test_a_formula_hundreds_deep_is_read() -> None:
    deep = "(assert (<= " + "(+ 0.5 " * 300 + "Y[0,0]" + ")" * 300 + " 1.0))"
    (case,) = parse_vnnlib2(HEADER + BOX + deep).cases
    (clause,) = case.condition.clauses  # Y[0,0] + 150 <= 1
    assert clause.A.tolist() == [[1.0, 0.0, 0.0]] and clause.b.tolist() == [-149.0]


MULTI = """(vnnlib-version <2.0>)
(declare-network f (declare-input X real [2]) (declare-hidden H real [3] "layer/out") (declare-output Y real [1]))
(declare-network g (isomorphic-to f) (declare-input A real [2]) (declare-output B real [1]))
(declare-network k (equal-to f) (declare-input C real [2]) (declare-output D real [1]))
(assert (and (<= X[0] 1.0) (>= X[0] 0.0) (<= X[1] 1.0) (>= X[1] 0.0)))
(assert (and (<= A[0] 1.0) (>= A[0] 0.0) (<= A[1] 1.0) (>= A[1] 0.0)))
(assert (and (<= C[0] 1.0) (>= C[0] 0.0) (<= C[1] 1.0) (>= C[1] 0.0)))
"""


def test_query_concatenates_inputs_and_observed_variables_in_declaration_order() -> None:
    query = parse_query(MULTI + "(assert (<= (- B[0] H[2]) D[0]))\n", source="q.vnnlib")
    f, g, k = query.networks
    assert (f.hidden[0].onnx_name, g.isomorphic_to, k.equal_to, f.equal_to) == ("layer/out", "f", "f", None)
    assert not query.passthrough and not query.is_single
    prop = query.prop
    assert (prop.input.size, prop.output.size) == (6, 6)  # inputs X, A, C; observed H, Y, B, D
    (case,) = prop.cases
    assert case.region.box.lower.tolist() == [0.0] * 6 and case.region.box.upper.tolist() == [1.0] * 6
    (clause,) = case.condition.clauses
    assert clause.A.tolist() == [[0.0, 0.0, -1.0, 0.0, 1.0, -1.0]] and clause.b.tolist() == [0.0]
    x, y = np.arange(6.0), 10 + np.arange(6.0)
    assignment = query.assignment(x, y)
    assert [(v.name, values.tolist()) for v, values in assignment] == [
        ("X", [0.0, 1.0]),
        ("H", [10.0, 11.0, 12.0]),
        ("Y", [13.0]),
        ("A", [2.0, 3.0]),
        ("B", [14.0]),
        ("C", [4.0, 5.0]),
        ("D", [15.0]),
    ]
    assert [v.name for v in query.variables()] == [v.name for v, _ in assignment]


def test_comparison_of_inputs_and_outputs_reads_the_inputs_after_the_observed_ones() -> None:
    text = HEADER + BOX + "(assert (<= (+ X[1,0] Y[0,2]) (* 2.0 X[0,1])))\n"
    query = parse_query(text)
    assert query.passthrough and not query.is_single
    assert (query.prop.input.size, query.prop.output.size) == (4, 3 + 4)
    (case,) = query.prop.cases
    (clause,) = case.condition.clauses
    assert clause.A.tolist() == [[0.0, 0.0, 1.0, 0.0, -2.0, 1.0, 0.0]]
    assert parse_query(HEADER + BOX).is_single and parse_query(HEADER + BOX).prop == parse_vnnlib2(HEADER + BOX)


def test_inputs_asserted_equal_share_one_place() -> None:
    text = MULTI + "(assert (== X[1] A[0]))\n(assert (and (<= A[1] C[1]) (>= A[1] C[1])))\n"
    text += "(assert (or (<= X[0] A[1]) (>= X[0] C[0])))\n(assert (<= (+ X[0] D[0]) 3.0))\n"
    query = parse_query(text)
    assert query.input_index == (0, 1, 1, 2, 3, 2) and not query.is_single
    assert query.prop.input.size == 4 and query.prop.output.size == 6 + 4  # H, Y, B, D; X[0] + D[0]: inputs too
    first, second = query.prop.cases  # the disjunction stays: it is not an equality
    assert first.region.constraints.A.tolist() == [[1.0, 0.0, -1.0, 0.0]]
    assert second.region.constraints.A.tolist() == [[-1.0, 0.0, 0.0, 1.0]]
    assert first.condition.clauses[0].A.tolist() == [[0.0] * 5 + [1.0, 1.0] + [0.0] * 3]
    x = np.array([1.0, 2.0, 3.0, 4.0])
    assert [values.tolist() for v, values in query.assignment(x, np.zeros(10)) if v.name in "XAC"] == [
        [1.0, 2.0],
        [2.0, 3.0],
        [4.0, 3.0],
    ]
    conditional = parse_query(MULTI + "(assert (or (== X[1] A[0]) (<= X[0] 0.5)))\n")
    assert conditional.input_index == tuple(range(6)), "only unconditional equalities merge"
    assert parse_vnnlib2(HEADER + BOX + "(assert (== X[0,0] X[0,1]))\n").input.size == 4


# -- polynomial comparisons (POLY) ------------------------------------------------------------


def test_products_of_outputs_become_polynomial_rows_of_the_clause() -> None:
    text = HEADER + BOX + "(assert (or (>= (- (* Y[0,0] Y[0,0]) Y[0,2]) 0.5) (<= Y[0,1] 0.0)))\n"
    (case,) = parse_vnnlib2(text).cases
    polynomial, linear = case.condition.clauses
    assert polynomial.A.shape == (0, 3) and polynomial.polynomial is not None
    assert polynomial.polynomial.rows == (PolynomialRow((((2,), 1.0), ((0, 0), -1.0)), -0.5, False),)
    assert linear.polynomial is None and linear.A.tolist() == [[0.0, 1.0, 0.0]]
    assert polynomial.holds([1.0, 7.0, 0.25]) and not polynomial.holds([0.5, 7.0, 0.0])


def test_products_are_multiplied_out() -> None:
    # 3 (Y0 + 1)(Y1 - Y0) = 3 Y0 Y1 - 3 Y0^2 + 3 Y1 - 3 Y0
    text = HEADER + BOX + "(assert (== (* 3.0 (+ Y[0,0] 1.0) (- Y[0,1] Y[0,0])) 2.0))\n"
    (case,) = parse_vnnlib2(text).cases
    (clause,) = case.condition.clauses
    assert clause.polynomial is not None
    below, above = clause.polynomial.rows
    assert below == PolynomialRow((((0,), -3.0), ((1,), 3.0), ((0, 0), -3.0), ((0, 1), 3.0)), 2.0, False)
    assert above.terms == tuple((m, -c) for m, c in below.terms) and above.bound == -2.0


def test_a_zero_coefficient_keeps_the_product() -> None:
    (case,) = parse_vnnlib2(HEADER + BOX + "(assert (< (* 0.0 Y[0,0] Y[0,1]) 1.0))\n").cases
    (clause,) = case.condition.clauses
    assert clause.polynomial is not None and clause.polynomial.rows == (PolynomialRow((((0, 1), 0.0),), 1.0, True),)


def test_products_with_inputs_read_the_passthrough_copy() -> None:
    """X[0,1] * Y[0,0] and X[0,0]^2 relate or multiply inputs: both are output constraints
    over the input vector's copy after the outputs (Y is 3 values, then X's 4)."""
    text = HEADER + BOX + "(assert (<= (* X[0,1] Y[0,0]) 1.0))\n(assert (>= (* X[0,0] X[0,0]) 0.25))\n"
    query = parse_query(text)
    assert query.passthrough and query.prop.output.size == 3 + 4
    (case,) = query.prop.cases
    (clause,) = case.condition.clauses
    assert clause.polynomial is not None
    assert clause.polynomial.rows == (
        PolynomialRow((((0, 4), 1.0),), 1.0, False),
        PolynomialRow((((3, 3), -1.0),), -0.25, False),
    )
    assert len(case.region.constraints) == 0  # the input region stays a box


def test_products_of_inputs_asserted_equal_use_the_shared_input() -> None:
    text = MULTI + "(assert (== X[0] A[0]))\n(assert (>= (* X[0] A[0]) (+ Y[0] 0.5)))\n"
    query = parse_query(text)
    assert query.input_index == (0, 1, 0, 2, 3, 4)  # A[0] is X[0]
    (case,) = query.prop.cases
    (clause,) = case.condition.clauses
    assert clause.polynomial is not None
    (row,) = clause.polynomial.rows
    assert row == PolynomialRow((((3,), 1.0), ((6, 6), -1.0)), -0.5, False)  # Y[0] - X[0]^2 <= -0.5


def test_expansion_beyond_the_term_limit_is_an_error() -> None:
    header = "(vnnlib-version <2.0>)\n(declare-network n (declare-input X real [1]) (declare-output Y real [10]))\n"
    total = "(+ " + " ".join(f"Y[{i}]" for i in range(10)) + " 1.0)"
    text = header + "(assert (and (>= X[0] 0.0) (<= X[0] 1.0)))\n" + f"(assert (<= (* {(total + ' ') * 8}) 1.0))\n"
    with pytest.raises(SpecError, match="more than 100000 term products") as caught:
        parse_vnnlib2(text, source="q.vnnlib")
    assert (caught.value.line, caught.value.token) == (4, "*")


def test_an_input_without_bounds_is_read_when_a_linear_constraint_uses_it() -> None:
    text = (
        "(vnnlib-version <2.0>)\n(declare-network f (declare-input X real [2]) (declare-output Y real [1]))\n"
        "(assert (and (>= X[0] 0.0) (>= X[1] 0.0) (<= (+ X[0] X[1]) 1.0)))\n(assert (>= Y[0] 1.0))\n"
    )
    box = parse_vnnlib2(text).cases[0].region.box
    assert box.lower.tolist() == [0.0, 0.0]
    assert box.upper.tolist() == [np.inf, np.inf]
