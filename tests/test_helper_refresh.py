"""The browser helper's side of sessions (issue 10) in headless Chromium, against a fake of the HTTP contract.

Silent refresh with one refresh across tabs, "401 expired: refresh once, retry once", the reasons that log out,
cookie mode's CSRF header, and the demo page's "Where you're signed in" panel. The server side of sessions is
written elsewhere, so the fake here (http.server in this process, on 127.0.0.1 only) speaks exactly the contract
the helper codes against: POST /login, POST /token with rotation ("token already rotated" for a spent refresh
token), the guard's 401 bodies with X-User-Enabled, cookie mode's cookies and CSRF check, GET and DELETE
/api/sessions, /logout. It logs every call, so a test counts refreshes instead of guessing from timings.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
from test_browser import AXIOS_VERSION, CHROMIUM, LAUNCH_ARGS, missing

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
HELPER = ROOT / "jwtguard" / "static" / "jwtguard.js"
PAGE = ROOT / "examples" / "page.html"
ACCESS_COOKIE, REFRESH_COOKIE, CSRF_COOKIE = "__Host-jwtguard-at", "__Secure-jwtguard-rt", "__Host-jwtguard-csrf"
#: The guard's descriptions (REASONS in jwtguard/sansio/decision.py) of the refusals the fake sends.
DESCRIPTIONS = {
    "expired": "The access token expired",
    "invalid": "The access token is invalid",
    "disabled": "The account is disabled",
    "session_revoked": "The session was ended",
}

Answer = tuple[int, list[tuple[str, str]], bytes]


@dataclass
class Call:
    """One request the fake answered."""

    method: str
    path: str
    headers: dict[str, str]  # lower-case names
    body: str
    status: int = 0


@dataclass
class Grant:
    """One session of the fake: its current pair and the refresh tokens it rotated away."""

    sid: str
    user: str
    description: str
    created: str
    last_used: str
    access: str = ""
    refresh: str = ""
    spent: set[str] = field(default_factory=set)
    ended: bool = False


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


def json_answer(status: int, body: Any, headers: list[tuple[str, str]] | None = None) -> Answer:
    return status, [("Content-Type", "application/json"), *(headers or [])], json.dumps(body).encode()


class Contract:
    """The fake server's state and routes; the handler threads and the test share it under `lock`."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.url = ""
        self.reset()

    def reset(
        self,
        *,
        cookies: bool = False,
        expires_in: int = 300,
        refreshed_expires_in: int = 300,
        token_delay: float = 0.0,
    ) -> None:
        """A fresh server: no sessions, no calls. `expires_in` is a login's, `refreshed_expires_in` a refresh's;
        `token_delay` holds every POST /token that long before it is answered (a wide window for a race)."""
        with self.lock:
            self.cookies = cookies
            self.expires_in = expires_in
            self.refreshed_expires_in = refreshed_expires_in
            self.token_delay = token_delay
            self.grants: dict[str, Grant] = {}
            self.tokens: dict[str, str] = {}  # every access token issued -> its session
            self.expired: set[str] = set()
            self.disabled: set[str] = set()
            self.refuse_refresh: str | None = None  # an error_description: every refresh is refused with it
            self.calls: list[Call] = []
            self.serial = 0

    # -- what a test does from outside the browser ----------------------------------------------

    def grant(self, user: str, description: str) -> Grant:
        """A login on another device (or this one, through POST /login): a new session and pair."""
        with self.lock:
            self.serial += 1
            stamp = now_iso()
            grant = Grant(f"s{self.serial}", user, description, stamp, stamp)
            self.grants[grant.sid] = grant
            self._new_pair(grant)
            return grant

    def expire_access(self) -> None:
        """Every access token issued so far now answers 401 expired (its refresh token still works)."""
        with self.lock:
            self.expired.update(self.tokens)

    def end_session(self, sid: str) -> None:
        with self.lock:
            self.grants[sid].ended = True

    def disable(self, user: str) -> None:
        with self.lock:
            self.disabled.add(user)

    def calls_to(self, method: str, path: str) -> list[Call]:
        with self.lock:
            return [call for call in self.calls if (call.method, call.path) == (method, path)]

    def since(self, start: int) -> list[tuple[str, str, int]]:
        with self.lock:
            return [(call.method, call.path, call.status) for call in self.calls[start:]]

    # -- the routes -------------------------------------------------------------------------------

    def _new_pair(self, grant: Grant) -> None:
        self.serial += 1
        grant.access, grant.refresh = f"at-{grant.sid}-{self.serial}", f"rt-{grant.sid}-{self.serial}"
        self.tokens[grant.access] = grant.sid

    def _pair_answer(self, grant: Grant, expires_in: int) -> Answer:
        body: dict[str, Any] = {"token_type": "Bearer", "expires_in": expires_in, "user": grant.user, "admin": False}
        if not self.cookies:
            return json_answer(200, {"access_token": grant.access, "refresh_token": grant.refresh, **body})
        cookies = [
            ("Set-Cookie", f"{ACCESS_COOKIE}={grant.access}; Path=/; Secure; HttpOnly; SameSite=Strict"),
            ("Set-Cookie", f"{REFRESH_COOKIE}={grant.refresh}; Path=/; Secure; HttpOnly; SameSite=Strict"),
            ("Set-Cookie", f"{CSRF_COOKIE}=csrf-{grant.sid}; Path=/; Secure; SameSite=Strict"),
        ]
        return json_answer(200, body, cookies)

    def answer(self, call: Call) -> Answer:
        if call.method == "GET" and call.path == "/health":
            return json_answer(200, {"status": "ok"})
        if call.method == "GET" and call.path == "/static/jwtguard.js":
            return 200, [("Content-Type", "text/javascript; charset=utf-8")], HELPER.read_bytes()
        if call.method == "GET" and call.path == "/":
            return 200, [("Content-Type", "text/html; charset=utf-8")], PAGE.read_bytes()
        if call.method == "GET" and call.path == "/favicon.ico":
            return 404, [], b""
        if call.method == "POST" and call.path == "/token" and self.token_delay:
            time.sleep(self.token_delay)  # outside the lock: racing refreshes arrive together
        with self.lock:
            if call.method == "POST" and call.path == "/login":
                return self._login(call)
            if call.method == "POST" and call.path == "/token":
                return self._refresh(call)
            grant, refusal = self._guard(call)
            if grant is None:
                return refusal
            return self._route(call, grant)

    def _login(self, call: Call) -> Answer:
        body = json.loads(call.body or "{}")
        user = body.get("username")
        if not isinstance(user, str) or body.get("password") != f"{user}-password":
            return json_answer(401, {"error": "invalid_credentials"})
        if user in self.disabled:
            return json_answer(403, {"error": "account_disabled"})
        self.serial += 1
        stamp = now_iso()
        agent = call.headers.get("user-agent", "")
        grant = Grant(f"s{self.serial}", user, "Chromium" if "Chrome" in agent else agent, stamp, stamp)
        self.grants[grant.sid] = grant
        self._new_pair(grant)
        return self._pair_answer(grant, self.expires_in)

    def _refresh(self, call: Call) -> Answer:
        form = urllib.parse.parse_qs(call.body)
        if form.get("grant_type") != ["refresh_token"]:
            return json_answer(400, {"error": "unsupported_grant_type", "error_description": "refresh_token only"})
        token = form.get("refresh_token", [None])[0]
        if self.cookies:
            cookies = cookie_jar(call)
            if call.headers.get("x-csrf-token") != cookies.get(CSRF_COOKIE):
                return json_answer(400, {"error": "invalid_request", "error_description": "CSRF token missing"})
            token = token or cookies.get(REFRESH_COOKIE)
        if token is None:
            return json_answer(400, {"error": "invalid_request", "error_description": "refresh_token missing"})
        if self.refuse_refresh is not None:
            return json_answer(400, {"error": "invalid_grant", "error_description": self.refuse_refresh})
        for grant in self.grants.values():
            if token in grant.spent:
                return json_answer(400, {"error": "invalid_grant", "error_description": "token already rotated"})
            if token == grant.refresh and not grant.ended:
                grant.spent.add(token)
                self._new_pair(grant)
                grant.last_used = now_iso()
                return self._pair_answer(grant, self.refreshed_expires_in)
        return json_answer(400, {"error": "invalid_grant", "error_description": "unknown refresh token"})

    def _guard(self, call: Call) -> tuple[Grant | None, Answer]:
        """The guard's part: the access token (header, or cookie and CSRF), then the refusal it earns."""
        if self.cookies:
            cookies = cookie_jar(call)
            token = cookies.get(ACCESS_COOKIE)
            unsafe = call.method not in ("GET", "HEAD", "OPTIONS")
            if unsafe and (token is None or call.headers.get("x-csrf-token") != cookies.get(CSRF_COOKIE)):
                return None, json_answer(403, {"error": "csrf_failed"})
        else:
            scheme, _, token = call.headers.get("authorization", "").partition(" ")
            token = token if scheme == "Bearer" else None
        if not token:
            bare = [("WWW-Authenticate", 'Bearer realm="api"')]
            return None, json_answer(401, {"error": "unauthorized", "reason": "missing_token"}, bare)
        sid = self.tokens.get(token)
        grant = self.grants.get(sid) if sid is not None else None
        if grant is None:
            reason = "invalid"
        elif token in self.expired:
            reason = "expired"
        elif grant.user in self.disabled:
            reason = "disabled"
        elif grant.ended:
            reason = "session_revoked"
        else:
            grant.last_used = now_iso()
            return grant, json_answer(200, {})
        challenge = f'Bearer realm="api", error="invalid_token", error_description="{DESCRIPTIONS[reason]}"'
        headers = [
            ("WWW-Authenticate", challenge),
            ("X-User-Enabled", "false" if reason == "disabled" else "true"),
            ("Cache-Control", "no-store"),
        ]
        return None, json_answer(401, {"error": "invalid_token", "reason": reason}, headers)

    def _route(self, call: Call, grant: Grant) -> Answer:
        enabled = [("X-User-Enabled", "true")]
        if call.path == "/api/me" and call.method == "GET":
            return json_answer(200, {"user": grant.user, "admin": False}, enabled)
        if call.path == "/api/notes":
            return json_answer(200, {"notes": [f"A note of {grant.user}"]}, enabled)
        if call.path == "/api/sessions" and call.method == "GET":
            listed = [
                {
                    "sid": one.sid,
                    "created": one.created,
                    "last_used": one.last_used,
                    "description": one.description,
                    "current": one.sid == grant.sid,
                }
                for one in self.grants.values()
                if one.user == grant.user and not one.ended
            ]
            return json_answer(200, listed, enabled)
        if call.path.startswith("/api/sessions/") and call.method == "DELETE":
            ended = self.grants.get(urllib.parse.unquote(call.path.rsplit("/", 1)[1]))
            if ended is None or ended.user != grant.user or ended.ended:
                return json_answer(404, {"error": "not_found"}, enabled)
            ended.ended = True
            return 204, enabled, b""
        if call.path == "/logout" and call.method == "POST":
            grant.ended = True
            return 204, enabled, b""
        return json_answer(404, {"error": "not_found"}, enabled)


def cookie_jar(call: Call) -> dict[str, str]:
    pairs = (part.strip().partition("=") for part in call.headers.get("cookie", "").split(";") if "=" in part)
    return {name: value for name, _, value in pairs}


class FakeServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, contract: Contract) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.contract = contract


class Handler(BaseHTTPRequestHandler):
    server: FakeServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.reply("GET")

    def do_POST(self) -> None:
        self.reply("POST")

    def do_DELETE(self) -> None:
        self.reply("DELETE")

    def reply(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        headers = {name.lower(): value for name, value in self.headers.items()}
        call = Call(method, urllib.parse.urlsplit(self.path).path, headers, body)
        status, answer_headers, payload = self.server.contract.answer(call)
        call.status = status
        with self.server.contract.lock:
            self.server.contract.calls.append(call)
        self.send_response(status)
        for name, value in answer_headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)


C = TypeVar("C", bound=Contract)


@contextlib.contextmanager
def serving(contract: C) -> Iterator[C]:
    """*contract* answered by a :class:`FakeServer` on a free loopback port (its ``url``), in a thread."""
    httpd = FakeServer(contract)
    contract.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield contract
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


@pytest.fixture(scope="module")
def server() -> Iterator[Contract]:
    with serving(Contract()) as contract:
        yield contract


@pytest.fixture
def contract(server: Contract) -> Contract:
    server.reset()
    return server


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    import os

    if not os.access(CHROMIUM, os.X_OK):
        missing(f"{CHROMIUM} is missing: scripts/get-browser.sh installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def context(browser: Any) -> Iterator[Any]:
    context = browser.new_context()
    context.set_default_timeout(10_000)
    yield context
    context.close()


#: A session in the tab, recording its onLogout and onRefresh calls; answers whether it is signed in.
START = """(options) => {
    window.reasons = [];
    window.details = [];
    window.refreshes = [];
    window.session = JWTGuard.createSession(Object.assign({
        onLogout: (reason, detail) => { reasons.push(reason); details.push(detail); },
        onRefresh: (expiresAt) => refreshes.push(expiresAt),
    }, options));
    return session.signedIn();
}"""
LOGIN = """async (user) => {
    const response = await fetch("/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: user, password: user + "-password" }),
    });
    const body = await response.json();
    session.setTokens(body);
    return body;
}"""
ME = "async () => { const r = await session.fetch('/api/me'); return [r.status, await r.json()]; }"


def open_tab(context: Any, contract: Contract, options: dict[str, Any] | None = None) -> Any:
    """A tab on the fake's origin with the helper loaded and a session started."""
    page = context.new_page()
    page.goto(contract.url + "/health")
    page.add_script_tag(url="/static/jwtguard.js")
    page.evaluate(START, options or {})
    return page


def wait_until(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


@pytest.mark.parametrize("apis", ["web-locks", "neither"], ids=["web-locks", "no-locks-no-broadcastchannel"])
def test_two_tabs_expiring_at_once_refresh_once(context: Any, contract: Contract, apis: str) -> None:
    """Both tabs' silent-refresh timers fire at the same moment (refreshAhead 1 s before a shared expiry) while
    POST /token takes 0.4 s. With Web Locks exactly one refresh reaches the server and the other tab takes its
    pair. Without locks (and without BroadcastChannel) both refresh: the second is answered "token already
    rotated" and picks up the pair the first stored; nobody is logged out either way."""
    contract.reset(expires_in=3, token_delay=0.4)
    if apis == "neither":
        context.add_init_script("delete Navigator.prototype.locks; delete window.BroadcastChannel;")
    first = open_tab(context, contract, {"refreshAhead": 1})
    login = first.evaluate(LOGIN, "alice")
    second = open_tab(context, contract, {"refreshAhead": 1})
    assert second.evaluate("[session.signedIn(), typeof navigator.locks]") == [
        True,
        "object" if apis == "web-locks" else "undefined",
    ]
    for tab in (first, second):
        tab.wait_for_function("refreshes.length > 0")
    time.sleep(0.6)  # a second refresh, were there one, would be answered by now
    refreshes = contract.calls_to("POST", "/token")
    grant = contract.grants[next(iter(contract.grants))]
    if apis == "web-locks":
        assert [call.status for call in refreshes] == [200]
    else:
        assert sorted(call.status for call in refreshes) == [200, 400]
    assert all(urllib.parse.parse_qs(call.body)["refresh_token"] == [login["refresh_token"]] for call in refreshes)
    for tab in (first, second):
        state = tab.evaluate("[session.token(), localStorage.getItem('jwtguard.token.refresh'), reasons, refreshes]")
        assert state[:3] == [grant.access, grant.refresh, []]
        assert len(state[3]) == 1  # onRefresh once per tab
    start = len(contract.calls)
    assert second.evaluate(ME)[0] == 200
    assert contract.calls[start].headers["authorization"] == f"Bearer {grant.access}"


def axios_script() -> Path:
    import os

    cache = os.environ.get("JWTGUARD_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "jwtguard"
    )
    path = Path(cache) / f"axios-{AXIOS_VERSION}" / "axios.min.js"
    if not path.is_file():
        missing(f"{path} is missing: scripts/get-browser.sh fetches axios {AXIOS_VERSION}")
    return path


AXIOS_ME = """async () => {
    try {
        const r = await api.get("/api/me");
        return [r.status, r.data];
    } catch (error) {
        return [error.response ? error.response.status : String(error), error.response && error.response.data];
    }
}"""


@pytest.mark.parametrize("client", ["fetch", "axios"])
def test_expired_answer_is_refreshed_then_retried_once(context: Any, contract: Contract, client: str) -> None:
    """401 expired with a refresh token at hand: one POST /token (RFC 6749 §6 form), then the request again with
    the new token, and no logout. A refresh refused with invalid_grant (not "already rotated") logs out, with the
    server's description for the page to show, and is not retried."""
    page = open_tab(context, contract, {"autoRefresh": False})
    call = ME
    if client == "axios":
        page.add_script_tag(path=str(axios_script()))
        page.evaluate("() => { window.api = axios.create(); session.installAxios(api); }")
        call = AXIOS_ME
    login = page.evaluate(LOGIN, "alice")
    contract.expire_access()
    start = len(contract.calls)
    assert page.evaluate(call) == [200, {"user": "alice", "admin": False}]
    assert contract.since(start) == [("GET", "/api/me", 401), ("POST", "/token", 200), ("GET", "/api/me", 200)]
    refresh, retry = contract.calls[start + 1], contract.calls[start + 2]
    assert refresh.headers["content-type"] == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(refresh.body) == {
        "grant_type": ["refresh_token"],
        "refresh_token": [login["refresh_token"]],
    }
    assert "authorization" not in refresh.headers  # a refresh is no API call
    token = page.evaluate("session.token()")
    assert token != login["access_token"]
    assert retry.headers["authorization"] == f"Bearer {token}"
    assert page.evaluate("reasons") == []

    if client == "fetch":
        # A Request with a body and headers of its own: both go out again on the retry, beside the new token.
        contract.expire_access()
        start = len(contract.calls)
        request = """async () => (await session.fetch(new Request("/api/notes", {
            method: "POST", headers: { "X-Extra": "kept" }, body: "a body",
        }))).status"""
        assert page.evaluate(request) == 200
        assert contract.since(start) == [
            ("POST", "/api/notes", 401),
            ("POST", "/token", 200),
            ("POST", "/api/notes", 200),
        ]
        for sent in (contract.calls[start], contract.calls[start + 2]):
            assert (sent.headers["x-extra"], sent.body) == ("kept", "a body")
        assert contract.calls[start + 2].headers["authorization"] == f"Bearer {page.evaluate('session.token()')}"

    contract.expire_access()
    contract.refuse_refresh = "the refresh token was already used: the session is ended"
    start = len(contract.calls)
    assert page.evaluate(call)[0] == 401
    assert contract.since(start) == [("GET", "/api/me", 401), ("POST", "/token", 400)]
    assert page.evaluate("[reasons, details, localStorage.length]") == [
        ["invalid_grant"],
        [
            {
                "reason": "invalid_grant",
                "status": 400,
                "error": "invalid_grant",
                "description": "the refresh token was already used: the session is ended",
            }
        ],
        0,
    ]


@pytest.mark.parametrize(("ending", "reason"), [("end_session", "session_revoked"), ("disable", "disabled")])
def test_a_refusal_that_ends_the_session_logs_out_every_tab(
    context: Any, contract: Contract, ending: str, reason: str
) -> None:
    """session_revoked (this session ended from another device) and disabled (X-User-Enabled: false) log out at
    once, with no refresh tried, in the tab that met it and in the other tab, which gets the same reason and
    detail without a request of its own."""
    first = open_tab(context, contract)
    first.evaluate(LOGIN, "bob")
    second = open_tab(context, contract)
    assert second.evaluate("session.signedIn()")
    requests: list[str] = []
    second.on("request", lambda request: requests.append(request.url))
    grant = contract.grants[next(iter(contract.grants))]
    if ending == "end_session":
        contract.end_session(grant.sid)
    else:
        contract.disable("bob")
    assert first.evaluate(ME)[0] == 401
    second.wait_for_function("reasons.length > 0")
    time.sleep(0.3)  # a second onLogout, were there one, would come now
    detail = {"reason": reason, "status": 401, "error": "invalid_token", "description": DESCRIPTIONS[reason]}
    for tab in (first, second):
        assert tab.evaluate("[reasons, details, localStorage.length, session.signedIn()]") == [
            [reason],
            [detail],
            0,
            False,
        ]
    assert requests == []
    assert contract.calls_to("POST", "/token") == []


def test_cookie_mode_sends_the_csrf_token_and_refreshes_from_the_cookie(context: Any, contract: Contract) -> None:
    """A login answer without tokens (they are in HttpOnly cookies) puts the session in cookie mode: only the
    expiry is stored, unsafe methods carry X-CSRF-Token (the CSRF cookie's value), safe ones don't, no
    Authorization is sent, and a 401 expired is refreshed by POST /token with no refresh_token field."""
    contract.reset(cookies=True)
    page = open_tab(context, contract, {"autoRefresh": False})
    login = page.evaluate(LOGIN, "alice")
    assert "access_token" not in login and "refresh_token" not in login
    assert page.evaluate("[session.signedIn(), session.token(), Object.keys(localStorage)]") == [
        True,
        None,
        ["jwtguard.token.expires"],
    ]
    sid = next(iter(contract.grants))
    assert page.evaluate("document.cookie") == f"{CSRF_COOKIE}=csrf-{sid}"  # the tokens' cookies are HttpOnly

    start = len(contract.calls)
    posted = "async () => (await session.fetch('/api/notes', { method: 'POST', body: '{}' })).status"
    assert page.evaluate(posted) == 200
    assert page.evaluate(ME)[0] == 200
    post, get = contract.calls[start], contract.calls[start + 1]
    assert post.headers["x-csrf-token"] == f"csrf-{sid}"
    assert "x-csrf-token" not in get.headers
    for sent in (post, get):
        assert "authorization" not in sent.headers
        assert cookie_jar(sent)[ACCESS_COOKIE] == f"at-{sid}-2"

    contract.expire_access()
    start = len(contract.calls)
    assert page.evaluate(ME)[0] == 200
    assert contract.since(start) == [("GET", "/api/me", 401), ("POST", "/token", 200), ("GET", "/api/me", 200)]
    refresh = contract.calls[start + 1]
    assert refresh.body == "grant_type=refresh_token"
    assert refresh.headers["x-csrf-token"] == f"csrf-{sid}"
    assert cookie_jar(refresh)[REFRESH_COOKIE] == f"rt-{sid}-2"
    assert cookie_jar(contract.calls[start + 2])[ACCESS_COOKIE] == contract.grants[sid].access
    assert page.evaluate("reasons") == []


def test_demo_page_refreshes_silently_and_signs_devices_out(context: Any, contract: Contract) -> None:
    """examples/page.html on the fake: the silent refresh, "Where you're signed in" (this device marked), "Sign
    out all other devices", one device's own button, the reason shown when another device ends this session or
    the server detects a refresh token's reuse, and "Sign out this device" for the current one (POST /logout)."""
    contract.reset(expires_in=4)
    phone = contract.grant("alice", "Firefox on a phone")
    page = context.new_page()
    page.goto(contract.url + "/")

    def log_in() -> str:
        page.fill("#username", "alice")
        page.fill("#password", "alice-password")
        page.click("#login-button")
        page.wait_for_selector("#app:not([hidden])")
        page.wait_for_selector("#sessions:not([hidden])")
        assert page.inner_text("#who") == "alice"
        return str(page.get_attribute("#sign-out-this-device", "data-sid"))

    here = log_in()
    listed = page.eval_on_selector_all(
        "#sessions-list li.session",
        """items => items.map((item) => {
            const text = (name) => item.querySelector(name).textContent;
            const stamped = (name) => item.querySelector(name).dateTime !== "";
            return [item.dataset.sid, item.dataset.current, text(".session-description"),
                item.querySelector(".session-this-device") !== null,
                stamped(".session-created"), stamped(".session-last-used")];
        })""",
    )
    assert sorted(listed) == sorted(
        [[here, "true", "Chromium", True, True, True], [phone.sid, "false", "Firefox on a phone", False, True, True]]
    )

    # The access token lives 4 s: the helper renews it before then, and the page keeps working on the new one.
    wait_until(lambda: len(contract.calls_to("POST", "/token")) == 1)
    page.wait_for_function(f"localStorage.getItem('jwtguard.token') === '{contract.grants[here].access}'")
    page.click("#refresh")
    page.wait_for_function("document.getElementById('token-expiry').textContent.includes('renewed silently')")
    assert page.is_visible("#app")

    page.click("#sign-out-others")
    page.wait_for_function("document.querySelectorAll('#sessions-list li').length === 1")
    assert contract.grants[phone.sid].ended
    assert [call.status for call in contract.calls_to("DELETE", f"/api/sessions/{phone.sid}")] == [204]
    assert page.is_hidden("#sign-out-others")  # no other device left

    tablet = contract.grant("alice", "Safari on a tablet")
    page.click("#refresh")
    page.click(f'#sessions-list button.session-sign-out[data-sid="{tablet.sid}"]')
    page.wait_for_function("document.querySelectorAll('#sessions-list li').length === 1")
    assert contract.grants[tablet.sid].ended
    assert "Signed out that device" in page.inner_text("#message")

    contract.end_session(here)  # from another device
    page.click("#refresh")
    page.wait_for_selector("#login-form:not([hidden])")
    assert page.get_attribute("#message", "data-reason") == "session_revoked"
    assert page.inner_text("#message") == "Signed out: this session was ended from another device."
    assert page.evaluate("localStorage.length") == 0

    log_in()  # the refresh token was used twice (theft?): the server ended the session, the page says so
    contract.refuse_refresh = "the refresh token was already used: the session is ended"
    contract.expire_access()
    page.click("#refresh")
    page.wait_for_selector("#login-form:not([hidden])")
    assert page.get_attribute("#message", "data-reason") == "invalid_grant"
    assert "token reuse detected" in page.inner_text("#message")

    contract.refuse_refresh = None
    here = log_in()
    page.click("#sign-out-this-device")
    page.wait_for_selector("#login-form:not([hidden])")
    assert page.inner_text("#message") == "Signed out on this device."
    assert [call.status for call in contract.calls_to("POST", "/logout")] == [204]
    assert contract.grants[here].ended
    assert page.evaluate("localStorage.length") == 0
