"""What both example apps share: settings defaults, demo accounts, the page.

The apps keep their own credentials (werkzeug password hashes) in a small
SQLite file, beside the embedded jwtguard store or in the working directory;
jwtguard keeps only the revocation state. Everything is configured by the
``JWTGUARD_*`` variables; the example fills in a demo secret and its exempt
paths when they are unset.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from werkzeug.security import check_password_hash, generate_password_hash

from jwtguard import Settings
from jwtguard.stores.sqlite import database_path

#: Only for the demo: printed with a warning when JWTGUARD_SECRET is unset.
DEMO_SECRET = "demo-secret-change-me-0123456789abcdefghijklmnop"
DEMO_EXEMPT_PATHS = ("/", "/login", "/health", "/metrics", "/static/")

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


def settings_from_env(environ: Mapping[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    overrides: dict[str, Any] = {}
    if not env.get("JWTGUARD_SECRET"):
        print("WARNING: JWTGUARD_SECRET is unset; using the demo secret. Never do this in production.")
        overrides["secret"] = DEMO_SECRET
    if not env.get("JWTGUARD_EXEMPT_PATHS"):
        overrides["exempt_paths"] = DEMO_EXEMPT_PATHS
    return Settings.from_env(env, **overrides)


def page_html() -> bytes:
    return PAGE.read_bytes()


def helper_script() -> bytes:
    return resources.files("jwtguard").joinpath("static/jwtguard.js").read_bytes()


class Accounts:
    """Demo credentials and the per-token logout list, in one SQLite file shared by processes."""

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
            db.execute("CREATE TABLE IF NOT EXISTS logged_out (jti TEXT PRIMARY KEY, exp REAL)")
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

    def log_out_token(self, jti: str, exp: float) -> None:
        db = self._db()
        db.execute("DELETE FROM logged_out WHERE exp < ?", (time.time(),))
        db.execute("INSERT OR REPLACE INTO logged_out VALUES (?, ?)", (jti, exp))

    def is_logged_out(self, jti: object) -> bool:
        if not isinstance(jti, str):
            return False
        return self._db().execute("SELECT 1 FROM logged_out WHERE jti = ?", (jti,)).fetchone() is not None


#: What a frontend on another origin must be allowed to read: the helper's two logout signals.
EXPOSED_HEADERS = ("X-User-Enabled", "WWW-Authenticate")


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
            ("Access-Control-Allow-Methods", "GET, POST"),
            ("Access-Control-Allow-Headers", "Authorization, Content-Type"),
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


#: The answer to a token this example logged out (POST /logout), shaped like jwtguard's own.
TOKEN_LOGGED_OUT = (
    401,
    {"error": "invalid_token", "reason": "revoked"},
    {
        "WWW-Authenticate": (
            'Bearer realm="api", error="invalid_token", error_description="The access token was revoked"'
        ),
        "Cache-Control": "no-store",
    },
)
