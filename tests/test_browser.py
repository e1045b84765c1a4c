"""End to end in headless Chromium (Debian's package, driven by Playwright): the page logs out on the spot.

Each example is served for real on 127.0.0.1 by its own process, on the embedded store and on MongoDB;
the revocation comes from outside the page: the `jwtguard` CLI in another process, or the admin route
called by another client.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conftest import SECRET
from mongo_server import free_port

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
TOKEN_KEY = "jwtguard.token"
CACHE_TTL = 0.5  # the served app's JWTGUARD_CACHE_TTL: how long another process's write can go unseen
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXIOS_VERSION = "1.7.9"  # scripts/get-browser.sh fetches it
SHORT_TTL = 4  # "-shortttl": seconds an access token lives, so that the page's silent refresh comes within 2 s


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() == "true"


def missing(message: str) -> None:
    """In CI a missing browser dependency fails the test; elsewhere it skips."""
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"{CHROMIUM} is missing: scripts/get-browser.sh installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@dataclass
class Served:
    url: str
    env: dict[str, str]
    store: str
    directory: Path

    def cli(self, *args: str) -> None:
        """The `jwtguard` command, in its own process, on the served app's store."""
        subprocess.run(
            [sys.executable, "-m", "jwtguard", *args], env=self.env, check=True, timeout=60, capture_output=True
        )

    def post(self, path: str, token: str | None = None, body: Any = None) -> Any:
        """Another client (not the page) calling the app."""
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        data = json.dumps(body or {}).encode()
        request = urllib.request.Request(self.url + path, data=data, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=15) as response:
            return json.load(response)

    def admin_switch(self, user: str, action: str) -> None:
        token = self.post("/login", body={"username": "admin", "password": "admin-password"})["access_token"]
        assert self.post(f"/admin/users/{user}/{action}", token)["user"] == user


EVERY_KIND = ["flask_app-sqlite", "starlette_app-sqlite", "flask_app-mongo", "starlette_app-mongo"]


@contextlib.contextmanager
def running_example(example: str, port: int, directory: Path, env: dict[str, str], extra: list[str]) -> Iterator[str]:
    """``python -m examples.EXAMPLE --port PORT *extra`` in *directory* with *env*, once ``/health``
    answers (30 s at most; its log is the error otherwise): its base URL. Stopped by its PID."""
    log = open(directory / "server.log", "wb")  # noqa: SIM115 - the server's output, kept for failures
    server = subprocess.Popen(
        [sys.executable, "-m", f"examples.{example}", "--port", str(port), *extra],
        cwd=directory,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{base}/health", timeout=1):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                server.wait(10)
                log.close()
                raise RuntimeError((directory / "server.log").read_text()) from None
            time.sleep(0.1)
    try:
        yield base
    finally:
        server.terminate()
        server.wait(10)
        log.close()


@pytest.fixture(scope="module")
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """An example app ("flask_app-sqlite", ...; "-clearsitedata" sets JWTGUARD_CLEAR_SITE_DATA, "-shortttl" a
    JWTGUARD_TOKEN_TTL of SHORT_TTL seconds, "-cookies" cookie mode) in its own process and temporary directory;
    one per module and kind.

    Each test leaves its users as it found them (enabled); fresh logins make fresh tokens.
    """
    example, store, *options = request.param.split("-")
    directory = tmp_path_factory.mktemp(request.param)
    if store == "mongo":
        url = request.getfixturevalue("mongo").uri(f"browser_{uuid.uuid4().hex[:12]}")
    else:
        url = f"sqlite:///{directory / 'jwtguard.db'}"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGUARD_")}
    env.update(JWTGUARD_SECRET=SECRET, JWTGUARD_STORE_URL=url, JWTGUARD_CACHE_TTL=str(CACHE_TTL), PYTHONPATH=str(ROOT))
    if "clearsitedata" in options:
        env["JWTGUARD_CLEAR_SITE_DATA"] = "true"
    if "shortttl" in options:
        env["JWTGUARD_TOKEN_TTL"] = str(SHORT_TTL)
    if "nograce" in options:
        env["JWTGUARD_REFRESH_GRACE"] = "0"  # every reuse of a spent refresh token is theft
    env["DEMO_PUBLIC_URL"] = f"http://127.0.0.1:{port}"  # the login alerts' links
    extra = ["--cors-origin", f"http://localhost:{port}"] if "cors" in options else []
    if "cookies" in options:
        extra.append("--cookies")
    with running_example(example, port, directory, env, extra) as base:
        yield Served(base, env, store, directory)


def log_in(page: Any, url: str, user: str = "alice") -> None:
    page.goto(url)
    page.fill("#username", user)
    page.fill("#password", f"{user}-password")
    page.click("#login-button")
    page.wait_for_selector("#app:not([hidden])", timeout=15_000)
    assert page.inner_text("#who") == user
    assert page.evaluate(f"localStorage.getItem('{TOKEN_KEY}')")


def next_api_call(page: Any) -> None:
    """Press Refresh if the page still shows the signed-in view (its own 3-second polling would do it too)."""
    page.evaluate("() => { if (!document.getElementById('app').hidden) document.getElementById('refresh').click(); }")


def assert_logged_out(page: Any) -> None:
    """The page met the revocation on an API call: token gone, login form back."""
    page.wait_for_function(f"localStorage.getItem('{TOKEN_KEY}') === null", timeout=20_000)
    page.wait_for_selector("#login-form:not([hidden])", timeout=5_000)
    assert page.is_hidden("#app")


@pytest.mark.parametrize("served", EVERY_KIND, indirect=True, scope="module")
def test_disabled_user_is_logged_out_on_the_spot(browser: Any, served: Served, tmp_path: Path) -> None:
    context = browser.new_context()
    page = context.new_page()
    log_in(page, served.url)
    assert "Buy milk" in page.inner_text("#notes")
    page.screenshot(path=str(tmp_path / "1-logged-in.png"))

    # From outside the page: the CLI in another process, or an admin through the admin route.
    if served.store == "sqlite":
        served.cli("disable", "alice")
    else:
        served.admin_switch("alice", "disable")
    # No click here: the page's own polling makes the next API call.
    assert_logged_out(page)
    assert "disabled" in page.inner_text("#message")
    page.screenshot(path=str(tmp_path / "2-disabled.png"))

    page.fill("#password", "alice-password")
    page.click("#login-button")  # logging in again is refused while the account is disabled
    page.wait_for_function("document.getElementById('message').textContent.includes('This account is disabled')")
    assert page.evaluate(f"localStorage.getItem('{TOKEN_KEY}')") is None

    served.cli("enable", "alice")
    time.sleep(CACHE_TTL + 0.2)  # another process's write: the server may hold the old state this long
    log_in(page, served.url)
    context.close()


@pytest.mark.parametrize("served", ["flask_app-sqlite", "starlette_app-sqlite"], indirect=True, scope="module")
def test_two_devices_logout_here_then_everywhere(browser: Any, served: Served, tmp_path: Path) -> None:
    phone, laptop = browser.new_context(), browser.new_context()
    phone_page, laptop_page = phone.new_page(), laptop.new_page()
    log_in(phone_page, served.url, "bob")
    log_in(laptop_page, served.url, "bob")

    # "Log out" on the phone ends the phone's token only.
    phone_token = phone_page.evaluate(f"localStorage.getItem('{TOKEN_KEY}')")
    phone_page.click("#logout")
    phone_page.wait_for_selector("#login-form:not([hidden])", timeout=15_000)
    assert phone_page.evaluate(f"localStorage.getItem('{TOKEN_KEY}')") is None
    status = phone_page.evaluate(
        "async (token) => (await fetch('/api/me', {headers: {Authorization: 'Bearer ' + token}})).status", phone_token
    )
    assert status == 401  # the server refuses that token now, not just the page forgetting it
    with laptop_page.expect_response(lambda response: response.url.endswith("/api/notes")) as notes:
        next_api_call(laptop_page)
    assert notes.value.status == 200
    assert laptop_page.is_visible("#app")
    assert "Review Alice" in laptop_page.inner_text("#notes")

    # "Log out everywhere", from outside both pages: the CLI in another process.
    log_in(phone_page, served.url, "bob")
    served.cli("logout-all", "bob")
    time.sleep(CACHE_TTL + 0.2)  # let the server's cached state expire; polling would get there too
    for name, page in (("phone", phone_page), ("laptop", laptop_page)):
        next_api_call(page)
        assert_logged_out(page)
        assert "session ended" in page.inner_text("#message")
        page.screenshot(path=str(tmp_path / f"{name}-logged-out.png"))

    log_in(phone_page, served.url, "bob")  # a fresh login after the logout works
    phone.close()
    laptop.close()


@pytest.mark.parametrize(
    "served", ["flask_app-sqlite-shortttl", "starlette_app-sqlite-shortttl"], indirect=True, scope="module"
)
def test_silent_refresh_and_signing_another_device_out(browser: Any, served: Served, tmp_path: Path) -> None:
    """issue 10 on the real examples: access tokens live 4 s and the page renews them silently (still signed in,
    on a new token); "Where you're signed in" on the phone lists both devices, this one marked, and "Sign out all
    other devices" ends the laptop's session, whose page says why at its next request."""
    phone, laptop = browser.new_context(), browser.new_context()
    phone_page, laptop_page = phone.new_page(), laptop.new_page()
    log_in(phone_page, served.url, "bob")
    log_in(laptop_page, served.url, "bob")
    first = phone_page.evaluate(f"localStorage.getItem('{TOKEN_KEY}')")
    phone_page.wait_for_function(f"(first) => localStorage.getItem('{TOKEN_KEY}') !== first", arg=first, timeout=15_000)
    with phone_page.expect_response(lambda response: response.url.endswith("/api/notes")) as notes:
        next_api_call(phone_page)
    assert notes.value.status == 200
    assert phone_page.is_visible("#app")

    next_api_call(phone_page)
    phone_page.wait_for_function("document.querySelectorAll('#sessions-list li.session').length === 2", timeout=10_000)
    assert phone_page.eval_on_selector_all(
        "#sessions-list li.session", "items => items.map((item) => item.dataset.current).sort()"
    ) == ["false", "true"]
    assert phone_page.eval_on_selector_all("#sessions-list .session-this-device", "marks => marks.length") == 1
    screenshot(phone_page, tmp_path, "sessions.png")  # the README's "Where you're signed in"
    laptop_sid = laptop_page.get_attribute("#sign-out-this-device", "data-sid")
    assert laptop_sid == phone_page.get_attribute('#sessions-list li[data-current="false"]', "data-sid")
    phone_page.click("#sign-out-others")
    phone_page.wait_for_function("document.querySelectorAll('#sessions-list li.session').length === 1")
    assert phone_page.is_visible("#app")

    next_api_call(laptop_page)
    assert_logged_out(laptop_page)
    # Told by its next API call (session_revoked), or by its silent refresh when that came first (POST /token:
    # invalid_grant, "the session has ended"): the page says that the session was ended either way.
    assert laptop_page.get_attribute("#message", "data-reason") in ("session_revoked", "invalid_grant")
    assert laptop_page.inner_text("#message").startswith("Signed out: this session was ended")
    phone.close()
    laptop.close()


@pytest.mark.parametrize(
    "served",
    ["flask_app-sqlite-cookies-shortttl", "starlette_app-sqlite-cookies-shortttl"],
    indirect=True,
    scope="module",
)
def test_demo_page_in_cookie_mode(browser: Any, served: Served) -> None:
    """issue 10, the examples' --cookies: the login answer carries no token, so the page's session keeps only the
    expiry (the tokens are HttpOnly cookies), renews silently from the refresh cookie (POST /token with the CSRF
    header), and "Sign out this device" passes the CSRF check (POST /logout 204)."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(served.url)
    page.fill("#username", "alice")
    page.fill("#password", "alice-password")
    page.click("#login-button")
    page.wait_for_selector("#sessions:not([hidden])", timeout=15_000)
    assert page.evaluate("Object.keys(localStorage)") == [f"{TOKEN_KEY}.expires"]
    assert page.evaluate("document.cookie").startswith("__Host-jwtguard-csrf=")  # the tokens' cookies are HttpOnly
    first = page.evaluate(f"localStorage.getItem('{TOKEN_KEY}.expires')")
    with page.expect_response(lambda response: response.url.endswith("/token"), timeout=15_000) as refreshed:
        pass
    assert refreshed.value.status == 200
    assert refreshed.value.request.post_data == "grant_type=refresh_token"
    assert refreshed.value.request.headers["x-csrf-token"]
    page.wait_for_function(f"(first) => localStorage.getItem('{TOKEN_KEY}.expires') !== first", arg=first)
    with page.expect_response(lambda response: response.url.endswith("/api/notes")) as notes:
        next_api_call(page)
    assert notes.value.status == 200
    assert page.eval_on_selector_all("#sessions-list li.session", "items => items.length") == 1

    with page.expect_response(lambda response: response.url.endswith("/logout")) as logout:
        page.click("#sign-out-this-device")
    assert logout.value.status == 204
    page.wait_for_selector("#login-form:not([hidden])")
    assert page.inner_text("#message") == "Signed out on this device."
    assert page.evaluate("localStorage.length") == 0
    context.close()


@pytest.mark.parametrize("served", ["flask_app-sqlite", "starlette_app-mongo"], indirect=True, scope="module")
def test_helper_with_axios(browser: Any, served: Served) -> None:
    """The helper's axios interceptors, with the real axios, in Chromium: token sent, both logout signals read."""
    cache = os.environ.get("JWTGUARD_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "jwtguard"
    )
    axios_js = Path(cache) / f"axios-{AXIOS_VERSION}" / "axios.min.js"
    if not axios_js.is_file():
        missing(f"{axios_js} is missing: scripts/get-browser.sh fetches axios {AXIOS_VERSION}")
    context = browser.new_context()
    page = context.new_page()
    page.goto(served.url + "/health")  # an origin for localStorage, without the demo page's own script
    page.add_script_tag(url="/static/jwtguard.js")
    page.add_script_tag(path=str(axios_js))
    start = """async () => {
        window.reasons = [];
        window.api = axios.create();
        window.session = JWTGuard.createSession({ storageKey: "my.key", onLogout: (r) => reasons.push(r) });
        session.installAxios(api);
        const login = await api.post("/login", { username: "alice", password: "alice-password" });
        session.setTokens(login.data);
        const me = await api.get("/api/me");
        return [me.status, me.data.user, localStorage.getItem("my.key") !== null, reasons];
    }"""
    assert page.evaluate(start) == [200, "alice", True, []]
    call = """async () => {
        try { await api.get("/api/me"); return "ok"; } catch (error) { return error.response.status; }
    }"""

    served.admin_switch("alice", "disable")
    assert page.evaluate(call) == 401
    assert page.evaluate("[localStorage.getItem('my.key'), reasons]") == [None, ["disabled"]]

    served.admin_switch("alice", "enable")
    page.evaluate(start)
    served.cli("logout-all", "alice")
    time.sleep(CACHE_TTL + 0.2)
    deadline = time.monotonic() + 20
    while page.evaluate(call) == "ok" and time.monotonic() < deadline:
        time.sleep(0.2)
    assert page.evaluate("[localStorage.getItem('my.key'), reasons]") == [None, ["revoked"]]  # the body's reason
    context.close()


@pytest.mark.parametrize("served", ["flask_app-sqlite-clearsitedata"], indirect=True, scope="module")
def test_clear_site_data_wipes_storage_without_the_helper(browser: Any, served: Served) -> None:
    """JWTGUARD_CLEAR_SITE_DATA: Chromium itself empties the origin's localStorage on a disabled answer."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(served.url + "/health")  # no helper script on this page: plain fetch only
    token = served.post("/login", body={"username": "alice", "password": "alice-password"})["access_token"]
    page.evaluate("(t) => { localStorage.setItem('my.token', t); localStorage.setItem('theme', 'dark'); }", token)
    call = """async () => (await fetch('/api/me', {
        headers: {Authorization: 'Bearer ' + localStorage.getItem('my.token')}
    })).status"""
    assert page.evaluate(call) == 200
    assert page.evaluate("localStorage.length") == 2

    served.admin_switch("alice", "disable")
    assert page.evaluate(call) == 401
    page.wait_for_function("localStorage.length === 0", timeout=15_000)  # every key of the origin, not just ours
    served.cli("enable", "alice")
    context.close()


CROSS_ORIGIN = ["flask_app-sqlite-cors", "starlette_app-sqlite-cors"]


@pytest.mark.parametrize("served", CROSS_ORIGIN, indirect=True, scope="module")
def test_frontend_on_another_origin(browser: Any, served: Served) -> None:
    """A frontend on http://localhost:PORT calls the API on http://127.0.0.1:PORT, a different origin, through the
    example's --cors-origin (CORS outside the guard): the helper still sees both logout signals."""
    api = served.url
    frontend = api.replace("127.0.0.1", "localhost")
    context = browser.new_context()
    page = context.new_page()
    page.goto(frontend + "/health")
    page.add_script_tag(url="/static/jwtguard.js")
    assert page.evaluate("location.origin") != api
    start = """async (api) => {
        window.reasons = [];
        window.session = JWTGuard.createSession({ onLogout: (reason) => reasons.push(reason) });
        const login = await fetch(api + "/login", {
            method: "POST",
            headers: { "Content-Type": "application/json" },  // not a simple request: a preflight first
            body: JSON.stringify({ username: "alice", password: "alice-password" }),
        });
        session.setTokens(await login.json());
        const me = await session.fetch(api + "/api/me");
        return [me.status, me.headers.get("X-User-Enabled"), (await me.json()).user];
    }"""
    assert page.evaluate(start, api) == [200, "true", "alice"]
    call = "async (api) => (await session.fetch(api + '/api/me')).status"

    served.admin_switch("alice", "disable")
    assert page.evaluate(call, api) == 401  # readable at all only because the refusal carries CORS headers
    assert page.evaluate(f"[localStorage.getItem('{TOKEN_KEY}'), reasons]") == [None, ["disabled"]]

    served.admin_switch("alice", "enable")
    assert page.evaluate(start, api)[0] == 200
    served.cli("logout-all", "alice")
    time.sleep(CACHE_TTL + 0.2)
    deadline = time.monotonic() + 20
    while page.evaluate(call, api) == 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    # The refusal's body names the reason (CORS lets the page read it).
    assert page.evaluate(f"[localStorage.getItem('{TOKEN_KEY}'), reasons]") == [None, ["revoked"]]
    context.close()


STATIC = ROOT / "jwtguard" / "static"
TAB_CASES = [
    pytest.param("broadcastchannel", "disabled", id="broadcastchannel-disabled"),
    pytest.param("broadcastchannel", "revoked", id="broadcastchannel-revoked"),
    pytest.param("storage", "disabled", id="storage-event-disabled"),
]


@pytest.mark.parametrize("served", ["flask_app-sqlite"], indirect=True, scope="module")
@pytest.mark.parametrize(("link", "signal"), TAB_CASES)
def test_every_tab_is_logged_out_at_once(browser: Any, served: Served, link: str, signal: str) -> None:
    """issue 9: every-tab logout. Two tabs of one browser: the demo page meets the signal and drops the token; the
    other tab's session drops it too and its onLogout fires with the reason, without a request of its own. Over
    BroadcastChannel, and over the `storage` event when the page has no BroadcastChannel."""
    context = browser.new_context()
    if link == "storage":
        context.add_init_script("delete window.BroadcastChannel;")  # before any script of each page
    demo = context.new_page()
    log_in(demo, served.url)
    other = context.new_page()
    other.goto(served.url + "/health")
    other.add_script_tag(url="/static/jwtguard.js")
    assert other.evaluate("typeof BroadcastChannel") == ("function" if link == "broadcastchannel" else "undefined")
    start = """() => {
        window.reasons = [];
        window.session = JWTGuard.createSession({ onLogout: (reason) => reasons.push(reason) });
        window.elsewhere = [];  // a session under another storage key: none of this is its business
        JWTGuard.createSession({ storageKey: "other.key", onLogout: (reason) => elsewhere.push(reason) }).token();
        window.idle = [];  // same key, but it never saw the token (a login form): nothing to end
        JWTGuard.createSession({ onLogout: (reason) => idle.push(reason) });
        return session.token() !== null;
    }"""
    assert other.evaluate(start)  # the token the demo tab stored
    requests: list[str] = []
    other.on("request", lambda request: requests.append(request.url))

    if signal == "disabled":
        served.admin_switch("alice", "disable")
    else:
        served.cli("logout-all", "alice")
        time.sleep(CACHE_TTL + 0.2)  # another process's write: the server may hold the old state this long
    next_api_call(demo)
    assert_logged_out(demo)
    other.wait_for_function("reasons.length > 0", timeout=10_000)
    time.sleep(0.3)  # a second onLogout, were there one, would come now
    assert other.evaluate(f"[reasons, elsewhere, idle, localStorage.getItem('{TOKEN_KEY}'), session.token()]") == [
        [signal],
        [],
        [],
        None,
        None,
    ]
    assert requests == []  # told by the other tab, not by an answer of its own
    assert other.evaluate("localStorage.length") == 0  # the storage-event signal leaves no key behind

    if signal == "disabled":
        served.admin_switch("alice", "enable")
    context.close()


@pytest.mark.parametrize("served", ["starlette_app-sqlite"], indirect=True, scope="module")
def test_es_module_build(browser: Any, served: Served) -> None:
    """issue 9: jwtguard.mjs in Chromium, from a <script type="module">: the same API as the UMD build (and as
    jwtguard.d.ts declares), and it logs out on the signal. The examples serve only jwtguard.js: the page's
    route serves the shipped .mjs file."""
    context = browser.new_context()
    context.route(
        "**/static/jwtguard.mjs",
        lambda route: route.fulfill(path=str(STATIC / "jwtguard.mjs"), content_type="text/javascript"),
    )
    page = context.new_page()
    page.goto(served.url + "/health")
    page.add_script_tag(
        type="module",
        content='import * as built from "/static/jwtguard.mjs"; window.esm = built;',
    )
    page.wait_for_function("window.esm !== undefined", timeout=10_000)
    page.add_script_tag(url="/static/jwtguard.js")
    shapes = """() => {
        const methods = (api) => Object.keys(api.createSession({ crossTab: false, storageKey: "probe" })).sort();
        return [Object.keys(esm).sort(), Object.keys(JWTGuard).sort(), methods(esm), methods(JWTGuard)];
    }"""
    esm_names, umd_names, esm_methods, umd_methods = page.evaluate(shapes)
    assert esm_names == umd_names == ["createSession", "logoutReason"]
    assert esm_methods == umd_methods
    dts = (STATIC / "jwtguard.d.ts").read_text(encoding="utf-8")
    for name in esm_names:
        assert f"export function {name}(" in dts
    for method in esm_methods:
        assert f"\n  {method}(" in dts

    start = """async () => {
        window.reasons = [];
        window.session = esm.createSession({ onLogout: (reason) => reasons.push(reason) });
        const login = await fetch("/login", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ username: "alice", password: "alice-password" }),
        });
        session.setTokens(await login.json());
        return (await session.fetch("/api/me")).status;
    }"""
    assert page.evaluate(start) == 200
    served.admin_switch("alice", "disable")
    assert page.evaluate("async () => (await session.fetch('/api/me')).status") == 401
    assert page.evaluate(f"[localStorage.getItem('{TOKEN_KEY}'), reasons]") == [None, ["disabled"]]
    served.admin_switch("alice", "enable")
    context.close()


def screenshot(page: Any, tmp_path: Path, name: str) -> None:
    """Into the test's directory; with JWTGUARD_TEST_SCREENSHOTS=DIR also into DIR (docs/ for the README)."""
    page.screenshot(path=str(tmp_path / name))
    if target := os.environ.get("JWTGUARD_TEST_SCREENSHOTS"):
        page.screenshot(path=str(Path(target) / name))


@pytest.mark.parametrize(
    "served",
    ["flask_app-sqlite-shortttl-nograce", "starlette_app-mongo-shortttl-nograce"],
    indirect=True,
    scope="module",
)
def test_a_stolen_refresh_token_ends_the_session_on_the_real_device(
    browser: Any, served: Served, tmp_path: Path
) -> None:
    """Issue 10: a refresh token copied out of the device and used by a script (a thief) wins one rotation; the
    real device's next refresh presents the spent token, which ends the whole session (RFC 9700 §4.14.2), the
    thief's new tokens included, and the page says why."""
    context = browser.new_context()
    page = context.new_page()
    log_in(page, served.url, "bob")
    stolen = page.evaluate(f"localStorage.getItem('{TOKEN_KEY}.refresh')")
    assert stolen
    data = f"grant_type=refresh_token&refresh_token={stolen}".encode()
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    request = urllib.request.Request(served.url + "/token", data=data, headers=form, method="POST")
    with urllib.request.urlopen(request, timeout=15) as response:  # the thief's script, outside the browser
        thief = json.load(response)
    me = urllib.request.Request(served.url + "/api/me", headers={"Authorization": f"Bearer {thief['access_token']}"})
    with urllib.request.urlopen(me, timeout=15) as response:
        assert response.status == 200  # the thief is in, until the device refreshes
    # The device's silent refresh (its access token lives SHORT_TTL s) presents the token the thief spent.
    page.wait_for_function(f"localStorage.getItem('{TOKEN_KEY}') === null", timeout=20_000)
    page.wait_for_selector("#login-form:not([hidden])", timeout=5_000)
    assert page.get_attribute("#message", "data-reason") == "invalid_grant"
    assert "token reuse detected" in page.inner_text("#message")
    screenshot(page, tmp_path, "theft-detected.png")
    try:
        urllib.request.urlopen(me, timeout=15)
        raise AssertionError("the thief's access token still works")
    except urllib.error.HTTPError as refused:
        assert refused.code == 401 and json.load(refused)["reason"] == "session_revoked"
    context.close()


@pytest.mark.parametrize(
    "served", ["flask_app-sqlite-cookies", "starlette_app-mongo-cookies"], indirect=True, scope="module"
)
def test_cookie_mode_disable_logs_out_and_the_cookies_are_gone(browser: Any, served: Served) -> None:
    """Issue 10: in cookie mode, disabling the user logs the page out, and the guard's answer expired the cookies."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(served.url)
    page.fill("#username", "alice")
    page.fill("#password", "alice-password")
    page.click("#login-button")
    page.wait_for_selector("#sessions:not([hidden])", timeout=15_000)
    names = {cookie["name"] for cookie in context.cookies()}
    assert names == {"__Host-jwtguard-at", "__Secure-jwtguard-rt", "__Host-jwtguard-csrf"}
    served.cli("disable", "alice")
    try:
        time.sleep(CACHE_TTL + 0.2)
        next_api_call(page)
        page.wait_for_selector("#login-form:not([hidden])", timeout=20_000)
        assert page.get_attribute("#message", "data-reason") == "disabled"
        page.wait_for_function("!document.cookie.includes('__Host-jwtguard-csrf')", timeout=5_000)
        assert {cookie["name"] for cookie in context.cookies()} & names == set()
    finally:
        served.cli("enable", "alice")
    context.close()


@pytest.mark.parametrize("served", ["flask_app-sqlite", "starlette_app-mongo"], indirect=True, scope="module")
def test_the_login_alerts_not_me_link_signs_out_everywhere(browser: Any, served: Served, tmp_path: Path) -> None:
    """Issue 10 login alerts: the notifier's outbox holds the link; following it shows a confirmation (nothing
    changes yet), confirming ends every session, and the signed-in page is logged out at its next request."""
    import re

    context, mail = browser.new_context(), browser.new_context()
    page = context.new_page()
    log_in(page, served.url, "bob")
    outbox = (served.directory / "demo-outbox.txt").read_text(encoding="utf-8")
    links = re.findall(r"Not you\? (http://\S+)", outbox)
    assert links and links[-1].startswith(served.url + "/account/not-me?t=")
    reader = mail.new_page()
    reader.goto(links[-1])
    reader.wait_for_selector("#not-me-confirm")
    screenshot(page, tmp_path, "signed-in.png")
    with page.expect_response(lambda response: response.url.endswith("/api/notes")) as notes:
        next_api_call(page)
    assert notes.value.status == 200  # the GET changed nothing
    reader.click("#not-me-confirm")
    reader.wait_for_selector("#not-me-done")
    time.sleep(CACHE_TTL + 0.2)
    next_api_call(page)
    assert_logged_out(page)
    assert page.get_attribute("#message", "data-reason") == "revoked"
    reader.goto(links[-1])
    reader.wait_for_selector("#not-me-invalid")  # used once
    context.close()
    mail.close()
