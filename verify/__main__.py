"""The ``nnverify`` command: the console script and ``python -m verify``.

The command line itself imports no analysis (``verify.cli._load_analysis`` imports it, with
the garbage collector paused, for the commands that need it).
"""

from __future__ import annotations

import contextlib
import os
import sys


def main_entry() -> None:
    """Run the command and leave by ``os._exit`` once its output is flushed: the
    interpreter's teardown (torch's, mostly) took 0.4 s per process, a fifth of a typical
    ACAS Xu instance. Every command has closed its files and ended what it started by then
    (``with`` blocks, the verification worker killed and reaped)."""
    from verify.cli import main

    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing left to tell
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    main_entry()
