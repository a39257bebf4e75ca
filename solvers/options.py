"""The options of every search, as plain frozen dataclasses.

They live apart from the searches, which need torch, so that the command line can check,
build and record a run's options (``verify.options``) without importing the analysis; so do
the names an option can take.
"""

from __future__ import annotations

from dataclasses import dataclass, field

BOUND_METHODS = ("auto", "interval", "crown", "alpha")
"""The bound methods of a search (``solvers.bounders.make_bounder``); ``auto``: alpha-CROWN
where the graph allows it."""
EXACT_ENGINES = ("milp", "smt")
"""The exact engines (``solvers.exact.engine``)."""


@dataclass(frozen=True)
class AttackOptions:
    """How hard to look for a counterexample before (and beside) proving."""

    samples: int = 2048
    restarts: int = 8
    steps: int = 60
    step_fractions: tuple[float, ...] = (0.05,)
    """Initial PGD steps as fractions of the box width, taken by the restarts in turn:
    small steps find a counterexample in a narrow dip (ACAS Xu), large ones one at a far
    corner of a wide box (MNIST-FC 256x6 prop_9 eps 0.05: within 10 steps of 0.1 or 0.25,
    none in 20-30 s of 1024 restarts of 0.02 or 0.05)."""
    candidates: int = 4  # best points per round handed to ``confirm``
    box_steps: int = 10  # PGD steps inside each box a branch and bound leaves open

    def __post_init__(self) -> None:
        if not self.step_fractions or min(self.step_fractions) <= 0:
            raise ValueError(f"step_fractions must be positive, at least one: {self.step_fractions}")


@dataclass(frozen=True)
class SplitOptions:
    """How the input-split branch and bound (``solvers.input_split``) splits and shares its boxes."""

    batch: int = 128  # boxes bounded per step; the deadline is checked between steps
    min_width: float = 1e-9  # boxes narrower than this in every dimension are not split
    trial_max_inputs: int = 8  # inputs this small choose the split by trying dimensions
    trial_candidates: int = 3
    """Dimensions a trial split tries per box: those of largest influence on its bounds
    (``solvers.bounders.Influence``); all where there are no more. Fewer trials per box,
    and fewer boxes too: the most lifting of all dimensions is a greedy choice, which the
    influence, a dimension's whole weight in the bounds, tempers. ACAS Xu in process, one
    thread, against all five: 3_3 prop_2 9,033 boxes in 15.3 s instead of 11,294 in 21.5
    s, 1_1 prop_5 726 in 1.4 s instead of 5,419 in 5.7 s, 3_3 prop_9 1,139 in 3.2 s
    instead of 1,065 in 3.6 s. Two candidates: 12,963 boxes for 3_3 prop_2; four: 10,075.
    Forcing the widest dimension in (the fallback's): 17,566."""
    box_attack: AttackOptions = field(default_factory=AttackOptions)  # the short PGD in every box left open
    share_after: float | None = 0.5
    """Seconds of search after which, given 2+ torch threads, the pending boxes are shared
    out among that many processes of one thread each (None: never); quicker searches keep
    one process and every thread. On 21 ACAS Xu instances of 2.6-6 s, 0.5 s took 65.3 s
    against 69.5 s for 1 s; 0.25 s was no better."""
    exact_beside_share: float | None = 0.5
    """After this share of the time, given 2+ torch threads, the MILP engine decides the
    clauses the root box's bounds leave open in a process beside the search (None: never).
    Deep networks with few inputs can defeat input splitting where a MILP is quick (random
    7-16-18-3 and 6-18-22-4 networks, a clause 0.1% beyond its optimum: timeouts after
    30 s and 33,000 boxes, MILP alone 0.4 s and 0.8 s). Late, because the MILP's process
    slows the boxes' (ACAS Xu, whose searches it does not finish: 4_2 prop_2, the slowest,
    took 69.8 s of its 116 s with a quarter against 47.5 s without; 3_3 prop_2 at a 60 s
    cap 24.4 s against 21.9 s). At half, every ACAS Xu search ends before it joins (the
    slowest at 51 s of 116 s)."""
    float_rounding: bool = False  # the search proves for float execution (the MILP's clauses are widened to match)


@dataclass(frozen=True)
class ActivationSplitOptions:
    """How the ReLU-split branch and bound (``solvers.activation_split``) bounds its domains
    and when the MILP engine joins it."""

    batch: int = 128
    """Domains bounded per step (fewer near the deadline); the deadline and the MILP
    child's results are checked between steps. A larger batch spreads each step's overhead:
    one thread, in process, without the MILP, the same domains as with 64: MNIST-FC 256x4
    prop_10 eps 0.05 11.0 s against 13.5 s, 256x2 prop_1 eps 0.03 14.9 s against 16.5 s;
    256 saved little more (14.1 s) and doubles the wait between checks."""
    alpha_steps: int = 8  # alpha/beta-CROWN steps on domains CROWN leaves open (0: CROWN only)
    learning_rate: float = 0.05  # for those steps, which start from the parent domain's parameters
    refine: bool = True  # recompute intermediate bounds per domain (False: the root's, clamped)
    attack: AttackOptions = field(default_factory=AttackOptions)  # the short PGD from open domains' minimisers
    root_alpha_steps: int = 20  # alpha steps per intermediate bound, once, for the root box
    exact_share: float = 0.5  # after this share of the time, the MILP engine decides the clauses left (1: never)
    exact_beside_after: float | None = 5.0
    """Seconds of branching after which, given 2+ torch threads, one of them runs the MILP
    engine beside the search instead of the hand-over (None: never): quicker searches keep
    every thread (MNIST-FC 256x4 prop_10 eps 0.05 takes 7.0 s on two, 12.3 s on one)."""
    separate_below: float = 0.05
    """A clause whose score for its domain's split is below this share of its score for its
    own best split goes on in a copy of the domain of its own, split its way (0: never)."""
    lopsided: float = 3.0
    """Per domain, a ReLU input whose inherited bounds have one side this many times the
    other refines only its near side (``bounds.crown.CrownBounds.analyse``; inf: both). In
    process, without the MILP, against both: 256x4 prop_3 eps 0.03 bounds 15,577 domains in 60 s
    against 12,201; 256x2 prop_1 eps 0.03 7.5 s against 10.3 s (3,499 domains against
    3,159); 256x4 prop_10 eps 0.05 6.0 s against 6.8 s. (Not for input splits, whose
    sub-boxes tighten both sides: ACAS Xu 3_3 prop_2 went from 10.8 s to a timeout.)"""
    exact_join_share: float = 0.75
    """After this share of the time, if the MILP beside has proved a clause, branching stops
    and this process decides clauses by the MILP engine too (1: never)."""
    stall_window: float = 10.0
    """Seconds (or a quarter of the branching's time so far, if longer) over which its pace
    is measured: once the MILP beside has proved a clause or begun to tighten its bounds,
    the join comes before ``exact_join_share`` when, at that pace, branching would not
    close its open share of the tree by the deadline (``solvers.activation_split._Progress``;
    inf: never)."""
    float_rounding: bool = False  # prove for the model executed in its float type (bounds.float_error)
    polish: AttackOptions = field(default_factory=lambda: AttackOptions(step_fractions=(0.05, 0.25)))
    """The PGD from each clause's LP relaxation minimiser that precedes its MILP over the
    whole box (``solvers.milp.RegionProgram.decide``): its steps, and one start per step
    fraction."""
