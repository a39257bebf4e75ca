"""Reading property files and pointing at places in their text, for the readers' errors."""

from __future__ import annotations

import os
import stat

from specs.errors import SpecError


def read_text(path: str | os.PathLike[str]) -> str:
    """The file's text (a UTF-8 byte-order mark dropped); a missing, unreadable or non-UTF-8
    file is a SpecError naming it, and so is anything but a regular file (a FIFO or device
    could block or never end)."""
    try:
        mode = os.stat(path).st_mode
        if not stat.S_ISREG(mode):
            kind = "a directory" if stat.S_ISDIR(mode) else "not a regular file"
            raise SpecError(f"cannot read property file: {kind}", file=str(path))
        with open(path, encoding="utf-8-sig") as handle:
            return handle.read()
    except OSError as error:
        raise SpecError(f"cannot read property file: {error.strerror}", file=str(path)) from error
    except UnicodeDecodeError as error:
        raise SpecError(f"property file is not UTF-8 text: {error}", file=str(path)) from error


def position(text: str, offset: int) -> tuple[int, int]:
    """1-based line and column of a 0-based character offset."""
    line_start = text.rfind("\n", 0, offset) + 1
    return text.count("\n", 0, offset) + 1, offset - line_start + 1


def column_on_line(text: str, line: int, token: str) -> int | None:
    """1-based column of ``token`` on ``line`` when it occurs there exactly once, else None.

    For errors whose reporter knows only the line: a column is given only when unambiguous.
    """
    lines = text.split("\n")
    if not token or not 1 <= line <= len(lines) or lines[line - 1].count(token) != 1:
        return None
    return lines[line - 1].index(token) + 1
