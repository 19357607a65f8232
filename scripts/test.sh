#!/usr/bin/env bash
# Sets up the test environment from scratch (a venv in .venv) and runs the whole suite:
# the import-linter layers contract, ruff, mypy (the packages in pyproject's [tool.mypy]), then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[test]'
if ! command -v curl >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq curl) >/dev/null 2>&1 || echo "curl unavailable: curl tests will be skipped"
fi
.venv/bin/lint-imports
.venv/bin/ruff check src tests
.venv/bin/mypy
exec .venv/bin/python -m pytest "$@"
