"""Issue 12, Shared Signals: ``POST /ssf/events`` (RFC 8935) and the RFC 8936 poll client.

Against a transmitter written for the tests (:class:`Transmitter`, on 127.0.0.1): it serves the
identity provider's JWKS (the access tokens' keys), its own JWKS (the SETs' keys), its SSF
configuration and an RFC 8936 poll endpoint, and signs access tokens and SETs. The guard runs in
provider mode (``JWTGUARD_JWKS_URL`` at the provider, ``JWTGUARD_UNKNOWN_USERS=allow``) behind the
endpoints, through both adapters (:mod:`harness`: Flask behind ``EndpointsWSGI``, Starlette behind
``EndpointsASGI``) and, for every test that writes state, both stores (FerretDB, SQLite).

Each test's docstring names the MUSTs it covers: RFC 8935 §2 (push), RFC 8936 §2 (poll),
RFC 8417 §2.2/§2.3 (SET claims, explicit typing), SSF 1.0 sections, the CAEP and RISC event URIs.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pymongo
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from harness import ASGITarget, Reply, Target

from jwtguard import ConfigError, Settings
from jwtguard.admin import Admin
from jwtguard.endpoints import ssf
from jwtguard.endpoints.apps import EndpointsASGI, EndpointsWSGI
from jwtguard.endpoints.base import KeysUnavailable
from jwtguard.endpoints.poll import MAX_PENDING, PollFailed, PollState, SSFPoller, poll_flow, read_sets
from jwtguard.endpoints.ssf import (
    ACCOUNT_DISABLED,
    ACCOUNT_ENABLED,
    ACCOUNT_PURGED,
    CREDENTIAL_CHANGE,
    CREDENTIAL_COMPROMISE,
    ERROR_CODES,
    SESSION_REVOKED,
    SESSIONS_REVOKED,
    STREAM_UPDATED,
    VERIFICATION,
)
from jwtguard.endpoints.subjects import Subject, default_resolver
from jwtguard.errors import StoreError
from jwtguard.keys import (
    ConfigurationRefused,
    KeySourceUnavailable,
    TransmitterKeys,
    UnknownKey,
    configured_jwks_uri,
    describe_fetch,
    fetch_json,
)
from jwtguard.sessions import signals
from jwtguard.stores import open_async_store, open_store
from jwtguard.stores import records as r
from jwtguard.tokens import JWKSVerifier
from jwtguard.userid import UserId

CLIENT_ID = "jwtguard-app"
PUSH_AUTHORIZATION = "Bearer push-7d0c1f2e9b8a4c3d"
POLL_AUTHORIZATION = "Bearer poll-5a6b7c8d9e0f1a2b"
SET_TYPE = "application/secevent+jwt"


@cache
def _rsa() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def _ec(name: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _jwk(private: Any, kid: str) -> dict[str, Any]:
    if isinstance(private, rsa.RSAPrivateKey):
        data: dict[str, Any] = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    else:
        data = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    return {**data, "kid": kid, "use": "sig"}


class Transmitter:
    """An identity provider and Shared Signals transmitter on 127.0.0.1, for the tests.

    ``GET /idp/jwks.json``: the provider's key (access tokens, RS256). ``GET /ssf/jwks.json``: the
    transmitter's key (SETs, ES256). ``GET /.well-known/ssf-configuration/ssf``: its configuration
    (:attr:`configuration`, served with :attr:`configuration_status`). ``POST /ssf/poll``: RFC 8936
    over :attr:`queue` (SETs by ``jti``), recording each request (:attr:`polls`); acknowledged SETs
    leave the queue, reported ones go to :attr:`reported`. ``hits`` counts requests by path.
    """

    def __init__(self) -> None:
        self.idp_key, self.key, self.stranger = _rsa(), _ec("transmitter"), _ec("stranger")
        self.queue: dict[str, str] = {}
        self.reported: dict[str, dict[str, str]] = {}
        self.polls: list[tuple[dict[str, Any], str | None, str | None]] = []
        self.poll_status = 200
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        transmitter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                transmitter.hits[self.path] += 1
                if self.path == "/idp/jwks.json":
                    self._send(200, {"keys": [_jwk(transmitter.idp_key, "idp-1")]})
                elif self.path == "/ssf/jwks.json":
                    self._send(200, {"keys": [_jwk(transmitter.key, "tx-1")]})
                elif self.path == "/.well-known/ssf-configuration/ssf":
                    self._send(transmitter.configuration_status, transmitter.configuration)
                elif self.path == "/empty":
                    self.send_response(200)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                else:
                    self._send(404, {})

            def do_POST(self) -> None:
                transmitter.hits[self.path] += 1
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
                with transmitter._lock:
                    record = (body, self.headers.get("Authorization"), self.headers.get("Content-Type"))
                    transmitter.polls.append(record)
                    if transmitter.poll_status != 200:
                        self._send(transmitter.poll_status, {"err": "invalid_request", "description": "down"})
                        return
                    for jti in body.get("ack", ()):
                        transmitter.queue.pop(jti, None)
                    for jti, error in body.get("setErrs", {}).items():
                        transmitter.reported[jti] = error
                        transmitter.queue.pop(jti, None)
                    wanted = body.get("maxEvents", 10)
                    pending = list(transmitter.queue.items())
                    sets = dict(pending[:wanted])
                self._send(200, {"sets": sets, "moreAvailable": len(pending) > wanted})

            def _send(self, status: int, document: object) -> None:
                data = json.dumps(document).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        self.idp_issuer = f"{self.base}/idp"
        self.issuer = f"{self.base}/ssf"
        self.idp_jwks = f"{self.base}/idp/jwks.json"
        self.jwks = f"{self.base}/ssf/jwks.json"
        self.poll_url = f"{self.base}/ssf/poll"
        self.configuration: dict[str, Any] = {
            "spec_version": "1_0",
            "issuer": self.issuer,
            "jwks_uri": self.jwks,
            "delivery_methods_supported": ["urn:ietf:rfc:8935", "urn:ietf:rfc:8936"],
        }
        self.configuration_status = 200
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    # -- what it signs ----------------------------------------------------------------------

    def access_token(self, user: str, *, sid: str | None = None, age: int = 60, jti: str | None = None) -> str:
        """The provider's access token of *user*, issued *age* seconds ago, with a provider session *sid*."""
        iat = int(time.time()) - age
        claims: dict[str, Any] = {"iss": self.idp_issuer, "aud": "api", "sub": user, "iat": iat, "exp": iat + 3600}
        claims["jti"] = jti or uuid.uuid4().hex
        if sid is not None:
            claims["sid"] = sid
        return jwt.encode(claims, self.idp_key, algorithm="RS256", headers={"kid": "idp-1"})

    def user(self, user: str) -> dict[str, Any]:
        """The ``iss_sub`` subject identifier of the provider's *user* (RFC 9493 §3.2.3)."""
        return {"format": "iss_sub", "iss": self.idp_issuer, "sub": user}

    def claims(self, event_type: str, event: dict[str, Any] | None = None, **claims: Any) -> dict[str, Any]:
        """A SET's claims as SSF 1.0 §4 profiles RFC 8417 (``claims`` may replace or add any; None drops one)."""
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": CLIENT_ID,
            "iat": int(time.time()),
            "jti": uuid.uuid4().hex,
            "txn": uuid.uuid4().hex[:8],
            "events": {event_type: event or {}},
        }
        payload.update(claims)
        return {name: value for name, value in payload.items() if value is not None}

    def sign(
        self, payload: dict[str, Any], *, typ: str | None = "secevent+jwt", key: Any = None, kid: str = "tx-1"
    ) -> str:
        headers = {"kid": kid, "typ": typ}
        return jwt.encode(payload, key or self.key, algorithm="ES256", headers=headers)

    def set(self, event_type: str, event: dict[str, Any] | None = None, **claims: Any) -> str:
        """A signed SET of *event_type* (see :meth:`claims`)."""
        return self.sign(self.claims(event_type, event, **claims))


@pytest.fixture
def transmitter() -> Iterator[Transmitter]:
    server = Transmitter()
    try:
        yield server
    finally:
        server.close()


def provider_settings(transmitter: Transmitter, store_url: str, **changes: Any) -> Settings:
    """The guard in provider mode, and the endpoints receiving the transmitter's SETs."""
    options: dict[str, Any] = {
        "algorithms": ("RS256",),
        "jwks_url": transmitter.idp_jwks,
        "issuer": transmitter.idp_issuer,
        "audience": ("api",),
        "unknown_users": "allow",
        "oidc_client_id": CLIENT_ID,
        "ssf_issuer": transmitter.issuer,
        "ssf_jwks_url": transmitter.jwks,
        "ssf_push_authorization": PUSH_AUTHORIZATION,
        "ssf_poll_url": transmitter.poll_url,
        "ssf_poll_authorization": POLL_AUTHORIZATION,
        "store_url": store_url,
        "store_timeout": 2.0,
    }
    options.update(changes)
    return Settings(**options)


Build = Callable[..., Target]


@pytest.fixture
def build(adapter: str, make_target: Callable[..., Target]) -> Build:
    """A guarded app (Flask or Starlette) with the endpoints in front: ``build(settings, **endpoint_options)``."""

    def make(settings: Settings, **options: Any) -> Target:
        wrap = EndpointsWSGI if adapter == "wsgi" else EndpointsASGI
        return make_target(settings, outer=lambda guard: wrap(guard, settings=settings, **options))

    return make


@pytest.fixture
def settings(transmitter: Transmitter, store_url: str) -> Settings:
    return provider_settings(transmitter, store_url)


@pytest.fixture
def sqlite_settings(transmitter: Transmitter, tmp_path: Any) -> Settings:
    """For tests whose SETs are refused before any write: the embedded store is enough."""
    return provider_settings(transmitter, f"sqlite:///{tmp_path / 'jwtguard.db'}")


def endpoints_of(target: Target) -> EndpointsWSGI | EndpointsASGI:
    """The endpoints in front of *target*'s guard (the harness's ``outer``)."""
    outer = target.outer
    assert isinstance(outer, (EndpointsWSGI, EndpointsASGI))
    return outer


def push(
    target: Target, token: str | bytes, *, authorization: str | None = PUSH_AUTHORIZATION, **headers: str
) -> Reply:
    """RFC 8935 §2: POST the SET as ``application/secevent+jwt``."""
    fields = [("Content-Type", headers.pop("content_type", SET_TYPE)), ("Accept", "application/json")]
    if authorization is not None:
        fields.append(("Authorization", authorization))
    body = token.encode() if isinstance(token, str) else token
    return target.request(headers.pop("method", "POST"), "/ssf/events", fields, body=body)


def verdict(target: Target, token: str) -> str:
    """The guard's answer to ``GET /api/me`` with *token*: ``accepted`` or the refusal's reason."""
    reply = target.get(token)
    if reply.status == 200:
        assert reply.json()["user"]
        return "accepted"
    return str(reply.json()["reason"])


def accepted(reply: Reply) -> None:
    """RFC 8935 §2.2: ``202 Accepted`` with an empty body."""
    assert (reply.status, reply.body) == (202, b""), reply.body


def refused(reply: Reply, status: int, err: str) -> dict[str, Any]:
    """RFC 8935 §2.3: the status, ``application/json``, ``{"err", "description"}`` with a registered code."""
    assert reply.status == status, (reply.status, reply.body)
    assert reply.headers["content-type"] == "application/json"
    document: dict[str, Any] = reply.json()
    assert set(document) == {"err", "description"}
    assert document["err"] == err and err in ERROR_CODES
    assert isinstance(document["description"], str) and document["description"]
    return document


def state_rows(settings: Settings) -> dict[str, dict[str, Any]]:
    """Every record of the state table (``JWTGUARD_STATE_COLLECTION``), by id, as stored."""
    url = settings.store_url
    assert url is not None
    if url.startswith("sqlite"):
        connection = sqlite3.connect(url.removeprefix("sqlite:///"))
        try:
            rows = connection.execute(f'SELECT id, kind, body FROM "{settings.state_collection}"').fetchall()
        except sqlite3.OperationalError:  # no table yet: nothing was ever written
            return {}
        finally:
            connection.close()
        return {row[0]: {"kind": row[1], **json.loads(row[2])} for row in rows}
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(url, serverSelectionTimeoutMS=5000)
    try:
        return {doc["_id"]: doc for doc in client.get_default_database()[settings.state_collection].find()}
    finally:
        client.close()


def signals_of(settings: Settings) -> dict[str, dict[str, Any]]:
    """The state table without the processed-signal ids."""
    return {key: value for key, value in state_rows(settings).items() if value.get("kind") != "seen"}


# -- end to end: each mapping through both adapters and both stores ---------------------------


def test_session_revoked_ends_that_provider_session_only(
    transmitter: Transmitter, settings: Settings, build: Build
) -> None:
    """CAEP ``session-revoked`` (…/caep/event-type/session-revoked) with a complex subject (SSF 1.0 §3.3:
    ``user`` + ``session``): only the tokens of that provider session are refused afterwards.

    RFC 8935 §2: the SET is the body, ``application/secevent+jwt``; §2.2: ``202`` and an empty body.
    SSF 1.0 §4.2.3: members it does not know (``txn``, ``tenant``, ``reason_admin``) are ignored.
    """
    target = build(settings)
    ended, other = transmitter.access_token("alice", sid="s-1"), transmitter.access_token("alice", sid="s-2")
    assert (verdict(target, ended), verdict(target, other)) == ("accepted", "accepted")
    subject = {
        "format": "complex",
        "user": transmitter.user("alice"),
        "session": {"format": "opaque", "id": "s-1"},
        "tenant": {"format": "opaque", "id": "t-1"},
    }
    event = {"initiating_entity": "policy", "reason_admin": {"en": "Landspeed"}, "event_timestamp": int(time.time())}
    accepted(push(target, transmitter.set(SESSION_REVOKED, event, sub_id=subject)))
    assert (verdict(target, ended), verdict(target, other)) == ("session_revoked", "accepted")
    assert verdict(target, transmitter.access_token("bob", sid="s-1")) == "accepted"  # another user's s-1
    [record] = [r for r in signals_of(settings).values() if r["kind"] == "ended"]
    assert (record["iss"], record["sid"], record["source"]) == (transmitter.idp_issuer, "s-1", "ssf:session-revoked")


@pytest.mark.parametrize("event_type", [SESSION_REVOKED, SESSIONS_REVOKED, CREDENTIAL_CHANGE, CREDENTIAL_COMPROMISE])
def test_user_wide_events_cut_off_every_older_token(
    transmitter: Transmitter, settings: Settings, build: Build, event_type: str
) -> None:
    """CAEP ``session-revoked`` for a user (a simple ``iss_sub`` subject, RFC 9493 §3.2.3), RISC's
    deprecated ``sessions-revoked``, CAEP ``credential-change`` and RISC ``credential-compromise``:
    every token of the user issued before the event's time (CAEP ``event_timestamp``) dies; a
    token issued after it, and other users' tokens, live on.
    """
    target = build(settings)
    older, newer = transmitter.access_token("alice", age=600), transmitter.access_token("alice", age=10)
    bob = transmitter.access_token("bob", age=600)
    event = {"event_timestamp": int(time.time()) - 300, "credential_type": "password", "change_type": "update"}
    accepted(push(target, transmitter.set(event_type, event, sub_id=transmitter.user("alice"))))
    assert [verdict(target, token) for token in (older, newer, bob)] == ["revoked", "accepted", "accepted"]
    [record] = [r for r in signals_of(settings).values() if r["kind"] == "cutoff"]
    assert record["source"] == "ssf:" + event_type.rsplit("/", 1)[1]


def test_account_disabled_refuses_and_account_enabled_lifts_only_the_providers_disable(
    transmitter: Transmitter, settings: Settings, build: Build
) -> None:
    """RISC ``account-disabled`` / ``account-enabled``: the provider's switch, its source recorded; the
    latest event wins. An enable from the provider never lifts a disable made here
    (``Admin.disable_user``): both must say enabled.
    """
    target = build(settings)
    token = transmitter.access_token("alice")
    now = int(time.time())
    disable = transmitter.set(
        ACCOUNT_DISABLED, {"reason": "hijacking", "event_timestamp": now - 20}, sub_id=transmitter.user("alice")
    )
    accepted(push(target, disable))
    assert verdict(target, token) == "disabled"
    enable = transmitter.set(ACCOUNT_ENABLED, {"event_timestamp": now - 10}, sub_id=transmitter.user("alice"))
    accepted(push(target, enable))
    assert verdict(target, token) == "accepted"
    switches = sorted((r["enabled"], r["source"]) for r in signals_of(settings).values() if r["kind"] == "account")
    assert switches == [(False, "ssf:account-disabled"), (True, "ssf:account-enabled")]
    # A disable delivered late (an older event_timestamp) loses against the newer enable.
    late = transmitter.set(ACCOUNT_DISABLED, {"event_timestamp": now - 30}, sub_id=transmitter.user("alice"))
    accepted(push(target, late))
    assert verdict(target, token) == "accepted"

    admin = Admin(settings)
    try:
        admin.create_user("alice")
        assert admin.disable_user("alice")
    finally:
        admin.close()
    assert verdict(target, token) == "disabled"
    again = transmitter.set(ACCOUNT_ENABLED, {"event_timestamp": now}, sub_id=transmitter.user("alice"))
    accepted(push(target, again))
    assert verdict(target, token) == "disabled"  # the local disable stands


def test_account_purged_is_for_good(transmitter: Transmitter, settings: Settings, build: Build) -> None:
    """RISC ``account-purged``: disabled for good (a later ``account-enabled`` lifts nothing) and a
    cut-off, so a token issued before the purge stays dead even where the account switch is not read."""
    target = build(settings)
    token = transmitter.access_token("carol")
    subject = transmitter.user("carol")
    accepted(push(target, transmitter.set(ACCOUNT_PURGED, sub_id=subject)))
    assert verdict(target, token) == "disabled"
    accepted(push(target, transmitter.set(ACCOUNT_ENABLED, sub_id=subject)))
    assert verdict(target, token) == "disabled"
    kinds = sorted(r["kind"] for r in signals_of(settings).values())
    assert kinds == ["account", "account", "cutoff"]
    assert [r["purged"] for r in signals_of(settings).values() if r["kind"] == "account"].count(True) == 1


def test_a_jwt_id_subject_denies_that_one_token(transmitter: Transmitter, settings: Settings, build: Build) -> None:
    """SSF 1.0 §3.5.1 ``jwt_id`` subject (``iss`` and ``jti``): the per-token denylist. In a complex
    subject beside ``user`` (§3.3), and alone through the app's resolver (which knows whose token it
    was): that token is refused, the user's other tokens live on.
    """
    target = build(settings)
    first, second = transmitter.access_token("alice", jti="jti-1"), transmitter.access_token("alice", jti="jti-2")
    subject = {
        "format": "complex",
        "user": transmitter.user("alice"),
        "token": {"format": "jwt_id", "iss": transmitter.idp_issuer, "jti": "jti-1"},
    }
    accepted(push(target, transmitter.set(SESSION_REVOKED, sub_id=subject)))
    assert (verdict(target, first), verdict(target, second)) == ("revoked", "accepted")
    [record] = [r for r in signals_of(settings).values() if r["kind"] == "denied"]
    assert (record["jti"], record["iss"], record["source"]) == ("jti-1", transmitter.idp_issuer, "ssf:session-revoked")

    # Alone, the default resolver cannot tell the token's user: refused, so the transmitter knows.
    alone = {"format": "jwt_id", "iss": transmitter.idp_issuer, "jti": "jti-2"}
    document = refused(push(target, transmitter.set(CREDENTIAL_COMPROMISE, sub_id=alone)), 400, "invalid_request")
    assert "resolver" in document["description"]
    assert verdict(target, second) == "accepted"

    tokens = {"jti-2": "alice"}
    fallback = default_resolver(settings)

    def resolve(subject: Subject) -> UserId | None:
        if subject.format == "jwt_id":
            return tokens.get(subject.members.get("jti"))  # type: ignore[arg-type]
        return fallback(subject)

    app = build(settings, resolver=resolve)
    accepted(push(app, transmitter.set(CREDENTIAL_COMPROMISE, sub_id=alone)))
    assert verdict(app, second) == "revoked"


def test_a_set_delivered_twice_changes_nothing_the_second_time(
    transmitter: Transmitter, settings: Settings, build: Build
) -> None:
    """RFC 8417 §2.2 ``jti`` (transmitters retry; RFC 8935 §4): the same SET again answers ``202`` and
    writes nothing; its change is not made twice (a replayed disable does not undo a later enable)."""
    target = build(settings)
    token = transmitter.access_token("alice")
    now = int(time.time())
    disable = transmitter.set(ACCOUNT_DISABLED, {"event_timestamp": now - 20}, sub_id=transmitter.user("alice"))
    accepted(push(target, disable))
    accepted(
        push(target, transmitter.set(ACCOUNT_ENABLED, {"event_timestamp": now - 10}, sub_id=transmitter.user("alice")))
    )
    before = state_rows(settings)
    for _ in range(3):
        accepted(push(target, disable))
    assert state_rows(settings) == before
    assert verdict(target, token) == "accepted"
    assert (
        endpoints_of(target).metrics.signals["ssf.applied"],
        endpoints_of(target).metrics.signals["ssf.duplicate"],
    ) == (2, 3)


def test_verification_and_stream_updates_are_acknowledged_and_recorded(
    transmitter: Transmitter, settings: Settings, build: Build, caplog: pytest.LogCaptureFixture
) -> None:
    """SSF 1.0 §8.1.4: a verification event (``sub_id`` the stream's opaque id) is acknowledged (``202``)
    and recorded as the stream's liveness, in the state table, counted and logged; §8.1.5: a
    ``stream-updated`` event records the stream's new status (a warning: no more events come).
    Neither touches any user's state.
    """
    target = build(settings)
    stream = {"format": "opaque", "id": "f67e39a0a4d34d56b3aa1bc4cff0069f"}
    with caplog.at_level(logging.INFO, logger="jwtguard"):
        verification = transmitter.set(VERIFICATION, {"state": "VGhpcyBpcyBhIHN0YXRl"}, sub_id=stream)
        accepted(push(target, verification))
        accepted(
            push(target, transmitter.set(STREAM_UPDATED, {"status": "paused", "reason": "maintenance"}, sub_id=stream))
        )
    record = state_rows(settings)[f"stream|{transmitter.issuer}"]
    assert record["kind"] == "stream"
    assert record["verification_state"] == "VGhpcyBpcyBhIHN0YXRl" and record["verified_at"] > 0
    assert (record["status"], record["status_reason"]) == ("paused", "maintenance")
    assert list(state_rows(settings)) == [f"stream|{transmitter.issuer}"]
    assert endpoints_of(target).metrics.signals["ssf.stream"] == 2
    messages = [r.getMessage() for r in caplog.records if r.name == "jwtguard"]
    assert any("verified" in m for m in messages) and any("now paused" in m for m in messages)
    assert not any(verification in m for m in messages)


def test_unknown_event_types_are_acknowledged_counted_and_change_nothing(
    transmitter: Transmitter, sqlite_settings: Settings, build: Build, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 8935 §2.2 (a valid SET is acknowledged) and SSF 1.0 §4.2.3: an event type jwtguard does not
    act on (CAEP ``token-claims-change``, a proprietary one) is ``202``, counted, and writes nothing."""
    target = build(sqlite_settings)
    caplog.set_level(logging.INFO, logger="jwtguard")
    for event_type in (ssf.CAEP + "token-claims-change", "https://example.com/event/pro\nprietary"):
        accepted(
            push(target, transmitter.set(event_type, {"claims": {"role": "ro"}}, sub_id=transmitter.user("alice")))
        )
    assert state_rows(sqlite_settings) == {}
    assert endpoints_of(target).metrics.signals["ssf.ignored"] == 2
    assert not any("\n" in r.getMessage() for r in caplog.records)  # a signed name forges no log line


def test_keys_come_from_the_transmitters_configuration(transmitter: Transmitter, tmp_path: Any, build: Build) -> None:
    """SSF 1.0 §4.1.4 (keys through ``jwks_uri``), §7.2 (the configuration at the issuer's
    ``/.well-known/ssf-configuration``), §7.2.4 (its ``issuer`` must be the configured one, else
    nothing of it is used): without ``JWTGUARD_SSF_JWKS_URL`` the configuration is read once; one
    naming another issuer makes the SET ``503`` with ``Retry-After`` (no verdict), never accepted.
    """
    settings = provider_settings(transmitter, f"sqlite:///{tmp_path / 'a.db'}", ssf_jwks_url=None)
    target = build(settings)
    for _ in range(3):
        accepted(push(target, transmitter.set(VERIFICATION, sub_id={"format": "opaque", "id": "s"})))
    assert transmitter.hits["/.well-known/ssf-configuration/ssf"] == 1
    assert transmitter.hits["/ssf/jwks.json"] == 1

    transmitter.configuration = {**transmitter.configuration, "issuer": "https://impostor.example"}
    other = build(provider_settings(transmitter, f"sqlite:///{tmp_path / 'b.db'}", ssf_jwks_url=None))
    reply = push(other, transmitter.set(VERIFICATION, sub_id={"format": "opaque", "id": "s"}))
    assert (reply.status, reply.headers["retry-after"], reply.body) == (503, "5", b"")


@pytest.mark.parametrize(
    ("document", "config_url", "why"),
    [
        ([], "https://tr.example/.well-known/ssf-configuration", "not a JSON object"),
        ({"issuer": "https://other.example"}, "https://tr.example/c", "another issuer"),
        ({"issuer": "https://tr.example"}, "https://tr.example/c", "no https jwks_uri"),
        ({"issuer": "https://tr.example", "jwks_uri": "http://tr.example/k"}, "https://tr.example/c", "no https"),
        ({"issuer": "https://tr.example", "jwks_uri": 7}, "https://tr.example/c", "no https"),
    ],
)
def test_a_configuration_that_fails_its_checks_is_not_used(document: object, config_url: str, why: str) -> None:
    """SSF 1.0 §7.1 (``jwks_uri`` MUST use https), §7.2.4 (``issuer`` identical, else not used)."""
    with pytest.raises(ConfigurationRefused, match=why):
        configured_jwks_uri(document, issuer="https://tr.example", config_url=config_url)
    uri = "https://tr.example/k"
    assert (
        configured_jwks_uri(
            {"issuer": "https://tr.example", "jwks_uri": uri}, issuer="https://tr.example", config_url=config_url
        )
        == uri
    )


def test_outages_answer_503_with_retry_after(transmitter: Transmitter, tmp_path: Any, build: Build) -> None:
    """RFC 8935 §2.3 (a general HTTP error condition answers its own status): when the transmitter's JWKS
    or the store cannot answer, ``503`` with ``Retry-After``, never a ``400`` (which would read as a SET
    that can never pass) nor a ``202`` (nothing was recorded)."""
    dead_keys = provider_settings(transmitter, f"sqlite:///{tmp_path / 'a.db'}", ssf_jwks_url="http://127.0.0.1:9/jwks")
    reply = push(build(dead_keys), transmitter.set(VERIFICATION, sub_id={"format": "opaque", "id": "s"}))
    assert (reply.status, reply.headers["retry-after"], reply.body) == (503, "5", b"")
    dead_store = provider_settings(
        transmitter, "mongodb://127.0.0.1:9/x?serverSelectionTimeoutMS=200", store_timeout=0.2
    )
    target = build(dead_store)
    reply = push(target, transmitter.set(ACCOUNT_DISABLED, sub_id=transmitter.user("alice")))
    assert (reply.status, reply.headers["cache-control"]) == (503, "no-store")
    reply = push(target, transmitter.set(VERIFICATION, sub_id={"format": "opaque", "id": "s"}))
    assert reply.status == 503


# -- hostile pushes: 4xx in RFC 8935's shape, never a 500 --------------------------------------


def _tampered(token: str) -> str:
    header, payload, signature = token.split(".")
    claims = json.loads(jwt.utils.base64url_decode(payload))
    claims["aud"] = "someone-else"
    forged = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()
    return f"{header}.{forged}.{signature}"


def _unsigned(token: str) -> str:
    payload = token.split(".")[1]
    none = jwt.utils.base64url_encode(json.dumps({"alg": "none", "typ": "secevent+jwt"}).encode()).decode()
    return f"{none}.{payload}."


def _nested(transmitter: Transmitter) -> str:
    """A SET signed by the transmitter whose payload nests deeper than any JSON parser recurses."""
    signing_input = (
        jwt.utils.base64url_encode(json.dumps({"alg": "ES256", "kid": "tx-1", "typ": "secevent+jwt"}).encode())
        + b"."
        + jwt.utils.base64url_encode(b"[" * 20000 + b"]" * 20000)
    )
    algorithm = jwt.algorithms.ECAlgorithm(jwt.algorithms.ECAlgorithm.SHA256)
    signature = algorithm.sign(signing_input, transmitter.key)
    return (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()


#: (id, the body pushed from the transmitter, content type, expected status, expected err)
HOSTILE: list[tuple[str, Callable[[Transmitter], str | bytes], str, int, str]] = [
    ("huge", lambda t: b"e" * (70 * 1024), SET_TYPE, 400, "invalid_request"),
    ("empty", lambda t: b"", SET_TYPE, 400, "invalid_request"),
    ("not-a-jwt", lambda t: b"hello, receiver", SET_TYPE, 400, "invalid_request"),
    ("binary", lambda t: bytes(range(256)) * 4, SET_TYPE, 400, "invalid_request"),
    ("five-segments-jwe", lambda t: "a.b.c.d.e", SET_TYPE, 400, "invalid_request"),
    ("json-body", lambda t: b'{"events": {}}', "application/json", 400, "invalid_request"),
    ("form-body", lambda t: t.set(VERIFICATION), "application/x-www-form-urlencoded", 400, "invalid_request"),
    ("typ-jwt", lambda t: t.sign(t.claims(VERIFICATION), typ="JWT"), SET_TYPE, 400, "invalid_request"),
    ("typ-logout", lambda t: t.sign(t.claims(VERIFICATION), typ="logout+jwt"), SET_TYPE, 400, "invalid_request"),
    ("no-typ", lambda t: t.sign(t.claims(VERIFICATION), typ=None), SET_TYPE, 400, "invalid_request"),
    (
        "two-events",
        lambda t: t.set(ACCOUNT_DISABLED, events={ACCOUNT_DISABLED: {}, ACCOUNT_PURGED: {}}),
        SET_TYPE,
        400,
        "invalid_request",
    ),
    ("no-events", lambda t: t.set(VERIFICATION, events={}), SET_TYPE, 400, "invalid_request"),
    ("events-list", lambda t: t.set(VERIFICATION, events=[VERIFICATION]), SET_TYPE, 400, "invalid_request"),
    ("event-not-object", lambda t: t.set(VERIFICATION, events={VERIFICATION: "x"}), SET_TYPE, 400, "invalid_request"),
    ("sub-claim", lambda t: t.set(ACCOUNT_DISABLED, sub="alice"), SET_TYPE, 400, "invalid_request"),
    ("exp-claim", lambda t: t.set(VERIFICATION, exp=int(time.time()) + 600), SET_TYPE, 400, "invalid_request"),
    ("no-iat", lambda t: t.set(VERIFICATION, iat=None), SET_TYPE, 400, "invalid_request"),
    ("iat-future", lambda t: t.set(VERIFICATION, iat=int(time.time()) + 3600), SET_TYPE, 400, "invalid_request"),
    ("iat-text", lambda t: t.set(VERIFICATION, iat="yesterday"), SET_TYPE, 400, "invalid_request"),
    ("no-jti", lambda t: t.set(VERIFICATION, jti=None), SET_TYPE, 400, "invalid_request"),
    ("jti-number", lambda t: t.set(VERIFICATION, jti=7), SET_TYPE, 400, "invalid_request"),
    (
        "bad-event-timestamp",
        lambda t: t.set(ACCOUNT_DISABLED, {"event_timestamp": "soon"}, sub_id=t.user("a")),
        SET_TYPE,
        400,
        "invalid_request",
    ),
    ("nested-payload", _nested, SET_TYPE, 400, "invalid_request"),
    ("no-subject", lambda t: t.set(ACCOUNT_DISABLED), SET_TYPE, 400, "invalid_request"),
    ("subject-text", lambda t: t.set(ACCOUNT_DISABLED, sub_id="alice"), SET_TYPE, 400, "invalid_request"),
    ("subject-no-format", lambda t: t.set(ACCOUNT_DISABLED, sub_id={"sub": "a"}), SET_TYPE, 400, "invalid_request"),
    (
        "email-without-resolver",
        lambda t: t.set(ACCOUNT_DISABLED, sub_id={"format": "email", "email": "a@example.com"}),
        SET_TYPE,
        400,
        "invalid_request",
    ),
    (
        "foreign-iss-sub",
        lambda t: t.set(ACCOUNT_DISABLED, sub_id={"format": "iss_sub", "iss": "https://x.example", "sub": "a"}),
        SET_TYPE,
        400,
        "invalid_request",
    ),
    (
        "session-not-opaque",
        lambda t: t.set(
            SESSION_REVOKED,
            sub_id={"format": "complex", "user": t.user("a"), "session": {"format": "email", "email": "s"}},
        ),
        SET_TYPE,
        400,
        "invalid_request",
    ),
    (
        "session-as-opaque",
        lambda t: t.set(SESSION_REVOKED, sub_id={"format": "opaque", "id": "dMTlD|1600802906337.16|16008.16"}),
        SET_TYPE,
        400,
        "invalid_request",
    ),
    (
        "jwt-id-without-jti",
        lambda t: t.set(SESSION_REVOKED, sub_id={"format": "jwt_id", "iss": t.idp_issuer}),
        SET_TYPE,
        400,
        "invalid_request",
    ),
    ("user-id-too-long", lambda t: t.set(ACCOUNT_DISABLED, sub_id=t.user("a" * 300)), SET_TYPE, 400, "invalid_request"),
    ("wrong-iss", lambda t: t.set(VERIFICATION, iss="https://impostor.example"), SET_TYPE, 400, "invalid_issuer"),
    ("no-iss", lambda t: t.set(VERIFICATION, iss=None), SET_TYPE, 400, "invalid_issuer"),
    ("wrong-aud", lambda t: t.set(VERIFICATION, aud="someone-else"), SET_TYPE, 400, "invalid_audience"),
    ("aud-list-without-us", lambda t: t.set(VERIFICATION, aud=["a", "b"]), SET_TYPE, 400, "invalid_audience"),
    ("no-aud", lambda t: t.set(VERIFICATION, aud=None), SET_TYPE, 400, "invalid_audience"),
    ("bad-signature", lambda t: _tampered(t.set(VERIFICATION)), SET_TYPE, 400, "invalid_key"),
    ("unknown-kid", lambda t: t.sign(t.claims(VERIFICATION), kid="tx-9"), SET_TYPE, 400, "invalid_key"),
    ("stranger-key", lambda t: t.sign(t.claims(VERIFICATION), key=t.stranger), SET_TYPE, 400, "invalid_key"),
    (
        "no-kid",
        lambda t: jwt.encode(t.claims(VERIFICATION), t.key, "ES256", {"typ": "secevent+jwt"}),
        SET_TYPE,
        400,
        "invalid_key",
    ),
    ("alg-none", lambda t: _unsigned(t.set(VERIFICATION)), SET_TYPE, 400, "invalid_key"),
    (
        "alg-hs256",
        lambda t: jwt.encode(t.claims(VERIFICATION), "k" * 32, "HS256", {"kid": "tx-1", "typ": "secevent+jwt"}),
        SET_TYPE,
        400,
        "invalid_key",
    ),
    (
        "idp-key-not-transmitter",
        lambda t: jwt.encode(t.claims(VERIFICATION), t.idp_key, "RS256", {"kid": "idp-1", "typ": "secevent+jwt"}),
        SET_TYPE,
        400,
        "invalid_key",
    ),
]


@pytest.mark.parametrize(
    ("body", "content_type", "status", "err"), [row[1:] for row in HOSTILE], ids=[row[0] for row in HOSTILE]
)
def test_hostile_pushes_are_refused_in_rfc8935s_shape(
    transmitter: Transmitter,
    sqlite_settings: Settings,
    build: Build,
    body: Callable[[Transmitter], str | bytes],
    content_type: str,
    status: int,
    err: str,
) -> None:
    """RFC 8935 §2.3 and §2.4: a SET that cannot be parsed, validated or authenticated is ``400``,
    ``application/json`` ``{"err", "description"}`` with a registered code, and nothing is recorded:
    ``invalid_request`` (not a SET: too large, not a JWS, RFC 8417 §2.3 ``typ``, SSF 1.0 §4.2.1 one
    event, §4.1.2 no ``sub``, §4.1.7 no ``exp``, RFC 8417 §2.2 ``iat``/``jti``/``events``, SSF 1.0 §3.1
    ``sub_id``), ``invalid_issuer`` (SSF 1.0 §4.1.6), ``invalid_audience`` (§4.1.8), ``invalid_key``
    (§4.1.4: only the transmitter's JWKS; RFC 8725 §3.1: no ``none``, no HMAC, no other issuer's key).
    The description never quotes the token.
    """
    target = build(sqlite_settings)
    token = body(transmitter)
    document = refused(push(target, token, content_type=content_type), status, err)
    text = token.decode("latin-1") if isinstance(token, bytes) else token
    if len(text) > 8:
        assert text[-16:] not in document["description"]
    assert signals_of(sqlite_settings) == {}


def test_fuzzed_pushes_are_never_a_5xx(transmitter: Transmitter, sqlite_settings: Settings, build: Build) -> None:
    """Issue 12 (never a 500) and RFC 8935 §2.3: any body, media type and ``Authorization`` is answered
    in RFC 8935's shape, a 4xx with a registered ``err``; nothing is recorded and no token is refused."""
    from hypothesis import HealthCheck, assume, given
    from hypothesis import settings as hypothesis_settings
    from hypothesis import strategies as st

    target = build(sqlite_settings)
    token = transmitter.access_token("alice")
    valid = transmitter.set(ACCOUNT_DISABLED, sub_id=transmitter.user("alice"))
    header, payload, signature = valid.split(".")
    pieces = st.sampled_from([header, payload, signature, "", "e30", "eyJhbGciOiJub25lIn0", "="])
    forged = st.lists(pieces, min_size=1, max_size=5).map(".".join).map(str.encode)

    @hypothesis_settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(
        body=st.one_of(st.binary(max_size=300), forged),
        content_type=st.sampled_from([SET_TYPE, "application/jwt", "text/plain", SET_TYPE + "; charset=x"]),
        authorization=st.sampled_from([PUSH_AUTHORIZATION, "", "Bearer", "Bearer " + "A" * 5000]),
    )
    def fuzz(body: bytes, content_type: str, authorization: str) -> None:
        assume(body != valid.encode())  # the one SET that is valid
        reply = push(target, body, authorization=authorization or None, content_type=content_type)
        assert 400 <= reply.status < 500, (reply.status, reply.body)
        assert reply.json()["err"] in ERROR_CODES

    fuzz()
    assert signals_of(sqlite_settings) == {}
    assert verdict(target, token) == "accepted"


def test_other_methods_and_wrong_authorization(
    transmitter: Transmitter, sqlite_settings: Settings, build: Build
) -> None:
    """RFC 8935 §2 (a POST); §3 and SSF 1.0 §6.1.1 (``authorization_header``: the transmitter sends the
    configured value with every push): none is ``401`` ``authentication_failed`` with a challenge,
    another value ``403`` ``access_denied``, checked before the body (an unauthenticated caller learns
    nothing of its SET). Both in RFC 8935's shape. Without the setting, pushes need no header.
    """
    target = build(sqlite_settings)
    token = transmitter.set(VERIFICATION, sub_id={"format": "opaque", "id": "s"})
    reply = push(target, token, authorization=None)
    refused(reply, 401, "authentication_failed")
    assert reply.headers["www-authenticate"].startswith("Bearer realm=")
    refused(push(target, token, authorization=PUSH_AUTHORIZATION + "x"), 403, "access_denied")
    refused(push(target, b"garbage", authorization="Basic Zm9vOmJhcg=="), 403, "access_denied")
    reply = push(target, token, method="GET")
    refused(reply, 405, "invalid_request")
    assert reply.headers["allow"] == "POST"
    accepted(push(target, token))
    open_settings = sqlite_settings.replace(ssf_push_authorization=None)
    accepted(
        push(
            build(open_settings),
            transmitter.set(VERIFICATION, sub_id={"format": "opaque", "id": "s"}),
            authorization=None,
        )
    )


def test_an_unconfigured_receiver_refuses_every_set(transmitter: Transmitter, tmp_path: Any, build: Build) -> None:
    """Without ``JWTGUARD_SSF_ISSUER`` no SET is accepted (``invalid_issuer``); without an audience
    (``JWTGUARD_SSF_AUDIENCE``, ``JWTGUARD_OIDC_CLIENT_ID``) none either (``invalid_audience``)."""
    url = f"sqlite:///{tmp_path / 'jwtguard.db'}"
    token = transmitter.set(VERIFICATION)
    no_issuer = provider_settings(transmitter, url, ssf_issuer=None, ssf_jwks_url=None, ssf_push_authorization=None)
    refused(push(build(no_issuer), token, authorization=None), 400, "invalid_issuer")
    no_audience = provider_settings(transmitter, url, oidc_client_id=None, ssf_push_authorization=None)
    refused(push(build(no_audience), token, authorization=None), 400, "invalid_audience")
    explicit = provider_settings(transmitter, url, oidc_client_id=None, ssf_audience="receiver.example")
    accepted(push(build(explicit), transmitter.set(VERIFICATION, aud=["x", "receiver.example"])))


def test_the_other_endpoints_keep_their_error_shape(sqlite_settings: Settings, build: Build) -> None:
    """Issue 12: the refusals the translators make are each endpoint's protocol's; the SET receiver's
    (RFC 8935) did not change the others' (RFC 6749 §5.2)."""
    target = build(sqlite_settings)
    reply = target.request("GET", "/oauth/revoke")
    assert (reply.status, reply.json()["error"]) == (405, "invalid_request")
    reply = target.request(
        "POST", "/oauth/revoke", [("Content-Type", "application/x-www-form-urlencoded")], b"x" * (70 * 1024)
    )
    assert (reply.status, reply.json()["error"]) == (413, "invalid_request")


def test_a_flow_that_raises_answers_400_in_the_endpoints_shape(
    transmitter: Transmitter, sqlite_settings: Settings, build: Build
) -> None:
    """Issue 12 (never a 500): a resolver that raises on a SET is ``400 invalid_request``, RFC 8935's shape."""

    def broken(subject: Subject) -> UserId | None:
        raise RuntimeError("the app's resolver is broken")

    target = build(sqlite_settings, resolver=broken)
    document = refused(
        push(target, transmitter.set(ACCOUNT_DISABLED, sub_id=transmitter.user("a"))), 400, "invalid_request"
    )
    assert "broken" not in document["description"]


# -- the pure rules ------------------------------------------------------------------------------


def test_typ_and_clocks_are_read_as_the_specifications_allow(
    transmitter: Transmitter, sqlite_settings: Settings, build: Build
) -> None:
    """RFC 7515 §4.1.9: ``typ`` compared case-insensitively, an ``application/`` prefix dropped (RFC 8417
    §2.3's ``secevent+jwt``); a transmitter's clock a little ahead (``iat`` within
    :data:`~jwtguard.endpoints.ssf.SET_CLOCK_SKEW`) is no reason to lose its SET."""
    target = build(sqlite_settings)
    for typ in ("application/secevent+jwt", "SecEvent+JWT"):
        accepted(push(target, transmitter.sign(transmitter.claims(VERIFICATION), typ=typ)))
    accepted(push(target, transmitter.set(VERIFICATION, iat=int(time.time()) + 30)))
    refused(push(target, transmitter.set(VERIFICATION, iat=int(time.time()) + 400)), 400, "invalid_request")


def test_the_default_resolver_reads_the_ssf_subject_formats(
    transmitter: Transmitter, sqlite_settings: Settings
) -> None:
    """RFC 9493 §3.2.3 ``iss_sub`` of the provider or of the transmitter, §3.2.4 ``opaque``; ``email``,
    ``jwt_id`` and ``complex`` only through the app's resolver (SSF 1.0 §3)."""
    resolve = default_resolver(sqlite_settings)
    assert resolve(Subject("iss_sub", transmitter.user("alice"))) == "alice"
    assert resolve(Subject("iss_sub", {"format": "iss_sub", "iss": transmitter.issuer, "sub": "bob"})) == "bob"
    assert resolve(Subject("iss_sub", {"format": "iss_sub", "iss": "https://x.example", "sub": "bob"})) is None
    assert resolve(Subject("opaque", {"format": "opaque", "id": "u-1"})) == "u-1"
    for form in ("email", "jwt_id", "complex", "phone_number"):
        assert resolve(Subject(form, {"format": form})) is None


def test_googles_subject_type_and_an_events_own_subject_are_read(
    transmitter: Transmitter, sqlite_settings: Settings, build: Build
) -> None:
    """SSF 1.0 §3.1.1: events defined before SSF 1.0 may carry ``subject`` in the event (read when
    ``sub_id`` is absent); RISC 1.0 (Compatibility): Google's transmitter names the format ``subject_type``."""
    target = build(sqlite_settings)
    token = transmitter.access_token("dave")
    old = {"subject": {"subject_type": "iss_sub", "iss": transmitter.idp_issuer, "sub": "dave"}}
    accepted(push(target, transmitter.set(ACCOUNT_DISABLED, old)))
    assert verdict(target, token) == "disabled"


def test_a_sets_event_time_is_never_after_its_iat(transmitter: Transmitter, sqlite_settings: Settings) -> None:
    """CAEP ``event_timestamp``, RFC 8417 §2.2 ``toe``, else ``iat``; clamped to ``iat``: an event cannot
    happen after the SET that reports it, and a transmitter's clock cannot cut off tokens to come."""
    now = int(time.time())

    def at(event: dict[str, Any], **claims: Any) -> float:
        read = ssf.read_set(
            {"typ": "secevent+jwt"}, transmitter.claims(ACCOUNT_DISABLED, event, **claims), sqlite_settings, now
        )
        assert isinstance(read, ssf.SecurityEvent)
        return read.at

    assert at({"event_timestamp": now - 50}, iat=now - 10) == now - 50
    assert at({}, toe=now - 40, iat=now - 10) == now - 40
    assert at({}, iat=now - 10) == now - 10
    assert at({"event_timestamp": now + 500}, iat=now - 10) == now - 10


def test_settings_of_shared_signals() -> None:
    """Each SSF setting's own rules, named by its variable; credentials never shown (``check-config``)."""
    base: dict[str, Any] = {"secret": "s" * 48}
    with pytest.raises(ConfigError, match="JWTGUARD_SSF_CONFIG_URL: set either"):
        Settings(**base, ssf_jwks_url="https://t/k", ssf_config_url="https://t/c")
    with pytest.raises(ConfigError, match="JWTGUARD_SSF_ISSUER: is no URL"):
        Settings(**base, ssf_issuer="transmitter")
    Settings(**base, ssf_issuer="transmitter", ssf_jwks_url="https://t/k")
    with pytest.raises(ConfigError, match="JWTGUARD_SSF_PUSH_AUTHORIZATION: too short"):
        Settings(**base, ssf_push_authorization="Bearer x")
    with pytest.raises(ConfigError) as raised:
        Settings(**base, ssf_poll_authorization="Bearer \x00hunter2")
    assert "hunter2" not in str(raised.value)
    shown = Settings(**base, ssf_issuer="https://t.example", ssf_push_authorization=PUSH_AUTHORIZATION).describe()
    assert shown["JWTGUARD_SSF_PUSH_AUTHORIZATION"] == "(set, hidden)"
    assert PUSH_AUTHORIZATION not in repr(Settings(**base, ssf_push_authorization=PUSH_AUTHORIZATION))
    derived = Settings(**base, ssf_issuer="https://t.example/tenant/")
    assert derived.ssf_configuration == "https://t.example/.well-known/ssf-configuration/tenant"
    assert Settings(**base, ssf_issuer="https://t.example", ssf_jwks_url="https://t/k").ssf_configuration is None
    assert Settings(**base, oidc_client_id="app").ssf_expected_audience == "app"
    assert Settings(**base, oidc_client_id="app", ssf_audience="rcv").ssf_expected_audience == "rcv"


# -- the RFC 8936 poll client ------------------------------------------------------------------


def poll(target: Target, poller: SSFPoller) -> Any:
    """One round of *poller*, as its app runs it: poll_once (WSGI) or apoll_once on the app's loop (ASGI)."""
    if isinstance(target, ASGITarget):
        return target.run(poller.apoll_once())
    return poller.poll_once()


def test_the_poll_client_applies_acknowledges_and_reports(
    transmitter: Transmitter, settings: Settings, build: Build, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 8936 §2.1/§2.4: POSTs JSON (``Authorization`` of ``JWTGUARD_SSF_POLL_AUTHORIZATION``) with
    ``maxEvents`` and ``returnImmediately: true``; §2.5: each SET of ``sets`` is validated and applied as a
    push is (the same flow: the guard refuses the disabled user's token), then acknowledged by its ``jti``
    in ``ack``; an invalid one is reported in ``setErrs`` with a registered ``err`` (§2.4.4) and not
    applied; a duplicate is acknowledged. Nothing logged names a SET or the credential.
    """
    target = build(settings)
    token = transmitter.access_token("alice")
    disable = transmitter.claims(ACCOUNT_DISABLED, sub_id=transmitter.user("alice"))
    wrong_aud = transmitter.claims(ACCOUNT_DISABLED, sub_id=transmitter.user("bob"), aud="someone-else")
    verification = transmitter.claims(VERIFICATION, sub_id={"format": "opaque", "id": "stream-1"})
    for claims in (disable, wrong_aud, verification):
        transmitter.queue[claims["jti"]] = transmitter.sign(claims)
    transmitter.queue["not-a-set"] = "hello"
    tokens = list(transmitter.queue.values())
    poller = SSFPoller(endpoints_of(target), max_events=10)
    with caplog.at_level(logging.INFO, logger="jwtguard"):
        report = poll(target, poller)
    assert (report.requests, report.received, report.acknowledged, report.errors, report.failed) == (2, 4, 2, 2, None)
    assert verdict(target, token) == "disabled"
    assert verdict(target, transmitter.access_token("bob")) == "accepted"
    first, last = transmitter.polls[0], transmitter.polls[-1]
    assert first == ({"returnImmediately": True, "maxEvents": 10}, POLL_AUTHORIZATION, "application/json")
    assert sorted(last[0]["ack"]) == sorted([disable["jti"], verification["jti"]])
    assert last[0]["maxEvents"] == 0
    assert {jti: error["err"] for jti, error in transmitter.reported.items()} == {
        wrong_aud["jti"]: "invalid_audience",
        "not-a-set": "invalid_request",
    }
    assert transmitter.queue == {}
    assert poller.state == PollState()
    messages = "\n".join(r.getMessage() for r in caplog.records)
    assert POLL_AUTHORIZATION not in messages and transmitter.poll_url not in messages
    assert not any(t[-20:] in messages for t in tokens)

    # The same SET delivered again (a transmitter that lost the ack): acknowledged, applied once.
    transmitter.queue[disable["jti"]] = transmitter.sign(disable)
    report = poll(target, poller)
    assert (report.acknowledged, report.errors) == (1, 0)
    assert endpoints_of(target).metrics.signals["ssf.duplicate"] == 1
    assert poller.counts["acknowledged"] == 3


def test_the_poll_client_is_bounded(transmitter: Transmitter, sqlite_settings: Settings, build: Build) -> None:
    """RFC 8936 §2.5 ``moreAvailable``: polled again within the round's bound (``max_requests``), at most
    ``max_events`` SETs per request; the rest waits for the next round, acknowledgements all sent."""
    target = build(sqlite_settings)
    for _ in range(12):
        claims = transmitter.claims(VERIFICATION, sub_id={"format": "opaque", "id": "s"})
        transmitter.queue[claims["jti"]] = transmitter.sign(claims)
    poller = SSFPoller(endpoints_of(target), max_events=5, max_requests=2)
    report = poll(target, poller)
    assert (report.requests, report.received, report.acknowledged) == (3, 10, 10)
    assert [body["maxEvents"] for body, _, _ in transmitter.polls] == [5, 5, 0]
    assert len(transmitter.queue) == 2
    assert poll(target, poller).acknowledged == 2
    assert transmitter.queue == {}


def test_the_poll_client_keeps_what_it_could_not_send(
    transmitter: Transmitter, sqlite_settings: Settings, build: Build, caplog: pytest.LogCaptureFixture
) -> None:
    """RFC 8936 §2.4: a failed poll request (a 500, a refused connection) stops the round; its
    acknowledgements are sent with the next one. A warning names the status, never the URL."""
    target = build(sqlite_settings)
    claims = transmitter.claims(VERIFICATION, sub_id={"format": "opaque", "id": "s"})
    transmitter.queue[claims["jti"]] = transmitter.sign(claims)
    poller = SSFPoller(endpoints_of(target))
    poller.state.ack.append("acked-before")
    transmitter.poll_status = 500
    with caplog.at_level(logging.WARNING, logger="jwtguard"):
        report = poll(target, poller)
        assert (report.requests, report.failed) == (1, "HTTP 500")
        assert poller.state.ack == ["acked-before"]
        transmitter.poll_status = 200
        report = poll(target, poller)
    assert report.failed is None and report.acknowledged == 1
    assert "acked-before" in transmitter.polls[1][0]["ack"]
    messages = [r.getMessage() for r in caplog.records]
    assert "jwtguard: the SSF poll stopped early (HTTP 500)" in messages
    assert "jwtguard: the SSF poll works again" in messages
    dead = SSFPoller(endpoints_of(target), url="http://127.0.0.1:9/poll", timeout=2)
    assert poll(target, dead).failed == "connection failed"


def test_the_poll_client_leaves_sets_it_cannot_take_for_redelivery(transmitter: Transmitter, build: Build) -> None:
    """RFC 8936 §2.4: a SET the store cannot take now is neither acknowledged nor reported (the
    transmitter delivers it again) and the round stops; acknowledgements so far are sent."""
    settings = provider_settings(transmitter, "mongodb://127.0.0.1:9/x?serverSelectionTimeoutMS=200", store_timeout=0.2)
    target = build(settings)
    verification = transmitter.claims(VERIFICATION, sub_id={"format": "opaque", "id": "s"})
    transmitter.queue[verification["jti"]] = transmitter.sign(verification)
    transmitter.queue["x"] = transmitter.set(ACCOUNT_DISABLED, sub_id=transmitter.user("alice"))
    report = poll(target, SSFPoller(endpoints_of(target)))
    assert (report.acknowledged, report.errors, report.deferred) == (0, 0, 2)
    assert report.failed == "the store is unavailable"
    assert transmitter.reported == {} and len(transmitter.queue) == 2


def test_the_poll_flow_reads_only_what_rfc8936_allows() -> None:
    """RFC 8936 §2.5: ``sets`` must be an object of ``jti`` to SET; at most ``maxEvents`` are taken;
    a SET that is no string (or too large to be one) is reported, never taken."""
    assert read_sets({"sets": []}, 5) == "the answer has no sets object"
    assert read_sets(None, 5) == "the answer has no sets object"
    assert read_sets({"sets": {"a": "1", "b": "2", "c": "3"}, "moreAvailable": True}, 2) == ({"a": "1", "b": "2"}, True)
    assert read_sets({"sets": {"": "1", "x" * 300: "2"}}, 5) == ({}, False)
    state = PollState()
    flow = poll_flow(state, max_events=5, max_requests=3)
    step = next(flow)
    step = flow.send({"sets": {"a": 7, "b": "e" * (70 * 1024)}})
    assert step.body["setErrs"].keys() == {"a", "b"}  # type: ignore[union-attr]
    with pytest.raises(StopIteration) as done:
        flow.send(PollFailed("HTTP 502"))
    assert done.value.value.failed == "HTTP 502"
    assert set(state.errors) == {"a", "b"}  # kept for the next round
    flow = poll_flow(PollState(), max_events=5, max_requests=3)
    next(flow)
    with pytest.raises(StopIteration) as done:
        flow.send({"nothing": True})
    assert done.value.value.failed == "the answer has no sets object"


def test_the_poller_runs_in_a_thread_or_a_task(
    transmitter: Transmitter, sqlite_settings: Settings, build: Build
) -> None:
    """The poll client as an app runs it: ``start()`` / ``stop()`` (a daemon thread, WSGI) or ``run()``
    (an asyncio task, ASGI); bad parameters are refused at once."""
    target = build(sqlite_settings)
    claims = transmitter.claims(VERIFICATION, sub_id={"format": "opaque", "id": "s"})
    transmitter.queue[claims["jti"]] = transmitter.sign(claims)
    poller = SSFPoller(endpoints_of(target))
    if isinstance(endpoints_of(target), EndpointsWSGI):
        poller.start(interval=60)
        with pytest.raises(RuntimeError):
            poller.start(interval=60)
        deadline = time.monotonic() + 10
        while transmitter.queue and time.monotonic() < deadline:
            time.sleep(0.02)
        poller.stop()
        with pytest.raises(TypeError):
            asyncio.run(poller.apoll_once())
    else:
        assert isinstance(target, ASGITarget)

        async def run_briefly() -> None:
            task = asyncio.create_task(poller.run(interval=60))
            while transmitter.queue:
                await asyncio.sleep(0.02)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        target.run(run_briefly(), timeout=10)
        with pytest.raises(TypeError):
            poller.poll_once()
    assert transmitter.queue == {}
    bad_options: list[dict[str, Any]] = [{"max_events": 0}, {"max_requests": 1000}, {"timeout": 0}]
    for bad in bad_options:
        with pytest.raises(ValueError):
            SSFPoller(endpoints_of(target), **bad)
    with pytest.raises(ValueError):
        poller.start(interval=0)
    with pytest.raises(ConfigError, match="JWTGUARD_SSF_POLL_URL"):
        SSFPoller(endpoints_of(build(sqlite_settings.replace(ssf_poll_url=None))))


# -- the rest of the edges: outages between writes, the key source, the poller's bounds ------------


class FlakyStore:
    """The configured store, whose records flows number *failing* (1-based) raise :class:`StoreError`."""

    def __init__(self, inner: Any, failing: set[int]) -> None:
        self.inner, self.failing, self.calls = inner, failing, 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def _fails(self, flow: Any) -> bool:
        self.calls += 1
        if self.calls in self.failing:
            flow.close()
            return True
        return False

    def run(self, flow: Any) -> Any:
        if self._fails(flow):
            raise StoreError("the store timed out")
        return self.inner.run(flow)


class AsyncFlakyStore(FlakyStore):
    async def run(self, flow: Any) -> Any:
        if self._fails(flow):
            raise StoreError("the store timed out")
        return await self.inner.run(flow)


def test_a_write_that_fails_after_the_duplicate_check_is_retried_whole(
    transmitter: Transmitter, store_url: str, adapter: str, build: Build
) -> None:
    """RFC 8935 §2.3 and §4 (the transmitter retries what was not acknowledged): the store fails after
    the ``jti`` check, before the change: ``503``, and the SET's ``jti`` is not noted, so the retry
    applies it (a crash between the two writes makes the retry do the change again, never skip it)."""
    settings = provider_settings(transmitter, store_url, feed=False)
    inner = open_async_store(settings) if adapter == "asgi" else open_store(settings)
    flaky = (AsyncFlakyStore if adapter == "asgi" else FlakyStore)(inner, failing={2})
    target = build(settings, store=flaky)
    token = transmitter.access_token("erin")
    disable = transmitter.set(ACCOUNT_DISABLED, sub_id=transmitter.user("erin"))
    reply = push(target, disable)
    assert (reply.status, reply.headers["retry-after"]) == (503, "5")
    assert verdict(target, token) == "accepted"
    accepted(push(target, disable))
    assert verdict(target, token) == "disabled"
    assert endpoints_of(target).metrics.signals["ssf.unavailable"] == 1


def test_a_resolver_answer_is_checked_before_any_write(
    transmitter: Transmitter, sqlite_settings: Settings, build: Build
) -> None:
    """Issue 12 (subjects resolve through a resolver the app can replace): what the resolver returns is
    checked as every user id is (``JWTGUARD_USER_ID_TYPE``, ``JWTGUARD_MAX_USER_ID_LENGTH``); a polled
    SET whose resolver raises is reported (``setErrs``), never a crashed poller."""

    def too_long(subject: Subject) -> UserId | None:
        return "u" * 1000

    target = build(sqlite_settings, resolver=too_long)
    document = refused(
        push(target, transmitter.set(ACCOUNT_DISABLED, sub_id=transmitter.user("a"))), 400, "invalid_request"
    )
    assert document["description"] == "the subject's user id is not usable here"

    def broken(subject: Subject) -> UserId | None:
        raise RuntimeError("broken")

    app = build(sqlite_settings, resolver=broken)
    transmitter.queue["j"] = transmitter.set(ACCOUNT_DISABLED, sub_id=transmitter.user("a"))
    report = poll(app, SSFPoller(endpoints_of(app)))
    assert report.errors == 1 and transmitter.reported["j"]["err"] == "invalid_request"
    assert signals_of(sqlite_settings) == {}


class FakeTimer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_transmitter_configuration_is_retried_at_a_bounded_rate(
    transmitter: Transmitter, caplog: pytest.LogCaptureFixture
) -> None:
    """SSF 1.0 §7.2.3 (an error answer uses its status) and §7.2.4: while the configuration cannot be
    read no key is (503s, one request per retry interval however many SETs arrive, one warning per
    reason); once it answers, its JWKS verifies."""
    timer = FakeTimer()
    config_url = f"{transmitter.base}/.well-known/ssf-configuration/ssf"
    keys = TransmitterKeys(config_url, issuer=transmitter.issuer, algorithms=ssf.SET_ALGORITHMS, timer=timer)
    verifier = JWKSVerifier(keys, ssf.SET_ALGORITHMS)
    transmitter.configuration_status = 404
    with caplog.at_level(logging.WARNING, logger="jwtguard"):
        for _ in range(5):
            assert isinstance(ssf.verify_set(verifier, transmitter.set(VERIFICATION)), KeysUnavailable)
        timer.now += 10
        assert isinstance(ssf.verify_set(verifier, transmitter.set(VERIFICATION)), KeysUnavailable)
    assert transmitter.hits["/.well-known/ssf-configuration/ssf"] == 2
    assert keys.last_error == "HTTP 404"
    assert [r.getMessage() for r in caplog.records] == [
        "jwtguard: the SSF transmitter configuration could not be used (HTTP 404)"
    ]
    transmitter.configuration_status = 200
    timer.now += 10
    checked = ssf.verify_set(verifier, transmitter.set(VERIFICATION))
    assert not isinstance(checked, (KeysUnavailable, ssf.SETError))
    header, _ = checked
    assert header["typ"] == "secevent+jwt"
    assert keys.last_error is None
    assert keys._discover() is keys._discover()  # single-flight: a caller that waited finds it read


class StubKeys:
    """A key source that fails as told."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def key(self, kid: object, alg: str) -> jwt.PyJWK:
        raise self.exc


@pytest.mark.parametrize(
    ("exc", "err"),
    [
        (KeySourceUnavailable("down"), None),
        (UnknownKey("no such key id"), "invalid_key"),
        (jwt.InvalidKeyError("weak"), "invalid_key"),
        (jwt.InvalidAlgorithmError("not the key's"), "invalid_key"),
        (RuntimeError("hostile"), "invalid_request"),
    ],
    ids=["unavailable", "unknown-key", "weak-key", "wrong-alg", "anything-else"],
)
def test_the_set_signature_check_answers_every_failure(
    transmitter: Transmitter, exc: Exception, err: str | None
) -> None:
    """RFC 8935 §2.4: each failure of the signature check is a registered code (or, for an unreadable
    key set, no verdict); the lookup never raises."""
    checked = ssf.verify_set(JWKSVerifier(StubKeys(exc), ssf.SET_ALGORITHMS), transmitter.set(VERIFICATION))
    if err is None:
        assert isinstance(checked, KeysUnavailable)
    else:
        assert isinstance(checked, ssf.SETError) and checked.err == err
    unconfigured = ssf.verify_set(None, "x.y.z")
    assert isinstance(unconfigured, ssf.SETError) and unconfigured.err == "invalid_issuer"


def test_fetch_json_reads_only_http_and_a_bounded_answer(transmitter: Transmitter) -> None:
    """The transmitter's documents are read over http(s) only (never ``file:``), at most *limit* bytes."""
    with pytest.raises(ValueError, match="not an http"):
        fetch_json("file:///etc/passwd", timeout=1, limit=100)
    with pytest.raises(ValueError, match="larger than"):
        fetch_json(transmitter.jwks, timeout=2, limit=10)
    assert fetch_json(transmitter.jwks, timeout=2, limit=10_000)["keys"][0]["kid"] == "tx-1"
    assert fetch_json(f"{transmitter.base}/empty", timeout=2, limit=100) is None
    assert describe_fetch(ValueError("x")) == "unreadable answer"
    assert describe_fetch(KeyError("x")) == "unreadable answer (KeyError)"


def test_a_stream_record_made_by_another_process_first_is_updated() -> None:
    """The stream record (one per transmitter): an insert that loses a race becomes an update."""
    flow = signals.note_stream("https://t.example", {"verified_at": 5.0}, now=5.0)
    assert next(flow) == r.Update("state", "stream|https://t.example", {"verified_at": 5.0})
    insert = flow.send(False)
    assert isinstance(insert, r.Insert) and insert.record["kind"] == "stream"
    assert flow.send(False) == r.Update("state", "stream|https://t.example", {"verified_at": 5.0})
    with pytest.raises(StopIteration):
        flow.send(True)


def test_the_poll_state_is_bounded() -> None:
    """What waits for the next request is bounded (:data:`~jwtguard.endpoints.poll.MAX_PENDING`): the
    oldest go first (their SETs are delivered again, and taken again at no cost)."""
    state = PollState()
    for index in range(MAX_PENDING + 5):
        state.note(f"a{index}", ssf.Accepted("applied", "x"))
        state.note(f"e{index}", ssf.SETError("invalid_request", "x"))
    assert len(state.ack) == len(state.errors) == MAX_PENDING
    assert state.ack[0] == "a5" and next(iter(state.errors)) == "e5"


def test_the_poller_logs_a_failure_once_and_survives_a_round_that_raises(
    transmitter: Transmitter, sqlite_settings: Settings, build: Build, caplog: pytest.LogCaptureFixture
) -> None:
    """A poll endpoint without credentials configured gets none; a failure is a warning once, not per
    round; a round that raises is logged (its type) and the poller goes on."""
    target = build(sqlite_settings.replace(ssf_poll_authorization=None))
    poller = SSFPoller(endpoints_of(target), timeout=5)
    transmitter.poll_status = 503
    with caplog.at_level(logging.WARNING, logger="jwtguard"):
        for _ in range(3):
            assert poll(target, poller).failed == "HTTP 503"
    assert [body for body, authorization, _ in transmitter.polls if authorization is not None] == []
    assert [r.getMessage() for r in caplog.records].count("jwtguard: the SSF poll stopped early (HTTP 503)") == 1
    assert poller.counts["failures"] == 3
    poller.stop()  # never started: nothing to end

    def boom() -> Any:
        raise RuntimeError("boom")

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="jwtguard"):
        if isinstance(target, ASGITarget):

            async def one_round() -> None:
                task = asyncio.create_task(poller.run(interval=1))
                await asyncio.sleep(0.2)
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
                with pytest.raises(ValueError):
                    await poller.run(interval=0)

            poller.apoll_once = boom  # type: ignore[method-assign]
            target.run(one_round())
        else:
            poller.poll_once = boom  # type: ignore[method-assign]
            poller.start(interval=1)
            time.sleep(0.2)
            poller.stop()
    assert "jwtguard: an SSF poll round failed (RuntimeError)" in [r.getMessage() for r in caplog.records]


# -- the README ------------------------------------------------------------------------------

README = Path(__file__).resolve().parent.parent / "README.md"


def _provider_section() -> str:
    text = README.read_text(encoding="utf-8")
    return text.split("\n## Connect your identity provider\n", 1)[1].split("\n## ", 1)[0]


def _shared_signals_section() -> str:
    return _provider_section().split("\n### Shared Signals (CAEP and RISC)\n", 1)[1]


def test_the_readme_maps_every_event_jwtguard_acts_on() -> None:
    """README "Connect your identity provider": the event mapping table names every event type of
    :data:`jwtguard.endpoints.ssf.EVENTS`, the endpoints' table names ``/ssf/events``, and the Shared
    Signals part every setting of the receiver."""
    section = _provider_section()
    table = section.split("| the signal | what jwtguard records | what the guard then refuses |\n", 1)[1]
    rows = [line for line in table.split("\n\n", 1)[0].splitlines() if line.startswith("| ")][1:]
    first_cells = " ".join(line.split(" | ")[0] for line in rows)
    for event_type in ssf.EVENTS:
        assert f"`{event_type.rsplit('/', 1)[1]}`" in first_cells, event_type
    assert "| `POST /ssf/events` |" in section
    for setting in (
        "ISSUER",
        "JWKS_URL",
        "CONFIG_URL",
        "AUDIENCE",
        "PUSH_AUTHORIZATION",
        "POLL_URL",
        "POLL_AUTHORIZATION",
    ):
        assert f"JWTGUARD_SSF_{setting}" in _shared_signals_section()


def test_the_readmes_resolver_works_as_written(transmitter: Transmitter, sqlite_settings: Settings) -> None:
    """README: the resolver example, run as written, maps ``email`` subjects and leaves the rest to the default."""
    blocks = _shared_signals_section().split("```python\n")[1:]
    source = blocks[-1].split("```", 1)[0]
    namespace: dict[str, Any] = {
        "settings": sqlite_settings,
        "users_by_email": {"alice@example.com": "alice"},
        "guard": None,
        "EndpointsWSGI": lambda guard, **options: options,
    }
    exec(compile(source, "README.md#shared-signals", "exec"), namespace)
    resolve = namespace["endpoints"]["resolver"]
    assert resolve(Subject("email", {"format": "email", "email": "alice@example.com"})) == "alice"
    assert resolve(Subject("iss_sub", transmitter.user("bob"))) == "bob"
    for block in blocks:
        compile(block.split("```", 1)[0], "README.md", "exec")
