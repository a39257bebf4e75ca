"""Branch and bound by splitting unstable ReLUs (for inputs too wide to split).

A *domain* fixes some ReLU neurons to their active (pre-activation >= 0) or inactive
(<= 0) side: each fixed neuron's pre-activation bounds are clamped to its side. Every
point of the domain lies in the box and satisfies the clamps, so bounds computed under
them stay valid; a clamp that empties a neuron's interval proves the domain void. Each
domain's intermediate bounds are recomputed by CROWN under its clamps, starting from its
parent's (only the neurons still unstable are refined, and only in the tensors after its
newest split; of a lopsided one only the near bound, ``lopsided``): on MNIST-FC 256x4
this proves in hundreds of domains what the root's bounds, merely clamped, left open
after thousands. That CROWN uses the lower slopes the
root's alpha optimisation of each intermediate bound ended with, not its adaptive ones:
at the same cost, 256x4 prop_10 eps 0.05 took 1019 domains instead of 1421 (prop_0 eps
0.03: 77 instead of 205); a few steps re-optimising them per domain cost 2-3.5x the time
for as many domains. It back-substitutes in float32 with rigorous terms for its rounding
(``CrownBounds(float32_refinement=True)``, ``bounds.rounding``): half float64's time per
domain (256x4 prop_9 eps 0.03: 3.6 ms against 7.6 ms), so, one thread, in process,
5,700-6,400 domains in 60 s against 4,700-6,100 (256x4 prop_10 eps 0.05: 957 domains
against 967, the terms cost none). The split constraints also enter the final bound
through beta-CROWN multipliers, optimised with the alpha slopes (starting from the
parent's) on the domains plain CROWN leaves open, for the rows of their clauses still
open. Domains are bounded in batches, depth first; near the deadline a batch shrinks to what the previous batch's pace
fits in the time left (a batch of 128 on MNIST-FC 256x4 takes 1-2 s on one thread, the
worker's grace past the deadline is one). An open domain is split on the unstable neuron
of largest estimated effect on its open rows (the intercept score of BaBSR, Bunel et al.
2020: |negative coefficient| x the triangle relaxation's intercept ``-l u / (u - l)``).
The clauses of a property share one tree while its splits serve them all; a clause whose
score for the joint choice is below ``separate_below`` of its score for its own best split
goes on in a copy of the domain of its own (256x2 prop_1 eps 0.03 then takes about 20 s
instead of 40 s, with the MILP beside proving one or two of its clauses instead of five).
Each open domain's bound minimisers in the input box (CROWN's, and its optimised bound's,
near the LP relaxation's minimiser) are tried as counterexamples (``_try_minimisers``).

A domain with no unstable neuron left is linear on its region, a polytope CROWN relaxes to
the box; such a leaf is decided exactly by the MILP engine (an LP there). Leaves it cannot
decide in time make the search end EXHAUSTED rather than PROVED.

Where the branch and bound is slow to converge a MILP over the whole box can still decide
(MNIST-FC 256x2 prop_0 eps 0.05, sat, had no counterexample after 120 s of branching, its
VNN-COMP timeout). Its clauses are those some pending domain (each keeps its parent's row
bounds as a floor) still leaves open, big-M from the root's alpha bounds, least refuted
first. With two or more torch threads, after ``exact_beside_after`` seconds of branching
one thread's core goes to the MILP engine in a child process beside the search
(``solvers.beside``): each clause it proves is refuted on every domain, each point it
finds is confirmed here, and whichever side finishes first decides. Before its MILPs it
tightens the root's node bounds (``milp.tightened_bounds``, within 30% of the time left;
the refresh is alpha-CROWN here): from then on they bound every domain's tensors too,
and the join and the hand-over use them (MNIST-FC 256x4 prop_3 eps 0.03: unsat in 214 s,
a timeout before). Proofs then rest on HiGHS's errors staying below the MILP's proof
margin, as its clause proofs always did. Before the tightening, each of its
clauses gets a short PGD from its LP relaxation's minimiser (``options.polish``):
256x2 prop_0 eps 0.05 is then found in 7-8.5 s instead of 14.5-16 s (its violations lie at
box corners around which the output is flat, so PGD from random starts stalls). 256x2 prop_1 eps
0.03, open after 120 s of branching alone in one shared tree, was proved so in 40-42 s:
the MILP proved 5 of its 9 clauses, one every 5-12 s, and the branching the rest (with
clauses separated, 19-22 s, the MILP proving one or two). After ``exact_join_share`` of
the time, if the child has proved a clause, branching stops and this process decides
clauses by the MILP engine too, from the other end of the child's order: 256x4 prop_3
eps 0.03 (the MILP took 12-59 s for each of the three clauses timed alone) was proved
so in 277-293 s of its 300 s on a faster hour (2026-11-30), where the child alone had
proved 8 of its 9 clauses. The join comes sooner when the branching has stalled
(``stall_window``, ``_Progress``): where its open share of the tree would not close by
the deadline at its pace, the engine that proves clauses gets both cores (the same
instance on 2026-12-01, when its MILP took 50-90 s a clause: the join at 100 s instead of
225 s, 6 of its 9 clauses proved against 5, still a timeout). A stalled search also
joins as soon as the child has begun to tighten, and first assists the tightening
(``MilpBeside.assist``); on the hard MNIST-FC 256x4 instances the branching has stalled
12-17 s in, when the child begins (prop_4 eps 0.05: unsat in 210 s, in process). With one
thread, after ``exact_share`` of the time the search stops and hands those clauses to the
MILP engine.
"""

from __future__ import annotations

import bisect
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from operator import itemgetter

import numpy as np
import torch

from bounds.crown import Analysis, CrownBounds, Parameters
from bounds.float_error import output_error
from bounds.graph import Graph
from bounds.kernels import make_kernels
from bounds.ops.base import Interval
from solvers import milp_encoders
from solvers.beside import MilpBeside
from solvers.exact import UNANSWERED, ExactOutcome, Polish, Refresh
from solvers.falsify import Attack, Confirm, attack_boxes, polish
from solvers.forked import within
from solvers.input_split import Outcome, SearchResult, SearchStats, beside_decided
from solvers.objective import Objective
from solvers.options import ActivationSplitOptions, AttackOptions
from specs.property import Case

Tensor = torch.Tensor
Domains = dict[str, Tensor]
"""Split state per ReLU input tensor: (batch, n) int8, +1 active, -1 inactive, 0 free."""


def activation_split_search(
    graph: Graph,
    case: Case,
    confirm: Confirm,
    *,
    deadline: float,
    options: ActivationSplitOptions = ActivationSplitOptions(),
    kernels: str = "auto",
    attack: Attack | None = None,
) -> SearchResult:
    """Decide the case over its input box by splitting ReLUs (extra linear input
    constraints are relaxed away, sound for PROVED; ``confirm`` checks candidates fully).
    ``kernels`` names the CPU backend of the back-substitution (``bounds.kernels``);
    ``attack`` is called after each batch that leaves domains open (falsification beside
    the search). Linear output rows only: ValueError for a case with polynomial rows."""
    objective = Objective.of(case)
    if objective.products is not None:
        raise ValueError("the activation-split search decides linear output constraints only")
    crown = CrownBounds(graph, objective.C, kernels=make_kernels(kernels, "cpu"), float32_refinement=True)
    relus = {node.inputs[0]: node.output for node in graph.nodes if node.op_type == "Relu"}
    box = case.region.box
    lower = torch.tensor(box.lower, dtype=torch.float64)[None]
    upper = torch.tensor(box.upper, dtype=torch.float64)[None]
    stats = SearchStats()
    root = {name: torch.zeros(1, int(np.prod(graph.shapes[name])), dtype=torch.int8) for name in relus}
    base = crown.analyse(lower, upper)
    quick = (
        objective.with_rounding(_rounding(graph, lower, upper, base.bounds)) if options.float_rounding else objective
    )
    if bool(quick.refuted(crown.final(base)).all()):  # plain CROWN decides it: skip the costly root alpha
        stats.bounded = 1
        return SearchResult(Outcome.PROVED, None, stats)
    base = crown.analyse(lower, upper, alpha_steps=options.root_alpha_steps)
    if options.float_rounding:
        objective = objective.with_rounding(_rounding(graph, lower, upper, base.bounds))
    polisher = partial(polish, graph, objective, lower[0], upper[0], options.polish)
    refresh = partial(_refreshed, crown, lower, upper, options.root_alpha_steps)
    now = time.monotonic()
    switch = now + options.exact_share * (deadline - now) if options.exact_share < 1 else deadline
    join = now + options.exact_join_share * (deadline - now) if options.exact_join_share < 1 else deadline
    progress = _Progress(options.stall_window)
    stack: list[_Batch] = [_Batch(root, 1, 0, torch.full((1, len(objective.d)), -torch.inf, dtype=torch.float64))]
    exhausted = False
    threads = torch.get_num_threads()
    beside: MilpBeside | None = None
    after = options.exact_beside_after
    beside_at = now + after if after is not None and threads > 1 else math.inf
    try:
        last: tuple[float, int] | None = None  # when the previous batch started, and its size
        while stack:
            now = time.monotonic()
            if now > deadline:
                return _timed_out(stack, stats)
            if now > beside_at and stats.bounded:
                beside_at = math.inf
                if milp_encoders.encodes(graph):
                    clauses = _open_clauses(objective, stack, exhausted)
                    beside = MilpBeside(graph, case, objective, base.bounds, clauses, deadline, polisher, refresh)
                    torch.set_num_threads(threads - 1)  # one core for the MILP
            decided = None if beside is None else beside_decided(beside, confirm, stats)
            if decided is not None:
                return decided
            if beside is None and now > switch:
                if milp_encoders.encodes(graph):
                    return _exact_rest(
                        graph,
                        case,
                        objective,
                        base.bounds,
                        stack,
                        exhausted,
                        confirm,
                        deadline,
                        stats,
                        polisher,
                        refresh,
                    )
                switch = deadline
            progress.record(now, objective, stack)
            if beside is not None and _joins(beside, now > join, progress.stalled(deadline, beside.closed)):
                return _exact_beside(
                    graph, case, objective, base.bounds, stack, exhausted, beside, confirm, deadline, stats, polisher
                )
            batch = _take(stack, _batch_size(options.batch, last, now, deadline))
            last = (now, batch.count)
            if beside is not None:  # the clauses it proved are refuted on every domain
                batch = replace(batch, floor=batch.floor.masked_fill(beside.closed[objective.clause_of_row], torch.inf))
            stats.bounded += batch.count
            stats.max_depth = max(stats.max_depth, batch.depth)
            if options.refine:
                clamps = _clamps(batch.domains)
                inherited = (
                    batch.nodes if batch.nodes is not None else {name: base.bounds[name] for name in crown.refined}
                )
                if beside is not None and beside.tightened is not None:  # valid on the whole box, so on each domain
                    inherited = {name: _both(v, beside.tightened.get(name)) for name, v in inherited.items()}
                merged = {name: _both(inherited.get(name), clamps.get(name)) for name in {*inherited, *clamps}}
                settled = list(relus)[: batch.first_split + 1] if batch.nodes is not None else []
                analysis = crown.analyse(
                    lower.expand(batch.count, -1),
                    upper.expand(batch.count, -1),
                    merged,
                    settled=settled,
                    slopes=base.slopes,
                    lopsided=options.lopsided,
                )
            else:
                analysis = crown.restrict(
                    base.select(torch.zeros(batch.count, dtype=torch.int64)), _clamps(batch.domains)
                )
            record: dict[str, Tensor] = {}
            with torch.no_grad():
                bounds = torch.maximum(crown.final(analysis, record=record), batch.floor)
            open_ = ~objective.refuted(bounds)
            parameters = None
            if options.alpha_steps and bool(open_.any()):
                rows = torch.nonzero(open_).flatten()
                splits = {name: state[rows] for name, state in batch.domains.items()}
                start = None if batch.parameters is None else batch.parameters.select(rows)
                floor = batch.floor[rows]
                optimised_bounds, optimised = crown.optimise(
                    analysis.select(rows),
                    steps=options.alpha_steps,
                    needed=partial(_live_above, objective, floor),
                    splits=splits,
                    start=start,
                    learning_rate=options.learning_rate,
                )
                bounds[rows] = torch.maximum(optimised_bounds, floor)
                parameters = torch.full((batch.count,), -1, dtype=torch.int64)
                parameters[rows] = torch.arange(rows.numel())  # where each domain's ended parameters are
                open_ = ~objective.refuted(bounds)
            if not bool(open_.any()):
                continue
            keep = torch.nonzero(open_).flatten()
            coefficients = record.get(graph.input.name)
            reached = None  # the optimised bounds' input coefficients, for their minimisers
            if parameters is not None:
                splits = {name: state[keep] for name, state in batch.domains.items()}
                reached = crown.input_coefficients(analysis.select(keep), optimised.select(parameters[keep]), splits)
            found = _try_minimisers(
                graph,
                objective,
                confirm,
                analysis,
                bounds,
                keep,
                options.attack,
                None if coefficients is None else coefficients[keep],
                reached,
            )
            if found is None and attack is not None:
                found = attack()
            if found is not None:
                return SearchResult(Outcome.FOUND, found, stats)
            open_batch = replace(batch.select(keep), floor=bounds[keep])
            if parameters is not None:
                open_batch = replace(open_batch, parameters=optimised.select(parameters[keep]))
            if options.refine:
                nodes = {name: analysis.bounds[name].map(itemgetter(keep)) for name in crown.refined}
                open_batch = replace(open_batch, nodes=nodes)
            if time.monotonic() > deadline:
                stack.append(open_batch)
                return _timed_out(stack, stats)
            choice = _branch(objective, analysis, record, relus, open_batch.domains, bounds, keep)
            open_batch, origin, tensor, neuron = _separated(objective, open_batch, choice, options.separate_below)
            chosen = tensor >= 0
            undecided = ~objective.clauses_refuted(open_batch.floor)  # a leaf decides only these
            if beside is not None:
                undecided &= ~beside.closed
            for row in torch.nonzero(~chosen).flatten().tolist():
                leaf = int(keep[origin[row]])
                node_bounds = {name: v.map(itemgetter(slice(leaf, leaf + 1))) for name, v in analysis.bounds.items()}
                clauses = torch.nonzero(undecided[row]).flatten().tolist()
                outcome, point = _by_milp(graph, case, objective, node_bounds, clauses, confirm, deadline)
                if outcome is Outcome.FOUND:
                    return SearchResult(Outcome.FOUND, point, stats)
                exhausted = exhausted or outcome is not Outcome.PROVED
            if bool(chosen.any()):
                stats.splits += int(chosen.sum())
                stack.append(
                    _children(open_batch.select(torch.nonzero(chosen).flatten()), tensor[chosen], neuron[chosen])
                )
        if exhausted and beside is not None:  # the MILP may yet prove what the undecided leaves left
            found = beside.take(confirm, until=deadline)
            if found is not None:
                return SearchResult(Outcome.FOUND, found, stats, by_milp=True)
            exhausted = not bool(beside.closed.all())
        return SearchResult(Outcome.EXHAUSTED if exhausted else Outcome.PROVED, None, stats)
    finally:
        if beside is not None:
            beside.stop()
            torch.set_num_threads(threads)
            stats.milp_clauses += beside.proved  # the results returned above hold this same record


def _rounding(graph: Graph, lower: Tensor, upper: Tensor, node_bounds: Mapping[str, Interval]) -> Tensor:
    """The float error bound at the output over the root box (CROWN's node bounds make it
    tighter than intervals alone)."""
    return output_error(graph, lower, upper, node_bounds)[0]


@dataclass(frozen=True)
class _Batch:
    """Domains of one depth: split states per ReLU input tensor, all with ``count`` rows, the
    row bounds their parents reached (a floor for their own: a clause refuted on a domain
    stays refuted on its sub-domains), and the alpha/beta parameters their parents'
    optimisation ended with (None: none yet)."""

    domains: Domains
    count: int
    depth: int
    floor: Tensor  # (count, m): the parents' row bounds, valid on these sub-regions too
    parameters: Parameters | None = None
    nodes: dict[str, Interval] | None = None
    first_split: int = -1  # the earliest ReLU tensor (index in the search's order) split last

    def select(self, rows: Tensor) -> _Batch:
        domains = {name: state[rows] for name, state in self.domains.items()}
        parameters = None if self.parameters is None else self.parameters.select(rows)
        nodes = None if self.nodes is None else {n: v.map(itemgetter(rows)) for n, v in self.nodes.items()}
        return _Batch(domains, int(rows.numel()), self.depth, self.floor[rows], parameters, nodes, self.first_split)


@dataclass
class _Progress:
    """The branching's open share of the tree per clause, sampled before each batch: a
    pending domain of depth d is ``2^-d`` of the tree, open for the clauses its floor
    leaves open. Where branching converges its open share falls steadily (MNIST-FC 256x2
    prop_1 eps 0.03, clause mean: 0.19 at 3 s, 0.11 at 5 s, 0.05 at 9 s, proved at 13 s);
    where it cannot, it stays put while the tree deepens (256x4 prop_3 eps 0.03: 0.35 from
    12 s to 113 s, 0.001 closed in 100 s at depth 35, while the MILP proves a clause every
    50-90 s). Depth first, it is a rough gauge (a deep subtree is finished before shallow
    domains are taken up again, and the share stays put meanwhile), so the join it calls
    for also waits for the MILP to have proved a clause."""

    window: float
    times: list[float] = field(default_factory=list)
    shares: list[Tensor] = field(default_factory=list)

    def record(self, now: float, objective: Objective, stack: list[_Batch]) -> None:
        share = torch.zeros(objective.clauses, dtype=torch.float64)
        for batch in stack:
            share += (~objective.clauses_refuted(batch.floor)).sum(dim=0) * 2.0**-batch.depth
        self.times.append(now)
        self.shares.append(share)

    def stalled(self, deadline: float, closed: Tensor) -> bool:
        """Whether, at the pace of the last window, the clauses not ``closed`` would still
        have some open share at the deadline."""
        now, start = self.times[-1], self.times[0]
        span = max(self.window, (now - start) / 4)
        if now - start < span:
            return False
        then = bisect.bisect_right(self.times, now - span) - 1
        left = float(self.shares[-1][~closed].sum())
        closing = float(self.shares[then][~closed].sum()) - left
        return left > 0 and closing * (deadline - now) < left * (now - self.times[then])


def _take(stack: list[_Batch], size: int) -> _Batch:
    """Pop up to ``size`` domains from the top of the stack."""
    batch = stack.pop()
    if batch.count > size:
        rest = torch.arange(size, batch.count)
        stack.append(batch.select(rest))
        batch = batch.select(torch.arange(size))
    return batch


def _batch_size(size: int, last: tuple[float, int] | None, now: float, deadline: float) -> int:
    """``size`` domains, or fewer where the previous batch's pace (``last``: when it
    started and its size) says a full batch would end past the deadline: a batch of a
    wide network takes seconds, more than the grace the deadline is given."""
    if last is None or now <= last[0]:
        return size
    pace = (now - last[0]) / last[1]
    return max(1, min(size, int((deadline - now) / pace)))


def _timed_out(stack: list[_Batch], stats: SearchStats) -> SearchResult:
    stats.open_boxes = sum(b.count for b in stack)
    return SearchResult(Outcome.TIMEOUT, None, stats)


def _live_above(objective: Objective, floor: Tensor, bounds: Tensor) -> Tensor:
    """The rows (domains, m) of the clauses that bounds, raised to the domains' ``floor``,
    leave open."""
    return objective.live_rows(torch.maximum(bounds, floor))


def _by_milp(
    graph: Graph,
    case: Case,
    objective: Objective,
    node_bounds: Mapping[str, Interval],
    clauses: list[int] | None,
    confirm: Confirm,
    deadline: float,
    polisher: Polish | None = None,
    apart: bool = False,
) -> tuple[Outcome, np.ndarray | None]:
    """The MILP engine's answer on the case's clauses (``clauses`` only, in that order, when
    given) with big-M from ``node_bounds`` (a region's, batch of one): PROVED, FOUND with a
    confirmed point, TIMEOUT, or EXHAUSTED when it cannot decide. ``polisher``: see
    ``RegionProgram.decide``. ``apart``: solved in a process of its own, killed at the
    deadline (``forked.within``; for the whole box's MILP, which HiGHS may run past its time
    limit; a leaf's program, without unstable neurons, is solved here)."""
    from solvers.milp import solve  # cvxpy is slow to import: only when the engine is needed

    box, constraints = case.region.box, case.region.constraints
    work = partial(
        solve,
        graph,
        box,
        constraints,
        objective,
        deadline=deadline,
        node_bounds=node_bounds,
        clauses=clauses,
        polish=polisher,
    )
    result = (within(work, deadline) or UNANSWERED) if apart else work()
    if result.outcome is ExactOutcome.PROVED:
        return Outcome.PROVED, None
    if result.outcome is ExactOutcome.FOUND and result.candidate is not None and confirm(result.candidate):
        return Outcome.FOUND, result.candidate
    return (Outcome.TIMEOUT if result.outcome is ExactOutcome.TIMEOUT else Outcome.EXHAUSTED), None


def _exact_rest(
    graph: Graph,
    case: Case,
    objective: Objective,
    root_bounds: Mapping[str, Interval],
    stack: list[_Batch],
    exhausted: bool,
    confirm: Confirm,
    deadline: float,
    stats: SearchStats,
    polisher: Polish,
    refresh: Refresh,
) -> SearchResult:
    """Hand what the branch and bound left to the MILP engine: the clauses some pending
    domain's bounds (or an undecided leaf) leave open, over the whole box, big-M from the
    root's bounds tightened by the engine (``tightened_bounds``), least refuted first
    (where a violation is likeliest). Every other clause is refuted on every domain of the
    partition the search made, so on the box."""
    from solvers.milp import tightened_bounds  # cvxpy is slow to import: only when the engine is needed

    clauses = _open_clauses(objective, stack, exhausted)
    box, constraints = case.region.box, case.region.constraints
    bounds = tightened_bounds(graph, box, constraints, root_bounds, deadline=deadline, refresh=refresh)
    outcome, point = _by_milp(graph, case, objective, bounds, clauses, confirm, deadline, polisher, apart=True)
    if outcome is Outcome.TIMEOUT:
        stats.open_boxes = sum(b.count for b in stack)
    stats.milp_clauses = len(clauses) if outcome is Outcome.PROVED else 0
    return SearchResult(outcome, point, stats, by_milp=outcome is Outcome.FOUND)


def _exact_beside(
    graph: Graph,
    case: Case,
    objective: Objective,
    root_bounds: Mapping[str, Interval],
    stack: list[_Batch],
    exhausted: bool,
    beside: MilpBeside,
    confirm: Confirm,
    deadline: float,
    stats: SearchStats,
    polisher: Polish,
) -> SearchResult:
    """The hand-over when a MILP child already proves clauses or tightens bounds beside the
    search: branching stops, this process assists the child's tightening if that is still
    under way (``MilpBeside.assist``), then decides clauses by the MILP engine too, from the end of the
    child's order (the clauses the child would reach last), skipping those closed, open on
    no pending domain, or in the child's hands, until every clause is closed, a confirmed
    point is found, or the deadline."""
    from solvers.milp import RegionProgram  # cvxpy is slow to import: only when the engine is needed

    if beside.tightened is None:
        found = beside.assist(confirm, deadline)
        if found is not None:
            return SearchResult(Outcome.FOUND, found, stats, by_milp=True)
    closed = torch.ones(objective.clauses, dtype=torch.bool)
    closed[_open_clauses(objective, stack, exhausted)] = False
    program, tightened = None, None
    tried: set[int] = set()
    idle = False  # nothing left to decide here: wait for the child's next result
    while True:
        found = beside.take(confirm, until=min(deadline, time.monotonic() + 0.25) if idle else None)
        if found is not None:
            return SearchResult(Outcome.FOUND, found, stats, by_milp=True)
        closed |= beside.closed
        if bool(closed.all()):
            return SearchResult(Outcome.PROVED, None, stats)
        if time.monotonic() > deadline:
            return _timed_out(stack, stats)
        mine = [c for c in reversed(beside.order) if not closed[c] and c != beside.current and c not in tried]
        idle = not mine
        if idle:
            if beside.pid is None:  # the child has answered all it will
                return SearchResult(Outcome.EXHAUSTED, None, stats)
            continue
        if program is None or tightened is not beside.tightened:  # the child's tightened bounds, once they come
            tightened = beside.tightened
            bounds = root_bounds if tightened is None else tightened
            program = RegionProgram(graph, case.region.box, case.region.constraints, bounds)
        tried.add(mine[0])
        result = within(partial(program.decide, objective, mine[0], deadline, polisher), deadline) or UNANSWERED
        if result.outcome is ExactOutcome.PROVED:
            beside.closed[mine[0]] = True  # so that the child proving it too is not counted again
            stats.milp_clauses += 1
        elif result.outcome is ExactOutcome.FOUND and result.candidate is not None and confirm(result.candidate):
            return SearchResult(Outcome.FOUND, result.candidate, stats, by_milp=True)


def _joins(beside: MilpBeside, late: bool, stalled: bool) -> bool:
    """Whether branching stops for the MILP engine (``_exact_beside``): once the child has
    proved a clause, when it is ``late`` (``exact_join_share``) or the branching has
    ``stalled``; when it has stalled, also as soon as the child tightens its bounds (this
    process then assists the tightening)."""
    return (bool(beside.proved) and late) or (stalled and bool(beside.proved or beside.tightening))


def _refreshed(
    crown: CrownBounds, lower: Tensor, upper: Tensor, alpha_steps: int, given: Mapping[str, Interval]
) -> Mapping[str, Interval]:
    """Every tensor's bounds over the root box, the ``given`` ones clamped and the others
    alpha-optimised: the MILP engine's ``Refresh`` after it tightens some."""
    return crown.analyse(lower, upper, given, alpha_steps=alpha_steps).bounds


def _open_clauses(objective: Objective, stack: list[_Batch], exhausted: bool) -> list[int]:
    """The clauses some pending domain's floor leaves open (all, after an undecided leaf),
    least refuted first (where a violation is likeliest); every other clause is refuted on
    every part of the partition made so far."""
    floors = torch.cat([b.floor for b in stack])
    open_ = ~objective.clauses_refuted(floors)
    if exhausted:
        open_[:] = True
    slack = torch.where(open_, objective.clause_slack(floors), torch.inf).amin(dim=0)
    return sorted(torch.nonzero(open_.any(dim=0)).flatten().tolist(), key=lambda c: float(slack[c]))


def _both(a: Interval | None, b: Interval | None) -> Interval:
    """The intersection of the bounds given (at least one is)."""
    if a is None or b is None:
        out = a if a is not None else b
        assert out is not None
        return out
    return a.intersect(b)


def _clamps(domains: Domains) -> dict[str, Interval]:
    """Pre-activation bounds implied by the splits: >= 0 when active, <= 0 when inactive."""
    inf = torch.inf
    return {
        name: Interval(
            torch.where(state > 0, 0.0, -inf).to(torch.float64), torch.where(state < 0, 0.0, inf).to(torch.float64)
        )
        for name, state in domains.items()
    }


def _try_minimisers(
    graph: Graph,
    objective: Objective,
    confirm: Confirm,
    analysis: Analysis,
    bounds: Tensor,
    keep: Tensor,
    options: AttackOptions,
    coefficients: Tensor | None,
    optimised: Tensor | None = None,
) -> np.ndarray | None:
    """Try, for each open domain (``keep``), the box corners minimising its least refuted
    row's linear bounds (where a relaxation is exact, that is the domain's worst point),
    then a short PGD in the box from the last of them. ``coefficients`` are the open
    domains' CROWN bounds' input coefficients; ``optimised`` those of their optimised
    bounds (``CrownBounds.input_coefficients``), whose corners lie near the LP
    relaxation's minimisers: MNIST-FC 256x2 prop_0 eps 0.05 (its violations are box
    corners around which the network is flat) is found after 73 domains, 1.0 s in
    process, against 6.9 s by the MILP engine's polish. CROWN's corners are kept for the
    points they hit themselves (256x6 prop_3 eps 0.05 at the root)."""
    if coefficients is None:
        return None
    slack = torch.where(objective.open_rows(bounds[keep]), bounds[keep] - objective.proof_d, torch.inf)
    row = slack.argmin(dim=1)
    lower, upper = analysis.lower[keep], analysis.upper[keep]
    corners = [
        torch.where(A[torch.arange(len(keep)), row] > 0, lower, upper)
        for A in (coefficients, optimised)
        if A is not None
    ]
    points = torch.cat(corners)
    with torch.no_grad():
        hits = objective.satisfied(graph.run(points))
    for i in torch.nonzero(hits).flatten().tolist():
        point = points[i].numpy().astype(np.float64)
        if confirm(point):
            return point
    return attack_boxes(graph, objective, confirm, lower, upper, options, starts=corners[-1])


@dataclass(frozen=True)
class _Choice:
    """Where to split each open domain (k of them): the joint choice for all its open
    clauses (``tensor``, ``neuron``: (k,), -1 when no neuron is unstable), each clause's own
    best (``own_tensor``, ``own_neuron``: (k, clauses)), and the joint choice's score for
    each clause as a share of the clause's own best (``share``: (k, clauses))."""

    tensor: Tensor
    neuron: Tensor
    own_tensor: Tensor
    own_neuron: Tensor
    share: Tensor


def _branch(
    objective: Objective,
    analysis: Analysis,
    record: dict[str, Tensor],
    relus: dict[str, str],
    domains: Domains,
    bounds: Tensor,
    keep: Tensor,
) -> _Choice:
    """Per open domain, the (tensor index in ``relus``, neuron) to split. Score: over the open
    rows (of all clauses jointly, or of one clause) |negative coefficient| on the ReLU's
    output x the intercept ``-l u / (u - l)`` of its upper relaxation (a small multiple of
    the intercept alone breaks ties, so an unstable neuron is chosen while one remains)."""
    rows_open = objective.open_rows(bounds[keep]).to(torch.float64)  # (k, m)
    k, clauses = keep.numel(), objective.clauses
    best = torch.full((k,), -torch.inf, dtype=torch.float64)
    tensor, neuron = torch.full((k,), -1), torch.full((k,), -1)
    share_at = torch.zeros(k, clauses, dtype=torch.float64)  # the joint choice's score per clause
    own = torch.full((k, clauses), -torch.inf, dtype=torch.float64)
    own_tensor, own_neuron = torch.full((k, clauses), -1), torch.full((k, clauses), -1)
    for index, (name, output) in enumerate(relus.items()):
        value = analysis.bounds[name]
        lo, hi = value.lower[keep], value.upper[keep]
        unstable = (lo < 0) & (hi > 0) & (domains[name] == 0)
        intercept = torch.where(unstable, -lo * hi / (hi - lo).clamp_min(1e-300), 0.0)
        weight = torch.zeros(k, clauses, lo.shape[1], dtype=torch.float64)
        A = record.get(output)
        if A is not None:
            weight.index_add_(1, objective.clause_of_row, A[keep].clamp_max(0).abs() * rows_open[..., None])
        per_clause = torch.where(unstable[:, None], (weight + 1e-9) * intercept[:, None], -torch.inf)
        joint = torch.where(unstable, (weight.sum(dim=1) + 1e-9) * intercept, -torch.inf)
        value_here, neuron_here = joint.max(dim=1)
        better = value_here > best
        best = torch.where(better, value_here, best)
        tensor[better], neuron[better] = index, neuron_here[better]
        at = per_clause.gather(2, neuron_here[:, None, None].expand(-1, clauses, 1)).squeeze(2)
        share_at = torch.where(better[:, None], at, share_at)
        own_here, own_neuron_here = per_clause.max(dim=2)
        improved = own_here > own
        own = torch.where(improved, own_here, own)
        own_tensor[improved], own_neuron[improved] = index, own_neuron_here[improved]
    share = torch.where(own > 0, share_at / own, 1.0)
    return _Choice(tensor, neuron, own_tensor, own_neuron, share)


def _separated(
    objective: Objective, batch: _Batch, choice: _Choice, below: float
) -> tuple[_Batch, Tensor, Tensor, Tensor]:
    """The open domains to split, with where to split each, and which of ``batch``'s rows
    each came from. A clause that the domain's joint choice serves below ``below`` of its
    own best goes on in a copy of the domain of its own (the other clauses' rows floored
    at +inf), split its own way, and leaves the domain (which is dropped when no clause is
    left to it). In one tree for all clauses each clause's tree is repeated under every
    leaf of the splits made for the others: MNIST-FC 256x2 prop_1 eps 0.03 was open after
    120 s of branching so, and its nine clauses alone took 11.7 s in all. Clauses served
    well stay together, sharing their splits (256x4 prop_10 eps 0.05, 1,011 domains
    together, was open after 60 s with every clause in a tree of its own)."""
    clause_open = ~objective.clauses_refuted(batch.floor)
    apart = clause_open & (choice.share < below) & (choice.tensor >= 0)[:, None]
    if not bool(apart.any()):  # no copy of the batch's parameters and bounds needed
        return batch, torch.arange(batch.count), choice.tensor, choice.neuron
    domain, clause = torch.nonzero(apart, as_tuple=True)
    rows_apart = apart[:, objective.clause_of_row]  # (k, m): rows of the clauses that leave
    joint_floor = torch.where(rows_apart, torch.inf, batch.floor)
    stay = torch.nonzero(~objective.clauses_refuted(joint_floor).all(dim=1)).flatten()
    origin = torch.cat([stay, domain])
    mine = objective.clause_of_row[None, :] == clause[:, None]
    floor = torch.cat([joint_floor[stay], torch.where(mine, batch.floor[domain], torch.inf)])
    tensor = torch.cat([choice.tensor[stay], choice.own_tensor[domain, clause]])
    neuron = torch.cat([choice.neuron[stay], choice.own_neuron[domain, clause]])
    return replace(batch.select(origin), floor=floor), origin, tensor, neuron


def _children(batch: _Batch, tensor: Tensor, neuron: Tensor) -> _Batch:
    """Two children per domain: the chosen neuron active, then inactive."""
    out: Domains = {}
    rows = torch.arange(batch.count)
    for index, (name, state) in enumerate(batch.domains.items()):
        active, inactive = state.clone(), state.clone()
        mine = tensor == index
        active[rows[mine], neuron[mine]] = 1
        inactive[rows[mine], neuron[mine]] = -1
        out[name] = torch.cat([active, inactive])
    parameters = None if batch.parameters is None else batch.parameters.twice()
    nodes = None if batch.nodes is None else {n: v.map(lambda t: torch.cat([t, t])) for n, v in batch.nodes.items()}
    floor = torch.cat([batch.floor, batch.floor])
    return _Batch(out, 2 * batch.count, batch.depth + 1, floor, parameters, nodes, int(tensor.min()))
