#!/usr/bin/env bash
# The whole test suite on a fresh machine: virtualenv, the MongoDB-compatible server, Chromium, then
# pytest with branch coverage of jwtguard/ (floor: setup.cfg's [coverage:report] fail_under), then
# scripts/lint.sh (ruff check, ruff format --check, mypy --strict), as `make lint` and tox run them. Extra arguments go to pytest instead of the whole suite, without coverage.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh test,lint
scripts/get-browser.sh
if [ -z "${JWTGUARD_TEST_MONGO_URI:-}" ] && ! command -v mongod >/dev/null; then
  JWTGUARD_FERRETDB=$(scripts/get-ferretdb.sh)
  export JWTGUARD_FERRETDB
fi
if [ "$#" -eq 0 ]; then
  set -- --cov=jwtguard --cov-branch --cov-report=term-missing:skip-covered
fi
.venv/bin/python -m pytest "$@"
scripts/lint.sh
