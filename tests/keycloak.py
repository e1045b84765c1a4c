"""A real Keycloak for the identity-provider tests (issue 12), and a small client of its admin REST API.

:class:`KeycloakServer` starts ``bin/kc.sh start-dev`` of the Keycloak that
``scripts/get-keycloak.sh`` caches, on a free loopback port, with a Java 21 or
newer, in a home of its own under a temporary directory (its ``data/``, its
build), and stops it by its process group. :class:`KeycloakAdmin` creates
realms, clients and users, gets tokens with the password grant (DPoP-bound
ones too, issue 13), logs users out, lists and deletes sessions, and calls
Keycloak's own revocation and introspection endpoints. :class:`LogoutReceiver` is a back-channel logout URL
on 127.0.0.1 that keeps the logout tokens Keycloak POSTs to it.

Where things come from (the same rules as ``scripts/get-keycloak.sh``):

- the Keycloak home: ``$JWTGUARD_KEYCLOAK_HOME``, else
  ``${JWTGUARD_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/jwtguard}/keycloak-<version>``
  (``<version>``: ``$JWTGUARD_KEYCLOAK_VERSION``, default :data:`KEYCLOAK_VERSION`);
- the Java home: ``$JWTGUARD_KEYCLOAK_JAVA``, else the ``java-home`` file the script writes
  into the Keycloak home.

Start-up cost: Keycloak "augments" (builds) itself for the build options it is started with,
about 30 s on these machines. The first server builds in its private home and leaves a copy
of the build (``lib/quarkus``) in the cached Keycloak home, under ``jwtguard-builds/<key>``;
later servers start from it (``start-dev`` does not build again when the options match), in
about 20 s. The JVM runs with the client compiler only (``-XX:TieredStopAtLevel=1``), which
starts Keycloak in about two thirds of the time on two cores.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.parse
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx

from mongo_server import free_port

#: The Keycloak that scripts/get-keycloak.sh fetches by default.
KEYCLOAK_VERSION = "26.5.6"

#: Options that decide Keycloak's build (changing one means another ~30 s build): an in-memory
#: H2 database (nothing to keep between test sessions) and no features the tests do not use
#: (the admin and account consoles, device and CIBA grants, organizations, passkeys...).
BUILD_OPTIONS = (
    "--db=dev-mem",
    "--features-disabled=account,admin,ciba,device-flow,impersonation,kerberos,organization,par,"
    "passkeys,web-authn,step-up-authentication",
)

#: The JVM's own start-up: C1 only (Keycloak's tests are short; C2 only pays off later).
JAVA_OPTS_APPEND = "-XX:TieredStopAtLevel=1"

ADMIN_USER = "admin"


class KeycloakUnavailable(RuntimeError):
    """Keycloak is not installed here, or did not start (the message says which, and where its log is)."""


def _cache_dir() -> Path:
    explicit = os.environ.get("JWTGUARD_CACHE_DIR")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jwtguard"


def find_keycloak() -> Path:
    """The Keycloak home (holding ``bin/kc.sh``); :class:`KeycloakUnavailable` when there is none."""
    explicit = os.environ.get("JWTGUARD_KEYCLOAK_HOME")
    version = os.environ.get("JWTGUARD_KEYCLOAK_VERSION") or KEYCLOAK_VERSION
    home = Path(explicit) if explicit else _cache_dir() / f"keycloak-{version}"
    if not (home / "bin" / "kc.sh").is_file():
        raise KeycloakUnavailable(
            f"no Keycloak at {home}: run scripts/get-keycloak.sh (make test does), or set JWTGUARD_KEYCLOAK_HOME"
        )
    return home


def find_java(home: Path) -> Path:
    """The Java home (21 or newer) to run *home*'s Keycloak with."""
    explicit = os.environ.get("JWTGUARD_KEYCLOAK_JAVA")
    if explicit:
        java = Path(explicit)
    else:
        recorded = home / "java-home"
        if not recorded.is_file():
            raise KeycloakUnavailable(
                f"no Java recorded in {recorded}: run scripts/get-keycloak.sh, or set JWTGUARD_KEYCLOAK_JAVA"
            )
        java = Path(recorded.read_text(encoding="utf-8").strip())
    if not os.access(java / "bin" / "java", os.X_OK):
        raise KeycloakUnavailable(f"no java at {java}/bin/java: run scripts/get-keycloak.sh again")
    return java


def _build_key(home: Path) -> str:
    version = (home / "version.txt").read_text(encoding="utf-8").strip() if (home / "version.txt").is_file() else ""
    return hashlib.sha256("\n".join((version, *BUILD_OPTIONS)).encode()).hexdigest()[:16]


def _private_home(home: Path, directory: Path) -> Path:
    """A Keycloak home of this server's own under *directory*, sharing the (read-only) libraries.

    ``kc.sh`` finds its home from its own real path, and Keycloak writes ``data/`` and its build
    (``lib/quarkus``) there: each server gets copies of the small parts and links to the 160 MB of
    jars, so servers (and test sessions) never write into one another's home.
    """
    private = directory / "keycloak"
    (private / "bin").mkdir(parents=True)
    (private / "lib").mkdir()
    shutil.copy2(home / "bin" / "kc.sh", private / "bin" / "kc.sh")
    shutil.copy2(home / "lib" / "quarkus-run.jar", private / "lib" / "quarkus-run.jar")
    for name in ("app", "lib"):
        (private / "lib" / name).symlink_to(home / "lib" / name)
    build = home / "jwtguard-builds" / _build_key(home)
    shutil.copytree(build if build.is_dir() else home / "lib" / "quarkus", private / "lib" / "quarkus")
    for name in ("conf", "providers", "themes"):
        if (home / name).is_dir():
            shutil.copytree(home / name, private / name)
    if (home / "version.txt").is_file():
        shutil.copy2(home / "version.txt", private / "version.txt")
    return private


def _keep_build(home: Path, private: Path) -> None:
    """Leave the build a started server made in the cached home, for the next servers (best effort)."""
    builds = home / "jwtguard-builds"
    target = builds / _build_key(home)
    if target.is_dir():
        return
    try:
        builds.mkdir(exist_ok=True)
        staging = builds / f".{uuid.uuid4().hex}"
        shutil.copytree(private / "lib" / "quarkus", staging)
        try:
            staging.rename(target)  # atomic; another session may have won the race
        except OSError:
            shutil.rmtree(staging, ignore_errors=True)
    except OSError:
        pass  # a read-only JWTGUARD_KEYCLOAK_HOME: every server builds


class KeycloakServer:
    """One ``kc.sh start-dev`` on 127.0.0.1 with a bootstrap admin, in *directory*.

    :param directory: an empty temporary directory: the server's home, data and log live there.
    :param home: the Keycloak distribution (default :func:`find_keycloak`).
    :param java: a Java 21+ home (default :func:`find_java`).

    ``start()`` waits until the admin can get a token (bounded by *timeout*), ``stop()``
    ends the process group it started: SIGTERM, then SIGKILL after a timeout. A context
    manager does both. ``admin`` is a :class:`KeycloakAdmin` of the master realm's admin.
    """

    def __init__(self, directory: Path, *, home: Path | None = None, java: Path | None = None) -> None:
        self.directory = directory
        self.home = home or find_keycloak()
        self.java = java or find_java(self.home)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = directory / "keycloak.log"
        self.password = uuid.uuid4().hex
        self.process: subprocess.Popen[bytes] | None = None
        self.started_in: float | None = None
        self._admin: KeycloakAdmin | None = None

    def command(self, private: Path) -> list[str]:
        return [
            str(private / "bin" / "kc.sh"),
            "start-dev",
            *BUILD_OPTIONS,
            "--http-host=127.0.0.1",
            f"--http-port={self.port}",
            # Nothing is exposed on the management interface (no health, no metrics); a port of its
            # own all the same, so two servers never contend for its default, 9000.
            f"--http-management-port={free_port()}",
            "--log-level=info",
        ]

    def environment(self) -> dict[str, str]:
        # None of the caller's KC_*, JAVA_OPTS* or QUARKUS_* variables: this server is configured here only.
        env = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("KC_", "JAVA_OPTS", "QUARKUS_", "JAVA_ADD_OPENS"))
        }
        env.update(
            JAVA_HOME=str(self.java),
            JAVA_OPTS_APPEND=JAVA_OPTS_APPEND,
            KC_BOOTSTRAP_ADMIN_USERNAME=ADMIN_USER,
            KC_BOOTSTRAP_ADMIN_PASSWORD=self.password,
        )
        env.pop("JAVA", None)  # kc.sh would run $JAVA instead of $JAVA_HOME/bin/java
        return env

    def start(self, timeout: float = 240.0) -> None:
        started = time.monotonic()
        private = _private_home(self.home, self.directory)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                self.command(private),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=self.environment(),
                cwd=self.directory,
                start_new_session=True,  # its own process group: kc.sh and the JVM it starts end together
            )
        admin = KeycloakAdmin(self.url, ADMIN_USER, self.password)
        deadline = started + timeout
        try:
            while True:
                if self.process.poll() is not None:
                    raise KeycloakUnavailable(
                        f"Keycloak exited with {self.process.returncode}; see {self.log}:\n{self.log_tail()}"
                    )
                if admin.ready():
                    break
                if time.monotonic() > deadline:
                    raise KeycloakUnavailable(
                        f"Keycloak did not answer within {timeout:g} s; see {self.log}:\n{self.log_tail()}"
                    )
                time.sleep(0.5)
        except BaseException:
            admin.close()
            self.stop()
            raise
        self.started_in = time.monotonic() - started
        self._admin = admin
        _keep_build(self.home, private)

    @property
    def admin(self) -> KeycloakAdmin:
        assert self._admin is not None, "start() the server first"
        return self._admin

    def log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 30.0) -> None:
        if self._admin is not None:
            self._admin.close()
            self._admin = None
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        # Its process group is its pid (start_new_session): kc.sh, and the JVM it runs or execs.
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout)
        except ProcessLookupError:
            process.wait(timeout)

    def __enter__(self) -> KeycloakServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# -- the admin REST API and the OpenID Connect endpoints ----------------------------------------


@dataclass(frozen=True)
class Tokens:
    """What Keycloak's token endpoint answered (RFC 6749 §5.1): the three tokens and the session."""

    access_token: str
    refresh_token: str | None
    id_token: str | None
    #: Keycloak's user session (the tokens' ``sid``).
    session_state: str | None
    raw: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class Realm:
    """A realm with one confidential client and one user: what a test of a provider needs.

    ``issuer`` is ``iss`` of its tokens, ``certs_url`` its JWKS (``JWTGUARD_JWKS_URL``), and
    ``client_id`` the audience of its access tokens (an audience mapper puts it in ``aud``).
    """

    url: str  # the server's base URL
    name: str
    client_id: str
    client_uuid: str
    secret: str = field(repr=False)
    username: str
    password: str = field(repr=False)
    user_id: str  # Keycloak's id of the user: the ``sub`` of its tokens

    @property
    def issuer(self) -> str:
        return f"{self.url}/realms/{self.name}"

    @property
    def oidc(self) -> str:
        return f"{self.issuer}/protocol/openid-connect"

    @property
    def certs_url(self) -> str:
        return f"{self.oidc}/certs"

    @property
    def token_url(self) -> str:
        return f"{self.oidc}/token"


class KeycloakAdmin:
    """The master realm's admin, over Keycloak's admin REST API (``/admin/realms/...``), with httpx.

    The admin's token is fetched again before it lapses (the master realm's tokens live 60 s).
    Every method raises :class:`httpx.HTTPStatusError` when Keycloak refuses, with its body.
    """

    def __init__(self, url: str, username: str, password: str, *, timeout: float = 30.0) -> None:
        self.url = url
        self._username = username
        self._password = password
        self._http = httpx.Client(base_url=url, timeout=timeout)
        self._token: str | None = None
        self._token_expires = 0.0

    def close(self) -> None:
        self._http.close()

    # -- plumbing -------------------------------------------------------------------------------

    def ready(self) -> bool:
        """Whether Keycloak answers and the bootstrap admin exists (the last step of its start-up)."""
        try:
            self._token = None
            self._headers()
        except (httpx.HTTPError, OSError):
            return False
        return True

    def _headers(self) -> dict[str, str]:
        if self._token is None or time.monotonic() > self._token_expires:
            answer = self._http.post(
                "/realms/master/protocol/openid-connect/token",
                data={
                    "grant_type": "password",
                    "client_id": "admin-cli",
                    "username": self._username,
                    "password": self._password,
                },
            )
            answer.raise_for_status()
            body = answer.json()
            self._token = str(body["access_token"])
            self._token_expires = time.monotonic() + float(body.get("expires_in", 60)) - 15
        return {"Authorization": f"Bearer {self._token}"}

    def _admin(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        answer = self._http.request(method, f"/admin/realms{path}", headers=self._headers(), **kwargs)
        if answer.is_error:
            raise httpx.HTTPStatusError(
                f"{method} /admin/realms{path}: {answer.status_code} {answer.text[:500]}",
                request=answer.request,
                response=answer,
            )
        return answer

    @staticmethod
    def _created_id(answer: httpx.Response) -> str:
        # 201 Created with Location: .../<id>
        return answer.headers["Location"].rstrip("/").rpartition("/")[2]

    # -- realms, clients, users -------------------------------------------------------------------

    def create_realm(self, name: str, **settings: Any) -> None:
        """A new enabled realm; *settings* are RealmRepresentation members (``accessTokenLifespan=300``)."""
        self._admin("POST", "", json={"realm": name, "enabled": True, **settings})

    def delete_realm(self, name: str) -> None:
        self._admin("DELETE", f"/{name}")

    def create_client(
        self,
        realm: str,
        client_id: str,
        secret: str,
        *,
        backchannel_logout_url: str | None = None,
        **attributes: str,
    ) -> str:
        """A confidential OpenID Connect client; answers Keycloak's id of it.

        The password grant on (``directAccessGrantsEnabled``: tests get tokens without a
        browser), the browser flow off; an audience mapper puts *client_id* in access tokens'
        ``aud``; with *backchannel_logout_url*, Keycloak POSTs logout tokens there with the
        session's ``sid`` (``backchannel.logout.session.required``). *attributes* are more
        client attributes.
        """
        attrs: dict[str, str] = {"backchannel.logout.session.required": "true", **attributes}
        if backchannel_logout_url is not None:
            attrs["backchannel.logout.url"] = backchannel_logout_url
        body = {
            "clientId": client_id,
            "enabled": True,
            "protocol": "openid-connect",
            "publicClient": False,
            "clientAuthenticatorType": "client-secret",
            "secret": secret,
            "standardFlowEnabled": False,
            "directAccessGrantsEnabled": True,
            "serviceAccountsEnabled": False,
            "frontchannelLogout": False,
            "attributes": attrs,
            "protocolMappers": [
                {
                    "name": "audience",
                    "protocol": "openid-connect",
                    "protocolMapper": "oidc-audience-mapper",
                    "config": {
                        "included.client.audience": client_id,
                        "access.token.claim": "true",
                        "id.token.claim": "false",
                        "introspection.token.claim": "true",
                    },
                }
            ],
        }
        return self._created_id(self._admin("POST", f"/{realm}/clients", json=body))

    def create_user(self, realm: str, username: str, password: str) -> str:
        """An enabled user with a password (not temporary) and a complete profile; answers its id (``sub``)."""
        body = {
            "username": username,
            "enabled": True,
            "email": f"{username}@example.test",
            "emailVerified": True,
            "firstName": username.capitalize(),
            "lastName": "Tester",
            "credentials": [{"type": "password", "value": password, "temporary": False}],
        }
        return self._created_id(self._admin("POST", f"/{realm}/users", json=body))

    def provision(
        self, *, backchannel_logout_url: str | None = None, name: str | None = None, **realm_settings: Any
    ) -> Realm:
        """A fresh realm with a confidential client and a user (random names and secrets).

        *realm_settings* go to :meth:`create_realm`; access tokens live 15 minutes unless they say otherwise.
        """
        name = name or f"r{uuid.uuid4().hex[:10]}"
        self.create_realm(name, **({"accessTokenLifespan": 900} | realm_settings))
        client_id, secret = f"api-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        client_uuid = self.create_client(name, client_id, secret, backchannel_logout_url=backchannel_logout_url)
        username, password = "alice", uuid.uuid4().hex
        user_id = self.create_user(name, username, password)
        return Realm(self.url, name, client_id, client_uuid, secret, username, password, user_id)

    def set_backchannel_logout_url(self, realm: str, client_uuid: str, url: str) -> None:
        """Point the client's back-channel logout at *url* (a server started after the client)."""
        client: dict[str, Any] = self._admin("GET", f"/{realm}/clients/{client_uuid}").json()
        client.setdefault("attributes", {})["backchannel.logout.url"] = url
        self._admin("PUT", f"/{realm}/clients/{client_uuid}", json=client)

    def add_client(self, realm: Realm) -> Realm:
        """Another confidential client in *realm* (its own id, secret and audience mapper) for the same
        user: *realm* as seen through that client."""
        client_id, secret = f"api-{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
        client_uuid = self.create_client(realm.name, client_id, secret)
        return replace(realm, client_id=client_id, client_uuid=client_uuid, secret=secret)

    def set_client_attributes(self, realm: str, client_uuid: str, **attributes: str) -> dict[str, str]:
        """Set client attributes (``**{"dpop.bound.access.tokens": "true"}``); answers the client's
        attributes as Keycloak then stores them (read back)."""
        client: dict[str, Any] = self._admin("GET", f"/{realm}/clients/{client_uuid}").json()
        client.setdefault("attributes", {}).update(attributes)
        self._admin("PUT", f"/{realm}/clients/{client_uuid}", json=client)
        stored: dict[str, str] = self._admin("GET", f"/{realm}/clients/{client_uuid}").json()["attributes"]
        return stored

    # -- sessions ---------------------------------------------------------------------------------

    def logout_user(self, realm: str, user_id: str) -> None:
        """End every session of the user (Keycloak sends each client's back-channel logout)."""
        self._admin("POST", f"/{realm}/users/{user_id}/logout")

    def user_sessions(self, realm: str, user_id: str) -> list[dict[str, Any]]:
        """The user's sessions (UserSessionRepresentation: ``id`` is the tokens' ``sid``)."""
        sessions: list[dict[str, Any]] = self._admin("GET", f"/{realm}/users/{user_id}/sessions").json()
        return sessions

    def delete_session(self, realm: str, session_id: str) -> None:
        """End one session (``DELETE /admin/realms/R/sessions/SID``)."""
        self._admin("DELETE", f"/{realm}/sessions/{session_id}")

    # -- a client's calls to the OpenID Connect endpoints ------------------------------------------

    def password_grant(self, realm: Realm, scope: str = "openid", *, dpop: str | None = None) -> Tokens:
        """Tokens for *realm*'s user by the password grant (RFC 6749 §4.3): a new Keycloak session.

        With a DPoP *dpop* proof of the token request (RFC 9449 §5: ``htm`` POST, ``htu`` the token
        endpoint, no ``ath``), Keycloak binds the access token to the proof's key (``cnf.jkt``) and
        answers ``token_type`` ``DPoP`` (in ``raw``).
        """
        answer = self.token_request(realm, dpop=dpop, scope=scope)
        answer.raise_for_status()
        body = answer.json()
        return Tokens(
            body["access_token"], body.get("refresh_token"), body.get("id_token"), body.get("session_state"), body
        )

    def token_request(self, realm: Realm, *, dpop: str | None = None, scope: str = "openid") -> httpx.Response:
        """The password grant as :meth:`password_grant` makes it, with a ``DPoP`` proof when given
        (RFC 9449 §5), answered as it is (400 ``invalid_dpop_proof`` or ``invalid_request``)."""
        return self._http.post(
            realm.token_url,
            data={
                "grant_type": "password",
                "client_id": realm.client_id,
                "client_secret": realm.secret,
                "username": realm.username,
                "password": realm.password,
                "scope": scope,
            },
            headers={} if dpop is None else {"DPoP": dpop},
        )

    def dpop_password_grant(self, realm: Realm, proof: str, scope: str = "openid") -> Tokens:
        """:meth:`password_grant` with a DPoP *proof*."""
        return self.password_grant(realm, scope, dpop=proof)

    def refresh(self, realm: Realm, refresh_token: str) -> httpx.Response:
        """The refresh grant (RFC 6749 §6), answered as it is (400 ``invalid_grant`` for an ended session)."""
        return self._http.post(
            realm.token_url,
            data={
                "grant_type": "refresh_token",
                "client_id": realm.client_id,
                "client_secret": realm.secret,
                "refresh_token": refresh_token,
            },
        )

    def revoke(self, realm: Realm, token: str, token_type_hint: str | None = None) -> httpx.Response:
        """Keycloak's RFC 7009 endpoint, the client authenticated with HTTP Basic (RFC 6749 §2.3.1)."""
        data = {"token": token} | ({"token_type_hint": token_type_hint} if token_type_hint else {})
        return self._http.post(f"{realm.oidc}/revoke", data=data, auth=_basic(realm))

    def introspect(self, realm: Realm, token: str, token_type_hint: str | None = None) -> dict[str, Any]:
        """Keycloak's RFC 7662 endpoint: its answer's members (``active`` and, when active, the claims)."""
        data = {"token": token} | ({"token_type_hint": token_type_hint} if token_type_hint else {})
        answer = self._http.post(f"{realm.oidc}/token/introspect", data=data, auth=_basic(realm))
        answer.raise_for_status()
        result: dict[str, Any] = answer.json()
        return result


def _basic(realm: Realm) -> tuple[str, str]:
    # RFC 6749 §2.3.1: id and secret are form-urlencoded before they are joined; httpx then encodes as Basic.
    return urllib.parse.quote_plus(realm.client_id), urllib.parse.quote_plus(realm.secret)


# -- a back-channel logout URL --------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One POST to the :class:`LogoutReceiver`: its path, ``Content-Type`` and form fields."""

    path: str
    content_type: str
    form: Mapping[str, list[str]]


class LogoutReceiver:
    """A back-channel logout endpoint on 127.0.0.1 that answers 200 and keeps what it was sent.

    ``url`` is the URL to give Keycloak (``backchannel.logout.url``); :meth:`wait` returns
    the logout tokens once *count* arrived, or fails after a timeout. A context manager.
    """

    def __init__(self, path: str = "/oidc/backchannel-logout") -> None:
        self.received: list[Received] = []
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
                body = self.rfile.read(length).decode("utf-8", "replace")
                received = Received(self.path, self.headers.get("Content-Type", ""), urllib.parse.parse_qs(body))
                with receiver._arrived:
                    receiver.received.append(received)
                    receiver._arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.send_header("Cache-Control", "no-store")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def logout_tokens(self) -> list[str]:
        with self._arrived:
            return [token for item in self.received for token in item.form.get("logout_token", [])]

    def wait(self, count: int = 1, timeout: float = 20.0) -> list[str]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.received) < count:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(
                        f"{len(self.received)} back-channel logout(s) within {timeout:g} s, not {count}"
                    )
                self._arrived.wait(left)
        return self.logout_tokens()

    def __enter__(self) -> LogoutReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)
