"""Files the commands write, checked before any work is done.

A destination that cannot take the file (a missing folder, a directory, a FIFO that would
block, an input of the same command) is found before the search, not after it, when the
verdict would be lost. A file that fails half-written is removed.
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterable
from pathlib import Path

from verify.errors import QueryError


def check_destination(path: str | os.PathLike[str], inputs: Iterable[str | os.PathLike[str]] = ()) -> None:
    """``QueryError`` naming ``path`` unless a file can be written there: its folder exists,
    and it is new, a character device (/dev/null) or a regular file that is none of
    ``inputs``."""
    target = Path(path)
    try:
        mode = os.stat(target).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        raise QueryError(f"{path}: cannot write here: {error.strerror or error}") from error
    if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISCHR(mode)):  # /dev/null, a terminal: fine
        kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file (a FIFO would block)"
        raise QueryError(f"{path}: cannot write here: {kind}")
    if mode is not None:
        for source in inputs:
            with contextlib.suppress(OSError):
                if os.path.samefile(target, source):
                    raise QueryError(f"{path}: is an input of this command; refusing to overwrite it")
    folder = target.parent
    if not folder.is_dir():
        raise QueryError(f"{path}: cannot write here: folder {str(folder)!r} does not exist")


def check_folder(path: str | os.PathLike[str], what: str) -> None:
    """``QueryError`` naming ``path`` unless it is a folder or can be made one (its nearest
    existing ancestor is a folder), for ``what`` to be written in it."""
    target = Path(path)
    existing = target
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise QueryError(f"{path}: cannot write {what}: {str(existing)!r} is not a folder")


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path``; ``QueryError`` naming the file if it cannot be written,
    with what was written of it removed."""
    try:
        Path(path).write_text(text)
    except OSError as error:
        with contextlib.suppress(OSError):
            remove_stale(path)
        raise QueryError(f"{path}: cannot write: {error.strerror or error}") from error


def remove_stale(path: str | os.PathLike[str]) -> None:
    """Remove an earlier run's regular file at ``path`` (never a device such as /dev/null),
    so a run that ends in an error leaves no verdict behind that is not its own."""
    with contextlib.suppress(FileNotFoundError):
        if stat.S_ISREG(os.lstat(path).st_mode):
            os.unlink(path)
