#!/usr/bin/env bash
# The whole test suite on a fresh machine: virtualenv, the MongoDB-compatible server, Chromium,
# Keycloak with a Java 21+ (scripts/get-keycloak.sh: Maven fetches it from Maven Central), then
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
# Keycloak (issue 12's identity-provider tests, tests/keycloak.py) and a Java 21+ to run it, cached.
# Without it those tests skip here and fail in CI; the rest of the suite runs either way.
if [ -z "${JWTGUARD_KEYCLOAK_HOME:-}" ]; then
  if keycloak_home=$(scripts/get-keycloak.sh) && keycloak_java=$(scripts/get-keycloak.sh --java); then
    export JWTGUARD_KEYCLOAK_HOME=$keycloak_home JWTGUARD_KEYCLOAK_JAVA=$keycloak_java
  else
    echo "test: no Keycloak (scripts/get-keycloak.sh failed): its tests skip, and fail in CI" >&2
  fi
fi
if [ "$#" -eq 0 ]; then
  set -- --cov=jwtguard --cov-branch --cov-report=term-missing:skip-covered
fi
.venv/bin/python -m pytest "$@"
scripts/lint.sh
