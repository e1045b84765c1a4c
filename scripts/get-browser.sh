#!/usr/bin/env bash
# What the browser tests need, installed once:
# - Debian's Chromium at /usr/bin/chromium (apt-get, only when it is missing). Playwright drives it;
#   nothing downloads a browser of its own.
# - axios's browser build (from the npm registry, with npm), cached, for the helper's axios test.
#   A failure here only warns: that one test then fails in CI and skips elsewhere.
set -euo pipefail
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "get-browser: /usr/bin/chromium is missing; install Debian's chromium package (apt-get install chromium)" >&2
    exit 1
  fi
  echo "get-browser: installing Debian's chromium package..." >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update >&2
  apt-get install -y chromium >&2
fi

axios_version=1.7.9
cache=${JWTGUARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jwtguard}
axios_js="$cache/axios-$axios_version/axios.min.js"
if [ ! -f "$axios_js" ]; then
  if command -v npm >/dev/null; then
    work=$(mktemp -d)
    trap 'rm -rf "$work"' EXIT
    if (cd "$work" && npm pack --silent "axios@$axios_version" >/dev/null \
        && tar -xzf "axios-$axios_version.tgz" package/dist/axios.min.js); then
      mkdir -p "$(dirname "$axios_js")"
      mv "$work/package/dist/axios.min.js" "$axios_js"
    else
      echo "get-browser: could not fetch axios $axios_version with npm" >&2
    fi
  else
    echo "get-browser: npm is missing; the helper's axios test needs axios $axios_version" >&2
  fi
fi
