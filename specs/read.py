"""Reading a property file of either VNN-LIB version."""

from __future__ import annotations

import os
import re
from typing import Final

from specs._source import read_text
from specs.property import Property
from specs.query import Query
from specs.vnnlib1 import parse_vnnlib1
from specs.vnnlib2 import parse_query, parse_vnnlib2

_VERSION_2: Final = re.compile(r"(?:\s|;[^\n]*)*\(\s*vnnlib-version\b")
"""A 2.x query opens (after comments) with ``(vnnlib-version <2.x>)``; 1.0 has no such form."""


def read_property(path: str | os.PathLike[str]) -> Property:
    """Read a VNN-LIB 1.0 or 2.x file, telling them apart by the ``vnnlib-version`` form."""
    text = read_text(path)
    parse = parse_vnnlib2 if _VERSION_2.match(text) else parse_vnnlib1
    return parse(text, source=str(path))


def read_query_or_property(path: str | os.PathLike[str]) -> Query | Property:
    """A VNN-LIB 2.x file as a `Query` (any number of networks), a 1.0 file as a `Property`."""
    text = read_text(path)
    if _VERSION_2.match(text):
        return parse_query(text, source=str(path))
    return parse_vnnlib1(text, source=str(path))
