#!/usr/bin/env bash
# The benchmark (`make bench`, issue 11): .venv with the bench extra (the peers and both servers),
# the MongoDB-wire server as scripts/test.sh finds or builds it, then every part in one run,
# written to bench/RESULTS.md and bench/propagation.svg (a few minutes). Arguments go to
# `python -m bench`, e.g. `scripts/bench.sh --parts propagation --propagation-ttl 5`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/venv.sh bench
if [ -z "${JWTGUARD_TEST_MONGO_URI:-}" ] && ! command -v mongod >/dev/null; then
  JWTGUARD_FERRETDB=$(scripts/get-ferretdb.sh)
  export JWTGUARD_FERRETDB
fi
.venv/bin/python -m bench "$@"
