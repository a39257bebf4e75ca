"""The pipe between a search and its forked children: messages arrive whole, tensors by value."""

from __future__ import annotations

import multiprocessing
import time

import numpy as np
import torch

from bounds.ops.base import Interval
from solvers.bounders import Bounded
from solvers.forked import Forked, receive, send
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
