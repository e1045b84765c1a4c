"""Issue 12, "Tokens that are not access tokens": the token-type rule and ``JWTGUARD_TOKEN_TYPE``.

The rule (:func:`jwtguard.sansio.claims.is_access_token`) is tested by a table of header and
payload values; then its setting (syntax, start-up warning), its place in the flow (a verified
token it refuses is 401 ``invalid`` through both adapters, hostile values never a 500) and
``explain``'s row. Keycloak's own tokens meet it in ``test_keycloak.py``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from pathlib import Path
from typing import Any

import pytest

from jwtguard import Admin, ConfigError, Settings
from jwtguard.cli import describe_state
from jwtguard.explain import FAIL, OK, explain
from jwtguard.sansio import Policy, Verified
from jwtguard.sansio.claims import ANY_TOKEN_TYPE, TokenType, is_access_token, media_type

from conftest import SECRET

#: Read once, when the tables below are built (at collection): the tokens expire a day later, so a
#: test that runs late in a long suite still sees them unexpired.
NOW = int(time.time())
USER = "alice"
LOGOUT_EVENT: dict[str, Any] = {"http://schemas.openid.net/event/backchannel-logout": {}}

KEYCLOAK = "claim:typ=Bearer"

#: (id, header, payload claims besides sub/iat/exp, JWTGUARD_TOKEN_TYPE, is an access token)
RULE: list[tuple[str, dict[str, Any], dict[str, Any], str, bool]] = [
    # -- never access tokens, whatever the setting ----------------------------------------------
    ("any/plain JWT", {"typ": "JWT"}, {}, "any", True),
    ("any/no typ", {}, {}, "any", True),
    ("any/typ at+jwt", {"typ": "at+jwt"}, {}, "any", True),
    ("any/logout+jwt", {"typ": "logout+jwt"}, {}, "any", False),
    ("any/Logout+JWT (case)", {"typ": "Logout+JWT"}, {}, "any", False),
    ("any/application/logout+jwt", {"typ": "application/logout+jwt"}, {}, "any", False),
    ("any/APPLICATION/LOGOUT+JWT", {"typ": "APPLICATION/LOGOUT+JWT"}, {}, "any", False),
    ("any/secevent+jwt", {"typ": "secevent+jwt"}, {}, "any", False),
    ("any/application/secevent+jwt", {"typ": "application/secevent+jwt"}, {}, "any", False),
    ("any/dpop+jwt", {"typ": "dpop+jwt"}, {}, "any", False),
    ("any/DPoP+JWT", {"typ": "DPoP+JWT"}, {}, "any", False),
    ("any/events claim", {"typ": "JWT"}, {"events": LOGOUT_EVENT}, "any", False),
    ("any/events empty object", {}, {"events": {}}, "any", False),
    ("any/events a string", {}, {"events": "logout"}, "any", False),
    ("any/events null", {}, {"events": None}, "any", False),
    ("any/events a list", {}, {"events": [1, 2]}, "any", False),
    ("any/typ a number", {"typ": 1}, {}, "any", False),
    ("any/typ a list", {"typ": ["JWT"]}, {}, "any", False),
    ("any/typ an object", {"typ": {"a": "JWT"}}, {}, "any", False),
    ("any/typ true", {"typ": True}, {}, "any", False),
    ("any/typ null", {"typ": None}, {}, "any", True),  # JSON null: as if absent
    ("any/typ empty", {"typ": ""}, {}, "any", True),
    ("any/logout+jwt with spaces", {"typ": " logout+jwt"}, {}, "any", True),  # another media type
    ("any/application/ alone", {"typ": "application/"}, {}, "any", True),
    ("any/x-logout+jwt", {"typ": "x-logout+jwt"}, {}, "any", True),
    ("any/huge typ", {"typ": "a" * 100_000}, {}, "any", True),
    # -- at+jwt (RFC 9068 §2.1) -----------------------------------------------------------------
    ("at+jwt/at+jwt", {"typ": "at+jwt"}, {}, "at+jwt", True),
    ("at+jwt/application/at+jwt", {"typ": "application/at+jwt"}, {}, "at+jwt", True),
    ("at+jwt/AT+JWT", {"typ": "AT+JWT"}, {}, "at+jwt", True),
    ("at+jwt/JWT", {"typ": "JWT"}, {}, "at+jwt", False),
    ("at+jwt/no typ", {}, {}, "at+jwt", False),
    ("at+jwt/at+jwt with events", {"typ": "at+jwt"}, {"events": {}}, "at+jwt", False),
    ("at+jwt/typ a list", {"typ": ["at+jwt"]}, {}, "at+jwt", False),
    ("at+jwt/application/application/at+jwt", {"typ": "application/application/at+jwt"}, {}, "at+jwt", False),
    ("at+jwt/huge typ", {"typ": "at+jwt" * 20_000}, {}, "at+jwt", False),
    # -- claim:NAME=VALUE (Keycloak: typ = Bearer) ------------------------------------------------
    ("claim/Bearer", {"typ": "JWT"}, {"typ": "Bearer"}, KEYCLOAK, True),
    ("claim/ID token", {"typ": "JWT"}, {"typ": "ID"}, KEYCLOAK, False),
    ("claim/Refresh token", {"typ": "JWT"}, {"typ": "Refresh"}, KEYCLOAK, False),
    ("claim/Keycloak logout token", {"typ": "logout+jwt"}, {"typ": "Logout", "events": LOGOUT_EVENT}, KEYCLOAK, False),
    ("claim/Bearer in a logout+jwt header", {"typ": "logout+jwt"}, {"typ": "Bearer"}, KEYCLOAK, False),
    ("claim/Bearer with events", {}, {"typ": "Bearer", "events": {}}, KEYCLOAK, False),
    ("claim/bearer (case)", {}, {"typ": "bearer"}, KEYCLOAK, False),  # a string compare, exactly
    ("claim/Bearer with a space", {}, {"typ": "Bearer "}, KEYCLOAK, False),
    ("claim/missing", {}, {}, KEYCLOAK, False),
    ("claim/null", {}, {"typ": None}, KEYCLOAK, False),
    ("claim/a list", {}, {"typ": ["Bearer"]}, KEYCLOAK, False),
    ("claim/an object", {}, {"typ": {"Bearer": True}}, KEYCLOAK, False),
    ("claim/a number", {}, {"typ": 1}, KEYCLOAK, False),
    ("claim/huge", {}, {"typ": "Bearer" * 20_000}, KEYCLOAK, False),
    ("claim/Cognito token_use", {}, {"token_use": "access"}, "claim:token_use=access", True),
    ("claim/Cognito id token", {}, {"token_use": "id"}, "claim:token_use=access", False),
    ("claim/a value with = and spaces", {}, {"kind": "a = b"}, "claim:kind=a = b", True),
    ("claim/a number is no string", {}, {"v": 1}, "claim:v=1", False),
    ("claim/true is no string", {}, {"v": True}, "claim:v=true", False),
    # -- claim:NAME=V1|V2 (Keycloak with DPoP: a bound access token says typ = DPoP) --------------------
    ("claims/Bearer", {}, {"typ": "Bearer"}, "claim:typ=Bearer|DPoP", True),
    ("claims/DPoP", {}, {"typ": "DPoP"}, "claim:typ=Bearer|DPoP", True),
    ("claims/ID token", {}, {"typ": "ID"}, "claim:typ=Bearer|DPoP", False),
    ("claims/the whole text is no value", {}, {"typ": "Bearer|DPoP"}, "claim:typ=Bearer|DPoP", False),
]


@pytest.mark.parametrize(("header", "extra", "setting", "expected"), [r[1:] for r in RULE], ids=[r[0] for r in RULE])
def test_the_token_type_rule(header: dict[str, Any], extra: dict[str, Any], setting: str, expected: bool) -> None:
    """Issue 12: the rule on values, and the policy refuses exactly what it refuses (``invalid``)."""
    claims = {"sub": USER, "iat": NOW - 10, "exp": NOW + 86400, **extra}
    assert is_access_token(header, claims, TokenType.parse(setting)) is expected
    verified = Policy(Settings(secret=SECRET, token_type=setting)).verified(header, claims)
    if expected:
        assert isinstance(verified, Verified)
    else:
        assert not isinstance(verified, Verified) and verified.reason == "invalid"


@pytest.mark.parametrize(
    ("typ", "compared"),
    [
        ("JWT", "jwt"),
        ("application/JWT", "jwt"),
        ("Application/At+Jwt", "at+jwt"),
        ("logout+jwt", "logout+jwt"),
        ("application/", ""),
        ("text/plain", "text/plain"),
        ("", ""),
    ],
)
def test_media_type(typ: str, compared: str) -> None:
    """RFC 7515 §4.1.9: compared case-insensitively, ``application/`` optional."""
    assert media_type(typ) == compared


SYNTAX = [
    ("any", TokenType()),
    ("at+jwt", TokenType(header="at+jwt")),
    ("claim:typ=Bearer", TokenType(claim="typ", value="Bearer")),
    ("claim:token_use=access", TokenType(claim="token_use", value="access")),
    ("claim:a=b=c", TokenType(claim="a", value="b=c")),
    ("claim:typ=Bearer|DPoP", TokenType(claim="typ", value="Bearer|DPoP")),
    ("claim:https://example.com/kind=access", TokenType(claim="https://example.com/kind", value="access")),
]


@pytest.mark.parametrize(("text", "rule"), SYNTAX, ids=[s[0] for s in SYNTAX])
def test_setting_syntax_accepted(text: str, rule: TokenType) -> None:
    settings = Settings.from_env({"JWTGUARD_SECRET": SECRET, "JWTGUARD_TOKEN_TYPE": f" {text} "})
    assert settings.token_type == text
    assert TokenType.parse(text) == rule == Policy(settings).token_type


@pytest.mark.parametrize(
    "text",
    [
        "Bearer",
        "ANY",  # the keywords are exact: a value given in code meets the same check
        "at+JWT",
        "jwt",
        "claim:",
        "claim:typ",
        "claim:typ=",
        "claim:=Bearer",
        "claim:t yp=Bearer",
        "claim:typ=Bear\ter",
        "claim:typ=\x7f",
        "claim:typ=Bearer|",  # every string a bar separates is one
        "claim:typ=|DPoP",
        "claim:typ=Bearer||DPoP",
        "claims:typ=Bearer",
        "any,at+jwt",
    ],
)
def test_setting_syntax_refused_naming_the_variable(text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        Settings(secret=SECRET, token_type=text)
    assert raised.value.variable == "JWTGUARD_TOKEN_TYPE"
    assert "any, at+jwt or claim:NAME=VALUE" in str(raised.value)
    assert "claim:typ=Bearer" in str(raised.value)  # the example to copy
    with pytest.raises(ValueError):
        TokenType.parse(text)


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "jwtguard" and r.levelno == logging.WARNING]


@pytest.mark.parametrize(
    ("values", "warns"),
    [
        pytest.param({"jwks_url": "https://idp.example/jwks", "algorithms": "RS256"}, True, id="jwks-any"),
        pytest.param(
            {"jwks_url": "https://idp.example/jwks", "algorithms": "RS256", "token_type": KEYCLOAK},
            False,
            id="jwks-claim",
        ),
        pytest.param(
            {"jwks_url": "https://idp.example/jwks", "algorithms": "RS256", "token_type": "at+jwt"},
            False,
            id="jwks-at+jwt",
        ),
        pytest.param({"secret": SECRET}, False, id="own-keys-any"),
    ],
)
def test_start_up_warning_with_a_jwks_and_any(
    values: dict[str, Any], warns: bool, caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    """Issue 12: a provider's JWKS with ``any`` lets its ID tokens in: say so at start-up (never the URL)."""
    from jwtguard.engine import Engine

    with caplog.at_level(logging.WARNING, logger="jwtguard"):
        Engine(Settings(store_url=f"sqlite:///{tmp_path / 'j.db'}", **values))
    found = [message for message in _warnings(caplog) if "JWTGUARD_TOKEN_TYPE" in message]
    assert len(found) == (1 if warns else 0)
    if warns:
        assert "claim:typ=Bearer" in found[0] and "at+jwt" in found[0] and "idp.example" not in found[0]


# -- through the middleware -----------------------------------------------------------------------


def b64(data: str | bytes) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(header: dict[str, Any] | str, payload: dict[str, Any] | str) -> str:
    """An HS256 JWS over *header* and *payload* (objects, or raw JSON text), signed with the guard's key."""
    head = header if isinstance(header, str) else json.dumps({"alg": "HS256", **header})
    body = payload if isinstance(payload, str) else json.dumps(payload)
    signing_input = f"{b64(head)}.{b64(body)}"
    signature = hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def payload(**extra: Any) -> dict[str, Any]:
    return {"sub": USER, "iat": NOW - 10, "exp": NOW + 86400, **extra}


@pytest.fixture
def guard_settings(tmp_path: Path) -> Settings:
    settings = Settings(secret=SECRET, store_url=f"sqlite:///{tmp_path / 'jwtguard.db'}")
    admin = Admin(settings)
    admin.create_user(USER)
    admin.close()
    return settings


#: (id, header, payload, JWTGUARD_TOKEN_TYPE): each is signed with the guard's own key and names a
#: real, enabled user, so only the token-type rule stands between it and a 200.
REFUSED: list[tuple[str, dict[str, Any] | str, dict[str, Any] | str, str]] = [
    ("logout token", {"typ": "logout+jwt"}, payload(events=LOGOUT_EVENT, sid="s1"), "any"),
    ("security event token", {"typ": "application/secevent+jwt"}, payload(events={"x": {}}), "any"),
    ("DPoP proof", {"typ": "dpop+jwt"}, payload(htm="GET", htu="http://x/api/me"), "any"),
    ("events claim alone", {"typ": "JWT"}, payload(events=LOGOUT_EVENT), "any"),
    ("events a string", {}, payload(events="x" * 4000), "any"),
    (
        "events deep",
        {},
        f'{{"sub":"alice","iat":{NOW},"exp":{NOW + 60},"events":{"[" * 500}1{"]" * 500}}}',
        "any",
    ),
    ("typ a number", '{"alg":"HS256","typ":1e999}', payload(), "any"),
    ("typ an object", {"typ": {"$ne": None}}, payload(), "any"),
    ("typ a list", {"typ": ["at+jwt"]}, payload(), "at+jwt"),
    ("typ huge", {"typ": "at+jwt" * 900}, payload(), "at+jwt"),
    ("typ surrogate", '{"alg":"HS256","typ":"\\ud800"}', payload(), "at+jwt"),
    ("at+jwt wanted, JWT given", {"typ": "JWT"}, payload(), "at+jwt"),
    ("an ID token", {"typ": "JWT"}, payload(typ="ID"), KEYCLOAK),
    ("claim an object", {}, payload(typ={"Bearer": 1}), KEYCLOAK),
    ("claim huge", {}, payload(typ="Bearer" * 900), KEYCLOAK),
    ("claim missing", {}, payload(), KEYCLOAK),
]


@pytest.mark.parametrize(("header", "body", "setting"), [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
def test_tokens_that_are_not_access_tokens_are_refused(
    make_client: Any, guard_settings: Settings, header: Any, body: Any, setting: str
) -> None:
    """Issue 12: 401 ``invalid`` (RFC 6750 ``invalid_token``), never a 500, no account signal."""
    client = make_client(guard_settings.replace(token_type=setting))
    reply = client("GET", "/api/me", [("Authorization", f"Bearer {signed(header, body)}")])
    assert reply.status == 401, reply.body
    assert reply.json() == {"error": "invalid_token", "reason": "invalid"}
    assert "x-user-enabled" not in reply.headers


@pytest.mark.parametrize(
    ("header", "body", "setting"),
    [
        ({"typ": "JWT"}, payload(), "any"),
        ({"typ": "application/at+jwt"}, payload(), "at+jwt"),
        ({"typ": "JWT"}, payload(typ="Bearer"), KEYCLOAK),
    ],
    ids=["any", "at+jwt", "claim"],
)
def test_access_tokens_pass(make_client: Any, guard_settings: Settings, header: Any, body: Any, setting: str) -> None:
    client = make_client(guard_settings.replace(token_type=setting))
    reply = client("GET", "/api/me", [("Authorization", f"Bearer {signed(header, body)}")])
    assert reply.status == 200, reply.body
    assert reply.headers["x-user-enabled"] == "true"


# -- explain and the CLI ---------------------------------------------------------------------------

EXPLAINED = [
    ("access token", {"typ": "JWT"}, payload(typ="Bearer"), KEYCLOAK, OK, "an access token (JWTGUARD_TOKEN_TYPE="),
    ("logout token", {"typ": "Logout+JWT"}, payload(events={}), KEYCLOAK, FAIL, "a logout token"),
    ("SET", {"typ": "application/secevent+jwt"}, payload(), "any", FAIL, "a security event token (RFC 8417)"),
    ("DPoP proof", {"typ": "dpop+jwt"}, payload(), "any", FAIL, "a DPoP proof (RFC 9449)"),
    ("typ a number", {"typ": 7}, payload(), "any", FAIL, "the header typ is a int"),
    ("events", {}, payload(events={}), "any", FAIL, "an events claim"),
    ("at+jwt", {"typ": "JWT"}, payload(), "at+jwt", FAIL, "needs the header typ at+jwt (RFC 9068 §2.1); it is JWT"),
    ("at+jwt absent", {}, payload(), "at+jwt", FAIL, "it is absent"),
    ("ID token", {}, payload(typ="ID"), KEYCLOAK, FAIL, "needs the claim typ = Bearer; it is ID"),
    ("claim absent", {}, payload(), KEYCLOAK, FAIL, "needs the claim typ = Bearer; it is absent"),
]


@pytest.mark.parametrize(
    ("header", "body", "setting", "verdict", "detail"), [r[1:] for r in EXPLAINED], ids=[r[0] for r in EXPLAINED]
)
def test_explain_names_the_token_type(
    guard_settings: Settings, header: Any, body: Any, setting: str, verdict: str, detail: str
) -> None:
    settings = guard_settings.replace(token_type=setting)
    rows = explain(signed(header, body), settings, None, now=float(NOW))
    row = next(row for row in rows if row.check == "token type")
    assert row.verdict == verdict and detail in row.detail, row
    if verdict == FAIL:
        assert rows[-1].check == "verdict" and rows[-1].verdict == FAIL and "invalid" in rows[-1].detail


@pytest.mark.parametrize("setting", ["any", "at+jwt", KEYCLOAK])
def test_status_says_a_new_token_passes_under_every_rule(setting: str) -> None:
    """``jwtguard status``'s what-if token carries what the rule asks for: it is never refused for its type."""
    from jwtguard.sansio import UserState

    policy = Policy(Settings(secret=SECRET, token_type=setting))
    state = UserState(enabled=True, not_before=None)
    lines = describe_state(policy, USER, state, float(NOW))
    assert lines[-1].startswith("new token:   accepted"), lines
    assert TokenType.parse("any") == ANY_TOKEN_TYPE
