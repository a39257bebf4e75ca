"""Deciding a property under hard limits: a wall-clock deadline and an optional memory cap.

The search checks its deadline between steps, and one step (a batch of bounds on a large
network, a solver call) can overrun it by seconds. So the work runs in a forked worker
process, told the time that is left; the parent waits for its answer until the deadline
plus `GRACE`, then kills the worker's whole process group and answers TIMEOUT. The worker
leads its own process group (so anything it starts dies with it) and, on Linux, is killed
by the kernel if the parent dies first. A memory cap limits the worker's data memory
(``RLIMIT_DATA``: heap and private mappings); running out of memory, under the cap or not,
answers UNKNOWN.

POSIX only (``fork``, ``resource``), like the rest of the command line.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import re
import resource
import signal
import time
import traceback
from dataclasses import dataclass, replace
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Literal

from bounds.errors import ModelError
from specs.errors import SpecError
from specs.property import Property
from verify.errors import QueryError
from verify.result import Result, Status

if TYPE_CHECKING:
    from verify.options import Options
    from verify.pipeline import Model

GRACE = 1.0
"""Seconds the worker may run past the deadline before it is killed."""

_OUT_OF_MEMORY = re.compile(r"can't allocate memory|cannot allocate memory|out of memory|bad[ _]alloc", re.IGNORECASE)

_Message = tuple[Literal["result"], Result] | tuple[Literal["input", "internal"], str, str]


@dataclass(frozen=True)
class Limits:
    """When the answer is due (a ``time.monotonic()`` value), the worker's memory cap in
    bytes, and its torch threads."""

    deadline: float
    max_memory: int | None = None
    threads: int = 1
    """torch threads for the worker (the forking process itself must not have run torch in
    parallel: a forked child inherits OpenMP's pool without its threads and hangs in it)."""


def usable_cores() -> int:
    """The CPU cores this process may run on (its affinity where the OS reports one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class WorkerError(Exception):
    """The worker failed; ``input_error`` when it was the model or query (the CLI's exit 3).

    ``details`` is the worker's traceback, for ``--debug``.
    """

    def __init__(self, message: str, *, input_error: bool, details: str) -> None:
        super().__init__(message)
        self.input_error = input_error
        self.details = details


def check_within(model: Model, prop: Property, options: Options, limits: Limits) -> Result:
    """`check_property` in a worker process: the answer comes by ``limits.deadline + GRACE``.

    ``options.timeout`` is replaced by the time left until the deadline. Raises
    `WorkerError` when the worker raised anything but running out of memory.
    """
    left = limits.deadline - time.monotonic()
    if left <= 0:
        return Result(Status.TIMEOUT, reason="the time budget was spent before the search started")
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    worker = context.Process(
        target=_work,
        args=(
            sender,
            model,
            prop,
            replace(options, timeout=left),
            limits.max_memory,
            os.getpid(),
            limits.threads,
        ),
        daemon=True,
    )
    start = time.monotonic()
    worker.start()
    sender.close()
    assert worker.pid is not None  # started
    with contextlib.suppress(OSError):  # the worker does the same; whichever runs first wins
        os.setpgid(worker.pid, worker.pid)
    try:
        message: _Message | None = None
        if receiver.poll(max(limits.deadline + GRACE - time.monotonic(), 0.0)):
            with contextlib.suppress(EOFError):  # the worker died without an answer
                message = receiver.recv()
        timed_out = message is None and time.monotonic() >= limits.deadline + GRACE
    finally:
        with contextlib.suppress(OSError):  # the worker and everything it started
            os.killpg(worker.pid, signal.SIGKILL)
        worker.kill()  # in case its process group was never set
        worker.join()
        receiver.close()
    if message is not None and message[0] == "result":
        return message[1]
    if message is not None:
        _, text, details = message
        raise WorkerError(text, input_error=message[0] == "input", details=details)
    if timed_out:
        return Result(Status.TIMEOUT, time=time.monotonic() - start, reason=f"stopped at the deadline + {GRACE:g} s")
    if limits.max_memory is not None:
        return Result(
            Status.UNKNOWN,
            time=time.monotonic() - start,
            reason=f"the worker ended without an answer (exit code {worker.exitcode}) under the memory cap",
        )
    raise WorkerError(
        f"the verification worker ended without an answer (exit code {worker.exitcode})", input_error=False, details=""
    )


def _work(
    sender: Connection,
    model: Model,
    prop: Property,
    options: Options,
    max_memory: int | None,
    parent: int,
    threads: int,
) -> None:
    """The worker: set up its limits, decide, send one message back (and nothing to stderr:
    a message it cannot send ends it with exit code 1, which the parent reports)."""
    import torch  # imported already by the parent, which loaded the model (this module stays torch-free)

    from solvers.forked import die_with_parent
    from verify.pipeline import check_property

    os.setpgid(0, 0)
    die_with_parent(parent)
    torch.set_num_threads(threads)
    message: _Message
    try:
        if max_memory is not None:
            _, hard = resource.getrlimit(resource.RLIMIT_DATA)
            cap = max_memory if hard == resource.RLIM_INFINITY else min(max_memory, hard)
            resource.setrlimit(resource.RLIMIT_DATA, (cap, hard))
        message = ("result", check_property(model, prop, options))
    except BaseException as error:
        try:
            message = _failure(error)
        except BaseException:  # describing it failed too: most likely out of memory again
            message = ("result", Result(Status.UNKNOWN, reason="out of memory (while reporting an error)"))
    try:
        sender.send(message)
    except BaseException:
        os._exit(1)
    sender.close()


def _failure(error: BaseException) -> _Message:
    """The message for an error the worker raised: out of memory is an unknown result."""
    if _out_of_memory(error):
        return ("result", Result(Status.UNKNOWN, reason=f"out of memory: {error}".splitlines()[0]))
    bad_input = isinstance(error, (SpecError, ModelError, QueryError))
    kind: Literal["input", "internal"] = "input" if bad_input else "internal"
    text = str(error) if kind == "input" else f"{type(error).__name__}: {error}"
    return (kind, text, traceback.format_exc())


def _out_of_memory(error: BaseException | None) -> bool:
    """Whether the error, or one it came from, reports an allocation failure (numpy raises
    MemoryError; torch and onnxruntime raise RuntimeErrors saying so)."""
    while error is not None:
        if isinstance(error, MemoryError) or _OUT_OF_MEMORY.search(str(error)):
            return True
        error = error.__cause__ or error.__context__
    return False
