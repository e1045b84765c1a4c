"""The `jwtguard` command, run as a real subprocess (``python -m jwtguard``) against both stores."""

from __future__ import annotations

import os
import re
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import jwt
import pytest

from jwtguard import Admin, Settings
from jwtguard.cli import COMMANDS
from jwtguard.stores import Change, open_store
from jwtguard.stores.sqlite import database_path

from conftest import SECRET, bearer
from mongo_server import free_port

ISO_MS_UTC = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00"


def clean_env(**values: str) -> dict[str, str]:
    """The test's environment without any JWTGUARD_* variable, plus the secret and *values*."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGUARD_")}
    env["JWTGUARD_SECRET"] = SECRET
    env.update(values)
    return env


@pytest.fixture
def env(store_url: str) -> dict[str, str]:
    return clean_env(JWTGUARD_STORE_URL=store_url)


def run(
    env: dict[str, str], *args: str, stdin: str | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "jwtguard", *args],
        env=env,
        input=stdin,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def run_many(calls: Sequence[tuple[dict[str, str], tuple[str, ...]]]) -> list[subprocess.CompletedProcess[str]]:
    """Independent commands, run at the same time (each start-up costs most of a command's time)."""
    processes = [
        (
            args,
            subprocess.Popen(
                [sys.executable, "-m", "jwtguard", *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            ),
        )
        for env, args in calls
    ]
    results = []
    for args, process in processes:
        stdout, stderr = process.communicate(timeout=60)
        results.append(subprocess.CompletedProcess([*args], process.returncode, stdout, stderr))
    return results


def location(env: dict[str, str]) -> str:
    """How the CLI names the store of *env* in its messages (a MongoDB URL shows masked)."""
    url = env["JWTGUARD_STORE_URL"]
    return f"SQLite file {database_path(url)}" if url.startswith("sqlite") else url


def test_user_lifecycle(env: dict[str, str]) -> None:
    where = location(env)
    created = run(env, "create", "alice")
    assert (created.returncode, created.stdout.strip()) == (0, f"'alice': created (enabled) ({where})")
    assert run(env, "disable", "alice").returncode == 0
    again = run(env, "create", "alice")  # creating never undoes a disable
    assert (again.returncode, "left unchanged" in again.stdout) == (0, True)
    status = run(env, "status", "alice")
    assert "exists:      yes" in status.stdout
    assert "enabled:     no (user_enabled is not true)" in status.stdout
    assert "not before:  never set (destroyAnyJWTbefore" in status.stdout  # MongoDB: "and the records"
    assert "new token:   refused (disabled)" in status.stdout

    assert run(env, "enable", "alice").returncode == 0
    before = time.time()
    logout = run(env, "logout-all", "alice")
    after = time.time()
    assert (logout.returncode, logout.stdout.strip()) == (
        0,
        f"'alice': every token issued until now is refused ({where})",
    )
    status = run(env, "status", "alice")
    assert status.returncode == 0
    match = re.search(rf"not before:  ({ISO_MS_UTC})", status.stdout)
    assert match, status.stdout
    cut = datetime.fromisoformat(match.group(1)).timestamp()
    assert before - 0.001 <= cut <= after + 0.001
    assert "enabled:     yes" in status.stdout
    assert "new token:   accepted" in status.stdout  # only tokens issued before the cut-off die


def test_integer_ids_are_explicit(env: dict[str, str]) -> None:
    assert run(env, "create", "--int", "7").returncode == 0
    status, text = run_many([(env, ("status", "--int", "7")), (env, ("status", "7"))])
    assert status.returncode == 0
    assert "user:        7 (int)" in status.stdout
    assert "new token:   accepted" in status.stdout
    assert text.returncode == 1  # the string "7" is another user


def test_no_such_user_exits_1_and_names_the_store(env: dict[str, str]) -> None:
    where = "SQLite file" if env["JWTGUARD_STORE_URL"].startswith("sqlite") else "mongodb://"
    *changes, status = run_many(
        [(env, (command, "ghost")) for command in ("disable", "enable", "logout-all", "status")]
    )
    for result in changes:
        assert result.returncode == 1, result.args
        assert "no such user 'ghost'" in result.stderr
        assert where in result.stderr
        assert result.stdout == ""
    assert status.returncode == 1
    assert "exists:      no" in status.stdout
    assert "refused (unknown_user)" in status.stdout


def test_issue_and_explain(env: dict[str, str]) -> None:
    run(env, "create", "alice")
    issued = run(env, "issue", "alice", "--ttl", "120")
    assert issued.returncode == 0
    token = issued.stdout.strip()
    claims = jwt.decode(token, SECRET, algorithms=["HS256"])
    assert claims["sub"] == "alice"
    assert claims["exp"] - claims["iat"] == pytest.approx(120, abs=1)
    explained = run(env, "explain", "-", stdin=token)
    assert explained.returncode == 0, explained.stdout + explained.stderr
    assert token not in explained.stdout
    assert token.split(".")[2] not in explained.stdout  # never the signature
    run(env, "disable", "alice")
    refused = run(env, "explain", token)
    assert refused.returncode == 1
    assert "disabled" in refused.stdout


def test_check_config_masks_secrets_and_reaches_the_store(env: dict[str, str]) -> None:
    if env["JWTGUARD_STORE_URL"].startswith("sqlite"):
        run(env, "create", "alice")  # the file exists: check-config reaches it (a missing one is only named)
    result = run(env, "check-config")
    assert result.returncode == 0, result.stderr
    assert "JWTGUARD_SECRET=(set, hidden)" in result.stdout
    assert "JWTGUARD_CACHE_TTL=5.0" in result.stdout
    assert SECRET not in result.stdout + result.stderr
    url = env["JWTGUARD_STORE_URL"]
    if url.startswith("sqlite"):
        assert f"store: reachable (SQLite file {database_path(url)})" in result.stdout
    else:
        assert f"JWTGUARD_STORE_URL={url}" in result.stdout
        assert "store: reachable (mongodb://" in result.stdout


def test_bad_input_and_configuration_exit_2(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jwtguard.db'}"
    # Store commands check the store's settings; the key settings are checked by the commands that
    # sign or verify (issue 9: `status` no longer needs, nor checks, JWTGUARD_SECRET).
    cases = {
        "JWTGUARD_CACHE_TTL": ({"JWTGUARD_CACHE_TTL": "soon"}, ("status", "alice")),
        "JWTGUARD_SECRET": ({"JWTGUARD_SECRET": "hunter2-short"}, ("issue", "alice")),
        "JWTGUARD_ALGORITHMS": ({"JWTGUARD_ALGORITHMS": "none"}, ("check-config",)),
        "JWTGUARD_STORE_URL": ({"JWTGUARD_STORE_URL": "redis://u:hunter2@localhost/0"}, ("status", "alice")),
    }
    calls = [(clean_env(**{"JWTGUARD_STORE_URL": url, **values}), args) for values, args in cases.values()]
    url_problems = ("mongodb://u:hunter2@127.0.0.1:99999/x", "sqlite:///:memory:", "sqlite://x.db")
    calls += [(clean_env(JWTGUARD_STORE_URL=problem), ("disable", "alice")) for problem in url_problems]
    results = run_many(calls)
    for variable, result in zip([*cases, *["JWTGUARD_STORE_URL"] * len(url_problems)], results, strict=True):
        assert result.returncode == 2, (variable, result.stderr)
        assert result.stderr.startswith("jwtguard: configuration error: "), result.stderr
        assert variable in result.stderr
        assert "hunter2" not in result.stderr
    env = clean_env(JWTGUARD_STORE_URL=url)
    bad_input = [
        ("issue", "alice", "--ttl", "0"),
        ("issue", "alice", "--ttl", "soon"),
        ("status", ""),
        ("disable", "--int", "seven"),
        ("disable", "--int", "1_000"),
        ("disable", "--int", "99999999999999999999"),
        ("nope",),
    ]
    for result in run_many([(env, args) for args in bad_input]):
        assert result.returncode == 2, (result.args, result.stderr)
        assert result.stderr.startswith(("jwtguard: ", "usage: jwtguard")), result.stderr
        assert "Traceback" not in result.stderr
        assert result.stdout == ""


def test_unreachable_store_exits_3(tmp_path: Path) -> None:
    mongo = clean_env(
        JWTGUARD_STORE_URL=f"mongodb://user:hunter2@127.0.0.1:{free_port()}/x", JWTGUARD_STORE_TIMEOUT="0.3"
    )
    missing = clean_env(JWTGUARD_STORE_URL=f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    *results, result = run_many(
        [(mongo, ("disable", "alice")), (mongo, ("check-config",)), (missing, ("status", "alice"))]
    )
    for unreachable in (*results, result):
        assert unreachable.returncode == 3, unreachable.stderr
        assert unreachable.stderr.startswith("jwtguard: the store cannot be reached: "), unreachable.stderr
        assert "hunter2" not in unreachable.stdout + unreachable.stderr
    assert "JWTGUARD_STORE_URL=mongodb://user:***@127.0.0.1" in results[1].stdout  # settings printed, masked
    assert str(tmp_path / "missing-dir" / "x.db") in result.stderr


def test_store_locked_beyond_the_timeout_exits_3(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'jwtguard.db'}"
    store = open_store(Settings(secret=SECRET, store_url=url))
    store.apply("alice", Change(create=True))
    store.close()
    other = sqlite3.connect(database_path(url), isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # a writer that does not let go
        locked = run(clean_env(JWTGUARD_STORE_URL=url, JWTGUARD_STORE_TIMEOUT="0.3"), "disable", "alice")
        assert locked.returncode == 3, locked.stderr
        assert "locked" in locked.stderr
        # Reading is not blocked by the writer (WAL).
        assert run(clean_env(JWTGUARD_STORE_URL=url), "status", "alice").returncode == 0
    finally:
        other.close()


@pytest.fixture
def two_workers(make_client: Any, tmp_path: Path) -> Iterator[tuple[Settings, list[Callable[..., Any]]]]:
    """Two guarded apps ("workers") on one embedded store, each with its own cache."""
    settings = Settings(secret=SECRET, store_url=f"sqlite:///{tmp_path / 'jwtguard.db'}", cache_ttl=0.3)
    yield settings, [make_client(settings), make_client(settings)]


def wait_for(workers: list[Callable[..., Any]], token: str, expected: tuple[int, str | None]) -> None:
    """Ask every worker until each gives *expected* (status, reason); bounded."""
    deadline = time.monotonic() + 20
    for worker in workers:
        while True:
            reply = worker("GET", "/api/me", bearer(token))
            got = (reply.status, reply.json().get("reason") if reply.status != 200 else None)
            if got == expected:
                break
            assert time.monotonic() < deadline, f"still {got}, waiting for {expected}"
            time.sleep(0.05)


def test_cli_in_another_process_revokes_tokens_in_a_running_app(
    two_workers: tuple[Settings, list[Callable[..., Any]]],
) -> None:
    settings, workers = two_workers
    env = clean_env(JWTGUARD_STORE_URL=settings.store_url or "")
    admin = Admin(settings)
    try:
        admin.create_user("alice")
        token = admin.issue_token("alice")
    finally:
        admin.close()
    wait_for(workers, token, (200, None))  # each worker has alice's state cached now

    assert run(env, "disable", "alice").returncode == 0
    wait_for(workers, token, (401, "disabled"))
    assert workers[0]("GET", "/api/me", bearer(token)).headers["x-user-enabled"] == "false"

    assert run(env, "enable", "alice").returncode == 0
    wait_for(workers, token, (200, None))
    assert run(env, "logout-all", "alice").returncode == 0
    wait_for(workers, token, (401, "revoked"))


def test_embedded_default_store_in_the_working_directory(tmp_path: Path) -> None:
    env = clean_env()  # JWTGUARD_STORE_URL unset
    created = run(env, "create", "alice", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert (tmp_path / "jwtguard.db").exists()
    status = run(env, "status", "alice", cwd=tmp_path)
    assert status.returncode == 0
    assert f"store:       SQLite file {tmp_path / 'jwtguard.db'}" in status.stdout


def test_console_script_and_help() -> None:
    script = Path(sys.executable).with_name("jwtguard")
    assert script.exists(), "pip install -e . installs the jwtguard console script (setup.cfg entry point)"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60, env=clean_env())
    assert result.returncode == 0
    for name in COMMANDS:
        assert name in result.stdout
    bare = run(clean_env())
    assert bare.returncode == 2
    assert "usage: jwtguard" in bare.stderr


def test_status_of_an_id_the_guard_refuses_before_any_lookup(tmp_path: Path) -> None:
    """A stored user whose id is too long for the user claim: status says what the guard would do."""
    env = clean_env(JWTGUARD_STORE_URL=f"sqlite:///{tmp_path / 'cli.db'}", JWTGUARD_MAX_USER_ID_LENGTH="8")
    assert run(env, "create", "nine-char").returncode == 0
    status = run(env, "status", "nine-char")
    assert status.returncode == 0  # the user exists
    assert "new token:   refused (invalid: the id is longer than JWTGUARD_MAX_USER_ID_LENGTH=8)" in status.stdout
    assert run(env, "create", "eight-ch").returncode == 0
    assert "new token:   accepted" in run(env, "status", "eight-ch").stdout


def test_status_of_stored_dates_beyond_the_calendar(tmp_path: Path) -> None:
    """Numbers another program wrote, far outside datetime's years: shown, never a traceback."""
    path = tmp_path / "cli.db"
    env = clean_env(JWTGUARD_STORE_URL=f"sqlite:///{path}")
    for user in ("future", "past"):
        assert run(env, "create", user).returncode == 0
    with sqlite3.connect(path, isolation_level=None) as other:
        other.execute("UPDATE users SET not_before = 1e300 WHERE id = 'future'")
        other.execute("UPDATE users SET not_before = -1e15 WHERE id = 'past'")
    other.close()
    future = run(env, "status", "future")
    assert future.returncode == 0, future.stderr
    assert "not before:  1e+297 seconds from 1970-01-01T00:00:00Z (no calendar date)" in future.stdout
    assert "new token:   refused (revoked)" in future.stdout
    past = run(env, "status", "past")
    assert past.returncode == 0, past.stderr
    assert "new token:   accepted" in past.stdout


# -- issue 9 -------------------------------------------------------------------------------


def without_keys(env: dict[str, str], **values: str) -> dict[str, str]:
    """*env* without JWTGUARD_SECRET, plus *values*."""
    return {**{k: v for k, v in env.items() if k != "JWTGUARD_SECRET"}, **values}


def test_store_commands_need_no_secret(env: dict[str, str]) -> None:
    """issue 9: the CLI needed JWTGUARD_SECRET even to disable a user; store commands need only the store."""
    where = location(env)
    for keyless in (
        without_keys(env),
        without_keys(env, JWTGUARD_ALGORITHMS="RS256"),  # an RS256 setup without its public key here
        without_keys(env, JWTGUARD_SECRET="hunter2-short", JWTGUARD_PUBLIC_KEY_FILE="/nonexistent.pem"),
    ):
        assert run(keyless, "create", "alice").returncode == 0
        disabled, status, logout = run_many(
            [(keyless, ("disable", "alice")), (keyless, ("status", "alice")), (keyless, ("logout-all", "alice"))]
        )
        assert (disabled.returncode, disabled.stdout.strip()) == (
            0,
            f"'alice': disabled: every token is refused ({where})",
        ), disabled.stderr
        assert (status.returncode, logout.returncode) == (0, 0), status.stderr + logout.stderr
        assert "hunter2" not in disabled.stdout + disabled.stderr + status.stdout + status.stderr
        assert run(keyless, "enable", "alice").returncode == 0
    # The commands that sign or verify still need (and check) the keys.
    for result in run_many(
        [
            (without_keys(env), ("issue", "alice")),
            (without_keys(env), ("explain", "x.y.z")),
            (without_keys(env), ("check-config",)),
        ]
    ):
        assert result.returncode == 2, (result.args, result.stderr)
        assert result.stderr.startswith("jwtguard: configuration error: JWTGUARD_SECRET: required by HS256"), (
            result.stderr
        )


def test_integer_ids_get_a_hint(env: dict[str, str]) -> None:
    """issue 9: "no such user '42'" did not say that the stored user is the integer 42 (--int)."""
    assert run(env, "create", "--int", "42").returncode == 0
    disabled, status, typed = run_many(
        [
            (env, ("disable", "42")),
            (env, ("status", "42")),
            ({**env, "JWTGUARD_USER_ID_TYPE": "int"}, ("disable", "42")),  # ints without --int
        ]
    )
    for refused in (disabled, status):
        assert refused.returncode == 1
        assert "no such user '42'" in refused.stderr
        assert "add --int, or set JWTGUARD_USER_ID_TYPE=int" in refused.stderr
    assert (typed.returncode, typed.stdout.strip()) == (0, f"42: disabled: every token is refused ({location(env)})")
    ghost = run(env, "disable", "ghost")
    assert ghost.returncode == 1
    assert "--int" not in ghost.stderr  # no hint for an id that is no number


def test_user_ids_starting_with_a_dash_get_a_hint(env: dict[str, str]) -> None:
    """issue 9: `jwtguard disable -bob` failed with argparse's usage and no word about '--'."""
    dashed, created = run_many([(env, ("disable", "-bob")), (env, ("create", "--", "-bob"))])
    assert dashed.returncode == 2
    assert "jwtguard: a USER that starts with '-' goes after '--': jwtguard disable -- -bob" in dashed.stderr
    assert created.returncode == 0, created.stderr
    assert run(env, "disable", "--", "-bob").returncode == 0
    assert "--'" not in run(env, "disable").stderr  # a missing USER is only a missing USER


def test_issue_writes_a_standard_string_sub(env: dict[str, str]) -> None:
    """issue 9: `issue --int 42` signed an integer sub, which plain PyJWT refuses (RFC 7519 §4.1.2)."""
    typed = {**env, "JWTGUARD_USER_ID_TYPE": "int"}
    assert run(typed, "create", "42").returncode == 0
    issued, auto = run_many([(typed, ("issue", "42")), (env, ("issue", "--int", "42"))])
    assert issued.returncode == 0, issued.stderr
    assert jwt.decode(issued.stdout.strip(), SECRET, algorithms=["HS256"])["sub"] == "42"  # PyJWT's own checks
    explained = run(typed, "explain", issued.stdout.strip())
    assert explained.returncode == 0, explained.stdout
    assert (auto.returncode, auto.stdout) == (2, "")
    assert "JWTGUARD_USER_ID_TYPE=int" in auto.stderr


def test_issue_makes_the_embedded_user_known(env: dict[str, str]) -> None:
    """issue 9: a token from `issue` was refused (unknown_user) on the embedded store until `create`."""
    issued = run(env, "issue", "bob")
    assert issued.returncode == 0, issued.stderr
    explained = run(env, "explain", issued.stdout.strip())
    if env["JWTGUARD_STORE_URL"].startswith("sqlite"):
        assert explained.returncode == 0, explained.stdout
    else:  # MongoDB: the users are the application's documents; an unknown one stays refused
        assert explained.returncode == 1
        assert "unknown_user" in explained.stdout


def weak_rsa_public_key() -> str:
    """A 1024-bit RSA public key in OpenSSH format: no PEM, so only the verifier's own check sees its size."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    key = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    return key.public_bytes(Encoding.OpenSSH, PublicFormat.OpenSSH).decode()


@pytest.mark.parametrize(
    "public_key",
    [
        pytest.param("-----BEGIN PUBLIC KEY-----\nnot a key\n-----END PUBLIC KEY-----\n", id="unusable"),
        pytest.param(None, id="weak-openssh"),
    ],
)
def test_check_config_refuses_what_the_middleware_refuses(tmp_path: Path, public_key: str | None) -> None:
    """issue 9: check-config passed a public key that the middleware refused at start-up."""
    from jwtguard import ConfigError, JWTGuardWSGI

    key = public_key or weak_rsa_public_key()
    settings = Settings(algorithms=("RS256",), public_key=key, store_url=f"sqlite:///{tmp_path / 'x.db'}")
    with pytest.raises(ConfigError) as refused:
        JWTGuardWSGI(lambda environ, start_response: [], settings=settings)
    env = clean_env(JWTGUARD_ALGORITHMS="RS256", JWTGUARD_PUBLIC_KEY=key, JWTGUARD_STORE_URL=settings.store_url or "")
    del env["JWTGUARD_SECRET"]
    result = run(env, "check-config")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.strip() == f"jwtguard: {refused.value}"
    assert "JWTGUARD_PUBLIC_KEY" in result.stderr
    assert key.strip() not in result.stdout + result.stderr


def session_env(store_url: str) -> dict[str, str]:
    return clean_env(JWTGUARD_STORE_URL=store_url, JWTGUARD_SESSIONS="true", JWTGUARD_ISSUER="https://app.example")


def test_sessions_end_session_and_revoke(store_url: str) -> None:
    """Issue 10: `jwtguard sessions USER`, `jwtguard end-session SID`, `jwtguard revoke TOKEN`."""
    env = session_env(store_url)
    settings = Settings.from_env(env)
    admin = Admin(settings)
    try:
        admin.create_user("alice")
        laptop = admin.login("alice", description="laptop browser")
        phone = admin.login("alice", description="phone browser")
        listed, revoked, unknown_session = run_many(
            [(env, ("sessions", "alice")), (env, ("revoke", "-")), (env, ("end-session", "no-such-session"))]
        )
        # (revoke read nothing from /dev/null: it refuses an empty token)
        assert listed.returncode == 0, listed.stderr
        assert laptop.session_id in listed.stdout and "'phone browser'" in listed.stdout
        assert "2 live session(s)" in listed.stdout
        assert revoked.returncode == 2 and "not a token this guard accepts" in revoked.stderr
        assert unknown_session.returncode == 1 and "no such session" in unknown_session.stderr
        ended = run(env, "end-session", laptop.session_id)
        assert ended.returncode == 0 and "ended" in ended.stdout
        assert laptop.session_id not in run(env, "sessions", "alice").stdout
        done = run(env, "revoke", "-", stdin=phone.access_token)
        assert done.returncode == 0, done.stderr
        assert "refused until it expires" in done.stdout
        for output in (done.stdout, done.stderr, listed.stdout, ended.stdout):
            assert phone.access_token not in output and phone.refresh_token not in output
        status = admin.status("alice")
        assert status is not None and len(status.denied) == 1
        assert run(env, "sessions", "nobody").returncode == 1
    finally:
        admin.close()
