# examples/recipes/django_app.py
"""Django, as one file: log in, a protected view, log out everywhere.

    pip install jwtguard-revocation django  # from a checkout: pip install . django
    export JWTGUARD_SECRET=$(python -c 'import secrets; print(secrets.token_urlsafe(48))')
    export JWTGUARD_EXEMPT_PATHS=/login,/jwtguard.js
    python -m examples.recipes.django_app

In a Django project, the guard is two lines of its wsgi.py (see create_app).
"""

from __future__ import annotations

import hmac
import json
from importlib import resources
from typing import Any

from django.conf import settings  # type: ignore[import-untyped]
from django.core.wsgi import get_wsgi_application  # type: ignore[import-untyped]
from django.http import HttpResponse, JsonResponse  # type: ignore[import-untyped]
from django.urls import path  # type: ignore[import-untyped]

from jwtguard import Admin, JWTGuardWSGI, Settings
from jwtguard.django import claims, jwt_required, user_id

# A Bearer-token API: no sessions, no cookies, so no CSRF middleware.
settings.configure(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["*"], MIDDLEWARE=[], SECRET_KEY="not-used-no-sessions")

#: Your user table (demo: fixed passwords; keep hashes, e.g. django.contrib.auth's, in yours).
USERS = {"alice": "alice-password", "bob": "bob-password"}

admin: Admin  # set by create_app()


def login(request: Any) -> JsonResponse:
    try:
        body = json.loads(request.body)
        name, password = str(body["user"]), str(body["password"])
    except (ValueError, KeyError, TypeError, RecursionError):
        return JsonResponse({"error": "invalid_credentials"}, status=401)
    known = USERS.get(name, "")
    if not known or not hmac.compare_digest(known.encode(), password.encode()):
        return JsonResponse({"error": "invalid_credentials"}, status=401)
    state = admin.status(name)
    if state is None or not state.enabled:
        return JsonResponse({"error": "account_disabled"}, status=403)
    return JsonResponse({"token": admin.issue_token(name)})


@jwt_required()
def me(request: Any) -> JsonResponse:
    verified = claims(request) or {}  # jwt_required() let only requests with good claims in
    return JsonResponse({"user": user_id(request), "expires": verified["exp"]})


@jwt_required()
def logout_everywhere(request: Any) -> JsonResponse:
    user = user_id(request)
    assert user is not None  # jwt_required() let only requests with a good token in
    admin.logout_everywhere(user)  # every token issued to the user until now is refused
    return JsonResponse({"done": True})


def helper(request: Any) -> HttpResponse:  # the browser helper: JWTGuard.createSession()
    script = resources.files("jwtguard").joinpath("static/jwtguard.js").read_bytes()
    return HttpResponse(script, content_type="text/javascript")


urlpatterns = [
    path("login", login),
    path("api/me", me),
    path("api/logout-everywhere", logout_everywhere),
    path("jwtguard.js", helper),
]


def create_app(jwtguard_settings: Settings | None = None) -> JWTGuardWSGI:
    """What a project's wsgi.py does, plus the demo users."""
    global admin
    admin = Admin(jwtguard_settings)  # settings from the JWTGUARD_* variables by default
    for name in USERS:
        admin.create_user(name)  # the embedded store's users; an existing one is left as it is
    # The two lines of wsgi.py: application = get_wsgi_application(); application = JWTGuardWSGI(application)
    return JWTGuardWSGI(get_wsgi_application(), settings=admin.settings)


if __name__ == "__main__":
    from wsgiref.simple_server import make_server

    make_server("127.0.0.1", 8000, create_app()).serve_forever()
