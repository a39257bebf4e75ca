"""Run a piece of a test in a forked process with more torch threads than the tests' one."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from typing import TypeVar

import torch

T = TypeVar("T")


def with_threads(threads: int, work: Callable[[], T], wait: float = 150) -> tuple[T, int]:
    """``work()``'s value, computed in a forked process whose torch has ``threads`` threads,
    and torch's thread count after it. Forked, because a process that ran torch in parallel
    cannot fork safely again (the test process forks the CLI's workers in later tests)."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)

    def run() -> None:
        torch.set_num_threads(threads)
        value = work()
        sender.send((value, torch.get_num_threads()))

    process = context.Process(target=run)
    process.start()
    sender.close()
    try:
        assert receiver.poll(wait), "the forked process sent nothing"
        return receiver.recv()
    finally:
        process.kill()
        process.join()
