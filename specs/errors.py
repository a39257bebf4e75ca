"""Typed errors raised while reading or building properties."""

from __future__ import annotations


class SpecError(Exception):
    """A property file or builder argument is malformed.

    Carries the file, 1-based line and column, and the offending token when known, so the
    CLI can print one line that points at the problem.
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        column: int | None = None,
        token: str | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.column = column
        self.token = token
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.file or "<property>"
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        near = f" (near {self.token!r})" if self.token is not None else ""
        return f"{where}: {self.message}{near}"
