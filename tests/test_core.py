"""The pure core: one table of (token, stored state, now) -> (status, reason), a fake clock, no I/O."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from jwtguard import ConfigError, MemoryStore, Settings
from jwtguard.engine import Engine
from jwtguard.invalidation import InvalidationBus
from jwtguard.sansio import Policy, Request, UserState, user_state

from conftest import SECRET

T = 1_800_000_000.0  # the fake "now"
CUT = T - 100.5  # a not-before cut-off with half a second


def engine_for(settings: Settings, document: dict[str, Any] | None = None, clock: Any = None) -> Engine:
    """The engine both adapters run, on an in-memory store holding *document* (for alice unless it has an _id)."""
    store = MemoryStore(settings)
    if document is not None:
        store.put(document.get("_id", "alice"), document)
    return Engine(settings, store=store, clock=clock or (lambda: T), bus=InvalidationBus())


def outcome(engine: Engine, values: list[str]) -> tuple[int, str]:
    """(200, "ok") when the request reaches the app, else the refusal's status and reason."""
    decision = engine.handle(Request("GET", "/api", tuple(values)))
    return (200, "ok") if decision.passes else (decision.status or 0, decision.reason)


def decide(claims: dict[str, Any], document: dict[str, Any] | None, now: float = T, **options: Any) -> tuple[int, str]:
    settings = Settings(secret=SECRET, store_url="mongodb://127.0.0.1:1/x", **options)
    token = jwt.encode({"sub": "alice", "iat": T - 1000, "exp": T + 1000, **claims}, SECRET, algorithm="HS256")
    return outcome(engine_for(settings, document, lambda: now), [f"Bearer {token}"])


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
    # the clock's edges
    ("exp-half-a-second-ahead", {"exp": T + 0.5}, ALICE, {}, (200, "ok")),
    ("expired-exactly-at-leeway", {"exp": T - 10}, ALICE, {"leeway": 10}, (401, "expired")),
    ("nbf-exactly-now", {"nbf": T}, ALICE, {}, (200, "ok")),
    ("nbf-past", {"nbf": T - 3600}, ALICE, {}, (200, "ok")),
    ("nbf-null-is-absent", {"nbf": None}, ALICE, {}, (200, "ok")),  # pinned: null means no nbf
    ("nbf-beyond-leeway", {"nbf": T + 11}, ALICE, {"leeway": 10}, (401, "invalid")),
    ("iat-exactly-now", {"iat": T}, ALICE, {}, (200, "ok")),
    ("iat-beyond-leeway", {"iat": T + 11}, ALICE, {"leeway": 10}, (401, "invalid")),
    ("iat-in-milliseconds-is-future", {"iat": T * 1000}, ALICE, {}, (401, "invalid")),
    ("iat-string", {"iat": str(T)}, ALICE, {}, (401, "invalid")),
    ("exp-bool", {"exp": True}, ALICE, {}, (401, "invalid")),
    # issue 7: a NumericDate no datetime can represent is no date (before year 1, after 9999)
    ("exp-far-future-huge-int", {"exp": 10**400}, ALICE, {}, (401, "invalid")),
    ("exp-last-second-of-9999", {"exp": 253_402_300_799}, ALICE, {}, (200, "ok")),
    ("exp-first-second-of-10000", {"exp": 253_402_300_800}, ALICE, {}, (401, "invalid")),
    ("exp-year-9999-still-revocable", {"exp": 253_402_300_799}, {"destroyAnyJWTbefore": T - 1}, {}, (401, "revoked")),
    ("iat-first-second-of-year-1", {"iat": -62_135_596_800}, ALICE, {}, (200, "ok")),
    ("iat-before-year-1", {"iat": -62_135_596_801}, ALICE, {}, (401, "invalid")),
    ("iat-minus-1e18", {"iat": -(10**18)}, ALICE, {}, (401, "invalid")),
    ("nbf-hundreds-of-digits", {"nbf": -(10**300)}, ALICE, {}, (401, "invalid")),
    # issue 7: JWTGUARD_MAX_TOKEN_LIFETIME refuses exp - iat above it (off by default)
    ("lifetime-unbounded-by-default", {"exp": T + 10**8}, ALICE, {}, (200, "ok")),
    ("lifetime-at-max", {"iat": T - 10, "exp": T + 3590}, ALICE, {"max_token_lifetime": 3600}, (200, "ok")),
    ("lifetime-above-max", {"iat": T - 10, "exp": T + 3591}, ALICE, {"max_token_lifetime": 3600}, (401, "invalid")),
    # issue 7 item 5: a decimal-point iat (issue_token's) compares exactly, even on a whole second
    ("float-whole-second-iat-before-cut", {"iat": float(int(CUT))}, {"destroyAnyJWTbefore": CUT}, {}, (401, "revoked")),
    ("float-iat-exactly-at-cut", {"iat": float(int(CUT))}, {"destroyAnyJWTbefore": float(int(CUT))}, {}, (200, "ok")),
    # stale, same second, fractional
    ("fractional-iat-before-cut", {"iat": int(CUT) + 0.2}, {"destroyAnyJWTbefore": CUT}, {}, (401, "revoked")),
    ("fractional-iat-after-cut", {"iat": int(CUT) + 0.7}, {"destroyAnyJWTbefore": CUT}, {}, (200, "ok")),
    ("whole-iat-after-cut-second", {"iat": int(CUT) + 1}, {"destroyAnyJWTbefore": CUT}, {}, (200, "ok")),
    ("cut-exactly-at-whole-iat", {"iat": T - 100}, {"destroyAnyJWTbefore": T - 100}, {}, (200, "ok")),
    # stored numbers: seconds, or milliseconds above 10^11
    ("milliseconds-exact-fresh", {"iat": CUT}, {"destroyAnyJWTbefore": CUT * 1000}, {}, (200, "ok")),
    ("milliseconds-one-ms-stale", {"iat": CUT - 0.001}, {"destroyAnyJWTbefore": CUT * 1000}, {}, (401, "revoked")),
    ("number-at-1e11-is-seconds", {}, {"destroyAnyJWTbefore": 10**11}, {}, (401, "revoked")),  # year 5138
    ("number-above-1e11-is-ms", {}, {"destroyAnyJWTbefore": 10**11 + 1}, {}, (200, "ok")),  # 1973
    ("int64-milliseconds", {}, {"destroyAnyJWTbefore": int((T - 5000) * 1000)}, {}, (200, "ok")),
    # stored dates with a zone: the same instant, whatever the offset
    (
        "aware-datetime-tokyo",
        {"iat": T - 50},
        {"destroyAnyJWTbefore": datetime.fromtimestamp(T - 10, timezone(timedelta(hours=9)))},
        {},
        (401, "revoked"),
    ),
    (
        "naive-datetime-before-iat",
        {"iat": T - 50},
        {"destroyAnyJWTbefore": datetime.fromtimestamp(T - 90, timezone.utc).replace(tzinfo=None)},
        {},
        (200, "ok"),
    ),
    # unreadable not-before values fail closed
    ("malformed-object", {}, {"destroyAnyJWTbefore": {"$date": 0}}, {}, (401, "revoked")),
    ("malformed-list", {}, {"destroyAnyJWTbefore": [T]}, {}, (401, "revoked")),
    ("malformed-nan", {}, {"destroyAnyJWTbefore": float("nan")}, {}, (401, "revoked")),
    ("malformed-infinity", {}, {"destroyAnyJWTbefore": float("-inf")}, {}, (401, "revoked")),
    ("malformed-beyond-a-float", {}, {"destroyAnyJWTbefore": 10**400}, {}, (401, "revoked")),
    ("null-not-before-is-absent", {}, {"destroyAnyJWTbefore": None}, {}, (200, "ok")),
    (
        "latest-wins-first-field",
        {"iat": T - 50},
        {"destroyAnyJWTbefore": T - 10, "passwordChangedAt": T - 500},
        {"not_before_fields": ("destroyAnyJWTbefore", "passwordChangedAt")},
        (401, "revoked"),
    ),
    (
        "both-older-passes",
        {"iat": T - 50},
        {"destroyAnyJWTbefore": T - 100, "passwordChangedAt": T - 500},
        {"not_before_fields": ("destroyAnyJWTbefore", "passwordChangedAt")},
        (200, "ok"),
    ),
    (
        "one-field-malformed",
        {"iat": T - 50},
        {"destroyAnyJWTbefore": T - 500, "passwordChangedAt": "yesterday"},
        {"not_before_fields": ("destroyAnyJWTbefore", "passwordChangedAt")},
        (401, "revoked"),
    ),
    # the admin switch: only true enables
    ("enabled-true", {}, {"user_enabled": True}, {}, (200, "ok")),
    ("disabled-one", {}, {"user_enabled": 1}, {}, (401, "disabled")),
    ("disabled-string-true", {}, {"user_enabled": "true"}, {}, (401, "disabled")),
    ("disabled-empty-object", {}, {"user_enabled": {}}, {}, (401, "disabled")),
    ("custom-enabled-field", {}, {"active": 0, "user_enabled": True}, {"enabled_field": "active"}, (401, "disabled")),
    ("unknown-integer-user", {"sub": 8}, None, {}, (401, "unknown_user")),
]


@pytest.mark.parametrize(
    ("claims", "document", "options", "expected"), [row[1:] for row in TABLE], ids=[row[0] for row in TABLE]
)
def test_decision_table(
    claims: dict[str, Any], document: dict[str, Any] | None, options: dict[str, Any], expected: tuple[int, str]
) -> None:
    assert decide(claims, document, **options) == expected


def test_cached_verification_still_checks_time() -> None:
    now = [T]
    engine = engine_for(Settings(secret=SECRET, store_url="mongodb://127.0.0.1:1/x"), ALICE, lambda: now[0])
    token = jwt.encode({"sub": "alice", "iat": T - 10, "exp": T + 10}, SECRET, algorithm="HS256")
    assert outcome(engine, [f"Bearer {token}"]) == (200, "ok")
    now[0] = T + 11
    assert outcome(engine, [f"Bearer {token}"]) == (401, "expired")  # a cache hit, later
    assert engine.metrics.snapshot()["token_cache"]["hits"] == 1


@pytest.mark.parametrize(
    ("path", "exempt"),
    [
        ("/login", True),
        ("/login/", True),
        ("/login/reset", True),
        ("/loginx", False),
        ("/static/app.js", True),
        ("/static", False),
        ("/static/../api/me", False),
        ("/static/./x", False),
        ("/api/me", False),
        ("/", True),
        ("/health", True),
        ("/login/x", True),
        ("/login/../api/me", False),
        ("/LOGIN", False),
        ("/health/live", True),
        ("/healthz", False),
        ("/static/.well-known/x", True),
        ("/static/..", False),
        ("/api/login", False),
    ],
)
def test_exempt_paths(path: str, exempt: bool) -> None:
    policy = Policy(Settings(secret=SECRET, exempt_paths=("/login", "/static/", "/", "/health")))
    assert policy.exempt("GET", path) is exempt


def test_only_a_cors_preflight_is_exempt_by_default() -> None:
    """Issue 7 item 3: OPTIONS alone is judged; a preflight (Origin + Access-Control-Request-Method) is not."""
    from jwtguard.sansio import is_preflight

    policy = Policy(Settings(secret=SECRET))
    assert not policy.exempt("OPTIONS", "/api/me")
    assert policy.exempt("OPTIONS", "/api/me", preflight=is_preflight("OPTIONS", "https://a.example", "GET"))
    assert not is_preflight("OPTIONS", "https://a.example", None)
    assert not is_preflight("OPTIONS", None, "GET")
    assert not is_preflight("GET", "https://a.example", "GET")
    assert not policy.exempt("POST", "/api/me")


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
        ({"JWTGUARD_STORE_URL": "redis://:hunter2@cache:6379/0"}, "JWTGUARD_STORE_URL"),
        ({"JWTGUARD_ALGORITHMS": "HS512"}, "JWTGUARD_SECRET"),  # 49 bytes: short for HS512's 64
        ({"JWTGUARD_ALGORITHMS": "RS256", "JWTGUARD_PUBLIC_KEY_FILE": ""}, "JWTGUARD_PUBLIC_KEY"),
        ({"JWTGUARD_ALGORITHMS": ""}, None),  # empty keeps the default: no error
        ({"JWTGUARD_LEEWAY": "abc"}, "JWTGUARD_LEEWAY"),
        ({"JWTGUARD_LEEWAY": "inf"}, "JWTGUARD_LEEWAY"),
        ({"JWTGUARD_LEEWAY": "-1"}, "JWTGUARD_LEEWAY"),
        ({"JWTGUARD_MAX_HEADER_BYTES": "8k"}, "JWTGUARD_MAX_HEADER_BYTES"),
        ({"JWTGUARD_MAX_HEADER_BYTES": "100"}, "JWTGUARD_MAX_HEADER_BYTES"),
        ({"JWTGUARD_MAX_USER_ID_LENGTH": "0"}, "JWTGUARD_MAX_USER_ID_LENGTH"),
        ({"JWTGUARD_RETRY_AFTER": "-1"}, "JWTGUARD_RETRY_AFTER"),
        ({"JWTGUARD_STORE_TIMEOUT": "0"}, "JWTGUARD_STORE_TIMEOUT"),
        ({"JWTGUARD_TOKEN_TTL": "1e12"}, "JWTGUARD_TOKEN_TTL"),
        ({"JWTGUARD_STALE_MAX_AGE": "nan"}, "JWTGUARD_STALE_MAX_AGE"),
        ({"JWTGUARD_REALM": 'api" error="x'}, "JWTGUARD_REALM"),
        ({"JWTGUARD_JWKS_URL": "file:///etc/passwd", "JWTGUARD_ALGORITHMS": "RS256"}, "JWTGUARD_JWKS_URL"),
        ({"JWTGUARD_NOT_BEFORE_FIELDS": "a,b.c"}, "JWTGUARD_NOT_BEFORE_FIELDS"),
        ({"JWTGUARD_USERS_COLLECTION": "$cmd"}, "JWTGUARD_USERS_COLLECTION"),
    ],
)
def test_bad_settings_name_the_variable(environ: dict[str, str], variable: str | None) -> None:
    env = {"JWTGUARD_SECRET": SECRET, **environ}
    if variable is None:
        Settings.from_env(env)
        return
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


def test_decisions_do_not_depend_on_the_local_time_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    """A naive stored date is UTC under any TZ: read as local time it would be a 9-hour bypass in Tokyo."""
    rows = [row for row in TABLE if "datetime" in row[0]]
    assert len(rows) >= 3
    try:
        for zone in ("UTC", "Asia/Tokyo", "America/New_York"):
            monkeypatch.setenv("TZ", zone)
            time.tzset()
            for _, claims, document, options, expected in rows:
                assert decide(claims, document, **options) == expected, zone
    finally:
        monkeypatch.undo()
        time.tzset()


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([], (401, "missing_token")),
        ([""], (401, "missing_token")),
        (["Basic YWxpY2U6cHc="], (401, "missing_token")),
        (['Digest username="a", realm="b", nonce="c"'], (401, "missing_token")),  # commas inside one credential
        (["Basic YWxpY2U6cHc=, Bearer abc.def.ghi"], (400, "multiple_credentials")),  # two fields joined
        (["Digest a=b,bearer abc"], (400, "multiple_credentials")),
        (["Bearer abc.def.ghi", "Bearer abc.def.ghi"], (400, "multiple_credentials")),
        (["Bearer abc.def.ghi, Bearer abc.def.ghi"], (400, "multiple_credentials")),
        (["Bearer a b"], (400, "multiple_credentials")),
        (["Bearer"], (400, "malformed")),
        (["Bearer\tabc"], (400, "malformed")),
        (["Bearer,abc"], (400, "malformed")),
        (["Bearer abc!"], (400, "malformed")),
        (["Bearer a=b"], (400, "malformed")),
        (["Bearerabc.def.ghi"], (401, "missing_token")),  # another scheme's name
        (["Bearer " + "a" * 8185], (401, "invalid")),  # 8192 characters: at the bound, on the whole value
        (["Bearer " + "a" * 8186], (431, "header_too_large")),
        (["Bearer " + "!" * 500_000], (431, "header_too_large")),  # bounded before any regex or decoding
        (["  Bearer   abc.def.ghi  "], (401, "invalid")),  # spaces around are fine, the token is not
    ],
    ids=lambda v: repr(v)[:40] if isinstance(v, list) else None,
)
def test_header_parsing(values: list[str], expected: tuple[int, str]) -> None:
    assert outcome(engine_for(Settings(secret=SECRET), ALICE), values) == expected


def test_header_bound_is_exact() -> None:
    engine = engine_for(Settings(secret=SECRET, max_header_bytes=300), ALICE)
    assert outcome(engine, ["Bearer " + "a" * 293]) == (401, "invalid")
    assert outcome(engine, ["Bearer " + "a" * 294]) == (431, "header_too_large")


def test_user_state_reads_documents() -> None:
    settings = Settings(secret=SECRET, not_before_fields=("a", "b"))
    assert user_state(None, settings) is None
    assert user_state({}, settings) == UserState()
    assert user_state({"a": 10.0, "b": 20}, settings) == UserState(not_before=20.0)
    assert user_state({"a": 2 * 10**12, "b": 20}, settings) == UserState(not_before=2 * 10**9)
    assert user_state({"a": 10**400}, settings) == UserState(malformed=True)  # beyond a float: not a date
    assert user_state({"a": "x", "user_enabled": False}, settings) == UserState(enabled=False, malformed=True)


def test_pyjwt_refuses_what_the_guard_refuses_for_it() -> None:
    """A token PyJWT alone accepts only when the guard's own checks do too, on the same parsed claims."""
    engine = engine_for(Settings(secret=SECRET), ALICE)
    token = jwt.encode({"sub": "alice", "iat": T - 1, "exp": T + 60, "crit": ["x"]}, SECRET, algorithm="HS256")
    assert outcome(engine, [f"Bearer {token}"]) == (200, "ok")  # "crit" in claims is just a claim
    with_crit = jwt.encode({"sub": "alice", "iat": T - 1, "exp": T + 60}, SECRET, "HS256", headers={"crit": ["x"]})
    assert outcome(engine, [f"Bearer {with_crit}"]) == (401, "invalid")


def _public_pem() -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def test_keys_are_checked_at_start_up() -> None:
    with pytest.raises(ConfigError) as raised:
        engine_for(Settings(algorithms=("RS256",), public_key="-----BEGIN PUBLIC KEY-----\nnot a key\n"))
    assert raised.value.variable == "JWTGUARD_PUBLIC_KEY"
    with pytest.raises(ConfigError) as raised:
        Settings(algorithms=("RS256",), public_key=_public_pem(), jwks_url="https://idp.example/jwks")
    assert raised.value.variable == "JWTGUARD_JWKS_URL"
    with pytest.raises(ConfigError) as raised:
        Settings(secret=SECRET, algorithms=("HS256", "none"))
    assert raised.value.variable == "JWTGUARD_ALGORITHMS"
    with pytest.raises(ConfigError) as raised:
        Settings(secret=SECRET, algorithms=())
    assert raised.value.variable == "JWTGUARD_ALGORITHMS"


def test_from_env_reads_key_files_and_keeps_defaults(tmp_path: Any) -> None:
    pem = _public_pem()
    key_file = tmp_path / "public.pem"
    key_file.write_text(pem)
    settings = Settings.from_env(
        {
            "JWTGUARD_ALGORITHMS": " RS256 ",
            "JWTGUARD_PUBLIC_KEY_FILE": str(key_file),
            "JWTGUARD_LEEWAY": "",  # empty: the default
            "JWTGUARD_EXEMPT_PATHS": "/login, /static/ ,",
        },
        cache_ttl=1,
    )
    assert settings.algorithms == ("RS256",)
    assert settings.public_key == pem
    assert settings.leeway == 0.0
    assert settings.exempt_paths == ("/login", "/static/")
    assert settings.cache_ttl == 1  # overrides win
    assert settings.secret is None
    assert pem not in repr(settings)
    assert Settings.from_env({}, secret=SECRET) == Settings(secret=SECRET)


#: One token (iat T-10, nbf T+5, exp T+60) read by one guard while the fake clock moves: its
#: verification is cached after the first read, so these rows also show that the cache never
#: skips a time check.
CLOCK: list[tuple[str, float, float, dict[str, Any] | None, tuple[int, str]]] = [
    ("before-nbf", T, 0, ALICE, (401, "invalid")),
    ("nbf-within-leeway", T, 5, ALICE, (200, "ok")),
    ("at-nbf", T + 5, 0, ALICE, (200, "ok")),
    ("last-moment", T + 59.999, 0, ALICE, (200, "ok")),
    ("at-exp", T + 60, 0, ALICE, (401, "expired")),
    ("past-exp-within-leeway", T + 64, 5, ALICE, (200, "ok")),
    ("past-exp-at-leeway", T + 65, 5, ALICE, (401, "expired")),
    ("logged-out-later", T + 30, 0, {"destroyAnyJWTbefore": T + 20}, (401, "revoked")),
    ("logged-out-in-its-second", T + 30, 0, {"destroyAnyJWTbefore": T - 9.5}, (200, "ok")),
    ("expired-beats-revoked", T + 61, 0, {"destroyAnyJWTbefore": T + 20}, (401, "expired")),
    ("expired-beats-unknown", T + 61, 0, None, (401, "expired")),
    ("years-later", T + 10 * 365 * 86400, 3600, ALICE, (401, "expired")),
]


@pytest.mark.parametrize(
    ("now", "leeway", "document", "expected"), [row[1:] for row in CLOCK], ids=[row[0] for row in CLOCK]
)
def test_one_token_as_the_clock_moves(
    now: float, leeway: float, document: dict[str, Any] | None, expected: tuple[int, str]
) -> None:
    settings = Settings(secret=SECRET, leeway=leeway)
    engine = engine_for(settings, document, lambda: now)
    # A whole-second issuer: an integer iat (the same-second row depends on it).
    token = jwt.encode({"sub": "alice", "iat": int(T) - 10, "nbf": T + 5, "exp": T + 60}, SECRET, algorithm="HS256")
    outcomes = [outcome(engine, [f"Bearer {token}"]) for _ in range(2)]  # the second read is a cache hit
    assert outcomes == [expected, expected]
    assert engine.metrics.snapshot()["token_cache"]["hits"] == 1
