"""Reader for VNN-LIB 1.0, the SMT-LIB subset of every VNN-COMP benchmark.

Accepted: ``;`` comments; ``(declare-const X_i Real)`` / ``(declare-const Y_i Real)`` with
indices 0..n-1; ``(assert F)`` where F nests ``and`` / ``or`` over chainable comparisons
``<= >= < > =`` of linear terms built from numbers (decimal, scientific, negative), declared
variables, ``+``, ``-`` (negation and subtraction) and ``*`` with at most one non-constant
factor. Numbers are read as the nearest double; one that overflows, or a nonzero one that
rounds to zero, is an error. All assertions together are normalised into a `Property`
(see `specs._normal`).

Hand-written rather than an SMT-LIB library: a regex tokenizer and an iterative s-expression
builder read a 74 KB MNIST property in about 20 ms, and every error carries its line, column
and token.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable
from typing import Final, NamedTuple

from specs import _normal
from specs._normal import Dnf, Operator, Polynomial
from specs._source import position, read_text
from specs.errors import SpecError
from specs.property import Property, Variable

_TOKEN: Final = re.compile(r";[^\n]*|([()]|[^\s();]+)")
_NUMBER: Final = re.compile(r"-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")
_NONZERO: Final = re.compile(r"[1-9]")
_VARIABLE: Final = re.compile(r"([XY])_(0|[1-9][0-9]*)")
_COMPARISONS: Final[dict[str, Operator]] = {
    "<=": "<=",
    "<": "<",
    ">=": ">=",
    ">": ">",
    "=": "=",
}


class _List(NamedTuple):
    """A parenthesised list; ``start`` is the token index of its ``(``."""

    items: tuple[_Node, ...]
    start: int


_Node = int | _List
"""A token index (an atom) or a list."""


def read_vnnlib1(path: str | os.PathLike[str]) -> Property:
    """Read a VNN-LIB 1.0 property file."""
    return parse_vnnlib1(read_text(path), source=str(path))


def parse_vnnlib1(text: str, source: str | None = None) -> Property:
    """Parse VNN-LIB 1.0 text; ``source`` names it in errors and in `Property.source`."""
    return _Reader(text, source).read()


class _Reader:
    """One pass over one text: tokens, s-expressions, declarations, normalised assertions.

    Atoms are kept as indices into the token list; a token's offset in the text is found
    again only when an error needs its line and column.
    """

    def __init__(self, text: str, source: str | None) -> None:
        self._text = text
        self._source = source
        self._tokens = [token for token in _TOKEN.findall(text) if token]
        self._declared: dict[str, dict[int, int]] = {"X": {}, "Y": {}}  # index -> its name's token

    def read(self) -> Property:
        assertions: list[Dnf] = []
        for form in self._forms():
            head, args = self._split(form, "a command")
            command = self._tokens[head]
            if command == "declare-const":
                self._declare(head, args)
            elif command == "assert":
                if len(args) != 1:
                    raise self._error("'assert' takes exactly one formula", head)
                try:
                    assertions.append(self._formula(args[0]))
                except RecursionError:
                    raise self._error("formula is nested too deeply", head) from None
            else:
                raise self._error(f"unsupported command '{command}'", head)
        n_inputs = self._count("X")
        n_outputs = self._count("Y")
        dnf = _normal.conjoin(assertions, lambda message: SpecError(message, file=self._source))
        cases = _normal.build_cases(dnf, n_inputs, n_outputs, self._unbounded)
        return Property(
            Variable("X", "real", (n_inputs,)),
            Variable("Y", "real", (n_outputs,)),
            cases,
            network=None,
            source=self._source,
        )

    def _forms(self) -> list[_List]:
        """The top-level s-expressions, built without recursion."""
        stack: list[tuple[int, list[_Node]]] = []
        items: list[_Node] = []
        for index, token in enumerate(self._tokens):
            if token == "(":
                stack.append((index, items))
                items = []
            elif token == ")":
                if not stack:
                    raise self._error("unbalanced ')'", index)
                start, parent = stack.pop()
                parent.append(_List(tuple(items), start))
                items = parent
            else:
                items.append(index)
        if stack:
            raise self._error("'(' is never closed", stack[-1][0])
        forms: list[_List] = []
        for item in items:
            if not isinstance(item, _List):
                raise self._error("expected a command in parentheses", item)
            forms.append(item)
        return forms

    def _declare(self, head: int, args: tuple[_Node, ...]) -> None:
        name, sort = args if len(args) == 2 else (None, None)
        if not (isinstance(name, int) and isinstance(sort, int)):
            raise self._error("expected (declare-const NAME Real)", head)
        match = _VARIABLE.fullmatch(self._tokens[name])
        if match is None:
            raise self._error("variable names must be X_<index> or Y_<index>", name)
        if self._tokens[sort] != "Real":
            raise self._error(f"unsupported sort '{self._tokens[sort]}': only Real is supported", sort)
        declared = self._declared[match[1]]
        index = int(match[2])
        if index in declared:
            raise self._error(f"{match[0]} is declared twice", name)
        declared[index] = name

    def _count(self, kind: str) -> int:
        """Number of declared X or Y variables, which must be indexed 0..n-1."""
        declared = self._declared[kind]
        if not declared:
            raise SpecError(f"no {kind}_<index> variable is declared", file=self._source)
        n = max(declared) + 1
        missing = next((i for i in range(n) if i not in declared), None)
        if missing is not None:
            raise self._error(
                f"{kind} indices must be contiguous from 0: {kind}_{missing} is not declared",
                declared[n - 1],
            )
        return n

    def _formula(self, node: _Node) -> Dnf:
        head, args = self._split(node, "a formula")
        name = self._tokens[head]
        if name == "and":
            return _normal.conjoin((self._formula(a) for a in args), self._error_at(head))
        if name == "or":
            return _normal.disjoin(self._formula(a) for a in args)
        operator = _COMPARISONS.get(name)
        if operator is None:
            raise self._error(f"unsupported connective or predicate '{name}'", head)
        if len(args) < 2:
            raise self._error(f"'{name}' needs at least two arguments", head)
        terms = [self._term(a) for a in args]
        error = self._error_at(head)
        comparisons = [_normal.compare(operator, a, b, error) for a, b in itertools.pairwise(terms)]
        return comparisons[0] if len(comparisons) == 1 else _normal.conjoin(comparisons, error)

    def _term(self, node: _Node) -> Polynomial:
        if isinstance(node, int):
            return self._symbol(node)
        head, operands = self._split(node, "an arithmetic term")
        name = self._tokens[head]
        args = [self._term(a) for a in operands]
        if not args:
            raise self._error(f"'{name}' needs arguments", head)
        if name == "+":
            return _normal.add(args)
        if name == "-":
            if len(args) == 1:
                return _normal.scale(args[0], -1.0)
            return _normal.add([args[0], *(_normal.scale(a, -1.0) for a in args[1:])])
        if name == "*":
            return _normal.multiply(args, self._error_at(head))
        raise self._error(f"unsupported arithmetic operator '{name}'", head)

    def _symbol(self, atom: int) -> Polynomial:
        text = self._tokens[atom]
        if _NUMBER.fullmatch(text):
            value = float(text)
            if value == 0 and _NONZERO.search(re.split("[eE]", text)[0]):
                raise self._error("nonzero number underflows to zero in a double", atom)
            return _normal.constant(value)
        match = _VARIABLE.fullmatch(text)
        if match is None:
            raise self._error("expected a number or a variable", atom)
        if int(match[2]) not in self._declared[match[1]]:
            raise self._error(f"{text} is used before it is declared", atom)
        return _normal.variable((match[1] == "Y", int(match[2])))

    def _split(self, node: _Node, what: str) -> tuple[int, tuple[_Node, ...]]:
        """The operator atom opening a list and its arguments; else an error expecting what."""
        if isinstance(node, int):
            raise self._error(f"expected {what}, found '{self._tokens[node]}'", node)
        head = node.items[0] if node.items else None
        if not isinstance(head, int):
            raise self._error(f"expected {what} starting with an operator", node.start)
        return head, node.items[1:]

    def _unbounded(self, index: int, side: str) -> SpecError:
        return self._error(
            f"input X_{index} has no {side} bound, and no linear constraint uses it",
            self._declared["X"][index],
        )

    def _error_at(self, atom: int) -> Callable[[str], SpecError]:
        return lambda message: self._error(message, atom)

    def _error(self, message: str, atom: int) -> SpecError:
        """A SpecError pointing at the token with index ``atom``."""
        matches = (m for m in _TOKEN.finditer(self._text) if m.group(1))
        offset = next(itertools.islice(matches, atom, None)).start()
        line, column = position(self._text, offset)
        return SpecError(message, file=self._source, line=line, column=column, token=self._tokens[atom])
