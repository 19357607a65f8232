"""expectations.yaml: what `pymosn validate` is expected to do with each corpus file, and the
comparison of that with what it did.

A refusal is expected by a short reason that must occur in the normalized first error: the
name of the element it sits at, then the statement before any `; ` explanation, e.g.
`http_filters: http filter 'envoy.filters.http.csrf' is not implemented by pymosn yet` for
`$.static_resources...http_filters[1]: http filter 'envoy.filters.http.csrf' is not implemented
by pymosn yet; refusing to run without what it enforces`. Rewording the explanation or moving the
element in the file changes nothing; a shorter hand-written reason matches too.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.corpus.runner import Kind, Outcome, split_issue

EXPECTATIONS = Path(__file__).with_name("expectations.yaml")
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
EXPECTABLE = (Kind.LOADS, Kind.WARNINGS, Kind.REFUSED)  # a traceback or a hang is never expected
HEADER = """\
# What `pymosn validate` does with each file of the real third-party config corpus
# (../shared/corpus/{mosn,envoy,istio}, see its SOURCES.md), checked by tests/corpus/test_corpus.py.
# <dir>: {<file>: loads | loads with warnings | {refused: <reason>}}; a refusal's reason must occur in
# its first error, normalized as tests/corpus/expectations.py says.
# Generated; after a change of behaviour rewrite it (and docs/corpus.md) with
#     python -m tests.corpus.update
"""


@dataclass(frozen=True)
class Expectation:
    kind: Kind
    reason: str = ""  # refused only

    def __str__(self) -> str:
        return f"{self.kind}: {self.reason}" if self.kind is Kind.REFUSED else str(self.kind)


@dataclass(frozen=True)
class Difference:
    file: str
    expected: str
    got: str
    output: str = ""


def short_reason(issue: str) -> str:
    """`$.a.http_filters[1]: message; why` -> `http_filters: message`; the element is left out
    when the statement names it already (`$.a.pipe: pipe addresses are ...`)."""
    path, message = split_issue(issue)
    element, statement = _last_element(path), message.split("; ", 1)[0]
    named = element and re.search(rf"(?<!\w){re.escape(element)}(?!\w)", statement)
    return f"{element}: {statement}" if element and not named else statement


def _last_element(path: str) -> str:
    """The last named step of a path, indexes and quoted keys dropped: `b` for `$.a.b['x.y'][0]`;
    '' for the root `$`."""
    while path.endswith("]"):
        path = path[: path.rindex("[")] if "[" in path else path[:-1]
    head, _, last = path.rpartition(".")
    return "" if last in ("", "$") and not head else last


def expected_from(outcome: Outcome) -> Expectation:
    if outcome.kind not in EXPECTABLE:
        raise ValueError(f"a {outcome.kind} is never an expectation: {outcome.reason}")
    return Expectation(outcome.kind, short_reason(outcome.first_error) if outcome.kind is Kind.REFUSED else "")


def compare(expected: dict[str, Expectation], got: dict[str, Outcome]) -> list[Difference]:
    """Every file whose outcome is not the expected one, every file without an entry and every
    entry without a file; sorted by file."""
    differences = []
    for file in sorted(expected.keys() | got.keys()):
        want, outcome = expected.get(file), got.get(file)
        if outcome is None:
            differences.append(Difference(file, str(want), "(no such file in the corpus)"))
        elif want is None:
            differences.append(Difference(file, "(no entry)", describe(outcome), outcome.output))
        elif not matches(want, outcome):
            differences.append(Difference(file, str(want), describe(outcome), outcome.output))
    return differences


def matches(want: Expectation, outcome: Outcome) -> bool:
    if want.kind is not outcome.kind:
        return False
    return want.kind is not Kind.REFUSED or want.reason in short_reason(outcome.first_error)


def describe(outcome: Outcome) -> str:
    if outcome.kind is Kind.REFUSED:
        return f"{outcome.kind}: {short_reason(outcome.first_error)}   (first error: {outcome.first_error})"
    if outcome.kind in (Kind.TRACEBACK, Kind.HANG):
        return f"{outcome.kind}: {outcome.reason}"
    return str(outcome.kind)


def render_differences(differences: list[Difference]) -> str:
    lines = [f"{len(differences)} corpus files differ from tests/corpus/expectations.yaml "
             "(if the change is intended: python -m tests.corpus.update):"]
    for d in differences:
        lines += [f"  {d.file}", f"      expected: {d.expected}", f"      got:      {d.got}"]
        if d.got.startswith((Kind.TRACEBACK, Kind.HANG)) and d.output:
            lines += [f"      | {line}" for line in d.output.strip().splitlines()[-15:]]
    return "\n".join(lines)


def load(path: Path = EXPECTATIONS) -> dict[str, Expectation]:
    return parse(yaml.safe_load(path.read_text(encoding="utf-8")) or {})


def parse(raw: dict) -> dict[str, Expectation]:
    """{dir: {file: "loads" | "loads with warnings" | {"refused": reason}}} -> {"dir/file": ...}"""
    expectations = {}
    for directory, entries in raw.items():
        for name, value in (entries or {}).items():
            key = f"{directory}/{name}"
            if isinstance(value, dict) and list(value) == [Kind.REFUSED.value] and isinstance(value["refused"], str):
                expectations[key] = Expectation(Kind.REFUSED, value["refused"])
            elif value in (Kind.LOADS.value, Kind.WARNINGS.value):
                expectations[key] = Expectation(Kind(value))
            else:
                raise ValueError(f"{key}: expected 'loads', 'loads with warnings' or {{refused: reason}}, got {value!r}")
    return expectations


def dump(expectations: dict[str, Expectation]) -> str:
    """The file's text: one line per file, two for a refusal, reasons double-quoted."""
    lines, directory = [], None
    for key in sorted(expectations):
        top, name = key.split("/", 1)
        if top != directory:
            lines.append(f"{_key(top)}:")
            directory = top
        e = expectations[key]
        if e.kind is Kind.REFUSED:
            lines += [f"  {_key(name)}:", f"    {e.kind}: {json.dumps(e.reason)}"]  # a JSON string is YAML
        else:
            lines.append(f"  {_key(name)}: {e.kind}")
    text = HEADER + "\n".join(lines) + "\n"
    assert parse(yaml.safe_load(text)) == expectations, "the expectations do not read back as written"
    return text


def _key(name: str) -> str:
    plain = _PLAIN_KEY.fullmatch(name) and isinstance(yaml.safe_load(name), str)
    return name if plain else json.dumps(name)
