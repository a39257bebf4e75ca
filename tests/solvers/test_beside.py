"""The MILP engine in a child process: its results match the engine's, its tightened node
bounds reach the parent, and the child never outlives its search or its parent."""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pytest
import torch
from exact_cases import dense_graph, planted_cases

from solvers.beside import MilpBeside
from solvers.exact import interval_node_bounds
from solvers.objective import Objective


def _gone(pid: int) -> bool:
    """Whether the process has ended (reaped, or a zombie that nobody reaps)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except FileNotFoundError:
        return True


def test_the_child_proves_each_clause_or_sends_a_point_for_the_caller_to_confirm():
    graph = dense_graph(7, [4, 12, 12, 2])
    lower, upper = -np.ones(4), np.ones(4)
    violated, safe = planted_cases(graph, lower, upper)
    bounds = interval_node_bounds(graph, violated.region.box)

    def confirm_with(objective: Objective):
        def confirm(point: np.ndarray) -> bool:
            return bool(objective.satisfied(torch.as_tensor(graph.run_numpy(point[None]))).all())

        return confirm

    objective = Objective.of(violated)
    beside = MilpBeside(graph, violated, objective, bounds, [0, 1], time.monotonic() + 60)
    point = beside.take(confirm_with(objective), until=time.monotonic() + 60)
    beside.stop()
    assert point is not None and confirm_with(objective)(point)
    assert np.all(point >= lower) and np.all(point <= upper)

    beside = MilpBeside(graph, violated, objective, bounds, [0, 1], time.monotonic() + 60)
    assert beside.take(lambda _: False, until=time.monotonic() + 60) is None  # a point refused is no proof
    assert beside.closed.tolist() == [True, False]  # clause 1 is the violated one
    assert beside.pid is None  # the child ended after its last clause, and was reaped

    objective = Objective.of(safe)
    beside = MilpBeside(graph, safe, objective, bounds, [1], time.monotonic() + 60)
    assert beside.closed.tolist() == [True, False]  # a clause not given is the caller's, refuted
    assert beside.take(confirm_with(objective), until=time.monotonic() + 60) is None
    assert beside.closed.tolist() == [True, True] and beside.proved == 1
    assert beside.tightened is not None and set(beside.tightened) == set(bounds)  # sent before the MILPs


def test_the_child_first_polishes_each_clause_s_lp_relaxation_minimiser():
    graph = dense_graph(7, [4, 12, 12, 2])
    _, safe = planted_cases(graph, -np.ones(4), np.ones(4))
    bounds = interval_node_bounds(graph, safe.region.box)
    seen = np.full(4, 0.25)  # what this polish "reaches": sent as a candidate, for the caller to confirm
    beside = MilpBeside(graph, safe, Objective.of(safe), bounds, [1, 0], time.monotonic() + 60, lambda _: seen)
    assert np.array_equal(beside.take(lambda point: True, until=time.monotonic() + 60), seen)
    assert beside.current == 1  # a polished point decides no clause: all are polished before any MILP
    beside.stop()


def test_the_parent_assists_the_tightening_and_gets_bounds_that_hold(monkeypatch):
    """A parent that assists bounds neurons the child gives it (``milp.near_sides``, which
    the parent imports when it assists), and the tightened bounds it then gets hold every
    value the network reaches on samples; the clauses are decided after, as ever."""
    from solvers import milp

    graph = dense_graph(5, [3, 12, 12, 12, 2])
    _, safe = planted_cases(graph, -np.ones(3), np.ones(3))
    bounds = interval_node_bounds(graph, safe.region.box)
    shares: list[int] = []
    original = milp.near_sides

    def near_sides(*args, **kwargs):
        leasts = original(*args, **kwargs)
        shares.append(len(leasts))
        return leasts

    monkeypatch.setattr(milp, "near_sides", near_sides)
    objective = Objective.of(safe)
    beside = MilpBeside(graph, safe, objective, bounds, [1], time.monotonic() + 60)
    assert beside.assist(lambda _: False, time.monotonic() + 60) is None
    assert beside.tightening and beside.tightened is not None
    assert shares and all(shares)  # each tensor after the first: every other neuron left
    x = torch.tensor(np.random.default_rng(0).uniform(-1, 1, (20000, 3))).reshape(-1, 1, 3)
    values = graph.evaluate({graph.input.name: x})
    for name, tight in beside.tightened.items():
        v = values[name].reshape(len(x), -1)
        assert bool((v >= tight.lower.reshape(1, -1)).all() and (v <= tight.upper.reshape(1, -1)).all()), name
    assert beside.take(lambda _: False, until=time.monotonic() + 60) is None
    assert beside.closed.tolist() == [True, True] and beside.proved == 1


def test_stop_kills_and_reaps_the_child():
    graph = dense_graph(3, [20, 60, 60, 60, 2])
    case = planted_cases(graph, -np.ones(20), np.ones(20))[1]
    bounds = interval_node_bounds(graph, case.region.box)
    beside = MilpBeside(graph, case, Objective.of(case), bounds, [0, 1], time.monotonic() + 600)
    pid = beside.pid
    assert pid is not None and not _gone(pid)
    beside.stop()
    assert beside.pid is None and _gone(pid)
    beside.stop()  # again: nothing left to do


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the parent-death signal is Linux's")
def test_the_child_dies_with_its_parent():
    """A search process killed outright takes its MILP child with it."""
    graph = dense_graph(3, [20, 60, 60, 60, 2])
    case = planted_cases(graph, -np.ones(20), np.ones(20))[1]
    bounds = interval_node_bounds(graph, case.region.box)
    read, write = os.pipe()
    search = os.fork()
    if search == 0:  # the search: start the child, report its pid, die without cleaning up
        try:
            beside = MilpBeside(graph, case, Objective.of(case), bounds, [0, 1], time.monotonic() + 600)
            os.write(write, str(beside.pid).encode())
        finally:
            os._exit(0)
    os.close(write)
    child = int(os.read(read, 64))
    os.close(read)
    os.waitpid(search, 0)
    stop = time.monotonic() + 10
    while not _gone(child) and time.monotonic() < stop:
        time.sleep(0.05)
    assert _gone(child)
