"""Counterexample search: random sampling, then projected gradient descent (PGD).

Both minimise the smallest clause margin of a case (see ``objective``) over the input box,
with torch autograd on the graph. Candidates are only *candidates*: the caller confirms
each one on the model as executed before calling anything SAT.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from bounds.graph import Graph
from solvers.objective import Objective
from specs.property import Case

Confirm = Callable[[np.ndarray], bool]
"""Checks a candidate input (flat float64) on the real model; True means a real violation."""


@dataclass(frozen=True)
class AttackOptions:
    """How hard to look for a counterexample before (and beside) proving."""

    samples: int = 2048
    restarts: int = 8
    steps: int = 60
    step_fraction: float = 0.05  # initial PGD step as a fraction of the box width
    candidates: int = 4  # best points per round handed to ``confirm``


def _best(graph: Graph, objective: Objective, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    with torch.no_grad():
        score = objective.margins(graph.run(x)).amin(dim=1)
    return score, x


def _try(x: torch.Tensor, score: torch.Tensor, count: int, confirm: Confirm) -> np.ndarray | None:
    """Hand the ``count`` lowest-margin points with margin <= 0 to ``confirm``."""
    order = torch.argsort(score)[:count]
    for i in order.tolist():
        if score[i] > 0:
            break
        point = x[i].detach().numpy().astype(np.float64)
        if confirm(point):
            return point
    return None


def falsify(
    graph: Graph,
    case: Case,
    confirm: Confirm,
    *,
    options: AttackOptions,
    deadline: float,
    seed: int = 0,
) -> np.ndarray | None:
    """A confirmed counterexample input (flat) for the case, or None if none was found."""
    objective = Objective.of(case)
    generator = torch.Generator().manual_seed(seed)
    lower = torch.tensor(case.region.box.lower, dtype=torch.float64)
    upper = torch.tensor(case.region.box.upper, dtype=torch.float64)
    width = upper - lower

    def uniform(n: int) -> torch.Tensor:
        return lower + width * torch.rand(n, lower.shape[0], dtype=torch.float64, generator=generator)

    corners_and_center = torch.stack([lower, upper, (lower + upper) / 2])
    score, x = _best(graph, objective, torch.cat([corners_and_center, uniform(options.samples)]))
    found = _try(x, score, options.candidates, confirm)
    if found is not None or time.monotonic() > deadline:
        return found

    starts = torch.cat(
        [x[torch.argsort(score)[: options.restarts // 2]], uniform(options.restarts - options.restarts // 2)]
    )
    x = starts.clone().requires_grad_(True)
    step = width * options.step_fraction
    for _ in range(options.steps):
        if time.monotonic() > deadline:
            break
        score = objective.margins(graph.run(x)).amin(dim=1)
        if bool((score <= 0).any()):
            break
        (grad,) = torch.autograd.grad(score.sum(), x)
        with torch.no_grad():
            x -= step * grad.sign()
            x.copy_(torch.maximum(torch.minimum(x, upper), lower))
        step = step * 0.95
    score, x = _best(graph, objective, x.detach())
    return _try(x, score, options.candidates, confirm)
