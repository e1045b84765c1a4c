"""Issue 9: the README's "Add it to your app" recipes, run end to end, and the README showing exactly them."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from jwtguard import Admin, JWTGuardWSGI, Settings

from conftest import SECRET, Reply

ROOT = Path(__file__).resolve().parent.parent
RECIPES = ROOT / "examples" / "recipes"
README = ROOT / "README.md"

Call = Callable[..., Reply]


def recipe_settings(name: str, store_url: str) -> Settings:
    """The settings the recipe's docstring tells the reader to export (its ``export JWTGUARD_...`` lines)."""
    text = (RECIPES / f"{name}.py").read_text(encoding="utf-8")
    exports = dict(re.findall(r"^\s*export (JWTGUARD_\w+)=(\S+)", text, re.MULTILINE))
    assert "JWTGUARD_SECRET" in exports  # told, as a generated one
    exports["JWTGUARD_SECRET"] = SECRET
    return Settings.from_env(exports, store_url=store_url)


@contextlib.contextmanager
def running(name: str, settings: Settings) -> Iterator[Call]:
    """The recipe's app behind its framework's test client: ``call(method, path, token=None, json=None)``."""
    if name == "fastapi_app":
        from starlette.testclient import TestClient

        from examples.recipes.fastapi_app import create_app

        with TestClient(create_app(settings)) as client:  # runs the lifespan: users, then closing

            def asgi_call(method: str, path: str, token: str | None = None, json: Any = None, data: str = "") -> Reply:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                if data:
                    headers["Content-Type"] = "application/json"
                    response = client.request(method, path, headers=headers, content=data)
                else:
                    response = client.request(method, path, headers=headers, json=json)
                return Reply(
                    response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content
                )

            yield asgi_call
        return

    from werkzeug.test import Client

    guard: JWTGuardWSGI
    if name == "flask_app":
        from examples.recipes.flask_app import create_app as create_flask_app

        app = create_flask_app(settings)
        guard = app.extensions["jwtguard"]
        wsgi: Any = app
    else:
        from examples.recipes import django_app

        guard = wsgi = django_app.create_app(settings)
    wsgi_client = Client(wsgi)

    def wsgi_call(method: str, path: str, token: str | None = None, json: Any = None, data: str = "") -> Reply:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        if data:
            response = wsgi_client.open(
                path, method=method, headers=headers, data=data, content_type="application/json"
            )
        else:
            response = wsgi_client.open(path, method=method, headers=headers, json=json)
        return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.get_data())

    try:
        yield wsgi_call
    finally:
        guard.close()
        if name == "django_app":
            from examples.recipes import django_app

            django_app.admin.close()


@pytest.mark.parametrize("name", ["flask_app", "fastapi_app", "django_app"])
def test_recipe_end_to_end(name: str, store_url: str) -> None:
    """issue 9: each recipe: login, protected route, logout everywhere, refused; disabled login refused; both stores."""
    settings = recipe_settings(name, store_url)
    with running(name, settings) as call:
        assert call("GET", "/api/me").status == 401  # no token: refused (require) or no claims (optional)
        assert call("POST", "/login", json={"user": "alice", "password": "wrong"}).status == 401
        assert call("POST", "/login", json={"user": "mallory", "password": ""}).status == 401
        assert call("POST", "/login", json={"user": "alice", "password": "pässwörd"}).status == 401  # not ASCII
        not_an_object = 422 if name == "fastapi_app" else 401  # FastAPI validates the body itself
        assert call("POST", "/login", json=["not", "an", "object"]).status == not_an_object
        deep = call("POST", "/login", json=None, data="[" * 100_000 + "]" * 100_000)
        assert deep.status in (400, 401, 422), deep.status  # hostile input: a 4xx, never a 500
        login = call("POST", "/login", json={"user": "alice", "password": "alice-password"})
        assert login.status == 200, login.body
        token = login.json()["token"]
        assert "alice-password" not in login.body.decode()

        me = call("GET", "/api/me", token)
        assert me.status == 200 and me.json()["user"] == "alice" and me.headers["x-user-enabled"] == "true"
        helper = call("GET", "/jwtguard.js")
        assert helper.status == 200 and b"createSession" in helper.body
        assert helper.headers["content-type"].startswith("text/javascript")

        second = call("POST", "/login", json={"user": "alice", "password": "alice-password"}).json()["token"]
        assert call("POST", "/api/logout-everywhere", token).status == 200
        for old in (token, second):  # every device's token
            refused = call("GET", "/api/me", old)
            assert refused.status == 401 and refused.json()["reason"] == "revoked"
            assert 'error="invalid_token"' in refused.headers["www-authenticate"]  # the helper drops the token
        fresh = call("POST", "/login", json={"user": "alice", "password": "alice-password"}).json()["token"]
        assert call("GET", "/api/me", fresh).status == 200

        bob = call("POST", "/login", json={"user": "bob", "password": "bob-password"}).json()["token"]
        admin = Admin(settings)
        try:
            admin.disable_user("bob")  # e.g. `jwtguard disable bob`
        finally:
            admin.close()
        disabled = call("POST", "/login", json={"user": "bob", "password": "bob-password"})
        assert disabled.status == 403 and b"account_disabled" in disabled.body
        cut_off = call("GET", "/api/me", bob)
        assert cut_off.status == 401 and cut_off.headers["x-user-enabled"] == "false"

    # A restart keeps bob disabled (creating the demo users leaves existing ones alone).
    with running(name, settings) as call:
        assert call("POST", "/login", json={"user": "bob", "password": "bob-password"}).status == 403


def test_fastapi_recipe_schema_and_docs(tmp_path: Path) -> None:
    """issue 9: the FastAPI recipe's /docs and /openapi.json work in optional mode, with a Bearer scheme."""
    settings = recipe_settings("fastapi_app", f"sqlite:///{tmp_path / 'r.db'}")
    assert settings.mode == "optional"
    with running("fastapi_app", settings) as call:
        assert call("GET", "/docs").status == 200
        schema = call("GET", "/openapi.json").json()
        assert schema["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
        assert schema["paths"]["/api/me"]["get"]["security"] == [{"bearer": []}]
        assert "security" not in schema["paths"]["/login"]["post"]


def test_django_wsgi_recipe(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """issue 9: the two-line wsgi.py puts the guard in front of Django, settings from JWTGUARD_* variables."""
    import importlib

    from examples.recipes import django_app  # configures Django for this process

    monkeypatch.setenv("DJANGO_SETTINGS_MODULE", "mysite.settings")  # what wsgi.py sets; unused once configured
    monkeypatch.setenv("JWTGUARD_SECRET", SECRET)
    monkeypatch.setenv("JWTGUARD_STORE_URL", f"sqlite:///{tmp_path / 'w.db'}")
    wsgi = importlib.import_module("examples.recipes.django_wsgi")
    from werkzeug.test import Client

    try:
        assert isinstance(wsgi.application, JWTGuardWSGI)
        response = Client(wsgi.application).get("/api/me")
        assert response.status_code == 401 and response.json == {"error": "unauthorized", "reason": "missing_token"}
    finally:
        wsgi.application.close()
    assert django_app.urlpatterns


def _readme_blocks() -> list[str]:
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Add it to your app\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```python\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)


def test_the_readme_shows_exactly_the_recipe_files() -> None:
    """issue 9: every ```python block of "Add it to your app" is a recipe file, named on its first line, verbatim.

    Blocks are matched to files by that first line (``# examples/recipes/flask_app.py``); every recipe file
    is shown once.
    """
    blocks = _readme_blocks()
    shown: list[str] = []
    for block in blocks:
        first = block.splitlines()[0]
        match = re.fullmatch(r"# (examples/recipes/\w+\.py)", first)
        assert match, f"a python block in 'Add it to your app' must start with '# examples/recipes/<file>.py': {first}"
        assert block == (ROOT / match.group(1)).read_text(encoding="utf-8"), match.group(1)
        shown.append(match.group(1))
    files = sorted(f"examples/recipes/{p.name}" for p in RECIPES.glob("*.py") if p.name != "__init__.py")
    assert sorted(shown) == files
