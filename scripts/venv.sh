#!/usr/bin/env bash
# Creates .venv (Python 3.10+) and installs jwtguard with the given extras (comma-separated, as in
# setup.cfg: demo, test, lint; default test,lint); re-runs only when setup.cfg or the extras change.
# Never touches the system Python's packages.
set -euo pipefail
cd "$(dirname "$0")/.."
extras=${1:-test,lint}
python=${PYTHON:-}
if [ -z "$python" ]; then
  for candidate in python3.11 python3.12 python3.13 python3.10 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      python=$candidate; break
    fi
  done
fi
[ -n "$python" ] || { echo "venv: Python 3.10+ is needed" >&2; exit 1; }
hash=$(cat setup.cfg pyproject.toml | sha256sum | cut -c1-16)
stamp=.venv/.installed-$hash-$extras
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
  .venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]"
  # Installing extras never removes any, so stamps of other extras from the same setup.cfg stay
  # valid (`make test` then `make demo` installs once each, not every time).
  find .venv -maxdepth 1 -name '.installed-*' ! -name ".installed-$hash-*" -delete
  touch "$stamp"
fi
