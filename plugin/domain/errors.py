"""One error family, so adapters can map each kind to a user-facing answer in one place."""
from __future__ import annotations


class EscalatorError(Exception):
    """Base of every error Escalator raises on purpose."""


class MatrixError(EscalatorError):
    """The matrix is invalid; `problems` lists each one with its file and YAML path."""

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class UnsupportedEvent(EscalatorError):
    """A well-formed delivery for an event we deliberately do not handle."""


class AnomalousPayload(EscalatorError):
    """A delivery that does not look like what the platform sends."""


class RemoteActionError(EscalatorError):
    """A write-back to Jira or Zendesk failed."""


class Problem:
    """One finding about the matrix: where it is, what is wrong, what to write instead."""

    __slots__ = ("severity", "file", "path", "line", "message", "fix")

    def __init__(self, message: str, *, file: str = "", path: str = "", line: int | None = None,
                 fix: str = "", severity: str = "error"):
        self.severity = severity
        self.file = file
        self.path = path
        self.line = line
        self.message = message
        self.fix = fix

    @property
    def location(self) -> str:
        where = self.file or "<matrix>"
        if self.line:
            where += f":{self.line}"
        if self.path:
            where += f" at {self.path}"
        return where

    def __str__(self) -> str:
        text = f"{self.location}: {self.severity}: {self.message}"
        return f"{text}\n    fix: {self.fix}" if self.fix else text

    def __repr__(self) -> str:
        return f"Problem({self.severity}, {self.location}, {self.message!r})"
