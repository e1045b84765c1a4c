"""Issue 9: optional mode, and the per-route helpers over the middleware's one verdict."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Annotated, Any

import jwt
import pytest
from fastapi import Depends, FastAPI

from jwtguard import Admin, MemoryStore, Settings
from jwtguard.engine import Engine
from jwtguard.fastapi import optional_claims, require_claims, require_roles, require_scopes
from jwtguard.invalidation import InvalidationBus
from jwtguard.sansio import Policy, Request
from jwtguard.sansio.policy import (
    CLAIMS_KEY,
    POLICY_KEY,
    UNGUARDED,
    granted_roles,
    granted_scopes,
    requirement,
    route_decision,
)

from conftest import SECRET, Client, Reply, bearer

T = 1_800_000_000.0


def _token(**claims: Any) -> str:
    return jwt.encode({"sub": "alice", "iat": T - 10, "exp": T + 600, **claims}, SECRET, algorithm="HS256")


# -- optional mode: the policy --------------------------------------------------------------

MODE_TABLE: list[tuple[str, str, list[str], tuple[int, str]]] = [
    # (id, mode, Authorization values, (status, reason) or (200, kind))
    ("require-no-header", "require", [], (401, "missing_token")),
    ("require-basic", "require", ["Basic YWxpY2U6cHc="], (401, "missing_token")),
    ("optional-no-header", "optional", [], (200, "anonymous")),
    ("optional-basic", "optional", ["Basic YWxpY2U6cHc="], (200, "anonymous")),
    ("optional-digest", "optional", ['Digest username="alice"'], (200, "anonymous")),
    ("optional-good-token", "optional", [f"Bearer {_token()}"], (200, "accept")),
    ("optional-bearer-alone", "optional", ["Bearer"], (400, "malformed")),
    ("optional-bearer-tab", "optional", [f"Bearer\t{_token()}"], (400, "malformed")),
    ("optional-two-fields", "optional", [f"Bearer {_token()}", "Basic YWxpY2U6cHc="], (400, "multiple_credentials")),
    ("optional-two-joined", "optional", [f"Basic x, Bearer {_token()}"], (400, "multiple_credentials")),
    ("optional-two-empty-fields", "optional", ["", ""], (400, "multiple_credentials")),
    ("optional-too-large", "optional", ["Bearer " + "a" * 9000], (431, "header_too_large")),
    ("optional-bad-signature", "optional", [f"Bearer {_token()}x"], (401, "invalid")),
    ("optional-garbage-token", "optional", ["Bearer not-a-jwt"], (401, "invalid")),
    ("optional-expired", "optional", [f"Bearer {_token(exp=T - 1)}"], (401, "expired")),
    ("optional-unknown-user", "optional", [f"Bearer {_token(sub='mallory')}"], (401, "unknown_user")),
    ("optional-disabled", "optional", [f"Bearer {_token(sub='bob')}"], (401, "disabled")),
    ("optional-revoked", "optional", [f"Bearer {_token(sub='carol')}"], (401, "revoked")),
]


@pytest.mark.parametrize(
    ("mode", "values", "expected"), [row[1:] for row in MODE_TABLE], ids=[r[0] for r in MODE_TABLE]
)
def test_optional_mode_decisions(mode: str, values: list[str], expected: tuple[int, str]) -> None:
    """issue 9: optional mode passes only a request without Bearer credentials; a sent token is fully checked."""
    settings = Settings.from_env({"JWTGUARD_SECRET": SECRET, "JWTGUARD_MODE": mode})
    store = MemoryStore(settings)
    store.put("alice", {})
    store.put("bob", {"user_enabled": False})
    store.put("carol", {"destroyAnyJWTbefore": T})
    engine = Engine(settings, store=store, clock=lambda: T, bus=InvalidationBus())
    decision = engine.handle(Request("GET", "/api", tuple(values)))
    if decision.passes:
        assert (200, decision.kind) == expected
        assert (decision.claims is None) is (decision.kind == "anonymous")
        assert decision.user_id == (None if decision.kind == "anonymous" else "alice")
    else:
        assert (decision.status, decision.reason) == expected


def test_optional_mode_warns_at_start_up(caplog: pytest.LogCaptureFixture) -> None:
    """issue 9: optional mode makes undecorated routes public: a start-up WARNING says so."""
    with caplog.at_level(logging.WARNING, logger="jwtguard"):
        Engine(Settings(secret=SECRET, mode="require"), store=MemoryStore(Settings(secret=SECRET)))
    assert not [r for r in caplog.records if "JWTGUARD_MODE" in r.getMessage()]
    with caplog.at_level(logging.WARNING, logger="jwtguard"):
        Engine(Settings(secret=SECRET, mode="optional"), store=MemoryStore(Settings(secret=SECRET)))
    (record,) = [r for r in caplog.records if "JWTGUARD_MODE=optional" in r.getMessage()]
    assert record.levelno == logging.WARNING and "PUBLIC" in record.getMessage()


def test_mode_setting_is_validated() -> None:
    """issue 9: JWTGUARD_MODE accepts require or optional (any case), nothing else."""
    assert Settings.from_env({"JWTGUARD_SECRET": SECRET, "JWTGUARD_MODE": "OPTIONAL"}).mode == "optional"
    assert Settings(secret=SECRET).mode == "require"
    with pytest.raises(Exception, match="JWTGUARD_MODE"):
        Settings(secret=SECRET, mode="public")  # type: ignore[arg-type]


# -- the claims checks: pure --------------------------------------------------------------

CLAIMS_TABLE: list[tuple[str, dict[str, Any], str, str, bool]] = [
    # (id, claims, required scopes, required roles, granted)
    ("no-requirement", {}, "", "", True),
    ("scope-one-of-several", {"scope": "notes:read notes:write"}, "notes:write", "", True),
    ("scope-all-required", {"scope": "notes:read notes:write"}, "notes:read notes:write", "", True),
    ("scope-one-missing", {"scope": "notes:read"}, "notes:read notes:write", "", False),
    ("scope-no-substring", {"scope": "notes:writer"}, "notes:write", "", False),
    ("scope-absent", {}, "notes:read", "", False),
    ("scope-extra-spaces", {"scope": " notes:read  notes:write "}, "notes:write", "", True),
    ("scope-as-list-grants-nothing", {"scope": ("notes:read",)}, "notes:read", "", False),
    ("scope-as-object-grants-nothing", {"scope": {"notes:read": True}}, "notes:read", "", False),
    ("role-element", {"roles": ("user", "admin")}, "", "admin", True),
    ("role-no-substring", {"roles": ("superadmin",)}, "", "admin", False),
    ("role-string-grants-nothing", {"roles": "admin"}, "", "admin", False),
    ("role-non-strings-ignored", {"roles": (1, None, "admin")}, "", "admin", True),
    ("role-absent", {}, "", "admin", False),
    ("role-and-scope-both-needed", {"roles": ("admin",), "scope": "a"}, "b", "admin", False),
    ("role-and-scope-both-there", {"roles": ("admin",), "scope": "a b"}, "b", "admin", True),
]


def _verdict(claims: dict[str, Any] | None, settings: Settings | None = None) -> dict[str, Any]:
    return {CLAIMS_KEY: claims, POLICY_KEY: Policy(settings or Settings(secret=SECRET))}


@pytest.mark.parametrize(
    ("claims", "scopes", "roles", "granted"), [row[1:] for row in CLAIMS_TABLE], ids=[r[0] for r in CLAIMS_TABLE]
)
def test_scope_and_role_checks(claims: dict[str, Any], scopes: str, roles: str, granted: bool) -> None:
    """issue 9: `scope` is a space-separated string (RFC 8693 §4.2), `roles` an array; all required must be there."""
    decision = route_decision(_verdict(claims), scopes=requirement(scopes), roles=requirement(roles))
    if granted:
        assert decision is None
    else:
        assert decision is not None and decision.status == 403 and decision.reason == "insufficient_scope"
        headers = dict(decision.headers)
        assert headers["WWW-Authenticate"].startswith('Bearer realm="api", error="insufficient_scope"')


def test_claim_readers_and_requirements() -> None:
    """issue 9: the readers of `scope` and `roles`, and a requirement given as a string or strings."""
    assert granted_scopes({"scope": "a b"}) == {"a", "b"}
    assert granted_roles({"roles": ["a", "b"]}) == {"a", "b"}
    assert requirement("a b") == requirement(["a", "b"]) == requirement(("a", "", "b")) == {"a", "b"}
    assert requirement(None) == frozenset()


VERDICT_TABLE: list[tuple[str, dict[str, Any] | None, bool, bool, str | None]] = [
    # (id, what the guard left (None: nothing), optional, with a scope requirement, refusal reason)
    ("unguarded-required", None, False, False, "missing_token"),
    ("unguarded-optional", None, True, False, "missing_token"),
    ("anonymous-required", {"claims": None}, False, False, "missing_token"),
    ("anonymous-optional", {"claims": None}, True, False, None),
    ("anonymous-optional-with-scope", {"claims": None}, True, True, "missing_token"),
    ("accepted-required", {"claims": {"scope": "s"}}, False, False, None),
    ("accepted-optional", {"claims": {"scope": "s"}}, True, False, None),
    ("accepted-with-scope", {"claims": {"scope": "s"}}, False, True, None),
    ("accepted-without-scope", {"claims": {}}, False, True, "insufficient_scope"),
]


@pytest.mark.parametrize(
    ("left", "optional", "scoped", "reason"), [row[1:] for row in VERDICT_TABLE], ids=[r[0] for r in VERDICT_TABLE]
)
def test_route_decision_reads_the_verdict(
    left: dict[str, Any] | None, optional: bool, scoped: bool, reason: str | None
) -> None:
    """issue 9: a route runs only on the guard's verdict; no verdict fails closed (401), even for optional."""
    settings = Settings(secret=SECRET, realm="notes")
    verdict = {} if left is None else _verdict(left["claims"], settings)
    decision = route_decision(verdict, optional=optional, scopes=requirement("s" if scoped else None))
    if reason is None:
        assert decision is None
        return
    assert decision is not None and decision.reason == reason
    if left is None:
        assert decision is UNGUARDED  # no policy to ask: the default realm
    else:
        assert dict(decision.headers)["WWW-Authenticate"].startswith('Bearer realm="notes"')


def test_claims_without_policy_fail_closed() -> None:
    """issue 9: claims some other code put in the environ, without the guard's policy, are not a verdict."""
    assert route_decision({CLAIMS_KEY: {"sub": "alice", "scope": "s"}}) is UNGUARDED


# -- the helpers behind both adapters: Flask (WSGI) and Starlette (ASGI) ----------------------

ROUTES = ("/open", "/me", "/maybe", "/notes", "/admin", "/public/checked")


def flask_routes(settings: Settings) -> Any:
    from flask import Flask, jsonify, request

    from jwtguard.flask import JWTGuard, current_claims, current_user_id, jwt_required

    app = Flask(__name__)

    def answer() -> Any:
        return jsonify(verdict="jwtguard.claims" in request.environ, claims=current_claims(), user=current_user_id())

    app.add_url_rule("/open", "open", answer)
    app.add_url_rule("/me", "me", jwt_required()(answer))
    app.add_url_rule("/maybe", "maybe", jwt_required(optional=True)(answer))
    app.add_url_rule("/notes", "notes", jwt_required(scopes="notes:read")(answer))
    app.add_url_rule("/admin", "admin", jwt_required(roles=["admin"])(answer))
    app.add_url_rule("/public/checked", "checked", jwt_required(optional=True)(answer))
    extension = JWTGuard(app, settings=settings)
    assert app.extensions["jwtguard"] is extension.guard
    return app


def starlette_routes(settings: Settings) -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    from jwtguard import JWTGuardASGI
    from jwtguard.starlette import claims_of, jwt_required, user_id_of

    async def answer(request: StarletteRequest) -> JSONResponse:
        return JSONResponse(
            {"verdict": "jwtguard.claims" in request.scope, "claims": claims_of(request), "user": user_id_of(request)}
        )

    routes = [
        Route("/open", answer),
        Route("/me", jwt_required()(answer)),
        Route("/maybe", jwt_required(optional=True)(answer)),
        Route("/notes", jwt_required(scopes="notes:read")(answer)),
        Route("/admin", jwt_required(roles=["admin"])(answer)),
        Route("/public/checked", jwt_required(optional=True)(answer)),
    ]
    return JWTGuardASGI(Starlette(routes=routes), settings=settings)


@pytest.fixture
def routes_client(adapter: str) -> Iterator[Callable[[Settings], Client]]:
    """A real Flask app with ``jwtguard.flask`` (WSGI) or Starlette app with ``jwtguard.starlette`` (ASGI)."""
    closers: list[Callable[[], None]] = []

    def build(settings: Settings) -> Client:
        if adapter == "wsgi":
            app = flask_routes(settings)
            closers.append(app.extensions["jwtguard"].close)
            test_client = app.test_client()

            def wsgi_call(method: str, path: str, headers: list[tuple[str, str]] | None = None) -> Reply:
                response = test_client.open(path, method=method, headers=headers or [])
                return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.data)

            return wsgi_call

        from starlette.testclient import TestClient

        guard = starlette_routes(settings)
        client = TestClient(guard)
        client.__enter__()

        def close() -> None:
            client.portal.call(guard.close)  # type: ignore[union-attr]
            client.__exit__(None, None, None)

        closers.append(close)

        def asgi_call(method: str, path: str, headers: list[tuple[str, str]] | None = None) -> Reply:
            response = client.request(method, path, headers=headers or [])
            return Reply(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)

        return asgi_call

    yield build
    for closer in reversed(closers):
        closer()


def _store(settings: Settings, *users: str) -> Admin:
    admin = Admin(settings)
    for user in users:
        admin.create_user(user)
    return admin


@pytest.mark.parametrize("mode", ["require", "optional"])
def test_helpers_behind_both_adapters(routes_client: Any, store_url: str, mode: str) -> None:
    """issue 9: jwt_required and the accessors read the middleware's verdict, on both stores and both modes."""
    settings = Settings.from_env(
        {"JWTGUARD_SECRET": SECRET, "JWTGUARD_MODE": mode, "JWTGUARD_EXEMPT_PATHS": "/public/"},
        store_url=store_url,
    )
    admin = _store(settings, "alice", "root")
    try:
        client: Client = routes_client(settings)
        alice = bearer(admin.issue_token("alice", scope="notes:read notes:write"))
        root = bearer(admin.issue_token("root", roles=["admin"]))
        optional = mode == "optional"

        # Without a token: the guard refuses (require) or passes with no claims (optional).
        for path in ROUTES[:-1]:
            reply = client("GET", path)
            if not optional:
                assert (reply.status, reply.json()["reason"]) == (401, "missing_token"), path
            elif path in ("/open", "/maybe"):
                assert reply.status == 200 and reply.json() == {"verdict": True, "claims": None, "user": None}, path
                assert "x-user-enabled" not in reply.headers
            else:  # a route that needs a token, reached without one: the guard's own 401
                assert (reply.status, reply.json()["reason"]) == (401, "missing_token"), path
                assert reply.headers["www-authenticate"] == 'Bearer realm="api"'

        # With a good token: the claims, frozen, and the scope/role checks.
        me = client("GET", "/me", headers=alice)
        assert me.status == 200 and me.json()["user"] == "alice" and me.headers["x-user-enabled"] == "true"
        assert me.json()["claims"]["scope"] == "notes:read notes:write"
        assert client("GET", "/notes", headers=alice).status == 200
        denied = client("GET", "/admin", headers=alice)
        assert denied.status == 403 and denied.json() == {"error": "insufficient_scope", "reason": "insufficient_scope"}
        assert denied.headers["www-authenticate"].startswith('Bearer realm="api", error="insufficient_scope"')
        assert denied.headers["x-user-enabled"] == "true"  # the account is fine; the token lacks a role
        assert client("GET", "/admin", headers=root).json()["claims"]["roles"] == ["admin"]
        assert client("GET", "/notes", headers=root).status == 403

        # An exempt path never gets a verdict: a checked route there fails closed, even optional.
        unguarded = client("GET", "/public/checked", headers=alice)
        assert (unguarded.status, unguarded.json()["reason"]) == (401, "missing_token")

        # A bad or revoked token is refused in both modes, never taken for anonymous.
        assert client("GET", "/maybe", headers=bearer("not-a-jwt")).status == 401
        assert client("GET", "/open", headers=[("Authorization", "Bearer")]).status == 400
        admin.logout_everywhere("alice")
        revoked = client("GET", "/maybe", headers=alice)
        assert (revoked.status, revoked.json()["reason"]) == (401, "revoked")
        admin.disable_user("root")
        disabled = client("GET", "/open", headers=root)
        assert disabled.status == 401 and disabled.headers["x-user-enabled"] == "false"
    finally:
        admin.close()


def test_a_checked_route_without_the_guard_is_refused(caplog: pytest.LogCaptureFixture) -> None:
    """issue 9: a decorated Flask view on an app without the middleware fails closed (401) and says why, once."""
    from flask import Flask

    from jwtguard.flask import jwt_required

    app = Flask(__name__)

    @app.get("/me")
    @jwt_required(optional=True)
    def me() -> str:
        return "ran"

    client = app.test_client()
    with caplog.at_level(logging.WARNING, logger="jwtguard"):
        first = client.get("/me", headers=bearer("forged"))
        second = client.get("/me")
    assert first.status_code == second.status_code == 401
    assert first.json == {"error": "unauthorized", "reason": "missing_token"}
    assert len([r for r in caplog.records if "did not decide" in r.getMessage()]) == 1
    assert "forged" not in caplog.text


def test_flask_extension_with_an_app_factory(tmp_path: Any) -> None:
    """issue 9: JWTGuard() then init_app(app) (app factories); a second JWTGuard on one app is an error."""
    from flask import Flask

    from jwtguard.flask import JWTGuard

    settings = Settings(secret=SECRET, store_url=f"sqlite:///{tmp_path / 'g.db'}")
    extension = JWTGuard(settings=settings)
    app = Flask(__name__)
    guard = extension.init_app(app)
    try:
        assert app.wsgi_app is guard and extension.guard is guard
        assert app.test_client().get("/anything").status_code == 401
        with pytest.raises(RuntimeError, match="already"):
            JWTGuard(app, settings=settings)
    finally:
        guard.close()


def test_starlette_decorator_wants_async_endpoints() -> None:
    """issue 9: jwtguard.starlette.jwt_required refuses to wrap a sync endpoint (it would never be awaited)."""
    from jwtguard.starlette import jwt_required

    def endpoint(request: Any) -> Any:
        return None

    with pytest.raises(TypeError, match="async"):
        jwt_required()(endpoint)


# -- FastAPI ----------------------------------------------------------------------------------


def fastapi_routes(settings: Settings, **app_options: Any) -> Any:
    # Dependencies are imported at module level: FastAPI resolves these string annotations there.
    from jwtguard import JWTGuardASGI

    app = FastAPI(**app_options)

    @app.get("/me")
    def me(claims: Annotated[dict[str, Any], Depends(require_claims)]) -> dict[str, Any]:
        return {"user": claims["sub"]}

    @app.get("/maybe")
    def maybe(claims: Annotated[dict[str, Any] | None, Depends(optional_claims)]) -> dict[str, Any]:
        return {"user": None if claims is None else claims["sub"]}

    @app.get("/notes", dependencies=[Depends(require_scopes("notes:read"))])
    def notes() -> dict[str, Any]:
        return {"notes": []}

    @app.get("/admin")
    def admin_only(claims: Annotated[dict[str, Any], Depends(require_roles("admin"))]) -> dict[str, Any]:
        return {"roles": list(claims["roles"])}

    @app.get("/open")
    def open_route() -> dict[str, Any]:
        return {"open": True}

    return JWTGuardASGI(app, settings=settings)


@pytest.fixture
def fastapi_client() -> Iterator[Callable[..., Any]]:
    """A real FastAPI app behind JWTGuardASGI, through Starlette's test client (one loop, as a server)."""
    from starlette.testclient import TestClient

    closers: list[Callable[[], None]] = []

    def build(settings: Settings, **app_options: Any) -> Any:
        guard = fastapi_routes(settings, **app_options)
        client = TestClient(guard)
        client.__enter__()

        def close() -> None:
            client.portal.call(guard.close)  # type: ignore[union-attr]
            client.__exit__(None, None, None)

        closers.append(close)
        return client

    yield build
    for closer in reversed(closers):
        closer()


def test_fastapi_dependencies_read_the_verdict(fastapi_client: Any, tmp_path: Any) -> None:
    """issue 9: require_claims, optional_claims, require_scopes and require_roles behind the guard (optional mode)."""
    settings = Settings(
        secret=SECRET,
        store_url=f"sqlite:///{tmp_path / 'f.db'}",
        mode="optional",
        exempt_paths=("/docs", "/openapi.json"),
    )
    admin = _store(settings, "alice")
    try:
        client = fastapi_client(settings)
        alice = bearer(admin.issue_token("alice", scope="notes:read", roles=["user"]))
        assert client.get("/maybe").json() == {"user": None}
        assert client.get("/open").json() == {"open": True}
        assert client.get("/maybe", headers=alice).json() == {"user": "alice"}
        assert client.get("/me", headers=alice).json() == {"user": "alice"}
        assert client.get("/notes", headers=alice).status_code == 200
        # FastAPI's own shape by default: {"detail": ...}, with the guard's status and challenge.
        anonymous = client.get("/me")
        assert anonymous.status_code == 401 and anonymous.json() == {"detail": "No Bearer credentials"}
        assert anonymous.headers["www-authenticate"] == 'Bearer realm="api"'
        assert anonymous.headers["cache-control"] == "no-store"
        denied = client.get("/admin", headers=alice)
        assert denied.status_code == 403
        assert denied.json() == {"detail": "The access token lacks the required scope or role"}
        assert 'error="insufficient_scope"' in denied.headers["www-authenticate"]
        # A token sent is checked by the middleware before any dependency runs.
        assert client.get("/maybe", headers=bearer("not-a-jwt")).json() == {
            "error": "invalid_token",
            "reason": "invalid",
        }
        # /docs and /openapi.json pass: exempt, and no dependency there.
        assert client.get("/openapi.json").status_code == 200
        assert client.get("/docs").status_code == 200
    finally:
        admin.close()


def test_fastapi_error_shape_option(fastapi_client: Any, tmp_path: Any) -> None:
    """issue 9: exception_handlers=jwtguard.fastapi.exception_handlers gives the middleware's own body."""
    from jwtguard.fastapi import exception_handlers

    settings = Settings(secret=SECRET, store_url=f"sqlite:///{tmp_path / 'f.db'}", mode="optional")
    admin = _store(settings, "alice")
    try:
        client = fastapi_client(settings, exception_handlers=exception_handlers)
        denied = client.get("/admin", headers=bearer(admin.issue_token("alice")))
        assert denied.status_code == 403
        assert denied.json() == {"error": "insufficient_scope", "reason": "insufficient_scope"}
        assert denied.headers["www-authenticate"].startswith('Bearer realm="api", error="insufficient_scope"')
        assert client.get("/me").json() == {"error": "unauthorized", "reason": "missing_token"}
    finally:
        admin.close()


def test_fastapi_dependency_fails_closed_on_an_exempt_path(fastapi_client: Any, tmp_path: Any) -> None:
    """issue 9: require_claims on a path the guard exempts refuses 401 rather than run without a verdict."""
    settings = Settings(secret=SECRET, store_url=f"sqlite:///{tmp_path / 'f.db'}", exempt_paths=("/me", "/maybe"))
    client = fastapi_client(settings)
    assert client.get("/me").status_code == 401
    assert client.get("/maybe").status_code == 401


def test_fastapi_openapi_has_a_bearer_scheme(tmp_path: Any) -> None:
    """issue 9: the dependencies declare an HTTP Bearer security scheme; protected operations list it."""
    settings = Settings(secret=SECRET, store_url=f"sqlite:///{tmp_path / 'f.db'}")
    guard = fastapi_routes(settings)
    schema = guard.app.openapi()
    assert schema["components"]["securitySchemes"] == {
        "bearer": {"type": "http", "scheme": "bearer", "description": "A token from the login route"}
    }
    paths = schema["paths"]
    for path in ("/me", "/maybe", "/notes", "/admin"):
        assert paths[path]["get"]["security"] == [{"bearer": []}], path
    assert "security" not in paths["/open"]["get"]
    asyncio.run(guard.close())


# -- Django -----------------------------------------------------------------------------------


def test_django_helpers_on_real_requests(tmp_path: Any) -> None:
    """issue 9: jwtguard.django reads the verdict from request.META (the WSGI environ Django keeps)."""
    from django.test import RequestFactory  # type: ignore[import-untyped]

    import examples.recipes.django_app  # noqa: F401  (configures Django once for the process)
    from jwtguard.django import claims, jwt_required, user_id

    policy = Policy(Settings(secret=SECRET, realm="django"))

    @jwt_required(roles="admin")
    def admin_view(request: Any) -> Any:
        from django.http import JsonResponse  # type: ignore[import-untyped]

        return JsonResponse({"user": user_id(request), "claims": claims(request)})

    @jwt_required(optional=True)
    def maybe_view(request: Any) -> Any:
        from django.http import JsonResponse

        return JsonResponse({"user": user_id(request)})

    factory = RequestFactory()

    def request(verdict: dict[str, Any] | None) -> Any:
        extra = {} if verdict is None else {CLAIMS_KEY: verdict.get("claims"), POLICY_KEY: policy, **verdict}
        return factory.get("/", **{k: v for k, v in extra.items() if k != "claims"})

    root = {"claims": {"sub": "root", "roles": ("admin",)}, "jwtguard.user_id": "root"}
    assert admin_view(request(root)).status_code == 200
    refused = admin_view(request({"claims": {"sub": "bob", "roles": ()}}))
    assert refused.status_code == 403 and refused["WWW-Authenticate"].startswith('Bearer realm="django"')
    assert maybe_view(request({"claims": None})).status_code == 200
    assert admin_view(request({"claims": None})).status_code == 401
    unguarded = maybe_view(request(None))
    assert unguarded.status_code == 401 and unguarded["WWW-Authenticate"] == 'Bearer realm="api"'


def test_starlette_check_for_hand_written_endpoints() -> None:
    """issue 9: jwtguard.starlette.check gives the same refusals to code that answers by itself (a WebSocket)."""
    from starlette.requests import HTTPConnection

    from jwtguard.starlette import check, response_of

    policy = Policy(Settings(secret=SECRET))
    scope: dict[str, Any] = {"type": "websocket", "headers": [], CLAIMS_KEY: {"scope": "chat"}, POLICY_KEY: policy}
    assert check(HTTPConnection(scope), scopes="chat") is None
    refused = check(HTTPConnection(scope), roles="moderator")
    assert refused is not None and response_of(refused).status_code == 403
    assert check(HTTPConnection({"type": "websocket", "headers": []})) is UNGUARDED


@pytest.mark.parametrize(
    ("path", "hinted"),
    [("/login", True), ("/api/auth/token", True), ("/SignIn/", True), ("/api/me", False), ("/loginx", False)],
)
def test_a_login_route_refused_for_want_of_a_token_names_the_setting(
    make_client: Any, store_url: str, caplog: pytest.LogCaptureFixture, path: str, hinted: bool
) -> None:
    """issue 9 item 2: the user's own /login answered 401 missing_token and nothing pointed to JWTGUARD_EXEMPT_PATHS."""
    client = make_client(Settings(secret=SECRET, store_url=store_url))
    with caplog.at_level(logging.WARNING, logger="jwtguard"):
        for _ in range(3):
            assert client("POST", path).status == 401  # refused before any routing
        assert client("GET", path, [("Authorization", "Bearer x.y.z")]).status == 401
    hints = [r.getMessage() for r in caplog.records if "JWTGUARD_EXEMPT_PATHS" in r.getMessage()]
    assert len(hints) == (1 if hinted else 0)  # once per route, and never for a request that sent a token
    if hinted:
        assert "missing_token" in hints[0] and repr(path) in hints[0]


def test_depends_on_the_class_instead_of_an_instance_fails_loudly(tmp_path: Any) -> None:
    """Review of issue 9: ``Depends(RequireClaims)`` made FastAPI build an instance from query parameters and
    hand it over as the claims, so every request passed; now no request reaches the route."""
    from fastapi.testclient import TestClient

    from jwtguard import JWTGuardASGI
    from jwtguard.fastapi import RequireClaims

    app = FastAPI()
    reached: list[object] = []

    @app.get("/b")
    async def b(claims: Any = Depends(RequireClaims)) -> dict[str, bool]:  # noqa: B008 - the mistake under test
        reached.append(claims)
        return {"ok": True}

    store = MemoryStore(Settings(secret=SECRET, mode="optional"))
    guard = JWTGuardASGI(app, settings=Settings(secret=SECRET, mode="optional"), store=store)  # type: ignore[arg-type]
    with TestClient(guard, raise_server_exceptions=False) as client:
        for query in ("", "?optional=true", "?request=x"):
            assert client.get("/b" + query).status_code == 500  # the TypeError: loud, never the route
    assert reached == []
    assert "credentials" in str(inspect_signature(require_claims))  # instances keep their own signature


def inspect_signature(obj: object) -> object:
    import inspect

    return inspect.signature(obj)  # type: ignore[arg-type]


def test_the_unguarded_warning_names_each_route_once_on_every_framework(
    tmp_path: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """Review of issue 9: FastAPI's dependency logged itself, not the route, so only the first misconfigured
    route in the process was ever named; plain Starlette's check() never warned."""
    from starlette.applications import Starlette
    from starlette.requests import Request as HTTPRequest
    from starlette.responses import JSONResponse
    from starlette.routing import Route
    from starlette.testclient import TestClient

    from jwtguard import JWTGuardASGI
    from jwtguard.starlette import check, response_of

    settings = Settings(secret=SECRET, store_url=f"sqlite:///{tmp_path / 'w.db'}", exempt_paths=("/open/",))
    api = FastAPI()

    @api.get("/open/first")
    async def fastapi_first(claims: Any = Depends(require_claims)) -> dict[str, bool]:  # noqa: B008
        return {"ok": True}

    @api.get("/open/second")
    async def fastapi_second(claims: Any = Depends(require_claims)) -> dict[str, bool]:  # noqa: B008
        return {"ok": True}

    async def starlette_checked(request: HTTPRequest) -> Any:
        refused = check(request)
        return response_of(refused) if refused is not None else JSONResponse({"ok": True})

    plain = Starlette(routes=[Route("/open/plain", starlette_checked)])
    with caplog.at_level(logging.WARNING, logger="jwtguard"):
        for app, paths in ((api, ["/open/first", "/open/second"]), (plain, ["/open/plain"])):
            guard = JWTGuardASGI(app, settings=settings)
            with TestClient(guard) as client:
                for path in paths * 2:
                    assert client.get(path).status_code == 401  # fail closed: exempt, so unguarded
                client.portal.call(guard.close)  # type: ignore[union-attr]
    named = [r.getMessage() for r in caplog.records if "did not decide on its request" in r.getMessage()]
    assert len(named) == 3
    for route in ("fastapi_first", "fastapi_second", "starlette_checked"):
        assert sum(route in message for message in named) == 1, named
