"""The example apps' flows over HTTP, through the real frameworks, on both stores."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jwtguard import Settings

from conftest import SECRET, Reply


@contextlib.contextmanager
def running(framework: str, settings: Settings) -> Iterator[Callable[..., Reply]]:
    """An example app behind its framework's test client, closed at the end."""
    if framework == "flask":
        from examples.flask_app import create_app

        app = create_app(settings)
        client = app.test_client()

        def call(
            method: str, path: str, token: str | None = None, json: Any = None, form: Any = None, **extra: str
        ) -> Reply:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            headers.update({name.replace("_", "-"): value for name, value in extra.items()})
            if isinstance(form, bytes):
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            response = client.open(path, method=method, headers=headers, json=json, data=form)
            return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.data)

        try:
            yield call
        finally:
            app.extensions["jwtguard.close"]()
        return

    from starlette.testclient import TestClient

    from examples.starlette_app import create_app as create_asgi_app

    with TestClient(create_asgi_app(settings)) as test_client:

        def asgi_call(
            method: str, path: str, token: str | None = None, json: Any = None, form: Any = None, **extra: str
        ) -> Reply:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            headers.update({name.replace("_", "-"): value for name, value in extra.items()})
            if isinstance(form, bytes):
                headers["Content-Type"] = "application/x-www-form-urlencoded"
                response = test_client.request(method, path, headers=headers, content=form)
            else:
                response = test_client.request(method, path, headers=headers, json=json, data=form)
            return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)

        yield asgi_call


@pytest.fixture(params=["flask-sqlite", "starlette-sqlite", "flask-mongo", "starlette-mongo"])
def example_settings(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, Settings]:
    """(framework, settings) on a fresh store of either kind, in a temporary working directory."""
    from examples.common import DEMO_ALERT_SECRET, DEMO_EXEMPT_PATHS, DEMO_ISSUER

    framework, store = request.param.split("-")
    monkeypatch.chdir(tmp_path)
    url = request.getfixturevalue("mongo_uri") if store == "mongo" else f"sqlite:///{tmp_path / 'jwtguard.db'}"
    return framework, Settings(
        secret=SECRET,
        store_url=url,
        exempt_paths=DEMO_EXEMPT_PATHS,
        sessions=True,
        issuer=DEMO_ISSUER,
        alert_secret=DEMO_ALERT_SECRET,
    )


@pytest.fixture
def example(example_settings: tuple[str, Settings]) -> Iterator[Callable[..., Reply]]:
    with running(*example_settings) as call:
        yield call


Call = Callable[..., Reply]


def login_body(call: Call, user: str = "alice", password: str | None = None) -> dict[str, Any]:
    reply = call("POST", "/login", json={"username": user, "password": password or f"{user}-password"})
    assert reply.status == 200, reply.body
    assert (reply.headers["cache-control"], reply.headers["pragma"]) == ("no-store", "no-cache")  # RFC 6749 §5.1
    body: dict[str, Any] = reply.json()
    return body


def login(call: Call, user: str = "alice", password: str | None = None) -> str:
    return str(login_body(call, user, password)["access_token"])


def test_page_and_helper_are_public(example: Call) -> None:
    assert b"jwtguard demo" in example("GET", "/").body
    script = example("GET", "/static/jwtguard.js")
    assert script.status == 200
    assert b"createSession" in script.body
    assert example("GET", "/health").status == 200


def test_login_and_protected_resources(example: Call) -> None:
    token = login(example)
    me = example("GET", "/api/me", token)
    assert me.status == 200
    assert me.json()["user"] == "alice"
    assert me.headers["x-user-enabled"] == "true"
    assert example("GET", "/api/notes", token).json()["notes"]
    assert example("GET", "/api/me").status == 401


def test_bad_credentials(example: Call) -> None:
    assert example("POST", "/login", json={"username": "alice", "password": "nope"}).status == 401
    assert example("POST", "/login", json={"username": ["alice"], "password": 1}).status == 401
    assert example("POST", "/login", json=None).status == 401


def test_logout_ends_only_this_session(example: Call) -> None:
    phone, laptop = login_body(example), login_body(example)
    assert example("POST", "/logout", phone["access_token"]).status == 204
    refused = example("GET", "/api/me", phone["access_token"])
    assert (refused.status, refused.json()["reason"]) == (401, "session_revoked")
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert example("GET", "/api/me", laptop["access_token"]).status == 200
    grant = {"grant_type": "refresh_token", "refresh_token": phone["refresh_token"]}
    assert example("POST", "/token", form=grant).json()["error"] == "invalid_grant"


def test_the_login_body_is_rfc_6749s_plus_the_pages_two_fields(example: Call) -> None:
    body = login_body(example, "admin")
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token", "user", "admin"}
    assert (body["token_type"], body["user"], body["admin"]) == ("Bearer", "admin", True)
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0


def test_the_token_endpoint_rotates(example: Call) -> None:
    """RFC 6749 §6: a refresh answers the same body; the spent token buys nothing more."""
    first = login_body(example)
    reply = example("POST", "/token", form={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert reply.status == 200
    assert (reply.headers["cache-control"], reply.headers["pragma"]) == ("no-store", "no-cache")
    second = reply.json()
    assert set(second) == set(first) and second["refresh_token"] != first["refresh_token"]
    assert example("GET", "/api/me", second["access_token"]).status == 200
    again = example("POST", "/token", form={"grant_type": "refresh_token", "refresh_token": first["refresh_token"]})
    assert again.status == 400
    assert again.json() == {"error": "invalid_grant", "error_description": "token already rotated"}


TOKEN_REQUEST_ERRORS = [
    ({"grant_type": "refresh_token"}, "invalid_request"),
    ({"refresh_token": "x" * 43}, "invalid_request"),
    ({"grant_type": "password", "username": "alice", "password": "alice-password"}, "unsupported_grant_type"),
    ({"grant_type": "refresh_token", "refresh_token": "A" * 43}, "invalid_grant"),
    ({"grant_type": "refresh_token", "refresh_token": "A" * 3000}, "invalid_grant"),
    ({"grant_type": "refresh_token", "refresh_token": "%00%ff\u0000"}, "invalid_grant"),
    ("grant_type=refresh_token&refresh_token=a&refresh_token=b", "invalid_request"),  # §3.2: not twice
    ("grant_type=refresh_token&refresh_token=%FF%FE", "invalid_grant"),
    ("grant_type=refresh_token&" + "x=1&" * 100, "invalid_request"),
]


def test_a_token_request_that_is_no_form_is_invalid_request(example: Call) -> None:
    reply = example("POST", "/token", json={"grant_type": "refresh_token", "refresh_token": "A" * 43})
    assert (reply.status, reply.json()["error"]) == (400, "invalid_request")


@pytest.mark.parametrize(("form", "error"), TOKEN_REQUEST_ERRORS, ids=range(len(TOKEN_REQUEST_ERRORS)))
def test_token_request_errors_are_rfc_6749_5_2(example: Call, form: Any, error: str) -> None:
    reply = example("POST", "/token", form=form.encode() if isinstance(form, str) else form)
    assert reply.status == 400
    assert reply.json()["error"] == error
    assert set(reply.json()) == {"error", "error_description"}
    assert "A" * 43 not in reply.body.decode()


def test_sessions_list_and_per_device_logout(example: Call) -> None:
    laptop, phone = login_body(example), login_body(example)
    listed = example("GET", "/api/sessions", laptop["access_token"])
    assert listed.status == 200
    sessions = listed.json()
    assert len(sessions) == 2
    assert all(set(s) == {"sid", "created", "last_used", "description", "current"} for s in sessions)
    assert [s["current"] for s in sessions] == [True, False]
    assert sessions[0]["created"].endswith("Z")
    phone_sid = sessions[1]["sid"]
    bob = login(example, "bob")
    assert example("DELETE", f"/api/sessions/{phone_sid}", bob).status == 404  # not bob's
    assert example("DELETE", "/api/sessions/no-such-session", laptop["access_token"]).status == 404
    assert example("DELETE", f"/api/sessions/{phone_sid}", laptop["access_token"]).status == 204
    assert example("GET", "/api/me", phone["access_token"]).json()["reason"] == "session_revoked"
    assert example("GET", "/api/me", laptop["access_token"]).status == 200
    assert [s["current"] for s in example("GET", "/api/sessions", laptop["access_token"]).json()] == [True]


def test_logout_all_kills_every_token(example: Call) -> None:
    phone, laptop = login(example), login(example)
    assert example("POST", "/logout-all", phone).status == 200
    for token in (phone, laptop):
        assert example("GET", "/api/me", token).json()["reason"] == "revoked"
    assert example("GET", "/api/me", login(example)).status == 200  # logging in again works


def test_password_change_kills_older_tokens(example: Call) -> None:
    old = login(example, "bob")
    reply = example("POST", "/password", old, json={"old_password": "bob-password", "new_password": "new-password-1"})
    assert reply.status == 200
    fresh = reply.json()["access_token"]
    assert example("GET", "/api/me", old).json()["reason"] == "revoked"
    assert example("GET", "/api/me", fresh).status == 200
    assert example("POST", "/login", json={"username": "bob", "password": "bob-password"}).status == 401
    assert login(example, "bob", "new-password-1")
    wrong = example("POST", "/password", fresh, json={"old_password": "x", "new_password": "another-password"})
    assert wrong.status == 403


def test_admin_disables_and_enables(example: Call) -> None:
    alice, admin = login(example), login(example, "admin")
    assert example("POST", "/admin/users/alice/disable", alice).status == 403  # not an admin
    assert example("POST", "/admin/users/alice/disable", admin).status == 200
    refused = example("GET", "/api/me", alice)
    assert refused.status == 401
    assert refused.headers["x-user-enabled"] == "false"
    disabled_login = example("POST", "/login", json={"username": "alice", "password": "alice-password"})
    assert disabled_login.status == 403
    assert disabled_login.json() == {"error": "account_disabled"}
    assert example("POST", "/admin/users/alice/enable", admin).status == 200
    assert example("GET", "/api/me", alice).status == 200
    assert login(example)
    assert example("POST", "/admin/users/nobody/disable", admin).status == 404
    assert example("POST", "/admin/users/alice/delete", admin).status == 404
    assert example("POST", "/admin/users/bob/disable").status == 401  # no token at all


def test_a_restart_keeps_a_disabled_user_disabled(example_settings: tuple[str, Settings]) -> None:
    with running(*example_settings) as first:
        admin = login(first, "admin")
        assert first("POST", "/admin/users/alice/disable", admin).status == 200
    with running(*example_settings) as second:  # seeding the demo users again must not switch alice on
        assert second("POST", "/login", json={"username": "alice", "password": "alice-password"}).status == 403
        assert login(second, "bob")


def test_metrics_are_public(example: Call) -> None:
    login(example)
    assert example("GET", "/metrics").status == 200


def test_cors_exposes_the_signal_and_clear_site_data(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from examples.common import DEMO_EXEMPT_PATHS, DEMO_ISSUER
    from examples.flask_app import create_app

    monkeypatch.chdir(tmp_path)
    settings = Settings(
        secret=SECRET,
        store_url=f"sqlite:///{tmp_path / 'jwtguard.db'}",
        exempt_paths=DEMO_EXEMPT_PATHS,
        sessions=True,
        issuer=DEMO_ISSUER,
        clear_site_data=True,
    )
    app = create_app(settings)
    close_app = app.extensions["jwtguard.close"]

    @app.after_request
    def cors(response: Any) -> Any:
        response.headers["Access-Control-Allow-Origin"] = "https://app.example"
        return response

    client = app.test_client()
    token = client.post("/login", json={"username": "alice", "password": "alice-password"}).get_json()["access_token"]
    ok = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert "X-User-Enabled" in ok.headers["Access-Control-Expose-Headers"]
    assert "Clear-Site-Data" not in ok.headers
    forged = client.get("/api/me", headers={"Authorization": f"Bearer {token[:-4]}AAAA"})
    assert forged.status_code == 401
    assert "Clear-Site-Data" not in forged.headers  # a bad signature must not wipe anyone's storage
    admin = client.post("/login", json={"username": "admin", "password": "admin-password"}).get_json()["access_token"]
    client.post("/admin/users/alice/disable", headers={"Authorization": f"Bearer {admin}"})
    refused = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert refused.headers["Clear-Site-Data"] == '"storage"'
    close_app()


def test_cors_outside_the_guard_reaches_its_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples' --cors-origin (Flask: CrossOrigin around the guard): preflights pass without a token, and the
    guard's own 401s carry the CORS headers and expose both signals."""
    from examples.common import DEMO_EXEMPT_PATHS, DEMO_ISSUER, CrossOrigin
    from examples.flask_app import create_app

    monkeypatch.chdir(tmp_path)
    store_url = f"sqlite:///{tmp_path / 'jwtguard.db'}"
    app = create_app(
        Settings(secret=SECRET, store_url=store_url, exempt_paths=DEMO_EXEMPT_PATHS, sessions=True, issuer=DEMO_ISSUER)
    )
    frontend = "http://localhost:5173"
    app.wsgi_app = CrossOrigin(app.wsgi_app, frontend)  # type: ignore[method-assign]
    client = app.test_client()
    origin = {"Origin": frontend}

    asking = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    preflight = client.options("/api/me", headers={**origin, **asking})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == frontend
    assert preflight.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type, X-CSRF-Token, DPoP"

    credentials = {"username": "alice", "password": "alice-password"}
    token = client.post("/login", json=credentials, headers=origin).get_json()["access_token"]
    auth = {**origin, "Authorization": f"Bearer {token}"}
    ok = client.get("/api/me", headers=auth)
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == frontend
    exposed = ["X-User-Enabled, WWW-Authenticate, DPoP-Nonce, Date"]
    assert ok.headers.getlist("Access-Control-Expose-Headers") == exposed  # just one

    missing = client.get("/api/me", headers=origin)
    assert missing.status_code == 401
    assert missing.headers["Access-Control-Allow-Origin"] == frontend
    admin = client.post("/login", json={"username": "admin", "password": "admin-password"}).get_json()["access_token"]
    client.post("/admin/users/alice/disable", headers={"Authorization": f"Bearer {admin}"})
    refused = client.get("/api/me", headers=auth)
    assert refused.status_code == 401
    assert refused.headers["X-User-Enabled"] == "false"
    assert refused.headers["Access-Control-Allow-Origin"] == frontend
    assert "X-User-Enabled" in refused.headers["Access-Control-Expose-Headers"]

    other = client.get("/api/me", headers={"Origin": "https://evil.example", "Authorization": f"Bearer {token}"})
    assert "Access-Control-Allow-Origin" not in other.headers
    app.extensions["jwtguard.close"]()


def outbox_links(directory: Path) -> list[str]:
    """The "not me" link tokens the example's notifier wrote, oldest first."""
    import re

    path = directory / "demo-outbox.txt"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    return re.findall(r"/account/not-me\?t=([A-Za-z0-9_.-]+)", text)


def test_a_login_alert_link_ends_every_session(
    example: Call, example_settings: tuple[str, Settings], tmp_path: Path
) -> None:
    """Issue 10 login alerts: the GET changes nothing (link scanners); the POST ends every session, once."""
    laptop = login_body(example)
    phone = login_body(example)
    links = outbox_links(tmp_path)
    assert len(links) == 2
    link = links[-1]
    for _ in range(2):  # a mail scanner and a link previewer fetch it first
        page = example("GET", f"/account/not-me?t={link}")
        assert page.status == 200 and b"not-me-confirm" in page.body
        assert page.headers["cache-control"] == "no-store" and page.headers["referrer-policy"] == "no-referrer"
    assert example("GET", "/api/me", laptop["access_token"]).status == 200
    done = example("POST", "/account/not-me", form={"t": link})
    assert done.status == 200 and b"Reset your password" in done.body
    for body in (laptop, phone):
        assert example("GET", "/api/me", body["access_token"]).json()["reason"] == "revoked"
        grant = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
        assert example("POST", "/token", form=grant).json()["error"] == "invalid_grant"
    again = example("POST", "/account/not-me", form={"t": links[0]})  # the other alert's link still works once
    assert again.status == 200
    assert example("POST", "/account/not-me", form={"t": link}).status == 400  # single use
    assert login(example)  # and the user can sign in again


@pytest.mark.parametrize("bad", ["", "garbage", "a.b.c", "x" * 5000])
def test_a_bad_not_me_link_changes_nothing(example: Call, bad: str) -> None:
    pair = login_body(example)
    assert example("GET", f"/account/not-me?t={bad}").status == 400
    assert example("POST", "/account/not-me", form={"t": bad}).status == 400
    # An access token is no link (another key, another audience), and says nothing of itself.
    reply = example("POST", "/account/not-me", form={"t": pair["access_token"]})
    assert reply.status == 400 and pair["access_token"].encode() not in reply.body
    assert example("GET", "/api/me", pair["access_token"]).status == 200


# -- cookie mode (--cookies) ------------------------------------------------------------------------


def cookie_pairs(set_cookies: list[str]) -> dict[str, str]:
    """name -> value of the Set-Cookie fields of one answer."""
    return dict(value.split(";", 1)[0].split("=", 1) for value in set_cookies)


@pytest.fixture(params=["flask", "starlette"])
def cookie_example(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Callable[..., tuple[int, dict[str, Any], list[str], bytes]]]:
    """An example in cookie mode; calls send exactly the cookies and headers given (no cookie jar)."""
    from examples.common import DEMO_ALERT_SECRET, DEMO_EXEMPT_PATHS, DEMO_ISSUER

    monkeypatch.chdir(tmp_path)
    settings = Settings(
        secret=SECRET,
        store_url=f"sqlite:///{tmp_path / 'jwtguard.db'}",
        exempt_paths=DEMO_EXEMPT_PATHS,
        sessions=True,
        issuer=DEMO_ISSUER,
        alert_secret=DEMO_ALERT_SECRET,
        token_location="cookie",
        cache_ttl=0,
    )
    if request.param == "flask":
        from examples.flask_app import create_app

        app = create_app(settings)
        client = app.test_client(use_cookies=False)

        def call(method: str, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
            response = client.open(path, method=method, headers=headers or {}, **kw)
            return response.status_code, dict(response.headers), response.headers.getlist("Set-Cookie"), response.data

        try:
            yield call
        finally:
            app.extensions["jwtguard.close"]()
        return
    from starlette.testclient import TestClient

    from examples.starlette_app import create_app as create_asgi_app

    with TestClient(create_asgi_app(settings)) as test_client:

        def asgi_call(method: str, path: str, headers: dict[str, str] | None = None, **kw: Any) -> Any:
            test_client.cookies.clear()
            response = test_client.request(method, path, headers=headers or {}, **kw)
            lowered = {k.lower(): v for k, v in response.headers.items()}
            return response.status_code, lowered, response.headers.get_list("set-cookie"), response.content

        yield asgi_call


def test_cookie_mode_keeps_tokens_out_of_the_page(cookie_example: Callable[..., Any]) -> None:
    """Issue 10 cookie mode: tokens only in cookies, CSRF on unsafe methods, refresh from the cookie,
    and a refused login's cookies expired."""
    import json as jsonlib

    status, _, set_cookies, body = cookie_example(
        "POST", "/login", json={"username": "alice", "password": "alice-password"}
    )
    assert status == 200
    answer = jsonlib.loads(body)
    assert "access_token" not in answer and "refresh_token" not in answer and answer["token_type"] == "Bearer"
    jar = cookie_pairs(set_cookies)
    assert set(jar) == {"__Host-jwtguard-at", "__Secure-jwtguard-rt", "__Host-jwtguard-csrf"}
    for value in set_cookies:
        assert "Secure" in value and "SameSite=Lax" in value and "Domain" not in value
    sent = "; ".join(f"{name}={value}" for name, value in jar.items())
    assert cookie_example("GET", "/api/me", {"Cookie": sent})[0] == 200
    refused = cookie_example("POST", "/logout-all", {"Cookie": sent})
    assert refused[0] == 403
    assert jsonlib.loads(refused[3]) == {"error": "csrf_failed", "reason": "missing_token"}
    csrf = {"Cookie": sent, "X-CSRF-Token": jar["__Host-jwtguard-csrf"]}
    assert cookie_example("GET", "/api/sessions", {"Cookie": sent})[0] == 200
    rotated = cookie_example("POST", "/token", csrf)
    assert rotated[0] == 200, rotated[3]
    fresh = cookie_pairs(rotated[2])
    assert fresh["__Secure-jwtguard-rt"] != jar["__Secure-jwtguard-rt"]
    assert fresh.get("__Host-jwtguard-csrf", jar["__Host-jwtguard-csrf"]) == jar["__Host-jwtguard-csrf"]
    assert cookie_example("POST", "/token", {"Cookie": sent})[0] == 403  # the refresh cookie needs the CSRF token
    admin = cookie_example("POST", "/login", json={"username": "admin", "password": "admin-password"})
    admin_jar = cookie_pairs(admin[2])
    admin_headers = {
        "Cookie": "; ".join(f"{n}={v}" for n, v in admin_jar.items()),
        "X-CSRF-Token": admin_jar["__Host-jwtguard-csrf"],
    }
    assert cookie_example("POST", "/admin/users/alice/disable", admin_headers)[0] == 200
    now = "; ".join(f"{n}={v}" for n, v in {**jar, **fresh}.items())
    gone = cookie_example("GET", "/api/me", {"Cookie": now})
    assert gone[0] == 401 and jsonlib.loads(gone[3])["reason"] == "disabled"
    expired = [value for value in gone[2] if "Max-Age=0" in value]
    assert {value.split("=", 1)[0] for value in expired} == set(jar)
    assert all("Clear-Site-Data" not in name for name in gone[1])


# -- issue 12: the standard endpoints, and provider mode ------------------------------------------


def _basic(client_id: str, secret: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


def test_the_examples_serve_the_standard_endpoints_without_a_token(example_settings: tuple[str, Settings]) -> None:
    """Issue 12: both examples expose /oauth/revoke, /oauth/introspect, /oidc/backchannel-logout,
    /global-token-revocation and /ssf/events at these paths, in front of the guard (no access token needed)."""
    from urllib.parse import urlencode

    from jwtguard.config import endpoint_clients

    framework, settings = example_settings
    settings = settings.replace(endpoint_clients=endpoint_clients("gw:gw-secret-1"))
    with running(framework, settings) as call:
        token = login(call)
        gateway = _basic("gw", "gw-secret-1")
        form = urlencode({"token": token}).encode()
        reply = call("POST", "/oauth/introspect", form=form, Authorization=gateway)
        assert reply.status == 200 and reply.json()["active"] is True and reply.json()["sub"] == "alice"
        assert call("POST", "/oauth/revoke", form=form, Authorization=gateway).status == 200
        assert call("GET", "/api/me", token).status == 401
        assert call("POST", "/oauth/introspect", form=form, Authorization=gateway).json() == {"active": False}
        logout = call("POST", "/oidc/backchannel-logout", form=urlencode({"logout_token": token}).encode())
        assert logout.status == 400 and "JWTGUARD_OIDC_CLIENT_ID" in logout.json()["error_description"]
        assert (
            call("POST", "/global-token-revocation", json={"sub_id": {"format": "opaque", "id": "alice"}}).status == 401
        )
        # /ssf/events (OpenID Shared Signals, RFC 8935) answers in its own shape: not a SET, and
        # without JWTGUARD_SSF_ISSUER it would take none.
        shared = call("POST", "/ssf/events", form=b"token=x")
        assert shared.status == 400 and shared.json()["err"] == "invalid_request"


def test_with_a_jwks_url_the_examples_take_the_providers_tokens(
    framework: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12: with JWTGUARD_JWKS_URL the examples skip their own login, seed no users, and
    /api/me answers the provider's verified `sub`; its back-channel logout ends the session."""
    import time
    import uuid
    from urllib.parse import urlencode

    import jwt
    from test_jwks import JWKSServer

    from examples.common import settings_from_env
    from jwtguard.endpoints.backchannel import BACKCHANNEL_EVENT
    from jwtguard.keyring import jwk_set, new_private_key, public_pem

    monkeypatch.chdir(tmp_path)
    key = new_private_key("RS256")
    server = JWKSServer()
    server.keys = jwk_set(Settings(algorithms=("RS256",), public_key=public_pem(key)))["keys"]
    server.start()
    try:
        issuer = "https://idp.test/realms/demo"
        settings = settings_from_env(
            {
                "JWTGUARD_JWKS_URL": server.url,
                "JWTGUARD_ALGORITHMS": "RS256",
                "JWTGUARD_ISSUER": issuer,
                "JWTGUARD_OIDC_CLIENT_ID": "demo-app",
                "JWTGUARD_STORE_URL": f"sqlite:///{tmp_path / 'jwtguard.db'}",
            }
        )
        now = int(time.time())
        claims = {"iss": issuer, "sub": "f3b1c2d4-provider-user", "iat": now, "exp": now + 300, "sid": "s-1"}
        kid = {"kid": server.keys[0]["kid"]}  # a JWKS names its keys (RFC 7515 §4.1.4)
        token = jwt.encode({**claims, "jti": uuid.uuid4().hex}, key, algorithm="RS256", headers=kid)
        with running(framework, settings) as call:
            assert call("POST", "/login", json={"username": "alice", "password": "alice-password"}).status == 404
            reply = call("GET", "/api/me", token)
            assert reply.status == 200 and reply.json()["user"] == "f3b1c2d4-provider-user"
            logout = {
                "iss": issuer,
                "aud": "demo-app",
                "iat": now,
                "exp": now + 60,
                "jti": uuid.uuid4().hex,
                "sub": claims["sub"],
                "sid": "s-1",
                "events": {BACKCHANNEL_EVENT: {}},
            }
            form = urlencode(
                {"logout_token": jwt.encode(logout, key, algorithm="RS256", headers={"typ": "logout+jwt", **kid})}
            )
            assert call("POST", "/oidc/backchannel-logout", form=form.encode()).status == 200
            assert call("GET", "/api/me", token).status == 401
    finally:
        server.stop()


@pytest.fixture(params=["flask", "starlette"])
def framework(request: pytest.FixtureRequest) -> str:
    return str(request.param)
