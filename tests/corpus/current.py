"""What pymosn does with the corpus now: every file validated in a fresh fixture workspace."""

from __future__ import annotations

from pathlib import Path

from tests.corpus.fixtures import make_workspace
from tests.corpus.locate import corpus_files
from tests.corpus.runner import Outcome, validate_all


def validate_corpus(root: Path, scratch: Path) -> dict[str, Outcome]:
    """{"dir/file": outcome} for every corpus file; `scratch` is an empty directory for the fixtures."""
    files = corpus_files(root)
    outcomes = validate_all(list(files.values()), make_workspace(scratch))
    return {key: outcomes[path] for key, path in files.items()}
