"""Where the corpus is: it is third-party data kept beside the project, never copied into it."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CORPUS_DIRS = ("mosn", "envoy", "istio")
_FALLBACKS = (REPO.parent / "shared" / "corpus", Path("/work/shared/corpus"))


def corpus_root() -> Path | None:
    """$PYMOSN_CORPUS, else <repo>/../shared/corpus, else /work/shared/corpus; None when none of
    them holds the corpus."""
    configured = os.environ.get("PYMOSN_CORPUS")
    candidates = (Path(configured),) if configured else _FALLBACKS
    for candidate in candidates:
        if all((candidate / d).is_dir() for d in CORPUS_DIRS):
            return candidate
    return None


def corpus_files(root: Path) -> dict[str, Path]:
    """Every file of the corpus dirs, keyed `dir/name` (the key of expectations.yaml)."""
    return {
        f"{d}/{path.name}": path
        for d in CORPUS_DIRS
        for path in sorted((root / d).iterdir())
        if path.is_file()
    }
