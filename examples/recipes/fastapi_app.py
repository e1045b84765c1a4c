# examples/recipes/fastapi_app.py
"""FastAPI: log in, a protected route, log out everywhere; /docs has an "Authorize" button.

pip install "jwtguard-revocation[fastapi]"  # from a checkout: pip install ".[fastapi]"
export JWTGUARD_SECRET=$(python -c 'import secrets; print(secrets.token_urlsafe(48))')
export JWTGUARD_MODE=optional  # no token: reaches the app, so a route WITHOUT require_claims is public
uvicorn --factory examples.recipes.fastapi_app:create_app
"""

from __future__ import annotations

import contextlib
import hmac
from collections.abc import AsyncIterator
from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Response
from pydantic import BaseModel

from jwtguard import AsyncAdmin, JWTGuardASGI, Settings
from jwtguard.fastapi import require_claims

#: Your user table (demo: fixed passwords; keep password hashes in yours).
USERS = {"alice": "alice-password", "bob": "bob-password"}

Claims = Annotated[dict[str, Any], Depends(require_claims)]


class Login(BaseModel):
    user: str
    password: str


def create_app(settings: Settings | None = None) -> JWTGuardASGI:
    settings = settings or Settings.from_env()
    admin = AsyncAdmin(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        for name in USERS:
            await admin.create_user(name)  # the embedded store's users; an existing one is left as it is
        yield
        await admin.close()
        await guard.close()

    app = FastAPI(lifespan=lifespan)

    @app.post("/login")
    async def login(body: Login) -> dict[str, str]:
        known = USERS.get(body.user, "")
        if not known or not hmac.compare_digest(known.encode(), body.password.encode()):
            raise HTTPException(401, "invalid_credentials")
        state = await admin.status(body.user)
        if state is None or not state.enabled:
            raise HTTPException(403, "account_disabled")
        return {"token": await admin.issue_token(body.user)}

    @app.get("/api/me")
    async def me(claims: Claims) -> dict[str, Any]:
        return {"user": claims["sub"], "expires": claims["exp"]}

    @app.post("/api/logout-everywhere")
    async def logout_everywhere(claims: Claims) -> dict[str, bool]:
        await admin.logout_everywhere(claims["sub"])  # every token issued to the user until now is refused
        return {"done": True}

    @app.get("/jwtguard.js")
    async def helper() -> Response:  # the browser helper: JWTGuard.createSession(), see "The browser helper"
        script = resources.files("jwtguard").joinpath("static/jwtguard.js").read_bytes()
        return Response(script, media_type="text/javascript")

    guard = JWTGuardASGI(app, settings=settings)
    return guard
