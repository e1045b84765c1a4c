"""Issue 13: DPoP (RFC 9449) at the resource server, through the real frameworks, on both adapters.

Every request is a real one (Flask behind JWTGuardWSGI, Starlette behind JWTGuardASGI); the proofs
are signed by real keys (:mod:`dpop_keys`). Each test names the rules of RFC 9449 it covers. The
pure checks of one proof have their own table (``tests/test_dpop_proof.py``).
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable
from contextlib import closing
from typing import Any

import pytest
from dpop_keys import ProofKey, ath
from harness import Reply, Target

from jwtguard import Admin, Settings, issue_token
from jwtguard.asgi import request_of as asgi_request
from jwtguard.endpoints import EndpointsASGI, EndpointsWSGI
from jwtguard.engine import _PRUNE_PROOFS_EVERY
from jwtguard.sansio.dpop import mint_nonce
from jwtguard.sessions import flows
from jwtguard.stores import open_store
from jwtguard.wsgi import request_of as wsgi_request

from conftest import SECRET

ORIGIN = "https://api.example"
URL = ORIGIN + "/api/me"
NONCE_KEY = "n" * 40
KEY = ProofKey()


def dpop_settings(store_url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "secret": SECRET,
        "store_url": store_url,
        "dpop": "allow",
        "external_origin": ORIGIN,
        "endpoint_clients": "gw:gw-secret-1:introspect",
    }
    return Settings(**{**values, **changes})


@pytest.fixture
def build(make_target: Callable[..., Target]) -> Callable[..., Target]:
    """A guarded app whose store knows alice."""

    def make(settings: Settings, **options: Any) -> Target:
        with closing(Admin(settings)) as admin:
            admin.create_user("alice")
        return make_target(settings, **options)

    return make


@pytest.fixture
def sqlite_url(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'dpop.db'}"


@pytest.fixture
def target(build: Callable[..., Target], sqlite_url: str) -> Target:
    return build(dpop_settings(sqlite_url))


def bound(settings: Settings, key: ProofKey = KEY, **claims: Any) -> str:
    """A token of alice bound to *key* (RFC 9449 §6.1: ``cnf.jkt``)."""
    return issue_token(settings, "alice", cnf={"jkt": key.jkt}, **claims)


def dpop_get(target: Target, token: str, *proofs: str, path: str = "/api/me", scheme: str = "DPoP") -> Reply:
    headers = [("Authorization", f"{scheme} {token}"), *(("DPoP", proof) for proof in proofs)]
    return target.request("GET", path, headers)


def reason(reply: Reply) -> str:
    return "accepted" if reply.status == 200 else str(reply.json()["reason"])


def challenge(reply: Reply) -> str:
    return reply.headers.get("www-authenticate", "")


# -- the resource request (§7.1) ------------------------------------------------------------------


def test_a_bound_token_with_its_proof_passes_and_a_fresh_proof_each_time(target: Target) -> None:
    """§7.1: ``Authorization: DPoP`` and a proof of the key the token names (§6.1 cnf.jkt), with the
    request's htm and htu (§4.3 #8, #9) and the token's ath (§4.3 #12). Every request a new proof:
    the token's verification is cached, the proof never is."""
    token = bound(target.engine.settings)
    for _ in range(3):
        reply = dpop_get(target, token, KEY.proof("GET", URL, token))
        assert reply.status == 200 and reply.json()["user"] == "alice"
        assert reply.headers["x-user-enabled"] == "true" and "dpop-nonce" not in reply.headers
    assert target.engine.metrics.token_cache_hits >= 2


def test_a_bound_token_without_its_proof_is_refused(target: Target) -> None:
    """§7.1 and the issue's downgrade rule: a copy of a DPoP-bound token sent as Bearer is worth
    nothing; in ``allow`` both challenges are offered (§7.2), no logout signal."""
    token = bound(target.engine.settings)
    reply = target.get(token)
    assert (reply.status, reason(reply)) == (401, "dpop_required")
    assert challenge(reply) == (
        'Bearer realm="api", error="invalid_token", error_description="The access token needs a DPoP proof '
        '(Authorization: DPoP)", DPoP realm="api", algs="ES256 EdDSA"'
    )
    assert "x-user-enabled" not in reply.headers


@pytest.mark.parametrize(
    ("proofs", "expected"),
    [
        pytest.param(lambda token: [], "invalid_dpop_proof", id="§4.3 #1: no DPoP field"),
        pytest.param(
            lambda token: [KEY.proof("GET", URL, token), KEY.proof("GET", URL, token)],
            "invalid_dpop_proof",
            id="§4.3 #1: two DPoP fields",
        ),
        pytest.param(lambda token: [ProofKey().proof("GET", URL, token)], "dpop_binding", id="§6.1: another key"),
        pytest.param(lambda token: [KEY.proof("POST", URL, token)], "invalid_dpop_proof", id="§4.3 #8: htm"),
        pytest.param(lambda token: [KEY.proof("get", URL, token)], "invalid_dpop_proof", id="§4.3 #8: htm case"),
        pytest.param(
            lambda token: [KEY.proof("GET", ORIGIN + "/public", token)], "invalid_dpop_proof", id="§4.3 #9: htu path"
        ),
        pytest.param(
            lambda token: [KEY.proof("GET", "https://evil.example/api/me", token)],
            "invalid_dpop_proof",
            id="§4.3 #9: htu origin",
        ),
        pytest.param(lambda token: [KEY.proof("GET", URL)], "invalid_dpop_proof", id="§4.3 #12: no ath"),
        pytest.param(
            lambda token: [KEY.proof("GET", URL, token, ath=ath(token + "x"))],
            "invalid_dpop_proof",
            id="§4.3 #12: another token's ath",
        ),
        pytest.param(
            lambda token: [KEY.proof("GET", URL, token, iat=int(time.time()) - 3600)],
            "invalid_dpop_proof",
            id="§4.3 #11: an old proof",
        ),
        pytest.param(
            lambda token: [KEY.proof("GET", URL, token, header={"typ": "JWT"})],
            "invalid_dpop_proof",
            id="§4.3 #4: typ",
        ),
        pytest.param(
            lambda token: [ProofKey("RS256").proof("GET", URL, token)], "invalid_dpop_proof", id="§4.3 #5: alg"
        ),
        pytest.param(
            lambda token: [KEY.proof("GET", URL, token, header={"jwk": {**KEY.jwk, "d": "AAAA"}})],
            "invalid_dpop_proof",
            id="§4.3 #7: a private key",
        ),
        pytest.param(lambda token: ["not-a-proof"], "invalid_dpop_proof", id="§4.3 #2: no JWS"),
        pytest.param(lambda token: ["e" * 20000], "invalid_dpop_proof", id="a huge proof"),
        pytest.param(lambda token: [token], "invalid_dpop_proof", id="the access token as its own proof"),
    ],
)
def test_a_bad_proof_is_refused_with_the_dpop_challenge(
    target: Target, proofs: Callable[[str], list[str]], expected: str
) -> None:
    """§7.1: a failed check of §4.3 is ``invalid_dpop_proof``, a failed key binding ``invalid_token``,
    each in the DPoP challenge (the scheme the request used), Bearer offered bare; never a 500, never
    the proof or the token in the answer."""
    token = bound(target.engine.settings)
    sent = proofs(token)
    reply = dpop_get(target, token, *sent)
    assert (reply.status, reason(reply)) == (401, expected)
    error = "invalid_token" if expected == "dpop_binding" else "invalid_dpop_proof"
    assert challenge(reply).startswith(f'DPoP realm="api", algs="ES256 EdDSA", error="{error}"')
    assert challenge(reply).endswith(', Bearer realm="api"')
    assert token.encode() not in reply.body and all(proof.encode() not in reply.body for proof in sent)
    assert dpop_get(target, token, KEY.proof("GET", URL, token)).status == 200  # nothing was spoilt


def test_a_proof_is_used_once(target: Target) -> None:
    """§11.1: a proof replayed (within its lifetime) is refused; the next fresh one passes."""
    token = bound(target.engine.settings)
    proof = KEY.proof("GET", URL, token)
    assert dpop_get(target, token, proof).status == 200
    replay = dpop_get(target, token, proof)
    assert (replay.status, reason(replay)) == (401, "invalid_dpop_proof")
    assert dpop_get(target, token, KEY.proof("GET", URL, token)).status == 200


def test_an_unbound_token_with_the_dpop_scheme_is_refused(target: Target) -> None:
    """§7.1: the DPoP scheme asks the resource server to check the token's binding to the proof's
    key; a token bound to none fails it (``invalid_token``). As Bearer (``allow``) it passes."""
    token = issue_token(target.engine.settings, "alice")
    reply = dpop_get(target, token, KEY.proof("GET", URL, token))
    assert (reply.status, reason(reply)) == (401, "dpop_binding")
    assert target.get(token).status == 200


def test_the_usual_checks_still_apply_to_a_bound_token(target: Target, build: Callable[..., Target]) -> None:
    """A proof proves the key, nothing else: an expired token or a disabled user is refused as ever,
    and the refusal that ends the login carries its signal."""
    settings = target.engine.settings
    old = bound(settings, ttl=1, now=time.time() - 60)
    assert reason(dpop_get(target, old, KEY.proof("GET", URL, old))) == "expired"
    token = bound(settings)
    with closing(Admin(settings)) as admin:
        admin.disable_user("alice")
    reply = dpop_get(target, token, KEY.proof("GET", URL, token))
    assert (reason(reply), reply.headers.get("x-user-enabled")) == ("disabled", "false")
    assert 'DPoP realm="api", algs="ES256 EdDSA", error="invalid_token"' in challenge(reply)


def test_require_accepts_only_dpop(build: Callable[..., Target], sqlite_url: str) -> None:
    """``JWTGUARD_DPOP=require``: Bearer is refused whatever the token; only the DPoP challenge is offered
    (§7.1, Figure 15: ``WWW-Authenticate: DPoP algs=...`` for a request without credentials)."""
    target = build(dpop_settings(sqlite_url, dpop="require"))
    settings = target.engine.settings
    plain = issue_token(settings, "alice")
    reply = target.get(plain)
    assert (reply.status, reason(reply)) == (401, "dpop_required")
    assert challenge(reply).startswith('DPoP realm="api", algs="ES256 EdDSA", error="invalid_token"')
    assert "Bearer" not in challenge(reply)
    assert challenge(target.get(None)) == 'DPoP realm="api", algs="ES256 EdDSA"'
    token = bound(settings)
    assert dpop_get(target, token, KEY.proof("GET", URL, token)).status == 200


def test_off_ignores_the_dpop_scheme_but_never_accepts_a_bound_token(
    build: Callable[..., Target], sqlite_url: str
) -> None:
    """``JWTGUARD_DPOP=off`` (the default): ``DPoP`` is another scheme (RFC 6750 §3.1: no credentials),
    and a DPoP-bound token is still refused as Bearer: the binding is never silently dropped."""
    target = build(dpop_settings(sqlite_url, dpop="off"))
    token = bound(target.engine.settings)
    reply = dpop_get(target, token, KEY.proof("GET", URL, token))
    assert (reply.status, reason(reply), challenge(reply)) == (401, "missing_token", 'Bearer realm="api"')
    assert reason(target.get(token)) == "dpop_required"
    assert target.get(issue_token(target.engine.settings, "alice")).status == 200


def test_the_url_is_the_requests_own_without_an_external_origin(build: Callable[..., Target], sqlite_url: str) -> None:
    """§4.3 #9: without JWTGUARD_EXTERNAL_ORIGIN the htu is the scheme and Host the server saw, and the
    path; the query is no part of it (§4.2), a default port changes nothing (RFC 3986 §6.2.3)."""
    target = build(dpop_settings(sqlite_url, external_origin=None))
    token = bound(target.engine.settings)
    headers = [("Host", "app.test"), ("Authorization", f"DPoP {token}")]
    url = "http://app.test:80/api/me"
    reply = target.request("GET", "/api/me?x=1", [*headers, ("DPoP", KEY.proof("GET", url, token))])
    assert reply.status == 200
    other = target.request("GET", "/api/me", [*headers, ("DPoP", KEY.proof("GET", URL, token))])
    assert reason(other) == "invalid_dpop_proof"


def test_the_request_target_is_what_the_client_sent() -> None:
    """§4.3 #9 under a mount: the target is the whole path, prefix included, percent-encoded as a URL
    holds it (WSGI hands over latin-1 text of the bytes; ASGI its raw_path)."""
    environ = {"REQUEST_METHOD": "GET", "SCRIPT_NAME": "/app", "PATH_INFO": "/api/\xc3\xa9", "HTTP_DPOP": "p"}
    request = wsgi_request(environ, dpop=True)
    assert (request.target, request.dpop) == ("/app/api/%C3%A9", ("p",))
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/app/api/é",
        "raw_path": b"/app/api/%C3%A9?q=1",
        "root_path": "/app",
        "headers": [(b"dpop", b"p"), (b"dpop", b"q")],
    }
    request = asgi_request(scope, dpop=True)
    assert (request.path, request.target, request.dpop) == ("/api/é", "/app/api/%C3%A9", ("p", "q"))
    assert wsgi_request(environ).dpop == () and asgi_request(scope).target == ""  # off: never read
    # PEP 3333's URL reconstruction without a Host field (HTTP/1.0): SERVER_NAME and a port not the default
    http10 = {**environ, "SERVER_NAME": "api.example", "SERVER_PORT": "8443", "wsgi.url_scheme": "https"}
    assert wsgi_request(http10, dpop=True).url() == "https://api.example:8443/app/api/%C3%A9"
    assert wsgi_request({**http10, "SERVER_PORT": "443"}, dpop=True).url() == "https://api.example/app/api/%C3%A9"
    assert wsgi_request({**http10, "HTTP_HOST": "h.example"}, dpop=True).url() == "https://h.example/app/api/%C3%A9"


# -- server nonces (§8, §9) ---------------------------------------------------------------------


def test_a_nonce_is_asked_for_then_accepted(build: Callable[..., Target], sqlite_url: str) -> None:
    """§9: with nonces required, a proof without one is answered 401 ``use_dpop_nonce`` with the nonce in
    ``DPoP-Nonce``; the retry with it passes; §8.2: a nonce of the previous period still passes and the
    answer carries the new one, which the client uses from then on."""
    clock = [time.time() + 1]  # the proofs' whole-second iat is never ahead of it
    target = build(dpop_settings(sqlite_url, dpop_nonce=True, dpop_nonce_key=NONCE_KEY), clock=lambda: clock[0])
    token = bound(target.engine.settings, now=clock[0])
    first = dpop_get(target, token, KEY.proof("GET", URL, token))
    assert (first.status, reason(first)) == (401, "use_dpop_nonce")
    assert 'error="use_dpop_nonce"' in challenge(first)
    nonce = first.headers["dpop-nonce"]
    assert nonce == mint_nonce(NONCE_KEY.encode(), clock[0], 60.0)
    retry = dpop_get(target, token, KEY.proof("GET", URL, token, nonce=nonce))
    assert retry.status == 200 and "dpop-nonce" not in retry.headers
    clock[0] += 60  # the next period: the old nonce is still good, and a new one is handed out
    later = dpop_get(target, token, KEY.proof("GET", URL, token, nonce=nonce, iat=int(clock[0])))
    assert later.status == 200 and later.headers["dpop-nonce"] == mint_nonce(NONCE_KEY.encode(), clock[0], 60.0)
    clock[0] += 120  # two periods on: the nonce is stale
    stale = dpop_get(target, token, KEY.proof("GET", URL, token, nonce=nonce, iat=int(clock[0])))
    assert (reason(stale), "dpop-nonce" in stale.headers) == ("use_dpop_nonce", True)
    forged = dpop_get(target, token, KEY.proof("GET", URL, token, nonce="A" * 32, iat=int(clock[0])))
    assert reason(forged) == "use_dpop_nonce"


# -- several processes (§11.1: the replay check is the server's, whichever worker answers) ---------


def test_a_proof_replayed_against_another_worker_is_refused_with_the_store(
    build: Callable[..., Target], store_url: str
) -> None:
    """``JWTGUARD_DPOP_REPLAY=store``: two guards (two workers) on one store, the proof used at one is
    refused at the other; with ``process`` each remembers its own (why the store mode exists)."""
    shared = dpop_settings(store_url, dpop_replay="store")
    first, second = build(shared), build(shared)
    token = bound(shared)
    proof = KEY.proof("GET", URL, token)
    assert dpop_get(first, token, proof).status == 200
    assert reason(dpop_get(second, token, proof)) == "invalid_dpop_proof"
    assert reason(dpop_get(first, token, proof)) == "invalid_dpop_proof"
    assert dpop_get(second, token, KEY.proof("GET", URL, token)).status == 200
    alone = dpop_settings(store_url)
    one, other = build(alone), build(alone)
    proof = KEY.proof("GET", URL, token)
    assert dpop_get(one, token, proof).status == 200
    assert dpop_get(other, token, proof).status == 200  # per process: the other worker cannot know


# -- introspection (§6.2) -------------------------------------------------------------------------


def test_introspection_names_the_key_of_a_bound_token(
    build: Callable[..., Target], adapter: str, sqlite_url: str
) -> None:
    """§6.2: an active DPoP-bound token is introspected with its ``cnf.jkt`` and token_type DPoP; the
    gateway asking holds no proof, and needs none."""
    settings = dpop_settings(sqlite_url)
    wrap = EndpointsWSGI if adapter == "wsgi" else EndpointsASGI
    target = build(settings, outer=lambda guard: wrap(guard, settings=settings))
    token = bound(settings)
    basic = ("Authorization", "Basic Z3c6Z3ctc2VjcmV0LTE=")  # gw:gw-secret-1
    form = ("Content-Type", "application/x-www-form-urlencoded")
    reply = target.request("POST", "/oauth/introspect", [basic, form], f"token={token}".encode())
    document = reply.json()
    assert document["active"] is True and document["token_type"] == "DPoP"
    assert document["cnf"] == {"jkt": KEY.jkt}


# -- hostile requests: every one a 4xx with the body's two members, never the token or proof --------


def _hostile(token: str) -> list[tuple[str, list[tuple[str, str | bytes]], str]]:
    good = KEY.proof("GET", URL, token)
    huge_rsa = {"kty": "RSA", "n": "A" * 2800, "e": "AQAB"}  # 16 800 bits
    off_curve = {**KEY.jwk, "y": KEY.jwk["x"]}  # a point not on P-256
    return [
        ("scheme-alone", [("Authorization", "DPoP")], "malformed"),
        ("scheme-tab", [("Authorization", f"DPoP\t{token}"), ("DPoP", good)], "malformed"),
        ("two-tokens", [("Authorization", f"DPoP {token} {token}"), ("DPoP", good)], "multiple_credentials"),
        (
            "bearer-and-dpop",
            [("Authorization", f"Bearer {token}"), ("Authorization", f"DPoP {token}"), ("DPoP", good)],
            "multiple_credentials",
        ),
        ("proof-bytes", [("Authorization", f"DPoP {token}"), ("DPoP", b"\xff\xfe.\x80.\xc0")], "invalid_dpop_proof"),
        ("proof-empty", [("Authorization", f"DPoP {token}"), ("DPoP", "")], "invalid_dpop_proof"),
        ("proof-comma", [("Authorization", f"DPoP {token}"), ("DPoP", good + "," + good)], "invalid_dpop_proof"),
        (
            "iat-infinity",
            [("Authorization", f"DPoP {token}"), ("DPoP", KEY.proof("GET", URL, token, iat=float("inf")))],
            "invalid_dpop_proof",
        ),
        (
            "jwk-huge-rsa",
            [("Authorization", f"DPoP {token}"), ("DPoP", KEY.proof("GET", URL, token, header={"jwk": huge_rsa}))],
            "invalid_dpop_proof",
        ),
        (
            "jwk-off-curve",
            [("Authorization", f"DPoP {token}"), ("DPoP", KEY.proof("GET", URL, token, header={"jwk": off_curve}))],
            "invalid_dpop_proof",
        ),
        (
            "alg-none",
            [
                ("Authorization", f"DPoP {token}"),
                ("DPoP", _unsigned({"typ": "dpop+jwt", "alg": "none", "jwk": KEY.jwk})),
            ],
            "invalid_dpop_proof",
        ),
        (
            "jti-10kb",
            [("Authorization", f"DPoP {token}"), ("DPoP", KEY.proof("GET", URL, token, jti="j" * 10_240))],
            "invalid_dpop_proof",
        ),
        ("token-not-token68", [("Authorization", "DPoP a!b.c.d"), ("DPoP", good)], "malformed"),
    ]


def _unsigned(header: dict[str, Any]) -> str:
    """A proof signed by nobody (``alg: none``, an empty signature), for *header* with KEY's jwk."""
    header = {**header, "jwk": KEY.jwk}

    def part(value: Any) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part(header)}.{part({'jti': 'x', 'htm': 'GET', 'htu': URL, 'iat': int(time.time())})}."


def test_hostile_dpop_requests_are_refused(target: Target) -> None:
    """No input in the DPoP scheme or field is a 5xx, an accept, or an answer holding what was sent."""
    token = bound(target.engine.settings)
    for name, headers, expected in _hostile(token):
        reply = target.request("GET", "/api/me", headers)
        assert 400 <= reply.status < 500 and reason(reply) == expected, name
        assert set(reply.json()) == {"error", "reason"} and "x-user-enabled" not in reply.headers, name
        for _, value in headers:
            text = value.decode("latin-1") if isinstance(value, bytes) else value
            assert len(text) < 12 or text not in reply.body.decode("latin-1"), name
    assert dpop_get(target, token, KEY.proof("GET", URL, token)).status == 200


def test_expired_proof_notes_are_deleted_as_proofs_are_noted(build: Callable[..., Target], sqlite_url: str) -> None:
    """README (DPoP, replay with ``store``): every 1024 proofs noted, the engine deletes the notes
    that have expired (no TTL index on the embedded store or FerretDB); live ones stay."""
    settings = dpop_settings(sqlite_url, dpop_replay="store")
    target = build(settings)
    store = open_store(settings)
    try:
        old = time.time() - 600
        assert store.run(flows.use_once("an-old-proof", now=old, expires=old + 61))  # type: ignore[attr-defined]
        token = bound(settings)
        target.engine._spent = _PRUNE_PROOFS_EVERY - 2
        proof = KEY.proof("GET", URL, token)
        assert dpop_get(target, token, proof).status == 200  # the 1023rd note: nothing pruned yet
        assert store.run(flows.used("an-old-proof")) is True  # type: ignore[attr-defined]
        assert dpop_get(target, token, KEY.proof("GET", URL, token)).status == 200  # the 1024th: pruned
        assert store.run(flows.used("an-old-proof")) is False  # type: ignore[attr-defined]
        assert reason(dpop_get(target, token, proof)) == "invalid_dpop_proof"  # a live note stays
    finally:
        store.close()
