"""Cookie mode in headless Chromium (Debian's package, driven by Playwright): the README's app, served for real.

Issue 10 asks whether Chromium keeps ``Secure`` cookies on ``http://127.0.0.1`` and
``http://localhost``, which it treats as potentially trustworthy (Secure Contexts §3.1): if it did
not, jwtguard would have to drop the ``__Host-``/``__Secure-`` prefixes for a loopback host. It does
keep them, prefixes included (RFC 6265bis §4.1.3), so jwtguard has no such rule; the first test
fails the day a Chromium stops keeping them. The control: the same server under a name that is no
loopback (``jwtguard.test``, mapped to 127.0.0.1 by the resolver) gets no cookie at all.

The rest drives the README's example end to end: ``HttpOnly`` hides the token from the page, the
page echoes the CSRF cookie, the expiries of a logout and of a refused token really delete the
cookies (they repeat the attributes the cookies were set with), other cookies of the site stay
(no ``Clear-Site-Data: "cookies"``), Chromium sends Fetch Metadata on loopback, and a cross-site
top-level navigation carries the ``SameSite=Lax`` cookie and passes while a cross-site subresource
request carries none.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from test_browser import CHROMIUM, LAUNCH_ARGS, missing
from test_cookies import README, readme_app

from jwtguard import Admin, cookies, issue_token

pytestmark = pytest.mark.browser

#: A name that is no loopback host, resolved to 127.0.0.1 by Chromium itself (no /etc/hosts).
OTHER_HOST = "jwtguard.test"
OWN_COOKIES = {"__Host-jwtguard-at", "__Secure-jwtguard-rt", "__Host-jwtguard-csrf"}

LOGIN = """async (path) => {
    const answer = await fetch(path ?? "/login", { method: "POST", headers: { "Content-Type": "application/json" },
                                          body: JSON.stringify({ user: "alice", password: "alice-password" }) });
    return answer.status;
}"""
CALL = """async ([method, path, csrf]) => {
    const headers = csrf === null ? {} : { "X-CSRF-Token": csrf === "" ?
        (document.cookie.match(/(?:^|; )__Host-jwtguard-csrf=([^;]*)/)?.[1] ?? "") : csrf };
    const answer = await fetch(path, { method, headers });
    return [answer.status, await answer.json()];
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"{CHROMIUM} is missing: scripts/get-browser.sh installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=[*LAUNCH_ARGS, f"--host-resolver-rules=MAP {OTHER_HOST} 127.0.0.1"]
        )
        yield chromium
        chromium.close()


@dataclass
class Served:
    port: int
    settings: Any
    seen: list[dict[str, str | None]] = field(default_factory=list)  # what reached the guard, per request

    def url(self, host: str = "127.0.0.1", path: str = "/api/me") -> str:
        return f"http://{host}:{self.port}{path}"

    def last(self, path: str) -> dict[str, str | None]:
        """The latest request to *path* (Chromium also asks for /favicon.ico on its own)."""
        return [request for request in self.seen if request["PATH_INFO"] == path][-1]


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Served]:
    """The README's cookie-mode app on 127.0.0.1, in a thread of this process; user alice exists."""
    from werkzeug.serving import make_server

    namespace = readme_app(monkeypatch, f"sqlite:///{tmp_path / 'jwtguard.db'}")
    app = namespace["app"]
    settings = namespace["settings"]

    def login_with_refresh() -> Any:  # the login of an app with sessions: both tokens (under exempt /login)
        response = app.response_class(b"{}", content_type="application/json")
        for value in cookies.login_cookies(settings, issue_token(settings, "alice"), "r0"):
            response.headers.add("Set-Cookie", value)
        return response

    app.add_url_rule("/login/with-refresh", view_func=login_with_refresh, methods=["POST"])
    guard = app.wsgi_app
    seen: list[dict[str, str | None]] = []

    def recording(environ: dict[str, Any], start_response: Any) -> Any:
        fields = ("PATH_INFO", "HTTP_HOST", "HTTP_COOKIE", "HTTP_SEC_FETCH_SITE", "HTTP_SEC_FETCH_MODE")
        seen.append({name: environ.get(name) for name in fields})
        return guard(environ, start_response)

    server = make_server("127.0.0.1", 0, recording, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Served(server.port, namespace["settings"], seen)
    finally:
        server.shutdown()
        thread.join(10)
        guard.close()


def own(context: Any) -> dict[str, dict[str, Any]]:
    return {cookie["name"]: cookie for cookie in context.cookies() if cookie["name"] in OWN_COOKIES}


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", OTHER_HOST])
def test_chromium_keeps_secure_prefixed_cookies_on_loopback(browser: Any, served: Served, host: str) -> None:
    """Secure Contexts §3.1 + RFC 6265bis §4.1.3: on http://127.0.0.1 and http://localhost Chromium keeps
    the __Host-/__Secure- cookies, so jwtguard keeps the prefixes there too; another http host gets none."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(served.url(host))
    assert page.evaluate(LOGIN, "/login/with-refresh") == 200
    kept = own(context)
    if host == OTHER_HOST:  # the control: not potentially trustworthy, so no Secure cookie at all
        assert kept == {}
        assert page.evaluate(CALL, ["GET", "/api/me", None]) == [
            401,
            {"error": "unauthorized", "reason": "missing_token"},
        ]
        context.close()
        return
    assert set(kept) == OWN_COOKIES, browser.version
    for name, cookie in kept.items():
        assert cookie["secure"] and cookie["sameSite"] == "Lax"
        assert cookie["domain"] == host  # host-only: no Domain attribute
        assert cookie["path"] == ("/token" if name == "__Secure-jwtguard-rt" else "/")
        assert cookie["httpOnly"] is (name != "__Host-jwtguard-csrf")
    assert page.evaluate(CALL, ["GET", "/api/me", None]) == [200, {"user": "alice"}]
    assert "__Secure-jwtguard-rt" not in (served.last("/api/me")["HTTP_COOKIE"] or "")  # Path=/token only
    # The refresh endpoint in the browser: the refresh cookie reaches /token, the CSRF pair is checked.
    assert page.evaluate(CALL, ["POST", "/token", None]) == [403, {"error": "csrf_failed", "reason": "missing_token"}]
    assert page.evaluate(CALL, ["POST", "/token", ""]) == [200, {"ok": True}]
    assert own(context)["__Secure-jwtguard-rt"]["value"] == "rotated-r0"
    assert own(context)["__Host-jwtguard-csrf"]["value"] == kept["__Host-jwtguard-csrf"]["value"]
    assert page.evaluate(CALL, ["POST", "/logout", ""]) == [200, {"ok": True}]
    assert own(context) == {}  # the refresh cookie's expiry matched its Path=/token too
    context.close()


def test_the_readme_page_logs_in_and_out_in_chromium(browser: Any, served: Served) -> None:
    """The README's JavaScript, verbatim: login, the token cookie sent by the browser, logout with the
    echoed CSRF cookie, and the logout's expiries delete the cookies (they match Path and attributes)."""
    section = README.read_text(encoding="utf-8").split("\n## Cookie mode\n", 1)[1].split("\n## ", 1)[0]
    (snippet,) = re.findall(r"^```js\n(.*?)^```$", section, re.MULTILINE | re.DOTALL)
    context = browser.new_context()
    page = context.new_page()
    page.goto(served.url())
    assert page.evaluate(f"async () => {{\n{snippet}\nreturn me;\n}}") == {"user": "alice"}
    assert own(context) == {}  # the logout expired both cookies
    calls = [request for request in served.seen if request["PATH_INFO"] in ("/api/me", "/logout")][1:]
    assert calls and all(request["HTTP_SEC_FETCH_SITE"] == "same-origin" for request in calls)
    context.close()


def test_csrf_and_a_refused_token_in_chromium(browser: Any, served: Served) -> None:
    """HttpOnly keeps the token from the page; an unsafe method needs the echoed cookie; a disabled
    user's refusal deletes jwtguard's cookies in the browser and leaves the site's other cookies."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(served.url())
    assert page.evaluate(LOGIN) == 200
    visible = page.evaluate("document.cookie")
    assert "__Host-jwtguard-csrf=" in visible and "__Host-jwtguard-at" not in visible  # HttpOnly
    assert page.evaluate(CALL, ["POST", "/logout", None]) == [403, {"error": "csrf_failed", "reason": "missing_token"}]
    assert page.evaluate(CALL, ["POST", "/logout", "forged"]) == [403, {"error": "csrf_failed", "reason": "mismatch"}]
    assert set(own(context)) == {"__Host-jwtguard-at", "__Host-jwtguard-csrf"}  # a failed check logs nobody out
    page.evaluate("document.cookie = 'theme=dark; Path=/; SameSite=Lax'")

    admin = Admin(served.settings)  # same process: the guard's cached state is dropped at once
    try:
        admin.disable_user("alice")
        refused = page.evaluate(CALL, ["GET", "/api/me", None])
        assert refused == [401, {"error": "invalid_token", "reason": "disabled"}]
        assert own(context) == {}  # the expiries matched each cookie's attributes: deleted
        assert [cookie["name"] for cookie in context.cookies()] == ["theme"]  # the site's own cookie stays
    finally:
        admin.enable_user("alice")
        admin.close()
    assert page.evaluate(LOGIN) == 200
    assert page.evaluate(CALL, ["POST", "/logout", ""]) == [200, {"ok": True}]
    context.close()


def test_cross_site_requests_in_chromium(browser: Any, served: Served) -> None:
    """Fetch Metadata as Chromium sends it: a link from another site (a top-level GET navigation,
    Sec-Fetch-Site: cross-site) carries the SameSite=Lax cookie and passes the guard; a cross-site
    subresource request and a cross-site form POST carry no cookie at all."""
    context = browser.new_context()
    app_page = context.new_page()
    app_page.goto(served.url())
    assert app_page.evaluate(LOGIN) == 200  # logged in on 127.0.0.1

    other = context.new_page()
    other.goto(served.url("localhost", "/login"))  # another site: localhost is not 127.0.0.1
    target = served.url("127.0.0.1")
    other.evaluate("url => fetch(url, { mode: 'no-cors', credentials: 'include' })", target)
    fetched = served.last("/api/me")
    assert fetched["HTTP_SEC_FETCH_SITE"] == "cross-site" and fetched["HTTP_COOKIE"] is None

    with other.expect_navigation():
        other.evaluate("url => { location.href = url; }", target)
    navigated = served.last("/api/me")
    assert navigated["HTTP_SEC_FETCH_SITE"] == "cross-site" and navigated["HTTP_SEC_FETCH_MODE"] == "navigate"
    assert "__Host-jwtguard-at=" in (navigated["HTTP_COOKIE"] or "")
    assert "alice" in other.inner_text("body")  # the navigation exemption: a link from elsewhere works

    other.goto(served.url("localhost", "/login"))
    form = """url => { const f = document.createElement('form'); f.method = 'POST'; f.action = url;
                       document.body.appendChild(f); f.submit(); }"""
    with other.expect_navigation():
        other.evaluate(form, served.url("127.0.0.1", "/logout"))
    posted = served.last("/logout")
    assert posted["HTTP_SEC_FETCH_SITE"] == "cross-site" and posted["HTTP_COOKIE"] is None  # SameSite=Lax
    assert set(own(context)) == {"__Host-jwtguard-at", "__Host-jwtguard-csrf"}
    context.close()
