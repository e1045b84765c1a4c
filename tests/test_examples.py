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

        def call(method: str, path: str, token: str | None = None, json: Any = None) -> Reply:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = client.open(path, method=method, headers=headers, json=json)
            return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.data)

        try:
            yield call
        finally:
            app.extensions["jwtguard.close"]()
        return

    from starlette.testclient import TestClient

    from examples.starlette_app import create_app as create_asgi_app

    with TestClient(create_asgi_app(settings)) as test_client:

        def asgi_call(method: str, path: str, token: str | None = None, json: Any = None) -> Reply:
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            response = test_client.request(method, path, headers=headers, json=json)
            return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)

        yield asgi_call


@pytest.fixture(params=["flask-sqlite", "starlette-sqlite", "flask-mongo", "starlette-mongo"])
def example_settings(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, Settings]:
    """(framework, settings) on a fresh store of either kind, in a temporary working directory."""
    from examples.common import DEMO_EXEMPT_PATHS

    framework, store = request.param.split("-")
    monkeypatch.chdir(tmp_path)
    url = request.getfixturevalue("mongo_uri") if store == "mongo" else f"sqlite:///{tmp_path / 'jwtguard.db'}"
    return framework, Settings(secret=SECRET, store_url=url, exempt_paths=DEMO_EXEMPT_PATHS)


@pytest.fixture
def example(example_settings: tuple[str, Settings]) -> Iterator[Callable[..., Reply]]:
    with running(*example_settings) as call:
        yield call


Call = Callable[..., Reply]


def login(call: Call, user: str = "alice", password: str | None = None) -> str:
    reply = call("POST", "/login", json={"username": user, "password": password or f"{user}-password"})
    assert reply.status == 200, reply.body
    return str(reply.json()["token"])


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


def test_logout_kills_only_this_token(example: Call) -> None:
    phone, laptop = login(example), login(example)
    assert example("POST", "/logout", phone).status == 200
    refused = example("GET", "/api/me", phone)
    assert refused.status == 401
    assert 'error="invalid_token"' in refused.headers["www-authenticate"]
    assert example("GET", "/api/me", laptop).status == 200


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
    fresh = reply.json()["token"]
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
    from examples.common import DEMO_EXEMPT_PATHS
    from examples.flask_app import create_app

    monkeypatch.chdir(tmp_path)
    settings = Settings(
        secret=SECRET,
        store_url=f"sqlite:///{tmp_path / 'jwtguard.db'}",
        exempt_paths=DEMO_EXEMPT_PATHS,
        clear_site_data=True,
    )
    app = create_app(settings)
    close_app = app.extensions["jwtguard.close"]

    @app.after_request
    def cors(response: Any) -> Any:
        response.headers["Access-Control-Allow-Origin"] = "https://app.example"
        return response

    client = app.test_client()
    token = client.post("/login", json={"username": "alice", "password": "alice-password"}).get_json()["token"]
    ok = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert ok.status_code == 200
    assert "X-User-Enabled" in ok.headers["Access-Control-Expose-Headers"]
    assert "Clear-Site-Data" not in ok.headers
    forged = client.get("/api/me", headers={"Authorization": f"Bearer {token[:-4]}AAAA"})
    assert forged.status_code == 401
    assert "Clear-Site-Data" not in forged.headers  # a bad signature must not wipe anyone's storage
    admin = client.post("/login", json={"username": "admin", "password": "admin-password"}).get_json()["token"]
    client.post("/admin/users/alice/disable", headers={"Authorization": f"Bearer {admin}"})
    refused = client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401
    assert refused.headers["Clear-Site-Data"] == '"storage"'
    close_app()


def test_cors_outside_the_guard_reaches_its_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples' --cors-origin (Flask: CrossOrigin around the guard): preflights pass without a token, and the
    guard's own 401s carry the CORS headers and expose both signals."""
    from examples.common import DEMO_EXEMPT_PATHS, CrossOrigin
    from examples.flask_app import create_app

    monkeypatch.chdir(tmp_path)
    store_url = f"sqlite:///{tmp_path / 'jwtguard.db'}"
    app = create_app(Settings(secret=SECRET, store_url=store_url, exempt_paths=DEMO_EXEMPT_PATHS))
    frontend = "http://localhost:5173"
    app.wsgi_app = CrossOrigin(app.wsgi_app, frontend)  # type: ignore[method-assign]
    client = app.test_client()
    origin = {"Origin": frontend}

    asking = {"Access-Control-Request-Method": "GET", "Access-Control-Request-Headers": "authorization"}
    preflight = client.options("/api/me", headers={**origin, **asking})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == frontend
    assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]

    credentials = {"username": "alice", "password": "alice-password"}
    token = client.post("/login", json=credentials, headers=origin).get_json()["token"]
    auth = {**origin, "Authorization": f"Bearer {token}"}
    ok = client.get("/api/me", headers=auth)
    assert ok.status_code == 200
    assert ok.headers["Access-Control-Allow-Origin"] == frontend
    assert ok.headers.getlist("Access-Control-Expose-Headers") == ["X-User-Enabled, WWW-Authenticate"]  # just one

    missing = client.get("/api/me", headers=origin)
    assert missing.status_code == 401
    assert missing.headers["Access-Control-Allow-Origin"] == frontend
    admin = client.post("/login", json={"username": "admin", "password": "admin-password"}).get_json()["token"]
    client.post("/admin/users/alice/disable", headers={"Authorization": f"Bearer {admin}"})
    refused = client.get("/api/me", headers=auth)
    assert refused.status_code == 401
    assert refused.headers["X-User-Enabled"] == "false"
    assert refused.headers["Access-Control-Allow-Origin"] == frontend
    assert "X-User-Enabled" in refused.headers["Access-Control-Expose-Headers"]

    other = client.get("/api/me", headers={"Origin": "https://evil.example", "Authorization": f"Bearer {token}"})
    assert "Access-Control-Allow-Origin" not in other.headers
    app.extensions["jwtguard.close"]()
