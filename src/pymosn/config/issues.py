"""Collects every config problem with its JSON path, so one run reports them all."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

from pymosn.api.errors import ConfigIssue

ROOT = "$"


def child(path: str, key: str) -> str:
    return f"{path}.{key}"


def item(path: str, index: int) -> str:
    return f"{path}[{index}]"


class IssueLog:
    """Errors reject the config; warnings are told to the user and the config still loads."""

    def __init__(self) -> None:
        self.errors: list[ConfigIssue] = []
        self.warnings: list[ConfigIssue] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(ConfigIssue(path, message))

    def warning(self, path: str, message: str) -> None:
        self.warnings.append(ConfigIssue(path, message))


def known_values_message(value: object, known: Iterable[str]) -> str:
    return f"unknown value {value!r}; known: {', '.join(sorted(known))}"


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """' (did you mean 'x'?)' when something is close enough to be a likely typo, else ''."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""


def type_name(value: object) -> str:
    """The JSON name of a value's type, as users see it in their file."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list | tuple):
        return "list"
    return type(value).__name__


class _Invalid:
    """Stands for a value that was wrong and already reported; callers drop it and carry on."""

    def __repr__(self) -> str:
        return "INVALID"


INVALID = _Invalid()
