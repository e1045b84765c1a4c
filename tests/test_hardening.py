"""Issue 7 (security hardening), the request-side items: each test names the defect it covers.

OPTIONS requests (item 3), per-request claims (item 9), URL masking (item 10), explain on
absurd numbers (item 11), header-bound settings (item 12), same-second issued tokens (item 5),
scope types and WebSocket re-checks, through real Flask and Starlette apps on both adapters.
"""

from __future__ import annotations

import json
import logging
import math
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import jwt
import pytest
from harness import TARGETS, Target

from jwtguard import Admin, ConfigError, JWTGuardASGI, MemoryStore, Settings
from jwtguard.config import mask_url
from jwtguard.engine import Engine
from jwtguard.explain import explain, format_report
from jwtguard.invalidation import InvalidationBus
from jwtguard.sansio import FrozenDict, Request, freeze, is_stale
from jwtguard.tokens import issue_token

from conftest import SECRET, Reply, bearer

Call = Callable[..., Reply]

#: What the test apps' handlers return for a request that reached them.
PROTECTED = {"secret": "protected data"}


def _flask_app() -> Any:
    from flask import Flask, jsonify, request

    app = Flask(__name__)

    @app.route("/api/data", methods=["GET", "OPTIONS"])
    def data() -> Any:
        return jsonify(PROTECTED)

    @app.get("/api/claims")
    def claims() -> Any:
        # A newcomer's first line: the claims as JSON (a mappingproxy failed here with a 500).
        return jsonify(request.environ["jwtguard.claims"])

    @app.get("/api/mutate")
    def mutate() -> Any:
        return jsonify(_mutate(request.environ["jwtguard.claims"]))

    return app


def _starlette_app() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request as HTTPRequest
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def data(request: HTTPRequest) -> JSONResponse:
        return JSONResponse(PROTECTED)

    async def claims(request: HTTPRequest) -> JSONResponse:
        return JSONResponse(request.scope["jwtguard.claims"])

    async def mutate(request: HTTPRequest) -> JSONResponse:
        return JSONResponse(_mutate(request.scope["jwtguard.claims"]))

    return Starlette(
        routes=[
            Route("/api/data", data, methods=["GET", "OPTIONS"]),
            Route("/api/claims", claims),
            Route("/api/mutate", mutate),
        ]
    )


def _mutate(claims: dict[str, Any]) -> dict[str, Any]:
    """What an app might do to its claims; reports which changes were possible."""
    outcome: dict[str, Any] = {"type": type(claims).__name__}
    claims["added"] = "by this request"  # the request's own dict: allowed, seen by nobody else
    try:
        claims["roles"].append("admin")
        outcome["roles"] = "changed"
    except AttributeError:
        outcome["roles"] = "immutable"
    try:
        claims["profile"]["name"] = "mallory"
        outcome["profile"] = "changed"
    except TypeError:
        outcome["profile"] = "immutable"
    return outcome


@pytest.fixture
def store(tmp_path: Any) -> str:
    return f"sqlite:///{tmp_path / 'jwtguard.db'}"


@pytest.fixture
def client(adapter: str) -> Iterator[Callable[[Settings], Call]]:
    """A client for this file's own apps (a route that accepts OPTIONS) behind either adapter (the shared harness)."""
    targets: list[Target] = []

    def build(settings: Settings) -> Call:
        app = _flask_app() if adapter == "wsgi" else _starlette_app()
        target = TARGETS[adapter](settings, app=app)
        targets.append(target)
        return target.request

    yield build
    for target in reversed(targets):
        target.close()


def _settings(store: str, **options: Any) -> Settings:
    return Settings(secret=SECRET, store_url=store, **options)


def _known_user(settings: Settings, user: str = "alice") -> None:
    admin = Admin(settings)
    try:
        admin.create_user(user)
    finally:
        admin.close()


# -- item 3: OPTIONS ----------------------------------------------------------------------


PREFLIGHT = [("Origin", "https://app.example"), ("Access-Control-Request-Method", "GET")]


def test_options_without_a_token_is_refused_on_a_route_that_accepts_it(client: Any, store: str) -> None:
    """Issue 7 item 3: a plain OPTIONS request no longer bypasses the guard (it returned protected data)."""
    call = client(_settings(store))
    for headers in ([], [("Origin", "https://app.example")], [("Access-Control-Request-Method", "GET")]):
        reply = call("OPTIONS", "/api/data", headers)
        assert reply.status == 401, headers
        assert reply.json()["reason"] == "missing_token"
        assert b"protected" not in reply.body


def test_a_real_cors_preflight_passes_untouched(client: Any, store: str) -> None:
    """Issue 7 item 3: OPTIONS with Origin and Access-Control-Request-Method (Fetch §3.2.2) carries no token."""
    call = client(_settings(store))
    reply = call("OPTIONS", "/api/data", PREFLIGHT)
    assert reply.status == 200
    assert "x-user-enabled" not in reply.headers  # the guard did not judge it


def test_options_with_a_good_token_is_authenticated_like_get(client: Any, store: str) -> None:
    """Issue 7 item 3: OPTIONS is judged like any other method: a valid token passes, with the signal."""
    settings = _settings(store)
    _known_user(settings)
    call = client(settings)
    reply = call("OPTIONS", "/api/data", bearer(issue_token(settings, "alice")))
    assert reply.status == 200
    assert reply.json() == PROTECTED
    assert reply.headers["x-user-enabled"] == "true"


def test_listing_options_restores_the_old_bypass_with_a_warning(
    client: Any, store: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 7 item 3: JWTGUARD_EXEMPT_METHODS=OPTIONS is explicit, and start-up says what it exposes."""
    assert Settings.from_env({"JWTGUARD_SECRET": SECRET}).exempt_methods == ()
    with caplog.at_level(logging.WARNING, logger="jwtguard"):
        call = client(_settings(store, exempt_methods=("options",)))
    assert any(
        "JWTGUARD_EXEMPT_METHODS=OPTIONS" in r.getMessage() and "WITHOUT a token" in r.getMessage()
        for r in caplog.records
    )
    assert call("OPTIONS", "/api/data").json() == PROTECTED


@pytest.mark.parametrize("method", ["GET ", "OPT IONS", "", "GET\r\n"])
def test_exempt_methods_must_be_method_names(method: str) -> None:
    """Issue 7 item 12 (settings that end up in a request match): a bad method name names the variable."""
    with pytest.raises(ConfigError) as raised:
        Settings(secret=SECRET, exempt_methods=(method,))
    assert str(raised.value).startswith("JWTGUARD_EXEMPT_METHODS")


# -- item 9: claims -----------------------------------------------------------------------


def test_claims_are_a_plain_dict_per_request_and_nested_values_are_immutable(client: Any, store: str) -> None:
    """Issue 7 item 9: no request changes what another request with the same token sees; claims are JSON."""
    settings = _settings(store)
    _known_user(settings)
    call = client(settings)
    token = issue_token(settings, "alice", roles=["user"], profile={"name": "alice", "tags": ["a"]})
    first = call("GET", "/api/mutate", bearer(token))
    assert first.status == 200
    assert first.json() == {"type": "dict", "roles": "immutable", "profile": "immutable"}
    second = call("GET", "/api/claims", bearer(token))  # the same cached verification
    assert second.status == 200
    claims = second.json()
    assert claims["roles"] == ["user"]
    assert claims["profile"] == {"name": "alice", "tags": ["a"]}
    assert "added" not in claims
    assert claims["sub"] == "alice"


def test_frozen_claims_read_like_json_and_copy_cheaply() -> None:
    """Issue 7 item 9: frozen once at verification: tuples and a read-only dict subclass, JSON-serialisable."""
    frozen = freeze({"a": [1, {"b": [2]}], "c": {"d": {"e": None}}})
    assert frozen == {"a": (1, {"b": (2,)}), "c": {"d": {"e": None}}}
    assert isinstance(frozen, FrozenDict) and isinstance(frozen["c"]["d"], FrozenDict)
    assert json.loads(json.dumps(frozen)) == {"a": [1, {"b": [2]}], "c": {"d": {"e": None}}}
    inner = frozen["c"]
    changes: tuple[Callable[[], object], ...] = (
        lambda: inner.__setitem__("x", 1),
        lambda: inner.update(x=1),
        lambda: inner.pop("d"),
        lambda: inner.setdefault("x", 1),
        lambda: inner.clear(),
        lambda: inner.popitem(),
        lambda: inner.__delitem__("d"),
    )
    for change in changes:
        with pytest.raises(TypeError):
            change()
    import copy
    import pickle

    assert copy.deepcopy(frozen) == frozen
    assert pickle.loads(pickle.dumps(frozen)) == frozen
    assert type(inner.copy()) is dict  # a mutable copy when the app wants one


# -- item 5: issued tokens compare exactly ------------------------------------------------


def test_an_issued_token_on_a_whole_second_dies_at_a_logout_later_in_that_second() -> None:
    """Issue 7 item 5: issue_token's millisecond iat that lands on .000 still compares exactly."""
    settings = Settings(secret=SECRET)
    whole = float(math.floor(time.time()) - 30)
    token = issue_token(settings, "alice", now=whole)
    assert jwt.decode(token, options={"verify_signature": False})["iat"] == whole
    store = MemoryStore(settings)
    store.put("alice", {"destroyAnyJWTbefore": whole + 0.001})  # a logout later in that second
    engine = Engine(settings, store=store, clock=lambda: whole + 1, bus=InvalidationBus())
    assert engine.handle(Request("GET", "/api", (f"Bearer {token}",))).reason == "revoked"
    # A whole-second issuer (an integer iat) keeps the documented same-second window.
    assert not is_stale(int(whole), whole + 0.001)
    assert is_stale(whole, whole + 0.001)


def test_same_second_issued_token_is_refused_after_logout_through_the_adapter(
    make_client: Any, settings: Settings, users: Any
) -> None:
    """Issue 7 item 5, end to end: a cut-off 1 ms after a .000 iat refuses that token on both adapters."""
    whole = float(math.floor(time.time()) - 30)
    users.insert_one({"_id": "alice", "destroyAnyJWTbefore": datetime.fromtimestamp(whole + 0.001, timezone.utc)})
    call = make_client(settings)
    assert call("GET", "/api/me", bearer(issue_token(settings, "alice", now=whole))).json()["reason"] == "revoked"
    assert call("GET", "/api/me", bearer(issue_token(settings, "alice", now=whole + 0.001))).status == 200


# -- item 10: one masking rule for every output -------------------------------------------


MASKED = [
    ("mongodb://user:hunter2@db.example/app", "mongodb://user:***@db.example/app"),
    (
        "mongodb://db.example/app?replicaSet=rs0&authSource=admin",
        "mongodb://db.example/app?replicaSet=rs0&authSource=admin",
    ),
    (
        "mongodb://db.example/app?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:hunter2",
        "mongodb://db.example/app?authMechanism=MONGODB-AWS&authMechanismProperties=***",
    ),
    (
        "mongodb://h1:27017,h2:27017/app?tls=true&tlsCertificateKeyFilePassword=hunter2",
        "mongodb://h1:27017,h2:27017/app?tls=true&tlsCertificateKeyFilePassword=***",
    ),
    ("https://svc:hunter2@idp.example/jwks?api_key=hunter2&v=2", "https://svc:***@idp.example/jwks?api_key=***&v=2"),
    ("https://hunter2@idp.example/jwks", "https://***@idp.example/jwks"),
    ("https://idp.example/jwks?access_token=hunter2", "https://idp.example/jwks?access_token=***"),
    (
        "https://idp.example/jwks?X-Amz-Signature=hunter2&X-Amz-Credential=hunter2",
        "https://idp.example/jwks?X-Amz-Signature=***&X-Amz-Credential=***",
    ),
    ("https://idp.example/jwks#hunter2", "https://idp.example/jwks#***"),
    ("https://idp.example/.well-known/jwks.json", "https://idp.example/.well-known/jwks.json"),
    ("not a url hunter2", "***"),
    # review: a "#", "?" or "/" inside a password (pymongo reads up to the last "@" before the first "/")
    ("mongodb://user:hun#ter2@db/app", "mongodb://user:***@db/app"),
    ("https://user:hun#ter2@idp.example/jwks", "https://user:***@idp.example/jwks"),
    ("mongodb://user:hun?ter2@db/app?tls=true", "mongodb://user:***@db/app?tls=true"),
    ("mongodb://user:hun/ter2@db/app", "mongodb://***@db/app"),
    ("https://idp.example/jwks?email=a@b.example", "https://idp.example/jwks?email=a@b.example"),
]


@pytest.mark.parametrize(("url", "shown"), MASKED, ids=[shown for _, shown in MASKED])
def test_mask_url(url: str, shown: str) -> None:
    """Issue 7 item 10: passwords, tokens, keys and secret-looking values in any URL are masked."""
    assert mask_url(url) == shown
    assert "hunter2" not in mask_url(url)


def test_check_config_masks_secrets_inside_urls(tmp_path: Any) -> None:
    """Issue 7 item 10: `jwtguard check-config` printed MongoDB URL options and the JWKS URL's secrets."""
    import os

    from cryptography.hazmat.primitives.asymmetric import rsa  # noqa: F401 - the JWKS needs RS256 only

    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGUARD_")}
    env.update(
        JWTGUARD_ALGORITHMS="RS256",
        JWTGUARD_JWKS_URL="https://svc:hunter2@127.0.0.1:1/jwks?api_key=hunter2",
        JWTGUARD_STORE_URL=f"sqlite:///{tmp_path / 'jwtguard.db'}",
    )
    result = subprocess.run(
        [sys.executable, "-m", "jwtguard", "check-config"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "hunter2" not in result.stdout + result.stderr
    assert "JWTGUARD_JWKS_URL=https://svc:***@127.0.0.1:1/jwks?api_key=***" in result.stdout
    described = Settings(
        secret=SECRET,
        store_url="mongodb://u:hunter2@db/app?authMechanismProperties=AWS_SESSION_TOKEN:hunter2"
        "&tlsCertificateKeyFilePassword=hunter2",
    ).describe()
    assert "hunter2" not in str(described)


# -- item 11: explain never raises --------------------------------------------------------


def _unsigned(claims: str) -> str:
    """A token anyone can build without a key: header alg=none, any payload text."""
    import base64

    def b64(text: str) -> str:
        return base64.urlsafe_b64encode(text.encode()).rstrip(b"=").decode()

    header = b64('{"alg":"none","typ":"JWT"}')
    return f"{header}.{b64(claims)}."


HUGE = [
    '{"sub":"alice","iat":1,"exp":' + "9" * 400 + "}",
    '{"sub":"alice","iat":' + "9" * 400 + ',"exp":2}',
    '{"sub":"alice","iat":1,"exp":2,"nbf":-' + "9" * 400 + "}",
    '{"sub":"alice","iat":-1000000000000000000,"exp":1e400}',
]


@pytest.mark.parametrize("claims", HUGE, ids=["exp", "iat", "nbf", "mixed"])
def test_explain_says_fail_on_absurd_numbers(claims: str) -> None:
    """Issue 7 item 11: huge integer exp/nbf/iat in an unsigned token raised OverflowError."""
    rows = explain(_unsigned(claims), Settings(secret=SECRET), None, now=1_800_000_000.0)
    assert rows[-1].check == "verdict" and rows[-1].verdict == "fail"
    assert any(row.verdict == "fail" and "years 1 to 9999" in row.detail for row in rows), format_report(rows)


@pytest.mark.parametrize("claims", HUGE[:1])
def test_cli_explain_prints_a_report_not_a_traceback(claims: str, tmp_path: Any) -> None:
    """Issue 7 item 11: `jwtguard explain` crashed with a traceback and exit 1."""
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGUARD_")}
    env.update(JWTGUARD_SECRET=SECRET, JWTGUARD_STORE_URL=f"sqlite:///{tmp_path / 'jwtguard.db'}")
    result = subprocess.run(
        [sys.executable, "-m", "jwtguard", "explain", _unsigned(claims)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "Traceback" not in result.stderr
    assert result.returncode == 1  # refused: the exit code of every refused token (EXIT_NO_USER)
    assert "verdict" in result.stdout and "fail" in result.stdout


# -- item 12: settings that end up in a header --------------------------------------------


@pytest.mark.parametrize(
    "realm", ["api\u2603", "\u00e9t\u00e9\u20ac", "caf\u00e9", "a\tb", "api\n", "", 'a"b', "a\\b", "\x7f"]
)
def test_realm_must_fit_a_header(realm: str) -> None:
    """Issue 7 item 12: a realm outside latin-1 passed Settings, then crashed start-up (UnicodeEncodeError)."""
    with pytest.raises(ConfigError) as raised:
        Settings(secret=SECRET, realm=realm)
    assert str(raised.value).startswith("JWTGUARD_REALM")
    assert "printable ASCII" in str(raised.value)
    if realm.strip() == realm and realm:
        with pytest.raises(ConfigError, match="JWTGUARD_REALM"):
            Settings.from_env({"JWTGUARD_SECRET": SECRET, "JWTGUARD_REALM": realm})


def test_an_accepted_realm_travels_in_the_challenge(client: Any, store: str) -> None:
    """Issue 7 item 12: the accepted range really travels in WWW-Authenticate on both adapters."""
    call = client(_settings(store, realm="My API (v2) ~!#$%&'*+-.^_`|"))
    reply = call("GET", "/api/data")
    assert reply.status == 401
    assert reply.headers["www-authenticate"] == 'Bearer realm="My API (v2) ~!#$%&\'*+-.^_`|"'


# -- scope types and WebSockets -----------------------------------------------------------


def test_unknown_asgi_scope_types_fail_closed(store: str) -> None:
    """Issue 7 (scope types): a scope other than http/websocket/lifespan never reaches the app."""
    import asyncio

    reached: list[str] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        reached.append(scope["type"])

    guard = JWTGuardASGI(app, settings=_settings(store))

    async def receive() -> Any:
        return {"type": "lifespan.startup"}

    async def send(message: Any) -> None:
        pass

    async def run() -> None:
        with pytest.raises(RuntimeError, match="unsupported ASGI scope type 'webtransport'"):
            await guard({"type": "webtransport", "path": "/api/data", "headers": []}, receive, send)
        await guard({"type": "lifespan"}, receive, send)
        await guard.close()

    asyncio.run(run())
    assert reached == ["lifespan"]


def _echo_socket(settings: Settings) -> JWTGuardASGI:
    """A Starlette app behind the guard with one WebSocket, ``/ws``: it echoes each message while
    still_valid() says the handshake's credentials are good, and closes with 1008 when they are not."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.websockets import WebSocket

    async def chat(websocket: WebSocket) -> None:
        await websocket.accept()
        while True:
            text = await websocket.receive_text()
            if not await guard.still_valid(websocket.scope):
                await websocket.close(code=1008)
                return
            await websocket.send_text(f"echo {text}")

    guard = JWTGuardASGI(Starlette(routes=[WebSocketRoute("/ws", chat)]), settings=settings)
    return guard


def test_an_open_websocket_learns_that_its_user_was_revoked(store: str) -> None:
    """Issue 7 (WebSockets): checked at the handshake; still_valid() lets the app close a revoked user's socket."""
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    settings = _settings(store)
    _known_user(settings)
    guard = _echo_socket(settings)
    admin = Admin(settings)
    try:
        with TestClient(guard) as client:
            with client.websocket_connect("/ws", headers=dict(bearer(issue_token(settings, "alice")))) as ws:
                ws.send_text("one")
                assert ws.receive_text() == "echo one"
                admin.disable_user("alice")  # this process: the cached state is dropped at once
                ws.send_text("two")
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_text()
                assert closed.value.code == 1008
            client.portal.call(guard.close)  # type: ignore[union-attr]
    finally:
        admin.close()


def test_a_dpop_websocket_is_rechecked_without_its_handshake_proof(tmp_path: Any) -> None:
    """Issue 13: a WebSocket opened with a DPoP-bound token and its proof (RFC 9449 §7.1) is checked
    again by still_valid() without that single-use proof (checked once, at the handshake): it stays
    valid until its user is revoked. A handshake without the proof is refused."""
    from dpop_keys import ProofKey
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocketDisconnect

    settings = Settings(secret=SECRET, store_url=f"sqlite:///{tmp_path / 'ws.db'}", dpop="allow")
    _known_user(settings)
    guard = _echo_socket(settings)
    key = ProofKey()
    token = issue_token(settings, "alice", cnf={"jkt": key.jkt})
    admin = Admin(settings)
    try:
        with TestClient(guard) as client:
            proof = key.proof("GET", "http://testserver/ws", token)
            bare = {"Authorization": f"Bearer {token}"}
            with pytest.raises(WebSocketDisconnect), client.websocket_connect("/ws", headers=bare):
                pass  # a bound token without its proof: refused at the handshake
            headers = {"Authorization": f"DPoP {token}", "DPoP": proof}
            with client.websocket_connect("/ws", headers=headers) as ws:
                for text in ("one", "two"):
                    ws.send_text(text)
                    assert ws.receive_text() == f"echo {text}"
                admin.disable_user("alice")
                ws.send_text("three")
                with pytest.raises(WebSocketDisconnect) as closed:
                    ws.receive_text()
                assert closed.value.code == 1008
            client.portal.call(guard.close)  # type: ignore[union-attr]
    finally:
        admin.close()


def test_explain_never_raises_on_any_claims() -> None:
    """Issue 7 item 11 (the class): explain says fail and why for any payload anyone can build unsigned."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    numbers = st.integers() | st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(10**400), 10**400)
    leaves = st.none() | st.booleans() | numbers | st.text(max_size=20)
    values = st.recursive(
        leaves,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=8,
    )
    payloads = st.dictionaries(st.sampled_from(["sub", "iat", "exp", "nbf", "aud", "iss", "jti"]), values)

    @settings(max_examples=150, deadline=None)
    @given(payloads)
    def check(payload: dict[str, Any]) -> None:
        text = json.dumps(payload, allow_nan=True)
        rows = explain(_unsigned(text), Settings(secret=SECRET), None, now=1_800_000_000.0)
        assert rows[-1].check == "verdict" and rows[-1].verdict == "fail"
        format_report(rows)

    check()


@pytest.mark.parametrize("leeway", [0, 0.5, 30])
def test_the_time_rule_is_one_rule(leeway: float) -> None:
    """Issue 11: time_reason (every request) writes out time_claim_fails (explain's rows): one answer for both."""
    from jwtguard.sansio.claims import Verified, time_claim_fails, time_reason

    now = 1_800_000_000.25
    around = [now + delta for delta in (-31, -30.5, -30, -1, -0.5, -0.25, 0, 0.25, 0.5, 1, 30, 30.5, 31)]
    around += [int(now) + delta for delta in (-30, -1, 0, 1, 30)]
    for exp in around:
        for iat in around:
            for nbf in [None, *around]:
                expected = (
                    "expired"
                    if time_claim_fails("exp", exp, now, leeway)
                    else "invalid"
                    if time_claim_fails("iat", iat, now, leeway)
                    or (nbf is not None and time_claim_fails("nbf", nbf, now, leeway))
                    else None
                )
                verified = Verified({}, "alice", iat, exp, nbf, None, None)  # type: ignore[arg-type]
                assert time_reason(verified, now, leeway) == expected, (exp, iat, nbf)
