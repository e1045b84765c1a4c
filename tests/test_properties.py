"""Property-based tests: no input raises out of the header parser, the claim checks or the state reader.

Each property also says what the answer must be: a refusal of the right kind, a ``Verified`` only
for a token whose HMAC an independent check (hmac + base64, not PyJWT) confirms, a user id that
can only be a plain string or a 64-bit integer, and a stored document that fails closed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Callable, Iterator, MutableMapping
from datetime import datetime, timedelta, timezone
from typing import Any, cast

import jwt
import pytest
from bson import Decimal128, Int64, ObjectId, Timestamp
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from jwtguard import MemoryStore, Settings
from jwtguard.engine import Engine
from jwtguard.invalidation import InvalidationBus
from jwtguard.sansio import Decision, Policy, Request, UserState, Verified, user_state
from jwtguard.stores.base import Change

from conftest import SECRET, verified

SETTINGS = Settings(secret=SECRET, store_url="mongodb://127.0.0.1:1/x")
POLICY = Policy(SETTINGS)


class _Recording(MemoryStore):
    """An empty store that remembers every id it was asked for (a token that reaches it passed every check)."""

    def __init__(self) -> None:
        super().__init__(SETTINGS)
        self.asked: list[object] = []

    def load(self, user_id: object) -> None:
        self.asked.append(user_id)
        return None


def judge(values: list[str]) -> tuple[Decision, list[object]]:
    """The engine's decision on these Authorization values, and the ids its store was asked for."""
    store = _Recording()
    # Nothing cached: every request is judged from scratch.
    fresh = SETTINGS.replace(cache_ttl=0, token_cache_ttl=0)
    engine = Engine(fresh, store=store, clock=lambda: NOW, bus=InvalidationBus())
    return engine.handle(Request("GET", "/api/me", tuple(values))), store.asked


NOW = float(int(time.time()))
MAX_HEADER = SETTINGS.max_header_bytes

#: A genuinely signed token: the seed that the header strategy mutates.
GENUINE = jwt.encode({"sub": "alice", "iat": NOW - 10, "exp": NOW + 600}, SECRET, algorithm="HS256")

_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()  # NaN and +-Infinity included: json.dumps writes them, PyJWT's parser reads them
    | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)


def genuinely_signed(value: str) -> bool:
    """True when *value* is a Bearer credential whose HS256 signature checks out, by hand."""
    scheme, _, token = value.strip(" ").partition(" ")
    token = token.strip(" ")
    parts = token.split(".")
    if scheme.lower() != "bearer" or len(parts) != 3 or not all(_BASE64URL.fullmatch(p) for p in parts):
        return False
    head, payload, signature = parts
    try:
        given_mac = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    except ValueError:
        return False
    expected = hmac.new(SECRET.encode(), f"{head}.{payload}".encode(), hashlib.sha256).digest()
    return hmac.compare_digest(given_mac, expected)


@st.composite
def mutated_tokens(draw: st.DrawFn) -> str:
    """The genuine token, edited a few characters at a time, behind a scheme variant."""
    token = list(GENUINE)
    alphabet = "AZaz09-_.=+/~ \t,!\x00\xe9\xff"
    for _ in range(draw(st.integers(0, 3))):
        position = draw(st.integers(0, len(token)))
        action = draw(st.sampled_from(["insert", "delete", "replace"]))
        char = draw(st.sampled_from(alphabet))
        if action == "insert":
            token.insert(position, char)
        elif position < len(token):
            if action == "delete":
                del token[position]
            else:
                token[position] = char
    schemes = ["Bearer ", "bearer ", "BEARER ", "Bearer  ", "Bearer\t", "Bearer", "Basic ", "", " Bearer "]
    scheme = draw(st.sampled_from(schemes))
    tail = draw(st.sampled_from(["", " ", "\t", ",", " x", ", Bearer x"]))
    return scheme + "".join(token) + tail


header_values = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda raw: raw.decode("latin-1")),
    st.builds(lambda rest: "Bearer " + rest, st.text(alphabet="abcXYZ019-_.~+/= ,\t", max_size=400)),
    st.integers(MAX_HEADER - 16, MAX_HEADER + 2000).map(lambda n: "Bearer " + "a" * n),  # around the bound
    st.builds(lambda text, times: text * times, st.text(min_size=1, max_size=20), st.integers(400, 1000)),
    mutated_tokens(),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(header_values, max_size=3))
def test_any_authorization_values_never_raise(values: list[str]) -> None:
    result, asked = judge(values)
    if asked:
        # Only one field, and it carries a Bearer token that truly is signed with the secret.
        assert len(values) == 1 and genuinely_signed(values[0])
        assert asked == ["alice"] and result.reason == "unknown_user"
        return
    assert result.kind == "refuse"
    assert result.status in (400, 401, 431)
    if any(len(value) > MAX_HEADER for value in values) and len(values) == 1:
        assert result.status == 431
    if len(values) > 1:
        assert result.reason == "multiple_credentials"
    assert result.user_enabled is None  # no account signal before a signature checks out


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_genuine_token_passes(scheme: str) -> None:
    """The positive side of the property above: its seed, unmutated, is accepted."""
    assert genuinely_signed(f"{scheme} {GENUINE}")
    assert judge([f"{scheme} {GENUINE}"])[1] == ["alice"]


def _finite_number(value: Any) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return True  # an integer too large for a float is still a (finite) number


#: Any JSON value, or one the guard accepts (a past iat/nbf, a future exp, a usable id), so that about a
#: quarter of the examples reach the accepted branch and its checks (arbitrary values alone never did).
past = json_values | st.integers(int(NOW) - 10**5, int(NOW)) | st.floats(NOW - 1e5, NOW)
future = json_values | st.integers(int(NOW) + 1, int(NOW) + 10**5) | st.floats(NOW + 1, NOW + 1e5)
users = json_values | st.sampled_from(["alice", 42, -(2**63), "a" * 256, "a" * 257]) | st.text(min_size=1, max_size=20)


@settings(max_examples=200, deadline=None)
@given(sub=users, iat=past, exp=future, nbf=past, nbf_present=st.booleans())
def test_signed_claims_of_any_shape_never_raise(sub: Any, iat: Any, exp: Any, nbf: Any, nbf_present: bool) -> None:
    payload = {"sub": sub, "iat": iat, "exp": exp}
    if nbf_present:
        payload["nbf"] = nbf
    token = jwt.encode(payload, SECRET, algorithm="HS256")
    assume(len(token) + 7 <= MAX_HEADER)
    result, asked = judge([f"Bearer {token}"])
    if asked:
        # Only a plain string or 64-bit integer can reach a store query.
        (user_id,) = asked
        assert type(user_id) in (str, int)
        if isinstance(user_id, str):
            assert 0 < len(user_id) <= SETTINGS.max_user_id_length and user_id.isprintable()
        else:
            assert isinstance(user_id, int) and -(2**63) <= user_id < 2**63
        assert _finite_number(iat) and _finite_number(exp)
        assert exp > NOW and iat <= NOW
        assert not nbf_present or nbf is None or (_finite_number(nbf) and nbf <= NOW)
        # The verdict on any state never raises either, and only "accept" or a 401 comes out.
        read = POLICY.verified({}, payload)
        assert isinstance(read, Verified)
        for state in (None, UserState(), UserState(not_before=NOW - 5), UserState(enabled=False)):
            verdict = POLICY.decide(read, state, NOW)
            assert verdict.kind == "accept" or verdict.status == 401
    else:
        assert result.kind == "refuse"
        assert (result.status, result.error) == (401, "invalid_token")
        assert result.reason in ("invalid", "expired")


timezones = st.none() | st.builds(
    timezone, st.timedeltas(min_value=timedelta(hours=-23, minutes=-59), max_value=timedelta(hours=23, minutes=59))
)
stored_values = (
    json_values
    | st.datetimes(timezones=timezones)
    | st.builds(ObjectId)
    | st.builds(Int64, st.integers(-(2**63), 2**63 - 1))
    # Decimal128 holds 34 significant digits: 30 before the point and 3 after always fit (an unbounded
    # decimal makes bson raise Inexact while generating, failing the test before it runs).
    | st.builds(Decimal128, st.decimals(-(10**30), 10**30, allow_nan=False, allow_infinity=False, places=3).map(str))
    | st.sampled_from([Decimal128("NaN"), Decimal128("-Infinity")])
    | st.builds(Timestamp, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1))
    | st.binary(max_size=8)
    | st.sampled_from([10**400, -(10**400), 2**1024, 2**63 - 1, -(2**63), 10**11 + 1])  # beyond a float, edges
)
FIELDS = ["_id", "destroyAnyJWTbefore", "passwordChangedAt", "user_enabled", "other"]
TWO_FIELDS = SETTINGS.replace(not_before_fields=("destroyAnyJWTbefore", "passwordChangedAt"))


def _readable(value: Any) -> bool:
    return value is None or isinstance(value, datetime) or _finite_number(value)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), stored_values))
def test_any_stored_document_reads_without_raising_and_fails_closed(document: dict[str, Any]) -> None:
    state = user_state(document, TWO_FIELDS)
    assert isinstance(state, UserState)
    if document.get("user_enabled", True) is not True:
        assert state.enabled is False
    values = [document.get(name) for name in TWO_FIELDS.not_before_fields]
    if not all(_readable(value) for value in values):
        assert state.malformed  # refused, never read as "no cut-off"
    if state.malformed:
        assert state.not_before is None
    elif state.not_before is not None:
        assert math.isfinite(state.not_before)
    decision = POLICY.decide(verified(SETTINGS, "alice", NOW, NOW + 60), state, NOW)
    assert decision.kind == "accept" or decision.status == 401
    if decision.kind == "accept":
        # Accepted only with every stored value read, the switch on, and no later cut-off.
        assert state.enabled and not state.malformed
        assert state.not_before is None or state.not_before < NOW + 1


@pytest.fixture(scope="module")
def clients() -> Iterator[list[Any]]:
    """Flask and Starlette behind the guard (the shared harness), built once for every example (no store is reached)."""
    from harness import ASGITarget, WSGITarget

    wsgi, asgi = WSGITarget(SETTINGS), ASGITarget(SETTINGS)

    def via_flask(values: list[str]) -> tuple[int, dict[str, str], bytes]:
        reply = wsgi.request("GET", "/api/me", [("Authorization", v) for v in values])
        return reply.status, reply.headers, reply.body

    def via_starlette(values: list[str]) -> tuple[int, dict[str, str], bytes]:
        reply = asgi.request("GET", "/api/me", [("Authorization", v.encode("latin-1", "replace")) for v in values])
        return reply.status, reply.headers, reply.body

    try:
        yield [via_flask, via_starlette]
    finally:
        asgi.close()
        wsgi.close()


# Line breaks are left out: HTTP cannot carry them inside a field, and the test clients refuse them.
_no_line_breaks = header_values.filter(lambda v: "\n" not in v and "\r" not in v)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(values=st.lists(_no_line_breaks.filter(lambda v: not genuinely_signed(v)), min_size=1, max_size=2))
def test_both_middlewares_answer_arbitrary_headers_without_5xx(clients: list[Any], values: list[str]) -> None:
    """End to end through Flask and Starlette: a small JSON refusal with an RFC 6750 challenge, never a 5xx."""
    for client in clients:
        status, headers, body = client(values)
        assert status in (400, 401, 431)
        assert headers["www-authenticate"].startswith('Bearer realm="api"')
        assert set(json.loads(body)) == {"error", "reason"}
        assert b"Traceback" not in body


class RecordingStore:
    """An in-memory store with the :class:`jwtguard.stores.base.Store` shape that notes every id it is asked for.

    A pure-level stand-in for core tests (the MongoDB store meets the real server elsewhere): it
    answers for ``"alice"`` and ``42`` and never raises, so whatever reaches it is seen by the test.
    """

    def __init__(self) -> None:
        self.documents: dict[str | int, dict[str, Any]] = {"alice": {"_id": "alice"}, 42: {"_id": 42}}
        self.asked: list[object] = []

    def load(self, user_id: object) -> dict[str, Any] | None:
        self.asked.append(user_id)
        if type(user_id) not in (str, int):
            return None  # recorded above; looking it up could itself raise (an unhashable dict)
        return self.documents.get(cast("str | int", user_id))

    def apply(self, user_id: object, change: Change) -> bool:
        self.asked.append(user_id)
        return False

    def close(self) -> None:
        pass


_operator_objects = st.dictionaries(
    st.sampled_from(["$ne", "$gt", "$gte", "$regex", "$where", "$in", "$exists", "$expr"]),
    json_values,
    min_size=1,
    max_size=2,
)
_hostile_claims = {
    "sub": _operator_objects
    | json_values
    | st.sampled_from([1.0, 42.0, True, False, 2**63, -(2**63) - 1, ["alice"], "", "a" * 300, "ali\nce"]),
    "iat": json_values,
    "exp": json_values,
    "nbf": json_values,
}


@st.composite
def claim_sets(draw: st.DrawFn) -> dict[str, Any]:
    """Sound claims for a known or unknown user, with any subset of them replaced by anything at all."""
    claims: dict[str, Any] = {"sub": draw(st.sampled_from(["alice", 42, "bob", 7])), "iat": NOW - 10, "exp": NOW + 600}
    if draw(st.booleans()):
        claims["nbf"] = NOW - 60
    broken = draw(st.permutations(sorted(_hostile_claims)))[: draw(st.sampled_from([0, 1, 1, 2]))]
    for name in broken:
        claims[name] = draw(_hostile_claims[name])
    return claims


@settings(max_examples=200, deadline=None)
@given(claims=claim_sets())
def test_only_plain_ids_reach_a_store(claims: dict[str, Any]) -> None:
    """Signed with the right key, any claim shapes go through the WSGI adapter to a recording store.

    The store is only ever asked for a plain ``str`` or ``int`` (never a dict such as ``{"$ne": null}``,
    a list, a bool or a float), and only for the token's own user claim; an answer of 200 means the
    claims were all sound and the user exists.
    """
    from jwtguard import JWTGuardWSGI

    store = RecordingStore()
    seen: list[object] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(environ["jwtguard.user_id"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    guard = JWTGuardWSGI(app, settings=SETTINGS, store=store, clock=lambda: NOW)
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    sub, iat, exp = claims["sub"], claims["iat"], claims["exp"]
    statuses: list[str] = []
    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/me", "HTTP_AUTHORIZATION": f"Bearer {token}"}

    def start_response(status: str, headers: Any, exc_info: object = None) -> Callable[[bytes], object]:
        statuses.append(status)
        return lambda data: None

    body = b"".join(guard(environ, start_response))
    status = int(statuses[0].split()[0])
    plain = type(sub) in (str, int)
    for asked in store.asked:
        assert type(asked) in (str, int), asked
        assert asked == sub
    if not plain:
        assert store.asked == [] and status in (401, 431)
    if status == 200:
        assert body == b"ok" and seen == [sub] and sub in ("alice", 42)
        assert _finite_number(iat) and _finite_number(exp) and iat <= NOW < exp
        nbf = claims.get("nbf")
        assert nbf is None or (_finite_number(nbf) and nbf <= NOW)
    else:
        assert seen == [] and status in (401, 431)
        assert set(json.loads(body)) == {"error", "reason"}


class AsyncRecordingStore(RecordingStore):
    """The same recording store with the :class:`jwtguard.stores.base.AsyncStore` shape."""

    async def load(self, user_id: object) -> dict[str, Any] | None:  # type: ignore[override]
        return RecordingStore.load(self, user_id)

    async def apply(self, user_id: object, change: Change) -> bool:  # type: ignore[override]
        return RecordingStore.apply(self, user_id, change)

    async def close(self) -> None:  # type: ignore[override]
        pass


@settings(max_examples=100, deadline=None)
@given(claims=claim_sets())
def test_only_plain_ids_reach_an_async_store(claims: dict[str, Any]) -> None:
    """The same property through the ASGI adapter, one event loop per example."""
    import asyncio

    from jwtguard import JWTGuardASGI

    store = AsyncRecordingStore()
    seen: list[object] = []
    sent: list[MutableMapping[str, Any]] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["jwtguard.user_id"])
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    guard = JWTGuardASGI(app, settings=SETTINGS, store=store, clock=lambda: NOW)  # type: ignore[arg-type]
    token = jwt.encode(claims, SECRET, algorithm="HS256")
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/me",
        "headers": [(b"authorization", f"Bearer {token}".encode("latin-1"))],
    }
    asyncio.run(guard(scope, receive, send))
    status, body = sent[0]["status"], b"".join(m.get("body", b"") for m in sent[1:])
    sub = claims["sub"]
    for asked in store.asked:
        assert type(asked) in (str, int), asked
        assert asked == sub
    if type(sub) not in (str, int):
        assert store.asked == [] and status in (401, 431)
    if status == 200:
        assert body == b"ok" and seen == [sub] and sub in ("alice", 42)
    else:
        assert seen == [] and status in (401, 431)
        assert set(json.loads(body)) == {"error", "reason"}
