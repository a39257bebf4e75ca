"""Backward linear bound propagation (CROWN, Zhang et al. 2018) over general graphs.

A lower bound on ``A @ t + bias`` (t some tensor of the graph) is found by carrying the
coefficients backwards through the nodes that produce t, in reverse topological order,
accumulating over every path (branches, residual Add):

- an affine node passes ``A`` to each input by the vector-Jacobian product of the op
  (a cached dense matrix for small single-input ops), and adds ``A @ f(0)`` to the bias;
- an elementwise node with a ``Relaxation`` picks, per coefficient, the side that bounds it
  from below (lower side where ``A >= 0``, upper side where ``A < 0``);
- a node with a ``LinearRelaxation`` (MaxPool, Softmax...) does the same with dense weights;
- any other node is bounded by its interval (a relaxation of slope zero), which ends the
  path there.

At the input box the linear function is minimised exactly: ``A x_mid - |A| x_rad``. The
bounds each relaxation needs (its input's bounds) come from the same procedure started at
that input, intersected with interval bounds and with any caller-given ``clamps`` (the
constraints of a branch-and-bound subdomain). Arithmetic is float64 over the reals (see
ARCHITECTURE.md); optionally, the refinement's back-substitutions run in float32 with
rigorous terms for their own rounding (``float32_refinement``, ``bounds.rounding``).

The hot steps (relaxation, concretisation over a box, dense affine maps) run on the
``Kernels`` backend given (``bounds.kernels``: torch on any device, numba or numpy on CPU);
the rest (the interval pass, relaxations, vector-Jacobian products of large affine ops,
dense linear relaxations) is torch on the backend's device. alpha/beta-CROWN's optimisation
needs gradients, so its back-substitutions always use torch kernels on that device.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, fields
from functools import cached_property

import torch

from bounds.adam import Adam
from bounds.graph import Graph, Node, op_to
from bounds.kernels import Kernels, TorchKernels, make_kernels
from bounds.ops.base import DTYPE, Affine, Interval, LinearRelaxation, Relaxation, Reshaped, Shape, Tensor
from bounds.rounding import FLOAT32, error_bound, exact_float32, magnitude, penalty

STEP_DTYPE = torch.float32
"""The float type of alpha/beta-CROWN's optimisation steps. They only search for good
parameters: the bounds returned are those parameters' evaluated in float64 (``DTYPE``)
afterwards, so the steps' rounding costs tightness at worst, never soundness, and float32
products take about half float64's time."""

DENSE_LIMIT = 1 << 20
"""Single-input affine ops whose dense matrix has at most this many entries propagate by
matrix product with a cached matrix; larger ones (convolutions) by vector-Jacobian product."""

Clamps = Mapping[str, Interval]
"""Extra bounds on tensors, flat (batch, n): a subdomain's constraints, intersected in."""


@dataclass
class Analysis:
    """What one forward pass of intermediate bounds produced for a batch of boxes.

    ``bounds`` holds flat (batch, n) bounds of every tensor; ``relaxations`` the relaxation of
    every non-affine node, keyed by its output name; ``empty`` flags boxes whose clamps
    contradict the bounds (the subdomain holds no point). ``slopes`` holds, for each tensor
    whose every neuron was alpha-optimised, the lower slopes its bounds ended with: per
    relaxed node, (batch, 2n, n_node), rows the lower bounds of its n neurons, then their
    upper bounds.
    """

    lower: Tensor
    upper: Tensor
    bounds: dict[str, Interval] = field(default_factory=dict)
    relaxations: dict[str, Relaxation | LinearRelaxation | None] = field(default_factory=dict)
    empty: Tensor | None = None
    slopes: dict[str, dict[str, Tensor]] = field(default_factory=dict)

    def select(self, rows: Tensor) -> Analysis:
        """The analysis of a subset of the boxes (``rows``: a mask or indices)."""
        return self._map(lambda t: t[rows], slopes=True)

    def cast(self, dtype: torch.dtype) -> Analysis:
        """Bounds and relaxations in another float type, without ``slopes``."""
        return self._map(lambda t: t.to(dtype) if t.is_floating_point() else t, slopes=False)

    def _map(self, f: Callable[[Tensor], Tensor], *, slopes: bool) -> Analysis:
        def each(r: Relaxation | LinearRelaxation | None) -> Relaxation | LinearRelaxation | None:
            return None if r is None else type(r)(*(f(getattr(r, field.name)) for field in fields(r)))

        return Analysis(
            f(self.lower),
            f(self.upper),
            {name: Interval(f(v.lower), f(v.upper)) for name, v in self.bounds.items()},
            {name: each(r) for name, r in self.relaxations.items()},
            None if self.empty is None else f(self.empty),
            {name: {node: f(s) for node, s in per_node.items()} for name, per_node in self.slopes.items()}
            if slopes
            else {},
        )


@dataclass(frozen=True)
class Parameters:
    """alpha/beta-CROWN's optimisation variables for a batch of boxes, each (batch, m, n):
    lower slopes per relaxed node and multipliers per split tensor. Any values are safe to
    start an optimisation from (slopes are clamped into their valid ranges, multipliers to
    >= 0, when used), so branch and bound hands a domain's to its children."""

    alphas: dict[str, Tensor]
    betas: dict[str, Tensor]

    def select(self, rows: Tensor | tuple[Tensor, Tensor]) -> Parameters:
        """The entries ``rows`` picks (boxes, or a pack's (box, row) index) of every tensor."""
        return Parameters(
            {name: a[rows] for name, a in self.alphas.items()}, {name: b[rows] for name, b in self.betas.items()}
        )

    def placed(self, rows: Tensor, batch: int) -> Parameters:
        """These parameters as rows ``rows`` of a batch of ``batch`` boxes (zero elsewhere:
        a valid start too)."""

        def place(values: Tensor) -> Tensor:
            out = values.new_zeros(batch, *values.shape[1:])
            out[rows] = values
            return out

        return Parameters(
            {name: place(a) for name, a in self.alphas.items()}, {name: place(b) for name, b in self.betas.items()}
        )

    @property
    def tensors(self) -> list[Tensor]:
        """Every tensor, alphas first, in a fixed order."""
        return [*self.alphas.values(), *self.betas.values()]

    def zeros(self) -> Parameters:
        """Zeros shaped like these parameters."""
        return Parameters(
            {name: torch.zeros_like(a) for name, a in self.alphas.items()},
            {name: torch.zeros_like(b) for name, b in self.betas.items()},
        )

    def cast(self, dtype: torch.dtype) -> Parameters:
        """The same values in another float type."""
        return Parameters(
            {name: a.to(dtype) for name, a in self.alphas.items()},
            {name: b.to(dtype) for name, b in self.betas.items()},
        )

    def twice(self) -> Parameters:
        """The same for both children of every box, in the order ``torch.cat([first, second])``."""
        return Parameters(
            {name: torch.cat([a, a]) for name, a in self.alphas.items()},
            {name: torch.cat([b, b]) for name, b in self.betas.items()},
        )


class CrownBounds:
    """CROWN and alpha-CROWN lower bounds on ``C @ y`` (y the flat output) over batches of
    flat input boxes. Every bound, final and intermediate, is intersected with its interval
    bound, so it is never looser than interval propagation."""

    def __init__(
        self, graph: Graph, C: Tensor, *, kernels: Kernels | str | None = None, float32_refinement: bool = False
    ) -> None:
        """``kernels``: a backend, or a choice's name (on CPU); default ``auto``.
        Analyses and ``final``/``optimise`` bounds live on the backend's device;
        ``__call__`` and ``optimised`` answer on their inputs' device.
        ``float32_refinement``: CROWN's refinement of intermediate bounds back-substitutes
        in float32 with rounding-error terms (``bounds.rounding``), where float32 products
        are IEEE ones: about half the time of its float64 products, which dominate on wide
        layers (the ReLU-split search), at the cost of the terms, which cost more where
        proofs are tight and layers narrow (ACAS Xu 4_2 prop_2 in the input split: 43,435
        boxes against 34,793)."""
        self._float32 = float32_refinement
        self.kernels = (
            make_kernels() if kernels is None else make_kernels(kernels) if isinstance(kernels, str) else kernels
        )
        self.device = self.kernels.device
        self._autograd = TorchKernels(self.device)
        self.graph = graph
        self.C = C.to(DTYPE).to(self.device)
        self.input = graph.input.name
        self.output = graph.output.name
        self.sizes = {name: _size(shape) for name, shape in graph.shapes.items()}
        self._dense: dict[tuple[str, torch.dtype], tuple[Tensor, Tensor] | None] = {}
        self._abs_dense: dict[str, tuple[Tensor, Tensor]] = {}  # |weight|, transposed, and |offset|, float64
        self._exact32: dict[str, bool] = {}  # per dense map, whether float32 holds its matrix exactly
        self._ancestors: dict[str, tuple[Node, ...]] = {}
        relaxed_inputs = {node.inputs[0] for node in graph.nodes if not node.op.affine and len(node.inputs) == 1}
        cpu_nodes = _fuse_affine_chains(graph, keep=relaxed_inputs | {self.output}, sizes=self.sizes)
        self._cpu_ops = {node.output: node.op for node in cpu_nodes}  # dense maps are built on CPU
        self.nodes = tuple(Node(n.name, n.op_type, op_to(n.op, self.device), n.inputs, n.output) for n in cpu_nodes)
        self._producers = {node.output: node for node in self.nodes}
        self._readers = {
            name: [n for n in self.nodes if name in n.inputs and not n.op.affine] for name in relaxed_inputs
        }
        # tensors whose bounds set relaxations, except those one affine map of the input
        # produces (their interval bounds are exact already)
        self.refined = {
            name
            for name in relaxed_inputs
            if not (len(self._ancestry(name)) == 1 and self._ancestry(name)[0].op.affine)
        } - {self.input}

    @torch.no_grad()
    def __call__(self, lower: Tensor, upper: Tensor, clamps: Clamps | None = None) -> Tensor:
        """Lower bounds (batch, m) for boxes given as (batch, n_in) tensors."""
        analysis = self.analyse(lower, upper, clamps)
        return self.final(analysis).to(lower.device)

    def analyse(
        self,
        lower: Tensor,
        upper: Tensor,
        clamps: Clamps | None = None,
        *,
        alpha_steps: int = 0,
        settled: Collection[str] = (),
        slopes: Mapping[str, Mapping[str, Tensor]] | None = None,
        lopsided: float = math.inf,
    ) -> Analysis:
        """Bounds on every tensor and the relaxation of every non-affine node, node by node
        in topological order (each relaxation uses its input's final bounds). With
        ``alpha_steps``, each refined tensor's bounds are alpha-optimised too: costly per
        box, worth it once at the root of a branch and bound (the slopes it ends with are
        kept in ``Analysis.slopes``). Tensors ``settled`` take their ``clamps`` as they are,
        unrefined: a subdomain's tensors that come before all of its new split constraints
        would come out as its parent's did. ``slopes`` (an analysis's ``Analysis.slopes``,
        one box's or one per box) replace CROWN's adaptive lower slopes where they are given,
        clamped into each box's valid ranges: a branch and bound's subdomains reuse the
        root's optimised slopes at the cost of plain CROWN (``solvers.activation_split``).
        Where a refined ReLU input's inherited bounds are ``lopsided`` (one side that many
        times the other), only the near side is refined (see ``_sides``)."""
        with torch.no_grad():
            lower, upper = lower.to(self.device, DTYPE), upper.to(self.device, DTYPE)
            clamps = None if clamps is None else {name: self._here(v) for name, v in clamps.items()}
            batch = lower.shape[0]
            analysis = Analysis(lower, upper, empty=torch.zeros(batch, dtype=torch.bool, device=self.device))
            self._bound(analysis, self.input, Interval(lower, upper), clamps)
            for node in self.nodes:
                if not node.op.affine:
                    analysis.relaxations[node.output] = self._relax(node, analysis)
                shaped = [self._shaped(analysis.bounds[name], name) for name in node.inputs]
                value = node.op.interval(*shaped)
                flat = Interval(value.lower.reshape(batch, -1), value.upper.reshape(batch, -1))
                if node.output in self.refined and node.output not in settled:
                    inherited = None if clamps is None else clamps.get(node.output)
                    if inherited is not None:
                        flat, _ = _meet(flat, inherited)
                    given = None if slopes is None else slopes.get(node.output)
                    flat = self._tightened(node.output, flat, analysis, alpha_steps, inherited is None, given, lopsided)
                self._bound(analysis, node.output, flat, clamps)
            return analysis

    def final(
        self,
        analysis: Analysis,
        slopes: Mapping[str, Tensor] | None = None,
        record: dict[str, Tensor] | None = None,
        multipliers: Mapping[str, Tensor] | None = None,
    ) -> Tensor:
        """Lower bounds on ``C @ y`` from an analysis; ``slopes`` (per relaxed node, shaped
        (batch, m, n)) replace the relaxations' lower slopes (alpha-CROWN); ``multipliers``
        (per tensor, (batch, m, n)) are subtracted from the coefficients reaching that tensor
        (beta-CROWN; see ``optimise``). ``record``, when
        given, receives the coefficients (batch, m, n) reaching each non-affine node's output
        and the input (what branching heuristics score)."""
        batch = analysis.lower.shape[0]
        A = self.C.expand(batch, -1, -1)
        kernels = self.kernels if slopes is None and multipliers is None else self._autograd
        bounds = self._backward(self.output, A, analysis, slopes, kernels, record, multipliers)
        if analysis.empty is not None and bool(analysis.empty.any()):
            bounds = torch.where(analysis.empty[:, None], torch.full_like(bounds, torch.inf), bounds)
        return bounds

    def input_coefficients(
        self, analysis: Analysis, parameters: Parameters, splits: Mapping[str, Tensor]
    ) -> Tensor | None:
        """The input coefficients (batch, m, n_in) of the bounds ``optimise`` ends with, given
        its ``parameters`` for the analysis's boxes and the ``splits`` it was given (None if
        the bounds do not reach the input linearly). The box corners minimising these
        bounds approximate the LP relaxation's minimisers far better than CROWN's corners
        (MNIST-FC 256x2 prop_0 eps 0.05: a third of the inputs differ)."""
        slopes = {
            name: _in_range(a, relaxation)
            for name, a in parameters.alphas.items()
            if isinstance(relaxation := analysis.relaxations.get(name), Relaxation)
        }
        multipliers = {
            name: b.clamp_min(0) * _rows(splits[name].to(self.device, DTYPE)) for name, b in parameters.betas.items()
        }
        record: dict[str, Tensor] = {}
        with torch.no_grad():
            self.final(analysis, slopes, record, multipliers)
        return record.get(self.input)

    def optimised(
        self,
        lower: Tensor,
        upper: Tensor,
        *,
        steps: int,
        clamps: Clamps | None = None,
        needed: Callable[[Tensor], Tensor] | None = None,
    ) -> Tensor:
        """alpha-CROWN lower bounds on ``C @ y`` for boxes (see ``optimise``)."""
        bounds, _ = self.optimise(self.analyse(lower, upper, clamps), steps=steps, needed=needed)
        return bounds.to(lower.device)

    def optimise(
        self,
        analysis: Analysis,
        *,
        steps: int,
        needed: Callable[[Tensor], Tensor] | None = None,
        splits: Mapping[str, Tensor] | None = None,
        learning_rate: float = 0.1,
        start: Parameters | None = None,
    ) -> tuple[Tensor, Parameters]:
        """alpha-CROWN lower bounds (Xu et al. 2021) on ``C @ y`` from an analysis, with
        beta-CROWN multipliers (Wang et al. 2021) for split constraints, and per box and
        row the parameters of its best bound.

        The lower relaxation slopes of the final back-substitution, one per box, row and
        neuron, are tuned by Adam within their valid ranges to maximise the sum of the
        bounds (intermediate bounds stay as analysed). ``splits`` maps a tensor to per-box
        signs (batch, n) in {-1, 0, 1}: the box's region satisfies ``sign * t >= 0``; each
        such constraint enters the bound with a multiplier ``beta >= 0`` (subtracting
        ``beta * sign * t`` lowers nothing on the region), optimised alongside. The steps
        run in ``STEP_DTYPE``; the parameters of each row's best iterate are kept, and its
        bound is theirs evaluated in float64, or CROWN's where that is better. ``needed``
        maps bounds (batch, m) to the rows (batch, m) still worth tightening (for example
        those of clauses not yet refuted): the others, having no
        parameter in common with them, leave the optimisation, which stops once none is
        left. ``start`` gives initial parameters (for example a parent domain's, so a few
        steps go further than many from CROWN's slopes).
        """
        batch = analysis.lower.shape[0]
        best, ended = self._optimised(
            self.output, self.C.expand(batch, -1, -1), analysis, steps, needed, splits, learning_rate, start
        )
        if analysis.empty is not None and bool(analysis.empty.any()):
            best = torch.where(analysis.empty[:, None], torch.full_like(best, torch.inf), best)
        return best, ended

    def _optimised(
        self,
        start: str,
        A: Tensor,
        analysis: Analysis,
        steps: int,
        needed: Callable[[Tensor], Tensor] | None,
        splits: Mapping[str, Tensor] | None,
        learning_rate: float,
        initial: Parameters | None = None,
    ) -> tuple[Tensor, Parameters]:
        """The best lower bound of ``A @ t`` (t named ``start``) over ``steps`` of Adam on the
        alpha slopes of its ancestors and on beta multipliers for ``splits``, from
        ``initial`` where it has them (else CROWN's slopes and zero multipliers), and the
        parameters of each box and row's best bound.

        Each box's rows have parameters of their own, so a step back-substitutes only the
        rows ``needed`` still asks for: per box, its needed rows first, padded to the
        neediest box's count, for the boxes with any (MNIST-FC's branch and bound needs
        a fifth to two fifths of its domains' rows, and a third of the boxes are done
        before the last step). The pack shrinks as rows drop out, and a step updates only
        the pack's entries of the parameters and of Adam's moments (``_Packed``)."""
        with torch.no_grad():
            best = self._backward(start, A, analysis, None, self.kernels)
        ancestors = {node.output for node in self._ancestry(start)}
        relaxed = {
            name: r for name, r in analysis.relaxations.items() if isinstance(r, Relaxation) and name in ancestors
        }
        signs = {name: _rows(s.to(self.device, DTYPE)) for name, s in (splits or {}).items() if bool(s.any())}
        batch, m = A.shape[0], A.shape[1]
        known = initial or Parameters({}, {})
        alphas = {
            name: (known.alphas[name] if name in known.alphas else _rows(r.lower_slope).expand(-1, m, -1)).to(
                STEP_DTYPE, copy=True
            )
            for name, r in relaxed.items()
        }
        betas = {
            name: known.betas[name].to(STEP_DTYPE, copy=True)
            if name in known.betas
            else torch.zeros(batch, m, sign.shape[-1], dtype=STEP_DTYPE, device=self.device)
            for name, sign in signs.items()
        }
        live = torch.ones_like(best, dtype=torch.bool) if needed is None else needed(best)
        kept = Parameters({n: a.clone() for n, a in alphas.items()}, {n: b.clone() for n, b in betas.items()})
        if (not relaxed and not signs) or not bool(live.any()):
            return best, kept.cast(DTYPE)
        steps_A, steps_analysis = A.to(STEP_DTYPE), analysis.cast(STEP_DTYPE)
        steps_signs = {name: s.to(STEP_DTYPE) for name, s in signs.items()}
        estimate = best.clone()  # per box and row, the best bound the steps have seen
        moved = torch.zeros_like(live)  # where the kept parameters are no longer the initial ones
        stored = Parameters(alphas, betas)  # each (batch, m, n), updated as packs change
        moments = (stored.zeros(), stored.zeros())
        with torch.enable_grad():  # callers may be under no_grad
            packed = _Packed.of(_Pack.of(live, steps_A, steps_analysis, steps_signs), stored, moments, 0, learning_rate)
            for _ in range(steps):
                pack, variables = packed.pack, packed.variables
                at = pack.index
                bound = self._pack_bound(start, pack, variables, self._autograd)
                with torch.no_grad():  # keep, per box and row, the parameters of its best bound
                    improved = pack.valid & (bound > estimate[at])
                    boxes, rows = at[0].expand_as(improved)[improved], at[1][improved]
                    for name, a in variables.alphas.items():
                        kept.alphas[name][boxes, rows] = a[improved]
                    for name, b in variables.betas.items():
                        kept.betas[name][boxes, rows] = b[improved]
                    estimate[boxes, rows] = bound.detach()[improved].to(DTYPE)
                    moved[boxes, rows] = True
                    if needed is not None:
                        live = live & needed(estimate)
                if not bool(live.any()) or not bound.requires_grad:
                    break  # done, or no parameter reaches the bound (cut off by interval-only nodes)
                packed.optimiser.step(-bound[pack.valid & torch.isfinite(bound)].sum())
                with torch.no_grad():  # projected: a parameter left outside its range would get no gradient
                    for name, a in variables.alphas.items():
                        a.copy_(_in_range(a, pack.ranges[name]))
                    for b in variables.betas.values():
                        b.clamp_(min=0)
                if pack.shrinks_to(live):
                    packed.store(stored, moments)
                    pack = _Pack.of(live, steps_A, steps_analysis, steps_signs)
                    packed = _Packed.of(pack, stored, moments, packed.optimiser.steps, learning_rate)
        ended = kept.cast(DTYPE)
        if bool(moved.any()):  # the bounds returned are the kept parameters' in float64
            with torch.no_grad():
                pack = _Pack.of(moved, A, analysis, signs)
                at = pack.index
                bound = self._pack_bound(start, pack, ended.select(at), self.kernels)
                improved = pack.valid & (bound > best[at])
                best[at[0].expand_as(improved)[improved], at[1][improved]] = bound[improved]
        return best, ended

    def _pack_bound(self, start: str, pack: _Pack, values: Parameters, kernels: Kernels) -> Tensor:
        """The bounds of a pack's rows with the parameters ``values`` (the pack's entries):
        alpha slopes clamped into their valid ranges, beta multipliers to ``>= 0``."""
        slopes = {name: _in_range(a, pack.ranges[name]) for name, a in values.alphas.items()}
        multipliers = {name: b.clamp_min(0) * pack.signs[name] for name, b in values.betas.items()}
        return self._backward(start, pack.A, pack.analysis, slopes, kernels, multipliers=multipliers)

    def restrict(self, analysis: Analysis, clamps: Clamps) -> Analysis:
        """The analysis of sub-regions of its boxes: the clamped tensors' bounds intersected
        with ``clamps`` and the relaxations reading them recomputed; every other bound is
        kept (still valid on a sub-region, if looser than a fresh analysis)."""
        bounds = dict(analysis.bounds)
        empty = (
            analysis.empty.clone()
            if analysis.empty is not None
            else torch.zeros(len(analysis.lower), dtype=torch.bool, device=self.device)
        )
        for name, extra in clamps.items():
            bounds[name], void = _meet(bounds[name], self._here(extra))
            empty |= void
        restricted = Analysis(analysis.lower, analysis.upper, bounds, dict(analysis.relaxations), empty)
        for node in self.nodes:
            if not node.op.affine and any(name in clamps for name in node.inputs):
                restricted.relaxations[node.output] = self._relax(node, restricted)
        return restricted

    def _here(self, value: Interval) -> Interval:
        """``value`` on this analysis's device, in float64."""
        return Interval(value.lower.to(self.device, DTYPE), value.upper.to(self.device, DTYPE))

    def _shaped(self, value: Interval, name: str) -> Interval:
        shape = (value.lower.shape[0], *self.graph.shapes[name])
        return Interval(value.lower.reshape(shape), value.upper.reshape(shape))

    def _bound(self, analysis: Analysis, name: str, value: Interval, clamps: Clamps | None) -> None:
        if clamps is not None and name in clamps:
            value, void = _meet(value, clamps[name])
            assert analysis.empty is not None
            analysis.empty |= void
        analysis.bounds[name] = value

    def _tightened(
        self,
        name: str,
        value: Interval,
        analysis: Analysis,
        alpha_steps: int,
        every: bool,
        slopes: Mapping[str, Tensor] | None,
        lopsided: float = math.inf,
    ) -> Interval:
        """Interval ``value`` of tensor ``name`` intersected with its CROWN bounds (with the
        lower ``slopes`` given, see ``analyse``): for
        ``every`` neuron, or (when ``value`` holds bounds inherited from a parent box, which
        CROWN refined there) for the neurons whose relaxation tighter bounds can change
        (``_inexact``), per box.

        Every neuron counts at first, stable ones too: their bounds tighten the bounds of
        later layers and the concretisations at them (on ACAS Xu, refining only unstable
        neurons at the root made final bounds up to 30% looser). A sub-box inherits those
        bounds, so it refines only what is still unstable: deep in an input-split search
        few neurons are, and each box back-substitutes only as many rows as its batch's
        neediest box (ACAS Xu: about 6x the boxes per second)."""
        needed = torch.ones_like(value.lower, dtype=torch.bool) if every else self._inexact(name, value)
        n = needed.shape[1]
        lower_needed, upper_needed = (needed, needed) if every else self._sides(name, value, needed, lopsided)
        lower_order, lower_valid = _needed_first(lower_needed)  # rows past a box's own count are padding
        upper_order, upper_valid = _needed_first(upper_needed)
        k = lower_order.shape[1]
        if k + upper_order.shape[1] == 0:
            return value
        if alpha_steps:
            A = _signed_unit_rows(lower_order, upper_order, n)
            both, ended = self._optimised(name, A, analysis, alpha_steps, None, None, 0.1)
            if every:  # rows in neuron order
                analysis.slopes[name] = ended.alphas
        else:
            picked = torch.cat([lower_order, upper_order + n], dim=1)
            chosen = None if slopes is None else self._rows_of(slopes, picked, analysis)
            both = self._crown_rows(name, lower_order, upper_order, analysis, chosen)
        lower, upper = value.lower.gather(1, lower_order), value.upper.gather(1, upper_order)
        lower = torch.where(lower_valid, torch.maximum(lower, both[:, :k]), lower)
        upper = torch.where(upper_valid, torch.minimum(upper, -both[:, k:]), upper)
        return Interval(value.lower.scatter(1, lower_order, lower), value.upper.scatter(1, upper_order, upper))

    def _crown_rows(
        self,
        name: str,
        lower_order: Tensor,
        upper_order: Tensor,
        analysis: Analysis,
        slopes: Mapping[str, Tensor] | None,
    ) -> Tensor:
        """CROWN lower bounds (batch, k + k') of the neurons ``lower_order`` (batch, k) of
        tensor ``name`` and of minus those ``upper_order`` (batch, k'), with the lower
        ``slopes`` given. Where a dense affine map produces ``name``, the first step picks
        its matrix's rows instead of multiplying unit rows by it."""
        producer = self._producers[name]
        dense = self._dense_map(producer, DTYPE) if producer.op.affine and len(producer.inputs) == 1 else None
        in_float32 = self._float32 and exact_float32(self.device)  # rows exact in float32 are made so
        if dense is None:
            A = _signed_unit_rows(lower_order, upper_order, self.sizes[name], FLOAT32 if in_float32 else DTYPE)
            return self._backward(name, A, analysis, slopes, self.kernels, float32=self._float32)
        weight, bias = dense  # back-substitution maps coefficients c on ``name`` to c @ weight
        single = self._dense_map(producer, FLOAT32) if in_float32 and self._exact_in_float32(producer) else None
        if single is not None:
            weight = single[0]
        rows = torch.cat([lower_order, upper_order], dim=1)
        signs = torch.ones(rows.shape[1], dtype=DTYPE, device=self.device)
        signs[lower_order.shape[1] :] = -1
        A = weight[rows] * signs.to(weight.dtype)[:, None]
        offset = bias[rows] * signs
        return self._backward(
            producer.inputs[0], A, analysis, slopes, self.kernels, offset=offset, float32=self._float32
        )

    def _sides(self, name: str, value: Interval, needed: Tensor, lopsided: float) -> tuple[Tensor, Tensor]:
        """Of the ``needed`` neurons of ``name`` (batch, n), those whose lower and those whose
        upper bound to refine. Read only by ReLUs, an unstable neuron's relaxation is looser
        by its triangle's area ``-l u / 2``: tightening ``u`` gains ``|l| / u`` times what
        tightening ``l`` as much does. So where one side is ``lopsided`` times the other,
        only the near side is refined and the far one kept as inherited (sound: a parent's
        bound holds on its sub-boxes)."""
        if any(node.op_type != "Relu" for node in self._readers[name]):
            return needed, needed
        far_below = (-value.lower > lopsided * value.upper) & value.lower.isfinite()  # an infinite bound is refined
        far_above = (value.upper > -lopsided * value.lower) & value.upper.isfinite()
        return needed & ~far_below, needed & ~far_above

    def _rows_of(self, slopes: Mapping[str, Tensor], rows: Tensor, analysis: Analysis) -> dict[str, Tensor]:
        """Per relaxed node, the lower ``slopes`` (1 or batch, m, n_node) of the ``rows``
        (batch, k) picked, clamped into each box's valid ranges: (batch, k, n_node)."""
        picked = {}
        batch, k = rows.shape
        for node, values in slopes.items():
            relax = analysis.relaxations[node]
            if isinstance(relax, Relaxation):
                if values.shape[0] == 1:  # one box's: whole rows copied, no index per element
                    chosen = values[0].index_select(0, rows.reshape(-1)).reshape(batch, k, -1)
                else:
                    chosen = values[torch.arange(batch, device=rows.device)[:, None], rows]
                picked[node] = _in_range(chosen, relax)
        return picked

    def _inexact(self, name: str, value: Interval) -> Tensor:
        """Per box and neuron of ``name`` (batch, n): whether some node reading it relaxes it
        inexactly on ``value`` (an unstable ReLU), so tighter bounds could tighten the
        relaxation. Readers without an elementwise relaxation need every neuron."""
        needed = torch.zeros_like(value.lower, dtype=torch.bool)
        for node in self._readers[name]:
            relax = node.op.relaxation(value.lower, value.upper) if len(node.inputs) == 1 else None
            if relax is None:
                return torch.ones_like(needed)
            batch = value.lower.shape[0]
            exact = (relax.lower_slope == relax.upper_slope) & (relax.lower_offset == relax.upper_offset)
            needed |= ~exact.reshape(batch, -1)
        return needed

    def _relax(self, node: Node, analysis: Analysis) -> Relaxation | LinearRelaxation | None:
        if len(node.inputs) == 1:
            value = analysis.bounds[node.inputs[0]]
            relax = node.op.relaxation(value.lower, value.upper)
            if relax is not None:
                return relax
            shaped = self._shaped(value, node.inputs[0])
            return node.op.linear_relaxation(shaped)
        return None

    def _ancestry(self, name: str) -> tuple[Node, ...]:
        """The nodes ``name`` depends on, in topological order (cached)."""
        if name not in self._ancestors:
            needed = {name}
            chosen: list[Node] = []
            for node in reversed(self.nodes):
                if node.output in needed:
                    chosen.append(node)
                    needed.update(node.inputs)
            self._ancestors[name] = tuple(reversed(chosen))
        return self._ancestors[name]

    def _backward(
        self,
        start: str,
        A: Tensor,
        analysis: Analysis,
        slopes: Mapping[str, Tensor] | None,
        kernels: Kernels,
        record: dict[str, Tensor] | None = None,
        multipliers: Mapping[str, Tensor] | None = None,
        offset: Tensor | None = None,
        *,
        float32: bool = False,
    ) -> Tensor:
        """Lower bound (batch, m) of ``A @ t + offset`` for the flat tensor t named
        ``start``; A is (batch, m, n). ``kernels`` must be torch ones when ``slopes`` or
        ``multipliers`` carry gradients.

        Wherever the coefficients sit on one tensor with known bounds (the start, an
        activation's output, a merge of branches), concretising there is a valid bound too;
        the best of those and of the full back-substitution is returned (on ACAS Xu this
        tightens CROWN's mean bound by about 8%).

        With ``float32`` (not with ``record`` or ``multipliers``), the coefficients go back
        in float32 through the steps that have a rounding-error term (``bounds.rounding``:
        dense affine maps, reshapes, elementwise relaxations, concretisation), the bias in
        float64 less each step's term; from any other step on (a merge of branches, a
        convolution, a dense relaxation) in float64, to which float32 values convert
        exactly. A relaxation's kernel pass also pays the term of the dense map its output
        coefficients go through next. A float32 A is taken as exact (its caller made it so:
        unit rows, rows of a matrix exact in float32); any other A is cast, and its first
        step pays for that too, over the start's bounds."""
        batch, m = A.shape[0], A.shape[1]
        rounding = float32 and exact_float32(self.device)
        bias = torch.zeros(batch, m, dtype=DTYPE if rounding else A.dtype, device=self.device)
        if offset is not None:
            bias = offset
        owed: Tensor | None = None  # the data bound the rounding of A to float32 is still to pay
        if rounding:
            assert record is None and multipliers is None
            if A.dtype != FLOAT32:
                owed = magnitude(analysis.bounds[start])
                A = A.to(FLOAT32)
        elif float32:  # no IEEE float32 products here: float64, exactly
            A = A.to(DTYPE)
        paid: set[str] = set()  # tensors whose coefficients' next dense map a relaxation paid for
        best: Tensor | None = None
        coefficients: dict[str, Tensor] = {start: A}
        for node in reversed(self._ancestry(start)):
            if multipliers is not None and node.output in multipliers:
                term = -multipliers[node.output]
                coefficients[node.output] = coefficients[node.output] + term if node.output in coefficients else term
            if node.output not in coefficients:
                continue
            here = len(coefficients) == 1 and node.output in analysis.bounds and _informative(node, start)
            A = coefficients.pop(node.output)
            step = _Step(kernels, rounding and A.dtype == FLOAT32, owed)
            owed = None  # only the start's coefficients owe
            if step.rounded and not self._rounded_step(node, analysis):
                bias = bias - step.settle(A)
                A, step = A.to(DTYPE), _Step(kernels, False, None)
            if here:
                candidate = bias + step.concretise(A, analysis.bounds[node.output])
                best = candidate if best is None else torch.maximum(best, candidate)
            if node.op.affine:
                bias = bias - step.settle(A)
                if step.rounded and not isinstance(node.op, Reshaped) and node.output not in paid:
                    bias = bias - penalty(A, self._affine_magnitude(node, analysis))
                parts, shift = self._affine_backward(node, A, kernels)
                bias = bias + shift
                for name, part in zip(node.inputs, parts, strict=True):
                    _accumulate(coefficients, name, part, rounding)
                continue
            relax = analysis.relaxations[node.output]
            if record is not None:
                record[node.output] = A
            if isinstance(relax, Relaxation):
                slope = (
                    slopes[node.output] if slopes is not None and node.output in slopes else _rows(relax.lower_slope)
                )
                (name,) = node.inputs
                ahead = self._dense_magnitude(name, analysis) if step.rounded else None
                if ahead is not None:
                    paid.add(name)
                part, shift = step.relax(A, slope, relax, analysis.bounds[name], ahead)
                bias = bias + shift
            elif isinstance(relax, LinearRelaxation):  # dense per box: torch's batched products
                positive, negative = A.clamp_min(0), A.clamp_max(0)
                bias = bias + _dot(positive, relax.lower_bias) + _dot(negative, relax.upper_bias)
                part = positive @ relax.lower_weight + negative @ relax.upper_weight
            else:  # only the node's interval is known
                bias = bias + step.concretise(A, analysis.bounds[node.output])
                continue
            (name,) = node.inputs
            _accumulate(coefficients, name, part, rounding)
        if self.input in coefficients:
            if record is not None:
                record[self.input] = coefficients[self.input]
            A = coefficients[self.input]
            step = _Step(kernels, rounding and A.dtype == FLOAT32, owed)
            bias = bias + step.concretise(A, Interval(analysis.lower, analysis.upper))
        return bias if best is None else torch.maximum(best, bias)

    def _dense_magnitude(self, name: str, analysis: Analysis) -> Tensor | None:
        """``_affine_magnitude`` of the dense map (not a reshape) that produces ``name``,
        if one does."""
        producer = self._producers.get(name)
        if producer is None or not producer.op.affine or isinstance(producer.op, Reshaped):
            return None
        return self._affine_magnitude(producer, analysis) if self._dense_map(producer, FLOAT32) is not None else None

    def _rounded_step(self, node: Node, analysis: Analysis) -> bool:
        """Whether back-substitution through ``node`` has a float32 rounding-error term
        (``bounds.rounding``): a reshape, a dense affine map, an elementwise relaxation."""
        if node.op.affine:
            return isinstance(node.op, Reshaped) or self._dense_map(node, FLOAT32) is not None
        return isinstance(analysis.relaxations.get(node.output), Relaxation)

    def _exact_in_float32(self, node: Node) -> bool:
        """Whether ``node``'s dense matrix (float64) is exactly representable in float32, as
        the weights of a float32 model are (cached)."""
        if node.output not in self._exact32:
            dense = self._dense_map(node, DTYPE)
            assert dense is not None
            self._exact32[node.output] = torch.equal(dense[0].to(FLOAT32).to(DTYPE), dense[0])
        return self._exact32[node.output]

    def _affine_magnitude(self, node: Node, analysis: Analysis) -> Tensor:
        """``|W| @ max|s| + |c|`` (batch, n_out) for the dense map ``W s + c`` of ``node``."""
        if node.output not in self._abs_dense:
            dense = self._dense_map(node, DTYPE)
            assert dense is not None
            self._abs_dense[node.output] = (dense[0].abs().T.contiguous(), dense[1].abs())
        weight, offset = self._abs_dense[node.output]
        return magnitude(analysis.bounds[node.inputs[0]]) @ weight + offset

    def _affine_backward(self, node: Node, A: Tensor, kernels: Kernels) -> tuple[list[Tensor], Tensor]:
        """Coefficients on each input of an affine node, and the bias ``A @ f(0)``."""
        batch, m = A.shape[0], A.shape[1]
        if isinstance(node.op, Reshaped):  # the same flat vector
            return [A], torch.zeros(batch, m, dtype=A.dtype, device=self.device)
        dense = self._dense_map(node, A.dtype)
        if dense is not None:
            part, shift = kernels.affine(A, *dense)
            return [part], shift
        shapes = [self.graph.shapes[name] for name in node.inputs]
        zeros = (torch.zeros(1, *shape, dtype=DTYPE, device=self.device) for shape in shapes)
        offset = node.op.evaluate(*zeros).reshape(-1)
        grads = _vjp(node, shapes, A.reshape(batch * m, -1).to(DTYPE))  # the op's own weights: float64
        parts = [g.reshape(batch, m, -1).to(A.dtype) for g in grads]
        return parts, A @ offset.to(A.dtype)

    def _dense_map(self, node: Node, dtype: torch.dtype) -> tuple[Tensor, Tensor] | None:
        """The node's dense matrix and offset in ``dtype`` (cached), if it has one."""
        key = (node.output, dtype)
        if key not in self._dense:
            mapped = None
            if len(node.inputs) == 1:
                n_in, n_out = self.sizes[node.inputs[0]], self.sizes[node.output]
                if n_in * n_out <= DENSE_LIMIT:
                    mapped = self._cpu_ops[node.output].linear_map(self.graph.shapes[node.inputs[0]])
                    if mapped is not None:
                        mapped = (mapped[0].to(self.device, dtype), mapped[1].to(self.device, dtype))
            self._dense[key] = mapped
        return self._dense[key]


class _DenseAffine(Affine):
    """A fused chain of single-input affine ops, as one dense matrix on flat vectors."""

    def __init__(self, weight: Tensor, offset: Tensor, output_shape: Shape) -> None:
        self.weight, self.offset, self.output_shape = weight, offset, output_shape
        self.abs_weight = weight.abs()

    def evaluate(self, *xs: Tensor) -> Tensor:
        return self.linear(xs[0]) + self.offset.reshape(self.output_shape)

    def linear(self, x: Tensor) -> Tensor:
        return (x.reshape(x.shape[0], -1) @ self.weight.T).reshape(x.shape[0], *self.output_shape)

    def abs_linear(self, x: Tensor) -> Tensor:
        return (x.reshape(x.shape[0], -1) @ self.abs_weight.T).reshape(x.shape[0], *self.output_shape)

    def linear_map(self, input_shape: Shape) -> tuple[Tensor, Tensor]:
        return self.weight, self.offset


def _fuse_affine_chains(graph: Graph, keep: set[str], sizes: Mapping[str, int]) -> tuple[Node, ...]:
    """The graph's nodes with each chain of single-input affine nodes fused into one dense
    node (back-substitution then takes one matrix product per chain). A tensor in ``keep``,
    or read by more than one node, ends a chain; so does a matrix over ``DENSE_LIMIT``."""
    readers = Counter(name for node in graph.nodes for name in node.inputs)
    fused: list[Node] = []
    for node in graph.nodes:
        previous = fused[-1] if fused else None
        if (
            previous is not None
            and node.op.affine
            and previous.op.affine
            and node.inputs == (previous.output,)
            and len(previous.inputs) == 1
            and readers[previous.output] == 1
            and previous.output not in keep
            and sizes[previous.inputs[0]] * sizes[node.output] <= DENSE_LIMIT
        ):
            chain = (previous, node)
            shape = graph.shapes[previous.inputs[0]]
            n_in = sizes[previous.inputs[0]]
            points = torch.cat([torch.zeros(1, n_in, dtype=DTYPE), torch.eye(n_in, dtype=DTYPE)])
            value = points.reshape(n_in + 1, *shape)
            for step in chain:
                value = step.op.evaluate(value)
            images = value.reshape(n_in + 1, -1)
            op = _DenseAffine((images[1:] - images[0]).T.contiguous(), images[0], graph.shapes[node.output])
            fused[-1] = Node(f"{previous.name}+{node.name}", "Fused", op, previous.inputs, node.output)
        else:
            fused.append(node)
    return tuple(fused)


VOID_MARGIN = 1e-9
"""Relative amount by which an intersection must cross before it proves a box void (``_meet``)."""


@dataclass(frozen=True)
class _Pack:
    """The (box, row) pairs an optimisation step back-substitutes: ``index`` (boxes (k, 1),
    rows (k, r)) picks, per box with a live row, its live rows first, padded with others to
    the neediest box's count (``valid`` marks the live ones); ``A``, ``analysis`` and
    ``signs`` are the picked boxes' and rows'."""

    index: tuple[Tensor, Tensor]
    valid: Tensor
    A: Tensor
    analysis: Analysis
    signs: dict[str, Tensor]

    @staticmethod
    def of(live: Tensor, A: Tensor, analysis: Analysis, signs: Mapping[str, Tensor]) -> _Pack:
        boxes = torch.nonzero(live.any(dim=1)).flatten()
        order, valid = _needed_first(live[boxes])
        index = (boxes[:, None], order)
        return _Pack(index, valid, A[index], analysis.select(boxes), {name: s[boxes] for name, s in signs.items()})

    @cached_property
    def ranges(self) -> dict[str, Relaxation]:
        """The elementwise relaxations of the picked boxes, whose slope ranges bound alpha."""
        return {n: r for n, r in self.analysis.relaxations.items() if isinstance(r, Relaxation)}

    def shrinks_to(self, live: Tensor) -> bool:
        """Whether ``live`` packs smaller than this pack."""
        boxes = live.any(dim=1)
        return int(boxes.sum()) * int(live.sum(dim=1).max()) < self.valid.numel()


@dataclass(frozen=True)
class _Packed:
    """An optimisation's parameters and Adam moments for the entries of one ``_Pack``: a
    step computes and updates only the rows still needed."""

    pack: _Pack
    variables: Parameters
    optimiser: Adam

    @staticmethod
    def of(
        pack: _Pack, stored: Parameters, moments: tuple[Parameters, Parameters], steps: int, learning_rate: float
    ) -> _Packed:
        """The pack's entries of the ``stored`` parameters and of their Adam ``moments``
        (first, second), after ``steps`` steps."""
        at = pack.index
        picked = stored.select(at)
        variables = Parameters(
            {name: a.requires_grad_(True) for name, a in picked.alphas.items()},
            {name: b.requires_grad_(True) for name, b in picked.betas.items()},
        )
        first, second = (m.select(at).tensors for m in moments)
        optimiser = Adam(variables.tensors, lr=learning_rate, moments=(first, second, steps))
        return _Packed(pack, variables, optimiser)

    @torch.no_grad()
    def store(self, stored: Parameters, moments: tuple[Parameters, Parameters]) -> None:
        """Writes the parameters and moments back to the entries they came from."""
        at = self.pack.index
        targets = zip(stored.tensors, moments[0].tensors, moments[1].tensors, strict=True)
        values = zip(self.variables.tensors, self.optimiser.first, self.optimiser.second, strict=True)
        for (value, first, second), (to_value, to_first, to_second) in zip(values, targets, strict=True):
            to_value[at], to_first[at], to_second[at] = value, first, second


@dataclass(frozen=True)
class _Step:
    """The kernels of one back-substitution step: as they are, or (``rounded``) on float32
    coefficients, each result in float64 less its rounding-error term (``bounds.rounding``)
    and less what the coefficients still ``owe`` (a data bound (batch, n) for their own
    rounding)."""

    kernels: Kernels
    rounded: bool
    owe: Tensor | None

    def concretise(self, A: Tensor, value: Interval) -> Tensor:
        """The minimum of ``A @ t`` over t's bounds ``value`` (batch, n)."""
        if not self.rounded:
            return self.kernels.concretise(A, value.lower, value.upper)
        v = self._with_owed(magnitude(value))
        low, sums = self.kernels.concretise_measured(A, value.lower, value.upper, v)
        return low - error_bound(sums, A.shape[-1], v.sum(dim=-1, keepdim=True))

    def relax(
        self, A: Tensor, slope: Tensor, relax: Relaxation, value: Interval, ahead: Tensor | None
    ) -> tuple[Tensor, Tensor]:
        """Coefficients on the relaxed node's input (bounds ``value``) and the bias gained,
        with the lower ``slope`` (within the relaxation's range) and its upper side; with
        ``ahead``, the bias also pays the term of the dense map those coefficients go
        through next (``ahead`` its data bound)."""
        upper = _rows(relax.upper_slope)
        offsets = (relax.lower_offset, relax.upper_offset)
        if not self.rounded:
            return self.kernels.relax(A, slope, upper, *offsets)
        batch = A.shape[0]
        slopes = (relax.lower_slope_min, relax.lower_slope_max, relax.lower_slope, relax.upper_slope)
        steepest = torch.stack([s.abs().reshape(batch, -1) for s in slopes]).amax(dim=0)
        v = self._with_owed(steepest * magnitude(value) + sum(o.abs().reshape(batch, -1) for o in offsets))
        part, shift, sums = self.kernels.relax_measured(A, slope, upper, *offsets, v, ahead)
        total = v.sum(dim=-1, keepdim=True) + (0 if ahead is None else ahead.sum(dim=-1, keepdim=True))
        return part, shift - error_bound(sums, A.shape[-1], total)

    def settle(self, A: Tensor) -> Tensor | float:
        """What the coefficients still owe, in a pass of its own (0 when nothing)."""
        return 0.0 if self.owe is None else penalty(A, self.owe)

    def _with_owed(self, v: Tensor) -> Tensor:
        return v if self.owe is None else v + self.owe


def _accumulate(coefficients: dict[str, Tensor], name: str, part: Tensor, in_float64: bool) -> None:
    """Add ``part`` to the coefficients on tensor ``name`` (a merge of branches), in float64
    when ``in_float64`` (the sum of float32 coefficients has no rounding-error term)."""
    if name not in coefficients:
        coefficients[name] = part
    elif in_float64:
        coefficients[name] = coefficients[name].to(DTYPE) + part.to(DTYPE)
    else:
        coefficients[name] = coefficients[name] + part


def _signed_unit_rows(plus: Tensor, minus: Tensor, n: int, dtype: torch.dtype = DTYPE) -> Tensor:
    """Rows (batch, k + k', n) of the identity picked by ``plus`` (batch, k), then minus
    those picked by ``minus`` (batch, k'): lower bounds of the first, upper of the second."""

    def unit(order: Tensor) -> Tensor:
        return torch.zeros(*order.shape, n, dtype=dtype, device=order.device).scatter_(2, order[..., None], 1.0)

    return torch.cat([unit(plus), -unit(minus)], dim=1)


def _needed_first(needed: Tensor) -> tuple[Tensor, Tensor]:
    """Per row of ``needed`` (batch, n), the indices of its needed entries first, cut to the
    neediest row's count k: ``order`` (batch, k), and ``valid`` (batch, k), which of them
    are needed (the rest pad)."""
    k = int(needed.sum(dim=1).max()) if needed.shape[0] else 0
    order = torch.argsort(needed.to(torch.int8), dim=1, descending=True, stable=True)[:, :k]
    return order, torch.gather(needed, 1, order)


def _meet(a: Interval, b: Interval) -> tuple[Interval, Tensor]:
    """The intersection of two enclosures of a tensor (batch, n), and per box whether it is
    empty, which proves the box holds no point. Bounds are float64 without outward
    rounding, so two enclosures of a value met exactly (a constant, a split at a neuron
    that only touches zero) can cross by a few ulps: only a crossing by more than
    ``VOID_MARGIN`` (relative) counts; a smaller one becomes the hull of the crossed pair."""
    both = a.intersect(b)
    lower, upper = both.lower, both.upper
    crossed = lower > upper
    tolerance = VOID_MARGIN * (1 + lower.abs() + upper.abs())
    void = (lower > upper + tolerance).any(dim=1)
    hull = Interval(torch.where(crossed, upper, lower), torch.where(crossed, lower, upper))
    return hull, void


def _informative(node: Node, start: str) -> bool:
    """Whether concretising at ``node``'s output may beat going further back: not after a
    single-input affine node (its bounds come from its input's, which are tried next)."""
    return node.output == start or not node.op.affine or len(node.inputs) > 1


def _vjp(node: Node, shapes: list[tuple[int, ...]], cotangent: Tensor) -> list[Tensor]:
    """Vector-Jacobian products of an affine op for a batch of cotangents (k, n_out):
    the op is evaluated on a batch of k zero inputs, so autograd gives one product per row."""
    k = cotangent.shape[0]
    with torch.enable_grad():
        xs = [torch.zeros(k, *shape, dtype=DTYPE, device=cotangent.device, requires_grad=True) for shape in shapes]
        y = node.op.evaluate(*xs).reshape(k, -1)
        grads = torch.autograd.grad(y, xs, grad_outputs=cotangent, allow_unused=True)
    return [
        g.reshape(k, -1) if g is not None else torch.zeros(k, _size(shape), dtype=DTYPE, device=cotangent.device)
        for g, shape in zip(grads, shapes, strict=True)
    ]


def _in_range(slopes: Tensor, relax: Relaxation) -> Tensor:
    """Lower slopes (batch, m, n) clamped into the relaxation's valid range (per box and
    neuron): any values become a sound relaxation. One ``clamp`` pass where no gradient is
    wanted; under autograd a maximum and a minimum, whose gradient at a range's end is half
    (clamp's full one there changed the optimisation: ACAS Xu 1_1 prop_5 took 12% more boxes)."""
    lowest, highest = _rows(relax.lower_slope_min), _rows(relax.lower_slope_max)
    if slopes.requires_grad:
        return torch.minimum(torch.maximum(slopes, lowest), highest)
    return torch.clamp(slopes, min=lowest, max=highest)


def _rows(x: Tensor) -> Tensor:
    """A per-box, per-neuron tensor viewed as (batch, 1, n), to broadcast over rows."""
    return x.reshape(x.shape[0], 1, -1)


def _dot(A: Tensor, v: Tensor) -> Tensor:
    """``A @ v`` per box: (batch, m, n) and a (batch, ...) tensor of n values -> (batch, m).
    (A broadcast product and sum: about twice as fast as a batched matrix-vector product.)"""
    return (A * v.reshape(v.shape[0], 1, -1)).sum(dim=-1)


def _size(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
