"""Branch and bound by splitting the input box.

Boxes are bounded in batches; a box is closed when its bounds refute every clause of the
case. An open box is split in half: for a handful of inputs along the dimension whose
halves lift the row bounds most when bounded (of the few dimensions of largest influence
on the box's CROWN bounds, which are tried), otherwise along
the dimension of largest estimated influence (|gradient of the best clause margin at the
centre| x width, the "smear" of ReluVal). Halves inherit their box's row bounds (valid on
them too) and its alpha slopes, where their optimisation starts. The trial split has
bounded the chosen halves already: they start from those bounds, take its node bounds as
settled rather than refine them again, and those it refutes are closed there (on ACAS Xu
3_3 prop_2: 11,296 boxes bounded instead of 16,725, 17.0 s instead of 19.1 s). Halves
of a smear split inherit their box's node bounds, so their analysis refines only what is
still unstable. A short PGD inside each open box looks for a counterexample on the way.
Depth-first order keeps the frontier small.

A search still running after ``SplitOptions.share_after`` (0.5 s) with two or more torch
threads deals its pending boxes out to that many processes of one thread each (forked
helpers; the caller keeps a share and confirms the helpers' candidates), and keeps the
shares balanced: a process that runs dry gets half of another's boxes. The boxes are
tiny matrix work that one thread runs about as fast as two (ACAS Xu 3_3 prop_2 end to
end: 17.3 s on one thread, 15.4 s on two, 10.3 s shared by two processes; 4_2 prop_2
took 49 s with the shares dealt once, its helper bounding 65,307 of 75,710 boxes, and
33.5 s balanced). After ``SplitOptions.exact_beside_share`` of the time, the MILP engine
joins in a process of its own (``solvers.beside``, big-M from the root box's alpha-CROWN
bounds): each clause it proves is refuted on every box from then on, each point it finds
is confirmed here, and whichever finishes first decides.
"""

from __future__ import annotations

import math
import multiprocessing.connection
import time
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum
from functools import cached_property, partial
from multiprocessing.connection import Connection
from typing import Protocol

import numpy as np
import torch

from bounds.crown import CrownBounds
from bounds.float_error import output_error
from bounds.graph import Graph
from bounds.ops.base import Interval
from solvers import milp_encoders
from solvers.beside import MilpBeside
from solvers.bounders import ROOT_ALPHA_STEPS, Bounded, Bounder, Influence
from solvers.exact import remaining
from solvers.falsify import Attack, Confirm, attack_boxes
from solvers.forked import Forked, receive, send
from solvers.objective import PROOF_MARGIN, Objective
from solvers.options import SplitOptions
from specs.property import Case

Tensor = torch.Tensor


class Outcome(Enum):
    """How a search ended. PROVED: no violation in the region; FOUND: confirmed counterexample."""

    PROVED = "proved"
    FOUND = "found"
    EXHAUSTED = "exhausted"  # boxes too small to split further remain open
    TIMEOUT = "timeout"


@dataclass
class SearchStats:
    bounded: int = 0
    splits: int = 0
    max_depth: int = 0
    open_boxes: int = 0
    milp_clauses: int = 0  # clauses the MILP engine proved on the whole box for a search


@dataclass(frozen=True)
class SearchResult:
    outcome: Outcome
    counterexample: np.ndarray | None
    stats: SearchStats
    by_milp: bool = False  # the counterexample came from the MILP engine (a solution, or from its LP relaxation)


TRIAL_ENTRIES = 1 << 21
"""A trial split bounds in one batch at most about this many tensor entries, halves times
the graph's entries per input (ACAS Xu's 925: up to 2,267 halves, all five dimensions of a
batch of 128 boxes at once), so that the batch stays small for wide networks, whose
coefficient matrices grow with the square of their width."""


def beside_decided(beside: MilpBeside, confirm: Confirm, stats: SearchStats) -> SearchResult | None:
    """What the MILP beside a search has decided so far: FOUND with a point of its that
    ``confirm`` accepts, PROVED once every clause is closed; None while neither."""
    point = beside.take(confirm)
    if point is not None:
        return SearchResult(Outcome.FOUND, point, stats, by_milp=True)
    if bool(beside.closed.all()):
        return SearchResult(Outcome.PROVED, None, stats)
    return None


def _halves(lower: Tensor, upper: Tensor, dim: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The two halves of each box along its ``dim``: (left_lower, left_upper, right_lower, right_upper)."""
    rows = torch.arange(lower.shape[0])
    mid = (lower[rows, dim] + upper[rows, dim]) / 2
    left_upper = upper.clone()
    left_upper[rows, dim] = mid
    right_lower = lower.clone()
    right_lower[rows, dim] = mid
    return lower, left_upper, right_lower, upper


def _trial_dimension(
    bound: Bounder, objective: Objective, boxes: _Boxes, root_width: Tensor, at_once: int, candidates: Tensor
) -> tuple[Tensor, Bounded]:
    """Of each box's ``candidates`` (count, k), the dimension whose halves lift the box's
    row bounds most (summed over both halves and the rows still open), found by bounding
    both halves of every candidate wider than zero; where no halving lifts any, the
    candidate widest relative to the root box. Worth its cost for a handful of inputs: on
    ACAS Xu it needs far fewer boxes than the gradient smear. Also returns what the trial
    found for the chosen halves (left halves, then right; the parent's alpha parameters):
    the halves start from it.

    The halves of as many candidates as fit in ``at_once`` halves (at least one
    candidate's) are bounded in one batch: a box of ACAS Xu is little work, so each bound
    call's fixed cost counts (1_1 prop_5 in process, one thread, trying all five
    dimensions: 5.6 s instead of 7.0 s with one batch per dimension, the same 5,419 boxes).

    Rows, not clause slack: the slack moves only with each clause's best row, so halves
    that improve only the others would look worthless (with warm-started alpha bounds,
    which halves' CROWN bounds rarely beat on the best row, 3_3/prop_2 then fell back to
    the widest dimension for a third of its boxes and needed 50% more)."""
    count, k = candidates.shape
    known = boxes.known.twice()
    rows = objective.open_rows(known.bounds)
    per_call = max(1, at_once // (2 * count))  # candidates whose halves are bounded in one batch
    trials = []
    for first in range(0, k, per_call):
        group = range(first, min(first + per_call, k))
        halves = [_halves(boxes.lower, boxes.upper, candidates[:, j]) for j in group]
        copies = len(group)
        nodes = {
            name: Interval(v.lower.repeat(copies, 1), v.upper.repeat(copies, 1)) for name, v in known.nodes.items()
        }
        lowers = [t for ll, _, rl, _ in halves for t in (ll, rl)]  # per candidate, left halves then right
        uppers = [t for _, lu, _, ru in halves for t in (lu, ru)]
        trials.append(bound(torch.cat(lowers), torch.cat(uppers), nodes))
    bounds = torch.cat([t.bounds for t in trials]).reshape(k, 2 * count, -1)  # per candidate, then half
    lift = (bounds - known.bounds).clamp_min(0).nan_to_num(0.0, posinf=1e300)  # a void half lifts most
    lift = torch.where(rows, lift, 0.0).sum(dim=2)
    width = (boxes.upper - boxes.lower).gather(1, candidates)
    splittable = width > 0  # halving a point changes nothing
    lift = torch.where(splittable, (lift[:, :count] + lift[:, count:]).T, -torch.inf)
    relative = torch.where(
        splittable, width / root_width.clamp_min(1e-300).expand_as(boxes.lower).gather(1, candidates), -torch.inf
    )
    best = torch.where(lift.amax(dim=1) > 0, lift.argmax(dim=1), relative.argmax(dim=1))  # of the candidates
    pick, half = torch.cat([best, best]), torch.arange(2 * count)  # each half's trial, and its row there

    def chosen(values: list[Tensor]) -> Tensor:
        return torch.cat(values).reshape(k, 2 * count, -1)[pick, half]

    nodes = {
        name: Interval(chosen([t.nodes[name].lower for t in trials]), chosen([t.nodes[name].upper for t in trials]))
        for name in trials[0].nodes
    }  # raised to the parent's row bounds, with the parent's alpha parameters (the trial optimises none)
    dim = candidates.gather(1, best[:, None])[:, 0]
    return dim, Bounded(torch.maximum(chosen([t.bounds for t in trials]), known.bounds), nodes, known.parameters)


def _smear_dimension(graph: Graph, objective: Objective, lower: Tensor, upper: Tensor) -> Tensor:
    """The dimension of largest |gradient of the best margin at the centre| x width."""
    centre = ((lower + upper) / 2).requires_grad_(True)
    score = objective.margins(graph.run(centre)).amin(dim=1)
    finite = torch.isfinite(score)
    if bool(finite.any()):
        (grad,) = torch.autograd.grad(score[finite].sum(), centre)
    else:
        grad = torch.ones_like(centre)
    width = upper - lower
    smear = grad.abs() * width
    smear = torch.where(smear.sum(dim=1, keepdim=True) > 0, smear, width)  # flat gradient: widest
    return smear.argmax(dim=1)


def input_split_search(
    graph: Graph,
    case: Case,
    confirm: Confirm,
    *,
    deadline: float,
    options: SplitOptions = SplitOptions(),
    bounder: Bounder,
    trial_bounder: Bounder | None = None,
    influence: Influence | None = None,
    attack: Attack | None = None,
) -> SearchResult:
    """Decide the case over its input region: boxes one of its linear input constraints
    excludes whole are dropped; the bounds of the others relax the constraints away (sound
    for PROVED); candidates must still satisfy them in ``confirm``.
    ``trial_bounder``, when given, scores candidate split dimensions instead of ``bounder``
    (it bounds both halves of every candidate dimension, so it should be the cheaper one);
    ``influence`` ranks the candidates (None: every dimension is one). ``attack``
    is called after each batch that leaves boxes open (falsification beside the search)."""
    objective = Objective.of(case)
    box = case.region.box
    lower = torch.tensor(box.lower, dtype=torch.float64)[None]
    unknown = Bounded(torch.full((1, objective.C.shape[0]), -torch.inf, dtype=torch.float64), {})
    stack = [_Boxes(lower, torch.tensor(box.upper, dtype=torch.float64)[None], unknown, 0)]
    root_width = stack[0].upper - stack[0].lower
    search = _Search(graph, case, objective, root_width, deadline, options, bounder, trial_bounder, influence)
    threads = torch.get_num_threads()
    now = time.monotonic()
    share_at = now + options.share_after if options.share_after is not None else math.inf
    share, beside_at = options.exact_beside_share, math.inf
    if share is not None and objective.products is None:  # the MILP encodes linear rows only
        beside_at = now + share * (deadline - now)
    if threads == 1:
        share_at = beside_at = math.inf
    return search.run(stack, confirm, attack, share_at, beside_at=beside_at)


@dataclass(frozen=True)
class _Search:
    """What a search of one case needs besides its boxes: the same for the processes it
    shares its boxes with."""

    graph: Graph
    case: Case
    objective: Objective
    root_width: Tensor
    deadline: float
    options: SplitOptions
    bounder: Bounder
    trial_bounder: Bounder | None
    influence: Influence | None

    @cached_property
    def _region_rows(self) -> tuple[Tensor, Tensor, Tensor] | None:
        """The region's linear input constraints ``A x <= b`` as (A⁺, A⁻, threshold): a box
        whose least ``A_i x`` exceeds threshold_i holds no point of the region. The
        threshold is ``b_i`` raised by PROOF_MARGIN of ``1 + |b_i| + |A_i| @ max|x|``,
        far above float64's error in that sum. None without constraints."""
        constraints = self.case.region.constraints
        if not len(constraints):
            return None
        A, b = torch.tensor(constraints.A), torch.tensor(constraints.b)  # copies: the arrays are frozen
        box = self.case.region.box
        reach = torch.as_tensor(np.maximum(np.abs(box.lower), np.abs(box.upper)))
        threshold = b + PROOF_MARGIN * (1 + b.abs() + A.abs() @ reach)
        return A.clamp_min(0), A.clamp_max(0), threshold

    def _outside_region(self, boxes: _Boxes) -> Tensor:
        """(count,) bool: the boxes that one of the region's linear input constraints
        excludes whole. The network may violate there, outside the region, so their bounds
        might never refute them: they are dropped rather than split."""
        rows = self._region_rows
        if rows is None:
            return torch.zeros(len(boxes), dtype=torch.bool)
        positive, negative = rows[0], rows[1]
        least = boxes.lower @ positive.T + boxes.upper @ negative.T
        return (least > rows[2]).any(dim=1)

    @cached_property
    def trial_halves(self) -> int:
        """How many halves a trial split bounds in one batch: ``TRIAL_ENTRIES`` over the
        number of tensor entries the graph computes per input (once per search)."""
        entries = sum(int(np.prod(shape, dtype=np.int64)) for shape in self.graph.shapes.values())
        return max(1, TRIAL_ENTRIES // max(entries, 1))

    def run(
        self,
        stack: list[_Boxes],
        confirm: Confirm,
        attack: Attack | None,
        share_at: float,
        peers: _Peers | None = None,
        beside_at: float = math.inf,
    ) -> SearchResult:
        """Search the boxes of ``stack`` depth first. After ``share_at``, the pending boxes
        are shared with as many processes as torch has threads (``_Helpers``); ``peers``
        are those of a process that shares already. After ``beside_at``, the MILP engine
        runs beside (``_milp_beside``)."""
        options, objective, deadline = self.options, self.objective, self.deadline
        stats = SearchStats()
        exhausted = False
        threads = torch.get_num_threads()
        beside: MilpBeside | None = None
        try:
            while True:
                if not stack and peers is not None:  # until boxes come, the MILP is due, or it has news
                    news = None if beside is None else beside.connection
                    point = peers.refill(stack, confirm, exhausted, stats, until=beside_at, wake=news)
                    if point is not None:
                        return SearchResult(Outcome.FOUND, point, stats)
                if not stack and (peers is None or peers.over or time.monotonic() > deadline):
                    break
                now = time.monotonic()
                if now > deadline:
                    return _timed_out(stack, stats)
                if now > share_at and _count(stack) >= threads:
                    share_at = math.inf
                    peers = _Helpers.start(self, stack, threads)
                    torch.set_num_threads(1)
                if peers is not None:
                    point = peers.exchange(stack, confirm)
                    if point is not None:
                        return SearchResult(Outcome.FOUND, point, stats)
                if now > beside_at:
                    beside_at = math.inf
                    beside = self._milp_beside()
                decided = None if beside is None else beside_decided(beside, confirm, stats)
                if decided is not None:
                    return decided
                if not stack:  # woken, run dry, for the MILP: the helpers still search
                    continue
                boxes = _take(stack, options.batch)
                outside = self._outside_region(boxes)
                if bool(outside.any()):
                    boxes = boxes.select(~outside)
                    if len(boxes) == 0:
                        continue
                stats.bounded += len(boxes)
                stats.max_depth = max(stats.max_depth, boxes.depth)
                with torch.no_grad():
                    bounded = self.bounder(
                        boxes.lower,
                        boxes.upper,
                        boxes.known.nodes or None,
                        boxes.known.parameters,
                        settled=boxes.settled,
                    )
                # a box's bounds hold on its halves too: CROWN can come out looser on a sub-box
                known = torch.maximum(bounded.bounds, boxes.known.bounds)
                if beside is not None:  # the clauses it proved are refuted on every box
                    known = known.masked_fill(beside.closed[objective.clause_of_row], torch.inf)
                boxes = _Boxes(boxes.lower, boxes.upper, Bounded(known, bounded.nodes, bounded.parameters), boxes.depth)
                open_ = ~objective.refuted(boxes.known.bounds)
                if not bool(open_.any()):
                    continue
                boxes = boxes.select(open_)
                point = self._attack(boxes, None if bounded.minimisers is None else bounded.minimisers[open_], confirm)
                if point is None and attack is not None:
                    point = attack()
                if point is not None:
                    return SearchResult(Outcome.FOUND, point, stats)
                splittable = (boxes.upper - boxes.lower).amax(dim=1) > options.min_width
                exhausted = exhausted or not bool(splittable.all())
                boxes = boxes.select(splittable)
                if len(boxes) == 0:
                    continue
                if time.monotonic() > deadline:  # bounding a batch can take seconds: check before splitting
                    stack.append(boxes)
                    return _timed_out(stack, stats)
                stats.splits += len(boxes)
                halves = self._split(boxes)
                open_ = ~objective.refuted(halves.known.bounds)  # halves the trial refuted need no bounds of their own
                if bool(open_.any()):
                    stack.append(halves.select(open_))
            own = Outcome.EXHAUSTED if exhausted else Outcome.PROVED
            outcome = own if peers is None else peers.conclude(own, stats)
            if outcome is Outcome.EXHAUSTED and beside is not None:  # the MILP may yet prove what boxes left open
                point = beside.take(confirm, until=deadline)
                if point is not None:
                    return SearchResult(Outcome.FOUND, point, stats, by_milp=True)
                outcome = Outcome.PROVED if bool(beside.closed.all()) else outcome
            return SearchResult(outcome, None, stats)
        finally:
            if isinstance(peers, _Helpers):
                peers.stop()
                torch.set_num_threads(threads)
            if beside is not None:
                beside.stop()
                stats.milp_clauses += beside.proved

    def _attack(self, boxes: _Boxes, minimisers: Tensor | None, confirm: Confirm) -> np.ndarray | None:
        """A short PGD inside each open box (``options.box_attack``) from its centre and from
        its bound's minimiser (``Bounded.minimisers``); a point ``confirm`` accepts, or None.
        The minimisers find ACAS Xu's counterexamples in far fewer boxes: in process, the
        eight sat instances the search decides 11.4 s against 39.0 s from the centres alone
        (1_9 prop_7 143 boxes against 2,063, 5_3 prop_2 344 against 2,739)."""
        lower, upper = boxes.lower, boxes.upper
        if minimisers is None:
            return attack_boxes(self.graph, self.objective, confirm, lower, upper, self.options.box_attack)
        starts = torch.cat([(lower + upper) / 2, minimisers])
        both = lower.repeat(2, 1), upper.repeat(2, 1)
        return attack_boxes(self.graph, self.objective, confirm, *both, self.options.box_attack, starts=starts)

    def _milp_beside(self) -> MilpBeside | None:
        """The MILP engine in a process beside the search, on the clauses the root box's
        alpha-CROWN bounds leave open, least refuted first, big-M from those bounds (under
        ``float_rounding``, each clause widened by the float error bound over the box, as
        the boxes' bounds are); None where the graph has no exact encoding."""
        if not milp_encoders.encodes(self.graph):
            return None
        lower, upper = self.case.region.box.lower, self.case.region.box.upper
        root = torch.tensor(lower, dtype=torch.float64)[None], torch.tensor(upper, dtype=torch.float64)[None]
        crown = CrownBounds(self.graph, self.objective.C)
        analysis = crown.analyse(*root, alpha_steps=ROOT_ALPHA_STEPS)
        objective = self.objective
        if self.options.float_rounding:
            objective = objective.with_rounding(output_error(self.graph, *root, analysis.bounds)[0])
        with torch.no_grad():
            bounds = crown.final(analysis)
        slack = objective.clause_slack(bounds)[0]
        clauses = torch.nonzero(~objective.clauses_refuted(bounds)[0]).flatten().tolist()
        clauses.sort(key=lambda c: float(slack[c]))
        return MilpBeside(self.graph, self.case, objective, analysis.bounds, clauses, self.deadline)

    def _split(self, boxes: _Boxes) -> _Boxes:
        """The halves of each box: along the dimension the trial split picks (for a handful
        of inputs) or the gradient smear's."""
        by_trial = boxes.lower.shape[1] <= self.options.trial_max_inputs
        if by_trial:
            with torch.no_grad():
                bound = self.trial_bounder or self.bounder
                candidates = self._candidates(boxes)
                dim, known = _trial_dimension(
                    bound, self.objective, boxes, self.root_width, self.trial_halves, candidates
                )
        else:
            dim, known = _smear_dimension(self.graph, self.objective, boxes.lower, boxes.upper), boxes.known.twice()
        _, left_upper, right_lower, _ = _halves(boxes.lower, boxes.upper, dim)
        return _Boxes(
            torch.cat([boxes.lower, right_lower]),
            torch.cat([left_upper, boxes.upper]),
            known,
            boxes.depth + 1,
            settled=by_trial,
        )

    def _candidates(self, boxes: _Boxes) -> Tensor:
        """The dimensions a trial split tries per box (count, k): those of largest
        ``influence`` wider than a point (all, without an influence or with few inputs)."""
        count, dims = boxes.lower.shape
        if self.influence is None or dims <= self.options.trial_candidates:
            return torch.arange(dims).expand(count, -1)
        width = boxes.upper - boxes.lower
        rows = self.objective.open_rows(boxes.known.bounds)
        score = torch.where(width > 0, self.influence(boxes.lower, boxes.upper, boxes.known.nodes, rows), -torch.inf)
        return score.topk(self.options.trial_candidates, dim=1).indices


class _Peers(Protocol):
    """The other processes a search shares its boxes with, as one process sees them."""

    def exchange(self, stack: list[_Boxes], confirm: Confirm) -> np.ndarray | None:
        """Between two batches: take what the others sent (a candidate ``confirm`` accepts
        is returned) and hand over boxes of ``stack`` that they asked for."""

    def refill(
        self,
        stack: list[_Boxes],
        confirm: Confirm,
        exhausted: bool,
        stats: SearchStats,
        *,
        until: float = math.inf,
        wake: Connection | None = None,
    ) -> np.ndarray | None:
        """With ``stack`` empty: wait until the others hand over boxes (into ``stack``), the
        search is over (``over``), ``until`` or the deadline passes, or ``wake`` has a
        message to read (the MILP beside's news, which this process reads itself); a
        candidate ``confirm`` accepts is returned. ``exhausted`` and ``stats``: this
        process's so far."""

    @property
    def over(self) -> bool:
        """Whether no boxes can come any more: every process has run dry."""

    def conclude(self, own: Outcome, stats: SearchStats) -> Outcome:
        """The whole search's outcome, given this process's ``own`` and with the others'
        statistics added to ``stats``."""


class _Helpers:
    """The search's side of sharing (``_Peers``): one forked helper process per extra thread
    (``solvers.forked``), each given a share of the pending boxes (dealt box by box, so
    neighbours, often alike in difficulty, go to different processes). Helpers search on
    one thread without falsification rounds and send their counterexample candidates here
    to confirm. The load stays balanced: a helper that runs dry says so and gets half of
    this process's boxes; when this process runs dry it asks the busy helpers for half of
    theirs. The search is over when every process is dry."""

    def __init__(self, children: list[Forked], deadline: float) -> None:
        self.children, self.deadline = children, deadline
        self.idle: dict[int, tuple[bool, SearchStats]] = {}  # dry helpers: exhausted?, statistics so far
        self.asked: set[int] = set()  # busy helpers asked for boxes

    @classmethod
    def start(cls, search: _Search, stack: list[_Boxes], processes: int) -> _Helpers:
        """Deal ``stack`` among ``processes``: this one keeps the first share, a helper
        forked for each other searches its own."""
        shares = _deal(stack, processes)
        stack[:] = shares[0]
        return cls([Forked(partial(_helper, search=search, stack=share)) for share in shares[1:]], search.deadline)

    def exchange(self, stack: list[_Boxes], confirm: Confirm) -> np.ndarray | None:
        point = self._absorb(stack, confirm)
        if point is not None:
            return point
        for index in list(self.idle):
            theirs = _halve(stack)
            if not theirs:
                break
            self.children[index].tell(("boxes", theirs))
            del self.idle[index]
        return None

    def refill(
        self,
        stack: list[_Boxes],
        confirm: Confirm,
        exhausted: bool,
        stats: SearchStats,
        *,
        until: float = math.inf,
        wake: Connection | None = None,
    ) -> np.ndarray | None:
        until = min(until, self.deadline)
        while not stack and not self.over and time.monotonic() < until:
            for index, child in enumerate(self.children):
                if index not in self.idle and index not in self.asked:
                    child.tell(("give", None))
                    self.asked.add(index)
            point = self._absorb(stack, confirm, until=until, wake=wake)
            if point is not None:
                return point
            if wake is not None and wake.poll():
                break
        return None

    @property
    def over(self) -> bool:
        return len(self.idle) == len(self.children)

    def conclude(self, own: Outcome, stats: SearchStats) -> Outcome:
        for exhausted, theirs in self.idle.values():
            stats.bounded += theirs.bounded
            stats.splits += theirs.splits
            stats.max_depth = max(stats.max_depth, theirs.max_depth)
            own = Outcome.EXHAUSTED if exhausted else own
        return own if len(self.idle) == len(self.children) else Outcome.TIMEOUT  # else the deadline came first

    def stop(self) -> None:
        for child in self.children:
            child.stop()

    def _absorb(
        self, stack: list[_Boxes], confirm: Confirm, until: float | None = None, wake: Connection | None = None
    ) -> np.ndarray | None:
        """Take the helpers' messages (with ``until``, the first ones to come before then,
        or before ``wake`` has one): candidates are confirmed, handed-over boxes go onto
        ``stack``."""
        live = [child.connection for child in self.children if child.pid is not None]
        ready: Sequence[object] = live
        if until is not None and live:
            waited = live if wake is None else [*live, wake]
            ready = multiprocessing.connection.wait(waited, max(remaining(until), 0.0))
        for index, child in enumerate(self.children):
            if child.pid is not None and child.connection not in ready:
                continue
            for kind, value in child.messages():
                if kind == "candidate" and confirm(value):
                    return np.asarray(value)
                if kind == "idle":
                    self.idle[index] = value
                    self.asked.discard(index)
                if kind == "boxes":
                    stack.extend(value)
                    self.asked.discard(index)
            if child.pid is None and index not in self.idle and remaining(self.deadline) > 0:
                raise RuntimeError("a helper process of the input-split search ended before the search")
        return None


class _Coordinator:
    """A helper's side of sharing (``_Peers``): the search's process, at the other end of
    ``connection``."""

    def __init__(self, connection: Connection, deadline: float) -> None:
        self.connection, self.deadline = connection, deadline

    def exchange(self, stack: list[_Boxes], confirm: Confirm) -> np.ndarray | None:
        while self.connection.poll():
            kind, value = receive(self.connection)
            if kind == "give":
                send(self.connection, ("boxes", _halve(stack)))
            else:  # boxes (the search gives them only to a dry helper; never drop any)
                stack.extend(value)
        return None

    def refill(
        self,
        stack: list[_Boxes],
        confirm: Confirm,
        exhausted: bool,
        stats: SearchStats,
        *,
        until: float = math.inf,
        wake: Connection | None = None,
    ) -> np.ndarray | None:
        """A helper has no MILP beside it: it waits for boxes until the deadline."""
        send(self.connection, ("idle", (exhausted, stats)))
        while self.connection.poll(max(remaining(self.deadline), 0.0)):
            kind, value = receive(self.connection)
            if kind == "give":  # asked as it ran dry: nothing to give
                send(self.connection, ("boxes", []))
            else:  # boxes
                stack.extend(value)
                return None
        return None

    @property
    def over(self) -> bool:
        return True  # ``refill`` returned without boxes: none will come

    def conclude(self, own: Outcome, stats: SearchStats) -> Outcome:
        return own


def _count(stack: list[_Boxes]) -> int:
    """How many boxes ``stack`` holds."""
    return sum(len(boxes) for boxes in stack)


def _halve(stack: list[_Boxes]) -> list[_Boxes]:
    """Half of the boxes of ``stack`` (dealt, see ``_deal``), taken out of it to give away;
    none when it holds fewer than two."""
    if _count(stack) < 2:
        return []
    mine, theirs = _deal(stack, 2)
    stack[:] = mine
    return theirs


def _deal(stack: list[_Boxes], parts: int) -> list[list[_Boxes]]:
    """The boxes of ``stack`` dealt into ``parts`` stacks, one box at a time, each stack
    in the order of the original."""
    shares: list[list[_Boxes]] = [[] for _ in range(parts)]
    dealt = 0  # boxes dealt so far: the next box goes to share ``dealt % parts``
    for boxes in stack:
        for i, share in enumerate(shares):
            rows = torch.arange((i - dealt) % parts, len(boxes), parts)
            if len(rows):
                share.append(boxes.select(rows))
        dealt += len(boxes)
    return shares


def _helper(connection: Connection, *, search: _Search, stack: list[_Boxes]) -> None:
    """A helper process's work (see ``_Helpers``), until the search's process kills it or
    the deadline; the points it finds go there to be confirmed (onnxruntime lives there)."""

    def confirm(point: np.ndarray) -> bool:
        send(connection, ("candidate", point))
        return False

    search.run(stack, confirm, None, math.inf, _Coordinator(connection, search.deadline))


@dataclass(frozen=True)
class _Boxes:
    """Boxes of one depth (batch, n_in), with what is known of each (its own or its
    parent's bounds: valid on it either way)."""

    lower: Tensor
    upper: Tensor
    known: Bounded
    depth: int
    settled: bool = False  # ``known.nodes`` are these boxes' own CROWN bounds (a trial split's)

    def __len__(self) -> int:
        return int(self.lower.shape[0])

    def select(self, rows: Tensor) -> _Boxes:
        return _Boxes(self.lower[rows], self.upper[rows], self.known.select(rows), self.depth, self.settled)


def _timed_out(stack: list[_Boxes], stats: SearchStats) -> SearchResult:
    stats.open_boxes = _count(stack)
    return SearchResult(Outcome.TIMEOUT, None, stats)


def _take(stack: list[_Boxes], batch: int) -> _Boxes:
    """Pop up to ``batch`` boxes from the top of the stack."""
    boxes = stack.pop()
    if len(boxes) > batch:
        stack.append(boxes.select(torch.arange(batch, len(boxes))))
        boxes = boxes.select(torch.arange(batch))
    return boxes
