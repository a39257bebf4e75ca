"""Reader for VNN-LIB 2.0 queries, through the standard's reference parser (PyPI ``vnnlib``).

The package parses and type-checks; this module walks its typed AST into a `Query` (any
number of networks, inputs, outputs, hidden nodes, comparisons relating any of them; see
`specs.query`) or, for one network with one input and one output, a `Property`, with the
same normalisation as the 1.0 reader (see `specs._normal`). Supported: comparisons
(``<= < >= > ==``) of polynomials (products multiplied out; ``-``, ``+``, ``*`` are the
grammar's only operators) under ``and`` / ``or``, and floating-point or ``real`` element
types. A polynomial comparison involving inputs is an output constraint over the query's
passthrough copy of the inputs, so a `Property` of one network refuses it.
Indexed variables ``X[i,j]`` are flattened row-major. The package names the
``isomorphic-to`` target in ``Network.isometric_to`` and keeps the quotes around a hidden
node's ONNX name.

The package reports syntax errors as ``Parse error: syntax error at line L, column C: 'T'``
(C 0-based) and type errors as a JSON report with line and offending symbol but no column;
both become a SpecError, the column recovered from the text where unambiguous.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Callable, Sequence
from typing import Final

import numpy as np
import vnnlib

from specs import _normal
from specs._equalities import merge_equal_inputs
from specs._normal import Dnf, Operator, Polynomial
from specs._source import column_on_line, position, read_text
from specs.errors import SpecError
from specs.property import Property, Variable
from specs.query import Hidden, Network, Query

ELEMENT_TYPES: Final[dict[str, str]] = {
    "Real": "real",
    "F16": "float16",
    "F32": "float32",
    "F64": "float64",
    "BF16": "bfloat16",
    "F8E4M3FN": "float8e4m3fn",
    "F8E5M2": "float8e5m2",
    "F8E4M3FNUZ": "float8e4m3fnuz",
    "F8E5M2FNUZ": "float8e5m2fnuz",
    "F4E2M1": "float4e2m1",
}
"""Supported element types: the package's DType name -> the name a query declares."""

_AS_QUERY: Final = " (decide it as a query, with `nnverify verify`)"
"""Where a query a `Property` cannot hold is decided."""

_COMPARISONS: Final[tuple[tuple[type[vnnlib.Comparison], Operator, str], ...]] = (
    (vnnlib.LessEqual, "<=", "<="),
    (vnnlib.LessThan, "<", "<"),
    (vnnlib.GreaterEqual, ">=", ">="),
    (vnnlib.GreaterThan, ">", ">"),
    (vnnlib.Equal, "=", "=="),
)
_SYNTAX_ERROR: Final = re.compile(r"Parse error: syntax error at line (\d+), column (\d+): '(.*)'")
_OTHER_ARITHMETIC: Final = frozenset({"/", "^", "**", "pow", "expt", "exp", "div", "mod", "sqrt", "abs", "min", "max"})
"""Operators queries try that the grammar lacks: its arithmetic is ``-``, ``+`` and ``*``."""
_COMMENT: Final = re.compile(r";[^\n]*")
_DECIMAL: Final = re.compile(r"\d+\.\d+")


def read_vnnlib2(path: str | os.PathLike[str]) -> Property:
    """Read a VNN-LIB 2.0 query file."""
    return parse_vnnlib2(read_text(path), source=str(path))


def read_query(path: str | os.PathLike[str]) -> Query:
    """Read a VNN-LIB 2.0 query file over any number of networks (see `specs.query`)."""
    return parse_query(read_text(path), source=str(path))


def parse_query(text: str, source: str | None = None) -> Query:
    """Parse VNN-LIB 2.0 text over any number of networks, inputs, outputs and hidden nodes."""
    return _Reader(text, source).read_query(_parse_package(text, source))


def parse_vnnlib2(text: str, source: str | None = None) -> Property:
    """Parse VNN-LIB 2.0 text over one network with one input and one output; ``source``
    names it in errors and in `Property.source`."""
    return _Reader(text, source).read(_parse_package(text, source))


def _parse_package(text: str, source: str | None) -> vnnlib.Query:
    """The reference parser's typed AST, its errors as SpecError."""
    _check_nesting(text, source)
    try:
        query = vnnlib.parse_query_string(text)
    except vnnlib.VNNLibException as error:
        raise _package_error(str(error), text, source) from None
    except IndexError:  # std::out_of_range from the package's stod
        raise _number_error(text, source) from None
    except UnicodeDecodeError:  # the package echoed part of a non-ASCII token
        code = _blank_comments(text)
        offset = next((i for i, c in enumerate(code) if not c.isascii()), 0)
        line, column = position(text, offset)
        raise SpecError("non-ASCII character", file=source, line=line, column=column, token=text[offset]) from None
    return query


class _Reader:
    """Checks the declarations are in scope, then normalises the assertions."""

    def __init__(self, text: str, source: str | None) -> None:
        self._text = text
        self._code = _blank_comments(text)
        self._source = source
        self._variables: dict[str, tuple[bool, int, tuple[int, ...]]] = {}
        """name -> (is in the output vector, offset there, shape)"""
        self._n_inputs = 0
        self._n_observed = 0
        self._passthrough = False
        self._mixing = True  # whether a comparison may relate inputs to other variables

    def read(self, query: vnnlib.Query) -> Property:
        """The property of a query over one network with one input and one output."""
        if len(query.networks) != 1:
            raise self._unsupported(
                f"{len(query.networks)} networks are declared; a single-network property takes one{_AS_QUERY}",
                "declare-network",
                query.networks[1].name,
            )
        network = query.networks[0]
        if network.hidden:
            raise self._unsupported(
                f"hidden nodes are declared; a single-network property has none{_AS_QUERY}",
                "declare-hidden",
                network.hidden[0].name,
            )
        if len(network.inputs) != 1 or len(network.outputs) != 1:
            kind, extra = (
                ("input", network.inputs[1].name) if len(network.inputs) != 1 else ("output", network.outputs[1].name)
            )
            raise self._unsupported(
                f"several {kind}s are declared; a single-network property takes one{_AS_QUERY}",
                f"declare-{kind}",
                extra,
            )
        self._mixing = False
        return self.read_query(query).prop

    def read_query(self, query: vnnlib.Query) -> Query:
        names = [network.name for network in query.networks]
        twice = next((name for i, name in enumerate(names) if name in names[:i]), None)
        if twice is not None:
            declarations = list(re.finditer(rf"\(\s*declare-network\s+({re.escape(twice)})\b", self._code))
            line, column = position(self._text, declarations[-1].start(1)) if declarations else (None, None)
            message = f"network {twice} is declared twice"
            raise SpecError(message, file=self._source, line=line, column=column, token=twice)
        networks = tuple(self._network(network) for network in query.networks)
        try:
            dnf = _normal.conjoin((self._formula(a.expr) for a in query.assertions), self._error)
        except RecursionError:
            raise self._error("formula is nested too deeply") from None
        inputs = [v for n in networks for v in n.inputs]
        index = tuple(range(self._n_inputs))
        if self._mixing:  # a Property of one network keeps its declared input as it is
            dnf, index = merge_equal_inputs(dnf, self._n_inputs, self._n_observed)
        n_flat = max(index, default=-1) + 1

        def unbounded(flat: int, side: str) -> SpecError:
            at = index.index(flat)
            for variable in inputs:
                if at < variable.size:
                    return self._unsupported(
                        f"input {_element(variable.name, variable.shape, at)} has no {side} bound, "
                        "and no linear constraint uses it",
                        "declare-input",
                        variable.name,
                    )
                at -= variable.size
            raise AssertionError("input index beyond the declared inputs")

        n_outputs = self._n_observed + (n_flat if self._passthrough else 0)
        cases = _normal.build_cases(dnf, n_flat, n_outputs, unbounded)
        network = networks[0].name if len(networks) == 1 else None
        single = len(networks) == 1 and not networks[0].hidden and len(inputs) == len(networks[0].outputs) == 1
        if single and not self._passthrough and n_flat == self._n_inputs:
            flat_in, flat_out = inputs[0], networks[0].outputs[0]
        else:
            types = {v.element_type for n in networks for v in (*n.inputs, *n.observed)}
            common = types.pop() if len(types) == 1 else "real"
            flat_in = Variable("inputs", common, (n_flat,))
            flat_out = Variable("observed", common, (n_outputs,))
        prop = Property(flat_in, flat_out, cases, network=network, source=self._source)
        return Query(networks, prop, self._passthrough, index, source=self._source)

    def _network(self, network: vnnlib.Network) -> Network:
        inputs = tuple(self._declare(d, False) for d in network.inputs)
        hidden = tuple(Hidden(self._declare(d, True), (d.onnx_name or "").strip('"')) for d in network.hidden)
        outputs = tuple(self._declare(d, True) for d in network.outputs)
        return Network(network.name, inputs, hidden, outputs, network.equal_to or None, network.isometric_to or None)

    def _declare(
        self,
        declaration: vnnlib.InputDefinition | vnnlib.HiddenDefinition | vnnlib.OutputDefinition,
        is_output: bool,
    ) -> Variable:
        kind = "hidden" if isinstance(declaration, vnnlib.HiddenDefinition) else ("output" if is_output else "input")
        element_type = ELEMENT_TYPES.get(declaration.dtype.name)
        if element_type is None:
            raise self._unsupported(
                f"element type {declaration.dtype.name} is not supported "
                f"(supported: {', '.join(ELEMENT_TYPES.values())})",
                f"declare-{kind}",
                declaration.name,
            )
        variable = Variable(declaration.name, element_type, tuple(declaration.shape))
        if is_output:
            self._variables[declaration.name] = (True, self._n_observed, variable.shape)
            self._n_observed += variable.size
        else:
            self._variables[declaration.name] = (False, self._n_inputs, variable.shape)
            self._n_inputs += variable.size
        return variable

    def _formula(self, expr: vnnlib.BoolExpr) -> Dnf:
        if isinstance(expr, vnnlib.And):
            return _normal.conjoin((self._formula(a) for a in expr.args), self._error_at(expr))
        if isinstance(expr, vnnlib.Or):
            return _normal.disjoin(self._formula(a) for a in expr.args)
        if isinstance(expr, vnnlib.Comparison):
            for kind, operator, symbol in _COMPARISONS:
                if isinstance(expr, kind):
                    lhs, rhs = self._lifted(self._term(expr.lhs), self._term(expr.rhs), self._error_at(expr, symbol))
                    return _normal.compare(operator, lhs, rhs, self._error_at(expr, symbol))
            raise self._error_at(expr, "!=")("'!=' is not supported")
        raise self._error_at(expr)(f"unsupported formula {str(expr).strip()}")

    def _term(self, expr: vnnlib.ArithExpr) -> Polynomial:
        if isinstance(expr, vnnlib.Var):
            is_output, offset, shape = self._variables[expr.name]
            return _normal.variable((is_output, offset + _flat_index(expr.indices, shape)))
        if isinstance(expr, vnnlib.Literal):
            return _normal.constant(float(expr.lexeme))
        if isinstance(expr, vnnlib.Negate):
            return _normal.scale(self._term(expr.expr), -1.0)
        if isinstance(expr, vnnlib.Plus):
            return _normal.add([self._term(a) for a in expr.args])
        if isinstance(expr, vnnlib.Minus):
            rest = (_normal.scale(self._term(a), -1.0) for a in expr.rest)
            return _normal.add([self._term(expr.head), *rest])
        if isinstance(expr, vnnlib.Multiply):
            factors = [self._term(a) for a in expr.args]
            return _normal.expand(factors, self._error_at(expr, "*"))
        raise self._error_at(expr)(f"unsupported arithmetic term {str(expr).strip()}")

    def _lifted(
        self, lhs: Polynomial, rhs: Polynomial, error: Callable[[str], SpecError]
    ) -> tuple[Polynomial, Polynomial]:
        """The two sides of a comparison; when it relates inputs to other variables, or
        multiplies inputs, its inputs are read from the output vector's copy of the input
        vector (``passthrough``), so it is an output constraint."""
        keys = [*lhs.coeffs, *rhs.coeffs, *(k for m in (*lhs.products, *rhs.products) for k in m)]
        sides = {is_output for is_output, _ in keys}
        polynomial = bool(lhs.products or rhs.products)
        if not (len(sides) == 2 or (polynomial and False in sides)) or not self._mixing:
            return lhs, rhs  # nothing to lift, or a one-network Property: _normal.compare refuses those
        self._passthrough = True

        def place(key: tuple[bool, int]) -> tuple[bool, int]:
            out, i = key
            return (True, i if out else self._n_observed + i)

        def lift(term: Polynomial) -> Polynomial:
            coeffs = {place(key): c for key, c in term.coeffs.items()}
            products = {tuple(sorted(place(key) for key in m)): c for m, c in term.products.items()}
            return Polynomial(coeffs, term.constant, products)

        return lift(lhs), lift(rhs)

    def _error_at(self, node: vnnlib.Node, token: str | None = None) -> Callable[[str], SpecError]:
        """Makes errors at the node's line (the package records lines only on leaves) and at
        the column of ``token`` when it occurs exactly once on that line."""

        def error(message: str) -> SpecError:
            line = _line(node)
            shown = token if token is not None else str(node).strip()
            column = column_on_line(self._text, line, shown) if line is not None else None
            return SpecError(message, file=self._source, line=line, column=column, token=shown)

        return error

    def _error(self, message: str) -> SpecError:
        return SpecError(message, file=self._source)

    def _unsupported(self, message: str, keyword: str, name: str) -> SpecError:
        """An error at the ``(keyword name`` declaration that makes the query unsupported."""
        match = re.search(rf"\(\s*{keyword}\s+({re.escape(name)})\b", self._code)
        if match is None:
            return SpecError(message, file=self._source, token=name)
        line, column = position(self._text, match.start(1))
        return SpecError(message, file=self._source, line=line, column=column, token=name)


def _line(node: vnnlib.Node) -> int | None:
    """Line of the first variable or literal in the node (the only nodes the package locates)."""
    if isinstance(node, (vnnlib.Var, vnnlib.Literal)):
        return node.line
    for child in node.children():
        line = _line(child)
        if line is not None:
            return line
    return None


def _flat_index(indices: Sequence[int], shape: tuple[int, ...]) -> int:
    """Row-major position of a fully indexed element (the package checked the indices)."""
    flat = 0
    for index, size in zip(indices, shape, strict=True):
        flat = flat * size + index
    return flat


def _element(name: str, shape: tuple[int, ...], flat: int) -> str:
    """How a query names element ``flat`` of a declared tensor, e.g. ``X[0,2]``."""
    if not shape:
        return name
    return f"{name}[{','.join(str(int(i)) for i in np.unravel_index(flat, shape))}]"


def _package_error(message: str, text: str, source: str | None) -> SpecError:
    """A SpecError from the package's message: a syntax error or a JSON type-check report."""
    syntax = _SYNTAX_ERROR.fullmatch(message.strip())
    if syntax is not None:
        token = syntax[3]
        reason = "syntax error" if token else "syntax error: unexpected end of input"
        if token in _OTHER_ARITHMETIC:
            reason = "syntax error: VNN-LIB 2.0 arithmetic has only -, + and * (polynomials)"
        return SpecError(
            reason,
            file=source,
            line=int(syntax[1]),
            column=int(syntax[2]) + 1,
            token=token or None,
        )
    try:
        report = json.loads(message)
    except ValueError:
        return SpecError(message.strip(), file=source)
    errors = report.get("errors") if isinstance(report, dict) else None
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return SpecError(message.strip(), file=source)
    first = errors[0]
    more = f" (and {len(errors) - 1} more errors)" if len(errors) > 1 else ""
    line = first.get("line") if isinstance(first.get("line"), int) else None
    token = first.get("offendingSymbol") if isinstance(first.get("offendingSymbol"), str) else None
    return SpecError(
        f"{first.get('message', 'error')}: {first.get('hint', '')}{more}",
        file=source,
        line=line,
        column=column_on_line(text, line, token) if line is not None and token else None,
        token=token,
    )


_PARENTHESIS: Final = re.compile(r"[()]")
MAX_NESTING: Final = 1000
"""Parentheses deeper than this are refused before the reference parser sees them: it
overflows its stack (a segmentation fault) somewhere between 40,000 and 100,000 levels.
(Normalising recurses per level and refuses a formula a few hundred levels deep.)"""


def _check_nesting(text: str, source: str | None) -> None:
    """SpecError at the first parenthesis (outside comments) nested over ``MAX_NESTING``."""
    depth = 0
    for match in _PARENTHESIS.finditer(_blank_comments(text)):
        depth += 1 if match.group() == "(" else -1
        if depth > MAX_NESTING:
            line, column = position(text, match.start())
            message = f"formula is nested too deeply (over {MAX_NESTING} parentheses)"
            raise SpecError(message, file=source, line=line, column=column, token="(")


def _number_error(text: str, source: str | None) -> SpecError:
    """The reference parser cannot read constants that overflow or underflow a double."""
    message = "number is out of the range of normal doubles, which the reference parser rejects"
    for match in _DECIMAL.finditer(_blank_comments(text)):
        value = abs(float(match.group()))
        underflows = value < sys.float_info.min and match.group().strip("0.") != ""
        if value == float("inf") or underflows:
            line, column = position(text, match.start())
            return SpecError(message, file=source, line=line, column=column, token=match.group())
    return SpecError(message, file=source)


def _blank_comments(text: str) -> str:
    """The text with comments replaced by spaces, so offsets still match the original."""
    return _COMMENT.sub(lambda m: " " * len(m.group()), text)
