"""What both example apps share: settings defaults, demo accounts, the page.

The apps keep their own credentials (werkzeug password hashes) in a small
SQLite file, beside the embedded jwtguard store or in the working directory;
jwtguard keeps only the revocation state. Everything is configured by the
``JWTGUARD_*`` variables; the example fills in a demo secret and its exempt
paths when they are unset.
"""

from __future__ import annotations

import html
import ipaddress
import os
import sqlite3
import threading
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from werkzeug.security import check_password_hash, generate_password_hash

from jwtguard import DPoPProofRefused, Settings, cookies
from jwtguard.sansio.decision import Decision
from jwtguard.sessions import TokenPair
from jwtguard.sessions.alerts import LoginAlert
from jwtguard.stores.sqlite import database_path

#: Only for the demo: printed with a warning when JWTGUARD_SECRET is unset.
DEMO_SECRET = "demo-secret-change-me-0123456789abcdefghijklmnop"
DEMO_ISSUER = "jwtguard-demo"
#: Only for the demo, as DEMO_SECRET: signs the login alerts' "not me" links.
DEMO_ALERT_SECRET = "demo-alert-secret-change-me-0123456789abcdefghij"
DEMO_EXEMPT_PATHS = ("/", "/login", "/token", "/account/not-me", "/health", "/metrics", "/static/")

#: username -> (password, is_admin): printed at start-up, for the demo only.
DEMO_USERS = {
    "alice": ("alice-password", False),
    "bob": ("bob-password", False),
    "admin": ("admin-password", True),
}

#: werkzeug's generate_password_hash of each demo password, made once: hashing is slow on
#: purpose (scrypt), and the accounts are seeded every time an example starts on a new store.
DEMO_PASSWORD_HASHES = {
    "alice": "scrypt:32768:8:1$xwCo3mv240QRMNs2$bc6eb06f0fdf77473a28904e0d9bf12017960b847c666b6049201c727a411b4e"
    "8871549da863c5f41b6c7886c4c5332656c05621171df3ebdb81f82ac47f69dd",
    "bob": "scrypt:32768:8:1$JHUGnuqQrnHAhgMr$e771a741f7b9cfd6e5afc42bed6e04f5a42c3df918e93c4d64aea38109e5c84fb"
    "bd727860af8de361970e30631ad1b10e7bfb2e25afe4ffad230d35d8a01138d",
    "admin": "scrypt:32768:8:1$XvWAr0Tx2J3aAH72$70ec3b8516c1250a112d3ba295a6749152e102747198d7260550e1f7f103f3be"
    "e42eb626f1c63379c704eea6cf6dc347962deea9d75054fb48e27de5b683cc07",
}

NOTES = {
    "alice": ["Buy milk", "Call Bob about the launch"],
    "bob": ["Review Alice's pull request"],
    "admin": ["Rotate the signing key in March"],
}

PAGE = Path(__file__).with_name("page.html")


def provider_mode(settings: Settings) -> bool:
    """Whether tokens come from an identity provider (``JWTGUARD_JWKS_URL`` is set): the examples
    then skip their own login, seed no users, and answer ``/api/me`` with the provider's ``sub``."""
    return settings.jwks_url is not None


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    overrides: dict[str, Any] = {}
    if env.get("JWTGUARD_JWKS_URL"):
        # Provider mode (issue 12): the provider issues the tokens and keeps the users; jwtguard
        # keeps only what its signals said. No demo secret, no sessions of jwtguard's own.
        if not env.get("JWTGUARD_EXEMPT_PATHS"):
            overrides["exempt_paths"] = DEMO_EXEMPT_PATHS
        if not env.get("JWTGUARD_UNKNOWN_USERS"):
            overrides["unknown_users"] = "allow"
        return Settings.from_env(env, **overrides)
    if not env.get("JWTGUARD_SECRET"):
        print("WARNING: JWTGUARD_SECRET is unset; using the demo secret. Never do this in production.")
        overrides["secret"] = DEMO_SECRET
    if not env.get("JWTGUARD_EXEMPT_PATHS"):
        overrides["exempt_paths"] = DEMO_EXEMPT_PATHS
    # The examples keep sessions: refresh tokens, "where you're signed in", per-device logout.
    if not env.get("JWTGUARD_SESSIONS"):
        overrides["sessions"] = True
    if not env.get("JWTGUARD_ISSUER"):
        overrides["issuer"] = DEMO_ISSUER
    if not env.get("JWTGUARD_ALERT_SECRET"):
        overrides["alert_secret"] = DEMO_ALERT_SECRET
    return Settings.from_env(env, **overrides)


def page_html() -> bytes:
    return PAGE.read_bytes()


def helper_script() -> bytes:
    return resources.files("jwtguard").joinpath("static/jwtguard.js").read_bytes()


class Accounts:
    """Demo credentials, in one SQLite file shared by processes (jwtguard keeps every session and revocation)."""

    def __init__(self, settings: Settings) -> None:
        url = settings.store_url
        if url is None or url.startswith("sqlite:"):
            directory = os.path.dirname(database_path(url))
        else:
            directory = os.getcwd()
        self.path = os.path.join(directory, "demo-accounts.db")
        self._local = threading.local()

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.path, timeout=5, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS accounts (username TEXT PRIMARY KEY, password_hash TEXT, admin INTEGER)"
            )
            self._local.db = db
        return db

    def seed(self) -> None:
        for username, (_, admin) in DEMO_USERS.items():
            row = (username, DEMO_PASSWORD_HASHES[username], int(admin))
            self._db().execute("INSERT OR IGNORE INTO accounts VALUES (?, ?, ?)", row)

    def check(self, username: str, password: str) -> bool:
        row = self._db().execute("SELECT password_hash FROM accounts WHERE username = ?", (username,)).fetchone()
        return row is not None and check_password_hash(row[0], password)

    def is_admin(self, username: str) -> bool:
        row = self._db().execute("SELECT admin FROM accounts WHERE username = ?", (username,)).fetchone()
        return bool(row and row[0])

    def exists(self, username: str) -> bool:
        return self._db().execute("SELECT 1 FROM accounts WHERE username = ?", (username,)).fetchone() is not None

    def set_password(self, username: str, password: str) -> None:
        self._db().execute(
            "UPDATE accounts SET password_hash = ? WHERE username = ?", (generate_password_hash(password), username)
        )


#: What a cross-origin page may read: the signals, a DPoP nonce, and the server's clock (the browser
#: helper corrects its proofs' iat by it after an invalid_dpop_proof).
EXPOSED_HEADERS = ("X-User-Enabled", "WWW-Authenticate", "DPoP-Nonce", "Date")
#: What a cross-origin page may send: its token, its body's type, cookie mode's CSRF token, a DPoP proof.
ALLOWED_HEADERS = ("Authorization", "Content-Type", "X-CSRF-Token", "DPoP")


class CrossOrigin:
    """CORS for one frontend origin, as WSGI middleware *outside* the guard (``--cors-origin``).

    Outside, so that the guard's own refusals (401 disabled, 401 revoked) carry the CORS headers
    too: without them the browser hides the whole answer from the page's script, which then never
    learns that the session is over. The expose list names both signals the helper reads.
    """

    def __init__(self, app: Any, origin: str) -> None:
        self.app = app
        self.origin = origin
        self.headers = [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Expose-Headers", ", ".join(EXPOSED_HEADERS)),
            ("Vary", "Origin"),
        ]
        self.preflight = [
            ("Access-Control-Allow-Origin", origin),
            ("Access-Control-Allow-Methods", "GET, POST, DELETE"),
            ("Access-Control-Allow-Headers", ", ".join(ALLOWED_HEADERS)),
            ("Access-Control-Max-Age", "600"),
            ("Vary", "Origin"),
        ]

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("HTTP_ORIGIN") != self.origin:
            return self.app(environ, start_response)
        if environ["REQUEST_METHOD"] == "OPTIONS" and "HTTP_ACCESS_CONTROL_REQUEST_METHOD" in environ:
            start_response("204 No Content", list(self.preflight))
            return []

        def start_with_cors(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            return start_response(status, [*headers, *self.headers], exc_info)

        return self.app(environ, start_with_cors)


def print_demo_users(url: str) -> None:
    print(f"\njwtguard demo at {url}\n")
    for username, (password, admin) in DEMO_USERS.items():
        print(f"  {username:6s} / {password}{'   (admin)' if admin else ''}")
    print()


def login_payload(body: Any) -> tuple[str, str] | None:
    if not isinstance(body, dict):
        return None
    username, password = body.get("username"), body.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        return None
    return username, password


#: Every token answer (RFC 6749 §5.1): never cached.
TOKEN_HEADERS = {"Cache-Control": "no-store", "Pragma": "no-cache"}

#: Largest token-request body read (a refresh token is 43 characters).
MAX_TOKEN_REQUEST = 4096


def device(user_agent: str | None, address: str | None) -> str:
    """What the sessions list shows for a login: the browser's user agent and the client's address.

    The address is cut to its network (an IPv4 /24, an IPv6 /48): enough to tell "home"
    from "somewhere else", no more.
    """
    agent = browser_name(user_agent or "")
    network = "an unknown address"
    if address:
        try:
            ip = ipaddress.ip_address(address)
            prefix = 24 if ip.version == 4 else 48
            network = str(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
        except ValueError:
            pass
    return f"{agent} from {network}"


#: (user-agent token, name shown), in the order to try: Edge and Opera also say "Chrome", Chrome says "Safari".
_BROWSERS = (("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"))
_SYSTEMS = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("CrOS", "ChromeOS"),
    ("Linux", "Linux"),
)


def browser_name(user_agent: str) -> str:
    """ "Chrome on Linux" from a User-Agent header; the first 60 characters of anything else."""
    browser = next((name for token, name in _BROWSERS if token in user_agent), None)
    system = next((name for token, name in _SYSTEMS if token in user_agent), None)
    if browser and system:
        return f"{browser} on {system}"
    return user_agent.strip()[:60] or "an unknown browser"


def refresh_grant(content_type: str | None, body: bytes) -> str | tuple[str, str]:
    """The refresh token of a token request (RFC 6749 §6), or its error: (code, description).

    ``invalid_request``: not a form, a missing or repeated parameter (§3.2: parameters
    MUST NOT be included more than once); ``unsupported_grant_type``: another grant.
    """
    if (content_type or "").partition(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return ("invalid_request", "send application/x-www-form-urlencoded")
    if len(body) > MAX_TOKEN_REQUEST:
        return ("invalid_request", "the request is too large")
    try:
        form = parse_qs(body.decode("ascii"), keep_blank_values=True, strict_parsing=False, max_num_fields=16)
    except (UnicodeDecodeError, ValueError):
        return ("invalid_request", "the form cannot be read")
    if any(len(values) > 1 for values in form.values()):
        return ("invalid_request", "a parameter is repeated")
    grant_type = form.get("grant_type", [""])[0]
    if not grant_type:
        return ("invalid_request", "grant_type is missing")
    if grant_type != "refresh_token":
        return ("unsupported_grant_type", "only refresh_token is supported here")
    refresh_token = form.get("refresh_token", [""])[0]
    if not refresh_token:
        return ("invalid_request", "refresh_token is missing")
    return refresh_token


def grant_error(code: str, description: str) -> dict[str, str]:
    """An RFC 6749 §5.2 error body (status 400)."""
    return {"error": code, "error_description": description}


class Outbox:
    """The demo's "mail": login alerts appended to ``demo-outbox.txt`` beside the accounts file.

    A real app sends these by mail or push. They hold a "not me" link, which ends every session:
    they go to the user only, never to a log (the ``jwtguard`` logger never holds a secret).
    """

    def __init__(self, accounts: Accounts) -> None:
        self.path = os.path.join(os.path.dirname(accounts.path), "demo-outbox.txt")
        self.base_url = os.environ.get("DEMO_PUBLIC_URL", "http://127.0.0.1:8000")
        self._lock = threading.Lock()

    def login_alert(self, alert: LoginAlert) -> None:
        if alert.not_me is None:
            return
        link = f"{self.base_url}/account/not-me?t={alert.not_me}"
        message = (
            f"To: {alert.user_id}\nSubject: New sign-in to the jwtguard demo\n\n"
            f"A new sign-in: {alert.description}.\nNot you? {link}\n\n"
        )
        with self._lock, open(self.path, "a", encoding="utf-8") as outbox:
            outbox.write(message)


def _page(title: str, body: str) -> bytes:
    return (
        "<!doctype html><html lang=en><meta charset=utf-8><title>" + html.escape(title) + "</title>"
        "<body><main><h1>" + html.escape(title) + "</h1>" + body + "</main></body></html>"
    ).encode()


#: Every not-me page: never cached, and the link (its query holds the token) never sent on as a Referer.
NOT_ME_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "Content-Type": "text/html; charset=utf-8",
}


def not_me_confirm(token: str) -> bytes:
    """``GET /account/not-me``: a confirmation, nothing changed (link scanners fetch every link)."""
    return _page(
        "Wasn't you?",
        "<p>If you did not sign in, end every session of your account now, then choose a new password.</p>"
        '<form method=post action="/account/not-me"><input type=hidden name=t value="'
        + html.escape(token, quote=True)
        + '"><button id=not-me-confirm type=submit>Sign out everywhere</button></form>',
    )


def not_me_done() -> bytes:
    return _page(
        "Every session is ended",
        "<p id=not-me-done>All devices are signed out. Reset your password now: "
        "someone may know it.</p><p><a href='/'>Sign in again</a></p>",
    )


def not_me_invalid() -> bytes:
    return _page("This link does not work", "<p id=not-me-invalid>It is invalid, expired or already used.</p>")


def not_me_token(content_type: str | None, body: bytes) -> str | None:
    """The ``t`` field of the confirmation form, or None."""
    grant = (content_type or "").partition(";")[0].strip().lower()
    if grant != "application/x-www-form-urlencoded" or len(body) > MAX_TOKEN_REQUEST:
        return None
    try:
        values = parse_qs(body.decode("ascii"), max_num_fields=4).get("t", [])
    except (UnicodeDecodeError, ValueError):
        return None
    return values[0] if len(values) == 1 else None


def cookie_mode(settings: Settings) -> bool:
    """Whether the app keeps tokens out of JavaScript (``--cookies``: ``JWTGUARD_TOKEN_LOCATION=cookie``)."""
    return settings.token_location != "header"


def binds_dpop(settings: Settings) -> bool:
    """Whether ``POST /login`` and the refresh route read the request's DPoP proof and bind the session
    to its key (issue 13): ``JWTGUARD_DPOP`` ``allow`` or ``require``, in header mode only.

    In cookie mode the page never holds the access token, and the cookie travels without a proof:
    the guard would refuse a bound token there (``dpop_required``), so the routes bind nothing.
    """
    return settings.dpop != "off" and not cookie_mode(settings)


def dpop_error(refused: DPoPProofRefused) -> tuple[dict[str, str], dict[str, str]]:
    """The 400 answer to a token request whose proof binds nothing (RFC 9449 §5, §8): the body
    (``error``, ``error_description``) and the headers (no-store, and ``DPoP-Nonce`` when asked)."""
    return refused.body(), {**TOKEN_HEADERS, **dict(refused.headers)}


def token_answer(
    settings: Settings, pair: TokenPair, is_admin: bool, refreshed_from: Any = None
) -> tuple[dict[str, Any], list[str]]:
    """A login's or a refresh's JSON body and ``Set-Cookie`` values.

    Header mode: the RFC 6749 §5.1 body plus the page's two fields, no cookies. Cookie mode:
    the tokens go only into jwtguard's cookies and the body omits them. *refreshed_from*: the
    refresh request (its CSRF value is kept, so the other tabs keep theirs).
    """
    body = pair.body(user=str(pair.user_id), admin=is_admin)
    if not cookie_mode(settings):
        return body, []
    del body["access_token"], body["refresh_token"]
    if refreshed_from is None:
        values = cookies.login_cookies(settings, pair.access_token, pair.refresh_token, access_max_age=pair.expires_in)
    else:
        values = cookies.refresh_cookies(
            settings, pair.access_token, pair.refresh_token, refreshed_from, access_max_age=pair.expires_in
        )
    return body, values


def presented_refresh_token(
    settings: Settings, content_type: str | None, body: bytes, request: Any
) -> str | tuple[str, str] | Decision:
    """The token request's refresh token (:func:`refresh_grant`); in cookie mode from the refresh cookie.

    In cookie mode the form may omit ``refresh_token`` (the page cannot read the cookie): then the
    cookie is read, with jwtguard's CSRF checks (:func:`jwtguard.cookies.refresh_token`), whose
    refusal is answered as it is.
    """
    if cookie_mode(settings) and not body.strip():
        return cookies.refresh_token(settings, request)  # a bare POST: the cookie is the grant
    grant = refresh_grant(content_type, body)
    if not cookie_mode(settings) or grant != ("invalid_request", "refresh_token is missing"):
        return grant
    return cookies.refresh_token(settings, request)
