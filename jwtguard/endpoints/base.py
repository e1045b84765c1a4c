"""What the standard endpoints share (issue 12): the request they read, the answers, forms, clients.

Each endpoint is a *flow* (as the guard's own, :mod:`jwtguard.engine`): a generator that
reads an :class:`Call`, yields the lookups it needs (:class:`Verify`, :class:`VerifySET`,
:class:`Judge`, :class:`Records`, :class:`Forget`) and returns its :class:`Answer`. The translators of
:mod:`jwtguard.endpoints.apps` perform the lookups, blocking (WSGI) or awaited (ASGI), and
nothing here reads a clock, a store or a socket itself.

Security: bodies are bounded (:data:`MAX_BODY`) before they are read; form parameters may
appear once (RFC 6749 §3.2); client secrets are compared in constant time, and no answer or
log names a token or a secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Generator, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple
from urllib.parse import parse_qsl, unquote_plus

from ..config import Settings
from ..sansio.claims import ProviderSession
from ..sansio.policy import Policy
from ..stores.records import RecordFlow
from ..userid import UserKey
from .subjects import SubjectResolver

#: The largest request body an endpoint reads (a logout token or a SET is a few KiB).
MAX_BODY: Final = 64 * 1024

FORM: Final = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class Call:
    """One request to an endpoint, as the translators read it.

    :param method: the request method.
    :param path: the app-relative path.
    :param headers: header fields by lower-case name (a repeated field: its values joined by ``, ``).
    :param body: the body, at most :data:`MAX_BODY` bytes.
    """

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes

    @property
    def media_type(self) -> str:
        """The ``Content-Type``'s media type, lower-case, without parameters."""
        return self.headers.get("content-type", "").partition(";")[0].strip().lower()


@dataclass(frozen=True, slots=True)
class Answer:
    """One response: status, header fields (name, value), body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    @property
    def raw_headers(self) -> list[tuple[bytes, bytes]]:
        """The header fields as ASGI sends them."""
        return [(name.encode("latin-1"), value.encode("latin-1")) for name, value in self.headers]


async def serve_lifespan(
    receive: Callable[[], Awaitable[MutableMapping[str, Any]]],
    send: Callable[[MutableMapping[str, Any]], Awaitable[None]],
) -> None:
    """Answer an ASGI lifespan scope (startup, shutdown) for an app of jwtguard's served alone."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


#: RFC 6749 §5.1 and RFC 7662 §2.2: answers about tokens are never cached.
NO_STORE: Final = (("cache-control", "no-store"), ("pragma", "no-cache"))


def answer(status: int, document: Mapping[str, Any] | None = None, *headers: tuple[str, str]) -> Answer:
    """A JSON answer (or an empty one), never cached."""
    if document is None:
        # RFC 9110 §8.6: no Content-Length in a 204.
        length = () if status == 204 else (("content-length", "0"),)
        return Answer(status, (*NO_STORE, *length, *headers), b"")
    body = json.dumps(document, separators=(",", ":")).encode()
    fields = (("content-type", "application/json"), ("content-length", str(len(body))), *NO_STORE, *headers)
    return Answer(status, fields, body)


def oauth_error(status: int, code: str, description: str | None = None, *headers: tuple[str, str]) -> Answer:
    """An RFC 6749 §5.2 error: ``{"error", "error_description"}``."""
    document = {"error": code} if description is None else {"error": code, "error_description": description}
    return answer(status, document, *headers)


def not_allowed() -> Answer:
    """RFC 9110 §15.5.6: every endpoint answers POST only."""
    return answer(405, {"error": "invalid_request", "error_description": "use POST"}, ("allow", "POST"))


def too_large() -> Answer:
    return oauth_error(413, "invalid_request", f"the body is larger than {MAX_BODY} bytes")


def not_processed() -> Answer:
    """A flow that raised on its input: ``400 invalid_request``, never a 500."""
    return oauth_error(400, "invalid_request", "the request could not be processed")


class Refusals(NamedTuple):
    """How an endpoint's protocol words what the translators refuse before its flow runs, or
    when the flow raised: a method other than POST, a body over :data:`MAX_BODY`."""

    not_allowed: Callable[[], Answer]
    too_large: Callable[[], Answer]
    failed: Callable[[], Answer]


#: RFC 6749 §5.2's error shape (``{"error", "error_description"}``): every endpoint but the SET receiver.
OAUTH_REFUSALS: Final = Refusals(not_allowed, too_large, not_processed)


def unavailable(settings: Settings, what: str) -> Answer:
    """``503`` with ``Retry-After``: the store or the key source cannot answer (never a verdict)."""
    return oauth_error(
        503, "temporarily_unavailable", f"{what} is unavailable", ("retry-after", str(settings.retry_after))
    )


def read_form(call: Call) -> dict[str, str] | Answer:
    """The body's form parameters (RFC 6749 Appendix B), or the ``400 invalid_request`` that refuses it.

    The media type must be ``application/x-www-form-urlencoded``; the text UTF-8; each name
    at most once (RFC 6749 §3.2, RFC 7009 §2.1, RFC 7662 §2.1).
    """
    if call.media_type != FORM:
        return oauth_error(400, "invalid_request", f"the body must be {FORM}")
    try:
        text = call.body.decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, strict_parsing=bool(text), errors="strict")
    except (UnicodeDecodeError, ValueError):
        return oauth_error(400, "invalid_request", "the body is not a form")
    form: dict[str, str] = {}
    for name, value in pairs:
        if name in form:
            return oauth_error(400, "invalid_request", f"the parameter {name[:64]!r} appears more than once")
        form[name] = value
    return form


# -- the lookups an endpoint flow yields ------------------------------------------------------


class Verify(NamedTuple):
    """Check *token*'s signature with the guard's keys (may read the JWKS): answered with
    ``(header, claims)``, :class:`KeysUnavailable`, or None for a token that does not verify."""

    token: str


class VerifySET(NamedTuple):
    """Check a security event token's signature with the Shared Signals transmitter's keys
    (``JWTGUARD_SSF_JWKS_URL``, or its configuration's; never the guard's own): answered as
    :func:`jwtguard.endpoints.ssf.verify_set` answers (may read the JWKS)."""

    token: str


class Judge(NamedTuple):
    """The guard's :class:`~jwtguard.sansio.Decision` on *token*, as if a request carried it."""

    token: str


class Authenticate(NamedTuple):
    """Run the client-authentication hook on the call (it may read a key set): answered with the
    :class:`Client`, or None."""

    call: Call
    form: Mapping[str, str] | None


class Records(NamedTuple):
    """Run *flow* on the store; answered with its result, or :class:`StoreDown`."""

    flow: RecordFlow[Any]


class Forget(NamedTuple):
    """This process forgets the user's cached state at once (the feed tells the others); after a
    write, also one that failed (a timeout may come after the write was applied). Answered None."""

    user: UserKey | None
    #: An identity provider's session that a logout token named by its ``sid`` alone.
    session: ProviderSession | None = None


class KeysUnavailable(NamedTuple):
    """The JWKS could not be read: no verdict on the token."""


class StoreDown(NamedTuple):
    """The store could not answer."""

    message: str


Lookup = Authenticate | Verify | VerifySET | Judge | Records | Forget
EndpointFlow = Generator[Lookup, Any, Answer]


# -- clients ---------------------------------------------------------------------------------


class Client(NamedTuple):
    """An authenticated caller of the endpoints and the endpoints it may call."""

    id: str
    grants: frozenset[str]


#: The client-authentication hook: the call and its form (None for a JSON body) to the
#: authenticated :class:`Client`, or None when the call carries no valid credentials.
#: It may read ``Authorization`` (Basic, Bearer) or the form's ``client_assertion`` (RFC 7523).
#: The async driver runs it in a worker thread unless it has ``needs_io = False``.
Authenticator = Callable[[Call, Mapping[str, str] | None], Client | None]


class BasicClients:
    """HTTP Basic client authentication (RFC 6749 §2.3.1) against ``JWTGUARD_ENDPOINT_CLIENTS``.

    The id and the secret are form-urlencoded, then joined by ``:`` and base64-encoded, as
    RFC 6749 §2.3.1 says. Secrets are compared in constant time, and a wrong id costs what
    a wrong secret does.
    """

    def __init__(self, settings: Settings) -> None:
        # Digests of equal length: the comparison says nothing about a secret's length either.
        self._clients = {
            client_id: (_digest(secret), Client(client_id, frozenset(grants)))
            for client_id, secret, grants in settings.endpoint_clients
        }
        self._decoy = _digest("")

    #: Reads nothing but the call: the async driver calls it on the loop.
    needs_io = False

    def __call__(self, call: Call, form: Mapping[str, str] | None) -> Client | None:
        credentials = basic_credentials(call.headers.get("authorization", ""))
        if credentials is None:
            return None
        client_id, secret = credentials
        known = self._clients.get(client_id)
        expected = known[0] if known is not None else self._decoy
        matches = hmac.compare_digest(_digest(secret), expected)
        return known[1] if known is not None and matches else None


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).digest()


def basic_credentials(authorization: str) -> tuple[str, str] | None:
    """``(id, secret)`` from an ``Authorization: Basic`` field (RFC 7617, RFC 6749 §2.3.1), or None."""
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "basic" or not value or len(value) > 1024:
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    client_id, colon, secret = decoded.partition(":")
    if not colon:
        return None
    return unquote_plus(client_id), unquote_plus(secret)


def challenge(settings: Settings) -> tuple[str, str]:
    """``WWW-Authenticate: Basic`` for a ``401 invalid_client`` (RFC 6749 §5.2)."""
    return ("www-authenticate", f'Basic realm="{settings.realm}", charset="UTF-8"')


def token_request(call: Call, grant: str, settings: Settings) -> Generator[Lookup, Any, tuple[str, Client] | Answer]:
    """RFC 7009 §2.1 and RFC 7662 §2.1 alike: a form, a client allowed *grant*, and its ``token``.

    Answers ``(token, client)``, or the answer that refuses the request: ``400 invalid_request``
    (no form, no token), ``401 invalid_client``, ``403 unauthorized_client``.
    """
    form = read_form(call)
    if isinstance(form, Answer):
        return form
    client = yield from authenticate(call, form, grant, settings)
    if isinstance(client, Answer):
        return client
    token = form.get("token")
    if not token:
        return oauth_error(400, "invalid_request", "the token parameter is required")
    return token, client


def authenticate(
    call: Call, form: Mapping[str, str] | None, grant: str, settings: Settings
) -> Generator[Lookup, Any, Client | Answer]:
    """The caller, when it may call the endpoint *grant*; else the answer that refuses it.

    No credentials or wrong ones: ``401 invalid_client`` with a Basic challenge (RFC 6749
    §5.2). A client without the grant: ``403 unauthorized_client``.
    """
    client: Client | None = yield Authenticate(call, form)
    if client is None:
        return oauth_error(401, "invalid_client", "client authentication failed", challenge(settings))
    if grant not in client.grants:
        return oauth_error(403, "unauthorized_client", f"this client may not call {grant}")
    return client


# -- what every endpoint flow is given --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Context:
    """What an endpoint flow reads besides the call: the settings, the guard's policy, the
    subject resolver and the time of the call; and the endpoints' counts of the signals they
    received (``endpoints.metrics.signals``), which a flow bumps (as
    :class:`~jwtguard.metrics.Metrics` are: a bare ``+= 1``)."""

    settings: Settings
    policy: Policy
    resolve: SubjectResolver
    now: float
    signals: Counter[str] = field(default_factory=Counter)
