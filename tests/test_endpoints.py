"""Issue 12: the standard endpoints through the real frameworks, on both stores.

RFC 7009 (revocation), RFC 7662 (introspection), OpenID Connect Back-Channel Logout 1.0 and
Global Token Revocation (draft-parecki-oauth-global-token-revocation-04), each in front of a
real Flask (WSGI) or Starlette (ASGI) app behind the guard. Every test names the rules it
covers; the tokens come from a test "identity provider": an RS256 key whose public half the
guard is configured with, and jwtguard's own sessions for the refresh-token cases.
"""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest
from harness import TARGETS, Reply, Target

from jwtguard import Admin, Settings
from jwtguard.config import endpoint_clients
from jwtguard.endpoints import EndpointsASGI, EndpointsWSGI
from jwtguard.endpoints.backchannel import BACKCHANNEL_EVENT
from jwtguard.errors import StoreError
from jwtguard.keyring import new_private_key, public_pem
from jwtguard.sansio.state import user_state
from jwtguard.sessions import signals
from jwtguard.stores import open_store, records

ISSUER = "https://idp.test/realms/demo"
CLIENT = "app"
PROVIDER_KEY = new_private_key("RS256")
OTHER_KEY = new_private_key("RS256")
CLIENTS = endpoint_clients("gw:gw-secret-1:revoke+introspect,okta:okta-secret-1:gtr,peek:peek-secret-1:introspect")


def basic(client_id: str, secret: str) -> tuple[str, str]:
    return ("Authorization", "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode())


GATEWAY = basic("gw", "gw-secret-1")
OKTA = basic("okta", "okta-secret-1")
PEEK = basic("peek", "peek-secret-1")
FORM = ("Content-Type", "application/x-www-form-urlencoded")
JSON = ("Content-Type", "application/json")


def provider_token(
    sub: str = "alice", *, key: Any = PROVIDER_KEY, header: dict[str, Any] | None = None, **claims: Any
) -> str:
    """An access token of the test provider (Keycloak's shape: sid, azp, typ Bearer)."""
    now = int(time.time())
    body = {
        "iss": ISSUER,
        "aud": "api",
        "sub": sub,
        "iat": now,
        "exp": now + 300,
        "jti": uuid.uuid4().hex,
        "sid": "session-1",
        "azp": "web",
        "scope": "openid profile",
        "preferred_username": sub,
        "typ": "Bearer",
        **claims,
    }
    for name in [name for name, value in body.items() if value is None]:
        del body[name]
    return jwt.encode(body, key, algorithm="RS256", headers=header)


def logout_token(sub: str | None = "alice", sid: str | None = "session-1", **changes: Any) -> str:
    """A back-channel logout token (§2.4) of the test provider; *changes* replace or (None) drop claims."""
    now = int(time.time())
    header = changes.pop("header", {"typ": "logout+jwt"})
    key = changes.pop("key", PROVIDER_KEY)
    body: dict[str, Any] = {
        "iss": ISSUER,
        "aud": CLIENT,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "events": {BACKCHANNEL_EVENT: {}},
        "sub": sub,
        "sid": sid,
        **changes,
    }
    body = {name: value for name, value in body.items() if value is not None}
    return jwt.encode(body, key, algorithm="RS256", headers=header)


def provider_settings(store_url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "algorithms": ("RS256",),
        "public_key": public_pem(PROVIDER_KEY),
        "issuer": ISSUER,
        "audience": ("api",),
        "user_id_type": "str",
        "store_url": store_url,
        "unknown_users": "allow",
        "oidc_client_id": CLIENT,
        "endpoint_clients": CLIENTS,
    }
    return Settings(**{**values, **changes})


class Endpoints:
    """The endpoints in front of the guard in front of the app, and helpers to call them."""

    def __init__(self, target: Target) -> None:
        self.target = target

    def post(self, path: str, body: bytes | str | dict[str, str], *headers: tuple[str, str]) -> Reply:
        if isinstance(body, dict):
            body = urlencode(body)
        data = body.encode() if isinstance(body, str) else body
        return self.target.request("POST", path, list(headers), data)

    def revoke(self, token: str, *headers: tuple[str, str], **form: str) -> Reply:
        return self.post("/oauth/revoke", {"token": token, **form}, FORM, *(headers or (GATEWAY,)))

    def introspect(self, token: str, *headers: tuple[str, str]) -> Reply:
        return self.post("/oauth/introspect", {"token": token}, FORM, *(headers or (GATEWAY,)))

    def logout(self, token: str) -> Reply:
        return self.post("/oidc/backchannel-logout", {"logout_token": token}, FORM)

    def gtr(self, subject: dict[str, Any], *headers: tuple[str, str]) -> Reply:
        return self.post("/global-token-revocation", json.dumps({"sub_id": subject}), JSON, *(headers or (OKTA,)))

    def verdict(self, token: str) -> int:
        return self.target.get(token).status

    def reason(self, token: str) -> str:
        """``accepted``, or the guard's refusal reason."""
        reply = self.target.get(token)
        return "accepted" if reply.status == 200 else str(reply.json()["reason"])


@pytest.fixture
def build(adapter: str, make_target: Callable[..., Target]) -> Callable[[Settings], Endpoints]:
    def make(settings: Settings) -> Endpoints:
        wrap = EndpointsWSGI if adapter == "wsgi" else EndpointsASGI
        return Endpoints(make_target(settings, outer=lambda guard: wrap(guard, settings=settings)))

    return make


@pytest.fixture
def api(build: Callable[[Settings], Endpoints], store_url: str) -> Endpoints:
    return build(provider_settings(store_url))


def error(reply: Reply) -> str:
    return str(reply.json()["error"])


# -- client authentication (RFC 6749 §2.3.1, §5.2) ------------------------------------------------


@pytest.mark.parametrize("path", ["/oauth/revoke", "/oauth/introspect"])
def test_clients_must_authenticate_with_basic(api: Endpoints, path: str) -> None:
    """RFC 7009 §2.1 / RFC 7662 §2.1: the endpoint MUST require client authentication; RFC 6749
    §5.2: invalid_client is 401 with a WWW-Authenticate field naming the scheme."""
    token = provider_token()
    for headers in (
        [],
        [basic("gw", "wrong-secret")],
        [basic("nobody", "gw-secret-1")],
        [("Authorization", "Basic !!")],
    ):
        reply = api.post(path, {"token": token}, FORM, *headers)
        assert reply.status == 401 and error(reply) == "invalid_client"
        assert reply.headers["www-authenticate"].startswith("Basic realm=")
        assert token not in reply.body.decode()
    assert api.verdict(token) == 200  # nothing was revoked


def test_each_client_calls_only_its_endpoints(api: Endpoints) -> None:
    """Issue 12: grants per client; global revocation is never implied by the others."""
    token = provider_token()
    assert api.revoke(token, PEEK).status == 403  # introspect only
    assert api.introspect(token, OKTA).status == 403  # gtr only
    reply = api.gtr({"format": "iss_sub", "iss": ISSUER, "sub": "alice"}, GATEWAY)
    assert reply.status == 403 and error(reply) == "unauthorized_client"
    assert api.verdict(token) == 200


def test_requests_are_bounded_forms_posted(api: Endpoints) -> None:
    """RFC 7009 §2.1, RFC 7662 §2.1: POST, application/x-www-form-urlencoded; RFC 6749 §3.2:
    a parameter MUST NOT be included more than once; bodies are bounded; never a 500."""
    token = provider_token()
    assert api.target.request("GET", "/oauth/revoke", [GATEWAY]).status == 405
    assert api.target.request("GET", "/oauth/revoke", [GATEWAY]).headers["allow"] == "POST"
    assert api.post("/oauth/revoke", json.dumps({"token": token}), JSON, GATEWAY).status == 400
    twice = f"token={token}&token={token}"
    assert error(api.post("/oauth/revoke", twice, FORM, GATEWAY)) == "invalid_request"
    assert api.post("/oauth/revoke", {"token_type_hint": "access_token"}, FORM, GATEWAY).status == 400
    assert api.post("/oauth/revoke", b"token=%ff%fe", FORM, GATEWAY).status == 400
    assert api.post("/oauth/revoke", "token=" + "a" * 70_000, FORM, GATEWAY).status == 413
    assert api.verdict(token) == 200


# -- RFC 7009 ------------------------------------------------------------------------------------


def test_revoking_an_access_token_refuses_it_and_only_it(api: Endpoints) -> None:
    """RFC 7009 §2.1/§2.2: the token is revoked, 200 with no body; the user's others live on."""
    token, other = provider_token(), provider_token()
    assert api.verdict(token) == 200
    reply = api.revoke(token)
    assert (reply.status, reply.body) == (200, b"")
    assert reply.headers["cache-control"] == "no-store"
    assert api.verdict(token) == 401
    assert api.verdict(other) == 200
    assert api.revoke(token).status == 200  # already revoked: 200 again (§2.2)


def test_an_unknown_hint_is_ignored(api: Endpoints) -> None:
    """RFC 7009 §2.1: an unsupported token_type_hint is ignored; the token is looked up anyway."""
    token = provider_token()
    assert api.revoke(token, GATEWAY, token_type_hint="refresh_token").status == 200
    assert api.verdict(token) == 401
    second = provider_token()
    assert api.revoke(second, GATEWAY, token_type_hint="no-such-type").status == 200
    assert api.verdict(second) == 401


@pytest.mark.parametrize(
    "token",
    [
        "garbage",
        "a.b.c",
        provider_token(key=OTHER_KEY),  # another issuer's signature: not ours to judge
        provider_token(iat=int(time.time()) - 600, exp=int(time.time()) - 300),  # expired
    ],
    ids=["garbage", "three-segments", "foreign-signature", "expired"],
)
def test_invalid_tokens_answer_200(api: Endpoints, token: str) -> None:
    """RFC 7009 §2.2: invalid tokens do not cause an error response."""
    reply = api.revoke(token)
    assert (reply.status, reply.body) == (200, b"")


def test_tokens_it_cannot_revoke_are_unsupported(api: Endpoints) -> None:
    """RFC 7009 §2.2.1 unsupported_token_type: a verifiable JWT that is no access token (a logout
    token), and an access token without a jti (no denylist can name it)."""
    reply = api.revoke(logout_token())
    assert reply.status == 400 and error(reply) == "unsupported_token_type"
    without_jti = provider_token(jti=None)
    reply = api.revoke(without_jti)
    assert reply.status == 400 and error(reply) == "unsupported_token_type"
    assert api.verdict(without_jti) == 200


def test_revoking_a_refresh_token_ends_its_session(build: Callable[[Settings], Endpoints], store_url: str) -> None:
    """RFC 7009 §2.1: a refresh token of jwtguard's own sessions: its session ends, and the
    session's access tokens with it (§2: "SHOULD also invalidate the access tokens")."""
    settings = Settings(
        secret="s" * 48, issuer="https://app.test", sessions=True, store_url=store_url, endpoint_clients=CLIENTS
    )
    api = build(settings)
    admin = Admin(settings)
    try:
        admin.create_user("alice")
        laptop, phone = admin.login("alice"), admin.login("alice")
        reply = api.introspect(laptop.refresh_token)
        assert reply.json() == {
            "active": True,
            "token_type": "refresh_token",
            "sub": "alice",
            "exp": reply.json()["exp"],
        }
        assert api.revoke(laptop.refresh_token, GATEWAY, token_type_hint="refresh_token").status == 200
        assert api.verdict(laptop.access_token) == 401
        assert api.verdict(phone.access_token) == 200
        assert api.introspect(laptop.refresh_token).json() == {"active": False}
        assert api.revoke(laptop.refresh_token).status == 200  # already revoked
        assert api.revoke("A" * 43).status == 200  # no such refresh token
    finally:
        admin.close()


def test_a_store_outage_is_503_never_a_silent_200(build: Callable[[Settings], Endpoints]) -> None:
    """RFC 7009 §2.2.1: the server may answer 503 (with Retry-After) when it cannot revoke now;
    RFC 7662 (issue 12): an outage is never active:false."""
    api = build(provider_settings("mongodb://127.0.0.1:1/jwtguard?serverSelectionTimeoutMS=200", store_timeout=0.3))
    token = provider_token()
    for reply in (api.revoke(token), api.introspect(token)):
        assert reply.status == 503 and reply.headers["retry-after"] == "5"
        assert error(reply) == "temporarily_unavailable"


# -- RFC 7662 ------------------------------------------------------------------------------------


def test_an_active_token_is_described_with_the_standard_members(api: Endpoints) -> None:
    """RFC 7662 §2.2: active REQUIRED; scope, client_id, username, token_type, exp, iat, sub, aud,
    iss, jti as the token says; §4: Cache-Control: no-store."""
    token = provider_token()
    claims = jwt.decode(token, options={"verify_signature": False})
    reply = api.introspect(token)
    assert reply.status == 200 and reply.headers["cache-control"] == "no-store"
    assert reply.json() == {
        "active": True,
        "scope": "openid profile",
        "client_id": "web",
        "username": "alice",
        "token_type": "Bearer",
        **{name: claims[name] for name in ("exp", "iat", "sub", "aud", "iss", "jti")},
    }


def test_an_inactive_token_says_so_and_nothing_else(api: Endpoints, store_url: str) -> None:
    """RFC 7662 §2.2: for an inactive token, {"active": false} and no other member: expired,
    revoked, of a disabled user, of an ended session, unverifiable, not an access token."""
    revoked, ended, disabled = provider_token(), provider_token(sid="gone"), provider_token("mallory")
    api.revoke(revoked)
    assert api.logout(logout_token(sid="gone")).status == 200
    store = open_store(provider_settings(store_url))
    try:
        store.run(  # type: ignore[attr-defined]
            signals.set_account(
                ISSUER,
                "mallory",
                enabled=False,
                at=time.time(),
                unique="t",
                now=time.time(),
                settings=provider_settings(store_url),
                source="test",
            )
        )
    finally:
        store.close()
    inactive = [
        revoked,
        ended,
        disabled,
        provider_token(iat=int(time.time()) - 600, exp=int(time.time()) - 300),
        provider_token(key=OTHER_KEY),
        logout_token(),
        "not-a-token",
    ]
    for token in inactive:
        reply = api.introspect(token)
        assert (reply.status, reply.json()) == (200, {"active": False})


# -- OpenID Connect Back-Channel Logout 1.0 ------------------------------------------------------


def test_a_logout_with_sid_ends_only_that_provider_session(api: Endpoints) -> None:
    """§2.7: with a sid, the RP logs out that session; §2.8: 200, Cache-Control: no-store."""
    first, second = provider_token(sid="session-1"), provider_token(sid="session-2")
    reply = api.logout(logout_token(sid="session-1"))
    assert reply.status == 200 and reply.headers["cache-control"] == "no-store"
    assert api.verdict(first) == 401 and api.target.get(first).json()["error"] == "invalid_token"
    assert api.verdict(second) == 200
    assert api.verdict(provider_token(sid="session-1")) == 401  # every token of that session


def test_a_logout_with_sub_alone_ends_every_older_token(api: Endpoints) -> None:
    """§2.7: with a sub and no sid, every session of the user: tokens issued before the logout die."""
    before = provider_token(iat=_now() - 5)
    assert api.logout(logout_token(sid=None, iat=_now() - 2)).status == 200
    assert api.verdict(before) == 401
    assert api.verdict(provider_token(iat=_now())) == 200  # a later login
    assert api.verdict(provider_token("bob", iat=int(time.time()) - 5)) == 200  # another user


def test_a_logout_with_sid_alone_ends_that_provider_session(api: Endpoints, store_url: str) -> None:
    """§2.4: a logout token MAY name only the session (sid, no sub); §2.7: that session is logged
    out. Its tokens were accepted (and cached) before; after the logout every token carrying that
    sid is refused, whoever its user; other sessions live on; the record names no user."""
    first, second = provider_token(sid="session-1"), provider_token(sid="session-2")
    shared = provider_token("bob", sid="session-1")  # a provider's sid is no user's: it ends for all
    assert [api.verdict(token) for token in (first, second, shared)] == [200, 200, 200]
    token = logout_token(sub=None, sid="session-1")
    reply = api.logout(token)
    assert reply.status == 200 and reply.headers["cache-control"] == "no-store"
    assert api.reason(first) == api.reason(shared) == "session_revoked"
    assert api.reason(provider_token(sid="session-1")) == "session_revoked"  # every token of that session
    assert api.verdict(second) == 200
    assert api.verdict(provider_token(sid=None)) == 200  # a token without a sid names no session
    assert api.logout(token).status == 200  # §2.6 8: a replay changes nothing
    settings = provider_settings(store_url)
    store = open_store(settings)
    try:
        record = store.run(_get(records.provider_ended_id(ISSUER, "session-1")))  # type: ignore[attr-defined]
        assert store.run(_find("alice")) == []  # type: ignore[attr-defined]
    finally:
        store.close()
    assert record is not None and record["kind"] == "ended" and "user" not in record


def test_a_session_lookup_is_cached_and_follows_the_store_error_policy(
    build: Callable[[Settings], Endpoints], store_url: str
) -> None:
    """The guard's lookup of a provider session is one store read per session per TTL; when the
    store cannot answer it, JWTGUARD_ON_STORE_ERROR decides (reject: 503, never an accept)."""
    api = build(provider_settings(store_url))
    token = provider_token(sid="session-9")
    assert api.verdict(token) == 200
    engine = api.target.engine
    loads = engine.metrics.store_loads
    for _ in range(3):
        assert api.verdict(provider_token(sid="session-9")) == 200
    assert engine.metrics.store_loads == loads  # the user's state and the session's answer both cached
    engine.provider_sessions.clear()
    engine.store, engine.async_store = _Down(), _AsyncDown()  # type: ignore[assignment]
    reply = api.target.get(token)
    assert reply.status == 503 and reply.json()["reason"] == "store_unavailable"


class _Down:
    """A store that cannot answer."""

    def load(self, user_id: Any) -> Any:
        raise StoreError("down (test)")

    def run(self, flow: Any) -> Any:
        flow.close()
        raise StoreError("down (test)")

    def close(self) -> None:
        pass


class _AsyncDown:
    """:class:`_Down` for an event loop."""

    async def load(self, user_id: Any) -> Any:
        raise StoreError("down (test)")

    async def run(self, flow: Any) -> Any:
        flow.close()
        raise StoreError("down (test)")

    async def close(self) -> None:
        pass


def _get(record_id: str) -> Any:
    return (yield records.Get("state", record_id))


def test_a_replayed_logout_token_changes_nothing(api: Endpoints, store_url: str) -> None:
    """§2.6 8: a jti already received answers 200 (providers retry) and records nothing again."""
    token = logout_token(sid=None, iat=int(time.time()) - 1)
    assert api.logout(token).status == 200
    assert api.logout(token).status == 200
    settings = provider_settings(store_url)
    store = open_store(settings)
    try:
        state = user_state(store.load("alice"), settings)
        found = store.run(_find("alice"))  # type: ignore[attr-defined]
    finally:
        store.close()
    assert state is not None and state.not_before is not None
    assert [record["kind"] for record in found] == ["cutoff"]


def _find(user: str) -> Any:
    return (yield records.FindUser(user))


def _now() -> int:
    return int(time.time())


LOGOUT_FAILURES = [
    # (the logout token, the rule it breaks)
    ("logout_token(iss='https://evil.test')", "§2.6 4: iss"),
    ("logout_token(aud='someone-else')", "§2.6 4: aud"),
    ("logout_token(iat=_now() - 3600)", "§2.6 4: iat too old"),
    ("logout_token(iat=_now() + 3600)", "§2.6 4: iat in the future"),
    ("logout_token(exp=_now() - 60)", "§2.6 4: exp passed"),
    ("logout_token(exp=None)", "§2.4: exp required"),
    ("logout_token(jti=None)", "§2.4: jti required"),
    ("logout_token(events=None)", "§2.6 6: events required"),
    ("logout_token(events={'http://schemas.openid.net/event/other': {}})", "§2.6 6: the logout event"),
    ("logout_token(events={BACKCHANNEL_EVENT: 'yes'})", "§2.6 6: the event's value is an object"),
    ("logout_token(nonce='n-0S6_WzA2Mj')", "§2.6 7: no nonce"),
    ("logout_token(sub=None, sid=None)", "§2.6 5: sub or sid"),
    ("logout_token(sub=42)", "§2.4: sub is a string"),
    ("logout_token(header={'typ': 'at+jwt'})", "§2.4: typ logout+jwt"),
    ("logout_token(key=OTHER_KEY)", "§2.6 2: the signature"),
    ("jwt.encode({'iss': ISSUER, 'aud': CLIENT}, None, algorithm='none')", "§2.6 3: alg none"),
    ("'a.b.c.d.e'", "§2.6 1: an encrypted token"),
    ("''", "§2.5: logout_token required"),
    ("provider_token()", "an access token is no logout token"),
]


@pytest.mark.parametrize(("expression", "rule"), LOGOUT_FAILURES, ids=[rule for _, rule in LOGOUT_FAILURES])
def test_an_invalid_logout_token_is_400_and_ends_nothing(api: Endpoints, expression: str, rule: str) -> None:
    """§2.6: "If any of the validation steps fails, the RP MUST respond with 400"; §2.8's JSON error."""
    token = provider_token()
    reply = api.logout(eval(expression))
    assert reply.status == 400 and error(reply) == "invalid_request", rule
    assert reply.headers["cache-control"] == "no-store"
    assert api.verdict(token) == 200, rule


def test_logout_is_refused_until_the_client_id_is_configured(
    build: Callable[[Settings], Endpoints], store_url: str
) -> None:
    """Without JWTGUARD_OIDC_CLIENT_ID no logout token can be checked for its audience: 400."""
    api = build(provider_settings(store_url, oidc_client_id=None))
    reply = api.logout(logout_token())
    assert reply.status == 400 and "JWTGUARD_OIDC_CLIENT_ID" in reply.json()["error_description"]


# -- Global Token Revocation ---------------------------------------------------------------------


def test_global_revocation_ends_every_token_of_the_user(api: Endpoints) -> None:
    """GTR: 204 once done; every token of the user issued before dies, another user's live on."""
    before, bystander = provider_token(iat=_now() - 5), provider_token("bob", iat=_now() - 5)
    reply = api.gtr({"format": "iss_sub", "iss": ISSUER, "sub": "alice"})
    assert (reply.status, reply.body) == (204, b"")
    assert "content-length" not in reply.headers or reply.headers["content-length"] == "0"
    assert api.verdict(before) == 401
    assert api.verdict(bystander) == 200
    cut = time.time()
    time.sleep(max(0.0, int(cut) + 1 - cut))  # tokens carry whole seconds: one issued in the next
    assert api.verdict(provider_token(iat=_now())) == 200  # a later login


def test_global_revocation_of_a_user_with_no_stored_state_is_done_not_404(api: Endpoints) -> None:
    """Issue 12: with JWTGUARD_UNKNOWN_USERS=allow a user with no stored state is the normal case:
    204, and the state is created (a 404 would leave a terminated employee's tokens alive)."""
    token = provider_token("carol", iat=_now() - 5)
    assert api.gtr({"format": "opaque", "id": "carol"}).status == 204
    assert api.verdict(token) == 401


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ("not json", 400),
        (json.dumps(["sub_id"]), 400),
        (json.dumps({"sub_id": "alice"}), 400),
        (json.dumps({"sub_id": {"iss": ISSUER}}), 400),
        (json.dumps({"sub_id": {"format": "email", "email": "alice@example.com"}}), 404),
        (json.dumps({"sub_id": {"format": "iss_sub", "iss": "https://other.test", "sub": "alice"}}), 404),
        (json.dumps({"sub_id": {"format": "opaque", "id": "x" * 300}}), 404),
    ],
    ids=["not-json", "not-an-object", "sub_id-not-an-object", "no-format", "email", "other-issuer", "too-long"],
)
def test_global_revocation_errors(api: Endpoints, body: str, status: int) -> None:
    """GTR: 400 for a request it cannot read; 404 only when the subject names no user at all."""
    token = provider_token()
    reply = api.post("/global-token-revocation", body, JSON, OKTA)
    assert reply.status == status
    assert api.verdict(token) == 200


def test_global_revocation_needs_json_and_its_grant(api: Endpoints) -> None:
    """GTR: authenticated (401 without, 403 without the grant); the body is application/json."""
    subject = {"format": "opaque", "id": "alice"}
    assert api.gtr(subject, ("X-None", "1")).status == 401
    assert api.gtr(subject, GATEWAY).status == 403
    assert api.post("/global-token-revocation", urlencode({"sub_id": "alice"}), FORM, OKTA).status == 400


def test_global_revocation_of_an_id_the_guard_cannot_use_is_422(
    build: Callable[[Settings], Endpoints], store_url: str
) -> None:
    """GTR: 422 when the subject resolves but nothing can be done (an id no user can have here)."""
    api = build(provider_settings(store_url, user_id_type="int"))
    assert api.gtr({"format": "opaque", "id": "alice"}).status == 404  # not an int: names nobody
    settings = provider_settings(store_url, user_id_type="int")
    from jwtguard.endpoints.subjects import Subject

    def resolve(subject: Subject) -> str:
        return "not-a-number"

    wrapped = EndpointsWSGI(None, settings=settings, resolver=resolve)
    try:
        flow = wrapped.flow(
            wrapped.endpoints["/global-token-revocation"], _call(subject={"format": "x"}), wrapped.engine
        )
        assert wrapped.drive(flow).status == 422
    finally:
        wrapped.close()


def _call(subject: dict[str, Any]) -> Any:
    from jwtguard.endpoints import Call

    headers = {"authorization": OKTA[1], "content-type": "application/json"}
    return Call("POST", "/global-token-revocation", headers, json.dumps({"sub_id": subject}).encode())


# -- unknown users (JWTGUARD_UNKNOWN_USERS) -------------------------------------------------------


def test_unknown_users_are_refused_by_default_and_pass_when_allowed(
    build: Callable[[Settings], Endpoints], store_url: str
) -> None:
    """Issue 12: `refuse` (the default) keeps today's unknown_user; `allow` lets a provider's user pass."""
    token = provider_token("dave")
    assert build(provider_settings(store_url, unknown_users="refuse")).verdict(token) == 401
    assert build(provider_settings(store_url)).verdict(token) == 200


def test_a_provider_enable_never_lifts_a_local_disable(store_url: str) -> None:
    """Issue 12: each source keeps its own switch; the user passes only when both say enabled."""
    settings = provider_settings(store_url)
    admin = Admin(settings)
    try:
        admin.create_user("erin")
        admin.disable_user("erin")
        now = time.time()
        admin.run(
            signals.set_account(
                ISSUER, "erin", enabled=True, at=now, unique="1", now=now, settings=settings, source="t"
            )
        )
        state = admin.status("erin")
        assert state is not None and not state.enabled
        admin.enable_user("erin")
        admin.run(
            signals.set_account(
                ISSUER, "erin", enabled=False, at=now + 1, unique="2", now=now, settings=settings, source="t"
            )
        )
        state = admin.status("erin")
        assert state is not None and not state.enabled  # the provider's disable holds
    finally:
        admin.close()


ACCOUNTS = [
    # ((at, enabled, purged, source) records, enabled?, why)
    ([], True, "no switch: enabled"),
    ([(1.0, False, False, "idp")], False, "a disable"),
    ([(1.0, False, False, "idp"), (2.0, True, False, "idp")], True, "the latest wins: enabled again"),
    ([(2.0, True, False, "idp"), (1.0, False, False, "idp")], True, "order of the records does not matter"),
    ([(1.0, True, False, "idp"), (1.0, False, False, "idp")], False, "a tie: disabled (fail closed)"),
    ([(1.0, False, True, "idp"), (2.0, True, False, "idp")], False, "a purge is for good"),
    (
        [(1.0, False, False, "local"), (2.0, True, False, "idp")],
        False,
        "a provider's enable never lifts a local disable",
    ),
    ([(1.0, False, False, "idp"), (2.0, True, False, "local")], False, "nor a local enable a provider's disable"),
    ([(1.0, False, False, "local"), (2.0, True, False, "local")], True, "a local enable lifts a local disable"),
]


@pytest.mark.parametrize(("switches", "enabled", "why"), ACCOUNTS, ids=[row[2] for row in ACCOUNTS])
def test_the_account_rule(switches: list[tuple[float, bool, bool, str]], enabled: bool, why: str) -> None:
    """Issue 12: each source keeps its own switch (record the source); both must say enabled."""
    records = [
        {"_id": str(n), "user": "u", "kind": "account", "at": at, "enabled": on, "purged": purged, "source": source}
        for n, (at, on, purged, source) in enumerate(switches)
    ]
    state = user_state({"_id": "u", "$jwtguard.records": records}, provider_settings("sqlite:///unused.db"))
    assert state is not None and state.enabled is enabled, why


def test_every_accepted_signal_is_logged_and_counted_never_a_token(
    api: Endpoints, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12: every accepted signal is logged (never the token) and counted."""
    token, logout = provider_token(sid="s-9"), logout_token(sid="s-9")
    with caplog.at_level("INFO", logger="jwtguard"):
        assert api.revoke(token).status == 200
        assert api.logout(logout).status == 200
        assert api.gtr({"format": "opaque", "id": "alice"}).status == 204
        assert api.logout("not-a-token").status == 400
    text = caplog.text
    assert "RFC 7009: client gw revoked token" in text
    assert "back-channel logout from https://idp.test/realms/demo: session s-9 of user 'alice' ended" in text
    assert "global token revocation by client okta" in text
    assert token not in text and logout not in text
    outer: Any = api.target.outer
    assert outer.metrics.snapshot() == {
        "/global-token-revocation": {"204": 1},
        "/oauth/revoke": {"200": 1},
        "/oidc/backchannel-logout": {"200": 1, "400": 1},
    }


HOSTILE_BODIES = [
    b"",
    b"token",
    b"token=%",
    b"token=" + b"\xff" * 10,
    b"logout_token=" + b"e" * 5000,
    b"logout_token=a.b.c",
    b"logout_token=eyJhbGciOiJub25lIn0.e30.",
    b'{"sub_id": {"format": {"$ne": null}}}',
    b'{"sub_id": {"format": "opaque", "id": {"$gt": ""}}}',
    b"[" * 50_000,
    b"\x00" * 1000,
]


def _answered(reply: Reply) -> None:
    """An answer of the protocol: never a 5xx, and an error body with every 4xx."""
    assert reply.status < 500, reply.status
    if reply.status >= 400:
        assert isinstance(reply.json()["error"], str)


@pytest.mark.parametrize(
    "path", ["/oauth/revoke", "/oauth/introspect", "/oidc/backchannel-logout", "/global-token-revocation"]
)
def test_hostile_input_is_never_a_5xx(api: Endpoints, path: str) -> None:
    """Issue 12: bounded bodies, bad input a 4xx in the protocol's error shape (or the RFC's 200
    for an invalid token), never a 500."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    media = [
        "application/x-www-form-urlencoded",
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded; charset=x",
    ]
    credentials = [OKTA[1], GATEWAY[1], "Basic", "Basic Og==", "Bearer x", "Basic " + "A" * 5000]
    token = provider_token()
    for body in HOSTILE_BODIES:
        for content_type in media[:2]:
            for authorization in (OKTA[1], GATEWAY[1]):
                _answered(api.post(path, body, ("Content-Type", content_type), ("Authorization", authorization)))

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        body=st.binary(max_size=300), content_type=st.sampled_from(media), authorization=st.sampled_from(credentials)
    )
    def fuzz(body: bytes, content_type: str, authorization: str) -> None:
        _answered(api.post(path, body, ("Content-Type", content_type), ("Authorization", authorization)))

    fuzz()
    assert api.verdict(token) == 200  # and nothing was revoked by it


# -- clients that sign their calls (RFC 7523) ------------------------------------------------------


CLIENT_KEY = new_private_key("ES256")
OTHER_KEY_ES = new_private_key("ES256")


def assertion(client_id: str = "okta-ul", *, key: Any = CLIENT_KEY, **changes: Any) -> str:
    now = int(time.time())
    claims = {"iss": client_id, "sub": client_id, "aud": "https://app.test/global-token-revocation", "iat": now}
    claims |= {"exp": now + 60, "jti": uuid.uuid4().hex, **changes}
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, key, algorithm="ES256")


@pytest.fixture
def signed(adapter: str, store_url: str) -> Iterator[Endpoints]:
    from jwtguard.endpoints import BasicClients
    from jwtguard.endpoints.clients import SignedClient, SignedClients, either

    settings = provider_settings(store_url)
    hook = either(
        BasicClients(settings),
        SignedClients(
            [SignedClient("okta-ul", frozenset({"gtr", "revoke"}), public_pem(CLIENT_KEY), ("ES256",))],
            audience="https://app.test/global-token-revocation",
        ),
    )
    wrap = EndpointsWSGI if adapter == "wsgi" else EndpointsASGI
    target = TARGETS[adapter](settings, outer=lambda guard: wrap(guard, settings=settings, clients=hook))
    try:
        yield Endpoints(target)
    finally:
        target.close()


def test_a_bearer_assertion_authenticates_global_revocation(signed: Endpoints) -> None:
    """RFC 7523 §3 via `Authorization: Bearer` (Okta Universal Logout): iss = sub = client_id, aud,
    exp, signature; a jti is used once."""
    before = provider_token(iat=_now() - 5)
    subject = {"format": "opaque", "id": "alice"}
    call = assertion()
    assert signed.gtr(subject, ("Authorization", f"Bearer {call}")).status == 204
    assert signed.verdict(before) == 401
    assert signed.gtr(subject, ("Authorization", f"Bearer {call}")).status == 401  # §3 item 7: a replay
    assert signed.gtr(subject, OKTA).status == 204  # Basic clients beside it


@pytest.mark.parametrize(
    "bad",
    [
        {"sub": "someone-else"},
        {"iss": "unknown-client", "sub": "unknown-client"},
        {"aud": "https://evil.test/"},
        {"exp": None},
        {"exp": _now() - 120},
        {"exp": _now() + 3600},
        {"nbf": _now() + 3600},
        {"key": OTHER_KEY_ES},
    ],
    ids=["sub", "unknown-iss", "aud", "no-exp", "expired", "too-long", "not-yet", "signature"],
)
def test_a_bad_assertion_is_invalid_client(signed: Endpoints, bad: dict[str, Any]) -> None:
    """RFC 7523 §3 items 1–4, 9: each check refuses the call (401 invalid_client)."""
    reply = signed.gtr({"format": "opaque", "id": "alice"}, ("Authorization", f"Bearer {assertion(**bad)}"))
    assert reply.status == 401 and error(reply) == "invalid_client"


def test_private_key_jwt_in_the_form(signed: Endpoints) -> None:
    """RFC 7523 §2.2: client_assertion_type and client_assertion in the form (revocation)."""
    token = provider_token()
    form = {"token": token, "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}
    assert signed.post("/oauth/revoke", {**form, "client_assertion": assertion()}, FORM).status == 200
    assert signed.verdict(token) == 401
    wrong_type = {**form, "client_assertion_type": "password", "client_assertion": assertion()}
    assert signed.post("/oauth/revoke", wrong_type, FORM).status == 401


def test_an_id_token_cannot_be_revoked_as_an_access_token(
    build: Callable[[Settings], Endpoints], store_url: str
) -> None:
    """RFC 7009 §2.2.1 unsupported_token_type, with JWTGUARD_TOKEN_TYPE=claim:typ=Bearer: an ID
    token (Keycloak marks it "typ": "ID") verifies but is no access token; introspection: inactive."""
    api = build(provider_settings(store_url, token_type="claim:typ=Bearer"))
    id_token = provider_token(typ="ID", aud="api")
    reply = api.revoke(id_token)
    assert reply.status == 400 and error(reply) == "unsupported_token_type"
    assert api.introspect(id_token).json() == {"active": False}
    assert api.verdict(id_token) == 401
    assert api.introspect(provider_token()).json()["active"] is True


def test_the_admin_acts_on_users_with_no_document(api: Endpoints, store_url: str) -> None:
    """Issue 12: with JWTGUARD_UNKNOWN_USERS=allow the admin (and so the CLI) disables, enables and
    logs out a provider's user in jwtguard's state table, never in the users collection; a provider's
    enable does not lift that disable."""
    settings = provider_settings(store_url)
    token = provider_token("frank", iat=_now() - 5)
    admin = Admin(settings)
    try:
        assert api.reason(token) == "accepted"
        assert admin.disable_user("frank") is True
        assert api.reason(token) == "disabled"
        now = time.time() + 1
        enable = signals.set_account(
            ISSUER, "frank", enabled=True, at=now, unique="x", now=now, settings=settings, source="idp"
        )
        admin.run(enable)
        assert api.reason(token) == "disabled"  # the provider's enable leaves the local disable
        assert admin.enable_user("frank") is True
        assert api.reason(token) == "accepted"
        assert admin.logout_everywhere("frank") is True
        assert api.reason(token) == "revoked"
        store = open_store(settings)
        try:
            found = store.run(_find("frank"))  # type: ignore[attr-defined]
        finally:
            store.close()
        assert {record["kind"] for record in found} == {"account", "cutoff"}
    finally:
        admin.close()
