"""Issue 7: the JWKS key source, through both adapters, against a real JWKS server on 127.0.0.1.

The server (``JWKSServer``) serves whatever key set and status the test sets, and counts requests.
Time is a fake monotonic clock handed to the guard (``timer=``), reaching the JWKS lifespan, the
refetch cooldown, the token cache and the state cache; no test sleeps to let time pass. Token time
claims are checked against a frozen wall clock (``clock=``).
"""

from __future__ import annotations

import json
import threading
import time
import warnings
from collections.abc import Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from jwtguard import ConfigError, JWTGuardASGI, JWTGuardWSGI, Settings
from jwtguard.explain import ERROR, FAIL, OK, explain
from jwtguard.keys import KeySource, key_algorithms

from conftest import SECRET

NOW = int(time.time())
USER = "alice"


def clock() -> float:
    return float(NOW)


class FakeTimer:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class JWKSServer:
    """A JWKS endpoint on 127.0.0.1: ``keys``, ``status`` and ``mode`` are read on every request.

    ``mode`` is ``"ok"`` (JSON body with ``status``), ``"html"`` (a 200 that is not JSON) or
    ``"reset"`` (the connection is closed without an answer). ``delay`` holds each answer back.
    """

    def __init__(self) -> None:
        self.keys: list[dict[str, Any]] = []
        self.status = 200
        self.mode = "ok"
        self.delay = 0.0
        self.hits = 0
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with server._lock:
                    server.hits += 1
                if server.delay:
                    time.sleep(server.delay)
                if server.mode == "reset":
                    self.close_connection = True
                    return
                body = b"<html>maintenance</html>" if server.mode == "html" else json.dumps({"keys": server.keys})
                data = body if isinstance(body, bytes) else body.encode()
                self.send_response(server.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/jwks.json"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)


@pytest.fixture
def idp() -> Iterator[JWKSServer]:
    server = JWKSServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


@cache
def rsa_key(name: str, bits: int = 2048) -> rsa.RSAPrivateKey:
    if bits < 2048:
        with warnings.catch_warnings():  # cryptography may warn about small keys
            warnings.simplefilter("ignore")
            return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@cache
def ec_key(name: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def jwk(private: Any, kid: str, **members: Any) -> dict[str, Any]:
    """The public JWK of *private* with *kid* and the given members (None drops one)."""
    data: dict[str, Any]
    if isinstance(private, rsa.RSAPrivateKey):
        data = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    elif isinstance(private, ec.EllipticCurvePrivateKey):
        data = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    else:
        data = json.loads(jwt.algorithms.OKPAlgorithm.to_jwk(private.public_key()))
    data["kid"] = kid
    for name, value in members.items():
        if value is None:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def token(private: Any, kid: str | None, alg: str = "RS256", **claims: Any) -> str:
    body = {"sub": USER, "iat": NOW - 10, "exp": NOW + 3600, **claims}
    headers = {} if kid is None else {"kid": kid}
    return jwt.encode(body, private, algorithm=alg, headers=headers)


def settings_for(idp: JWKSServer, mongo_uri: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "algorithms": ("RS256", "PS256", "ES256"),
        "jwks_url": idp.url,
        "store_url": mongo_uri,
        "store_timeout": 1.0,
        "cache_ttl": 600,  # user state: long on purpose, it must not keep a removed key alive
    }
    values.update(changes)
    return Settings(**values)


def get(client: Any, bearer: str) -> Any:
    return client("GET", "/api/me", [("Authorization", f"Bearer {bearer}")])


def assert_refused(reply: Any, reason: str = "invalid") -> None:
    assert reply.status == 401, reply.body
    assert reply.json() == {"error": "invalid_token", "reason": reason}
    assert "x-user-enabled" not in reply.headers


def assert_unavailable(reply: Any, retry_after: str = "5") -> None:
    """503 key_source_unavailable: not a verdict on the token, so no logout signal of any kind."""
    assert reply.status == 503, reply.body
    assert reply.json() == {"error": "temporarily_unavailable", "reason": "key_source_unavailable"}
    assert reply.headers["retry-after"] == retry_after
    assert "x-user-enabled" not in reply.headers
    assert "clear-site-data" not in reply.headers
    assert "www-authenticate" not in reply.headers


@pytest.fixture
def alice(users: Any) -> None:
    users.insert_one({"_id": USER, "user_enabled": True})


# -- item 1: a removed key stops verifying -------------------------------------------------------


def test_removed_key_refused_after_the_lifespan_reread(
    make_client: Any, idp: JWKSServer, mongo_uri: str, alice: None
) -> None:
    """issue 7 item 1: after the JWKS lifespan the set is re-read and a removed key verifies nothing.

    The verified-token cache (JWTGUARD_TOKEN_CACHE_TTL=5) does not keep the old token alive past
    its own bound either, although the user-state cache (JWTGUARD_CACHE_TTL) is 600 s.
    """
    old, new = rsa_key("old"), rsa_key("new")
    idp.keys = [jwk(old, "old", alg="RS256")]
    timer = FakeTimer()
    client = make_client(settings_for(idp, mongo_uri, jwks_lifespan=60, token_cache_ttl=5), clock=clock, timer=timer)
    cached = token(old, "old")
    assert get(client, cached).status == 200
    idp.keys = [jwk(new, "new", alg="RS256")]  # the provider rotates "old" out
    timer.advance(4)
    assert get(client, cached).status == 200  # within the token cache's bound
    timer.advance(57)  # 61 s: past the lifespan and the token cache
    assert_refused(get(client, cached))
    assert_refused(get(client, token(old, "old", jti="fresh")))
    assert get(client, token(new, "new")).status == 200
    assert idp.hits == 2


def test_unknown_kid_reread_also_lets_a_removed_key_out(
    make_client: Any, idp: JWKSServer, mongo_uri: str, alice: None
) -> None:
    """issue 7 item 1: the re-read an unknown kid triggers lets the new key in and the removed key out."""
    old, new = rsa_key("old"), rsa_key("new")
    idp.keys = [jwk(old, "old", alg="RS256")]
    timer = FakeTimer()
    client = make_client(settings_for(idp, mongo_uri), clock=clock, timer=timer)  # lifespan 300, token TTL 5
    cached = token(old, "old")
    assert get(client, cached).status == 200
    idp.keys = [jwk(new, "new", alg="RS256")]
    timer.advance(31)  # past the refetch cooldown, well inside the 300 s lifespan
    assert get(client, token(new, "new")).status == 200  # unknown kid: one re-read
    assert idp.hits == 2
    assert_refused(get(client, token(old, "old", jti="fresh")))
    assert_refused(get(client, cached))  # its cached verification expired after 5 s
    assert idp.hits == 2


@pytest.mark.parametrize(
    ("variable", "raw", "field", "value"),
    [
        ("JWTGUARD_TOKEN_CACHE_TTL", "2.5", "token_cache_ttl", 2.5),
        ("JWTGUARD_TOKEN_CACHE_TTL", "0", "token_cache_ttl", 0.0),
        ("JWTGUARD_JWKS_LIFESPAN", "60", "jwks_lifespan", 60.0),
    ],
)
def test_new_settings_parse(variable: str, raw: str, field: str, value: float) -> None:
    """issue 7 item 1: JWTGUARD_TOKEN_CACHE_TTL and JWTGUARD_JWKS_LIFESPAN are settings of their own."""
    settings = Settings.from_env({"JWTGUARD_SECRET": SECRET, variable: raw})
    assert getattr(settings, field) == value
    assert settings.cache_ttl == 5.0
    assert Settings(secret=SECRET).token_cache_ttl == 5.0
    assert Settings(secret=SECRET).jwks_lifespan == 300.0


@pytest.mark.parametrize(
    ("variable", "raw"),
    [
        ("JWTGUARD_TOKEN_CACHE_TTL", "soon"),
        ("JWTGUARD_TOKEN_CACHE_TTL", "-1"),
        ("JWTGUARD_TOKEN_CACHE_TTL", "86400"),
        ("JWTGUARD_JWKS_LIFESPAN", "0"),
        ("JWTGUARD_JWKS_LIFESPAN", "nan"),
        ("JWTGUARD_JWKS_LIFESPAN", "1e9"),
    ],
)
def test_new_settings_refuse_bad_values(variable: str, raw: str) -> None:
    """issue 7 item 1: a bad value stops start-up with a ConfigError naming the variable."""
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"JWTGUARD_SECRET": SECRET, variable: raw})
    assert raised.value.variable == variable


def test_zero_token_cache_ttl_checks_every_signature(
    make_client: Any, idp: JWKSServer, mongo_uri: str, alice: None
) -> None:
    """issue 7 item 1: JWTGUARD_TOKEN_CACHE_TTL=0 remembers no verification at all."""
    idp.keys = [jwk(rsa_key("old"), "old", alg="RS256")]
    client = make_client(settings_for(idp, mongo_uri, token_cache_ttl=0), clock=clock, timer=FakeTimer())
    bearer = token(rsa_key("old"), "old")
    for _ in range(3):
        assert get(client, bearer).status == 200
    metrics = client.guard.metrics.snapshot()["token_cache"]
    assert (metrics["hits"], metrics["size"]) == (0, 0)


# -- item 2: a JWKS outage is a 503, never a logout -------------------------------------------------


@pytest.mark.parametrize("failure", ["http-503", "http-500", "html", "reset"])
def test_outage_serves_known_keys_stale_then_503(
    make_client: Any, idp: JWKSServer, mongo_uri: str, alice: None, failure: str
) -> None:
    """issue 7 item 2: during a JWKS outage known keys verify from the last good set for
    JWTGUARD_STALE_MAX_AGE past its lifespan, then 503 + Retry-After; never 401, never a logout signal.
    """
    key = rsa_key("k1")
    idp.keys = [jwk(key, "k1", alg="RS256")]
    timer = FakeTimer()
    settings = settings_for(idp, mongo_uri, jwks_lifespan=60, stale_max_age=120, retry_after=7, clear_site_data=True)
    client = make_client(settings, clock=clock, timer=timer)
    assert get(client, token(key, "k1", jti="a")).status == 200
    if failure == "html":
        idp.mode = "html"
    elif failure == "reset":
        idp.mode = "reset"
    else:
        idp.status = int(failure.removeprefix("http-"))
    timer.advance(61)  # the set is past its lifespan; the re-read fails
    assert get(client, token(key, "k1", jti="b")).status == 200  # a new token, from the stale set
    assert get(client, token(key, "k1", jti="c")).status == 200
    assert idp.hits == 2  # one failed attempt; the next waits for the retry interval
    assert_unavailable(get(client, token(rsa_key("k2"), "k2")), "7")  # unknown kid while unreachable
    timer.advance(120)  # 181 s old: past lifespan + stale max age
    assert_unavailable(get(client, token(key, "k1", jti="d")), "7")
    assert_unavailable(get(client, token(key, "k1", jti="d")), "7")
    assert client.guard.metrics.snapshot()["rejected"]["key_source_unavailable"] == 3
    idp.mode, idp.status = "ok", 200
    timer.advance(7)
    assert get(client, token(key, "k1", jti="d")).status == 200  # the 503 was not cached as a verdict


def test_a_set_without_usable_keys_is_still_the_answer(
    make_client: Any, idp: JWKSServer, mongo_uri: str, alice: None
) -> None:
    """issue 7 item 1: a good read that drops every key (an empty JWK Set) lets the removed keys out too;
    only a failed read keeps the last good set.
    """
    key = rsa_key("k1")
    idp.keys = [jwk(key, "k1", alg="RS256")]
    timer = FakeTimer()
    client = make_client(settings_for(idp, mongo_uri, jwks_lifespan=60), clock=clock, timer=timer)
    assert get(client, token(key, "k1")).status == 200
    idp.keys = []
    timer.advance(61)
    assert_refused(get(client, token(key, "k1", jti="fresh")))
    assert idp.hits == 2


def test_jwks_logs_hold_no_token_and_no_url(
    make_client: Any, idp: JWKSServer, mongo_uri: str, alice: None, caplog: pytest.LogCaptureFixture
) -> None:
    """issue 7 item 2: outage, recovery and unknown-kid records name the failure, never the token or the URL."""
    key = rsa_key("k1")
    idp.keys = [jwk(key, "k1", alg="RS256"), jwk(rsa_key("weak", 1024), "weak", alg="RS256")]
    timer = FakeTimer()
    client = make_client(settings_for(idp, mongo_uri, jwks_lifespan=60, stale_max_age=0), clock=clock, timer=timer)
    bearers = [token(key, "k1"), token(key, "unknown"), token(key, "k1", jti="x")]
    with caplog.at_level("DEBUG", logger="jwtguard"):
        assert get(client, bearers[0]).status == 200
        idp.status = 502
        timer.advance(61)
        assert_unavailable(get(client, bearers[1]))
        assert_unavailable(get(client, bearers[2]))
        idp.status = 200
        timer.advance(5)
        assert get(client, bearers[2]).status == 200
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "HTTP 502" in text and "answers again" in text and "too weak" in text
    assert "127.0.0.1" not in text
    for bearer in bearers:
        for part in bearer.split("."):
            assert part not in text


@pytest.mark.parametrize("on_store_error", ["reject", "stale", "allow"])
def test_start_while_jwks_down_is_503_whatever_the_store_policy(
    make_client: Any, idp: JWKSServer, mongo_uri: str, alice: None, on_store_error: str
) -> None:
    """issue 7 item 2: with no key set at all every token is 503; JWTGUARD_ON_STORE_ERROR=allow
    applies to the user store only and never means "accept an unverified signature".
    """
    key = rsa_key("k1")
    idp.keys = [jwk(key, "k1", alg="RS256")]
    idp.status = 503
    timer = FakeTimer()
    client = make_client(settings_for(idp, mongo_uri, on_store_error=on_store_error), clock=clock, timer=timer)
    bearer = token(key, "k1")
    assert_unavailable(get(client, bearer))
    forged = token(rsa_key("attacker"), "k1")
    assert_unavailable(get(client, forged))  # not 200: nothing is accepted without a key
    assert idp.hits == 1
    idp.status = 200
    timer.advance(5)  # the Retry-After: the next request reads the set again
    assert get(client, bearer).status == 200
    assert_refused(get(client, forged))


def test_unknown_kid_inside_the_cooldown_is_503_then_read(
    make_client: Any, idp: JWKSServer, mongo_uri: str, alice: None
) -> None:
    """issue 7 item 2: a kid the provider just rotated in gets 503 (not a logout) inside the 30 s
    refetch cooldown, and passes once the set is re-read; an unknown kid after a re-read is 401.
    """
    k1, k2 = rsa_key("k1"), rsa_key("k2")
    idp.keys = [jwk(k1, "k1", alg="RS256")]
    timer = FakeTimer()
    client = make_client(settings_for(idp, mongo_uri), clock=clock, timer=timer)
    assert get(client, token(k1, "k1")).status == 200
    idp.keys = [jwk(k1, "k1", alg="RS256"), jwk(k2, "k2", alg="RS256")]
    timer.advance(10)
    assert_unavailable(get(client, token(k2, "k2")))
    assert idp.hits == 1
    timer.advance(21)
    assert get(client, token(k2, "k2")).status == 200
    assert idp.hits == 2
    assert_refused(get(client, token(k2, "nobody")))  # the set was read for this instant: authoritative
    timer.advance(31)
    assert_refused(get(client, token(k2, "nobody-either")))  # read again for it: still unknown
    assert idp.hits == 3
    assert_refused(get(client, token(k1, None)))  # no kid: no read can help


def test_unknown_kid_rereads_are_single_flight(make_client: Any, idp: JWKSServer, mongo_uri: str, alice: None) -> None:
    """issue 7 item 2: concurrent requests with unknown kids cause one JWKS request, not one each."""
    k1, k2 = rsa_key("k1"), rsa_key("k2")
    idp.keys = [jwk(k1, "k1", alg="RS256")]
    timer = FakeTimer()
    client = make_client(settings_for(idp, mongo_uri), clock=clock, timer=timer)
    assert get(client, token(k1, "k1")).status == 200
    idp.keys = [jwk(k1, "k1", alg="RS256"), jwk(k2, "k2", alg="RS256")]
    idp.delay = 0.3  # every request piles up behind the one read in flight
    timer.advance(31)
    bearers = [token(k2, "k2", jti=f"t{i}") for i in range(6)] + [token(k2, f"x{i}") for i in range(6)]
    barrier = threading.Barrier(len(bearers))
    statuses: dict[int, int] = {}

    def call(index: int) -> None:
        barrier.wait(timeout=10)
        statuses[index] = get(client, bearers[index]).status

    threads = [threading.Thread(target=call, args=(i,)) for i in range(len(bearers))]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=20)
    assert time.monotonic() - started < 10
    assert [statuses.get(i) for i in range(len(bearers))] == [200] * 6 + [401] * 6
    assert idp.hits == 2  # the first read, then one re-read for all twelve


def test_key_source_unavailable_is_a_known_reason() -> None:
    """issue 7 item 2: the new reason is part of the metrics vocabulary."""
    from jwtguard.metrics import REASONS, Metrics

    assert "key_source_unavailable" in REASONS
    assert Metrics().snapshot()["rejected"]["key_source_unavailable"] == 0


# -- item 3: keys are bound to algorithms -------------------------------------------------------------


def test_jwk_alg_binds_the_algorithm(make_client: Any, idp: JWKSServer, mongo_uri: str, alice: None) -> None:
    """issue 7 item 3: a key published with alg RS256 never verifies a PS256 (or other) token (RFC 8725 §3.1)."""
    key = rsa_key("k1")
    idp.keys = [jwk(key, "k1", alg="RS256", use="sig")]
    client = make_client(
        settings_for(idp, mongo_uri, algorithms=("RS256", "PS256", "RS512")), clock=clock, timer=FakeTimer()
    )
    assert get(client, token(key, "k1", "RS256")).status == 200
    assert_refused(get(client, token(key, "k1", "PS256")))
    assert_refused(get(client, token(key, "k1", "RS512")))
    assert idp.hits == 1  # a known kid with the wrong algorithm is no reason to read the set again


def test_jwk_without_alg_verifies_what_fits_its_type(
    make_client: Any, idp: JWKSServer, mongo_uri: str, alice: None
) -> None:
    """issue 7 item 3: a JWK without alg verifies the allow-listed algorithms of its key type only."""
    rsa_k, ec_k, ed_k = rsa_key("r"), ec_key("e"), ed25519.Ed25519PrivateKey.generate()
    idp.keys = [jwk(rsa_k, "r", alg=None), jwk(ec_k, "e", alg=None), jwk(ed_k, "o", alg=None)]
    settings = settings_for(idp, mongo_uri, algorithms=("PS256", "RS384", "ES256", "EdDSA"))
    client = make_client(settings, clock=clock, timer=FakeTimer())
    for bearer in (token(rsa_k, "r", "PS256"), token(rsa_k, "r", "RS384"), token(ec_k, "e", "ES256")):
        assert get(client, bearer).status == 200
    assert get(client, token(ed_k, "o", "EdDSA")).status == 200
    assert_refused(get(client, token(rsa_k, "r", "RS256")))  # not allow-listed
    assert_refused(get(client, token(ec_k, "r", "ES256")))  # an EC token on the RSA key's kid


@pytest.mark.parametrize(
    "members",
    [{"use": "enc"}, {"key_ops": ["encrypt"]}, {"key_ops": "verify"}, {"alg": "ES256"}, {"alg": "HS256"}],
    ids=["use-enc", "key-ops-encrypt", "key-ops-not-a-list", "alg-of-another-family", "alg-hmac"],
)
def test_keys_not_for_signatures_verify_nothing(
    make_client: Any, idp: JWKSServer, mongo_uri: str, alice: None, members: dict[str, Any]
) -> None:
    """issue 7 item 3: a JWK whose use, key_ops or alg rule out RS256 signatures verifies none."""
    key = rsa_key("k1")
    idp.keys = [jwk(key, "k1", **members), jwk(rsa_key("k2"), "k2", alg="RS256")]
    client = make_client(settings_for(idp, mongo_uri, algorithms=("RS256",)), clock=clock, timer=FakeTimer())
    assert_refused(get(client, token(key, "k1")))
    assert get(client, token(rsa_key("k2"), "k2")).status == 200


def test_hmac_jwks_keys_are_never_used(make_client: Any, idp: JWKSServer, mongo_uri: str, alice: None) -> None:
    """issue 7 item 3: an oct key in the JWKS never verifies: HMAC verifies with JWTGUARD_SECRET only."""
    published = b"a-shared-secret-published-in-the-jwks-0123456789"
    oct_key = {"kty": "oct", "kid": "h1", "k": jwt.utils.base64url_encode(published).decode(), "alg": "HS256"}
    idp.keys = [oct_key, jwk(rsa_key("k1"), "k1", alg="RS256")]
    settings = settings_for(idp, mongo_uri, algorithms=("HS256", "RS256"), secret=SECRET)
    client = make_client(settings, clock=clock, timer=FakeTimer())
    forged = jwt.encode({"sub": USER, "iat": NOW - 10, "exp": NOW + 60}, published, "HS256", headers={"kid": "h1"})
    assert_refused(get(client, forged))
    assert get(client, token(rsa_key("k1"), "k1")).status == 200


# Old code only warned about the short key; pytest's filterwarnings=error would turn that warning
# into a refusal by accident, so it is ignored here: the refusal must come from jwtguard itself.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
def test_weak_jwks_key_is_refused(make_client: Any, idp: JWKSServer, mongo_uri: str, alice: None) -> None:
    """issue 7 item 3: an RSA key under 2048 bits in the JWKS verifies nothing (enforce_minimum_key_length)."""
    weak = rsa_key("weak", 1024)
    idp.keys = [jwk(weak, "weak", alg="RS256"), jwk(rsa_key("k1"), "k1", alg="RS256")]
    client = make_client(settings_for(idp, mongo_uri), clock=clock, timer=FakeTimer())
    assert_refused(get(client, token(weak, "weak")))
    assert get(client, token(rsa_key("k1"), "k1")).status == 200


@pytest.mark.parametrize(
    ("members", "allowed", "expected"),
    [
        ({"kty": "RSA", "alg": "RS256"}, ("RS256", "PS256"), {"RS256"}),
        ({"kty": "RSA"}, ("RS256", "PS256", "ES256"), {"RS256", "PS256"}),
        ({"kty": "RSA", "use": "sig"}, ("PS512",), {"PS512"}),
        ({"kty": "RSA", "use": "enc"}, ("RS256",), set()),
        ({"kty": "RSA", "key_ops": ["verify"]}, ("RS256",), {"RS256"}),
        ({"kty": "RSA", "key_ops": ["sign"]}, ("RS256",), set()),
        ({"kty": "RSA", "alg": "ES256"}, ("RS256", "ES256"), set()),
        ({"kty": "RSA", "alg": ["RS256"]}, ("RS256",), set()),
        ({"kty": "EC", "crv": "P-256"}, ("ES256", "ES384"), {"ES256"}),
        ({"kty": "EC", "crv": "P-384"}, ("ES256", "ES384"), {"ES384"}),
        ({"kty": "EC", "crv": "P-521"}, ("ES512",), {"ES512"}),
        ({"kty": "EC", "crv": "secp256k1"}, ("ES256K", "ES256"), {"ES256K"}),
        ({"kty": "EC", "crv": "P-256", "alg": "ES384"}, ("ES256", "ES384"), set()),
        ({"kty": "EC"}, ("ES256",), set()),
        ({"kty": "OKP", "crv": "Ed25519"}, ("EdDSA", "RS256"), {"EdDSA"}),
        ({"kty": "OKP", "crv": "X25519"}, ("EdDSA",), set()),
        ({"kty": "oct", "alg": "HS256"}, ("HS256", "RS256"), set()),
        ({"kty": "oct"}, ("HS256",), set()),
        ({"alg": "RS256"}, ("RS256",), set()),
    ],
    ids=lambda value: json.dumps(value, sort_keys=True) if isinstance(value, dict) else None,
)
def test_key_algorithms_table(members: dict[str, Any], allowed: tuple[str, ...], expected: set[str]) -> None:
    """issue 7 item 3: which allow-listed algorithms a JWK may verify, by alg, use, key_ops, kty and crv."""
    assert key_algorithms(members, allowed) == expected


# -- item 4: weak configured keys ---------------------------------------------------------------------


def _pem(key: rsa.RSAPrivateKey, *, private: bool = False) -> str:
    if private:
        return key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
    public = key.public_key()
    return public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_weak_rsa_public_key_stops_start_up(tmp_path: Path) -> None:
    """issue 7 item 4: an RSA public key under 2048 bits is a ConfigError naming JWTGUARD_PUBLIC_KEY."""
    weak = rsa_key("weak", 1024)
    with pytest.raises(ConfigError) as raised:
        Settings(algorithms=("RS256",), public_key=_pem(weak))
    assert raised.value.variable == "JWTGUARD_PUBLIC_KEY"
    assert "1024 bits" in str(raised.value)
    assert "BEGIN" not in str(raised.value)
    path = tmp_path / "weak.pem"
    path.write_text(_pem(weak))
    with pytest.raises(ConfigError) as raised:
        Settings.from_env({"JWTGUARD_ALGORITHMS": "PS256", "JWTGUARD_PUBLIC_KEY_FILE": str(path)})
    assert raised.value.variable == "JWTGUARD_PUBLIC_KEY"
    environ = {"JWTGUARD_ALGORITHMS": "RS256", "JWTGUARD_PUBLIC_KEY": _pem(weak)}
    for adapter in (JWTGuardWSGI, JWTGuardASGI):
        with pytest.raises(ConfigError) as raised:
            adapter(lambda *a: None, settings=Settings.from_env(environ))  # type: ignore[arg-type]
        assert raised.value.variable == "JWTGUARD_PUBLIC_KEY"


def test_weak_rsa_public_key_in_openssh_format_stops_start_up() -> None:
    """issue 7 item 4: the same floor for a key format PyJWT reads but the PEM check does not (OpenSSH)."""
    public = rsa_key("weak", 1024).public_key()
    ssh = public.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    settings = Settings(algorithms=("RS256",), public_key=ssh)
    for adapter in (JWTGuardWSGI, JWTGuardASGI):
        with pytest.raises(ConfigError) as raised:
            adapter(lambda *a: None, settings=settings)  # type: ignore[arg-type]
        assert raised.value.variable == "JWTGUARD_PUBLIC_KEY"
        assert "ssh-rsa" not in str(raised.value)


def test_weak_rsa_private_key_stops_start_up() -> None:
    """issue 7 item 4: an RSA private key under 2048 bits (for issuing) is a ConfigError naming JWTGUARD_PRIVATE_KEY."""
    weak, good = rsa_key("weak", 1024), rsa_key("k1")
    with pytest.raises(ConfigError) as raised:
        Settings(algorithms=("RS256",), public_key=_pem(good), private_key=_pem(weak, private=True))
    assert raised.value.variable == "JWTGUARD_PRIVATE_KEY"
    assert "PRIVATE KEY-----" not in str(raised.value)
    # 2048 bits, and non-RSA keys, still pass.
    Settings(algorithms=("RS256",), public_key=_pem(good), private_key=_pem(good, private=True))
    ec_pem = (
        ec_key("e")
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    Settings(algorithms=("ES256",), public_key=ec_pem)


# -- explain ------------------------------------------------------------------------------------------


def test_explain_reports_an_unreachable_jwks_without_raising(idp: JWKSServer) -> None:
    """issue 7 item 2: explain never raises on a JWKS outage: the signature row is an error, the verdict 503."""
    key = rsa_key("k1")
    idp.keys = [jwk(key, "k1", alg="RS256")]
    settings = Settings(algorithms=("RS256",), jwks_url=idp.url, store_timeout=1.0)
    bearer = token(key, "k1")
    rows = {row.check: row for row in explain(bearer, settings, None, now=NOW)}
    assert rows["signature"].verdict == OK
    assert "kid" in rows["signature"].detail
    idp.status = 503
    rows = {row.check: row for row in explain(bearer, settings, None, now=NOW)}
    assert rows["signature"].verdict == ERROR
    assert "HTTP 503" in rows["signature"].detail
    assert (rows["verdict"].verdict, rows["verdict"].detail) == (FAIL, "503 key_source_unavailable")
    assert idp.hits == 2  # explain's own check and the guard's verdict share one read
    text = " ".join(row.detail for row in rows.values())
    assert idp.url not in text and bearer.split(".")[2] not in text


def test_key_source_with_nothing_listening() -> None:
    """issue 7 item 2: an endpoint with nothing listening is KeySourceUnavailable (a 503), quickly."""
    from jwtguard.keys import KeySourceUnavailable

    gone = JWKSServer()  # bound, never started, then closed: the port refuses connections
    url = gone.url
    gone._server.server_close()
    source = KeySource(url, algorithms=("RS256",), timer=FakeTimer(), timeout=1.0)
    started = time.monotonic()
    with pytest.raises(KeySourceUnavailable) as raised:
        source.key("k1", "RS256")
    assert time.monotonic() - started < 5
    assert source.last_error == "connection failed"
    assert url not in str(raised.value)
