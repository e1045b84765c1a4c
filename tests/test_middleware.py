"""Both adapters, through real Flask and Starlette apps, against the real MongoDB-wire server."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from jwtguard import Admin, Settings, issue_token

from conftest import SECRET, bearer


def token_for(user: str | int, *, secret: str = SECRET, algorithm: str = "HS256", **claims: Any) -> str:
    now = time.time()
    payload: dict[str, Any] = {"sub": user, "iat": int(now) - 10, "exp": int(now) + 600}
    payload.update(claims)
    return jwt.encode(payload, secret, algorithm=algorithm)


def test_valid_token_reaches_the_app_with_its_claims(make_client: Any, settings: Settings, users: Any) -> None:
    users.insert_one({"_id": "alice", "user_enabled": True})
    client = make_client(settings)
    reply = client("GET", "/api/me", bearer(token_for("alice", role="admin")))
    assert reply.status == 200
    assert reply.headers["x-user-enabled"] == "true"
    assert reply.json()["user"] == "alice"
    assert reply.json()["claims"]["role"] == "admin"


def test_integer_user_id(make_client: Any, settings: Settings, users: Any) -> None:
    users.insert_one({"_id": 42})
    reply = make_client(settings)("GET", "/api/me", bearer(token_for(42)))
    assert reply.status == 200
    assert reply.json()["user"] == 42


def test_objectid_user_matched_by_its_hex(make_client: Any, settings: Settings, users: Any) -> None:
    from bson import ObjectId

    oid = ObjectId()
    users.insert_one({"_id": oid, "user_enabled": True})
    reply = make_client(settings)("GET", "/api/me", bearer(token_for(str(oid))))
    assert reply.status == 200


def test_exempt_path_passes_without_token(make_client: Any, settings: Settings) -> None:
    reply = make_client(settings)("GET", "/public")
    assert reply.status == 200
    assert "x-user-enabled" not in reply.headers


def test_missing_token_is_a_bare_challenge(make_client: Any, settings: Settings) -> None:
    reply = make_client(settings)("GET", "/api/me")
    assert reply.status == 401
    assert reply.headers["www-authenticate"] == 'Bearer realm="api"'
    assert reply.headers["cache-control"] == "no-store"
    assert reply.json() == {"error": "unauthorized", "reason": "missing_token"}
    assert "x-user-enabled" not in reply.headers


@pytest.mark.parametrize(
    "value",
    ["Bearer", "Bearer ", "Bearer\tabc.def.ghi", "Bearer abc!def", "Bearer ab\u00e9"],
    ids=["no-token", "empty-token", "tab", "bad-char", "latin1"],
)
def test_malformed_header_is_400(make_client: Any, settings: Settings, value: str) -> None:
    reply = make_client(settings)("GET", "/api/me", [("Authorization", value.encode("latin-1"))])
    assert reply.status == 400
    assert 'error="invalid_request"' in reply.headers["www-authenticate"]
    assert reply.json()["error"] == "invalid_request"


def test_two_authorization_headers_are_400(make_client: Any, settings: Settings, users: Any) -> None:
    users.insert_one({"_id": "alice"})
    token = token_for("alice")
    reply = make_client(settings)("GET", "/api/me", [("Authorization", f"Bearer {token}")] * 2)
    assert reply.status == 400
    assert reply.json() == {"error": "invalid_request", "reason": "multiple_credentials"}


def test_two_credentials_in_one_header_are_400(make_client: Any, settings: Settings, users: Any) -> None:
    token = token_for("alice")
    reply = make_client(settings)("GET", "/api/me", [("Authorization", f"Bearer {token} {token}")])
    assert reply.status == 400


def test_scheme_is_case_insensitive(make_client: Any, settings: Settings, users: Any) -> None:
    users.insert_one({"_id": "alice"})
    client = make_client(settings)
    for scheme in ("bearer", "BEARER", "BeArEr"):
        assert client("GET", "/api/me", [("Authorization", f"{scheme} {token_for('alice')}")]).status == 200


def test_oversized_header_is_refused_before_decoding(make_client: Any, settings: Settings) -> None:
    reply = make_client(settings)("GET", "/api/me", bearer("a" * 9000))
    assert reply.status == 431
    assert reply.json()["reason"] == "header_too_large"


def assert_invalid_token(reply: Any, reason: str) -> None:
    assert reply.status == 401, reply.body
    assert reply.json() == {"error": "invalid_token", "reason": reason}
    challenge = reply.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="api", error="invalid_token", error_description="')
    assert reply.headers["cache-control"] == "no-store"


def test_expired_token(make_client: Any, settings: Settings, users: Any) -> None:
    users.insert_one({"_id": "alice"})
    token = token_for("alice", iat=int(time.time()) - 100, exp=int(time.time()) - 1)
    reply = make_client(settings)("GET", "/api/me", bearer(token))
    assert_invalid_token(reply, "expired")
    assert "x-user-enabled" not in reply.headers


def test_garbage_token(make_client: Any, settings: Settings) -> None:
    reply = make_client(settings)("GET", "/api/me", bearer("not.a.jwt"))
    assert_invalid_token(reply, "invalid")
    assert token_for("x") not in reply.body.decode()


def test_wrong_key(make_client: Any, settings: Settings, users: Any) -> None:
    users.insert_one({"_id": "alice", "user_enabled": False})
    reply = make_client(settings)("GET", "/api/me", bearer(token_for("alice", secret="another-secret-" * 4)))
    assert_invalid_token(reply, "invalid")
    # A forged token learns nothing about the account.
    assert "x-user-enabled" not in reply.headers


def test_wrong_algorithm(make_client: Any, settings: Settings, users: Any) -> None:
    users.insert_one({"_id": "alice"})
    reply = make_client(settings)("GET", "/api/me", bearer(token_for("alice", algorithm="HS512", secret=SECRET * 2)))
    assert_invalid_token(reply, "invalid")


def test_alg_none(make_client: Any, settings: Settings, users: Any) -> None:
    users.insert_one({"_id": "alice"})
    token = jwt.encode({"sub": "alice", "iat": int(time.time()), "exp": int(time.time()) + 60}, None, algorithm="none")  # type: ignore[arg-type]  # PyJWT takes key None for "none"
    assert_invalid_token(make_client(settings)("GET", "/api/me", bearer(token)), "invalid")


@pytest.mark.parametrize("missing", ["exp", "iat", "sub"])
def test_required_claims(make_client: Any, settings: Settings, users: Any, missing: str) -> None:
    users.insert_one({"_id": "alice"})
    now = int(time.time())
    payload = {"sub": "alice", "iat": now, "exp": now + 60}
    del payload[missing]
    token = jwt.encode(payload, SECRET, algorithm="HS256")
    assert_invalid_token(make_client(settings)("GET", "/api/me", bearer(token)), "invalid")


@pytest.mark.parametrize("sub", [{"$ne": None}, ["alice"], True, 1.5, 2**70, "", "x" * 300])
def test_user_claim_is_validated_before_any_query(make_client: Any, settings: Settings, users: Any, sub: Any) -> None:
    users.insert_one({"_id": "alice"})
    now = int(time.time())
    token = jwt.encode({"sub": sub, "iat": now, "exp": now + 60}, SECRET, algorithm="HS256")
    assert_invalid_token(make_client(settings)("GET", "/api/me", bearer(token)), "invalid")


def test_disabled_user(make_client: Any, settings: Settings, users: Any) -> None:
    users.insert_one({"_id": "alice", "user_enabled": False})
    reply = make_client(settings)("GET", "/api/me", bearer(token_for("alice")))
    assert_invalid_token(reply, "disabled")
    assert reply.headers["x-user-enabled"] == "false"


@pytest.mark.parametrize("value", [0, None, "false", "true", "yes"])
def test_any_enabled_value_but_true_disables(make_client: Any, settings: Settings, users: Any, value: Any) -> None:
    users.insert_one({"_id": "alice", "user_enabled": value})
    assert_invalid_token(make_client(settings)("GET", "/api/me", bearer(token_for("alice"))), "disabled")


def test_unknown_user(make_client: Any, settings: Settings, users: Any) -> None:
    reply = make_client(settings)("GET", "/api/me", bearer(token_for("ghost")))
    assert_invalid_token(reply, "unknown_user")
    assert reply.headers["x-user-enabled"] == "false"


def test_unknown_user_is_cached(make_client: Any, settings: Settings, users: Any) -> None:
    client = make_client(settings)
    for _ in range(5):
        assert client("GET", "/api/me", bearer(token_for("ghost"))).status == 401
    states = client.guard.engine.states
    assert states.misses == 1
    assert states.hits == 4


def test_stale_token_after_logout_everywhere(make_client: Any, settings: Settings, users: Any) -> None:
    users.insert_one({"_id": "alice"})
    client = make_client(settings)
    admin = Admin(settings)
    old = admin.issue_token("alice")
    assert client("GET", "/api/me", bearer(old)).status == 200
    assert admin.logout_everywhere("alice") is True
    fresh = admin.issue_token("alice")
    assert_invalid_token(client("GET", "/api/me", bearer(old)), "revoked")
    assert client("GET", "/api/me", bearer(fresh)).status == 200
    admin.close()


def test_same_second_relogin_with_whole_second_iat(make_client: Any, settings: Settings, users: Any) -> None:
    """A whole-second iat minted in the logout's second passes; one from the second before dies."""
    cut = datetime.now(timezone.utc).replace(microsecond=500_000)
    users.insert_one({"_id": "alice", "destroyAnyJWTbefore": cut})
    second = int(cut.timestamp())
    client = make_client(settings)
    same = token_for("alice", iat=second, exp=second + 600)
    before = token_for("alice", iat=second - 1, exp=second + 600)
    assert client("GET", "/api/me", bearer(same)).status == 200
    assert_invalid_token(client("GET", "/api/me", bearer(before)), "revoked")


def test_latest_not_before_field_wins(make_client: Any, mongo_uri: str, users: Any) -> None:
    settings = Settings(
        secret=SECRET, store_url=mongo_uri, not_before_fields=("destroyAnyJWTbefore", "passwordChangedAt")
    )
    now = time.time()
    users.insert_one(
        {
            "_id": "alice",
            "destroyAnyJWTbefore": datetime.fromtimestamp(now - 3600, timezone.utc),
            "passwordChangedAt": int((now - 5) * 1000),  # JavaScript Date.now() milliseconds
        }
    )
    client = make_client(settings)
    assert_invalid_token(client("GET", "/api/me", bearer(token_for("alice", iat=int(now) - 60))), "revoked")
    assert client("GET", "/api/me", bearer(token_for("alice", iat=int(now) - 1))).status == 200


@pytest.mark.parametrize("value", ["2020-01-01", {"at": 1}, [1], True])
def test_malformed_not_before_fails_closed(make_client: Any, settings: Settings, users: Any, value: Any) -> None:
    users.insert_one({"_id": "alice", "destroyAnyJWTbefore": value})
    assert_invalid_token(make_client(settings)("GET", "/api/me", bearer(token_for("alice"))), "revoked")


def test_admin_changes_apply_at_once_in_the_same_process(make_client: Any, settings: Settings, users: Any) -> None:
    users.insert_one({"_id": "alice"})
    client = make_client(settings.replace(cache_ttl=60))
    admin = Admin(settings)
    token = admin.issue_token("alice")
    assert client("GET", "/api/me", bearer(token)).status == 200
    admin.disable_user("alice")
    assert_invalid_token(client("GET", "/api/me", bearer(token)), "disabled")
    admin.enable_user("alice")
    assert client("GET", "/api/me", bearer(token)).status == 200
    assert admin.disable_user("nobody") is False
    admin.close()


def test_another_process_write_is_seen_within_the_ttl(make_client: Any, settings: Settings, users: Any) -> None:
    users.insert_one({"_id": "alice", "user_enabled": True})
    ttl = 0.5
    client = make_client(settings.replace(cache_ttl=ttl))
    token = token_for("alice")
    assert client("GET", "/api/me", bearer(token)).status == 200
    users.update_one({"_id": "alice"}, {"$set": {"user_enabled": False}})  # not through jwtguard
    written = time.monotonic()
    # Within the TTL the cached state may still answer; after it, never.
    deadline = written + ttl + 0.05
    while time.monotonic() < deadline:
        time.sleep(0.05)
    assert_invalid_token(client("GET", "/api/me", bearer(token)), "disabled")


def test_store_down_is_503_without_user_signal(make_client: Any, users: Any) -> None:
    from mongo_server import free_port

    settings = Settings(secret=SECRET, store_url=f"mongodb://127.0.0.1:{free_port()}/x", store_timeout=0.3)
    reply = make_client(settings)("GET", "/api/me", bearer(token_for("alice")))
    assert reply.status == 503
    assert reply.headers["retry-after"] == "5"
    assert reply.json() == {"error": "temporarily_unavailable", "reason": "store_unavailable"}
    assert "x-user-enabled" not in reply.headers


def test_rsa_public_key(make_client: Any, mongo_uri: str, users: Any) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem_public = (
        private.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    pem_private = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    users.insert_one({"_id": "alice"})
    settings = Settings(algorithms=("RS256",), public_key=pem_public, private_key=pem_private, store_url=mongo_uri)
    client = make_client(settings)
    assert client("GET", "/api/me", bearer(issue_token(settings, "alice"))).status == 200
    # HS/RS key confusion: the public key used as an HMAC secret.
    now = int(time.time())
    forged = jwt.api_jws.PyJWS().encode(
        jwt.utils.force_bytes(f'{{"sub":"alice","iat":{now},"exp":{now + 60}}}'),
        "x" * 32,
        algorithm="HS256",
    )
    assert_invalid_token(client("GET", "/api/me", bearer(forged)), "invalid")


@pytest.fixture
def jwks_server() -> Any:
    """A JWKS endpoint on 127.0.0.1 serving one RSA key; yields (url, private_key, request_count)."""
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid="k1", use="sig", alg="RS256")
    body = json.dumps({"keys": [jwk]}).encode()
    hits: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(1)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json", private, hits
    server.shutdown()
    server.server_close()


def test_jwks_keys(make_client: Any, mongo_uri: str, users: Any, jwks_server: Any) -> None:
    url, private, hits = jwks_server
    users.insert_one({"_id": "alice"})
    monotonic = [1000.0]
    client = make_client(Settings(algorithms=("RS256",), jwks_url=url, store_url=mongo_uri), timer=lambda: monotonic[0])
    now = int(time.time())
    good = jwt.encode({"sub": "alice", "iat": now, "exp": now + 60}, private, algorithm="RS256", headers={"kid": "k1"})
    assert client("GET", "/api/me", bearer(good)).status == 200
    assert client("GET", "/api/me", bearer(good)).status == 200
    assert len(hits) == 1  # keys fetched once, then cached
    unknown_kid = jwt.encode(
        {"sub": "alice", "iat": now, "exp": now + 60}, private, algorithm="RS256", headers={"kid": "other"}
    )
    monotonic[0] += 1
    # Inside the 30 s refetch cooldown an unknown kid may be a key just rotated in: 503, not a logout.
    assert client("GET", "/api/me", bearer(unknown_kid)).status == 503
    monotonic[0] += 30
    assert_invalid_token(client("GET", "/api/me", bearer(unknown_kid)), "invalid")  # after a re-read: 401
    assert len(hits) == 2


def test_websocket_handshake_is_guarded(settings: Settings, users: Any) -> None:
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from jwtguard import JWTGuardASGI

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"user": websocket.scope["jwtguard.user_id"]})
        await websocket.close()

    users.insert_one({"_id": "alice"})
    guard = JWTGuardASGI(Starlette(routes=[WebSocketRoute("/ws", echo)]), settings=settings)
    with TestClient(guard) as client:
        with client.websocket_connect("/ws", headers=dict(bearer(token_for("alice")))) as ws:
            assert ws.receive_json() == {"user": "alice"}
        with pytest.raises(WebSocketDisconnect) as refused, client.websocket_connect("/ws") as ws:
            ws.receive_json()
        assert refused.value.code == 1008
        client.portal.call(guard.close)  # type: ignore[union-attr]


@pytest.mark.parametrize("url", ["mongodb://user:hunter2@db:99999/x", "mongodb://"])
def test_unusable_mongodb_url_stops_start_up_naming_the_variable(url: str) -> None:
    from jwtguard import ConfigError, JWTGuardASGI, JWTGuardWSGI

    for adapter in (JWTGuardWSGI, JWTGuardASGI):
        with pytest.raises(ConfigError) as raised:
            adapter(lambda *a: None, settings=Settings(secret=SECRET, store_url=url))  # type: ignore[arg-type]
        assert raised.value.variable == "JWTGUARD_STORE_URL"
        assert "hunter2" not in str(raised.value)


def test_issue_token_refuses_a_bad_ttl(settings: Settings) -> None:
    for ttl in (0, -5, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            issue_token(settings, "alice", ttl=ttl)
