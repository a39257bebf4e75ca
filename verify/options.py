"""The options of a verification run: plain data, importable without the analysis (the
command line builds and records them before it loads torch)."""

from __future__ import annotations

from dataclasses import dataclass, field

from solvers.options import EXACT_ENGINES, ActivationSplitOptions, AttackOptions, SplitOptions

SEARCHES = ("input-split", "activation-split")
ENGINES = ("auto", *SEARCHES, *EXACT_ENGINES)
"""How a property is decided after falsification: a branch-and-bound search, or an exact
engine alone on each case (for cross-checking); ``auto`` picks a search by
``verify.pipeline.choose_engine``."""

UPFRONT_ATTACK = AttackOptions(step_fractions=(0.05, 0.25))
"""The attack before proving: 8 restarts, every second with large steps (MNIST-FC 256x6
prop_9 eps 0.05, sat, is then decided in 1.5 s; with steps of 0.05 alone it timed out at a
60 s cap, and took 165 s at 300 s)."""
ROUND_ATTACK = AttackOptions(samples=4096, restarts=1024, steps=200, step_fractions=(0.02,))
"""Each falsification round beside a search: many restarts, small steps (ACAS Xu 1_5 prop_2
and 5_3 prop_2: the up-front attack's 8 restarts miss their counterexamples, 1024 find them
within a few rounds)."""


@dataclass(frozen=True)
class Options:
    """Everything a verification run can be told; passed down explicitly."""

    timeout: float = 60.0
    bounds: str = "auto"  # one of solvers.options.BOUND_METHODS; auto: alpha-CROWN where the graph allows it
    attack_share: float = 0.1  # share of the budget for falsification before proving...
    attack_max: float = 2.0  # ...but at most this many seconds: the search tries points too
    attack: AttackOptions = field(default_factory=lambda: UPFRONT_ATTACK)
    attack_rounds: AttackOptions = field(default_factory=lambda: ROUND_ATTACK)  # beside a search (falsify.Rounds)
    split: SplitOptions = field(default_factory=SplitOptions)
    activation_split: ActivationSplitOptions = field(default_factory=ActivationSplitOptions)
    engine: str = "auto"  # one of ENGINES
    search: bool = True  # False: bound each case's box once, no falsification or branching
    seed: int = 0
    device: str = "cpu"  # where the input-split search's CROWN bounds run: cpu or cuda
    kernels: str = "auto"  # one of bounds.kernel_names.CHOICES; auto: see bounds.kernels.make_kernels
    float_rounding: bool = False
    """Prove for the model as executed in its float type (``bounds.float_error``), as a query
    declaring a float type also asks; QueryError when an op has no float error rule. Off by
    default: the error bound grows with the box, so near-boundary proofs need many more
    splits (ACAS Xu 4_5 prop_10: unsat in 12 s over the reals, open after 60 s)."""
