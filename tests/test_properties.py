"""Property-based tests: no input raises out of the header parser, the claim checks or the state reader."""

from __future__ import annotations

import json
import time
from datetime import datetime, timezone
from typing import Any

import jwt
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from jwtguard import Guard, Rejection, Settings, Verified
from jwtguard.core import UserState, user_state

from conftest import SECRET

SETTINGS = Settings(secret=SECRET, store_url="mongodb://127.0.0.1:1/x")
GUARD = Guard(SETTINGS)
NOW = time.time()

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)

header_values = st.one_of(
    st.text(max_size=300),
    st.binary(max_size=300).map(lambda raw: raw.decode("latin-1")),
    st.builds(lambda rest: "Bearer " + rest, st.text(alphabet="abcXYZ019-_.~+/= ,\t", max_size=400)),
    st.integers(8000, 9000).map(lambda n: "Bearer " + "a" * n),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(header_values, max_size=3))
def test_any_authorization_values_never_raise(values: list[str]) -> None:
    result = GUARD.authenticate(values, NOW)
    # Nothing arbitrary is signed with the secret, so nothing passes.
    assert isinstance(result, Rejection)
    assert result.status in (400, 401, 431)


@settings(max_examples=300, deadline=None)
@given(sub=json_values, iat=json_values, exp=json_values, nbf=json_values)
def test_signed_claims_of_any_shape_never_raise(sub: Any, iat: Any, exp: Any, nbf: Any) -> None:
    payload = {"sub": sub, "iat": iat, "exp": exp, "nbf": nbf}
    token = jwt.encode(payload, SECRET, algorithm="HS256")
    result = GUARD.authenticate([f"Bearer {token}"], NOW)
    if isinstance(result, Verified):
        # Only a plain string or 64-bit integer can reach a store query.
        assert type(result.user_id) in (str, int)
        assert isinstance(result.user_id, str) or -(2**63) <= result.user_id < 2**63
        assert result.exp > NOW and result.iat <= NOW
    else:
        assert result is not None and result.status in (400, 401, 431)


stored_values = json_values | st.datetimes(timezones=st.none() | st.just(timezone.utc))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(["_id", "destroyAnyJWTbefore", "user_enabled", "other"]), stored_values))
def test_any_stored_document_reads_without_raising_and_fails_closed(document: dict[str, Any]) -> None:
    state = user_state(document, SETTINGS)
    assert isinstance(state, UserState)
    if document.get("user_enabled", True) is not True:
        assert state.enabled is False
    value = document.get("destroyAnyJWTbefore")
    if (value is not None and not isinstance(value, (int, float, datetime))) or isinstance(value, bool):
        assert state.malformed  # refused, never read as "no cut-off"
    verified = Verified({}, "alice", NOW, NOW + 60, None)
    decision = GUARD.decide(verified, state)
    assert decision is None or decision.status == 401


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(header_values.filter(lambda v: "\n" not in v and "\r" not in v), min_size=1, max_size=2))
def test_both_middlewares_answer_arbitrary_headers_without_5xx(values: list[str]) -> None:
    """End to end through Flask and Starlette (no store is reached: nothing verifies).

    Line breaks are left out: HTTP cannot carry them inside a field, and the test clients refuse them.
    """
    for client in CLIENTS:
        status, body = client(values)
        assert status in (400, 401, 431)
        assert json.loads(body)["error"]


def _clients() -> list[Any]:
    from starlette.testclient import TestClient

    from jwtguard import JWTGuardASGI, JWTGuardWSGI

    from conftest import flask_app, starlette_app

    app = flask_app()
    app.wsgi_app = JWTGuardWSGI(app.wsgi_app, settings=SETTINGS)  # type: ignore[method-assign]
    flask_client = app.test_client()
    asgi_client = TestClient(JWTGuardASGI(starlette_app(), settings=SETTINGS))

    def via_flask(values: list[str]) -> tuple[int, bytes]:
        response = flask_client.get("/api/me", headers=[("Authorization", v) for v in values])
        return response.status_code, response.data

    def via_starlette(values: list[str]) -> tuple[int, bytes]:
        headers = [("Authorization", v.encode("latin-1", "replace")) for v in values]
        response = asgi_client.get("/api/me", headers=headers)
        return response.status_code, response.content

    return [via_flask, via_starlette]


CLIENTS = _clients()
