"""Rewrite tests/corpus/expectations.yaml and docs/corpus.md from what pymosn does with the corpus
now: `python -m tests.corpus.update` (from the repository root). Entries that still match keep
their reason as written; a traceback or a hang is never recorded (the command fails instead)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from tests.corpus import expectations as exp
from tests.corpus import summary
from tests.corpus.current import validate_corpus
from tests.corpus.locate import corpus_root
from tests.corpus.runner import Kind


def main() -> int:
    root = corpus_root()
    if root is None:
        print("no corpus: set PYMOSN_CORPUS to the directory holding mosn/, envoy/ and istio/", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="pymosn-corpus-") as scratch:
        outcomes = validate_corpus(root, Path(scratch))
    broken = {key: o for key, o in outcomes.items() if o.kind not in exp.EXPECTABLE}
    if broken:
        print(exp.render_differences([exp.Difference(k, "no traceback, no hang", exp.describe(o), o.output)
                                      for k, o in sorted(broken.items())]), file=sys.stderr)
        return 1
    old = exp.load() if exp.EXPECTATIONS.exists() else {}
    new = {
        key: old[key] if key in old and exp.matches(old[key], outcome) else exp.expected_from(outcome)
        for key, outcome in outcomes.items()
    }
    changed = exp.compare(old, outcomes)
    exp.EXPECTATIONS.write_text(exp.dump(new), encoding="utf-8")
    summary.SUMMARY.write_text(summary.render(new), encoding="utf-8")
    for d in changed:
        print(f"{d.file}\n    was: {d.expected}\n    now: {d.got}")
    counts = {kind: sum(e.kind is kind for e in new.values()) for kind in (Kind.LOADS, Kind.WARNINGS, Kind.REFUSED)}
    print(f"{len(new)} files ({', '.join(f'{n} {k}' for k, n in counts.items())}); {len(changed)} changed; "
          f"wrote {exp.EXPECTATIONS} and {summary.SUMMARY}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
