"""The VNN-LIB 1.0 reader: accepted syntax, normalisation into cases, and located errors."""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from specs import _normal
from specs.errors import SpecError
from specs.property import LinearConstraints, Property
from specs.vnnlib1 import parse_vnnlib1, read_vnnlib1


def declare(n_in: int, n_out: int) -> str:
    names = [f"X_{i}" for i in range(n_in)] + [f"Y_{i}" for i in range(n_out)]
    return "".join(f"(declare-const {name} Real)\n" for name in names)


def bounds(*ranges: tuple[float, float]) -> str:
    return "".join(f"(assert (>= X_{i} {lo}))\n(assert (<= X_{i} {hi}))\n" for i, (lo, hi) in enumerate(ranges))


def rows(clause: LinearConstraints) -> list[tuple[list[float], float, bool]]:
    return [(a.tolist(), float(b), bool(s)) for a, b, s in zip(clause.A, clause.b, clause.strict, strict=True)]


def test_reads_vnncomp_style_property() -> None:
    text = (
        "; a comment (with parentheses\n"
        + declare(2, 3)
        + bounds((0.0, 1.0), (-0.5, 0.5))
        + "(assert (or\n  (and (>= Y_0 Y_2))\n  (and (<= Y_1 -1.5e-1) (> Y_2 3))))\n"
    )
    prop = parse_vnnlib1(text, source="p.vnnlib")
    assert prop.input.name == "X" and prop.input.element_type == "real" and prop.input.shape == (2,)
    assert prop.output.shape == (3,) and prop.network is None and prop.source == "p.vnnlib"
    (case,) = prop.cases
    assert case.region.box.lower.tolist() == [0.0, -0.5]
    assert case.region.box.upper.tolist() == [1.0, 0.5]
    assert len(case.region.constraints) == 0
    first, second = case.condition.clauses
    assert rows(first) == [([-1.0, 0.0, 1.0], 0.0, False)]
    assert rows(second) == [([0.0, 1.0, 0.0], -0.15, False), ([0.0, 0.0, -1.0], -3.0, True)]


@pytest.mark.parametrize(
    ("term", "coeffs", "bound"),
    [
        ("(+ Y_0 Y_1 2)", [1.0, 1.0], -2.0),
        ("(- Y_0)", [-1.0, 0.0], 0.0),
        ("(- Y_0 Y_1 0.5)", [1.0, -1.0], 0.5),
        ("(* 2 Y_1)", [0.0, 2.0], 0.0),
        ("(* Y_0 -2.5 2)", [-5.0, 0.0], 0.0),
        ("(* 3 (+ Y_0 (- Y_1 1)))", [3.0, 3.0], 3.0),
        ("(+ Y_0 Y_0 (- Y_1 Y_1))", [2.0, 0.0], 0.0),
    ],
)
def test_linear_terms(term: str, coeffs: list[float], bound: float) -> None:
    prop = parse_vnnlib1(declare(1, 2) + bounds((0, 1)) + f"(assert (<= {term} 0))")
    (clause,) = prop.cases[0].condition.clauses
    assert rows(clause) == [(coeffs, bound, False)]


@pytest.mark.parametrize("zero", ["0", "0e-400", "-0.000e999", ".0"])
def test_zero_written_any_way_is_zero_and_tiny_numbers_are_kept(zero: str) -> None:
    prop = parse_vnnlib1(declare(1, 1) + bounds((0, 1)) + f"(assert (<= Y_0 {zero}))(assert (>= Y_0 -2.5e-310))")
    (clause,) = prop.cases[0].condition.clauses  # a subnormal is the nearest double too
    assert sorted(rows(clause)) == [([-1.0], 2.5e-310, False), ([1.0], 0.0, False)]


def test_constant_comparisons_are_decided_at_parse_time() -> None:
    true = parse_vnnlib1(declare(1, 1) + bounds((0, 1)) + "(assert (<= 1 2))")
    assert [len(c) for c in true.cases[0].condition.clauses] == [0]
    false = parse_vnnlib1(declare(1, 1) + bounds((0, 1)) + "(assert (< 2 2))")
    assert false.cases[0].condition.clauses == ()


def test_equality_and_chains() -> None:
    prop = parse_vnnlib1(declare(2, 1) + "(assert (= X_0 0.25))(assert (<= -1 X_1 1))(assert (= Y_0 2))")
    (case,) = prop.cases
    assert case.region.box.lower.tolist() == [0.25, -1.0]
    assert case.region.box.upper.tolist() == [0.25, 1.0]
    assert rows(case.condition.clauses[0]) == [([1.0], 2.0, False), ([-1.0], -2.0, False)]


def test_input_rows_that_are_not_unit_bounds_stay_constraints() -> None:
    text = declare(2, 1) + bounds((0, 1), (0, 1))
    text += "(assert (< X_0 0.5))(assert (<= (+ X_0 X_1) 1))(assert (>= (* 2 X_1) 0.5))(assert (<= Y_0 0))"
    region = parse_vnnlib1(text).cases[0].region
    assert region.box.upper.tolist() == [0.5, 1.0]  # the strict bound also tightens the box
    assert rows(region.constraints) == [([1.0, 0.0], 0.5, True), ([1.0, 1.0], 1.0, False), ([0.0, -2.0], -0.5, False)]


def test_bounds_tighten() -> None:
    text = declare(1, 1) + "(assert (<= X_0 3))(assert (<= X_0 2))(assert (>= X_0 -1))(assert (>= (- X_0) -5))"
    box = parse_vnnlib1(text).cases[0].region.box
    assert box.lower.tolist() == [-1.0] and box.upper.tolist() == [2.0]


def test_input_disjunction_gives_one_case_per_region_with_all_clauses() -> None:
    text = declare(1, 2)
    text += "(assert (or (and (>= X_0 0) (<= X_0 1)) (and (>= X_0 2) (<= X_0 3))))"
    text += "(assert (or (<= Y_0 0) (<= Y_1 0) (<= Y_0 Y_1)))"
    prop = parse_vnnlib1(text)
    assert [c.region.box.lower.tolist() for c in prop.cases] == [[0.0], [2.0]]
    assert [len(c.condition.clauses) for c in prop.cases] == [3, 3]


def test_mixed_disjunction_pairs_regions_with_their_own_clauses() -> None:
    text = declare(1, 1)
    text += "(assert (or (and (>= X_0 0) (<= X_0 1) (<= Y_0 0)) (and (>= X_0 2) (<= X_0 3) (>= Y_0 5))))"
    prop = parse_vnnlib1(text)
    assert [rows(c) for case in prop.cases for c in case.condition.clauses] == [
        [([1.0], 0.0, False)],
        [([-1.0], -5.0, False)],
    ]


def test_equal_regions_written_differently_are_one_case() -> None:
    text = declare(1, 1)
    text += "(assert (or (and (<= X_0 1) (>= X_0 0) (<= Y_0 0)) (and (>= X_0 0) (<= X_0 1) (<= Y_0 1))))"
    (case,) = parse_vnnlib1(text).cases
    assert len(case.condition.clauses) == 2


def test_no_output_assertion_is_one_trivially_true_clause() -> None:
    (case,) = parse_vnnlib1(declare(1, 1) + bounds((0, 1))).cases
    assert len(case.condition.clauses) == 1 and len(case.condition.clauses[0]) == 0
    assert case.condition.holds([123.0])


def test_empty_connectives() -> None:
    (case,) = parse_vnnlib1(declare(1, 1) + bounds((0, 1)) + "(assert (and))(assert (or))").cases
    assert case.condition.clauses == ()


def test_dnf_size_is_capped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_normal, "MAX_CLAUSES", 8)
    text = declare(1, 2) + bounds((0, 1)) + "(assert (or (<= Y_0 0) (<= Y_1 0)))" * 4
    with pytest.raises(SpecError, match="exceeds 8 clauses"):
        parse_vnnlib1(text)


def test_read_vnnlib1_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "p.vnnlib"
    path.write_text(declare(1, 1) + bounds((0, 1)) + "(assert (<= Y_0 X_7))")
    with pytest.raises(SpecError) as caught:
        read_vnnlib1(path)
    assert (caught.value.file, caught.value.line, caught.value.column) == (str(path), 5, 17)
    path.write_text(declare(1, 1) + bounds((0, 1)))
    assert read_vnnlib1(path).source == str(path)


@pytest.mark.parametrize(
    ("text", "message", "line", "column", "token"),
    [
        ("(declare-const X_0 Real)\n(assert (<= X_1 1))", "used before it is declared", 2, 13, "X_1"),
        ("(declare-const X_0 Real))", "unbalanced ')'", 1, 25, ")"),
        ("(declare-const X_0 Real)\n(assert (<= X_0 1)", "never closed", 2, 1, "("),
        ("(declare-const X_0 Real)\n(assert (<= X_0 1.2.3))", "number or a variable", 2, 17, "1.2.3"),
        ("(declare-const X_0 Real)\n(assert (<= X_0 inf))", "number or a variable", 2, 17, "inf"),
        ("(declare-const X_0 Int)", "only Real", 1, 20, "Int"),
        ("(declare-const Z_0 Real)", "X_<index> or Y_<index>", 1, 16, "Z_0"),
        ("(declare-const X_01 Real)", "X_<index> or Y_<index>", 1, 16, "X_01"),
        ("(declare-const X_0)", "expected (declare-const NAME Real)", 1, 2, "declare-const"),
        ("(declare-const X_0 Real)\n(declare-const X_0 Real)", "declared twice", 2, 16, "X_0"),
        ("(declare-const X_0 Real)(declare-const X_2 Real)(declare-const Y_0 Real)", "X_1 is not", 1, 40, "X_2"),
        ("(declare-const X_0 Real)(declare-const Y_0 Real)\n(assert (<= X_0 1))", "no lower bound", 1, 16, "X_0"),
        (
            "(declare-const X_0 Real)(declare-const Y_0 Real)\n(assert (<= X_0 Y_0))",
            "mixes input and output",
            2,
            10,
            "<=",
        ),
        ("(declare-const Y_0 Real)\n(assert (<= (* Y_0 Y_0) 1))", "not linear", 2, 14, "*"),
        ("(declare-const Y_0 Real)\n(assert (<= (/ Y_0 2) 1))", "unsupported arithmetic", 2, 14, "/"),
        ("(declare-const Y_0 Real)\n(assert (<= (-) 1))", "needs arguments", 2, 14, "-"),
        ("(declare-const Y_0 Real)\n(assert (<= 1e999 Y_0))", "not a finite double", 2, 10, "<="),
        ("(declare-const Y_0 Real)\n(assert (<= Y_0 -1e-400))", "underflows to zero", 2, 17, "-1e-400"),
        ("(declare-const Y_0 Real)\n(check-sat)", "unsupported command 'check-sat'", 2, 2, "check-sat"),
        ("(declare-const Y_0 Real)\n(assert (not (<= Y_0 1)))", "unsupported connective", 2, 10, "not"),
        ("(declare-const Y_0 Real)\n(assert (<= Y_0))", "at least two arguments", 2, 10, "<="),
        ("(declare-const Y_0 Real)\n(assert)", "exactly one formula", 2, 2, "assert"),
        ("(declare-const Y_0 Real)\n(assert Y_0)", "expected a formula", 2, 9, "Y_0"),
        ("(declare-const Y_0 Real)\n(assert ((<= Y_0 1)))", "starting with an operator", 2, 9, "("),
        ("(declare-const Y_0 Real)\nassert", "expected a command", 2, 1, "assert"),
    ],
)
def test_errors_are_located(text: str, message: str, line: int, column: int, token: str) -> None:
    with pytest.raises(SpecError, match=re.escape(message)) as caught:
        parse_vnnlib1(text, source="bad.vnnlib")
    error = caught.value
    assert (error.file, error.line, error.column, error.token) == ("bad.vnnlib", line, column, token)


def test_missing_outputs_is_an_error() -> None:
    with pytest.raises(SpecError, match="no Y_<index> variable"):
        parse_vnnlib1("(declare-const X_0 Real)(assert (<= 0 X_0 1))")


def test_deep_nesting_is_an_error_not_a_crash() -> None:
    text = "(declare-const Y_0 Real)\n(assert (<= " + "(+ " * 5000 + "Y_0" + ")" * 5000 + " 1))"
    with pytest.raises(SpecError, match="nested too deeply") as caught:
        parse_vnnlib1(text)
    assert (caught.value.line, caught.value.token) == (2, "assert")


# Normalisation agrees with evaluating the formula directly, at exact grid points.

Formula = tuple[Any, ...]  # ("and" | "or", [Formula...]) or ("atom", side, coeffs, op, bound)


def formulas(depth: int) -> st.SearchStrategy[Formula]:
    atoms = st.tuples(
        st.just("atom"),
        st.sampled_from("XY"),
        st.lists(st.integers(-2, 2), min_size=2, max_size=2),
        st.sampled_from(["<=", "<", ">=", ">", "="]),
        st.integers(-2, 2),
    )
    if depth == 0:
        return atoms
    return st.one_of(
        atoms, st.tuples(st.sampled_from(["and", "or"]), st.lists(formulas(depth - 1), min_size=0, max_size=3))
    )


def render(formula: Formula) -> str:
    if formula[0] == "atom":
        _, side, coeffs, op, bound = formula
        terms = " ".join(f"(* {c} {side}_{i})" for i, c in enumerate(coeffs))
        return f"({op} (+ {terms}) {bound})"
    return f"({formula[0]} {' '.join(render(f) for f in formula[1])})"


def holds(formula: Formula, x: tuple[int, ...], y: tuple[int, ...]) -> bool:
    if formula[0] == "and":
        return all(holds(f, x, y) for f in formula[1])
    if formula[0] == "or":
        return any(holds(f, x, y) for f in formula[1])
    _, side, coeffs, op, bound = formula
    value = sum(c * v for c, v in zip(coeffs, x if side == "X" else y, strict=True))
    return {"<=": value <= bound, "<": value < bound, ">=": value >= bound, ">": value > bound, "=": value == bound}[op]


@settings(max_examples=150, deadline=None)
@given(st.lists(formulas(3), min_size=1, max_size=3))
def test_normalisation_preserves_meaning(assertions: list[Formula]) -> None:
    text = declare(2, 2) + bounds((-2, 2), (-2, 2)) + "".join(f"(assert {render(f)})\n" for f in assertions)
    prop: Property = parse_vnnlib1(text)
    grid = list(itertools.product(range(-3, 4), repeat=2))
    for x in grid[::3]:
        for y in grid[::2]:
            expected = all(-2 <= v <= 2 for v in x) and all(holds(f, x, y) for f in assertions)
            assert prop.is_violated_by(np.array(x, float), np.array(y, float)) == expected, (x, y)


def test_an_input_without_bounds_is_read_when_a_linear_constraint_uses_it() -> None:
    """x0, x1 >= 0 with x0 + x1 <= 1: the rows bound both inputs (the verifier finds that out
    when it cuts the box down); x2, which no row uses, must have its own bounds."""
    header = "(declare-const X_0 Real)(declare-const X_1 Real)(declare-const Y_0 Real)\n"
    rows = "(assert (>= X_0 0))(assert (>= X_1 0))(assert (<= (+ X_0 X_1) 1))(assert (>= Y_0 1))"
    region = parse_vnnlib1(header + rows).cases[0].region
    assert region.box.lower.tolist() == [0.0, 0.0]
    assert region.box.upper.tolist() == [np.inf, np.inf]
    assert region.constraints.A.tolist() == [[1.0, 1.0]]
    with pytest.raises(SpecError, match="X_2 has no upper bound, and no linear constraint uses it"):
        parse_vnnlib1(
            header.replace("(declare-const Y_0", "(declare-const X_2 Real)(declare-const Y_0")
            + rows
            + "(assert (>= X_2 0))"
        )
