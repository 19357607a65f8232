#!/usr/bin/env bash
# Sets up the test environment from scratch (a venv in .venv) and runs the whole suite:
# the import-linter layers contract, ruff, mypy (the packages in pyproject's [tool.mypy]), then
# pytest on the compiled build (mypyc, built by the install where a C compiler is), then pytest
# again on the pure-Python build (PYMOSN_NO_EXTENSIONS=1): the tests in $PURE_PYTHON_TESTS,
# the whole suite unless set (.ci/run names a subset). Arguments, if any, are what both runs run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
# Builds the compiled modules where it can (pip shows no build output: the next line says which).
.venv/bin/python -m pip install -q -e '.[test]'
.venv/bin/pymosn version
if ! command -v curl >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
    (apt-get update -qq && apt-get install -y -qq curl) >/dev/null 2>&1 || echo "curl unavailable: curl tests will be skipped"
fi
.venv/bin/lint-imports
.venv/bin/ruff check src tests
.venv/bin/mypy
.venv/bin/python -m pytest "$@"
if [ -n "$(find src -name '*.so' -print -quit)" ]; then
    if [ $# -eq 0 ]; then
        # shellcheck disable=SC2086  # a list of paths
        set -- ${PURE_PYTHON_TESTS:-tests}
    fi
    echo "again on the pure-Python build (PYMOSN_NO_EXTENSIONS=1): $*"
    PYMOSN_NO_EXTENSIONS=1 exec .venv/bin/python -m pytest "$@"
fi
