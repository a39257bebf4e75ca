"""Fuzzing the VNN-LIB readers: mutated 1.0 and 2.0 text gives a `Property` or a `SpecError`,
never another exception (and never a hang: the readers are linear in the text)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from specs import (
    Property,
    Query,
    SpecError,
    local_robustness,
    parse_query,
    parse_vnnlib1,
    parse_vnnlib2,
    write_vnnlib1,
    write_vnnlib2,
)

V1_SEED = """; a comment
(declare-const X_0 Real)
(declare-const X_1 Real)
(declare-const Y_0 Real)
(declare-const Y_1 Real)
(assert (>= X_0 -1))
(assert (<= X_0 1.5e0))
(assert (and (>= X_1 0) (<= X_1 .5)))
(assert (or (and (>= Y_0 Y_1) (<= (+ Y_0 (* -2 Y_1)) 3)) (and (< (- Y_1) 0.25) (= X_0 X_0))))
"""
V2_SEED = """(vnnlib-version <2.0>)
(declare-network f
    (declare-input X real [1,2])
    (declare-output Y float32 [1,2])
)
(assert (and (>= X[0,0] -1.0) (<= X[0,0] 1.0) (>= X[0,1] 0.0) (<= X[0,1] 0.5)))
(assert (or (and (>= Y[0,0] Y[0,1]) (<= (+ Y[0,0] (* -2.0 Y[0,1])) 3.0)) (> (- Y[0,1]) 0.25)))
"""
V2_MULTI_SEED = """(vnnlib-version <2.0>)
(declare-network f (declare-input X real [2]) (declare-hidden H real [3] "h") (declare-output Y real [1]))
(declare-network g (equal-to f) (declare-input A real [2]) (declare-output B real [1]))
(declare-network k (isomorphic-to f) (declare-input C real [2]) (declare-output D real [1]))
(assert (and (>= X[0] -1.0) (<= X[0] 1.0) (>= X[1] 0.0) (<= X[1] 0.5) (== A[0] X[0]) (== A[1] X[1])))
(assert (and (>= C[0] -1.0) (<= C[0] 1.0) (>= C[1] 0.0) (<= C[1] 0.5)))
(assert (or (>= (- Y[0] B[0]) X[1]) (<= (+ H[2] D[0]) C[0])))
"""
V2_POLY_SEED = """(vnnlib-version <2.0>)
(declare-network f (declare-input X real [2]) (declare-output Y real [2]))
(assert (and (>= X[0] -1.0) (<= X[0] 1.0) (>= X[1] 0.0) (<= X[1] 0.5)))
(assert (or (>= (* Y[0] Y[0]) (+ Y[1] 0.5)) (<= (* 2.0 X[0] (- Y[1] X[1])) 0.25) (< (* X[1] X[1] X[0]) 0.0)))
"""
_ROBUST = local_robustness(np.array([0.1, 0.2, 0.3]), 0.05, label=1, num_classes=3)
SEEDS = (V1_SEED, V2_SEED, V2_MULTI_SEED, V2_POLY_SEED, write_vnnlib1(_ROBUST), write_vnnlib2(_ROBUST))

TOKENS = (
    "(", ")", " ", "\n", ";", "assert", "and", "or", "not", "declare-const", "declare-input", "declare-output",
    "declare-network", "declare-hidden", "vnnlib-version", "<2.0>", "Real", "real", "float32", "int8", "X_0", "X_7",
    "Y_1", "X[0,0]", "X[0,9]", "Y[1]", "X", "<=", ">=", "<", ">", "=", "==", "!=", "+", "-", "*", "/", "^", "0", "-1",
    "1e309", "1e-400", "nan", "inf", "1.", ".5", "[1,2]", "[]", "[0]", "\x00", "é", "\ufeff", "((((((((((",
)  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn) -> str:
    """A seed text with a few random edits: token insertions, deletions, replacements, cuts."""
    text = draw(st.sampled_from(SEEDS))
    for _ in range(draw(st.integers(1, 6))):
        start = draw(st.integers(0, len(text)))
        end = draw(st.integers(start, min(len(text), start + 20)))
        edit = draw(st.sampled_from(["insert", "delete", "replace", "cut", "random"]))
        if edit == "insert":
            text = text[:start] + draw(st.sampled_from(TOKENS)) + text[start:]
        elif edit == "delete":
            text = text[:start] + text[end:]
        elif edit == "replace":
            text = text[:start] + draw(st.sampled_from(TOKENS)) + text[end:]
        elif edit == "cut":
            text = text[:start]
        else:
            text = text[:start] + draw(st.text(max_size=8)) + text[end:]
    return text


_FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_FUZZ
@given(mutated())
def test_mutated_text_to_the_1_0_reader(text: str) -> None:
    try:
        assert isinstance(parse_vnnlib1(text, source="fuzz.vnnlib"), Property)
    except SpecError as error:
        assert str(error).startswith("fuzz.vnnlib")


@_FUZZ
@given(mutated())
def test_mutated_text_to_the_2_0_reader(text: str) -> None:
    try:
        assert isinstance(parse_vnnlib2(text, source="fuzz.vnnlib"), Property)
    except SpecError as error:
        assert str(error).startswith("fuzz.vnnlib")


@_FUZZ
@given(mutated())
def test_mutated_text_to_the_2_0_query_reader(text: str) -> None:
    try:
        assert isinstance(parse_query(text, source="fuzz.vnnlib"), Query)
    except SpecError as error:
        assert str(error).startswith("fuzz.vnnlib")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_arbitrary_text_to_both_readers(text: str) -> None:
    for parse in (parse_vnnlib1, parse_vnnlib2, parse_query):
        try:
            assert isinstance(parse(text, source="fuzz.vnnlib"), (Property, Query))
        except SpecError as error:
            assert str(error).startswith("fuzz.vnnlib")
