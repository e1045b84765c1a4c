"""Issue 10: cookie mode, its CSRF checks and its cookies, in the policy and through both adapters.

Each test names the spec rule it holds the guard to:

- RFC 6265 §4.2.1 / §5.4 (the ``Cookie`` field a user agent sends: ``name=value`` pairs joined
  by ``"; "``, one field), RFC 9113 §8.2.3 (HTTP/2 may split it into several fields);
- RFC 6265bis §4.1.3.1 (a ``__Secure-`` cookie MUST be set with ``Secure``) and §4.1.3.2 (a
  ``__Host-`` cookie MUST be set with ``Secure``, ``Path=/`` and no ``Domain``): an expiry that
  lacks them is ignored by the browser, so each expiry repeats the attributes it was set with;
- Fetch Metadata Request Headers (W3C) §2 and the resource-isolation policy built on them:
  ``Sec-Fetch-Site`` ``same-origin``/``same-site``/``none`` pass, ``cross-site`` is refused unless
  it is a top-level ``GET`` navigation (not into ``<object>``/``<embed>``), a request without the
  header passes this check (and still needs the CSRF token);
- RFC 9110 §9.2.1: safe methods (``GET``, ``HEAD``, ``OPTIONS``, ``TRACE``) need no CSRF token,
  every other method does, unknown ones included.

The adapters' tests run on a real Flask (WSGI) and Starlette (ASGI) app on the MongoDB-wire server.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest

from jwtguard import ConfigError, Settings, cookies
from jwtguard.sansio import REASONS, Decision, Policy, Request
from jwtguard.sansio.credentials import (
    ACCESS_COOKIE,
    CSRF_COOKIE,
    REFRESH_COOKIE,
    Cookies,
    CookieToken,
    NoToken,
    cross_site,
    csrf_reason,
    expiring_cookies,
    own_cookies,
)

from conftest import SECRET, Client, Reply

AT, RT, CS = ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE
CSRF = "Zm9vYmFyLWNzcmYtdmFsdWUtb2YtdGhlLXRlc3Rz"
UNSAFE = ["POST", "PUT", "PATCH", "DELETE", "PROPFIND"]  # PROPFIND: a method RFC 9110 does not define
SAFE = ["GET", "HEAD", "OPTIONS", "TRACE"]

#: The exact expiries of jwtguard's cookies under the default JWTGUARD_REFRESH_PATH (/token).
EXPIRIES = [
    "__Host-jwtguard-at=; Path=/; Max-Age=0; Secure; HttpOnly; SameSite=Lax",
    "__Secure-jwtguard-rt=; Path=/token; Max-Age=0; Secure; HttpOnly; SameSite=Lax",
    "__Host-jwtguard-csrf=; Path=/; Max-Age=0; Secure; SameSite=Lax",
]


def token_for(user: Any, *, secret: str = SECRET, **claims: Any) -> str:
    now = time.time()
    payload: dict[str, Any] = {"sub": user, "iat": int(now) - 10, "exp": int(now) + 600, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def jar(token: str | None = None, csrf: str | None = CSRF, *extra: str) -> tuple[str, str]:
    """A ``Cookie`` field as a browser writes it (RFC 6265 §5.4: pairs joined by "; ")."""
    pairs = ([f"{AT}={token}"] if token is not None else []) + ([f"{CS}={csrf}"] if csrf is not None else [])
    return ("Cookie", "; ".join([*pairs, *extra]))


def set_cookies(reply: Reply) -> list[str]:
    return [value for name, value in reply.fields if name == "set-cookie"]


# -- the Cookie field (RFC 6265 §4.2.1, §5.4) -------------------------------------------------

COOKIE_FIELDS: list[tuple[str, list[str], Cookies | str]] = [
    ("no field", [], Cookies()),
    ("other cookies only", ["theme=dark; sid=abc"], Cookies()),
    ("access only", [f"{AT}=tok"], Cookies(access="tok")),
    ("all three", [f"{AT}=a; {RT}=r; {CS}=c"], Cookies("a", "r", "c")),
    ("among others", [f"theme=dark; {AT}=a; lang=en; {CS}=c"], Cookies(access="a", csrf="c")),
    ("spaces and tabs trimmed", [f" \t{AT} = a \t;{CS}=c ;"], Cookies(access="a", csrf="c")),
    ("no '=' is no pair", [f"{AT}; {CS}"], Cookies()),
    ("an empty value is not sent", [f"{AT}=; {CS}="], Cookies()),
    ("'=' inside a value kept", [f"{AT}=a=b"], Cookies(access="a=b")),
    ("quotes kept (then no token68)", [f'{AT}="a"'], Cookies(access='"a"')),
    ("names are case-sensitive", ["__host-jwtguard-at=a; __HOST-JWTGUARD-CSRF=c"], Cookies()),
    ("a prefix-less look-alike", ["jwtguard-at=a; Host-jwtguard-at=b"], Cookies()),
    ("HTTP/2 pieces joined", [f"{AT}=a", f"{CS}=c"], Cookies(access="a", csrf="c")),
    ("access twice", [f"{AT}=a; {AT}=b"], "multiple_credentials"),
    ("access twice, one empty", [f"{AT}=; {AT}=b"], "multiple_credentials"),
    ("csrf twice", [f"{AT}=a; {CS}=c; {CS}=d"], "multiple_credentials"),
    ("refresh twice (another Path or Domain)", [f"{RT}=r; {RT}=s"], "multiple_credentials"),
    ("twice across HTTP/2 pieces", [f"{AT}=a", f"{AT}=a"], "multiple_credentials"),
    ("garbage", [";;;; = ;=;==; \x00; \x7f\xff; é=ü"], Cookies()),
    ("non-latin-1 text", [f"🍪=🍪; {AT}=🍪"], Cookies(access="🍪")),
    ("NUL in a value kept (then no token68)", [f"{AT}=a\x00b"], Cookies(access="a\x00b")),
]


@pytest.mark.parametrize(("values", "expected"), [r[1:] for r in COOKIE_FIELDS], ids=[r[0] for r in COOKIE_FIELDS])
def test_own_cookies_reads_the_cookie_field(values: list[str], expected: Cookies | str) -> None:
    """RFC 6265 §4.2.1/§5.4 (and RFC 9113 §8.2.3): jwtguard's three names, each at most once; nothing raises."""
    found = own_cookies(values, 8192)
    assert found == (NoToken(expected) if isinstance(expected, str) else expected)


def test_the_cookie_bound_is_checked_before_parsing() -> None:
    """JWTGUARD_MAX_HEADER_BYTES bounds the Cookie field (its pieces joined) before any parse: 431."""
    exact = f"{AT}=" + "a" * (300 - len(AT) - 1)
    assert own_cookies([exact], 300) == Cookies(access="a" * (300 - len(AT) - 1))
    assert own_cookies([exact + "a"], 300) == NoToken("header_too_large")
    half = "x" * 149
    assert own_cookies([half, half], 300) == Cookies()  # joined: 149 + len("; ") + 149 = 300
    assert own_cookies([half, half + "x"], 300) == NoToken("header_too_large")


# -- Fetch Metadata: the resource-isolation policy --------------------------------------------

FETCH: list[tuple[str, str | None, str | None, str | None, str, bool, bool]] = [
    # id, Sec-Fetch-Site, -Mode, -Dest, method, refused by the guard, refused on a refresh
    ("no Sec-Fetch-Site (older browser, curl)", None, None, None, "POST", False, False),
    ("same-origin", "same-origin", "cors", "empty", "POST", False, False),
    ("same-site (a sibling subdomain)", "same-site", "cors", "empty", "POST", False, False),
    ("none (typed, a bookmark)", "none", "navigate", "document", "GET", False, False),
    ("cross-site fetch", "cross-site", "cors", "empty", "GET", True, True),
    ("cross-site no-cors <img>", "cross-site", "no-cors", "image", "GET", True, True),
    ("cross-site top-level navigation", "cross-site", "navigate", "document", "GET", False, True),
    ("cross-site navigation into an iframe", "cross-site", "navigate", "iframe", "GET", False, True),
    ("cross-site navigation into <object>", "cross-site", "navigate", "object", "GET", True, True),
    ("cross-site navigation into <embed>", "cross-site", "navigate", "embed", "GET", True, True),
    ("cross-site form POST navigation", "cross-site", "navigate", "document", "POST", True, True),
    ("cross-site HEAD navigation", "cross-site", "navigate", "document", "HEAD", True, True),
    ("cross-site WebSocket", "cross-site", "websocket", "websocket", "GET", True, True),
    ("a value no browser sends", "Same-Origin", "cors", "empty", "GET", True, True),
    ("empty", "", "cors", "empty", "GET", True, True),
]


@pytest.mark.parametrize(
    ("site", "mode", "dest", "method", "refused", "on_refresh"), [r[1:] for r in FETCH], ids=[r[0] for r in FETCH]
)
def test_fetch_metadata_resource_isolation(
    site: str | None, mode: str | None, dest: str | None, method: str, refused: bool, on_refresh: bool
) -> None:
    """Fetch Metadata §2.1-§2.4: the resource-isolation policy; a refresh admits no navigation."""
    assert cross_site(site, mode, dest, method) is refused
    assert cross_site(site, mode, dest, method, navigation=False) is on_refresh


CSRF_CHECKS: list[tuple[str, str | None, str | None, str | None]] = [
    ("matches", CSRF, CSRF, None),
    ("no field", None, CSRF, "csrf_missing_token"),
    ("an empty field", "", CSRF, "csrf_missing_token"),
    ("no cookie", CSRF, None, "csrf_mismatch"),
    ("neither", None, None, "csrf_missing_token"),
    ("differs", CSRF + "x", CSRF, "csrf_mismatch"),
    ("a prefix", CSRF[:-1], CSRF, "csrf_mismatch"),
    ("case differs", CSRF.lower(), CSRF, "csrf_mismatch"),
    ("two fields joined", f"{CSRF},{CSRF}", CSRF, "csrf_mismatch"),
    ("non-ASCII field", "é🍪", CSRF, "csrf_mismatch"),
    ("non-ASCII, equal", "é🍪", "é🍪", None),
    ("a lone surrogate", "\udcff", CSRF, "csrf_mismatch"),
]


@pytest.mark.parametrize(
    ("header", "cookie", "expected"), [r[1:] for r in CSRF_CHECKS], ids=[r[0] for r in CSRF_CHECKS]
)
def test_csrf_double_submit(header: str | None, cookie: str | None, expected: str | None) -> None:
    """X-CSRF-Token must equal the __Host-jwtguard-csrf cookie, compared in constant time, never raising."""
    assert csrf_reason(header, cookie) == expected


# -- the policy's screen, by location ---------------------------------------------------------

TOKEN = "aaa.bbb.ccc"
OTHER = "xxx.yyy.zzz"
GOOD_JAR = (f"{AT}={TOKEN}; {CS}={CSRF}",)

SCREEN: list[tuple[str, str, str, dict[str, Any], str]] = [
    # id, location, method, Request fields, expected: "header:<t>", "cookie:<t>", a reason, "anonymous"
    ("header: Bearer", "header", "GET", {"authorization": (f"Bearer {TOKEN}",)}, f"header:{TOKEN}"),
    ("header: the cookie is never read", "header", "GET", {"cookie": GOOD_JAR}, "missing_token"),
    ("cookie: GET", "cookie", "GET", {"cookie": GOOD_JAR}, f"cookie:{TOKEN}"),
    ("cookie: Authorization ignored", "cookie", "GET", {"authorization": (f"Bearer {OTHER}",)}, "missing_token"),
    (
        "cookie: a bad header ignored",
        "cookie",
        "GET",
        {"authorization": ("Bearer",), "cookie": GOOD_JAR},
        f"cookie:{TOKEN}",
    ),
    ("cookie: POST without X-CSRF-Token", "cookie", "POST", {"cookie": GOOD_JAR}, "csrf_missing_token"),
    ("cookie: POST with it", "cookie", "POST", {"cookie": GOOD_JAR, "csrf_token": CSRF}, f"cookie:{TOKEN}"),
    ("cookie: POST, wrong", "cookie", "POST", {"cookie": GOOD_JAR, "csrf_token": "nope"}, "csrf_mismatch"),
    (
        "cookie: POST, no CSRF cookie",
        "cookie",
        "POST",
        {"cookie": (f"{AT}={TOKEN}",), "csrf_token": CSRF},
        "csrf_mismatch",
    ),
    ("cookie: no access cookie", "cookie", "POST", {"cookie": (f"{CS}={CSRF}",)}, "missing_token"),
    (
        "cookie: cross-site before CSRF",
        "cookie",
        "POST",
        {"cookie": GOOD_JAR, "sec_fetch_site": "cross-site"},
        "csrf_cross_site",
    ),
    (
        "cookie: cross-site GET",
        "cookie",
        "GET",
        {"cookie": GOOD_JAR, "sec_fetch_site": "cross-site"},
        "csrf_cross_site",
    ),
    ("cookie: two access cookies", "cookie", "GET", {"cookie": (f"{AT}=a; {AT}=b",)}, "multiple_credentials"),
    ("cookie: too large", "cookie", "GET", {"cookie": (f"{AT}={'a' * 9000}",)}, "header_too_large"),
    (
        "both: the header wins",
        "both",
        "GET",
        {"authorization": (f"Bearer {OTHER}",), "cookie": GOOD_JAR},
        f"header:{OTHER}",
    ),
    (
        "both: header wins, no CSRF on POST",
        "both",
        "POST",
        {"authorization": (f"Bearer {OTHER}",), "cookie": GOOD_JAR, "sec_fetch_site": "cross-site"},
        f"header:{OTHER}",
    ),
    (
        "both: a malformed header is refused",
        "both",
        "GET",
        {"authorization": ("Bearer",), "cookie": GOOD_JAR},
        "malformed",
    ),
    (
        "both: two headers refused",
        "both",
        "GET",
        {"authorization": (f"Bearer {OTHER}", f"Bearer {OTHER}"), "cookie": GOOD_JAR},
        "multiple_credentials",
    ),
    (
        "both: Basic falls to the cookie",
        "both",
        "GET",
        {"authorization": ("Basic dTpw",), "cookie": GOOD_JAR},
        f"cookie:{TOKEN}",
    ),
    ("both: no header, the cookie", "both", "GET", {"cookie": GOOD_JAR}, f"cookie:{TOKEN}"),
    ("both: neither", "both", "GET", {}, "missing_token"),
]


@pytest.mark.parametrize(
    ("location", "method", "fields", "expected"), [r[1:] for r in SCREEN], ids=[r[0] for r in SCREEN]
)
def test_screen_by_location(location: Any, method: str, fields: dict[str, Any], expected: str) -> None:
    """JWTGUARD_TOKEN_LOCATION: where the token is read, and the CSRF checks that guard the cookie only."""
    screened = Policy(Settings(secret=SECRET, token_location=location)).screen(Request(method, "/api", **fields))
    if isinstance(screened, str):
        assert f"header:{screened}" == expected
    elif isinstance(screened, CookieToken):
        assert f"cookie:{screened.token}" == expected
    else:
        assert isinstance(screened, Decision) and screened.kind == "refuse" and screened.reason == expected


@pytest.mark.parametrize("method", SAFE + UNSAFE)
def test_only_unsafe_methods_need_the_csrf_token(method: str) -> None:
    """RFC 9110 §9.2.1: GET, HEAD, OPTIONS, TRACE are safe; every other method needs X-CSRF-Token."""
    policy = Policy(Settings(secret=SECRET, token_location="cookie"))
    screened = policy.screen(Request(method, "/api", cookie=GOOD_JAR))
    if method in SAFE:
        assert screened == CookieToken(TOKEN)
    else:
        assert isinstance(screened, Decision) and screened.reason == "csrf_missing_token"
    assert policy.screen(Request(method, "/api", cookie=GOOD_JAR, csrf_token=CSRF)) == CookieToken(TOKEN)


def test_optional_mode_without_a_cookie_is_anonymous_but_a_failed_check_is_refused() -> None:
    policy = Policy(Settings(secret=SECRET, token_location="cookie", mode="optional"))
    assert policy.screen(Request("POST", "/api")).kind == "anonymous"  # type: ignore[union-attr]
    assert policy.screen(Request("POST", "/api", cookie=(f"{CS}={CSRF}",))).kind == "anonymous"  # type: ignore[union-attr]
    refused = policy.screen(Request("POST", "/api", cookie=GOOD_JAR))
    assert isinstance(refused, Decision) and refused.reason == "csrf_missing_token"


def test_exempt_paths_and_preflights_pass_before_any_cookie_is_read() -> None:
    policy = Policy(Settings(secret=SECRET, token_location="cookie", exempt_paths=("/login",)))
    hostile = (f"{AT}=a; {AT}=b",)
    assert policy.screen(Request("POST", "/login", cookie=hostile)).kind == "exempt"  # type: ignore[union-attr]
    preflight = Request("OPTIONS", "/api", (), "https://a.example", "POST", cookie=hostile)
    assert policy.screen(preflight).kind == "exempt"  # type: ignore[union-attr]


# -- the answers: CSRF bodies, cookie expiries ------------------------------------------------


@pytest.mark.parametrize(
    ("name", "body_reason"),
    [("csrf_missing_token", "missing_token"), ("csrf_mismatch", "mismatch"), ("csrf_cross_site", "cross_site")],
)
def test_csrf_refusals_say_which_check_failed(name: str, body_reason: str) -> None:
    """403 {"error": "csrf_failed", "reason": ...}; no challenge (a 403 needs none), no token echoed."""
    decision = Policy(Settings(secret=SECRET, token_location="cookie")).refusals[name]
    assert decision.status == 403 and decision.status_line == "403 Forbidden"
    assert json.loads(decision.body) == {"error": "csrf_failed", "reason": body_reason}
    assert decision.error == "csrf_failed"
    headers = dict(decision.headers)
    assert "WWW-Authenticate" not in headers and "Set-Cookie" not in headers
    assert headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("name", list(REASONS))
@pytest.mark.parametrize("clear_site_data", [False, True])
def test_refusals_that_end_the_login_expire_the_cookies(name: str, clear_site_data: bool) -> None:
    """RFC 6265bis §4.1.3: each expiry repeats Secure, the Path (/ for __Host-) and no Domain.

    Only the reasons that end the login (revoked, disabled, unknown_user, session_revoked) expire
    them; expired keeps the refresh cookie (and the others). Never Clear-Site-Data: "cookies".
    """
    policy = Policy(Settings(secret=SECRET, token_location="cookie", clear_site_data=clear_site_data))
    plain = policy.refusals[name]
    answer = policy.for_cookie(plain)
    expiries = [value for header, value in answer.headers if header == "Set-Cookie"]
    if name in ("revoked", "disabled", "unknown_user", "session_revoked"):
        assert REASONS[name].clears
        assert expiries == EXPIRIES
        assert answer.body == plain.body and answer.status == plain.status
        assert answer.headers[: len(plain.headers)] == plain.headers
        assert dict(answer.raw_headers) == {k.lower().encode(): v.encode() for k, v in answer.headers}
        assert [v for k, v in answer.raw_headers if k == b"set-cookie"] == [e.encode() for e in EXPIRIES]
    else:
        assert answer is plain and expiries == []
    for header, value in answer.headers:
        assert not (header == "Clear-Site-Data" and "cookies" in value)
        assert not (header == "Set-Cookie" and "Domain" in value)
    assert policy.for_cookie(plain) is answer  # prebuilt: the same object every time


def test_a_header_only_guard_builds_no_expiries_and_the_path_follows_the_setting() -> None:
    policy = Policy(Settings(secret=SECRET))
    assert not policy.reads_cookies
    assert policy.for_cookie(policy.refusals["revoked"]) is policy.refusals["revoked"]
    assert expiring_cookies("/api/auth/refresh")[1] == (
        "__Secure-jwtguard-rt=; Path=/api/auth/refresh; Max-Age=0; Secure; HttpOnly; SameSite=Lax"
    )


# -- settings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "variable"),
    [
        ({"token_location": "cookies"}, "JWTGUARD_TOKEN_LOCATION"),
        ({"refresh_path": "token"}, "JWTGUARD_REFRESH_PATH"),
        ({"refresh_path": "/token; Domain=evil.example"}, "JWTGUARD_REFRESH_PATH"),
        ({"refresh_path": "/to ken"}, "JWTGUARD_REFRESH_PATH"),
        ({"refresh_path": "/token\r\nSet-Cookie: x=y"}, "JWTGUARD_REFRESH_PATH"),
        ({"refresh_path": "/tokén"}, "JWTGUARD_REFRESH_PATH"),
    ],
)
def test_cookie_settings_are_checked(values: dict[str, Any], variable: str) -> None:
    """A refresh path that could smuggle an attribute or a header into Set-Cookie never starts."""
    with pytest.raises(ConfigError) as raised:
        Settings(secret=SECRET, **values)
    assert raised.value.variable == variable


# -- jwtguard.cookies: what an app sets ---------------------------------------------------------


def test_login_cookies_are_exactly_these() -> None:
    """RFC 6265bis §4.1.3.1/§4.1.3.2: __Host- with Secure, Path=/, no Domain; __Secure- with Secure."""
    settings = Settings(secret=SECRET, token_location="cookie", token_ttl=900, refresh_ttl=86400)
    values = cookies.login_cookies(settings, "h.p.s", "refresh-1")
    csrf = values[2].split(";")[0].partition("=")[2]
    assert values == [
        "__Host-jwtguard-at=h.p.s; Path=/; Max-Age=900; Secure; HttpOnly; SameSite=Lax",
        "__Secure-jwtguard-rt=refresh-1; Path=/token; Max-Age=86400; Secure; HttpOnly; SameSite=Lax",
        f"__Host-jwtguard-csrf={csrf}; Path=/; Max-Age=86400; Secure; SameSite=Lax",
    ]
    assert len(csrf) == 43
    # Without a refresh token the CSRF cookie lives as long as the access cookie; each login a new value.
    access, again = cookies.login_cookies(settings, "h.p.s", access_max_age=60.9)
    fresh = again.split(";")[0].partition("=")[2]
    assert access == "__Host-jwtguard-at=h.p.s; Path=/; Max-Age=60; Secure; HttpOnly; SameSite=Lax"
    assert again == f"__Host-jwtguard-csrf={fresh}; Path=/; Max-Age=60; Secure; SameSite=Lax"
    assert fresh != csrf and len(fresh) == 43
    assert cookies.logout_cookies(settings) == EXPIRIES


@pytest.mark.parametrize(
    ("access", "refresh", "max_age"),
    [
        ("a.b.c; Domain=evil", None, None),
        ("a.b.c\r\nSet-Cookie: x=y", None, None),
        ("", None, None),
        ("a.b.c", "r;x", None),
        ("a.b.c", 'r"', None),
        ("a.b.c", "r\\", None),
        ("a.b.c", "r r", None),
        ("a.b.c", "", None),
        ("a.b.c", None, 0),
        ("a.b.c", None, float("nan")),
        ("a.b.c", None, float("inf")),
    ],
)
def test_cookie_values_that_could_inject_are_refused(access: str, refresh: str | None, max_age: float | None) -> None:
    """RFC 6265 §4.1.1: a cookie value is cookie-octets only; nothing can add an attribute or a header."""
    with pytest.raises(ValueError):
        cookies.login_cookies(Settings(secret=SECRET), access, refresh, access_max_age=max_age)


def test_refresh_cookies_keep_the_csrf_value() -> None:
    """A refresh keeps the CSRF value (other tabs read it), with the new Max-Age; a login never does."""
    settings = Settings(secret=SECRET, token_location="cookie")
    environ = {"REQUEST_METHOD": "POST", "HTTP_COOKIE": f"{RT}=old; {CS}={CSRF}"}
    values = cookies.refresh_cookies(settings, "n.e.w", "new-refresh", environ)
    assert values[2] == f"__Host-jwtguard-csrf={CSRF}; Path=/; Max-Age=1209600; Secure; SameSite=Lax"
    assert values[1].startswith("__Secure-jwtguard-rt=new-refresh; Path=/token;")
    for broken in (f"{CS}=a; {CS}=b", f'{CS}="quoted"', "", f"{CS}=é"):
        fresh = cookies.refresh_cookies(settings, "n.e.w", "r", {"REQUEST_METHOD": "POST", "HTTP_COOKIE": broken})
        assert fresh[2].split(";")[0] != f"{CS}={CSRF}" and len(fresh[2].split(";")[0]) == len(CS) + 1 + 43


def _scope(headers: list[tuple[bytes, bytes]], method: str = "POST") -> dict[str, Any]:
    return {"type": "http", "method": method, "path": "/token", "headers": headers}


REFRESH: list[tuple[str, dict[str, str], str]] = [
    ("good", {"HTTP_COOKIE": f"{RT}=r1; {CS}={CSRF}", "HTTP_X_CSRF_TOKEN": CSRF}, "r1"),
    ("no refresh cookie", {"HTTP_COOKIE": f"{CS}={CSRF}", "HTTP_X_CSRF_TOKEN": CSRF}, "missing_token"),
    ("no X-CSRF-Token", {"HTTP_COOKIE": f"{RT}=r1; {CS}={CSRF}"}, "csrf_missing_token"),
    ("wrong X-CSRF-Token", {"HTTP_COOKIE": f"{RT}=r1; {CS}={CSRF}", "HTTP_X_CSRF_TOKEN": "x"}, "csrf_mismatch"),
    ("refresh cookie twice", {"HTTP_COOKIE": f"{RT}=r1; {RT}=r2; {CS}={CSRF}"}, "multiple_credentials"),
    (
        "cross-site navigation",
        {
            "HTTP_COOKIE": f"{RT}=r1; {CS}={CSRF}",
            "HTTP_X_CSRF_TOKEN": CSRF,
            "HTTP_SEC_FETCH_SITE": "cross-site",
            "HTTP_SEC_FETCH_MODE": "navigate",
            "HTTP_SEC_FETCH_DEST": "document",
            "REQUEST_METHOD": "GET",
        },
        "csrf_cross_site",
    ),
    ("too large", {"HTTP_COOKIE": f"{RT}={'r' * 9000}"}, "header_too_large"),
]


@pytest.mark.parametrize(("environ", "expected"), [r[1:] for r in REFRESH], ids=[r[0] for r in REFRESH])
def test_refresh_token_checks_csrf_on_every_method(environ: dict[str, str], expected: str) -> None:
    """The refresh endpoint (exempt from the guard) gets the stricter checks: CSRF token always, no navigation."""
    settings = Settings(secret=SECRET, token_location="cookie")
    for method in ("POST", "GET"):
        env = {"REQUEST_METHOD": method, **environ}
        scope = _scope(
            [
                (name[5:].lower().replace("_", "-").encode(), value.encode())
                for name, value in env.items()
                if name.startswith("HTTP_")
            ],
            env["REQUEST_METHOD"],
        )
        fields: dict[str, Any] = {
            "cookie": (env["HTTP_COOKIE"],),
            "sec_fetch_site": env.get("HTTP_SEC_FETCH_SITE"),
            "sec_fetch_mode": env.get("HTTP_SEC_FETCH_MODE"),
            "sec_fetch_dest": env.get("HTTP_SEC_FETCH_DEST"),
            "csrf_token": env.get("HTTP_X_CSRF_TOKEN"),
        }
        for request in (env, scope, Request(env["REQUEST_METHOD"], "/token", **fields)):
            found = cookies.refresh_token(settings, request)
            if isinstance(found, str):
                assert found == expected
            else:
                assert found.reason == expected, request
                assert found.status in (400, 401, 403, 431)


# -- through both adapters ------------------------------------------------------------------------

ROUTE_METHODS = ["GET", "HEAD", "OPTIONS", "TRACE", "POST", "PUT", "PATCH", "DELETE", "PROPFIND"]


def cookie_app(adapter: str) -> Any:
    """/api/me answering every method with the guard's verdict (Flask for WSGI, Starlette for ASGI)."""
    if adapter == "wsgi":
        from flask import Flask, jsonify, request

        app = Flask(__name__)

        @app.route("/api/me", methods=ROUTE_METHODS)
        def me() -> Any:
            return jsonify(user=request.environ["jwtguard.user_id"])

        return app
    from starlette.applications import Starlette
    from starlette.requests import Request as StarletteRequest
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def endpoint(request: StarletteRequest) -> JSONResponse:
        return JSONResponse({"user": request.scope["jwtguard.user_id"]})

    return Starlette(routes=[Route("/api/me", endpoint, methods=ROUTE_METHODS)])


@pytest.fixture
def guarded(make_client: Callable[..., Client], adapter: str, settings: Settings, users: Any) -> Iterator[Any]:
    """``guarded(location, **settings)``: a client of the cookie app; users alice, bob (disabled), carol."""
    users.insert_many([{"_id": "alice"}, {"_id": "bob", "user_enabled": False}, {"_id": "carol"}])

    def build(location: str = "cookie", **changes: Any) -> Client:
        return make_client(settings.replace(token_location=location, **changes), app=cookie_app(adapter))

    yield build


def user_of(reply: Reply) -> Any:
    assert reply.status == 200, (reply.status, reply.body)
    return reply.json()["user"]


def refused(reply: Reply) -> tuple[int, Any]:
    return reply.status, reply.json()


@pytest.mark.parametrize("method", UNSAFE)
def test_every_unsafe_method_needs_the_echoed_csrf_cookie(guarded: Any, method: str) -> None:
    """RFC 9110 §9.2.1 + double submit: the X-CSRF-Token field must equal the CSRF cookie, on both adapters."""
    client = guarded()
    token = token_for("alice")
    assert refused(client(method, "/api/me", [jar(token)])) == (
        403,
        {"error": "csrf_failed", "reason": "missing_token"},
    )
    mismatch = (403, {"error": "csrf_failed", "reason": "mismatch"})
    assert refused(client(method, "/api/me", [jar(token), ("X-CSRF-Token", "other")])) == mismatch
    assert refused(client(method, "/api/me", [jar(token, None), ("X-CSRF-Token", CSRF)])) == mismatch
    assert user_of(client(method, "/api/me", [jar(token), ("X-CSRF-Token", CSRF)])) == "alice"
    # Fetch Metadata from the page itself changes nothing; the body never echoes a token.
    same = [jar(token), ("X-CSRF-Token", CSRF), ("Sec-Fetch-Site", "same-origin"), ("Sec-Fetch-Mode", "cors")]
    assert user_of(client(method, "/api/me", same)) == "alice"
    reply = client(method, "/api/me", [jar(token), ("X-CSRF-Token", "other")])
    assert CSRF.encode() not in reply.body and token.encode() not in reply.body
    assert b"other" not in reply.body and "set-cookie" not in reply.headers
    counted = client.guard.metrics.snapshot()["rejected"]
    assert counted["csrf_missing_token"] == 1 and counted["csrf_mismatch"] == 3


@pytest.mark.parametrize("method", SAFE)
def test_safe_methods_pass_without_the_csrf_token(guarded: Any, method: str) -> None:
    client = guarded()
    reply = client(method, "/api/me", [jar(token_for("alice"), None)])
    assert reply.status == 200
    assert reply.headers["x-user-enabled"] == "true"


@pytest.mark.parametrize(
    ("fetch", "method", "passes"),
    [
        ({"Sec-Fetch-Site": "same-origin", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}, "POST", True),
        ({"Sec-Fetch-Site": "same-site", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}, "POST", True),
        ({"Sec-Fetch-Site": "none", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}, "GET", True),
        ({}, "POST", True),
        ({}, "GET", True),
        ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}, "GET", False),
        ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Dest": "empty"}, "POST", False),
        ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "no-cors", "Sec-Fetch-Dest": "image"}, "GET", False),
        ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}, "GET", True),
        ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "embed"}, "GET", False),
        ({"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate", "Sec-Fetch-Dest": "document"}, "POST", False),
    ],
    ids=lambda value: json.dumps(value) if isinstance(value, dict) else str(value),
)
def test_sec_fetch_site(guarded: Any, fetch: dict[str, str], method: str, passes: bool) -> None:
    """Fetch Metadata §2.4 resource isolation, with the CSRF token sent: only the site decides here."""
    client = guarded()
    reply = client(method, "/api/me", [jar(token_for("alice")), ("X-CSRF-Token", CSRF), *fetch.items()])
    if passes:
        assert user_of(reply) == "alice"
    else:
        assert refused(reply) == (403, {"error": "csrf_failed", "reason": "cross_site"})
        assert "set-cookie" not in reply.headers  # a forged request cannot log anyone out


def test_with_both_the_header_wins(guarded: Any) -> None:
    """issue 10: under JWTGUARD_TOKEN_LOCATION=both a request carrying both uses the header."""
    client = guarded("both")
    alice, carol = token_for("alice"), token_for("carol")
    assert user_of(client("GET", "/api/me", [("Authorization", f"Bearer {carol}"), jar(alice)])) == "carol"
    # The header token needs no CSRF token (a browser never sends Authorization by itself).
    cross = [("Authorization", f"Bearer {carol}"), jar(alice), ("Sec-Fetch-Site", "cross-site")]
    assert user_of(client("DELETE", "/api/me", cross)) == "carol"
    assert user_of(client("GET", "/api/me", [jar(alice)])) == "alice"
    assert user_of(client("GET", "/api/me", [("Authorization", "Basic dTpw"), jar(alice)])) == "alice"
    assert client("GET", "/api/me", [("Authorization", "Bearer"), jar(alice)]).status == 400  # never passed over
    # A header token's refusal leaves the cookies alone, even when it ends the login.
    reply = client("GET", "/api/me", [("Authorization", f"Bearer {token_for('bob')}"), jar(alice)])
    assert reply.status == 401 and set_cookies(reply) == []
    assert user_of(client("GET", "/api/me", [("Authorization", f"Bearer {alice}")])) == "alice"


def test_cookie_mode_ignores_the_authorization_header(guarded: Any) -> None:
    client = guarded("cookie")
    reply = client("GET", "/api/me", [("Authorization", f"Bearer {token_for('alice')}")])
    assert reply.status == 401 and reply.json()["reason"] == "missing_token"


def test_a_header_guard_ignores_the_cookie(guarded: Any) -> None:
    client = guarded("header")
    assert client("GET", "/api/me", [jar(token_for("alice"))]).status == 401
    hostile = client("POST", "/api/me", [("Cookie", f"{AT}=a; {AT}=b; " + "x" * 20000)])
    assert hostile.json()["reason"] == "missing_token"  # never even read


#: Tokens that must get the same answer from the cookie as from the header.
def _kinds() -> list[tuple[str, Callable[[], str]]]:
    now = int(time.time())
    return [
        ("good", lambda: token_for("alice")),
        ("another key", lambda: token_for("alice", secret="x" * 48)),
        ("alg none", lambda: jwt.encode({"sub": "alice", "iat": now, "exp": now + 60}, "", algorithm="none")),
        ("expired", lambda: token_for("alice", iat=now - 100, exp=now - 5)),
        ("issued in the future", lambda: token_for("alice", iat=now + 3600, exp=now + 7200)),
        ("no exp", lambda: jwt.encode({"sub": "alice", "iat": now}, SECRET, algorithm="HS256")),
        ("a user claim that is an object", lambda: token_for({"$ne": None})),
        ("disabled user", lambda: token_for("bob")),
        ("unknown user", lambda: token_for("nobody")),
        ("not a JWT", lambda: "not-a-jwt"),
        ("bad characters", lambda: "a.b.c!"),
        ("quoted", lambda: f'"{token_for("alice")}"'),
    ]


@pytest.mark.parametrize("kind", [name for name, _ in _kinds()])
def test_the_cookie_token_is_checked_exactly_as_a_header_token(guarded: Any, kind: str) -> None:
    """The cookie only carries the token: signature, algorithm, claims, time, user, store: one flow."""
    make = dict(_kinds())[kind]
    header, cookie = guarded("header"), guarded("cookie")
    token = make()
    by_header = header("GET", "/api/me", [("Authorization", f"Bearer {token}")])
    by_cookie = cookie("GET", "/api/me", [("Cookie", f"{AT}={token}")])
    assert by_cookie.status == by_header.status
    assert by_cookie.body == by_header.body
    assert by_cookie.headers.get("x-user-enabled") == by_header.headers.get("x-user-enabled")
    assert by_cookie.headers.get("www-authenticate") == by_header.headers.get("www-authenticate")


def test_disabled_and_unknown_users_lose_the_cookies(guarded: Any) -> None:
    """RFC 6265bis §4.1.3: the expiries carry Secure, the same Path, no Domain (or the browser keeps the cookie)."""
    client = guarded("cookie", clear_site_data=True)
    for user, reason in (("bob", "disabled"), ("nobody", "unknown_user")):
        reply = client("GET", "/api/me", [jar(token_for(user))])
        assert refused(reply) == (401, {"error": "invalid_token", "reason": reason})
        assert reply.headers["x-user-enabled"] == "false"
        assert set_cookies(reply) == EXPIRIES
        assert reply.headers["clear-site-data"] == '"storage"'  # never "cookies": the whole domain's
        assert all(not (name == "clear-site-data" and "cookies" in value) for name, value in reply.fields)


def test_expired_keeps_the_cookies_and_other_refusals_never_touch_them(guarded: Any) -> None:
    client = guarded("cookie")
    now = int(time.time())
    expired = token_for("alice", iat=now - 100, exp=now - 5)
    reply = client("GET", "/api/me", [jar(expired)])
    assert refused(reply) == (401, {"error": "invalid_token", "reason": "expired"})
    assert set_cookies(reply) == []  # the page refreshes with the refresh cookie
    for headers in ([jar("not-a-jwt")], [jar(token_for("alice", secret="y" * 48))], [jar(None)]):
        assert set_cookies(client("GET", "/api/me", headers)) == []


def test_a_logout_everywhere_expires_the_cookies(guarded: Any, users: Any, settings: Settings) -> None:
    """revoked (iat before the user's cut-off), through the admin API, on both adapters."""
    from jwtguard import Admin

    client = guarded("cookie", cache_ttl=0)
    alice = token_for("alice", iat=time.time() - 10)
    assert user_of(client("GET", "/api/me", [jar(alice)])) == "alice"
    admin = Admin(settings)
    try:
        assert admin.logout_everywhere("alice")
    finally:
        admin.close()
    reply = client("GET", "/api/me", [jar(alice)])
    assert refused(reply) == (401, {"error": "invalid_token", "reason": "revoked"})
    assert set_cookies(reply) == EXPIRIES


#: id, the Cookie field, the status of a GET, the status of a POST with a wrong X-CSRF-Token.
HOSTILE: list[tuple[str, str | bytes, int, int]] = [
    ("huge (100 KB)", f"{AT}=" + "a" * 100_000, 431, 431),
    ("huge with many pairs", "; ".join(f"c{i}=v" for i in range(3000)), 431, 431),
    ("many pairs under the bound", ";" * 8000, 401, 401),
    ("access twice", f"{AT}=a.b.c; {AT}=a.b.c", 400, 400),
    ("csrf twice", f"{AT}=a.b.c; {CS}=x; {CS}=x", 400, 400),
    ("garbage", "=;=;;;\t; = ; ==== ;\x7f", 401, 401),
    ("NUL", f"{AT}=a\x00b", 400, 403),
    ("a control character", f"{AT}=a\x01.b.c", 400, 403),
    ("UTF-8 bytes (non-latin-1 text)", f"{AT}=🍪.🍪.🍪; {CS}=é".encode(), 400, 403),
    ("latin-1 bytes", b"\xe9=\xff; " + AT.encode() + b"=\xe9.\xe9.\xe9", 400, 403),
    ("a JWT header only", f"{AT}=eyJhbGciOiJIUzI1NiJ9", 401, 403),
    ("three dots", f"{AT}=...", 401, 403),
    ("an empty access cookie", f"{AT}=", 401, 401),
    ("a name without a value", AT, 401, 401),
    ("an 8000-byte value under the bound", f"{AT}=" + "a" * 8000, 401, 403),
]


@pytest.mark.parametrize(("value", "get", "post"), [r[1:] for r in HOSTILE], ids=[r[0] for r in HOSTILE])
def test_hostile_cookie_fields_get_a_4xx_never_a_500(guarded: Any, value: str | bytes, get: int, post: int) -> None:
    """Nothing in a Cookie field reaches a 5xx, the app, or the body; an unsafe method fails CSRF first."""
    client = guarded("cookie")
    for method, status in (("GET", get), ("POST", post)):
        reply = client(method, "/api/me", [("Cookie", value), ("X-CSRF-Token", "x")])
        assert reply.status == status, (method, reply.body)
        assert set(reply.json()) == {"error", "reason"}
        assert "set-cookie" not in reply.headers


def test_hostile_csrf_and_fetch_fields_get_a_403_never_a_500(guarded: Any) -> None:
    client = guarded("cookie")
    token = token_for("alice")
    for csrf in (b"\xff\xfe", "é🍪".encode(), b"x" * 10000, b"\x00", CSRF.encode() + b"\x00"):
        reply = client("POST", "/api/me", [jar(token), ("X-CSRF-Token", csrf)])
        assert refused(reply) == (403, {"error": "csrf_failed", "reason": "mismatch"})
    for site in (b"\xff", b"cross-site, same-origin", b"x" * 10000):
        reply = client("GET", "/api/me", [jar(token), ("Sec-Fetch-Site", site)])
        assert refused(reply) == (403, {"error": "csrf_failed", "reason": "cross_site"})


def test_a_websocket_handshake_reads_the_cookie_and_refuses_cross_site(settings: Settings, users: Any) -> None:
    """Browsers cannot set Authorization on a WebSocket: the cookie authenticates it, and a cross-site
    handshake (Cross-Site WebSocket Hijacking) is refused by Fetch Metadata and closed with 1008."""
    from starlette.applications import Starlette
    from starlette.routing import WebSocketRoute
    from starlette.testclient import TestClient
    from starlette.websockets import WebSocket, WebSocketDisconnect

    from jwtguard import JWTGuardASGI

    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_json({"user": websocket.scope["jwtguard.user_id"]})
        await websocket.close()

    users.insert_one({"_id": "alice"})
    guard = JWTGuardASGI(
        Starlette(routes=[WebSocketRoute("/ws", echo)]), settings=settings.replace(token_location="cookie")
    )
    cookie = {"cookie": f"{AT}={token_for('alice')}"}
    with TestClient(guard) as client:
        with client.websocket_connect("/ws", headers={**cookie, "sec-fetch-site": "same-origin"}) as ws:
            assert ws.receive_json() == {"user": "alice"}
        with (
            pytest.raises(WebSocketDisconnect) as closed,
            client.websocket_connect(
                "/ws", headers={**cookie, "sec-fetch-site": "cross-site", "sec-fetch-mode": "websocket"}
            ) as ws,
        ):
            ws.receive_json()
        assert closed.value.code == 1008 and closed.value.reason == "csrf_cross_site"
        client.portal.call(guard.close)  # type: ignore[union-attr]


def test_the_adapters_read_the_same_request() -> None:
    """One translation each way: environ and scope with the same fields give the same Request."""
    from jwtguard.asgi import request_of as asgi_request
    from jwtguard.wsgi import request_of as wsgi_request

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/api",
        "HTTP_COOKIE": f"{AT}=a.b.c",
        "HTTP_SEC_FETCH_SITE": "same-origin",
        "HTTP_SEC_FETCH_MODE": "cors",
        "HTTP_SEC_FETCH_DEST": "empty",
        "HTTP_X_CSRF_TOKEN": CSRF,
        "HTTP_HOST": "app.example",
    }
    headers = [(b"cookie", f"{AT}=a.b.c".encode()), (b"sec-fetch-site", b"same-origin"), (b"sec-fetch-mode", b"cors")]
    headers += [(b"sec-fetch-dest", b"empty"), (b"x-csrf-token", CSRF.encode()), (b"host", b"app.example")]
    scope = {"type": "http", "method": "POST", "path": "/api", "headers": headers}
    assert wsgi_request(environ, True) == asgi_request(scope, True)
    assert wsgi_request(environ) == asgi_request(scope) == Request("POST", "/api", host="app.example")
    # ASGI lists repeated fields: Cookie pieces stay apart (joined by the policy), X-CSRF-Token is joined.
    twice = {
        **scope,
        "headers": [(b"cookie", b"a=1"), (b"cookie", b"b=2"), (b"x-csrf-token", b"x"), (b"x-csrf-token", b"y")],
    }
    request = asgi_request(twice, True)
    assert request.cookie == ("a=1", "b=2") and request.csrf_token == "x,y"


def test_explain_judges_the_token_whatever_its_location() -> None:
    from jwtguard.explain import explain
    from jwtguard.stores.memory import MemoryStore

    settings = Settings(secret=SECRET, token_location="cookie")
    store = MemoryStore(settings)
    store.put("alice", {})
    rows = explain(token_for("alice"), settings, store)
    assert rows[-1].verdict == "pass", rows


# -- the README's example ---------------------------------------------------------------------

README = Path(__file__).resolve().parent.parent / "README.md"


def readme_blocks() -> list[str]:
    """The ```python blocks of the README's "Cookie mode" section, in order."""
    section = README.read_text(encoding="utf-8").split("\n## Cookie mode\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```python\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)


def readme_app(monkeypatch: pytest.MonkeyPatch, store_url: str) -> dict[str, Any]:
    """The README's cookie-mode app, run as written (its settings from the environment), with the two
    functions it leaves to the reader: ``check_password`` (alice / alice-password) and ``rotate``."""
    from jwtguard import Admin, issue_token

    monkeypatch.setenv("JWTGUARD_SECRET", SECRET)
    monkeypatch.setenv("JWTGUARD_STORE_URL", store_url)
    namespace: dict[str, Any] = {
        "__name__": "readme_cookie_mode",
        "check_password": lambda body: "alice" if body == {"user": "alice", "password": "alice-password"} else None,
    }
    for block in readme_blocks():
        exec(compile(block, "README.md#cookie-mode", "exec"), namespace)
    settings = namespace["settings"]
    namespace["rotate"] = lambda refresh: (issue_token(settings, "alice"), f"rotated-{refresh}")
    admin = Admin(settings)
    try:
        admin.create_user("alice")
    finally:
        admin.close()
    return namespace


def test_the_readme_example_runs(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The README's example, as written: login sets the cookies, the guard reads them, CSRF on logout,
    logout expires them, and the refresh endpoint reads the refresh cookie with its CSRF checks."""
    namespace = readme_app(monkeypatch, f"sqlite:///{tmp_path / 'jwtguard.db'}")
    assert len(readme_blocks()) == 2
    client = namespace["app"].test_client()  # Werkzeug's cookie jar plays the browser
    login = client.post("/login", json={"user": "alice", "password": "alice-password"})
    assert login.status_code == 200
    set_cookie = login.headers.getlist("Set-Cookie")
    assert [value.split("=")[0] for value in set_cookie] == [AT, CS]
    csrf = set_cookie[1].split(";")[0].partition("=")[2]
    assert client.get("/api/me").json == {"user": "alice"}
    assert client.post("/login", json={"user": "alice", "password": "no"}).status_code == 401
    assert client.post("/logout").json == {"error": "csrf_failed", "reason": "missing_token"}
    # The refresh endpoint: the refresh cookie (Path=/token) and the CSRF pair.
    client.set_cookie(RT, "r0", path="/token")
    assert client.post("/token").json == {"error": "csrf_failed", "reason": "missing_token"}
    refreshed = client.post("/token", headers={"X-CSRF-Token": csrf})
    assert refreshed.status_code == 200, refreshed.json
    values = refreshed.headers.getlist("Set-Cookie")
    assert values[1].startswith(f"{RT}=rotated-r0; Path=/token; Max-Age=1209600;")
    assert values[2].startswith(f"{CS}={csrf}; Path=/;")  # kept: other tabs hold it
    assert client.get("/api/me").json == {"user": "alice"}  # the new access token
    logout = client.post("/logout", headers={"X-CSRF-Token": csrf})
    assert logout.status_code == 200 and logout.headers.getlist("Set-Cookie") == EXPIRIES
    assert client.get("/api/me").json == {"error": "unauthorized", "reason": "missing_token"}
    namespace["app"].wsgi_app.close()
