"""What is asked of a network: VNN-LIB 1.0 / 2.0 reading and writing, the normalised
`Property` every reader and builder produces, and builders such as local robustness.

Depends on nothing else in nnverify.
"""

from specs.errors import SpecError
from specs.property import (
    Box,
    Case,
    InputRegion,
    LinearConstraints,
    OutputCondition,
    PolynomialConstraints,
    PolynomialRow,
    Property,
    Variable,
)
from specs.query import Hidden, Network, Query
from specs.read import read_property
from specs.robustness import local_robustness
from specs.vnnlib1 import parse_vnnlib1, read_vnnlib1
from specs.vnnlib2 import parse_query, parse_vnnlib2, read_query, read_vnnlib2
from specs.write import write_vnnlib1, write_vnnlib2

__all__ = [
    "Box",
    "Case",
    "Hidden",
    "InputRegion",
    "LinearConstraints",
    "Network",
    "OutputCondition",
    "PolynomialConstraints",
    "PolynomialRow",
    "Property",
    "Query",
    "SpecError",
    "Variable",
    "local_robustness",
    "parse_query",
    "parse_vnnlib1",
    "parse_vnnlib2",
    "read_property",
    "read_query",
    "read_vnnlib1",
    "read_vnnlib2",
    "write_vnnlib1",
    "write_vnnlib2",
]
