#!/usr/bin/env bash
# Sets up pymosn in a venv (.venv) and runs the built-in demo: a proxy with a direct-response
# route and a proxied route to a built-in upstream. Prints what to curl.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q -e . 
exec .venv/bin/pymosn demo "$@"
