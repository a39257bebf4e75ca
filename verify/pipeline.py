"""The verification pipeline: falsify first, then prove by branch and bound, under a budget."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import numpy as np

from bounds.graph import Graph
from bounds.onnx_import import parse_onnx, read_model_bytes
from solvers.bounders import make_bounder
from solvers.falsify import AttackOptions, falsify
from solvers.input_split import Outcome, SplitOptions, input_split_search
from solvers.objective import Objective
from specs.property import Property
from verify.check import OnnxChecker
from verify.errors import QueryError
from verify.result import Counterexample, Result, Status


@dataclass(frozen=True)
class Options:
    """Everything a verification run can be told; passed down explicitly."""

    timeout: float = 60.0
    bounds: str = "auto"  # one of solvers.bounders.METHODS; auto: alpha-CROWN where the graph allows it
    attack_share: float = 0.1  # share of the budget for falsification before proving
    attack: AttackOptions = field(default_factory=AttackOptions)
    split: SplitOptions = field(default_factory=SplitOptions)
    seed: int = 0


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
    was covered by bounds that refute all its clauses (real arithmetic, see ARCHITECTURE.md).
    """
    start = time.monotonic()
    deadline = start + options.timeout
    _check_fits(model, prop)
    confirmer = _Confirmer(OnnxChecker(model.onnx, model.graph.input, prop))
    cases = [c for c in prop.cases if not c.region.box.is_empty() and c.condition.clauses]
    stats: dict[str, float] = {"cases": len(prop.cases)}

    def done(status: Status, reason: str) -> Result:
        stats["candidates_checked"] = confirmer.tried
        return Result(status, confirmer.found, time.monotonic() - start, stats, reason)

    attack_deadline = start + options.attack_share * options.timeout
    for index, case in enumerate(cases):
        found = falsify(
            model.graph, case, confirmer, options=options.attack, deadline=attack_deadline, seed=options.seed + index
        )
        if found is not None:
            return done(Status.SAT, "counterexample found by falsification")
    open_reason = ""
    timed_out = False
    for case in cases:
        bounder = make_bounder(model.graph, Objective.of(case), options.bounds)
        result = input_split_search(
            model.graph, case, confirmer, deadline=deadline, options=options.split, bounder=bounder
        )
        stats["boxes_bounded"] = stats.get("boxes_bounded", 0) + result.stats.bounded
        stats["splits"] = stats.get("splits", 0) + result.stats.splits
        stats["max_depth"] = max(stats.get("max_depth", 0), result.stats.max_depth)
        if result.outcome is Outcome.FOUND:
            return done(Status.SAT, "counterexample found during branch and bound")
        if result.outcome is Outcome.TIMEOUT:
            timed_out = True
            break
        if result.outcome is Outcome.EXHAUSTED:
            open_reason = "boxes too small to split remain unproved"
    if timed_out:
        return done(Status.TIMEOUT, "time budget spent")
    if not cases:
        return done(Status.UNSAT, "no case can hold: every input region is empty or its output condition false")
    if open_reason:
        return done(Status.UNKNOWN, open_reason)
    return done(Status.UNSAT, "every input box refuted by bounds")
