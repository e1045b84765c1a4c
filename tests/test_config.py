"""Issue 8: one declaration per setting, from which Settings, from_env, check-config and the README come."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

import jwtguard.config as config
from jwtguard import ConfigError, Settings
from jwtguard.config import SETTINGS, VARIABLES, settings_table, unknown_variables

from conftest import SECRET

README = Path(__file__).resolve().parent.parent / "README.md"

#: A second HMAC key, long enough for HS384 (48 bytes), to tell a parsed value from the base one.
OTHER_SECRET = "another-test-secret-0123456789-abcdefghijklmnopq"

BASE = {"JWTGUARD_SECRET": SECRET}


def _rsa(bits: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _public_pem(key: rsa.RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _private_pem(key: rsa.RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


STRONG, WEAK = _rsa(2048), _rsa(1024)
PUBLIC_PEM, PRIVATE_PEM = _public_pem(STRONG), _private_pem(STRONG)
WEAK_PUBLIC_PEM, WEAK_PRIVATE_PEM = _public_pem(WEAK), _private_pem(WEAK)

#: Every declared variable: a valid text, the value it gives, and a text refused (None: any
#: non-empty text is accepted, e.g. a claim name). A test checks that no setting is missing.
PARSING: list[tuple[str, str, Any, str | None]] = [
    ("JWTGUARD_SECRET", OTHER_SECRET, OTHER_SECRET, "hunter2-short"),
    ("JWTGUARD_PUBLIC_KEY", PUBLIC_PEM, PUBLIC_PEM.strip(), WEAK_PUBLIC_PEM),  # values are stripped,
    ("JWTGUARD_PRIVATE_KEY", PRIVATE_PEM, PRIVATE_PEM.strip(), WEAK_PRIVATE_PEM),
    ("JWTGUARD_JWKS_URL", "https://idp.example/jwks", "https://idp.example/jwks", "file:///etc/passwd"),
    ("JWTGUARD_JWKS_LIFESPAN", "60", 60.0, "soon"),
    ("JWTGUARD_ALGORITHMS", "HS256, HS384", ("HS256", "HS384"), "HS256,none"),
    ("JWTGUARD_USER_CLAIM", "uid", "uid", None),
    ("JWTGUARD_LEEWAY", "2.5", 2.5, "abc"),
    ("JWTGUARD_AUDIENCE", "api, admin", ("api", "admin"), None),
    ("JWTGUARD_ISSUER", "https://idp.example", "https://idp.example", None),
    ("JWTGUARD_TOKEN_TYPE", "claim:typ=Bearer", "claim:typ=Bearer", "Bearer"),
    ("JWTGUARD_REALM", "admin", "admin", 'api" error="x'),
    ("JWTGUARD_EXEMPT_PATHS", "/login, /static/ ,", ("/login", "/static/"), "login"),
    ("JWTGUARD_EXEMPT_METHODS", "options,head", ("OPTIONS", "HEAD"), "GE T"),
    ("JWTGUARD_MODE", "Optional", "optional", "public"),
    ("JWTGUARD_MAX_HEADER_BYTES", "4096", 4096, "8k"),
    ("JWTGUARD_MAX_USER_ID_LENGTH", "64", 64, "0"),
    ("JWTGUARD_USER_ID_TYPE", "ObjectId", "objectid", "uuid"),
    ("JWTGUARD_TOKEN_TTL", "60", 60.0, "1e12"),
    ("JWTGUARD_MAX_TOKEN_LIFETIME", "86400", 86400.0, "forever"),
    ("JWTGUARD_STORE_URL", "mongodb://u:hunter2@db/app", "mongodb://u:hunter2@db/app", "redis://:hunter2@cache/0"),
    ("JWTGUARD_USERS_COLLECTION", "accounts", "accounts", "$cmd"),
    ("JWTGUARD_NOT_BEFORE_FIELDS", "a, b", ("a", "b"), "a,b.c"),
    ("JWTGUARD_ENABLED_FIELD", "active", "active", "$where"),
    ("JWTGUARD_STORE_TIMEOUT", "0.5", 0.5, "0"),
    ("JWTGUARD_CACHE_TTL", "1", 1.0, "soon"),
    ("JWTGUARD_TOKEN_CACHE_TTL", "0", 0.0, "-1"),
    ("JWTGUARD_TOKEN_CACHE_BYTES", "1048576", 1_048_576, "32MiB"),
    ("JWTGUARD_CACHE_MAXSIZE", "50", 50, "lots"),
    ("JWTGUARD_RETRY_AFTER", "10", 10, "-1"),
    ("JWTGUARD_ON_STORE_ERROR", "stale", "stale", "retry"),
    ("JWTGUARD_STALE_MAX_AGE", "60", 60.0, "nan"),
    ("JWTGUARD_CLEAR_SITE_DATA", "yes", True, "maybe"),
    ("JWTGUARD_SESSIONS", "no", False, "maybe"),  # "true" needs JWTGUARD_ISSUER: its own test
    ("JWTGUARD_REFRESH_TTL", "86400", 86400.0, "30"),
    ("JWTGUARD_REFRESH_GRACE", "2.5", 2.5, "-1"),
    ("JWTGUARD_REFRESH_REUSE", "Logout_Everywhere", "logout_everywhere", "ignore"),
    ("JWTGUARD_SINGLE_SESSION", "true", True, "sometimes"),
    ("JWTGUARD_VERSION_CLAIM", "ver", "ver", "$ver"),
    ("JWTGUARD_RECORDS_COLLECTION", "app_records", "app_records", "a.b"),
    ("JWTGUARD_ALERT_SECRET", "alert-" + OTHER_SECRET, "alert-" + OTHER_SECRET, "hunter2-short"),
    ("JWTGUARD_REFRESH_COLLECTION", "app_tokens", "app_tokens", "$t"),
    ("JWTGUARD_TOKEN_LOCATION", "Both", "both", "query"),
    ("JWTGUARD_REFRESH_PATH", "/api/auth/refresh", "/api/auth/refresh", "/token; Domain=evil.example"),
    ("JWTGUARD_FEED", "off", False, "sometimes"),
    ("JWTGUARD_FEED_INTERVAL", "0.5", 0.5, "0.01"),
    ("JWTGUARD_FEED_FALLBACK_TTL", "2", 2.0, "-1"),
    ("JWTGUARD_EVENTS_COLLECTION", "app_events", "app_events", "$e"),
    ("JWTGUARD_UNKNOWN_USERS", "ALLOW", "allow", "maybe"),
    ("JWTGUARD_STATE_COLLECTION", "idp_state", "idp_state", "a.b"),
    ("JWTGUARD_OIDC_CLIENT_ID", "my-app", "my-app", "tab\there"),
    (
        "JWTGUARD_ENDPOINT_CLIENTS",
        "gw:s3cret-12:introspect, okta:s3cret-34:gtr+revoke",
        (("gw", "s3cret-12", ("introspect",)), ("okta", "s3cret-34", ("gtr", "revoke"))),
        "gw:s3cret-12:everything",
    ),
    ("JWTGUARD_LOGOUT_TOKEN_MAX_AGE", "60", 60.0, "0"),
    ("JWTGUARD_SSF_ISSUER", "https://tr.example", "https://tr.example", "tab\there"),
    ("JWTGUARD_SSF_JWKS_URL", "https://tr.example/jwks.json", "https://tr.example/jwks.json", "ftp://tr.example/k"),
    (
        "JWTGUARD_SSF_CONFIG_URL",
        "https://tr.example/.well-known/ssf-configuration",
        "https://tr.example/.well-known/ssf-configuration",
        "tr.example",
    ),
    ("JWTGUARD_SSF_AUDIENCE", "receiver.example", "receiver.example", "tab\there"),
    ("JWTGUARD_SSF_PUSH_AUTHORIZATION", "Bearer 0123456789abcdef", "Bearer 0123456789abcdef", "Bearer hunter2"),
    ("JWTGUARD_SSF_POLL_URL", "https://tr.example/poll", "https://tr.example/poll", "poll"),
    ("JWTGUARD_SSF_POLL_AUTHORIZATION", "Bearer 0123", "Bearer 0123", "Bearer \x01hunter2"),
    ("JWTGUARD_DPOP", "Require", "require", "always"),
    ("JWTGUARD_DPOP_ALGORITHMS", "ES256, PS256", ("ES256", "PS256"), "HS256"),
    ("JWTGUARD_DPOP_MAX_AGE", "30", 30.0, "0"),
    ("JWTGUARD_DPOP_REPLAY", "STORE", "store", "redis"),
    ("JWTGUARD_DPOP_NONCE", "false", False, "perhaps"),
    ("JWTGUARD_DPOP_NONCE_KEY", "k" * 32, "k" * 32, "hunter2"),
    ("JWTGUARD_EXTERNAL_ORIGIN", "https://API.example:8443", "https://api.example:8443", "https://api.example/v1"),
]

#: Texts that may appear in a bad value and must never come back in a message.
NEVER_SHOWN = ("hunter2", SECRET, OTHER_SECRET, WEAK_PRIVATE_PEM.splitlines()[1], PRIVATE_PEM.splitlines()[1])


def _field(variable: str) -> str:
    return variable.removeprefix("JWTGUARD_").lower()


@pytest.fixture(autouse=True)
def fresh_reports(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts with no unknown variable reported yet (from_env reports each once per process)."""
    monkeypatch.setattr(config, "_REPORTED", set())
    yield


def test_the_parsing_table_covers_every_declared_setting() -> None:
    """Issue 8: a new declaration without a row in PARSING fails here, not silently."""
    assert [row[0] for row in PARSING] == [setting.variable for setting in SETTINGS]


@pytest.mark.parametrize(("variable", "raw", "expected", "bad"), PARSING, ids=[row[0] for row in PARSING])
def test_each_setting_parses_its_variable(variable: str, raw: str, expected: Any, bad: str | None) -> None:
    """Issue 8: every declared variable reads a valid text, and means the same value given in code."""
    settings = Settings.from_env({**BASE, variable: raw})
    assert getattr(settings, _field(variable)) == expected
    assert Settings(**{"secret": SECRET, _field(variable): expected}) == settings
    if bad is None:
        return
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**BASE, variable: bad})
    assert raised.value.variable == variable
    assert str(raised.value).startswith(f"{variable}: ")
    for secret in NEVER_SHOWN:
        assert secret not in str(raised.value)


def test_every_field_is_declared_once() -> None:
    """Issue 8: Settings' fields and the declarations are one list; secrets are out of repr().

    Issue 10: a derived field (``secrets``, from ``secret``) is no setting of its own, follows the
    setting it comes from, and is out of repr() as that one is.
    """
    declared = [f for f in fields(Settings) if f.name not in config.DERIVED]
    assert [f.name for f in declared] == [setting.name for setting in SETTINGS]
    assert len(VARIABLES) == sum(len(setting.variables) for setting in SETTINGS)
    assert config.DERIVED == {"secrets": "secret"}
    names = [f.name for f in fields(Settings)]
    for derived, source in config.DERIVED.items():
        assert names.index(derived) == names.index(source) + 1
        assert next(f for f in fields(Settings) if f.name == derived).repr is False
    for f, setting in zip(declared, SETTINGS, strict=True):
        assert setting.default == f.default
        assert setting.description and "|" not in setting.description and "\n" not in setting.description
        if setting.secret:
            assert f.repr is False, setting.variable


def _readme_table() -> list[str]:
    """The rows of README.md's table under "## Settings", header included."""
    section = README.read_text(encoding="utf-8").split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")]


def test_readme_settings_table_matches_the_declarations() -> None:
    """Issue 8: the README names every declared variable (``*_FILE`` included) with its default."""
    rows = [line.strip("|").split(" | ") for line in _readme_table()[2:]]
    documented = {name: row[1].strip() for row in rows for name in re.findall(r"`(JWTGUARD_\w+)`", row[0])}
    assert set(documented) == VARIABLES
    for setting in SETTINGS:
        for variable in setting.variables:
            assert documented[variable] == setting.default_text, variable
    # The whole table, descriptions too: edit the declaration in jwtguard/config.py, then paste
    # python -c "from jwtguard.config import settings_table; print(settings_table())"
    assert "\n".join(_readme_table()) + "\n" == settings_table()


def test_documented_defaults_that_are_words_parse_to_the_default() -> None:
    """Issue 8: a default written as a word in the README (`off`) is what the parser reads as the default."""
    for setting in SETTINGS:
        text = setting.documented_default
        if text is not None and text.startswith("`"):
            assert setting.parse(setting.name, text.strip("`")) == setting.default, setting.variable


@pytest.mark.parametrize(
    ("name", "given", "expected"),
    [
        ("exempt_paths", "/login, /static/", ("/login", "/static/")),
        ("algorithms", "HS256,HS384", ("HS256", "HS384")),
        ("audience", "api", ("api",)),
        ("audience", "a,b", ("a", "b")),
        ("audience", ["a", "b"], ("a", "b")),
        ("exempt_methods", "get, head", ("GET", "HEAD")),
        ("exempt_methods", ("options",), ("OPTIONS",)),
        ("not_before_fields", "revokedAt , destroyAnyJWTbefore", ("revokedAt", "destroyAnyJWTbefore")),
    ],
)
def test_a_list_given_as_one_string_in_code_means_what_it_means_in_the_environment(
    name: str, given: Any, expected: tuple[str, ...]
) -> None:
    """Issue 8: Settings(exempt_paths="/login, /static/") is the two paths, as in JWTGUARD_EXEMPT_PATHS."""
    settings = Settings(secret=SECRET, **{name: given})
    assert getattr(settings, name) == expected
    assert Settings(secret=SECRET).replace(**{name: given}) == settings
    if isinstance(given, str):
        assert Settings.from_env({**BASE, f"JWTGUARD_{name.upper()}": given}) == settings


def test_a_list_string_in_code_is_validated_item_by_item() -> None:
    """Issue 8: "HS256,none" in code is refused like the same text in JWTGUARD_ALGORITHMS."""
    with pytest.raises(ConfigError) as raised:
        Settings(secret=SECRET, algorithms="HS256,none")  # type: ignore[arg-type]
    assert raised.value.variable == "JWTGUARD_ALGORITHMS"
    with pytest.raises(ConfigError) as raised:
        Settings(secret=SECRET, exempt_paths="/login,static")  # type: ignore[arg-type]
    assert raised.value.variable == "JWTGUARD_EXEMPT_PATHS"


@pytest.mark.parametrize(
    ("name", "nearest"),
    [
        ("JWTGUARD_EXEMPT_PATH", "JWTGUARD_EXEMPT_PATHS"),
        ("JWTGUARD_SECRETS", "JWTGUARD_SECRET"),
        ("JWTGUARD_STORE_ULR", "JWTGUARD_STORE_URL"),
        ("JWTGUARD_ALGORITHM", "JWTGUARD_ALGORITHMS"),
        ("JWTGUARD_PUBLIC_KEY_FILES", "JWTGUARD_PUBLIC_KEY_FILE"),
        ("jwtguard_cache_ttl", "JWTGUARD_CACHE_TTL"),  # the right name in the wrong case is still ignored
        ("JWTGUARD_XYZZY", None),
    ],
)
def test_unknown_variables_are_logged_with_the_nearest_setting(
    name: str, nearest: str | None, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 8: a misspelt JWTGUARD_* variable is a WARNING on the jwtguard logger, once, without its value."""
    env = {**BASE, name: "hunter2"}
    hint = f" (did you mean {nearest}?)" if nearest else ""
    expected = f"jwtguard: {name} is not a jwtguard setting{hint}; it is ignored"
    with warnings.catch_warnings(), caplog.at_level(logging.WARNING, logger="jwtguard"):
        warnings.simplefilter("error")  # never a Python warning: an app run with -W error must start
        assert Settings.from_env(env) == Settings(secret=SECRET)  # ignored
        Settings.from_env(env)  # the adapter, the admin API...: reported once per process
    records = [record for record in caplog.records if record.name == "jwtguard"]
    assert [(record.levelno, record.getMessage()) for record in records] == [(logging.WARNING, expected)]
    assert "hunter2" not in caplog.text
    assert unknown_variables(env) == [expected]


def test_declared_and_reserved_variables_are_never_reported(caplog: pytest.LogCaptureFixture) -> None:
    """Issue 8: every setting (``*_FILE`` included) and the test harness's variables are silent."""
    env = {variable: "" for variable in VARIABLES}  # empty: each keeps its default
    env.update(
        BASE,
        JWTGUARD_TEST_MONGO_URI="mongodb://127.0.0.1:1/x",
        JWTGUARD_TEST_ANYTHING="1",
        JWTGUARD_FERRETDB="/opt/ferretdb",
        JWTGUARD_CACHE_DIR="/tmp/jwtguard",
        JWTGUARD_KEYCLOAK_HOME="/opt/keycloak",
        JWTGUARD_KEYCLOAK_JAVA="/usr/lib/jvm/java-25",
        JWTGUARD_KEYCLOAK_VERSION="26.5.6",
        UNRELATED="x",
    )
    with caplog.at_level(logging.DEBUG, logger="jwtguard"):
        Settings.from_env(env)
    assert caplog.records == []
    assert unknown_variables(env) == []


@pytest.mark.parametrize("setting", [s for s in SETTINGS if s.from_file], ids=lambda s: s.file_variable)
def test_file_variants_read_the_file(setting: config.Setting, tmp_path: Path) -> None:
    """Issue 8: JWTGUARD_PUBLIC_KEY_FILE / JWTGUARD_PRIVATE_KEY_FILE are declared and read once, in from_env."""
    assert setting.file_variable is not None
    pem = PUBLIC_PEM if setting.name == "public_key" else PRIVATE_PEM
    path = tmp_path / "key.pem"
    path.write_text(pem)
    read = Settings.from_env({**BASE, setting.file_variable: f" {path} "})
    assert getattr(read, setting.name) == pem
    # The direct variable wins; an empty file variable is unset.
    other = _public_pem(_rsa(2048)) if setting.name == "public_key" else _private_pem(_rsa(2048))
    both = Settings.from_env({**BASE, setting.variable: other, setting.file_variable: str(path)})
    assert getattr(both, setting.name) == other.strip()  # a variable is stripped, a file read as it is
    assert getattr(Settings.from_env({**BASE, setting.file_variable: ""}), setting.name) is None
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**BASE, setting.file_variable: str(tmp_path / "missing.pem")})
    assert raised.value.variable == setting.file_variable
    assert str(tmp_path / "missing.pem") in str(raised.value)  # the path is no secret; the key is
    path.write_text(WEAK_PRIVATE_PEM if setting.name == "private_key" else WEAK_PUBLIC_PEM)
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**BASE, setting.file_variable: str(path)})
    assert raised.value.variable == setting.variable  # a weak key names the setting it would be
    for secret in NEVER_SHOWN:
        assert secret not in str(raised.value)


def test_secrets_never_appear_in_repr_or_describe() -> None:
    """Issue 8: secret settings are out of repr() and masked by describe(), URLs included."""
    settings = Settings(
        secret=SECRET,
        private_key=PRIVATE_PEM,
        store_url="mongodb://u:hunter2@db/app?authMechanismProperties=AWS_SESSION_TOKEN:hunter2",
        jwks_url="https://svc:hunter2@idp.example/jwks?api_key=hunter2",
        algorithms=("HS256", "RS256"),
    )
    described = settings.describe()
    assert list(described) == [setting.variable for setting in SETTINGS]
    for text in (repr(settings), str(described)):
        for secret in NEVER_SHOWN:
            assert secret not in text
    assert described["JWTGUARD_SECRET"] == "(set, hidden)"
    assert described["JWTGUARD_PRIVATE_KEY"] == "(set, hidden)"
    assert described["JWTGUARD_STORE_URL"] == "mongodb://u:***@db/app?authMechanismProperties=***"
    assert described["JWTGUARD_JWKS_URL"] == "https://svc:***@idp.example/jwks?api_key=***"


def test_describe_keeps_its_format() -> None:
    """Issue 8: check-config's lines are what they were before the declarations (scripts may read them)."""
    described = Settings(secret=SECRET, public_key=PUBLIC_PEM, audience=("a", "b"), leeway=1).describe()
    assert described == {
        "JWTGUARD_SECRET": "(set, hidden)",
        "JWTGUARD_PUBLIC_KEY": "(set)",
        "JWTGUARD_PRIVATE_KEY": "(unset)",
        "JWTGUARD_JWKS_URL": "(unset)",
        "JWTGUARD_JWKS_LIFESPAN": "300.0",
        "JWTGUARD_ALGORITHMS": "HS256",
        "JWTGUARD_USER_CLAIM": "sub",
        "JWTGUARD_LEEWAY": "1",
        "JWTGUARD_AUDIENCE": "a,b",
        "JWTGUARD_ISSUER": "None",
        "JWTGUARD_TOKEN_TYPE": "any",
        "JWTGUARD_REALM": "api",
        "JWTGUARD_EXEMPT_PATHS": "(none)",
        "JWTGUARD_EXEMPT_METHODS": "(none)",
        "JWTGUARD_MODE": "require",
        "JWTGUARD_MAX_HEADER_BYTES": "8192",
        "JWTGUARD_MAX_USER_ID_LENGTH": "256",
        "JWTGUARD_USER_ID_TYPE": "auto",
        "JWTGUARD_TOKEN_TTL": "3600.0",
        "JWTGUARD_MAX_TOKEN_LIFETIME": "(off)",
        "JWTGUARD_STORE_URL": "(unset: embedded store)",
        "JWTGUARD_USERS_COLLECTION": "users",
        "JWTGUARD_NOT_BEFORE_FIELDS": "destroyAnyJWTbefore",
        "JWTGUARD_ENABLED_FIELD": "user_enabled",
        "JWTGUARD_STORE_TIMEOUT": "2.0",
        "JWTGUARD_CACHE_TTL": "5.0",
        "JWTGUARD_TOKEN_CACHE_TTL": "5.0",
        "JWTGUARD_TOKEN_CACHE_BYTES": "33554432",
        "JWTGUARD_CACHE_MAXSIZE": "10000",
        "JWTGUARD_RETRY_AFTER": "5",
        "JWTGUARD_ON_STORE_ERROR": "reject",
        "JWTGUARD_STALE_MAX_AGE": "300.0",
        "JWTGUARD_CLEAR_SITE_DATA": "False",
        "JWTGUARD_SESSIONS": "False",
        "JWTGUARD_REFRESH_TTL": "1209600.0",
        "JWTGUARD_REFRESH_GRACE": "10.0",
        "JWTGUARD_REFRESH_REUSE": "end_session",
        "JWTGUARD_SINGLE_SESSION": "False",
        "JWTGUARD_VERSION_CLAIM": "tv",
        "JWTGUARD_RECORDS_COLLECTION": "None",
        "JWTGUARD_ALERT_SECRET": "(unset)",
        "JWTGUARD_REFRESH_COLLECTION": "None",
        "JWTGUARD_TOKEN_LOCATION": "header",
        "JWTGUARD_REFRESH_PATH": "/token",
        "JWTGUARD_FEED": "True",
        "JWTGUARD_FEED_INTERVAL": "0.25",
        "JWTGUARD_FEED_FALLBACK_TTL": "5.0",
        "JWTGUARD_EVENTS_COLLECTION": "None",
        "JWTGUARD_UNKNOWN_USERS": "refuse",
        "JWTGUARD_STATE_COLLECTION": "jwtguard_state",
        "JWTGUARD_OIDC_CLIENT_ID": "None",
        "JWTGUARD_ENDPOINT_CLIENTS": "(none)",
        "JWTGUARD_LOGOUT_TOKEN_MAX_AGE": "300.0",
        "JWTGUARD_SSF_ISSUER": "None",
        "JWTGUARD_SSF_JWKS_URL": "(unset)",
        "JWTGUARD_SSF_CONFIG_URL": "(unset)",
        "JWTGUARD_SSF_AUDIENCE": "None",
        "JWTGUARD_SSF_PUSH_AUTHORIZATION": "(unset)",
        "JWTGUARD_SSF_POLL_URL": "(unset)",
        "JWTGUARD_SSF_POLL_AUTHORIZATION": "(unset)",
        "JWTGUARD_DPOP": "off",
        "JWTGUARD_DPOP_ALGORITHMS": "ES256,EdDSA",
        "JWTGUARD_DPOP_MAX_AGE": "60.0",
        "JWTGUARD_DPOP_REPLAY": "process",
        "JWTGUARD_DPOP_NONCE": "False",
        "JWTGUARD_DPOP_NONCE_KEY": "(unset)",
        "JWTGUARD_EXTERNAL_ORIGIN": "None",
    }
    assert Settings(secret=SECRET, max_token_lifetime=86400.0).describe()["JWTGUARD_MAX_TOKEN_LIFETIME"] == "86400"


def test_check_config_names_unknown_variables(tmp_path: Path) -> None:
    """Issue 8: `jwtguard check-config` still lists every setting, and names a misspelt variable on stderr."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGUARD_")}
    env.update(
        JWTGUARD_SECRET=SECRET,
        JWTGUARD_STORE_URL=f"sqlite:///{tmp_path / 'jwtguard.db'}",
        JWTGUARD_EXEMPT_PATH="/hunter2",
        JWTGUARD_TEST_MONGO_URI="mongodb://127.0.0.1:1/x",
    )
    result = subprocess.run(
        [sys.executable, "-m", "jwtguard", "check-config"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    shown = [line.partition("=")[0] for line in result.stdout.splitlines() if line.startswith("JWTGUARD_")]
    assert shown == [setting.variable for setting in SETTINGS]
    assert result.stderr.splitlines() == [
        "jwtguard: JWTGUARD_EXEMPT_PATH is not a jwtguard setting (did you mean JWTGUARD_EXEMPT_PATHS?); it is ignored"
    ]
    assert "hunter2" not in result.stdout + result.stderr
    assert SECRET not in result.stdout + result.stderr


def test_sessions_need_an_issuer_and_derive_their_collections() -> None:
    """Issue 10: JWTGUARD_SESSIONS=true tells jwtguard's own tokens by `iss`, so it needs JWTGUARD_ISSUER."""
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({**BASE, "JWTGUARD_SESSIONS": "true"})
    assert raised.value.variable == "JWTGUARD_ISSUER"
    settings = Settings.from_env({**BASE, "JWTGUARD_SESSIONS": "true", "JWTGUARD_ISSUER": "https://app.example"})
    assert settings.sessions
    assert (settings.records_table, settings.refresh_table) == ("users_revocations", "users_tokens")
    named = settings.replace(users_collection="people", refresh_collection="rt")
    assert (named.records_table, named.refresh_table) == ("people_revocations", "rt")
