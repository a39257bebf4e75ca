"""Counterexample search: random sampling, then projected gradient descent (PGD).

Both minimise the smallest clause margin of a case (see ``objective``) over the input box,
with torch autograd on the graph. Candidates are only *candidates*: the caller confirms
each one on the model as executed before calling anything SAT.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import numpy as np
import torch

from bounds.graph import Graph
from solvers.objective import Objective
from solvers.options import AttackOptions
from specs.property import Case

Confirm = Callable[[np.ndarray], bool]
"""Checks a candidate input (flat float64) on the real model; True means a real violation."""

Attack = Callable[[], "np.ndarray | None"]
"""What a search calls between batches: a confirmed counterexample, or None (see ``Rounds``)."""


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
    x, score = descend(graph, objective, starts, lower, upper, steps=options.steps, deadline=deadline, options=options)
    return _try(x, score, options.candidates, confirm)


def descend(
    graph: Graph,
    objective: Objective,
    starts: torch.Tensor,
    lower: torch.Tensor,
    upper: torch.Tensor,
    *,
    steps: int,
    deadline: float,
    options: AttackOptions,
) -> tuple[torch.Tensor, torch.Tensor]:
    """PGD with sign steps on the smallest clause margin from each of ``starts`` (k, n_in),
    each kept in its own box (``lower``/``upper`` (k, n_in), or (n_in,) for one box for
    all); stops early once some point violates. Returns the points and their margins."""
    x = starts.clone().requires_grad_(True)
    fractions = torch.tensor(options.step_fractions, dtype=starts.dtype)
    step = (upper - lower) * fractions[torch.arange(starts.shape[0]) % fractions.numel()][:, None]
    for _ in range(steps):
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
    return x, score


def attack_boxes(
    graph: Graph,
    objective: Objective,
    confirm: Confirm,
    lower: torch.Tensor,
    upper: torch.Tensor,
    options: AttackOptions,
    *,
    starts: torch.Tensor | None = None,
) -> np.ndarray | None:
    """A confirmed counterexample found by a short PGD inside each of the boxes (k, n_in)
    from its centre (or from ``starts``), or None: what a branch and bound tries on the
    boxes or domains it leaves open."""
    first = (lower + upper) / 2 if starts is None else starts
    x, score = descend(
        graph, objective, first, lower, upper, steps=options.box_steps, deadline=float("inf"), options=options
    )
    return _try(x, score, options.candidates, confirm)


def polish(
    graph: Graph,
    objective: Objective,
    lower: torch.Tensor,
    upper: torch.Tensor,
    options: AttackOptions,
    point: np.ndarray,
) -> np.ndarray | None:
    """PGD in the box from ``point`` (flat), once per step fraction of ``options``: the
    lowest-margin point it reaches if that violates (on the graph, in float64; still to be
    confirmed on the model), else None. For points a relaxation deems worst: the minimiser
    of a clause's LP relaxation lies near violations that PGD from random starts misses."""
    starts = torch.as_tensor(point, dtype=lower.dtype)[None].expand(len(options.step_fractions), -1)
    starts = torch.maximum(torch.minimum(starts, upper), lower)
    x, score = descend(graph, objective, starts, lower, upper, steps=options.steps, deadline=math.inf, options=options)
    best = int(score.argmin())
    return x[best].numpy().astype(np.float64) if bool(score[best] <= 0) else None


class Rounds:
    """Falsification rounds beside a search: ``round_(seed, deadline)`` runs one (for
    example ``falsify`` with a fresh seed). The n-th round is due after about ``first`` x
    2^n seconds of search and gets ``share`` of the time since the previous round ended
    (at least ``least`` seconds), so a search that ends quickly pays nothing and a long one
    about ``share`` of its time. (A share of all the time so far, counted again by every
    round, came to about twice ``share``: 6.4 of 57 s on MNIST-FC 256x2 prop_1 eps 0.03.)
    Calling the object runs a round when one is due."""

    def __init__(
        self,
        round_: Callable[[int, float], np.ndarray | None],
        *,
        first: float = 2.0,
        share: float = 0.1,
        least: float = 0.25,
    ) -> None:
        self.round_, self.first, self.share, self.least = round_, first, share, least
        self.start = self.since = time.monotonic()
        self.done = 0

    def __call__(self) -> np.ndarray | None:
        now = time.monotonic()
        if now - self.start < self.first * 2**self.done:
            return None
        self.done += 1
        found = self.round_(self.done, now + max(self.least, self.share * (now - self.since)))
        self.since = time.monotonic()
        return found
