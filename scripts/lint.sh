#!/usr/bin/env bash
# The static checks (`make lint`, tox's lint and typing envs, pre-commit): ruff's lint rules, ruff's
# formatting (check only: it changes no file) and mypy --strict, on the package, tests and examples.
# Expects .venv with the lint extra (scripts/venv.sh test,lint).
set -euo pipefail
cd "$(dirname "$0")/.."
status=0
.venv/bin/ruff check jwtguard tests examples bench || status=1
.venv/bin/ruff format --check jwtguard tests examples bench || status=1
.venv/bin/mypy --strict jwtguard tests examples bench || status=1
exit "$status"
