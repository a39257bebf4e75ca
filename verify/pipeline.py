"""The verification pipeline: falsify first, then prove by branch and bound, under a budget."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from functools import partial

import numpy as np
import torch

from bounds.float_error import output_error, refusals
from bounds.graph import Graph
from bounds.onnx_file import read_model_bytes
from bounds.onnx_import import parse_onnx
from solvers.activation_split import activation_split_search
from solvers.bounders import make_bounder, make_influence, root_bounds, trial_method
from solvers.exact import UNANSWERED, ExactOutcome, engine
from solvers.falsify import Rounds, falsify
from solvers.forked import within
from solvers.input_split import Outcome, SearchResult, input_split_search
from solvers.objective import Objective
from solvers.options import EXACT_ENGINES
from solvers.region import tightened
from specs.property import Box, Case, Property
from verify.check import OnnxChecker
from verify.errors import QueryError
from verify.options import ENGINES, Options
from verify.result import Counterexample, Result, Status

INPUT_SPLIT_MAX_INPUTS = 16
"""Above this many input values, auto splits ReLUs instead of the input box: halving one of
hundreds of input dimensions barely tightens bounds (MNIST), while for a handful of inputs
input splitting decides faster than ReLU splitting (ACAS Xu)."""

TIGHTEN_SHARE = 0.1
"""Share of the budget within which cases have their regions tightened by LP
(``solvers.region``: up to about 0.2 s for a case with rows over 64 inputs); the cases
after it keep their boxes (a property may have thousands of cases)."""
POLYNOMIAL_SEARCH_SHARE = 0.5
"""Share of the time left that the input split spends on a case with polynomial rows before
z3 decides what it left open, over the case's whole box, with the rest: interval arithmetic
over ever smaller boxes refutes with a margin, z3 also where the condition only touches the
outputs' range (a strict inequality at its extreme)."""


def choose_engine(graph: Graph, requested: str, polynomial: bool = False) -> str:
    """The search engine for a graph: the requested one, or auto's pick (see above); input
    split when the property has ``polynomial`` rows, which the ReLU split does not handle."""
    if requested not in ENGINES:
        raise ValueError(f"unknown engine {requested!r}; choose from {', '.join(ENGINES)}")
    if requested != "auto":
        return requested
    if polynomial:
        return "input-split"
    has_relu = any(node.op_type == "Relu" for node in graph.nodes)
    return "activation-split" if has_relu and graph.input.size > INPUT_SPLIT_MAX_INPUTS else "input-split"


@dataclass(frozen=True)
class Model:
    """A loaded network: the analysis graph and the bytes onnxruntime runs."""

    graph: Graph
    onnx: bytes
    source: str


def load_model(path: str | os.PathLike[str]) -> Model:
    """Read and import an ONNX file (``ModelError`` naming the file on failure)."""
    data = read_model_bytes(path)
    return Model(parse_onnx(data, str(path)), data, str(path))


def _check_fits(model: Model, prop: Property) -> None:
    graph = model.graph
    if len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise QueryError(
            f"{model.source}: model has {len(graph.inputs)} inputs and {len(graph.outputs)} outputs; "
            "one of each is supported"
        )
    if prop.input.size != graph.input.size:
        raise QueryError(
            f"{model.source}: query declares {prop.input.size} input values, "
            f"model input {graph.input.name!r} has {graph.input.size}"
        )
    if prop.output.size != graph.output.size:
        raise QueryError(
            f"{model.source}: query declares {prop.output.size} output values, "
            f"model output {graph.output.name!r} has {graph.output.size}"
        )


class _Confirmer:
    """The ``confirm`` callback for the solvers, remembering what it confirmed."""

    def __init__(self, checker: OnnxChecker) -> None:
        self.checker = checker
        self.found: Counterexample | None = None
        self.tried = 0

    def __call__(self, candidate: np.ndarray) -> bool:
        self.tried += 1
        self.found = self.found or self.checker.confirm(candidate)
        return self.found is not None


def check_property(model: Model, prop: Property, options: Options = Options()) -> Result:
    """Decide the property on the model within ``options.timeout`` seconds.

    SAT only with a counterexample onnxruntime confirmed; UNSAT only when every case's box
    was covered by bounds that refute all its clauses, for the real network or, with
    ``Options.float_rounding`` or a query declaring a float type, for the model as executed
    in that type (which implies the real network too); the UNSAT reason says which. See
    ARCHITECTURE.md, "Soundness and floating point".
    """
    start = time.monotonic()
    deadline = start + options.timeout
    _check_fits(model, prop)
    options = replace(options, float_rounding=_float_rounding(model, prop, options))
    arithmetic = "float execution" if options.float_rounding else "real arithmetic"
    confirmer = _Confirmer(OnnxChecker(model.onnx, model.graph.input, prop))
    cases = _cases_to_decide(prop, start + TIGHTEN_SHARE * options.timeout)
    stats: dict[str, float] = {"cases": len(prop.cases), "float_rounding": float(options.float_rounding)}

    def done(status: Status, reason: str) -> Result:
        stats["candidates_checked"] = confirmer.tried
        if status is Status.UNSAT:
            reason = f"{reason} ({arithmetic})"
        return Result(status, confirmer.found, time.monotonic() - start, stats, reason)

    if not options.search:
        return done(*_decide_by_bounds(model.graph, cases, options.bounds, options.float_rounding))
    attack_deadline = start + min(options.attack_share * options.timeout, options.attack_max)
    for index, case in enumerate(cases):
        found = falsify(
            model.graph, case, confirmer, options=options.attack, deadline=attack_deadline, seed=options.seed + index
        )
        if found is not None:
            return done(Status.SAT, "counterexample found by falsification")
    polynomial = any(_polynomial(case) for case in cases)
    engine = choose_engine(model.graph, options.engine, polynomial)
    if engine in EXACT_ENGINES:
        return done(*_decide_exactly(model.graph, cases, confirmer, engine, deadline, options.float_rounding))
    if engine == "activation-split" and polynomial:
        return done(Status.UNKNOWN, "the activation-split search decides linear output constraints only")
    open_reason = ""
    timed_out = False
    by_z3 = False
    for case in cases:
        exact = options.engine == "auto" and _polynomial(case) and not options.float_rounding
        search_deadline = time.monotonic() + POLYNOMIAL_SEARCH_SHARE * (deadline - time.monotonic())
        result = _search(model.graph, case, confirmer, search_deadline if exact else deadline, engine, options)
        stats["domains_bounded"] = stats.get("domains_bounded", 0) + result.stats.bounded
        stats["splits"] = stats.get("splits", 0) + result.stats.splits
        stats["max_depth"] = max(stats.get("max_depth", 0), result.stats.max_depth)
        if result.stats.milp_clauses:
            stats["milp_clauses"] = stats.get("milp_clauses", 0) + result.stats.milp_clauses
        if result.outcome is Outcome.FOUND:
            by = "by the MILP engine or from its LP relaxation" if result.by_milp else "during branch and bound"
            return done(Status.SAT, f"counterexample found {by}")
        if exact and result.outcome in (Outcome.TIMEOUT, Outcome.EXHAUSTED):
            status, reason = _decide_exactly(model.graph, [case], confirmer, "smt", deadline, False)
            if status is Status.SAT:
                return done(status, reason)
            if status is Status.TIMEOUT:
                timed_out = True
                break
            if status is Status.UNKNOWN:
                open_reason = reason
            by_z3 = True
            continue
        if result.outcome is Outcome.TIMEOUT:
            timed_out = True
            break
        if result.outcome is Outcome.EXHAUSTED:
            open_reason = (
                "boxes too small to split remain unproved"
                if engine == "input-split"
                else "domains with every ReLU split remain unproved"
            )
    if timed_out:
        return done(Status.TIMEOUT, "time budget spent")
    if not cases:
        return done(Status.UNSAT, "no case can hold: every input region is empty or its output condition false")
    if open_reason:
        return done(Status.UNKNOWN, open_reason)
    if engine == "input-split":
        searched = "every input box refuted by bounds" + (", or its case by z3" if by_z3 else "")
    else:
        searched = "every ReLU-split domain refuted (by bounds, or by LP at the leaves)"
    by_milp = int(stats.get("milp_clauses", 0))
    if by_milp and by_milp == sum(len(case.condition.clauses) for case in cases):
        return done(Status.UNSAT, "every clause proved by MILP on the whole box")
    if by_milp:
        return done(Status.UNSAT, f"{by_milp} clause(s) proved by MILP on the whole box, the rest: {searched}")
    return done(Status.UNSAT, searched)


def _polynomial(case: Case) -> bool:
    return any(clause.polynomial is not None for clause in case.condition.clauses)


def _cases_to_decide(prop: Property, until: float) -> list[Case]:
    """The cases that can hold, each region's box cut down to the bounds its linear rows
    certifiably imply (``solvers.region``; until the time ``until``, then only boxes with
    an infinite side): a case without clauses, or whose region has no point
    (``InputRegion.is_empty``, or an LP certificate), is dropped; QueryError when an input
    stays unbounded."""
    cases = []
    for case in prop.cases:
        if case.region.is_empty() or not case.condition.clauses:
            continue
        box = case.region.box
        bounded = bool(np.isfinite(box.lower).all() and np.isfinite(box.upper).all())
        region = tightened(case.region) if time.monotonic() < until or not bounded else case.region
        if region is not None:
            _check_bounded(prop, region.box)
            cases.append(replace(case, region=region))
    return cases


def _check_bounded(prop: Property, box: Box) -> None:
    """QueryError for an input that neither its bounds nor the linear rows bound (readers
    let an input without bounds through when a row uses it)."""
    for side, values in (("lower", box.lower), ("upper", box.upper)):
        unbounded = np.flatnonzero(~np.isfinite(values))
        if unbounded.size:
            raise QueryError(
                f"{prop.source or 'property'}: input {prop.input.name} element {int(unbounded[0])} has no {side} "
                "bound, not even from the linear input constraints"
            )


def _search(
    graph: Graph, case: Case, confirmer: _Confirmer, deadline: float, engine: str, options: Options
) -> SearchResult:
    def round_(number: int, round_deadline: float) -> np.ndarray | None:
        seed = options.seed + 7919 * number  # apart from the up-front attack's seeds
        attack_deadline = min(round_deadline, deadline)
        return falsify(graph, case, confirmer, options=options.attack_rounds, deadline=attack_deadline, seed=seed)

    attack = Rounds(round_)
    if engine == "activation-split":
        search = replace(options.activation_split, float_rounding=options.float_rounding)
        return activation_split_search(
            graph, case, confirmer, deadline=deadline, options=search, kernels=options.kernels, attack=attack
        )
    objective = Objective.of(case)
    bounder = make_bounder(
        graph,
        objective,
        options.bounds,
        kernels=options.kernels,
        device=options.device,
        float_rounding=options.float_rounding,
    )
    trial_bounder = make_bounder(
        graph,
        objective,
        trial_method(options.bounds),
        kernels=options.kernels,
        device=options.device,
        float_rounding=options.float_rounding,
    )
    return input_split_search(
        graph,
        case,
        confirmer,
        deadline=deadline,
        options=replace(options.split, float_rounding=options.float_rounding),
        bounder=bounder,
        trial_bounder=trial_bounder,
        influence=make_influence(graph, objective, options.bounds, kernels=options.kernels, device=options.device),
        attack=attack,
    )


def _float_rounding(model: Model, prop: Property, options: Options) -> bool:
    """Whether to prove for float execution (``Options.float_rounding`` or a declared float
    type); QueryError when so and the model has ops without float error rules."""
    declared = prop.input.element_type != "real" or prop.output.element_type != "real"
    if not (options.float_rounding or declared):
        return False
    reasons = refusals(model.graph)
    if reasons:
        raise QueryError(f"{model.source}: cannot bound the model's float execution: {'; '.join(reasons)}")
    return True


def _decide_exactly(
    graph: Graph, cases: list[Case], confirmer: _Confirmer, name: str, deadline: float, float_rounding: bool
) -> tuple[Status, str]:
    """Every case by one exact engine alone (``Options.engine``); its candidates are
    confirmed by onnxruntime like any other. Under float rounding, the error bound over
    the case's box widens each clause; a case with polynomial rows is then left undecided
    (that widening is linear)."""
    solve = engine(name)
    undecided = ""
    for case in cases:
        objective = Objective.of(case)
        if float_rounding and objective.products is not None:
            undecided = f"{name}: polynomial constraints are not encoded for float execution"
            continue
        if float_rounding:
            box = case.region.box
            error = output_error(graph, torch.tensor(box.lower)[None], torch.tensor(box.upper)[None])
            objective = objective.with_rounding(error[0])
        work = partial(solve, graph, case.region.box, case.region.constraints, objective, deadline=deadline)
        result = within(work, deadline) or UNANSWERED
        if result.outcome is ExactOutcome.FOUND and result.candidate is not None:
            if confirmer(result.candidate):
                return Status.SAT, f"counterexample found by {name}"
            undecided = f"{name}: candidate not confirmed by onnxruntime ({result.reason})"
        elif result.outcome is ExactOutcome.TIMEOUT:
            return Status.TIMEOUT, f"{name}: {result.reason}"
        elif result.outcome is ExactOutcome.UNKNOWN:
            undecided = f"{name}: {result.reason}"
    if undecided:
        return Status.UNKNOWN, undecided
    return Status.UNSAT, f"every case refuted by {name}"


def _decide_by_bounds(graph: Graph, cases: list[Case], method: str, float_rounding: bool) -> tuple[Status, str]:
    """UNSAT when the bounds on every case's whole box refute it, else UNKNOWN (``--no-search``)."""
    for case in cases:
        objective = Objective.of(case)
        lower = torch.tensor(case.region.box.lower, dtype=torch.float64)[None]
        upper = torch.tensor(case.region.box.upper, dtype=torch.float64)[None]
        bounds = root_bounds(graph, objective, method, lower, upper, float_rounding=float_rounding)
        if not bool(objective.refuted(bounds).all()):
            return Status.UNKNOWN, "the bounds alone do not prove it (no search)"
    return Status.UNSAT, "proved by bounds alone"
