"""Exact discharge by mixed-integer linear programming: cvxpy, solved by HiGHS.

The network becomes linear constraints over flat tensors: affine nodes are their dense
matrices (``bounds.ops.base.affine_matrices``); piecewise-linear nodes are encoded by the
functions in ``solvers.milp_encoders.ENCODERS``, keyed by ONNX op type. ReLU on pre-activation bounds ``[l, u]``:
``z = x`` where ``l >= 0``, ``z = 0`` where ``u <= 0``, else the big-M form with a binary
``a`` (Tjeng et al. 2019): ``z >= 0, z >= x, z <= u a, z <= x - l (1 - a)``.
Abs, LeakyRelu and Clip are ReLUs in disguise: ``|x| = 2 relu(x) - x``, ``leaky(x) = alpha
x + (1 - alpha) relu(x)``, ``clip(x) = lo + relu(x - lo) - relu(x - hi)``. MaxPool: each window's output
``y`` is at least every candidate ``x_i`` (inputs whose upper bound reaches the window's
largest lower bound; the others can never be its maximum); one candidate is ``y = x_i``,
several get one binary each, exactly one set, with ``y <= x_i + M_i (1 - a_i)`` and ``M_i``
the largest upper bound of the other candidates less ``l_i`` (Tjeng et al. 2019). The node
bounds must be valid over the whole region; tighter bounds make a tighter program. A
bound of exactly 0 is taken for a ReLU split's clamp (a split domain's bounds, as
``solvers.activation_split`` gives them for a leaf, hold on that domain only): ``x >= 0``
(or ``x <= 0``) is then a constraint, which keeps the program to the split's side. Without
it ``z = x`` reached points of the other side, left to another domain, and a leaf's LP
found violations the network does not have (left undecided: random 35-16-15-3 networks,
a clause 0.1% beyond its MILP optimum). Elsewhere the bounds imply the sign; stating it
for every stable neuron added dense rows that made MNIST-FC 256x2 clause MILPs 1.3-1.6x
slower.

Each clause of the objective is one program: minimise ``t`` subject to ``C_i y - d_i <= t``
for its rows; its optimum is the clause's smallest margin over the region. Only whether
that margin clears the proof margin matters, not its value: HiGHS is given the proof
threshold as a cutoff (``objective_bound``, in programs with binaries), so it prunes
every node whose relaxation already clears it and searches only for a solution below it
(MNIST-FC 256x2 prop_3 eps 0.03 with alpha-CROWN node bounds: 48 s instead of 114 s).

Big-M from bounds a relaxation computed (alpha-CROWN's triangles) makes programs slow:
each neuron is bounded over a superset of what the network reaches. ``tightened_bounds``
first bounds each unstable ReLU input's side nearer zero by a MILP over the network before
it, tensor by tensor, each later tensor then re-bounded by the caller's propagation
(``Refresh``). MNIST-FC 256x4 prop_3 eps 0.03, its nine clauses: 17-33 s each after 87 s
of tightening (of the second layer's 71 unstable neurons, 15 shown to keep one sign up to
the margin; the next two layers' 6 and 63 down to 5 and 61), against 20-120 s each
before; the instance unsat in 214 s of its 300 s, where it had timed out (2026-12-01).

Soundness: the program is exact in real arithmetic, but HiGHS works with tolerances
(feasibility 1e-7 by default). A clause counts as refuted only when HiGHS's dual bound on
``t`` exceeds ``proof_margin * (1 + max |d|)``, or HiGHS finds no solution below twice that
(the cutoff), i.e. the clause is infeasible with room to spare; PROVED assumes the
solver's errors stay below that margin; so do the tightened node bounds, which are
HiGHS's dual bounds less that margin. Strict rows are relaxed to ``<=`` (sound for
proofs; candidates are checked exactly by the caller). z3 (``solvers.smt``) is exact.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import cvxpy as cp
import numpy as np
import scipy.sparse as sp
import torch

from bounds.graph import Graph
from bounds.ops.base import Interval
from solvers.exact import (
    Assistant,
    CannotEncode,
    ExactOutcome,
    ExactResult,
    NeuronWork,
    Polish,
    Refresh,
    UnboundedInput,
    affine_parts,
    clause_rows,
    flat_bounds,
    interval_node_bounds,
    remaining,
)
from solvers.highs import banner_discarded
from solvers.milp_encoders import ENCODERS
from solvers.objective import Objective
from specs.property import Box, LinearConstraints

_FEASIBLE = 2  # HighsInfo.primal_solution_status when HiGHS holds a feasible solution


@dataclass(frozen=True)
class MilpOptions:
    proof_margin: float = 1e-6  # relative: see the module docstring
    dense_fraction: float = 0.25  # matrices with more nonzeros than this stay dense
    rens: bool = False
    """HiGHS's RENS heuristic (a sub-MIP at the root looking for a solution). Off: a clause
    the bounds nearly refute has no solution below the cutoff to find, and RENS spent up to
    half the solve looking. MNIST-FC clauses with alpha-CROWN big-M, time off/on: 256x2
    prop_1 eps 0.03 0.38-0.67x, 256x4 prop_3 eps 0.03 0.59-0.88x, and the sat clause of
    256x2 prop_0 eps 0.05 found in 0.48x; 0.64x in all (``benchmarks/milp_heuristics.py``)."""
    heuristic_effort: float = 0.0
    """HiGHS's ``mip_heuristic_effort``, the share of its work on primal heuristics (its
    default 0.05). Zero: searches look for points with PGD from the LP relaxation first
    (``RegionProgram.decide``'s polish), and the branching finds what is left. 256x4 prop_3
    eps 0.03, its nine clauses one at a time with the root's alpha-CROWN big-M, 90-120 s
    cap, against the default: clauses 3 and 6 proved (119.7 s, 80.9 s) instead of open,
    clause 7 open with its dual bound at -0.144 instead of -0.303, the rest 0.83-1.08x (the
    proved ones 170.8 s against 177.6 s); the sat clause of 256x2 prop_0 eps 0.05 found by
    the MILP itself in 4.8 s against 6.0 s."""
    interior_point_binaries: int = 300
    """From this many binaries on, a clause's LP relaxation (``RegionProgram.polished``) is
    solved by HiGHS's interior point method, below by simplex. On these programs (big-M
    rows through every layer) simplex slows down with the binaries: time interior
    point/simplex, the root's alpha-CROWN big-M, MNIST-FC 256x6 (956 binaries) 0.16-0.23x,
    256x4 (507) 0.16-0.27x, 256x2 (150) 1.0-1.7x, 0.15 s more at most (``benchmarks/lp_relaxation.py``)."""


@dataclass(frozen=True)
class TighteningOptions:
    """How ``tightened_bounds`` spends its time."""

    neuron_time: float = 1.0  # HiGHS's limit for one neuron's bound (seconds)
    share: float = 0.3  # at most this share of the time left before the caller's deadline


class MilpModel:
    """The program under construction: its constraints and its number of binaries."""

    def __init__(self) -> None:
        self.constraints: list[cp.Constraint] = []
        self.binaries = 0

    def relu(self, x: cp.Expression, lower: np.ndarray, upper: np.ndarray) -> cp.Expression:
        """``max(x, 0)`` elementwise, given bounds ``lower <= x <= upper`` (see module docstring)."""
        active, inactive = lower >= 0, upper <= 0
        unstable = np.flatnonzero(~(active | inactive))
        if not (np.isfinite(lower[unstable]).all() and np.isfinite(upper[unstable]).all()):
            raise UnboundedInput("a ReLU input has an infinite bound")
        z = cp.Variable(x.shape[0])
        if active.any():
            self.constraints.append(z[np.flatnonzero(active)] == x[np.flatnonzero(active)])
        if inactive.any():
            self.constraints.append(z[np.flatnonzero(inactive)] == 0)
        if (lower == 0).any():  # a split's clamp: keep x on its side
            self.constraints.append(x[np.flatnonzero(lower == 0)] >= 0)
        if (upper == 0).any():
            self.constraints.append(x[np.flatnonzero(upper == 0)] <= 0)
        if unstable.size:
            a = cp.Variable(unstable.size, boolean=True)
            self.binaries += unstable.size
            xs, zs, lo, hi = x[unstable], z[unstable], lower[unstable], upper[unstable]
            self.constraints += [zs >= 0, zs >= xs, zs <= sp.diags(hi) @ a, zs <= xs - sp.diags(lo) @ (1 - a)]
        return z

    def maximum(self, x: cp.Expression, lower: np.ndarray, upper: np.ndarray, windows: np.ndarray) -> cp.Expression:
        """``y_o = max_k x[windows[o, k]]`` for each row ``o`` of ``windows`` (entries < 0 are
        padding), given bounds ``lower <= x <= upper`` (see the module docstring)."""
        valid = windows >= 0
        if not valid.any(axis=1).all():
            raise UnboundedInput("a MaxPool window holds only padding")
        at = np.where(valid, windows, 0)
        lo = np.where(valid, lower[at], -np.inf)
        hi = np.where(valid, upper[at], -np.inf)
        candidate = valid & (hi >= lo.max(axis=1, keepdims=True))
        several = candidate.sum(axis=1) > 1
        rows, ks = np.nonzero(candidate)
        n_out, n_in = windows.shape[0], x.shape[0]
        y = cp.Variable(n_out)
        pick = sp.csr_matrix((np.ones(rows.size), (np.arange(rows.size), at[rows, ks])), shape=(rows.size, n_in))
        out = sp.csr_matrix((np.ones(rows.size), (np.arange(rows.size), rows)), shape=(rows.size, n_out))
        self.constraints.append(out @ y >= pick @ x)
        single = ~several[rows]
        if single.any():
            self.constraints.append(out[single] @ y <= pick[single] @ x)
        if several.any():
            multi = several[rows]
            m_rows, m_ks = rows[multi], ks[multi]
            if not (np.isfinite(lo[m_rows, m_ks]).all() and np.isfinite(hi[m_rows, m_ks]).all()):
                raise UnboundedInput("a MaxPool input has an infinite bound")
            reach = np.where(candidate, hi, -np.inf)
            order = np.argsort(-reach, axis=1)
            first, second = reach[np.arange(n_out), order[:, 0]], reach[np.arange(n_out), order[:, 1]]
            others = np.where(m_ks == order[m_rows, 0], second[m_rows], first[m_rows])
            big_m = np.maximum(others - lo[m_rows, m_ks], 0.0)
            a = cp.Variable(int(multi.sum()), boolean=True)
            self.binaries += int(multi.sum())
            window = np.searchsorted(np.flatnonzero(several), m_rows)
            group = sp.csr_matrix(
                (np.ones(m_rows.size), (window, np.arange(m_rows.size))), shape=(int(several.sum()), m_rows.size)
            )
            self.constraints += [
                out[multi] @ y <= pick[multi] @ x + sp.diags(big_m) @ (1 - a),
                group @ a == 1,
            ]
        return y


def _matrix(m: np.ndarray, dense_fraction: float) -> np.ndarray | sp.csr_matrix:
    return m if np.count_nonzero(m) > dense_fraction * m.size else sp.csr_matrix(m)


def encode_network(
    graph: Graph,
    x: cp.Expression,
    node_bounds: Mapping[str, Interval],
    model: MilpModel,
    options: MilpOptions,
    output: str | None = None,
) -> cp.Expression:
    """The flat expression of tensor ``output`` (default the graph's output) for flat input
    ``x``, the constraints of the nodes before it added to ``model``."""
    target = graph.output.name if output is None else output
    env: dict[str, cp.Expression] = {graph.input.name: x}
    for node in graph.nodes:
        if target in env:
            break
        inputs = tuple(env[name] for name in node.inputs)
        if node.op.affine:
            matrices, offset = affine_parts(graph, node)
            out: cp.Expression = cp.Constant(offset)
            for m, expr in zip(matrices, inputs, strict=True):
                out = out + _matrix(m, options.dense_fraction) @ expr
            env[node.output] = out
            continue
        encoder = ENCODERS.get(node.op_type)
        if encoder is None:
            raise CannotEncode(node, "milp")
        env[node.output] = encoder(model, node, inputs, tuple(flat_bounds(node_bounds[n]) for n in node.inputs))
    return env[target]


def solve(
    graph: Graph,
    box: Box,
    constraints: LinearConstraints,
    objective: Objective,
    *,
    deadline: float,
    node_bounds: Mapping[str, Interval] | None = None,
    clauses: Sequence[int] | None = None,
    options: MilpOptions = MilpOptions(),
    polish: Polish | None = None,
) -> ExactResult:
    """Decide whether some x in the box meeting the constraints has an output satisfying a
    clause of the objective (see ``solvers.exact``). ``node_bounds`` default to interval
    bounds over the box. ``clauses``: those to decide, in that order (default all), for a
    caller that has refuted the others itself; PROVED then covers these only. ``polish``:
    see ``RegionProgram.decide``."""
    if objective.products is not None:
        return ExactResult(ExactOutcome.UNKNOWN, reason="milp has no exact encoding for polynomial output constraints")
    try:
        program = RegionProgram(graph, box, constraints, node_bounds, options)
    except (CannotEncode, UnboundedInput) as error:
        return ExactResult(ExactOutcome.UNKNOWN, reason=str(error))
    undecided = ""
    for clause in range(objective.clauses) if clauses is None else clauses:
        result = program.decide(objective, clause, deadline, polish)
        if result.outcome is ExactOutcome.FOUND or result.outcome is ExactOutcome.TIMEOUT:
            return result
        if result.outcome is ExactOutcome.UNKNOWN:
            undecided = result.reason
    if undecided:
        return ExactResult(ExactOutcome.UNKNOWN, reason=undecided)
    return ExactResult(ExactOutcome.PROVED, reason=f"every clause infeasible ({program.binaries} binaries)")


class RegionProgram:
    """The network over a region (box and linear input constraints) encoded once; each
    clause is then decided by its own program (see the module docstring). Raises
    CannotEncode or UnboundedInput when the graph has no exact encoding here."""

    def __init__(
        self,
        graph: Graph,
        box: Box,
        constraints: LinearConstraints,
        node_bounds: Mapping[str, Interval] | None = None,
        options: MilpOptions = MilpOptions(),
        output: str | None = None,
    ) -> None:
        bounds = node_bounds if node_bounds is not None else interval_node_bounds(graph, box)
        model = MilpModel()
        self.box, self.options = box, options
        self.x = cp.Variable(box.size)
        self.network = [self.x >= box.lower, self.x <= box.upper]
        if len(constraints):
            self.network.append(constraints.A @ self.x <= constraints.b)  # strict rows relaxed: sound for proofs
        self.y = encode_network(graph, self.x, bounds, model, options, output)
        """The flat expression of tensor ``output`` (default the graph's output)."""
        self.network += model.constraints
        self.binaries = model.binaries
        self._least: tuple[cp.Problem, cp.Parameter] | None = None

    def least(self, element: int, sign: float, time_limit: float) -> float:
        """A lower bound on ``sign * y[element]`` over the region, capped at 0: HiGHS's dual
        bound within ``time_limit`` seconds, less the proof margin (see the module
        docstring), or 0 less it when HiGHS finds no point below 0 (its cutoff, in programs
        with binaries, set the margin above 0: only a bound's sign decides a ReLU). ``-inf``
        when HiGHS fails. One
        program serves every element: its objective's coefficients are a cvxpy parameter,
        compiled once."""
        if self._least is None:
            t, coefficients = cp.Variable(), cp.Parameter(self.y.shape[0])
            self._least = cp.Problem(cp.Minimize(t), [*self.network, coefficients @ self.y <= t]), coefficients
        problem, coefficients = self._least
        unit = np.zeros(self.y.shape[0])
        unit[element] = sign
        coefficients.value = unit
        integer, margin = self.binaries > 0, self.options.proof_margin
        try:  # the cutoff a margin above 0: HiGHS prunes nodes within its own tolerance of it
            status = self._solve(problem, time_limit, **({"objective_bound": margin} if integer else {}))
        except cp.SolverError:
            return -np.inf
        if status == cp.INFEASIBLE:
            value = 0.0
        elif status in (cp.OPTIMAL, cp.USER_LIMIT):
            info: Any = problem.solver_stats.extra_stats
            value = float(info.mip_dual_bound) if integer else float(problem.value) if status == cp.OPTIMAL else -np.inf
            value = min(value, 0.0)
        else:
            return -np.inf
        return value - margin * (1 + abs(value))

    def _solve(self, problem: cp.Problem, time_limit: float, **settings: Any) -> str:
        """HiGHS's status for ``problem`` (cvxpy's name) with this program's options and
        ``settings``; raises cvxpy's SolverError when HiGHS fails."""
        with banner_discarded(), warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # cvxpy's "may be inaccurate" at a time limit
            problem.solve(  # type: ignore[no-untyped-call]
                solver=cp.HIGHS,
                time_limit=max(time_limit, 0.01),
                output_flag=False,
                mip_heuristic_run_rens=self.options.rens,
                mip_heuristic_effort=self.options.heuristic_effort,
                **settings,
            )
        return str(problem.status)

    def decide(self, objective: Objective, clause: int, deadline: float, polish: Polish | None = None) -> ExactResult:
        """Minimise the clause's margin ``t``: PROVED when the dual bound clears the proof
        margin, FOUND with HiGHS's point when its margin is <= 0 (checked by the caller).
        With ``polish``, ``polished`` comes first, on the same compiled program."""
        if remaining(deadline) <= 0:
            return ExactResult(ExactOutcome.TIMEOUT, reason="deadline before the clause was solved")
        problem, tolerance = self._clause_problem(objective, clause)
        integer, box = self.binaries > 0, self.box
        if polish is not None:
            found = self._polished(problem, deadline, polish)
            if found is not None:
                return found
            if remaining(deadline) <= 0:
                return ExactResult(ExactOutcome.TIMEOUT, reason="deadline before the clause was solved")
        # the cutoff, for a MIP only: a pure LP stopped by it would come back as a user limit
        cutoff = {"objective_bound": 2 * tolerance} if integer else {}
        try:
            status = self._solve(problem, remaining(deadline), mip_rel_gap=0.0, mip_abs_gap=tolerance / 10, **cutoff)
        except cp.SolverError as error:
            return ExactResult(ExactOutcome.UNKNOWN, reason=f"HiGHS failed: {error}")
        if status == cp.INFEASIBLE:
            return ExactResult(ExactOutcome.PROVED, reason="infeasible")
        if status not in (cp.OPTIMAL, cp.USER_LIMIT):
            return ExactResult(ExactOutcome.UNKNOWN, reason=f"HiGHS status {status}")
        info: Any = problem.solver_stats.extra_stats  # highspy's HighsInfo
        dual_bound = (
            float(info.mip_dual_bound) if integer else float(problem.value) if status == cp.OPTIMAL else -np.inf
        )
        if dual_bound > tolerance:
            return ExactResult(ExactOutcome.PROVED, reason=f"clause margin >= {dual_bound:.3g}")
        margin = float(info.objective_function_value)  # of HiGHS's best solution, if it has one
        if info.primal_solution_status == _FEASIBLE and self.x.value is not None and margin <= 0:
            candidate = np.clip(np.asarray(self.x.value, dtype=np.float64), box.lower, box.upper)
            return ExactResult(ExactOutcome.FOUND, candidate, reason=f"clause margin {margin:.3g}")
        if status == cp.OPTIMAL:
            return ExactResult(
                ExactOutcome.UNKNOWN, reason=f"optimal clause margin {margin:.3g} is within the proof margin"
            )
        return ExactResult(ExactOutcome.TIMEOUT, reason="HiGHS time limit")

    def polished(self, objective: Objective, clause: int, deadline: float, polish: Polish) -> ExactResult | None:
        """FOUND with the point ``polish`` returns from the minimiser of the clause's LP
        relaxation (each binary in [0, 1]: the triangle relaxation of each ReLU), else None.
        That minimiser lies near violations that neither PGD from random starts nor HiGHS's
        heuristics reach soon: MNIST-FC 256x2 prop_0 eps 0.05, whose violations are corners
        of the box the network's output is flat around, has one within 60 sign steps of it
        (the relaxation 0.1-0.2 s; the MILP found one in 6 s). Nothing for a program
        without binaries (an LP: ``decide`` solves it exactly)."""
        return self._polished(self._clause_problem(objective, clause)[0], deadline, polish)

    def _clause_problem(self, objective: Objective, clause: int) -> tuple[cp.Problem, float]:
        """The program minimising the clause's margin, and the clause's proof margin."""
        C, d, _ = clause_rows(objective, clause)
        tolerance = self.options.proof_margin * (1 + float(np.abs(d).max(initial=0.0)))
        t = cp.Variable()
        return cp.Problem(cp.Minimize(t), [*self.network, C @ self.y - d <= t]), tolerance

    def _polished(self, problem: cp.Problem, deadline: float, polish: Polish) -> ExactResult | None:
        if self.binaries == 0 or remaining(deadline) <= 0:
            return None
        point = self._relaxation_minimiser(problem, deadline)
        found = None if point is None else polish(point)
        if found is None:
            return None
        return ExactResult(ExactOutcome.FOUND, found, reason="PGD from the LP relaxation's minimiser")

    def _relaxation_minimiser(self, problem: cp.Problem, deadline: float) -> np.ndarray | None:
        """The input of an optimum of the problem's LP relaxation, in the box (None if
        HiGHS finds none in time), by the method ``options.interior_point_binaries`` picks."""
        interior = self.binaries >= self.options.interior_point_binaries
        method = {"solver": "ipm" if interior else "simplex"}  # in highs_options: cvxpy's ``solver`` keyword is taken
        try:
            status = self._solve(problem, remaining(deadline), solve_relaxation=True, highs_options=method)
        except cp.SolverError:
            return None
        if status != cp.OPTIMAL or self.x.value is None:
            return None
        return np.clip(np.asarray(self.x.value, dtype=np.float64), self.box.lower, self.box.upper)


def tightened_bounds(
    graph: Graph,
    box: Box,
    constraints: LinearConstraints,
    node_bounds: Mapping[str, Interval],
    *,
    deadline: float,
    refresh: Refresh | None = None,
    options: MilpOptions = MilpOptions(),
    tightening: TighteningOptions = TighteningOptions(),
    assistant: Assistant | None = None,
) -> dict[str, Interval]:
    """``node_bounds`` with ReLU inputs' bounds tightened by the MILP engine, tensor by
    tensor in topological order, within ``tightening.share`` of the time left.

    Each unstable neuron gets the bound of its side nearer zero (where it may turn stable)
    from a MILP over the network before it, big-M from the bounds so far
    (``RegionProgram.least``, at most ``tightening.neuron_time`` each), the most lopsided
    neurons first; then ``refresh`` (the caller's bound propagation) recomputes the later
    tensors from the tensors changed so far. Bounds relaxations cannot reach are what make big-M
    programs slow: the triangle relaxation behind alpha-CROWN bounds each neuron over a
    superset of what the network reaches. Tensors before any binary (and without input
    constraints) are skipped: their bounds come from an affine map of the box, exact
    already. A program it cannot encode leaves the bounds as they are. When the
    ``assistant`` (another process) is ready, it gets every other neuron of the tensor's
    remaining ones, and the tensor is done when both halves are (``near_sides``)."""
    stop = time.monotonic() + tightening.share * remaining(deadline)
    bounds = dict(node_bounds)
    done: dict[str, Interval] = {}
    for name in dict.fromkeys(node.inputs[0] for node in graph.nodes if node.op_type == "Relu"):
        if remaining(stop) <= 0:
            break
        given = flat_bounds(bounds[name])
        lower, upper = given[0].copy(), given[1].copy()
        unstable = np.flatnonzero((lower < 0) & (upper > 0))
        if not unstable.size:
            continue
        try:
            program = RegionProgram(graph, box, constraints, bounds, options, output=name)
        except (CannotEncode, UnboundedInput):
            return bounds
        if not (program.binaries or len(constraints)):
            continue
        near = np.minimum(-lower, upper)[unstable] / (upper - lower)[unstable]
        neurons = [(int(i), 1.0 if -lower[i] <= upper[i] else -1.0) for i in unstable[np.argsort(near, kind="stable")]]
        theirs: tuple[tuple[int, float], ...] = ()
        while neurons and remaining(stop) > 0:
            if assistant is not None and not theirs and len(neurons) > 1 and assistant.ready():
                theirs, neurons = tuple(neurons[1::2]), neurons[0::2]
                assistant.give(NeuronWork(name, bounds, theirs, tightening.neuron_time, stop))
            element, sign = neurons.pop(0)
            least = program.least(element, sign, min(tightening.neuron_time, remaining(stop)))
            _raise_near_sides(lower, upper, [(element, sign)], [least])
        if theirs and assistant is not None:
            leasts = assistant.results(until=stop + tightening.neuron_time + 1.0)
            _raise_near_sides(lower, upper, theirs, leasts or [])
        if np.array_equal(lower, given[0]) and np.array_equal(upper, given[1]):
            continue
        shape = bounds[name].lower.shape
        done[name] = Interval(
            torch.from_numpy(lower).reshape(shape).to(bounds[name].lower.dtype),
            torch.from_numpy(upper).reshape(shape).to(bounds[name].upper.dtype),
        )
        bounds[name] = done[name]
        if refresh is not None:
            fresh = refresh(done)
            bounds = {key: value.intersect(fresh[key]) if key in fresh else value for key, value in bounds.items()}
            if any(bool((value.lower > value.upper).any()) for value in bounds.values()):
                return dict(node_bounds)  # enclosures of one value that cross: some solver erred; keep the given
    return bounds


def near_sides(
    graph: Graph, box: Box, constraints: LinearConstraints, work: NeuronWork, options: MilpOptions = MilpOptions()
) -> list[float]:
    """An assistant's share of ``tightened_bounds``: a lower bound on each neuron of
    ``work`` (``RegionProgram.least``), in order, as many as its stop leaves time for."""
    try:
        program = RegionProgram(graph, box, constraints, work.bounds, options, output=work.tensor)
    except (CannotEncode, UnboundedInput):
        return []
    leasts = []
    for element, sign in work.neurons:
        if remaining(work.stop) <= 0:
            break
        leasts.append(program.least(element, sign, min(work.neuron_time, remaining(work.stop))))
    return leasts


def _raise_near_sides(
    lower: np.ndarray, upper: np.ndarray, neurons: Sequence[tuple[int, float]], leasts: Sequence[float]
) -> None:
    """Tighten each neuron's near side, in place, by its least value of ``sign * x``
    (``leasts`` may be shorter than ``neurons``: those without one stay)."""
    for (element, sign), least in zip(neurons, leasts, strict=False):
        if sign > 0:
            lower[element] = max(lower[element], least)
        else:
            upper[element] = min(upper[element], -least)
