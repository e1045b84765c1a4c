"""Issue 12, proof against a real identity provider: a Keycloak 26.5 started for the test session.

Test 1 of the issue: Keycloak's RS256 access tokens, verified through its JWKS, are accepted by
the real middleware (both adapters, both stores), while its ID and refresh tokens are refused as
access tokens; so is the logout token it POSTs to a back-channel logout URL, under any setting.
Then the pieces tests 2 and 3 of the issue stand on, each shown to work against this Keycloak:
a back-channel logout URL the test serves, two sessions of one user, the admin's session delete
and user logout (each makes Keycloak POST a logout token naming the session), and Keycloak's own
revocation and introspection endpoints.

One realm per module (``realm``), with a confidential client whose id is the access tokens'
``aud`` and a user ``alice``. The server comes from the session fixture ``keycloak``
(``conftest.py``): it skips these tests where Keycloak cannot start, and fails them in CI.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import jwt
import pytest

from jwtguard import Settings
from jwtguard.explain import FAIL, explain

from keycloak import KeycloakAdmin, KeycloakServer, LogoutReceiver, Realm, Tokens

pytestmark = pytest.mark.keycloak

BACKCHANNEL_LOGOUT = "http://schemas.openid.net/event/backchannel-logout"


@pytest.fixture(scope="module")
def receiver() -> Iterator[LogoutReceiver]:
    """The client's back-channel logout URL: Keycloak POSTs its logout tokens here."""
    with LogoutReceiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def admin(keycloak: KeycloakServer) -> KeycloakAdmin:
    return keycloak.admin


@pytest.fixture(scope="module")
def realm(admin: KeycloakAdmin, receiver: LogoutReceiver) -> Iterator[Realm]:
    realm = admin.provision(backchannel_logout_url=receiver.url)
    yield realm
    admin.delete_realm(realm.name)


@pytest.fixture(scope="module")
def tokens(admin: KeycloakAdmin, realm: Realm) -> Tokens:
    """One login of alice (the password grant, scope openid): an access, an ID and a refresh token."""
    return admin.password_grant(realm)


def provider_settings(realm: Realm, store_url: str, **changes: Any) -> Settings:
    """The guard configured for the realm as the README tells a Keycloak user to."""
    values: dict[str, Any] = {
        "jwks_url": realm.certs_url,
        "issuer": realm.issuer,
        "audience": (realm.client_id,),
        "algorithms": ("RS256",),
        "token_type": "claim:typ=Bearer",
        "store_url": store_url,
        "store_timeout": 2.0,
        # The users live in Keycloak: no document of theirs in jwtguard's store (issue 12).
        "unknown_users": "allow",
    }
    values.update(changes)
    return Settings(**values)


def claims_of(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A token's header and payload, unverified: what the test asserts Keycloak sent."""
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def get(client: Any, token: str) -> Any:
    return client("GET", "/api/me", [("Authorization", f"Bearer {token}")])


def assert_invalid(reply: Any) -> None:
    assert reply.status == 401, reply.body
    assert reply.json() == {"error": "invalid_token", "reason": "invalid"}
    assert "x-user-enabled" not in reply.headers  # no account signal for a token that is none


# -- test 1: access tokens pass, ID and refresh tokens do not -------------------------------------


def test_what_keycloak_issues(tokens: Tokens, realm: Realm) -> None:
    """The tokens the rest relies on, as Keycloak 26.5 makes them (a Keycloak upgrade that changes them fails here)."""
    header, access = claims_of(tokens.access_token)
    assert header["alg"] == "RS256" and access["typ"] == "Bearer"
    assert realm.client_id in ([access["aud"]] if isinstance(access["aud"], str) else access["aud"])
    assert access["iss"] == realm.issuer and access["sub"] == realm.user_id
    assert access["sid"] == tokens.session_state  # access tokens name the provider's session
    assert tokens.id_token is not None and tokens.refresh_token is not None
    id_header, id_claims = claims_of(tokens.id_token)
    assert id_header["alg"] == "RS256" and id_claims["typ"] == "ID"
    assert id_claims["aud"] == realm.client_id and id_claims["iss"] == realm.issuer  # only typ tells it apart
    refresh_header, refresh = claims_of(tokens.refresh_token)
    assert refresh["typ"] == "Refresh" and refresh_header["alg"].startswith("HS")


def test_keycloak_access_token_is_accepted(make_client: Any, realm: Realm, tokens: Tokens, store_url: str) -> None:
    """Issue 12 test 1: verified through the realm's JWKS, with its issuer, audience and type."""
    settings = provider_settings(realm, store_url)
    client = make_client(settings)
    reply = get(client, tokens.access_token)
    assert reply.status == 200, reply.body
    assert reply.headers["x-user-enabled"] == "true"
    body = reply.json()
    assert body["user"] == realm.user_id
    assert body["claims"]["typ"] == "Bearer" and body["claims"]["sid"] == tokens.session_state


@pytest.mark.parametrize("kind", ["id_token", "refresh_token"])
def test_keycloak_id_and_refresh_tokens_are_refused(
    make_client: Any, realm: Realm, tokens: Tokens, store_url: str, kind: str
) -> None:
    """Issue 12 test 1: the ID token (RS256, right ``iss`` and ``aud``) fails the token type; the
    refresh token (HS512 under the realm's own secret) fails before it, on its algorithm."""
    settings = provider_settings(realm, store_url)
    token = getattr(tokens, kind)
    assert_invalid(get(make_client(settings), token))
    if kind == "id_token":
        # Everything but the type checks out: the one row that fails says why.
        rows = explain(token, settings, None)
        failed = [row for row in rows if row.verdict == FAIL]
        assert [row.check for row in failed] == ["token type", "verdict"], rows
        assert "needs the claim typ = Bearer; it is ID" in failed[0].detail


def test_keycloak_logout_token_is_never_an_access_token(
    make_client: Any,
    admin: KeycloakAdmin,
    realm: Realm,
    receiver: LogoutReceiver,
    tmp_path: Any,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A real logout token (RS256, the client as ``aud``) is refused even with JWTGUARD_TOKEN_TYPE=any,
    where the ID token does pass: what the start-up warning is about."""
    login = admin.password_grant(realm)
    seen = len(receiver.logout_tokens())
    assert login.session_state is not None
    admin.delete_session(realm.name, login.session_state)
    logout_token = receiver.wait(seen + 1)[seen]
    header, claims = claims_of(logout_token)
    assert header["typ"] == "logout+jwt" and header["alg"] == "RS256"
    assert claims["aud"] == realm.client_id and BACKCHANNEL_LOGOUT in claims["events"]
    store_url = f"sqlite:///{tmp_path / 'jwtguard.db'}"
    for token_type in ("any", "claim:typ=Bearer"):
        settings = provider_settings(realm, store_url, token_type=token_type)
        with caplog.at_level(logging.WARNING, logger="jwtguard"):
            client = make_client(settings)
        assert_invalid(get(client, logout_token))
    warned = [r.getMessage() for r in caplog.records if "JWTGUARD_TOKEN_TYPE=any" in r.getMessage()]
    assert len(warned) == 1
    assert login.id_token is not None
    any_type = make_client(provider_settings(realm, store_url, token_type="any"))
    assert get(any_type, login.id_token).status == 200  # the confusion claim:typ=Bearer prevents


# -- what tests 2 and 3 of the issue stand on --------------------------------------------------------


def test_sessions_session_delete_and_user_logout(admin: KeycloakAdmin, realm: Realm, receiver: LogoutReceiver) -> None:
    """Two logins are two Keycloak sessions; deleting one ends it alone, and Keycloak POSTs a logout
    token naming it to the client's back-channel URL; the admin's logout of the user ends the rest."""
    first, second = admin.password_grant(realm), admin.password_grant(realm)
    sids = {first.session_state, second.session_state}
    assert None not in sids and len(sids) == 2
    listed = {session["id"] for session in admin.user_sessions(realm.name, realm.user_id)}
    assert sids <= listed
    seen = len(receiver.logout_tokens())

    assert first.session_state is not None
    admin.delete_session(realm.name, first.session_state)
    ended = claims_of(receiver.wait(seen + 1)[seen])[1]
    assert ended["sid"] == first.session_state and ended["sub"] == realm.user_id
    assert ended["iss"] == realm.issuer and "nonce" not in ended
    remaining = {session["id"] for session in admin.user_sessions(realm.name, realm.user_id)}
    assert first.session_state not in remaining and second.session_state in remaining
    assert first.refresh_token is not None and second.refresh_token is not None
    refused = admin.refresh(realm, first.refresh_token)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert admin.introspect(realm, first.access_token) == {"active": False}
    assert admin.introspect(realm, second.access_token)["active"] is True

    # The admin's "log out user" ends every session of the user, yet Keycloak 26.5 POSTs the client ONE
    # logout token, naming one of those sessions (with the user's sub), not one per session: by §2.4 a
    # receiver that ends only the named sid leaves the user's other sessions' tokens alive. Keycloak
    # sends it before the admin call returns, so no second one is on its way.
    assert len(remaining) >= 2  # `second` and the module's `tokens` login at least
    admin.logout_user(realm.name, realm.user_id)
    sent = receiver.wait(seen + 2)[seen + 1 :]
    assert len(sent) == 1, [claims_of(token)[1] for token in sent]
    logged_out = claims_of(sent[0])[1]
    assert logged_out["sub"] == realm.user_id and logged_out["sid"] in remaining
    assert BACKCHANNEL_LOGOUT in logged_out["events"]
    assert admin.user_sessions(realm.name, realm.user_id) == []
    assert admin.introspect(realm, second.access_token) == {"active": False}


def test_keycloak_revocation_and_introspection(admin: KeycloakAdmin, realm: Realm) -> None:
    """Keycloak's RFC 7009 and RFC 7662 endpoints, as the client calls them (HTTP Basic)."""
    login = admin.password_grant(realm)
    active = admin.introspect(realm, login.access_token)
    assert active["active"] is True and active["sub"] == realm.user_id and active["client_id"] == realm.client_id
    assert admin.revoke(realm, login.access_token, "access_token").status_code == 200
    assert admin.introspect(realm, login.access_token) == {"active": False}
    assert login.refresh_token is not None
    assert admin.revoke(realm, login.refresh_token, "refresh_token").status_code == 200
    assert admin.refresh(realm, login.refresh_token).status_code == 400
