"""The ``nnverify`` command: the console script and ``python -m verify``.

The command line is imported with Python's cyclic garbage collector paused: importing torch
and the rest allocates millions of objects, and the collections they set off took about a
tenth of the start (0.24 s of 2.3 s; ``benchmarks/startup.py`` times it). Those objects
live as long as the process, so they are then frozen (``gc.freeze``): later collections,
here and in the forked workers, skip them.
"""

from __future__ import annotations

import contextlib
import gc
import os
import sys


def main_entry() -> None:
    """Run the command and leave by ``os._exit`` once its output is flushed: the
    interpreter's teardown (torch's, mostly) took 0.4 s per process, a fifth of a typical
    ACAS Xu instance. Every command has closed its files and ended what it started by then
    (``with`` blocks, the verification worker killed and reaped)."""
    gc.disable()
    try:
        from verify.cli import main
    finally:
        gc.freeze()
        gc.enable()
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing left to tell
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main_entry()
