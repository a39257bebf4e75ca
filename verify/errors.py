"""Errors about how a query, its models and the command line fit together."""

from __future__ import annotations


class QueryError(Exception):
    """The query does not fit the model (sizes, names, types) or the invocation is wrong."""
