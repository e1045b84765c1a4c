#!/usr/bin/env bash
# Runs the Flask example at http://127.0.0.1:8000 after setting everything up.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh demo
exec .venv/bin/python -m examples.flask_app
