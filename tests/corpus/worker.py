"""A validation worker: reads config paths from stdin, one a line, and answers each with one JSON
line {"rc", "stdout", "stderr", "traceback"}: what `pymosn validate -c PATH` would print and
return, run in this process through the CLI's own entry point (no interpreter start per file).
Started by runner.py with `python -P` so that only pymosn and the standard library are imported."""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import traceback


def validate(path: str) -> dict:
    from pymosn.server.cli import main

    out, err = io.StringIO(), io.StringIO()
    trace = None
    rc = None
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main(["validate", "-c", path])
        except SystemExit as exit_:  # argparse, or a deliberate exit inside
            rc = exit_.code if isinstance(exit_.code, int) else 1
        except BaseException:  # noqa: BLE001 - any uncaught exception is the finding
            trace = traceback.format_exc()
    return {"rc": rc, "stdout": out.getvalue(), "stderr": err.getvalue(), "traceback": trace}


def serve(lines, answer) -> None:
    for line in lines:
        path = line.rstrip("\n")
        if path:
            answer.write(json.dumps(validate(path)) + "\n")
            answer.flush()


if __name__ == "__main__":
    # Answers go to a private copy of stdout; whatever else writes to fd 1 lands on stderr.
    answers = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    serve(sys.stdin, answers)
