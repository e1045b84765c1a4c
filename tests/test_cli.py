"""The `jwtguard` command, run as a real subprocess against both stores."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import SECRET
from mongo_server import free_port


@pytest.fixture(params=["sqlite", "mongo"])
def env(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("JWTGUARD_")}
    base["JWTGUARD_SECRET"] = SECRET
    if request.param == "mongo":
        base["JWTGUARD_STORE_URL"] = request.getfixturevalue("mongo_uri")
    else:
        base["JWTGUARD_STORE_URL"] = f"sqlite:///{tmp_path / 'cli.db'}"
    return base


def run(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jwtguard", *args], env=env, input=stdin, capture_output=True, text=True, timeout=60
    )


def test_user_lifecycle(env: dict[str, str]) -> None:
    assert run(env, "create", "alice").returncode == 0
    status = run(env, "status", "alice")
    assert status.returncode == 0
    assert "enabled:     yes" in status.stdout
    assert "new token:   accepted" in status.stdout

    assert run(env, "disable", "alice").returncode == 0
    status = run(env, "status", "alice")
    assert "enabled:     no" in status.stdout
    assert "refused (disabled)" in status.stdout

    assert run(env, "enable", "alice").returncode == 0
    assert run(env, "logout-all", "alice").returncode == 0
    status = run(env, "status", "alice")
    assert "not before:  20" in status.stdout
    assert "new token:   accepted" in status.stdout


def test_integer_ids_are_explicit(env: dict[str, str]) -> None:
    assert run(env, "create", "--int", "7").returncode == 0
    assert run(env, "status", "--int", "7").returncode == 0
    assert run(env, "status", "7").returncode == 1  # the string "7" is another user
    bad = run(env, "status", "--int", "seven")
    assert bad.returncode == 2
    assert "whole number" in bad.stderr


def test_unknown_user_exits_1(env: dict[str, str]) -> None:
    for command in ("disable", "enable", "logout-all", "status"):
        result = run(env, command, "ghost")
        assert result.returncode == 1, command
    assert "no such user" in run(env, "disable", "ghost").stderr


def test_issue_and_explain(env: dict[str, str]) -> None:
    run(env, "create", "alice")
    issued = run(env, "issue", "alice", "--ttl", "120")
    assert issued.returncode == 0
    token = issued.stdout.strip()
    assert token.count(".") == 2
    explained = run(env, "explain", "-", stdin=token)
    assert explained.returncode == 0
    assert token not in explained.stdout
    assert token.split(".")[2] not in explained.stdout  # never the signature
    run(env, "disable", "alice")
    refused = run(env, "explain", token)
    assert refused.returncode == 1
    assert "disabled" in refused.stdout


def test_check_config_masks_secrets(env: dict[str, str]) -> None:
    result = run(env, "check-config")
    assert result.returncode == 0, result.stderr
    assert "JWTGUARD_SECRET=(set, hidden)" in result.stdout
    assert SECRET not in result.stdout + result.stderr
    assert "store: reachable" in result.stdout


def test_bad_configuration_names_the_variable(env: dict[str, str]) -> None:
    result = run({**env, "JWTGUARD_CACHE_TTL": "soon"}, "status", "alice")
    assert result.returncode == 2
    assert "JWTGUARD_CACHE_TTL" in result.stderr
    short = run({**env, "JWTGUARD_SECRET": "short"}, "status", "alice")
    assert short.returncode == 2
    assert "JWTGUARD_SECRET" in short.stderr
    assert "short" not in short.stderr.replace("too short", "")


def test_unreachable_store_exits_3() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGUARD_")}
    env.update(
        JWTGUARD_SECRET=SECRET,
        JWTGUARD_STORE_URL=f"mongodb://user:hunter2@127.0.0.1:{free_port()}/x",
        JWTGUARD_STORE_TIMEOUT="0.3",
    )
    for command in (("status", "alice"), ("check-config",)):
        result = run(env, *command)
        assert result.returncode == 3
        assert "cannot be reached" in result.stderr
        assert "hunter2" not in result.stdout + result.stderr
