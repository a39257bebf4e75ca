"""Typed errors raised while importing or analysing a model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class ModelError(Exception):
    """A model cannot be read or is not a valid network for analysis."""

    def __init__(self, message: str, *, file: str | None = None) -> None:
        self.message = message
        self.file = file
        super().__init__(f"{file}: {message}" if file else message)


class ShapeError(ModelError):
    """Tensor shapes are inconsistent, or a dimension is left dynamic."""


@dataclass(frozen=True)
class Unsupported:
    """One node the importer cannot handle: its op type, node name and why."""

    op_type: str
    node: str
    reason: str


class UnsupportedOperatorError(ModelError):
    """The model uses operators (or operator forms) nnverify cannot analyse.

    Lists every offending node at once, so a user fixes the model in one round.
    """

    def __init__(self, offenders: Sequence[Unsupported], *, file: str | None = None) -> None:
        self.offenders = tuple(offenders)
        listing = "; ".join(f"{o.op_type} at node {o.node!r} ({o.reason})" for o in self.offenders)
        super().__init__(f"unsupported operators: {listing}", file=file)
