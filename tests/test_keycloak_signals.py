"""Issue 12 tests 2 and 3 against a real Keycloak 26.5: its back-channel logouts reach every worker,
and its revocation and introspection endpoints answer the token classes as ours do.

Test 2: the example app under a two-worker server (gunicorn + Flask, uvicorn + Starlette) in provider
mode (``JWTGUARD_JWKS_URL``, ``JWTGUARD_UNKNOWN_USERS=allow``) with a **300 s** state TTL, so that only
the invalidation feed can carry a logout to the worker that did not receive it. Keycloak POSTs real
logout tokens to the example's ``/oidc/backchannel-logout`` when a session is deleted or its user is
logged out by the admin.

Test 3: the same token classes put to Keycloak's ``/revoke`` and ``/token/introspect`` and to ours.
Where the two differ, the test says why and which rule decides (RFC 7662 and RFC 7009 win).
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from harness import TARGETS
from test_workers import Server, accepted, refused, serving

from jwtguard import Settings
from jwtguard.config import endpoint_clients
from jwtguard.endpoints import EndpointsASGI, EndpointsWSGI

from keycloak import KeycloakAdmin, KeycloakServer, Realm

pytestmark = pytest.mark.keycloak

CACHE_TTL = 300
FEED_INTERVAL = 0.25
#: As the propagation proof (tests/test_propagation.py): three poll intervals and a second.
BOUND = 3 * FEED_INTERVAL + 1.0


@pytest.fixture(scope="module")
def admin(keycloak: KeycloakServer) -> KeycloakAdmin:
    return keycloak.admin


@pytest.fixture(scope="module", params=["gunicorn-flask-sqlite", "uvicorn-starlette-mongo"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, admin: KeycloakAdmin
) -> Iterator[tuple[Server, Realm]]:
    """A realm, and the example in provider mode for it under a two-worker server; the realm's client
    POSTs its logout tokens to that server."""
    realm = admin.provision()
    directory = tmp_path_factory.mktemp(f"keycloak-{str(request.param).rpartition('-')[0]}")
    settings = {
        "JWTGUARD_JWKS_URL": realm.certs_url,
        "JWTGUARD_ISSUER": realm.issuer,
        "JWTGUARD_AUDIENCE": realm.client_id,
        "JWTGUARD_ALGORITHMS": "RS256",
        "JWTGUARD_TOKEN_TYPE": "claim:typ=Bearer",
        "JWTGUARD_OIDC_CLIENT_ID": realm.client_id,
        "JWTGUARD_UNKNOWN_USERS": "allow",
        "JWTGUARD_CACHE_TTL": str(CACHE_TTL),
        "JWTGUARD_FEED_INTERVAL": str(FEED_INTERVAL),
    }
    try:
        with serving(request, directory, **settings) as (server, _):
            admin.set_backchannel_logout_url(
                realm.name, realm.client_uuid, f"{server.base_url}/oidc/backchannel-logout"
            )
            yield server, realm
    finally:
        admin.delete_realm(realm.name)


def settle(started: float) -> None:
    """Wait out the propagation bound after a change made at *started* (monotonic)."""
    time.sleep(max(0.0, started + BOUND - time.monotonic()))


def test_keycloak_logouts_reach_every_worker(served: tuple[Server, Realm], admin: KeycloakAdmin) -> None:
    """Issue 12 test 2. Two Keycloak sessions of one user: deleting one (Keycloak POSTs a logout token
    with its sid and the user's sub) refuses that session's tokens in every worker, and leaves the
    other's working; the admin's "log out user" then ends the other (Keycloak names it in its one
    logout token)."""
    server, realm = served
    first, second = admin.password_grant(realm), admin.password_grant(realm)
    assert first.session_state and second.session_state and first.session_state != second.session_state
    accepted(server, first.access_token)  # each worker caches alice's state for 300 s
    accepted(server, second.access_token)
    answer = server.call("GET", "/api/me", token=first.access_token)
    assert answer.body["user"] == realm.user_id  # the provider's sub, no user of jwtguard's

    started = time.monotonic()
    admin.delete_session(realm.name, first.session_state)
    settle(started)
    refused(server, first.access_token, "session_revoked")  # every worker, several times each
    accepted(server, second.access_token)

    started = time.monotonic()
    admin.logout_user(realm.name, realm.user_id)
    settle(started)
    refused(server, second.access_token, "session_revoked")
    fresh = admin.password_grant(realm)  # a new login after the logout is never refused
    accepted(server, fresh.access_token)
    log = server.log_text()
    assert first.access_token not in log and second.access_token not in log


# -- test 3: the same token classes, Keycloak's endpoints and ours ---------------------------------


@pytest.fixture(scope="module")
def realm(admin: KeycloakAdmin) -> Iterator[Realm]:
    realm = admin.provision()
    yield realm
    admin.delete_realm(realm.name)


class Ours:
    """jwtguard's endpoints for the realm, in front of the guarded Starlette app (ASGI) or Flask (WSGI)."""

    def __init__(self, realm: Realm, store_url: str, adapter: str) -> None:
        settings = Settings(
            jwks_url=realm.certs_url,
            issuer=realm.issuer,
            audience=(realm.client_id,),
            algorithms=("RS256",),
            token_type="claim:typ=Bearer",
            unknown_users="allow",
            oidc_client_id=realm.client_id,
            store_url=store_url,
            endpoint_clients=endpoint_clients("gw:gw-secret-1"),
        )
        wrap = EndpointsWSGI if adapter == "wsgi" else EndpointsASGI
        self.target = TARGETS[adapter](settings, outer=lambda guard: wrap(guard, settings=settings))
        self._auth = ("Authorization", "Basic " + base64.b64encode(b"gw:gw-secret-1").decode())

    def _post(self, path: str, token: str, hint: str | None) -> Any:
        form = {"token": token} | ({"token_type_hint": hint} if hint else {})
        headers = [self._auth, ("Content-Type", "application/x-www-form-urlencoded")]
        return self.target.request("POST", path, headers, urlencode(form).encode())

    def introspect(self, token: str, hint: str | None = None) -> dict[str, Any]:
        reply = self._post("/oauth/introspect", token, hint)
        assert reply.status == 200, reply.body
        answer: dict[str, Any] = reply.json()
        return answer

    def revoke(self, token: str, hint: str | None = None) -> int:
        return int(self._post("/oauth/revoke", token, hint).status)

    def close(self) -> None:
        self.target.close()


@pytest.fixture
def ours(realm: Realm, store_url: str, adapter: str) -> Iterator[Ours]:
    endpoints = Ours(realm, store_url, adapter)
    try:
        yield endpoints
    finally:
        endpoints.close()


def test_introspection_answers_the_token_classes_as_keycloak_does(
    ours: Ours, admin: KeycloakAdmin, realm: Realm
) -> None:
    """Issue 12 test 3 (RFC 7662 §2.2). Same verdict as Keycloak's for: an active access token (and the
    same sub, client_id, scope, exp, iat, iss, jti) and garbage; where the two differ (a session ended
    without a signal to us, Keycloak's ID and refresh tokens), why."""
    login = admin.password_grant(realm)
    theirs, mine = admin.introspect(realm, login.access_token), ours.introspect(login.access_token)
    assert theirs["active"] is True and mine["active"] is True
    for member in ("sub", "exp", "iat", "iss", "jti", "scope"):
        assert mine[member] == theirs[member], member
    assert mine["client_id"] == theirs["client_id"] == realm.client_id  # Keycloak's azp
    assert mine["token_type"] == "Bearer"

    assert admin.introspect(realm, "not-a-token")["active"] is False
    assert ours.introspect("not-a-token") == {"active": False}

    # An ended session. Keycloak checks its own sessions on every introspection; a resource server
    # knows only what it is told, and this realm sends us no back-channel logout (test 2 has one):
    # active until a signal arrives, here an RFC 7009 revocation.
    ended = admin.password_grant(realm)
    assert ended.session_state is not None
    admin.delete_session(realm.name, ended.session_state)
    assert admin.introspect(realm, ended.access_token)["active"] is False
    assert ours.introspect(ended.access_token)["active"] is True  # differs: no signal reached us
    assert ours.revoke(ended.access_token) == 200  # the gateway tells us (RFC 7009)
    assert ours.introspect(ended.access_token) == {"active": False}

    # Differs by design: the ID token. Keycloak introspects any token it signed, the ID token included;
    # RFC 7662 §2.2 describes access and refresh tokens, and a resource server must not take an ID
    # token for an access token (RFC 8725 §3.11): ours is inactive, and says nothing more (§2.2).
    assert login.id_token is not None
    assert admin.introspect(realm, login.id_token)["active"] is True
    assert ours.introspect(login.id_token) == {"active": False}
    # Differs by design: Keycloak's refresh token is Keycloak's (HS512 under the realm's own secret):
    # only its issuer can tell whether it is active. Ours answers inactive with nothing else.
    assert login.refresh_token is not None
    assert admin.introspect(realm, login.refresh_token, "refresh_token")["active"] is True
    assert ours.introspect(login.refresh_token, "refresh_token") == {"active": False}


def test_revocation_answers_the_token_classes_as_keycloak_does(ours: Ours, admin: KeycloakAdmin, realm: Realm) -> None:
    """Issue 12 test 3 (RFC 7009 §2.2): 200 for a revoked token and for an invalid one, at both; a
    revoked access token is inactive at both afterwards. Where they differ, RFC 7009 decides."""
    login = admin.password_grant(realm)
    assert ours.revoke(login.access_token, "access_token") == 200
    assert ours.introspect(login.access_token) == {"active": False}
    assert admin.introspect(realm, login.access_token)["active"] is True  # ours told only us
    assert admin.revoke(realm, login.access_token, "access_token").status_code == 200
    assert admin.introspect(realm, login.access_token)["active"] is False

    for garbage in ("not-a-token", "a.b.c"):
        assert ours.revoke(garbage) == 200  # §2.2: invalid tokens do not cause an error response
        assert admin.revoke(realm, garbage).status_code == 200
    # An ID token: RFC 7009 §2.2.1's unsupported_token_type at ours (it is no access token and no
    # refresh token of ours). Keycloak answers it as it likes; the RFC allows either for a token type
    # the server does not revoke, so only ours is pinned.
    assert login.id_token is not None
    assert ours.revoke(login.id_token) == 400
