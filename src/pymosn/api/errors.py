"""Errors shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass


class PymosnError(Exception):
    """Base of every error pymosn raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    """One problem found in a config: the JSON path it sits at and what is wrong."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(PymosnError):
    """A config was rejected; carries every issue found, not just the first."""

    def __init__(self, issues: list[ConfigIssue]):
        self.issues = issues
        super().__init__("\n".join(str(i) for i in issues))


class ProtocolError(PymosnError):
    """The peer violated its protocol. `status` is the HTTP status a server should answer with."""

    def __init__(self, reason: str, status: int = 400):
        self.reason = reason
        self.status = status
        super().__init__(reason)
