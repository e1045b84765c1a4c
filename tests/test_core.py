"""The pure core: one table of (token, stored state, now) -> (status, reason), a fake clock, no I/O."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import jwt
import pytest

from jwtguard import ConfigError, Guard, Rejection, Settings, Verified
from jwtguard.core import user_state

from conftest import SECRET

T = 1_800_000_000.0  # the fake "now"
CUT = T - 100.5  # a not-before cut-off with half a second


def decide(claims: dict[str, Any], document: dict[str, Any] | None, now: float = T, **options: Any) -> tuple[int, str]:
    settings = Settings(secret=SECRET, store_url="mongodb://127.0.0.1:1/x", **options)
    guard = Guard(settings)
    token = jwt.encode({"sub": "alice", "iat": T - 1000, "exp": T + 1000, **claims}, SECRET, algorithm="HS256")
    result = guard.authenticate([f"Bearer {token}"], now)
    if isinstance(result, Rejection):
        return result.status, result.reason
    assert isinstance(result, Verified)
    verdict = guard.decide(result, user_state(document, settings))
    return (200, "ok") if verdict is None else (verdict.status, verdict.reason)


ALICE: dict[str, Any] = {"_id": "alice"}

TABLE: list[tuple[str, dict[str, Any], dict[str, Any] | None, dict[str, Any], tuple[int, str]]] = [
    ("valid", {}, ALICE, {}, (200, "ok")),
    ("expired", {"exp": T - 1}, ALICE, {}, (401, "expired")),
    ("expired-exactly-now", {"exp": T}, ALICE, {}, (401, "expired")),
    ("expired-within-leeway", {"exp": T - 5}, ALICE, {"leeway": 10}, (200, "ok")),
    ("expired-beyond-leeway", {"exp": T - 11}, ALICE, {"leeway": 10}, (401, "expired")),
    ("nbf-future", {"nbf": T + 1}, ALICE, {}, (401, "invalid")),
    ("nbf-within-leeway", {"nbf": T + 5}, ALICE, {"leeway": 10}, (200, "ok")),
    ("iat-future", {"iat": T + 1}, ALICE, {}, (401, "invalid")),
    ("iat-future-within-leeway", {"iat": T + 5}, ALICE, {"leeway": 10}, (200, "ok")),
    ("unknown-user", {}, None, {}, (401, "unknown_user")),
    ("disabled-false", {}, {"user_enabled": False}, {}, (401, "disabled")),
    ("disabled-zero", {}, {"user_enabled": 0}, {}, (401, "disabled")),
    ("disabled-null", {}, {"user_enabled": None}, {}, (401, "disabled")),
    ("disabled-string-false", {}, {"user_enabled": "false"}, {}, (401, "disabled")),
    ("enabled-missing-field", {}, {"other": 1}, {}, (200, "ok")),
    ("stale-fractional-iat", {"iat": CUT - 0.001}, {"destroyAnyJWTbefore": CUT}, {}, (401, "revoked")),
    ("fresh-fractional-iat", {"iat": CUT}, {"destroyAnyJWTbefore": CUT}, {}, (200, "ok")),
    ("same-second-whole-iat-passes", {"iat": int(CUT)}, {"destroyAnyJWTbefore": CUT}, {}, (200, "ok")),
    ("second-before-whole-iat-dies", {"iat": int(CUT) - 1}, {"destroyAnyJWTbefore": CUT}, {}, (401, "revoked")),
    (
        "naive-datetime-is-utc",
        {"iat": T - 50},
        {"destroyAnyJWTbefore": datetime.fromtimestamp(T - 10, timezone.utc).replace(tzinfo=None)},
        {},
        (401, "revoked"),
    ),
    ("milliseconds-number", {"iat": T - 50}, {"destroyAnyJWTbefore": (T - 10) * 1000}, {}, (401, "revoked")),
    ("seconds-number", {"iat": T - 50}, {"destroyAnyJWTbefore": T - 100}, {}, (200, "ok")),
    ("malformed-string", {}, {"destroyAnyJWTbefore": "2020-01-01"}, {}, (401, "revoked")),
    ("malformed-bool", {}, {"destroyAnyJWTbefore": True}, {}, (401, "revoked")),
    (
        "latest-field-wins",
        {"iat": T - 50},
        {"destroyAnyJWTbefore": T - 500, "passwordChangedAt": T - 10},
        {"not_before_fields": ("destroyAnyJWTbefore", "passwordChangedAt")},
        (401, "revoked"),
    ),
    ("disabled-beats-fresh", {}, {"user_enabled": False, "destroyAnyJWTbefore": T - 5000}, {}, (401, "disabled")),
    ("integer-user-id", {"sub": 7}, {"_id": 7}, {}, (200, "ok")),
    ("custom-user-claim", {"uid": "bob"}, {"_id": "bob"}, {"user_claim": "uid"}, (200, "ok")),
]


@pytest.mark.parametrize(
    ("claims", "document", "options", "expected"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE]
)
def test_decision_table(
    claims: dict[str, Any], document: dict[str, Any] | None, options: dict[str, Any], expected: tuple[int, str]
) -> None:
    assert decide(claims, document, **options) == expected


def test_cached_verification_still_checks_time() -> None:
    guard = Guard(Settings(secret=SECRET, store_url="mongodb://127.0.0.1:1/x"))
    token = jwt.encode({"sub": "alice", "iat": T - 10, "exp": T + 10}, SECRET, algorithm="HS256")
    assert isinstance(guard.authenticate([f"Bearer {token}"], T), Verified)
    expired = guard.authenticate([f"Bearer {token}"], T + 11)  # a cache hit, later
    assert isinstance(expired, Rejection) and expired.reason == "expired"


@pytest.mark.parametrize(
    ("path", "exempt"),
    [
        ("/login", True), ("/login/", True), ("/login/reset", True), ("/loginx", False),
        ("/static/app.js", True), ("/static", False), ("/static/../api/me", False), ("/static/./x", False),
        ("/api/me", False), ("/", True), ("/health", True),
    ],
)
def test_exempt_paths(path: str, exempt: bool) -> None:
    guard = Guard(Settings(secret=SECRET, exempt_paths=("/login", "/static/", "/", "/health")))
    assert guard.is_exempt(path, "GET") is exempt


def test_options_preflight_is_exempt_by_default() -> None:
    guard = Guard(Settings(secret=SECRET))
    assert guard.is_exempt("/api/me", "OPTIONS")
    assert not guard.is_exempt("/api/me", "POST")


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"JWTGUARD_ALGORITHMS": "none"}, "JWTGUARD_ALGORITHMS"),
        ({"JWTGUARD_ALGORITHMS": "HS256,NoNe"}, "JWTGUARD_ALGORITHMS"),
        ({"JWTGUARD_ALGORITHMS": "HS999"}, "JWTGUARD_ALGORITHMS"),
        ({"JWTGUARD_SECRET": "short"}, "JWTGUARD_SECRET"),
        ({"JWTGUARD_SECRET": ""}, "JWTGUARD_SECRET"),
        ({"JWTGUARD_ALGORITHMS": "RS256"}, "JWTGUARD_PUBLIC_KEY"),
        ({"JWTGUARD_CACHE_TTL": "five"}, "JWTGUARD_CACHE_TTL"),
        ({"JWTGUARD_CACHE_TTL": "-1"}, "JWTGUARD_CACHE_TTL"),
        ({"JWTGUARD_CACHE_MAXSIZE": "0"}, "JWTGUARD_CACHE_MAXSIZE"),
        ({"JWTGUARD_LEEWAY": "nan"}, "JWTGUARD_LEEWAY"),
        ({"JWTGUARD_ON_STORE_ERROR": "ignore"}, "JWTGUARD_ON_STORE_ERROR"),
        ({"JWTGUARD_CLEAR_SITE_DATA": "maybe"}, "JWTGUARD_CLEAR_SITE_DATA"),
        ({"JWTGUARD_EXEMPT_PATHS": "login"}, "JWTGUARD_EXEMPT_PATHS"),
        ({"JWTGUARD_ENABLED_FIELD": "$where"}, "JWTGUARD_ENABLED_FIELD"),
        ({"JWTGUARD_PUBLIC_KEY_FILE": "/nonexistent/key.pem"}, "JWTGUARD_PUBLIC_KEY_FILE"),
        ({"JWTGUARD_STORE_URL": "postgres://user:hunter2@db/x"}, "JWTGUARD_STORE_URL"),
    ],
)
def test_bad_settings_name_the_variable(environ: dict[str, str], variable: str) -> None:
    env = {"JWTGUARD_SECRET": SECRET, **environ}
    with pytest.raises(ConfigError) as raised:
        Settings.from_env(env)
    assert raised.value.variable == variable
    assert str(raised.value).startswith(variable)
    for secret in ("hunter2", SECRET):
        assert secret not in str(raised.value)


def test_from_env_reads_every_kind_of_value(tmp_path: Any) -> None:
    settings = Settings.from_env(
        {
            "JWTGUARD_SECRET": SECRET,
            "JWTGUARD_ALGORITHMS": "HS256, HS384",
            "JWTGUARD_AUDIENCE": "api,admin",
            "JWTGUARD_LEEWAY": "2.5",
            "JWTGUARD_CACHE_MAXSIZE": "50",
            "JWTGUARD_EXEMPT_METHODS": "options,head",
            "JWTGUARD_CLEAR_SITE_DATA": "yes",
            "JWTGUARD_STORE_URL": "mongodb://user:hunter2@db.example/app",
            "UNRELATED": "x",
        }
    )
    assert settings.algorithms == ("HS256", "HS384")
    assert settings.audience == ("api", "admin")
    assert settings.leeway == 2.5
    assert settings.cache_maxsize == 50
    assert settings.exempt_methods == ("OPTIONS", "HEAD")
    assert settings.clear_site_data is True
    assert "hunter2" not in repr(settings)
    assert SECRET not in repr(settings)
    described = settings.describe()
    assert described["JWTGUARD_STORE_URL"] == "mongodb://user:***@db.example/app"
    assert SECRET not in str(described)


def test_hmac_secret_length_follows_the_hash() -> None:
    Settings(secret="x" * 32)
    with pytest.raises(ConfigError):
        Settings(secret="x" * 40, algorithms=("HS512",))
