"""The pipe between a search and its forked children: messages arrive whole, tensors by value."""

from __future__ import annotations

import multiprocessing
import os
import time

import numpy as np
import pytest
import torch

from bounds.ops.base import Interval
from solvers.bounders import Bounded
from solvers.forked import Forked, receive, send, within
from solvers.input_split import SearchStats


def test_nested_tensors_arrive_by_value_in_their_containers():
    ours, theirs = multiprocessing.Pipe()
    nodes = {"h": Interval(torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.float64))}
    message = ("boxes", [Bounded(torch.arange(4.0).reshape(2, 2), nodes)], (SearchStats(bounded=5), np.ones(2)))
    send(ours, message)
    kind, (bounded,), (stats, array) = receive(theirs)
    assert kind == "boxes" and stats == SearchStats(bounded=5) and np.array_equal(array, np.ones(2))
    assert torch.equal(bounded.bounds, torch.arange(4.0).reshape(2, 2)) and not bounded.bounds.is_shared()
    assert bounded.nodes["h"].upper.dtype == torch.float64 and torch.equal(bounded.nodes["h"].lower, torch.zeros(2, 3))


def test_a_child_reads_what_it_is_told_and_its_replies_come_out_of_messages():
    def echo(connection) -> None:
        kind, value = receive(connection)
        send(connection, (kind, value * 2))

    child = Forked(echo)
    child.tell(("double", torch.tensor([1.5])))
    replies = [(kind, value.tolist()) for kind, value in child.messages(until=time.monotonic() + 60)]
    assert replies == [("double", [3.0])]
    assert child.pid is None  # reaped once it ended


def test_a_child_that_ends_without_reading_what_it_was_told_ends_the_messages():
    def answer_and_leave(connection) -> None:
        send(connection, "done")
        time.sleep(0.2)  # the parent's words arrive unread: the pipe is reset, not closed, at exit

    child = Forked(answer_and_leave)
    child.tell("ready")
    time.sleep(0.5)
    assert list(child.messages(until=time.monotonic() + 60)) == ["done"]
    assert child.pid is None


def test_within_gives_the_work_s_value_computed_in_a_child():
    assert within(lambda: ("pid", os.getpid()), time.monotonic() + 60) != ("pid", os.getpid())
    assert np.array_equal(within(lambda: np.arange(3), time.monotonic() + 60), np.arange(3))


def test_within_raises_what_the_work_raised():
    def fails() -> None:
        raise ValueError("no encoding")

    with pytest.raises(ValueError, match="no encoding"):
        within(fails, time.monotonic() + 60)


def test_within_stops_work_that_runs_past_its_deadline():
    ran = multiprocessing.RawValue("i", 0)  # no lock: the child is killed at any instant

    def overruns() -> None:
        while True:  # a solver ignoring its time limit
            ran.value += 1

    start = time.monotonic()
    assert within(overruns, start + 0.5) is None
    assert time.monotonic() - start < 5
    seen = ran.value
    time.sleep(0.3)
    assert seen > 0 and ran.value == seen  # the child was killed, not left spinning
