"""Identifying input variables that the query asserts equal.

Queries over several networks often feed them the same input by asserting ``(== X[i] A[i])``
for every element. Kept as rows, such equalities leave the input region a flat sliver that
box splitting and sampling cannot fill; merged, the networks read one shared input. Only
equalities that hold in every term of the DNF (asserted unconditionally) are merged; the
rows of each term are rewritten over the merged inputs, so the query's meaning is unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from specs._normal import Conjunction, Dnf, Row, Term


def merge_equal_inputs(dnf: Dnf, n_inputs: int, lifted_at: int) -> tuple[Dnf, tuple[int, ...]]:
    """The DNF over merged inputs, and for each original input its index in the merged
    vector. ``lifted_at`` is where the output vector's copy of the inputs starts (input
    ``i`` read as output ``lifted_at + i``; see ``specs.query``): those indices are remapped
    alike. Without unconditional equalities the DNF and the identity map come back."""
    parent = list(range(n_inputs))

    def root(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j in _equal_pairs(dnf):
        a, b = root(i), root(j)
        parent[max(a, b)] = min(a, b)
    roots = sorted({root(i) for i in range(n_inputs)})
    if len(roots) == n_inputs:
        return dnf, tuple(range(n_inputs))
    position = {r: k for k, r in enumerate(roots)}
    index = tuple(position[root(i)] for i in range(n_inputs))

    def output(i: int) -> int:
        return lifted_at + index[i - lifted_at] if i >= lifted_at else i

    merged = tuple(
        Term(
            _remap(term.inputs, lambda i: index[i]),
            tuple(_remap(clause, output) for clause in term.outputs),
        )
        for term in dnf
    )
    return merged, index


def _equal_pairs(dnf: Dnf) -> Iterable[tuple[int, int]]:
    """Pairs (i, j) with rows ``x_i - x_j <= 0`` and ``x_j - x_i <= 0`` in every term."""
    common = set(dnf[0].inputs)
    for term in dnf[1:]:
        common &= set(term.inputs)
    below: set[tuple[int, int]] = set()
    for row in common:
        if row.strict or row.bound != 0.0 or len(row.coeffs) != 2:
            continue
        (i, a), (j, b) = row.coeffs
        if a == -b and abs(a) == 1.0:
            below.add((i, j) if a > 0 else (j, i))  # x_first <= x_second
    return [(i, j) for i, j in below if (j, i) in below and i < j]


def _remap(rows: Conjunction, index: Callable[[int], int]) -> Conjunction:
    """The rows over remapped variables; linear rows that become ``0 <= bound`` with a true
    bound vanish."""
    out: list[Row] = []
    for row in rows:
        coeffs: dict[int, float] = {}
        for i, c in row.coeffs:
            k = index(i)
            coeffs[k] = coeffs.get(k, 0.0) + c
        products: dict[tuple[int, ...], float] = {}
        for monomial, c in row.products:
            m = tuple(sorted(index(i) for i in monomial))
            products[m] = products.get(m, 0.0) + c
        kept = tuple((k, c) for k, c in coeffs.items() if c != 0.0)
        if not kept and not products and (row.bound > 0.0 if row.strict else row.bound >= 0.0):
            continue
        out.append(Row(kept, row.bound, row.strict, tuple(products.items())))
    return tuple(out)
