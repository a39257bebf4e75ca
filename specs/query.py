"""A VNN-LIB 2.0 query over any number of networks, inputs, outputs and hidden tensors.

The assertions are normalised into one flat `Property`: its input vector is every declared
input (of every network, in declaration order) flattened and concatenated; its output vector
is every network's hidden and output variables in the same way, followed by the input
vector again when some comparison relates inputs to other variables or multiplies inputs
(``passthrough``), so that such a comparison is an output constraint. Input elements
asserted equal unconditionally share one place in the input vector (``input_index``). A
query with one network, one input, one output, no hidden node and no such comparison keeps
the declared variables themselves as the property's input and output (`is_single`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from specs.property import Property, Variable


@dataclass(frozen=True)
class Hidden:
    """A ``declare-hidden`` variable and the ONNX tensor it names."""

    variable: Variable
    onnx_name: str


@dataclass(frozen=True)
class Network:
    """One ``declare-network``: its variables and its relation to an earlier network."""

    name: str
    inputs: tuple[Variable, ...]
    hidden: tuple[Hidden, ...]
    outputs: tuple[Variable, ...]
    equal_to: str | None = None
    isomorphic_to: str | None = None

    @property
    def observed(self) -> tuple[Variable, ...]:
        """The variables the network contributes to the property's output vector, in order."""
        return (*(h.variable for h in self.hidden), *self.outputs)


@dataclass(frozen=True)
class Query:
    """Declared networks plus the flat property their assertions make (module docstring)."""

    networks: tuple[Network, ...]
    prop: Property
    passthrough: bool
    input_index: tuple[int, ...]
    """Where each declared input element (concatenated in order) sits in the property's input
    vector: inputs asserted equal share one place (see ``specs._equalities``)."""
    source: str | None = field(default=None, compare=False)

    @property
    def is_single(self) -> bool:
        """One network with one input and one output, nothing else: the property's input and
        output are the declared variables and the model needs no composition."""
        (first, *rest) = self.networks
        simple = not rest and not first.hidden and len(first.inputs) == len(first.outputs) == 1
        return simple and not self.passthrough and self.input_index == tuple(range(len(self.input_index)))

    def variables(self) -> Iterator[Variable]:
        """Every declared variable in assignment order: per network, inputs, hidden, outputs."""
        for network in self.networks:
            yield from network.inputs
            yield from network.observed

    def assignment(self, x: np.ndarray, y: np.ndarray) -> list[tuple[Variable, np.ndarray]]:
        """Each declared variable's values (flat) from the property's flat input and output."""
        x = np.asarray(x).reshape(-1)[list(self.input_index)]
        y = np.asarray(y).reshape(-1)
        pairs: list[tuple[Variable, np.ndarray]] = []
        at_x = at_y = 0
        for network in self.networks:
            for variable in network.inputs:
                pairs.append((variable, x[at_x : at_x + variable.size]))
                at_x += variable.size
            for variable in network.observed:
                pairs.append((variable, y[at_y : at_y + variable.size]))
                at_y += variable.size
        return pairs
