"""Issue 13, "Proven against Keycloak": DPoP (RFC 9449) with the tokens a real Keycloak 26.5 binds.

Keycloak 26.4 made DPoP a supported feature, on by default: the session fixture's ``start-dev``
(``tests/keycloak.py``: no ``--features=dpop``, and ``dpop`` is not among its disabled features)
binds tokens as it is. A client with the attribute ``dpop.bound.access.tokens`` = ``true``
("Require DPoP bound tokens") gets no token without a proof; a token request (here the password
grant) with a ``DPoP`` proof (``htm`` POST, ``htu`` the token endpoint, no ``ath``: §5) is
answered ``token_type`` ``DPoP`` with an access token whose ``cnf.jkt`` is the proof key's RFC 7638
thumbprint (§6.1), and whose ``typ`` claim is ``DPoP`` (``Bearer`` for an unbound one): what
``JWTGUARD_TOKEN_TYPE`` has to be chosen by (:func:`test_keycloak_token_type_and_dpop`).

Then that token against the real middleware (both adapters, the embedded SQLite store, the
realm's JWKS): accepted with a proof of its key, refused as a Bearer copy, without a proof, with
another key's, with a replayed proof, and with a proof of another request; and, under
``JWTGUARD_DPOP=require``, Keycloak's unbound tokens refused as Bearer.

One realm for the module, with two clients of the same user: ``plain`` (Keycloak's defaults: Bearer
tokens) and ``bound`` (``dpop.bound.access.tokens``). The guard takes both clients' ids as
audiences. Proofs name ``https://api.example.test/...`` (``JWTGUARD_EXTERNAL_ORIGIN``, a proxy's
origin), except in :func:`test_the_htu_follows_the_host_without_an_external_origin`.
"""

from __future__ import annotations

import base64
import logging
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt
import pytest
from dpop_keys import ProofKey, ath
from harness import TARGETS

from jwtguard import Settings
from jwtguard.config import endpoint_clients
from jwtguard.endpoints import EndpointsASGI, EndpointsWSGI

from keycloak import KeycloakAdmin, KeycloakServer, Realm, Tokens

pytestmark = pytest.mark.keycloak

#: The origin the clients use (JWTGUARD_EXTERNAL_ORIGIN): the guard's htu is it plus the path.
ORIGIN = "https://api.example.test"
PATH = "/api/me"
URL = ORIGIN + PATH
#: JWTGUARD_DPOP_ALGORITHMS' default, as the DPoP challenge names it (§7.1 ``algs``).
ALGS = "ES256 EdDSA"
NONCE_KEY = "0123456789abcdef0123456789abcdef-nonce-key"


@dataclass(frozen=True)
class Clients:
    """The module's realm as seen through its two clients (one user, alice)."""

    plain: Realm  # Keycloak's defaults: Bearer tokens
    bound: Realm  # dpop.bound.access.tokens = true: DPoP-bound tokens only

    @property
    def audiences(self) -> tuple[str, str]:
        return self.bound.client_id, self.plain.client_id


@dataclass(frozen=True)
class Login:
    """A DPoP-bound login of alice: the key the client holds, and what Keycloak answered."""

    key: ProofKey
    tokens: Tokens
    #: The proof of the token request (RFC 9449 §5): what an eavesdropper on it holds, with the token.
    request_proof: str

    @property
    def token(self) -> str:
        return self.tokens.access_token


@pytest.fixture(scope="module")
def admin(keycloak: KeycloakServer) -> KeycloakAdmin:
    return keycloak.admin


@pytest.fixture(scope="module")
def clients(admin: KeycloakAdmin) -> Iterator[Clients]:
    plain = admin.provision(name=f"dpop{uuid.uuid4().hex[:10]}")
    try:
        bound = admin.add_client(plain)
        stored = admin.set_client_attributes(plain.name, bound.client_uuid, **{"dpop.bound.access.tokens": "true"})
        assert stored["dpop.bound.access.tokens"] == "true"
        yield Clients(plain, bound)
    finally:
        admin.delete_realm(plain.name)


@pytest.fixture(scope="module")
def logins(admin: KeycloakAdmin, clients: Clients) -> dict[str, Login]:
    """One DPoP-bound login per proof algorithm: the client's key signs the token request's proof."""
    found = {}
    for alg in ("ES256", "EdDSA"):
        key = ProofKey(alg)
        proof = key.proof("POST", clients.bound.token_url)
        found[alg] = Login(key, admin.dpop_password_grant(clients.bound, proof), proof)
    return found


@pytest.fixture(scope="module")
def login(logins: dict[str, Login]) -> Login:
    return logins["ES256"]


@pytest.fixture(scope="module")
def plain_token(admin: KeycloakAdmin, clients: Clients) -> str:
    """An unbound Keycloak access token (the plain client, no proof): a Bearer token."""
    return admin.password_grant(clients.plain).access_token


def dpop_settings(clients: Clients, tmp_path: Path, **changes: Any) -> Settings:
    """The guard for the realm as a Keycloak user sets it up (``tests/test_keycloak.py``), DPoP allowed.

    ``claim:typ=DPoP``: Keycloak's bound tokens say ``"typ": "DPoP"``, its unbound ones ``Bearer``
    (``claim:typ=Bearer|DPoP`` takes both: :func:`test_readme_keycloak_token_type_takes_bound_tokens`).
    """
    values: dict[str, Any] = {
        "jwks_url": clients.plain.certs_url,
        "issuer": clients.plain.issuer,
        "audience": clients.audiences,
        "algorithms": ("RS256",),
        "token_type": "claim:typ=DPoP",
        "store_url": f"sqlite:///{tmp_path / 'jwtguard.db'}",
        "store_timeout": 2.0,
        "unknown_users": "allow",
        "dpop": "allow",
        "external_origin": ORIGIN,
    }
    values.update(changes)
    return Settings(**values)


def claims_of(token: str) -> tuple[dict[str, Any], dict[str, Any]]:
    return jwt.get_unverified_header(token), jwt.decode(token, options={"verify_signature": False})


def with_dpop(client: Any, token: str, *proofs: str, method: str = "GET", path: str = PATH) -> Any:
    """``Authorization: DPoP <token>`` and one ``DPoP`` field per proof (RFC 9449 §7.1)."""
    headers = [("Authorization", f"DPoP {token}"), *(("DPoP", proof) for proof in proofs)]
    return client(method, path, headers)


def as_bearer(client: Any, token: str, *proofs: str) -> Any:
    return client("GET", PATH, [("Authorization", f"Bearer {token}"), *(("DPoP", proof) for proof in proofs)])


_ITEM = re.compile(r'\s*,?\s*([A-Za-z][\w.-]*)(?:="((?:[^"\\]|\\.)*)")?')


def challenges(value: str) -> list[tuple[str, dict[str, str]]]:
    """A ``WWW-Authenticate`` value as its challenges (RFC 9110 §11.6.1): ``[(scheme, {param: value})]``."""
    found: list[tuple[str, dict[str, str]]] = []
    value, position = value.strip(), 0
    while position < len(value):
        match = _ITEM.match(value, position)
        assert match is not None and match.end() > position, value[position:]
        name, parameter = match.group(1), match.group(2)
        if parameter is None:
            found.append((name, {}))
        else:
            assert found, value
            found[-1][1][name] = parameter
        position = match.end()
    return found


def refused(reply: Any, reason: str, error: str) -> list[tuple[str, dict[str, str]]]:
    """Asserts a 401 with that body (the app was not reached) and answers its challenges."""
    assert reply.status == 401, (reply.status, reply.body)
    assert reply.json() == {"error": error, "reason": reason}
    assert "x-user-enabled" not in reply.headers  # no DPoP refusal logs anyone out
    return challenges(reply.headers["www-authenticate"])


def dpop_challenge(error: str, description: str, *, bearer: bool = True) -> list[tuple[str, dict[str, str]]]:
    """What a refused request that used the DPoP scheme is answered (§7.1): the error in the DPoP
    challenge, Bearer offered bare besides it under ``allow`` (§7.2)."""
    first = ("DPoP", {"realm": "api", "algs": ALGS, "error": error, "error_description": description})
    return [first, ("Bearer", {"realm": "api"})] if bearer else [first]


INVALID_PROOF = dpop_challenge("invalid_dpop_proof", "The DPoP proof is invalid")
BINDING = dpop_challenge("invalid_token", "The access token is not bound to the DPoP proof's key")
NEEDS_PROOF = "The access token needs a DPoP proof (Authorization: DPoP)"


# -- what Keycloak issues -------------------------------------------------------------------------


def test_what_keycloak_binds(
    admin: KeycloakAdmin, clients: Clients, logins: dict[str, Login], plain_token: str, keycloak: KeycloakServer
) -> None:
    """RFC 9449 §5 and §6.1 as Keycloak 26.5 does them (an upgrade that changes them fails here):
    DPoP on without a feature flag, the client attribute refusing a token request without a proof,
    ``token_type`` ``DPoP``, ``cnf.jkt`` the proof key's RFC 7638 thumbprint, and a ``typ`` claim
    ``DPoP``; a client without the attribute gets Bearer tokens, or bound ones if it sends a proof."""
    metadata = httpx.get(f"{clients.plain.issuer}/.well-known/openid-configuration", timeout=10).json()
    assert {"ES256", "EdDSA", "RS256"} <= set(metadata["dpop_signing_alg_values_supported"])
    assert "--features=dpop" not in " ".join(keycloak.command(Path("kc")))  # supported since 26.4: on by default

    refused_without = admin.token_request(clients.bound)
    assert refused_without.status_code == 400, refused_without.text
    assert refused_without.json() == {"error": "invalid_request", "error_description": "DPoP proof is missing"}

    for alg, login in logins.items():
        assert login.tokens.raw["token_type"] == "DPoP", alg
        header, claims = claims_of(login.token)
        assert header["alg"] == "RS256" and header["typ"] == "JWT"
        assert claims["cnf"] == {"jkt": login.key.jkt}, alg
        assert claims["typ"] == "DPoP"  # Keycloak's own claim says so, not only the token response
        assert claims["iss"] == clients.plain.issuer and claims["azp"] == clients.bound.client_id
        assert clients.bound.client_id in claims["aud"]
    assert logins["ES256"].key.jkt != logins["EdDSA"].key.jkt

    header, plain = claims_of(plain_token)
    assert plain["typ"] == "Bearer" and "cnf" not in plain and plain["azp"] == clients.plain.client_id
    # A client that does not require DPoP still gets a bound token when it sends a proof: one client's
    # tokens may be of both kinds (what JWTGUARD_DPOP=allow is for).
    key = ProofKey()
    optional = admin.dpop_password_grant(clients.plain, key.proof("POST", clients.plain.token_url))
    assert optional.raw["token_type"] == "DPoP"
    assert claims_of(optional.access_token)[1]["cnf"] == {"jkt": key.jkt}


# -- the bound token at the resource server -----------------------------------------------------------


@pytest.mark.parametrize("alg", ["ES256", "EdDSA"])
def test_bound_token_with_its_proof_is_accepted(
    make_client: Any, clients: Clients, logins: dict[str, Login], tmp_path: Path, alg: str
) -> None:
    """RFC 9449 §7.1: ``Authorization: DPoP`` with a proof that passes every check of §4.3 (``typ``,
    ``alg`` of the allow-list, the ``jwk`` verifying the signature, ``htm``/``htu`` of this request,
    a fresh ``iat``, ``ath`` of this token) and whose key is the token's ``cnf.jkt`` (§6.1): the
    app sees Keycloak's ``sub``. Every request has a fresh proof of its own (§11.1)."""
    login = logins[alg]
    client = make_client(dpop_settings(clients, tmp_path))
    for _ in range(2):  # the second from the guard's token cache: the proof is still checked
        reply = with_dpop(client, login.token, login.key.proof("GET", URL, login.token))
        assert reply.status == 200, reply.body
        body = reply.json()
        assert body["user"] == clients.plain.user_id
        assert body["claims"]["cnf"] == {"jkt": login.key.jkt} and body["claims"]["typ"] == "DPoP"
    # The scheme is case-insensitive (RFC 9110 §11.1); the query is no part of htu (§4.3 #9).
    proof = login.key.proof("GET", URL, login.token)
    reply = client("GET", PATH + "?page=2", [("Authorization", f"dpop {login.token}"), ("DPoP", proof)])
    assert reply.status == 200, reply.body


def test_bound_token_as_bearer_is_refused(make_client: Any, clients: Clients, login: Login, tmp_path: Path) -> None:
    """RFC 9449 §7.1 and §6.1: a token bound to a key (``cnf.jkt``) sent as ``Bearer``, the copy a
    thief has, is refused ``dpop_required`` (``invalid_token``), with or without a proof beside it
    (a ``DPoP`` field does not make a Bearer request a DPoP one); Bearer carries the error, DPoP is
    offered (§7.2)."""
    client = make_client(dpop_settings(clients, tmp_path))
    expected = [
        ("Bearer", {"realm": "api", "error": "invalid_token", "error_description": NEEDS_PROOF}),
        ("DPoP", {"realm": "api", "algs": ALGS}),
    ]
    assert refused(as_bearer(client, login.token), "dpop_required", "invalid_token") == expected
    proof = login.key.proof("GET", URL, login.token)
    assert refused(as_bearer(client, login.token, proof), "dpop_required", "invalid_token") == expected
    # dpop=off does not read the DPoP scheme, yet a bound token is still no Bearer token.
    off = make_client(dpop_settings(clients, tmp_path, dpop="off"))
    assert refused(as_bearer(off, login.token), "dpop_required", "invalid_token") == expected[:1]


def test_dpop_scheme_without_one_proof_is_refused(
    make_client: Any, clients: Clients, login: Login, tmp_path: Path
) -> None:
    """RFC 9449 §4.3 #1 and §7.1: the DPoP scheme with no ``DPoP`` field, or with two, is
    ``invalid_dpop_proof`` in the DPoP challenge."""
    client = make_client(dpop_settings(clients, tmp_path))
    assert refused(with_dpop(client, login.token), "invalid_dpop_proof", "invalid_dpop_proof") == INVALID_PROOF
    first, second = (login.key.proof("GET", URL, login.token) for _ in range(2))
    reply = with_dpop(client, login.token, first, second)
    assert refused(reply, "invalid_dpop_proof", "invalid_dpop_proof") == INVALID_PROOF
    # Neither was spent: one of them alone still passes.
    assert with_dpop(client, login.token, first).status == 200


def test_another_keys_proof_is_refused(make_client: Any, clients: Clients, login: Login, tmp_path: Path) -> None:
    """RFC 9449 §4.3 #12 and §6.1: a proof valid in itself (its own key signed it, this request,
    this token's ``ath``) from a key that is not the token's ``cnf.jkt`` is ``dpop_binding``,
    ``invalid_token`` in the DPoP challenge (§7.1: the token's failure, not the proof's), whatever
    the key's type (an RSA key, its algorithm allowed for the occasion)."""
    client = make_client(dpop_settings(clients, tmp_path))
    thief = ProofKey()
    reply = with_dpop(client, login.token, thief.proof("GET", URL, login.token))
    assert refused(reply, "dpop_binding", "invalid_token") == BINDING
    rsa = ProofKey("RS256")  # another key type, allowed for the occasion
    rsa_client = make_client(dpop_settings(clients, tmp_path, dpop_algorithms=("ES256", "EdDSA", "RS256")))
    reply = with_dpop(rsa_client, login.token, rsa.proof("GET", URL, login.token))
    (scheme, parameters), *rest = refused(reply, "dpop_binding", "invalid_token")
    assert scheme == "DPoP" and parameters == BINDING[0][1] | {"algs": "ES256 EdDSA RS256"}
    assert rest == [("Bearer", {"realm": "api"})]
    # The right proof still passes: the refusals spent nothing of the holder's.
    assert with_dpop(client, login.token, login.key.proof("GET", URL, login.token)).status == 200


def test_another_logins_key_is_refused(
    make_client: Any, clients: Clients, logins: dict[str, Login], tmp_path: Path
) -> None:
    """RFC 9449 §6.1: two Keycloak logins, two keys: each token with the other login's key (its
    proof hashing this token, ``ath``) is ``dpop_binding``."""
    client = make_client(dpop_settings(clients, tmp_path))
    es, ed = logins["ES256"], logins["EdDSA"]
    for token, key in ((es.token, ed.key), (ed.token, es.key)):
        reply = with_dpop(client, token, key.proof("GET", URL, token))
        assert refused(reply, "dpop_binding", "invalid_token") == BINDING


@pytest.mark.parametrize("replay", ["process", "store"])
def test_replayed_proof_is_refused(
    make_client: Any, clients: Clients, login: Login, tmp_path: Path, replay: str
) -> None:
    """RFC 9449 §11.1 (and §4.3's "not replayed" via the ``jti``): the same proof a second time is
    ``invalid_dpop_proof``, remembered in the process or in the store (``JWTGUARD_DPOP_REPLAY``);
    a fresh proof of the same key passes."""
    client = make_client(dpop_settings(clients, tmp_path, dpop_replay=replay))
    proof = login.key.proof("GET", URL, login.token)
    assert with_dpop(client, login.token, proof).status == 200
    assert refused(with_dpop(client, login.token, proof), "invalid_dpop_proof", "invalid_dpop_proof") == INVALID_PROOF
    assert with_dpop(client, login.token, login.key.proof("GET", URL, login.token)).status == 200


def _spoiled(key: ProofKey, token: str, other_token: str) -> dict[str, str]:
    """Proofs of the right key that fail one check of RFC 9449 §4.3 each, for ``GET /api/me``."""
    now = int(time.time())
    return {
        # §4.3 #8: htm is the request's method, compared case-sensitively (RFC 9110 §9.1).
        "htm POST": key.proof("POST", URL, token),
        "htm get": key.proof("get", URL, token),
        # §4.3 #9: htu is the request's URL, query and fragment ignored; path, host and scheme not.
        "htu another path": key.proof("GET", ORIGIN + "/api/other", token),
        "htu a longer path": key.proof("GET", URL + "/more", token),
        "htu another host": key.proof("GET", "https://evil.example.test" + PATH, token),
        "htu http": key.proof("GET", "http://api.example.test" + PATH, token),
        "htu another port": key.proof("GET", "https://api.example.test:8443" + PATH, token),
        # §4.3 #12 (§4.2): ath is required with an access token, and is this token's hash.
        "no ath": key.proof("GET", URL),
        "ath of another token": key.proof("GET", URL, other_token),
        "ath of nothing": key.proof("GET", URL, ath=ath("x")),
        # §4.3 #11: iat within the acceptable window (JWTGUARD_DPOP_MAX_AGE 60 s, no leeway).
        "iat too old": key.proof("GET", URL, token, iat=now - 120),
        "iat in the future": key.proof("GET", URL, token, iat=now + 120),
        # §4.3 #3, #4, #5: the claims required, typ dpop+jwt, an allowed asymmetric alg.
        "no jti": key.proof("GET", URL, token, jti=None),
        "typ JWT": key.proof("GET", URL, token, header={"typ": "JWT"}),
        "no jwk": key.proof("GET", URL, token, header={"jwk": None}),
        "a Keycloak token as the proof": token,
    }


SPOILERS = sorted(_spoiled(ProofKey(), "a.b.c", "d.e.f"))


@pytest.mark.parametrize("spoiler", SPOILERS)
def test_proof_of_another_request_is_refused(
    make_client: Any, clients: Clients, login: Login, plain_token: str, tmp_path: Path, spoiler: str
) -> None:
    """RFC 9449 §4.3 #8, #9, #11 and #12 (and #3-#5): a proof of the token's own key made for
    another method, another path or origin, another token, or another time, or malformed, is
    ``invalid_dpop_proof`` in the DPoP challenge (§7.1); the token itself is fine (a good proof
    passes afterwards)."""
    client = make_client(dpop_settings(clients, tmp_path))
    proof = _spoiled(login.key, login.token, plain_token)[spoiler]
    assert refused(with_dpop(client, login.token, proof), "invalid_dpop_proof", "invalid_dpop_proof") == INVALID_PROOF
    assert with_dpop(client, login.token, login.key.proof("GET", URL, login.token)).status == 200


def test_proof_for_another_method_on_a_post(make_client: Any, clients: Clients, login: Login, tmp_path: Path) -> None:
    """RFC 9449 §4.3 #8 the other way round: a ``POST`` with a proof made for ``GET`` of the same URL
    is refused; with a proof for ``POST`` it passes the guard (Flask and Starlette then answer 405:
    the route is GET only)."""
    client = make_client(dpop_settings(clients, tmp_path))
    get_proof = login.key.proof("GET", URL, login.token)
    reply = with_dpop(client, login.token, get_proof, method="POST")
    assert refused(reply, "invalid_dpop_proof", "invalid_dpop_proof") == INVALID_PROOF
    reply = with_dpop(client, login.token, login.key.proof("POST", URL, login.token), method="POST")
    assert reply.status == 405, reply.body


def test_the_token_requests_proof_is_no_resource_proof(
    make_client: Any, admin: KeycloakAdmin, clients: Clients, login: Login, tmp_path: Path
) -> None:
    """RFC 9449 §4.3 #8, #9 and #12: what an eavesdropper on the token request holds, Keycloak's
    answer and the proof sent with it (``htm`` POST, ``htu`` Keycloak's token endpoint, no
    ``ath``), is refused by the guard, for a GET and a POST alike. Keycloak refuses that proof's
    second use itself (§11.1), though with ``invalid_request`` where §5 has ``invalid_dpop_proof``."""
    client = make_client(dpop_settings(clients, tmp_path))
    for method in ("GET", "POST"):
        reply = with_dpop(client, login.token, login.request_proof, method=method)
        assert refused(reply, "invalid_dpop_proof", "invalid_dpop_proof") == INVALID_PROOF
    again = admin.token_request(clients.bound, dpop=login.request_proof)
    assert again.status_code == 400, again.text
    assert again.json() == {"error": "invalid_request", "error_description": "DPoP proof has already been used"}


def test_the_htu_follows_the_host_without_an_external_origin(
    make_client: Any, clients: Clients, login: Login, tmp_path: Path
) -> None:
    """RFC 9449 §4.3 #9 without ``JWTGUARD_EXTERNAL_ORIGIN``: the URL is the request's scheme and
    ``Host`` (its port included) and path, compared in RFC 3986 §6 normal form (host case)."""
    client = make_client(dpop_settings(clients, tmp_path, external_origin=None))
    host = "api.example.test:8443"
    for htu in (f"http://{host}{PATH}", f"http://API.Example.Test:8443{PATH}?q=1"):
        proof = login.key.proof("GET", htu, login.token)
        headers = [("Host", host), ("Authorization", f"DPoP {login.token}"), ("DPoP", proof)]
        reply = client("GET", PATH, headers)
        assert reply.status == 200, (htu, reply.body)
    proof = login.key.proof("GET", URL, login.token)  # https://api.example.test: not this Host
    reply = client("GET", PATH, [("Host", host), ("Authorization", f"DPoP {login.token}"), ("DPoP", proof)])
    assert refused(reply, "invalid_dpop_proof", "invalid_dpop_proof") == INVALID_PROOF


def test_nonce_is_asked_for_and_accepted(make_client: Any, clients: Clients, login: Login, tmp_path: Path) -> None:
    """RFC 9449 §9 and §4.3 #10: with server nonces on, a proof without one is answered 401
    ``use_dpop_nonce`` with a ``DPoP-Nonce`` field; the same request proven again with that nonce
    passes."""
    client = make_client(dpop_settings(clients, tmp_path, dpop_nonce=True, dpop_nonce_key=NONCE_KEY))
    reply = with_dpop(client, login.token, login.key.proof("GET", URL, login.token))
    expected = dpop_challenge("use_dpop_nonce", "The DPoP proof needs the nonce of the DPoP-Nonce field")
    assert refused(reply, "use_dpop_nonce", "use_dpop_nonce") == expected
    nonce = reply.headers["dpop-nonce"]
    reply = with_dpop(client, login.token, login.key.proof("GET", URL, login.token, nonce=nonce))
    assert reply.status == 200, reply.body


# -- unbound Keycloak tokens: allow and require ---------------------------------------------------------


def test_unbound_token_under_allow_and_require(
    make_client: Any, clients: Clients, login: Login, plain_token: str, tmp_path: Path
) -> None:
    """RFC 9449 §7.1 and §7.2: under ``allow`` Keycloak's unbound token (a client without
    ``dpop.bound.access.tokens``) passes as ``Bearer``; under ``require`` it is ``dpop_required``
    with only the DPoP challenge offered, while the bound token with its proof still passes. Sent
    with the DPoP scheme and a valid proof, an unbound token is ``dpop_binding`` in either mode
    (§6.1: there is no ``cnf.jkt`` for the proof's key to match)."""
    plain_rule = {"token_type": "claim:typ=Bearer"}  # its typ claim (see test_keycloak_token_type_and_dpop)
    allow = make_client(dpop_settings(clients, tmp_path, **plain_rule))
    reply = as_bearer(allow, plain_token)
    assert reply.status == 200, reply.body
    assert reply.json()["user"] == clients.plain.user_id
    key = ProofKey()
    reply = with_dpop(allow, plain_token, key.proof("GET", URL, plain_token))
    assert refused(reply, "dpop_binding", "invalid_token") == BINDING

    require = make_client(dpop_settings(clients, tmp_path, dpop="require", **plain_rule))
    expected = [
        (
            "DPoP",
            {"realm": "api", "algs": ALGS, "error": "invalid_token", "error_description": NEEDS_PROOF},
        )
    ]
    assert refused(as_bearer(require, plain_token), "dpop_required", "invalid_token") == expected
    reply = with_dpop(require, plain_token, key.proof("GET", URL, plain_token))
    assert refused(reply, "dpop_binding", "invalid_token") == dpop_challenge(
        "invalid_token", "The access token is not bound to the DPoP proof's key", bearer=False
    )
    # No credentials at all: the DPoP challenge alone, with its algorithms (§7.1, Figure 15's form).
    reply = require("GET", PATH, [])
    assert reply.status == 401 and challenges(reply.headers["www-authenticate"]) == [
        ("DPoP", {"realm": "api", "algs": ALGS})
    ]

    bound_require = make_client(dpop_settings(clients, tmp_path, dpop="require"))
    reply = with_dpop(bound_require, login.token, login.key.proof("GET", URL, login.token))
    assert reply.status == 200, reply.body
    assert refused(as_bearer(bound_require, login.token), "dpop_required", "invalid_token") == expected


def test_keycloak_token_type_and_dpop(
    make_client: Any,
    admin: KeycloakAdmin,
    clients: Clients,
    login: Login,
    plain_token: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What JWTGUARD_TOKEN_TYPE does with Keycloak's two kinds of access tokens under ``allow``:
    its bound tokens say ``"typ": "DPoP"``, its unbound ones ``"typ": "Bearer"``. ``claim:typ=DPoP``
    takes the bound ones and refuses every unbound one; ``claim:typ=Bearer`` takes the unbound ones;
    ``claim:typ=Bearer|DPoP`` takes both (:func:`test_readme_keycloak_token_type_takes_bound_tokens`);
    with ``any`` Keycloak's ID token passes as a Bearer token too (the start-up warning's case),
    though never with the DPoP scheme (it is bound to no key)."""
    proof = login.key.proof
    bearer_rule = make_client(dpop_settings(clients, tmp_path, token_type="claim:typ=Bearer"))
    assert as_bearer(bearer_rule, plain_token).status == 200

    dpop_rule = make_client(dpop_settings(clients, tmp_path, token_type="claim:typ=DPoP"))
    assert with_dpop(dpop_rule, login.token, proof("GET", URL, login.token)).status == 200
    reply = as_bearer(dpop_rule, plain_token)
    assert reply.status == 401 and reply.json() == {"error": "invalid_token", "reason": "invalid"}

    with caplog.at_level(logging.WARNING, logger="jwtguard"):
        any_rule = make_client(dpop_settings(clients, tmp_path, token_type="any"))
    assert any("JWTGUARD_TOKEN_TYPE=any" in record.getMessage() for record in caplog.records)
    assert with_dpop(any_rule, login.token, proof("GET", URL, login.token)).status == 200
    assert as_bearer(any_rule, plain_token).status == 200
    id_token = admin.password_grant(clients.plain).id_token
    assert id_token is not None and claims_of(id_token)[1]["typ"] == "ID"
    assert as_bearer(any_rule, id_token).status == 200  # the confusion claim:typ=... prevents
    reply = with_dpop(any_rule, id_token, ProofKey().proof("GET", URL, id_token))
    assert refused(reply, "dpop_binding", "invalid_token") == BINDING


def test_readme_keycloak_token_type_takes_bound_tokens(
    make_client: Any, admin: KeycloakAdmin, clients: Clients, login: Login, tmp_path: Path
) -> None:
    """With the README's Keycloak rule for DPoP (``JWTGUARD_TOKEN_TYPE=claim:typ=Bearer|DPoP``) and
    ``JWTGUARD_DPOP=allow`` or ``require``, a token Keycloak bound to a key, sent as RFC 9449 §7.1
    says with a valid proof of that key (§4.3, §6.1), is accepted: Keycloak writes the token type
    into the ``typ`` claim, ``DPoP`` for a bound token (the token response's ``token_type``, RFC 9449
    §5). Under ``allow`` the same rule takes its unbound tokens too, and never its ID token."""
    assert claims_of(login.token)[1]["typ"] == "DPoP"
    for mode in ("allow", "require"):
        client = make_client(dpop_settings(clients, tmp_path, token_type="claim:typ=Bearer|DPoP", dpop=mode))
        reply = with_dpop(client, login.token, login.key.proof("GET", URL, login.token))
        assert reply.status == 200, (mode, reply.status, reply.body)
    client = make_client(dpop_settings(clients, tmp_path, token_type="claim:typ=Bearer|DPoP", dpop="allow"))
    plain = admin.password_grant(clients.plain)
    assert as_bearer(client, plain.access_token).status == 200
    assert plain.id_token is not None and as_bearer(client, plain.id_token).status == 401


class Ours:
    """jwtguard's RFC 7662 endpoint for the realm in front of the guarded app, as
    ``tests/test_keycloak_signals.py`` has it, with the rule that takes Keycloak's bound tokens."""

    def __init__(self, settings: Settings, adapter: str) -> None:
        wrap = EndpointsWSGI if adapter == "wsgi" else EndpointsASGI
        self.target = TARGETS[adapter](settings, outer=lambda guard: wrap(guard, settings=settings))
        self._auth = ("Authorization", "Basic " + base64.b64encode(b"gw:gw-secret-1").decode())

    def introspect(self, token: str) -> dict[str, Any]:
        headers = [self._auth, ("Content-Type", "application/x-www-form-urlencoded")]
        reply = self.target.request("POST", "/oauth/introspect", headers, urlencode({"token": token}).encode())
        assert reply.status == 200, reply.body
        answer: dict[str, Any] = reply.json()
        return answer

    def close(self) -> None:
        self.target.close()


def test_introspection_of_a_bound_token_as_keycloak_answers(
    admin: KeycloakAdmin, clients: Clients, login: Login, tmp_path: Path, adapter: str
) -> None:
    """RFC 9449 §6.2: the introspection of a bound token says ``token_type`` ``DPoP`` and gives its
    ``cnf``; ours answers as Keycloak's own endpoint does (the holder's endpoint asks no proof)."""
    theirs = admin.introspect(clients.bound, login.token)
    assert theirs["active"] is True and theirs["token_type"] == "DPoP"
    assert theirs["cnf"] == {"jkt": login.key.jkt}
    ours = Ours(dpop_settings(clients, tmp_path, endpoint_clients=endpoint_clients("gw:gw-secret-1")), adapter)
    try:
        mine = ours.introspect(login.token)
    finally:
        ours.close()
    assert mine["active"] is True
    for member in ("token_type", "cnf", "sub", "client_id", "exp", "iat", "iss", "jti", "scope"):
        assert mine[member] == theirs[member], member
