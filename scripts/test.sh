#!/usr/bin/env bash
# The whole test suite on a fresh machine: virtualenv, the MongoDB-compatible server, Chromium, then
# pytest, ruff and mypy --strict. Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh test,lint
scripts/get-browser.sh
if [ -z "${JWTGUARD_TEST_MONGO_URI:-}" ] && ! command -v mongod >/dev/null; then
  JWTGUARD_FERRETDB=$(scripts/get-ferretdb.sh)
  export JWTGUARD_FERRETDB
fi
.venv/bin/python -m pytest "$@"
.venv/bin/ruff check jwtguard tests examples
.venv/bin/mypy --strict jwtguard tests examples
