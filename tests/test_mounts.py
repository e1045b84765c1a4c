"""Issue 8: mount semantics of ``JWTGUARD_EXEMPT_PATHS`` on both adapters.

An exempt path is the path as the wrapped app's router sees it: WSGI ``PATH_INFO``
(below ``SCRIPT_NAME``), ASGI ``scope["path"]`` without a leading ``scope["root_path"]``.
Before the fix, ``/login`` exempt on an app mounted at ``/api`` let ``GET /api/login``
through on WSGI (200) and refused it on ASGI (401).

Covered through real frameworks and servers: a Flask app under werkzeug's
``DispatcherMiddleware``, a Starlette app under a Starlette ``Mount``, a uvicorn
subprocess with ``--root-path``, raw WSGI environs and ASGI scopes (gunicorn is not
installed), and the ``app_path`` table. Every store is an embedded SQLite file.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from jwtguard import Admin, JWTGuardASGI, JWTGuardWSGI, Settings, issue_token
from jwtguard.sansio.request import app_path

from conftest import SECRET, Reply, bearer

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment
    from starlette.types import ASGIApp, Message, Receive, Scope, Send

REPO = Path(__file__).resolve().parent.parent
EXEMPT = ("/login", "/static/")
MISSING_TOKEN = {"error": "unauthorized", "reason": "missing_token"}


@dataclass
class Guarded:
    """Settings of a fresh SQLite store that knows ``alice``, and a valid token of hers."""

    settings: Settings
    store_url: str
    token: str


@pytest.fixture
def guarded(tmp_path: Path) -> Guarded:
    store_url = f"sqlite:///{tmp_path / 'jwtguard.db'}"
    settings = Settings(secret=SECRET, store_url=store_url, exempt_paths=EXEMPT)
    admin = Admin(settings)
    try:
        admin.create_user("alice")
    finally:
        admin.close()
    return Guarded(settings, store_url, issue_token(settings, "alice"))


# -- the apps ---------------------------------------------------------------------------


def inner_flask() -> Any:
    from flask import Flask, jsonify, request

    app = Flask("inner", static_folder=None)

    @app.get("/login")
    def login() -> Any:
        return jsonify(app="inner", view="login")

    @app.get("/me")
    def me() -> Any:
        return jsonify(
            app="inner",
            user=request.environ["jwtguard.user_id"],
            claims=request.environ["jwtguard.claims"],
            root=request.script_root,
            path=request.path,
        )

    @app.get("/static/<path:name>")
    def static(name: str) -> Any:
        return jsonify(app="inner", static=name)

    return app


def outer_flask() -> Any:
    from flask import Flask, jsonify

    app = Flask("outer", static_folder=None)

    @app.get("/login")
    def login() -> Any:
        return jsonify(app="outer", view="login")

    return app


def inner_starlette() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def login(request: Request) -> JSONResponse:
        return JSONResponse({"app": "inner", "view": "login"})

    async def me(request: Request) -> JSONResponse:
        scope = request.scope
        return JSONResponse(
            {
                "app": "inner",
                "user": scope["jwtguard.user_id"],
                "claims": scope["jwtguard.claims"],
                "root": scope["root_path"],
                "path": scope["path"],
            }
        )

    async def static(request: Request) -> JSONResponse:
        return JSONResponse({"app": "inner", "static": request.path_params["name"]})

    return Starlette(routes=[Route("/login", login), Route("/me", me), Route("/static/{name:path}", static)])


def outer_starlette(mounted: ASGIApp) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Mount, Route

    async def login(request: Request) -> JSONResponse:
        return JSONResponse({"app": "outer", "view": "login"})

    return Starlette(routes=[Route("/login", login), Mount("/api", app=mounted)])


# -- 1. both adapters mounted at /api behind a real framework ----------------------------

Get = Callable[..., Reply]


@dataclass
class Mounted:
    """A GET client of the outer app, and every (mount, path) the guard was called with."""

    get: Get
    seen: list[tuple[str, str]]
    adapter: str = "wsgi"


@pytest.fixture(params=["wsgi", "asgi"])
def mounted(request: pytest.FixtureRequest, guarded: Guarded) -> Iterator[Mounted]:
    seen: list[tuple[str, str]] = []
    if request.param == "wsgi":
        from werkzeug.middleware.dispatcher import DispatcherMiddleware
        from werkzeug.test import Client

        guard = JWTGuardWSGI(inner_flask().wsgi_app, settings=guarded.settings)

        def recorded(environ: WSGIEnvironment, start_response: StartResponse) -> Any:
            seen.append((environ["SCRIPT_NAME"], environ["PATH_INFO"]))
            return guard(environ, start_response)

        outer = outer_flask()
        dispatcher: WSGIApplication = DispatcherMiddleware(outer.wsgi_app, {"/api": recorded})
        client = Client(dispatcher)

        def wsgi_get(path: str, headers: list[tuple[str, str]] | None = None) -> Reply:
            response = client.get(path, headers=headers or [])
            return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.get_data())

        try:
            yield Mounted(wsgi_get, seen)
        finally:
            guard.close()
        return

    from starlette.testclient import TestClient

    asgi_guard = JWTGuardASGI(inner_starlette(), settings=guarded.settings)

    async def asgi_recorded(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            seen.append((scope["root_path"], scope["path"]))
        await asgi_guard(scope, receive, send)

    with TestClient(outer_starlette(asgi_recorded)) as test_client:

        def asgi_get(path: str, headers: list[tuple[str, str]] | None = None) -> Reply:
            response = test_client.get(path, headers=headers or [])
            return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)

        try:
            yield Mounted(asgi_get, seen, "asgi")
        finally:
            assert test_client.portal is not None
            test_client.portal.call(asgi_guard.close)


def test_exempt_path_under_a_mount(mounted: Mounted) -> None:
    """Issue 8: mount semantics: /login exempt on an app mounted at /api lets GET /api/login through, both adapters."""
    reply = mounted.get("/api/login")
    assert reply.status == 200, reply.body
    assert reply.json() == {"app": "inner", "view": "login"}
    assert "x-user-enabled" not in reply.headers  # exempt: passed untouched, not accepted
    assert mounted.seen[-1][0] == "/api"

    below = mounted.get("/api/login/again")  # "/login" covers "/login/..." too: the guard lets it by
    assert below.status == 404


def test_guarded_path_under_a_mount_needs_a_token(mounted: Mounted) -> None:
    """Issue 8: mount semantics: GET /api/me without a token is refused missing_token, both adapters."""
    reply = mounted.get("/api/me")
    assert reply.status == 401
    assert reply.json() == MISSING_TOKEN
    assert reply.headers["www-authenticate"].startswith("Bearer")


def test_valid_token_under_a_mount(mounted: Mounted, guarded: Guarded) -> None:
    """Issue 8: mount semantics: GET /api/me with a valid token reaches the app, which sees its claims and mount."""
    reply = mounted.get("/api/me", headers=bearer(guarded.token))
    assert reply.status == 200, reply.body
    assert reply.headers["x-user-enabled"] == "true"
    body = reply.json()
    assert body["app"] == "inner"
    assert body["user"] == "alice"
    assert body["claims"]["sub"] == "alice"
    assert {"iat", "exp", "jti"} <= body["claims"].keys()
    assert body["root"] == "/api"
    # Flask's request.path is below the mount; Starlette keeps root_path inside path.
    assert body["path"] == {"wsgi": "/me", "asgi": "/api/me"}[mounted.adapter]


def test_outer_login_is_not_the_guarded_app(mounted: Mounted) -> None:
    """Issue 8: mount semantics: GET /login on the outer app never reaches the guard mounted at /api."""
    reply = mounted.get("/login")
    assert reply.status == 200, reply.body
    assert reply.json() == {"app": "outer", "view": "login"}
    assert mounted.seen == []

    elsewhere = mounted.get("/me")  # not under the mount: the outer app's 404, not the guard's 401
    assert elsewhere.status == 404
    assert mounted.seen == []


def test_exempt_prefix_under_a_mount(mounted: Mounted) -> None:
    """Issue 8: mount semantics: the /static/ prefix is exempt under /api; /static itself is not."""
    reply = mounted.get("/api/static/css/app.css")
    assert reply.status == 200, reply.body
    assert reply.json() == {"app": "inner", "static": "css/app.css"}

    bare = mounted.get("/api/static")
    assert bare.status == 401
    assert bare.json() == MISSING_TOKEN


def test_traversal_out_of_an_exempt_prefix_under_a_mount(mounted: Mounted) -> None:
    """Issue 8: mount semantics: /api/static/../me does not ride on the /static/ exemption, both adapters.

    The dots are percent-encoded so the client sends them as they are (httpx would remove
    literal dot segments); both frameworks decode them, so the guard sees ``/static/../me``.
    """
    reply = mounted.get("/api/static/%2E%2E/me")
    assert mounted.seen, "the request never reached the mounted guard"
    mount, path = mounted.seen[-1]
    assert mount == "/api"
    assert path.endswith("/static/../me")
    assert reply.status == 401, reply.body
    assert reply.json() == MISSING_TOKEN

    single = mounted.get("/api/static/%2E/me")
    assert single.status == 401
    assert single.json() == MISSING_TOKEN


# -- 2. a real uvicorn with --root-path -----------------------------------------------

SERVER_APP = '''
"""A Starlette app behind JWTGuardASGI, configured from JWTGUARD_* (test_mounts)."""
import contextlib

from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from jwtguard import JWTGuardASGI


async def login(request):
    return JSONResponse({"app": "inner", "view": "login"})


async def me(request):
    scope = request.scope
    return JSONResponse(
        {
            "user": scope["jwtguard.user_id"],
            "claims": scope["jwtguard.claims"],
            "root": scope["root_path"],
            "path": scope["path"],
        }
    )


async def static(request):
    return JSONResponse({"static": request.path_params["name"]})


@contextlib.asynccontextmanager
async def lifespan(_app):
    yield
    await app.close()


app = JWTGuardASGI(
    Starlette(
        routes=[Route("/login", login), Route("/me", me), Route("/static/{name:path}", static)],
        lifespan=lifespan,
    )
)
'''


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until_listening(process: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"uvicorn exited with {process.returncode}:\n{log.read_text(errors='replace')}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1.0):
            return
        time.sleep(0.1)
    raise AssertionError(f"uvicorn did not listen on {port} within {timeout}s:\n{log.read_text(errors='replace')}")


def test_uvicorn_root_path(tmp_path: Path, guarded: Guarded) -> None:
    """Issue 8: mount semantics under a real uvicorn started with --root-path /api.

    uvicorn (>= 0.26) serves an app behind a proxy that strips the prefix: a request for
    ``/login`` arrives as ``path="/api/login"``, ``root_path="/api"``, and the app routes
    ``/login``, so that is what the exemption matches.
    """
    (tmp_path / "mounted_app.py").write_text(textwrap.dedent(SERVER_APP))
    log = tmp_path / "uvicorn.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGUARD_")}
    env.update(
        JWTGUARD_SECRET=SECRET,
        JWTGUARD_STORE_URL=guarded.store_url,
        JWTGUARD_EXEMPT_PATHS=",".join(EXEMPT),
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    )
    port = free_port()
    command = [
        sys.executable, "-m", "uvicorn", "mounted_app:app",
        "--app-dir", str(tmp_path), "--host", "127.0.0.1", "--port", str(port),
        "--root-path", "/api", "--no-access-log", "--lifespan", "on",
    ]  # fmt: skip
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=out)
    try:
        wait_until_listening(process, port, log)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5.0, trust_env=False) as client:
            login = client.get("/login")
            assert login.status_code == 200, login.text
            assert login.json() == {"app": "inner", "view": "login"}
            assert "x-user-enabled" not in login.headers

            missing = client.get("/me")
            assert missing.status_code == 401
            assert missing.json() == MISSING_TOKEN

            me = client.get("/me", headers=bearer(guarded.token))
            assert me.status_code == 200, me.text
            assert me.headers["x-user-enabled"] == "true"
            body = me.json()
            assert body["user"] == "alice"
            assert body["claims"]["sub"] == "alice"
            assert (body["root"], body["path"]) == ("/api", "/api/me")

            static = client.get("/static/app.js")
            assert static.status_code == 200, static.text
            assert static.json() == {"static": "app.js"}

            traversal = client.get("/static/%2E%2E/me")
            assert traversal.status_code == 401
            assert traversal.json() == MISSING_TOKEN

            # Not behind the stripping proxy: the app would route "/api/login", which is not exempt.
            doubled = client.get("/api/login")
            assert doubled.status_code == 401
            assert doubled.json() == MISSING_TOKEN
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    assert "Traceback" not in log.read_text(errors="replace"), log.read_text(errors="replace")


# -- 3. raw WSGI environs and ASGI scopes (no root-path WSGI server installed) -------------


def test_wsgi_script_name_environ(guarded: Guarded) -> None:
    """Issue 8: mount semantics on WSGI: SCRIPT_NAME=/api, PATH_INFO=/login is exempt; PATH_INFO=/me is not."""
    from werkzeug.test import Client, EnvironBuilder

    guard = JWTGuardWSGI(inner_flask().wsgi_app, settings=guarded.settings)
    try:
        client = Client(guard)

        def get(path: str, headers: list[tuple[str, str]] | None = None) -> Any:
            builder = EnvironBuilder(path=path, base_url="http://localhost/api", headers=headers or [])
            environ = builder.get_environ()
            assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/api", path)
            return client.open(builder)

        login = get("/login")
        assert login.status_code == 200, login.get_data()
        assert login.get_json() == {"app": "inner", "view": "login"}

        missing = get("/me")
        assert missing.status_code == 401
        assert missing.get_json() == MISSING_TOKEN

        me = get("/me", bearer(guarded.token))
        assert me.status_code == 200, me.get_data()
        assert (me.get_json()["user"], me.get_json()["root"], me.get_json()["path"]) == ("alice", "/api", "/me")

        # PATH_INFO is below the mount: "/api/login" there is a different route, not exempt.
        doubled = get("/api/login")
        assert doubled.status_code == 401
    finally:
        guard.close()


def http_scope(path: str, root_path: str, headers: list[tuple[bytes, bytes]] | None = None) -> dict[str, Any]:
    return {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode("ascii"),
        "root_path": root_path,
        "query_string": b"",
        "headers": [(b"host", b"localhost"), *(headers or [])],
        "client": ("127.0.0.1", 50000),
        "server": ("localhost", 80),
    }


async def call_asgi(app: ASGIApp, scope: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    sent: list[Message] = []
    requested = False

    async def receive() -> Message:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in start.get("headers", [])}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], headers, body


@pytest.mark.parametrize(
    ("login", "me"),
    [
        pytest.param("/api/login", "/api/me", id="root_path-inside-path"),
        pytest.param("/login", "/me", id="legacy-server"),
    ],
)
def test_asgi_root_path_scope(guarded: Guarded, login: str, me: str) -> None:
    """Issue 8: mount semantics on ASGI: root_path=/api with path /api/login (current) or /login (legacy) is exempt."""
    token = f"Bearer {guarded.token}".encode("latin-1")

    async def scenario() -> None:
        guard = JWTGuardASGI(inner_starlette(), settings=guarded.settings)
        try:
            status, headers, body = await call_asgi(guard, http_scope(login, "/api"))
            assert status == 200, body
            assert json.loads(body) == {"app": "inner", "view": "login"}
            assert "x-user-enabled" not in headers

            status, _, body = await call_asgi(guard, http_scope(me, "/api"))
            assert status == 401
            assert json.loads(body) == MISSING_TOKEN

            status, headers, body = await call_asgi(guard, http_scope(me, "/api", [(b"authorization", token)]))
            assert status == 200, body
            assert headers["x-user-enabled"] == "true"
            assert json.loads(body)["user"] == "alice"

            # Not a segment boundary: "/apix/login" under root_path "/api" is not "/login".
            status, _, body = await call_asgi(guard, http_scope("/apix/login", "/api"))
            assert status == 401
            assert json.loads(body) == MISSING_TOKEN
        finally:
            await guard.close()

    asyncio.run(scenario())


# -- 4. the path the app routes ---------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "root_path", "expected"),
    [
        ("/api/login", "/api", "/login"),
        ("/api", "/api", "/"),
        ("/api/", "/api", "/"),
        ("/apix/login", "/api", "/apix/login"),  # not a segment boundary
        ("/login", "/api", "/login"),  # a legacy server: root_path not inside path
        ("/api/login", "", "/api/login"),  # not mounted
        ("/api/v1/login", "/api/v1", "/login"),  # a deeper mount
    ],
)
def test_app_path(path: str, root_path: str, expected: str) -> None:
    """Issue 8: mount semantics: app_path(path, root_path) is the path the app behind an ASGI mount routes."""
    assert app_path(path, root_path) == expected
