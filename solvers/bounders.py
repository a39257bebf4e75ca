"""Bound methods as the branch and bound uses them: lower bounds on a case's objective rows
over batches of input boxes (batch, n_in) -> (batch, m), and the bounds of the network's
tensors found on the way, which a box's sub-boxes take as clamps. The methods bound the
objective's ``bound_rows @ y``; ``Objective.row_lower`` turns that into bounds on the rows
(the rows themselves when all are linear, plus interval arithmetic on the products otherwise)."""

from __future__ import annotations

from dataclasses import dataclass
from operator import itemgetter
from typing import Protocol

import torch

from bounds.crown import Clamps, CrownBounds, Parameters
from bounds.float_error import output_error
from bounds.graph import Graph
from bounds.interval import LinearTermBounds
from bounds.kernels import make_kernels
from solvers.objective import Objective
from solvers.options import BOUND_METHODS

Tensor = torch.Tensor


@dataclass(frozen=True)
class Bounded:
    """Lower bounds (batch, m) on the objective rows, and the bounds of the tensors whose
    tightness sets the relaxations (flat (batch, n), on the boxes' device; empty for
    interval bounds): valid on every sub-box, so they clamp the sub-boxes' analyses.
    ``parameters``: the alpha slopes each box's bounds ended with (None: not optimised),
    where its sub-boxes' optimisation starts. ``minimisers``: per box, the input corner
    minimising CROWN's linear bound on its lowest live row (None without coefficients), a
    counterexample candidate where the relaxation is nearly exact; a box's own, not its
    sub-boxes'."""

    bounds: Tensor
    nodes: Clamps
    parameters: Parameters | None = None
    minimisers: Tensor | None = None

    def select(self, rows: Tensor) -> Bounded:
        nodes = {name: v.map(itemgetter(rows)) for name, v in self.nodes.items()}
        parameters = None if self.parameters is None else self.parameters.select(rows)
        minimisers = None if self.minimisers is None else self.minimisers[rows]
        return Bounded(self.bounds[rows], nodes, parameters, minimisers)

    def twice(self) -> Bounded:
        """The same for both halves of every box, in the order ``torch.cat([first, second])``
        (no minimisers: those are the whole box's)."""
        nodes = {name: v.map(lambda t: torch.cat([t, t])) for name, v in self.nodes.items()}
        parameters = None if self.parameters is None else self.parameters.twice()
        return Bounded(torch.cat([self.bounds, self.bounds]), nodes, parameters)


class Bounder(Protocol):
    def __call__(
        self,
        lower: Tensor,
        upper: Tensor,
        clamps: Clamps | None = None,
        start: Parameters | None = None,
        settled: bool = False,
    ) -> Bounded:
        """Bounds for boxes (batch, n_in); ``clamps`` are bounds known for the same boxes
        (their parents' ``Bounded.nodes``), intersected in; ``start``: alpha slopes to
        start optimising from (their parents' ``Bounded.parameters``). ``settled``: the
        clamps are these very boxes' CROWN bounds (from a CROWN bounder), taken as they
        are rather than refined again to the same values."""


# per box, from its parent's slopes; on 7 slow ACAS Xu instances 58 s in all, against 80 s
# with 8 steps; with 2, 1_1/prop_5 took 2.4x as long
ALPHA_STEPS = 4
ROOT_ALPHA_STEPS = 20  # for one box, once: intermediate and final slopes both optimised


def make_bounder(
    graph: Graph,
    objective: Objective,
    method: str,
    *,
    kernels: str = "auto",
    device: str = "cpu",
    float_rounding: bool = False,
) -> Bounder:
    """``interval`` (IBP), ``crown``, ``alpha`` (alpha-CROWN on the boxes CROWN leaves open),
    or ``auto`` (alpha: CROWN covers every graph, bounding ops without a relaxation by
    their intervals). CROWN's back-substitution runs on ``kernels`` (``bounds.kernels``)
    on ``device``; bounds come back on the boxes' device. With ``float_rounding``, bounds
    hold for the model executed in its float type: each box's bounds are lowered by
    ``|C| @ e`` for the float error bound ``e`` over that box (``bounds.float_error``; per
    box, since it shrinks with the box; CPU only).

    Why alpha by default: on ACAS Xu (60 s budget) it decided net 1_1 / prop_3 in 15 s where
    CROWN timed out, at about 1.3x CROWN's time on instances both decide. Its optimisation
    starts from the ``start`` slopes given (a parent box's) rather than CROWN's: the steps
    of a box's ancestors add up, so on ACAS Xu 1_1 / prop_5 the search needed 6.2k boxes
    (6-7 s, in process) instead of 46k (38 s).
    """
    if method not in BOUND_METHODS:
        raise ValueError(f"unknown bound method {method!r}; choose from {', '.join(BOUND_METHODS)}")
    if float_rounding and device != "cpu":
        raise ValueError("float rounding bounds run on the CPU only")
    if method == "interval":
        interval = LinearTermBounds(graph, objective.bound_rows)

        def interval_bounds(
            lower: Tensor,
            upper: Tensor,
            clamps: Clamps | None = None,
            start: Parameters | None = None,
            settled: bool = False,
        ) -> Bounded:
            bounds = interval(lower, upper).lower
            if float_rounding:
                bounds = bounds - objective.row_slack(output_error(graph, lower, upper))
            return Bounded(objective.row_lower(bounds), {})

        return interval_bounds
    crown = CrownBounds(graph, objective.bound_rows, kernels=make_kernels(kernels, device))

    def crown_bounds(
        lower: Tensor,
        upper: Tensor,
        clamps: Clamps | None = None,
        start: Parameters | None = None,
        settled: bool = False,
    ) -> Bounded:
        own = crown.refined & clamps.keys() if settled and clamps else set()  # what needs no refining again
        analysis = crown.analyse(lower, upper, clamps, settled=own)
        record: dict[str, Tensor] = {}
        with torch.no_grad():
            bounds = crown.final(analysis, record=record).to(lower.device)
        slack = torch.zeros_like(bounds)
        if float_rounding:  # CROWN's node bounds make the error bound tighter than intervals'
            slack = objective.row_slack(output_error(graph, lower, upper, analysis.bounds))
        parameters = None
        if method != "crown":
            rows = torch.nonzero(~objective.refuted(objective.row_lower(bounds - slack))).flatten()
            if rows.numel():
                here = rows.to(crown.device)
                optimised, ended = crown.optimise(
                    analysis.select(here),
                    steps=ALPHA_STEPS,
                    needed=lambda b: objective.live_rows(b.to(lower.device) - slack[rows]).to(crown.device),
                    start=None if start is None else start.select(here),
                )
                bounds[rows] = optimised.to(lower.device)
                parameters = ended.placed(here, len(lower))
        nodes = {name: analysis.bounds[name] for name in crown.refined}
        if crown.device != lower.device:
            nodes = {name: v.map(lambda t: t.to(lower.device)) for name, v in nodes.items()}
        coefficients = record.get(graph.input.name)
        minimisers = None
        if coefficients is not None:
            row = torch.where(objective.live_rows(bounds - slack), bounds, torch.inf).argmin(dim=1)
            lowest = coefficients.to(lower.device)[torch.arange(len(lower)), row]
            minimisers = torch.where(lowest > 0, lower, upper)
        return Bounded(objective.row_lower(bounds - slack), nodes, parameters, minimisers)

    return crown_bounds


class Influence(Protocol):
    def __call__(self, lower: Tensor, upper: Tensor, nodes: Clamps, rows: Tensor) -> Tensor:
        """Per box (batch, n_in) and input, how much its width weighs in the box's CROWN
        bounds: ``|coefficient| x width``, summed over the ``rows`` (batch, m) that count
        (those still open). ``nodes`` are the boxes' own node bounds (``Bounded.nodes``),
        taken as they are: one back-substitution per box."""


def make_influence(
    graph: Graph, objective: Objective, method: str, *, kernels: str = "auto", device: str = "cpu"
) -> Influence | None:
    """The input influence of CROWN bounds (``Influence``; alpha-CROWN's start from them),
    which ranks the dimensions an input split tries: ReluVal's gradient smear with the
    bound's coefficients for the gradient. None for interval bounds, which have no
    coefficients to rank by."""
    if method == "interval":
        return None
    crown = CrownBounds(graph, objective.bound_rows, kernels=make_kernels(kernels, device))
    linear = objective.C.shape[0]  # bound rows past these bound the outputs of product terms

    def influence(lower: Tensor, upper: Tensor, nodes: Clamps, rows: Tensor) -> Tensor:
        analysis = crown.analyse(lower, upper, nodes or None, settled=crown.refined & nodes.keys())
        record: dict[str, Tensor] = {}
        with torch.no_grad():
            crown.final(analysis, record=record)
        if crown.input not in record:  # no input reaches the bounds
            return torch.zeros_like(lower)
        coefficients = record[crown.input].abs().to(lower.device)  # (batch, r, n_in)
        counted = torch.cat([rows, rows.any(dim=1, keepdim=True).expand(-1, coefficients.shape[1] - linear)], dim=1)
        return torch.where(counted[:, :, None], coefficients, 0.0).sum(dim=1) * (upper - lower)

    return influence


def trial_method(method: str) -> str:
    """The method for scoring candidate splits: CROWN where the search uses alpha.

    Scoring bounds both halves of every dimension of every box, so it must be cheap; on ACAS
    Xu 1_1/prop_1 alpha scoring made the search 7x slower for the same 51 boxes."""
    return "crown" if method in ("auto", "alpha") else method


def root_bounds(
    graph: Graph, objective: Objective, method: str, lower: Tensor, upper: Tensor, *, float_rounding: bool = False
) -> Tensor:
    """The strongest bounds of a method on one box (1, n_in) -> (1, m), without branching:
    with ``alpha`` (and ``auto``) every intermediate bound is alpha-optimised too, which is
    affordable once and tighter than the search's per-box alpha."""
    if method not in ("auto", "alpha"):
        with torch.no_grad():
            return make_bounder(graph, objective, method, float_rounding=float_rounding)(lower, upper).bounds
    crown = CrownBounds(graph, objective.bound_rows)
    analysis = crown.analyse(lower, upper, alpha_steps=ROOT_ALPHA_STEPS)
    slack = torch.zeros(1, objective.bound_rows.shape[0], dtype=torch.float64)
    if float_rounding:
        slack = objective.row_slack(output_error(graph, lower, upper, analysis.bounds))
    bounds, _ = crown.optimise(analysis, steps=ROOT_ALPHA_STEPS, needed=lambda b: objective.live_rows(b - slack))
    return objective.row_lower(bounds - slack)
