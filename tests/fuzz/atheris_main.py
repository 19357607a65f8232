"""Coverage-guided fuzzing of one target with atheris (by hand, not in CI):

    pip install atheris
    python -m tests.fuzz.atheris_main dubbo -atheris_runs=200000

Extra arguments go to libFuzzer. The target's seeds are written to a fresh corpus folder
first; crashes are left as crash-* files in the working directory."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path


def main() -> None:
    import atheris

    from tests.fuzz.seeds import seeds
    from tests.fuzz.targets import TARGETS

    name, args = sys.argv[1], sys.argv[2:]
    target = TARGETS[name]
    corpus = Path(tempfile.mkdtemp(prefix=f"fuzz-{name}-"))
    for i, seed in enumerate(seeds(name)):
        (corpus / f"seed-{i}").write_bytes(seed)
    atheris.instrument_all()
    atheris.Setup([sys.argv[0], *args, str(corpus)], target)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
