"""Bound methods as the branch and bound uses them: lower bounds on a case's objective rows
``C @ y`` over batches of input boxes (batch, n_in) -> (batch, m)."""

from __future__ import annotations

from collections.abc import Callable

import torch

from bounds.crown import CrownBounds
from bounds.graph import Graph
from bounds.interval import LinearTermBounds
from solvers.objective import Objective

Tensor = torch.Tensor
Bounder = Callable[[Tensor, Tensor], Tensor]

METHODS = ("auto", "interval", "crown")


def make_bounder(graph: Graph, objective: Objective, method: str) -> Bounder:
    """``interval`` (IBP), ``crown``, or ``auto``: CROWN where the graph allows it."""
    if method not in METHODS:
        raise ValueError(f"unknown bound method {method!r}; choose from {', '.join(METHODS)}")
    if method == "interval" or (method == "auto" and not CrownBounds.supports(graph)):
        interval = LinearTermBounds(graph, objective.C)
        return lambda lower, upper: interval(lower, upper).lower
    return CrownBounds(graph, objective.C)
