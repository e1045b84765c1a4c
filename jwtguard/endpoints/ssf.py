"""``POST /ssf/events``: OpenID Shared Signals Framework 1.0, as a receiver of security event tokens.

An identity provider (or any Shared Signals transmitter: Okta, a security tool) pushes a
signed *security event token* (SET, RFC 8417) per event, as RFC 8935 says, or the app polls for
them (RFC 8936, :mod:`jwtguard.endpoints.poll`). Both go through :func:`receive`: the SET is
verified with the *transmitter's* keys (never the guard's), validated as SSF 1.0 profiles
RFC 8417 (:func:`read_set`), its subject resolved to a user (:func:`resolve_target`), and its
event turned into the state the guard already enforces (:data:`EVENTS`):

====================================================  =======================================
event                                                 what jwtguard records
====================================================  =======================================
CAEP ``session-revoked`` (RISC ``sessions-revoked``)  with a session in the subject: that
                                                      provider session ends; else every token
                                                      of the user issued before the event dies
CAEP ``credential-change``                            every older token of the user dies
RISC ``credential-compromise``                        every older token of the user dies
RISC ``account-disabled`` / ``account-enabled``       the provider's account switch (its source
                                                      recorded; never lifts a local disable)
RISC ``account-purged``                               disabled for good, and a cut-off
a ``jwt_id`` subject (SSF 1.0 §3.5.1), on the events  that one token is refused (the per-token
above that revoke                                     denylist)
SSF ``verification`` / ``stream-updated``             the stream's liveness / status (a
                                                      ``stream`` record); no user's state
any other event type                                  nothing (202, counted, logged)
====================================================  =======================================

Settings: ``JWTGUARD_SSF_ISSUER``, ``JWTGUARD_SSF_JWKS_URL`` or ``JWTGUARD_SSF_CONFIG_URL``,
``JWTGUARD_SSF_AUDIENCE`` (default ``JWTGUARD_OIDC_CLIENT_ID``), ``JWTGUARD_SSF_PUSH_AUTHORIZATION``;
``JWTGUARD_LEEWAY`` for the transmitter's clock.

What the specifications require, and where (``tests/test_ssf.py`` names them):

- RFC 8935 §2: a POST whose body is the SET, ``Content-Type: application/secevent+jwt``.
- RFC 8935 §2.2: ``202`` with an empty body once the SET is validated and its change recorded.
- RFC 8935 §2.3, §2.4: a SET that cannot be parsed, validated or authenticated is ``400`` with
  ``application/json`` ``{"err", "description"}``, ``err`` one of the registered codes
  (``invalid_request``, ``invalid_key``, ``invalid_issuer``, ``invalid_audience``,
  ``authentication_failed``, ``access_denied``). A body too large to be a SET is such a SET.
- RFC 8935 §3 (and SSF 1.0 §6.1.1's ``authorization_header``): with
  ``JWTGUARD_SSF_PUSH_AUTHORIZATION``, a push without ``Authorization`` is ``401``
  ``authentication_failed`` (with a challenge), one with another value ``403`` ``access_denied``;
  compared in constant time, checked before the body is looked at.
- RFC 8417 §2.3, SSF 1.0 §4.1.1: the JOSE header's ``typ`` is ``secevent+jwt``.
- RFC 8417 §2.2: ``iss``, ``iat``, ``jti`` and ``events`` are present; SSF 1.0 §4.1.6: ``iss`` is
  ``JWTGUARD_SSF_ISSUER``; §4.1.8: ``aud`` (a string or an array) holds ``JWTGUARD_SSF_AUDIENCE``.
- SSF 1.0 §4.1.2, §4.1.3: no ``sub`` claim; §4.1.7: no ``exp`` claim.
- SSF 1.0 §4.2.1: one event per SET (the specification allows alternative URIs of one event
  type; no event type jwtguard knows has any, so two members are refused).
- SSF 1.0 §4.1.4: keys from the transmitter's JWKS (``jwks_uri`` of its configuration, §7.2,
  whose ``issuer`` must be ``JWTGUARD_SSF_ISSUER``, §7.2.4); ``alg`` allow-listed
  (:data:`SET_ALGORITHMS`), each key bound to its own (RFC 8725 §3.1).
- SSF 1.0 §4.2.3: members jwtguard does not know are ignored, in the SET and in the event.
- SSF 1.0 §3.1: the subject is the top-level ``sub_id`` (an event's own ``subject``, as
  transmitters written before §3.1.1 send it, when ``sub_id`` is absent); simple and
  ``complex`` subjects (§3.2, §3.3: ``user``, ``session``, and a ``jwt_id`` member), resolved by
  the endpoints' resolver (:mod:`jwtguard.endpoints.subjects`). A subject that names no user
  here is ``400`` ``invalid_request``, so the transmitter reports the failure.
- SSF 1.0 §8.1.4: a verification event is acknowledged (``202``) and recorded as the stream's
  liveness; jwtguard requests no verification itself, so it checks no ``state``.
- RFC 8417 §2.2 (``jti``): a SET whose ``jti`` was processed already answers ``202`` and changes
  nothing (transmitters retry). When the store or the key set cannot answer: ``503`` with
  ``Retry-After`` and no body (the transmitter retries; a ``400`` would read as a SET that can
  never pass).

``iat`` may be old (transmitters queue SETs, RFC 8936) and a little ahead of this clock: at most
:data:`SET_CLOCK_SKEW` (or ``JWTGUARD_LEEWAY`` when larger). The time of an event is its
``event_timestamp`` (CAEP, RISC), else ``toe`` (RFC 8417 §2.2), else ``iat``, never later than
``iat``, and never moved to this clock: it is compared with the ``iat`` of the provider's tokens,
which the provider's clock wrote too.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Generator, Mapping
from typing import Any, Final, NamedTuple

import jwt

from ..config import Settings
from ..keys import KeySource, KeySourceUnavailable, TransmitterKeys, UnknownKey
from ..sansio.claims import media_type, time_claim
from ..sansio.state import is_id
from ..sessions import signals
from ..sessions.flows import record_lifetime
from ..stores.records import RecordFlow
from ..tokens import JWKSVerifier
from ..userid import UserId, UserKey, user_key
from .base import (
    Answer,
    Call,
    Context,
    EndpointFlow,
    Forget,
    KeysUnavailable,
    Lookup,
    Records,
    Refusals,
    StoreDown,
    VerifySET,
    answer,
)
from .subjects import Subject

logger = logging.getLogger("jwtguard")

PATH = "/ssf/events"
#: RFC 8417 §7.2 and RFC 8935 §2: the media type of a pushed SET.
SET_MEDIA_TYPE: Final = "application/secevent+jwt"

CAEP: Final = "https://schemas.openid.net/secevent/caep/event-type/"
RISC: Final = "https://schemas.openid.net/secevent/risc/event-type/"
SSF: Final = "https://schemas.openid.net/secevent/ssf/event-type/"

SESSION_REVOKED: Final = CAEP + "session-revoked"
CREDENTIAL_CHANGE: Final = CAEP + "credential-change"
SESSIONS_REVOKED: Final = RISC + "sessions-revoked"
CREDENTIAL_COMPROMISE: Final = RISC + "credential-compromise"
ACCOUNT_DISABLED: Final = RISC + "account-disabled"
ACCOUNT_ENABLED: Final = RISC + "account-enabled"
ACCOUNT_PURGED: Final = RISC + "account-purged"
VERIFICATION: Final = SSF + "verification"
STREAM_UPDATED: Final = SSF + "stream-updated"

#: What jwtguard does with each event type it knows (see the module): the rest are ignored.
EVENTS: Final[Mapping[str, str]] = {
    SESSION_REVOKED: "session",
    SESSIONS_REVOKED: "session",  # deprecated by RISC for CAEP's: all the user's sessions
    CREDENTIAL_CHANGE: "credential",
    CREDENTIAL_COMPROMISE: "credential",
    ACCOUNT_DISABLED: "disabled",
    ACCOUNT_ENABLED: "enabled",
    ACCOUNT_PURGED: "purged",
    VERIFICATION: "verification",
    STREAM_UPDATED: "stream",
}
#: The events that revoke something: a ``jwt_id`` subject narrows them to that one token.
_REVOKING: Final = frozenset({"session", "credential"})
#: About the stream, not a user.
_STREAM: Final = frozenset({"verification", "stream"})

#: Algorithms a transmitter's key may sign a SET with: every asymmetric JWS algorithm (each key
#: verifies only those of its type and curve, or its own ``alg``); never HMAC, never ``none``.
SET_ALGORITHMS: Final = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")

#: The registered error codes (RFC 8935 §2.4, RFC 8936 §2.4.4).
ERROR_CODES: Final = frozenset(
    {"invalid_request", "invalid_key", "invalid_issuer", "invalid_audience", "authentication_failed", "access_denied"}
)

#: How far ahead of this clock a transmitter's may run (``iat``): a SET refused for it is lost (a
#: ``400`` is never retried), and a cut-off that far ahead refuses at most that much of a user's
#: newer tokens.
SET_CLOCK_SKEW: Final = 300.0

#: Longest text of a SET kept in a record or a log line (a verification ``state``, a status).
_MAX_TEXT: Final = 256


# -- outcomes --------------------------------------------------------------------------------


class SETError(NamedTuple):
    """Why a SET is refused: a registered ``err`` code (RFC 8935 §2.4) and a description."""

    err: str
    description: str


class Accepted(NamedTuple):
    """A SET taken: ``applied`` (its change recorded), ``duplicate`` (its ``jti`` was processed
    already), ``stream`` (a verification or status of the stream) or ``ignored`` (an event type
    jwtguard does not act on)."""

    outcome: str
    event: str


class Unavailable(NamedTuple):
    """The store or the transmitter's key set could not answer: no verdict, the SET is retried."""

    what: str


Received = Accepted | SETError | Unavailable
ReceiveFlow = Generator[Lookup, Any, Received]


class SecurityEvent(NamedTuple):
    """A SET that passed :func:`read_set`: who sent it, its id, its event and its subject."""

    iss: str
    jti: str
    iat: float
    #: The event type URI, and the event object (unknown members kept, and ignored).
    type: str
    event: Mapping[str, Any]
    #: When the event happened (``event_timestamp``, ``toe``, else ``iat``; never after ``iat``).
    at: float
    #: ``sub_id``, or the event's own ``subject``; None when the SET names none.
    subject: Mapping[str, Any] | None


class Target(NamedTuple):
    """Whom a SET's subject names: the user (and its key), the issuer of the user's access
    tokens, and a provider session (``sid``) or one token (``jti``) when it names one."""

    user_id: UserId
    key: UserKey
    iss: str
    sid: str | None
    jti: str | None


# -- the transmitter's keys -------------------------------------------------------------------


def transmitter_verifier(settings: Settings) -> JWKSVerifier | None:
    """The verifier of the transmitter's SETs that *settings* configure, or None without ``JWTGUARD_SSF_ISSUER``.

    Its keys: ``JWTGUARD_SSF_JWKS_URL``, else the ``jwks_uri`` of the transmitter's configuration;
    kept as the guard keeps its own JWKS (``JWTGUARD_JWKS_LIFESPAN``, ``JWTGUARD_STALE_MAX_AGE``).
    """
    if settings.ssf_issuer is None:
        return None
    options: dict[str, Any] = {
        "algorithms": SET_ALGORITHMS,
        "lifespan": settings.jwks_lifespan,
        "stale_max_age": settings.stale_max_age,
        "timeout": settings.store_timeout,
        "retry_interval": settings.retry_after,
    }
    keys: KeySource | TransmitterKeys
    if settings.ssf_jwks_url:
        keys = KeySource(settings.ssf_jwks_url, **options)
    else:
        configuration = settings.ssf_configuration
        assert configuration is not None  # Settings: an issuer without keys is a URL
        keys = TransmitterKeys(configuration, issuer=settings.ssf_issuer, **options)
    return JWKSVerifier(keys, SET_ALGORITHMS)


def verify_set(
    verifier: JWKSVerifier | None, token: str
) -> tuple[dict[str, Any], dict[str, Any]] | KeysUnavailable | SETError:
    """The :class:`~jwtguard.endpoints.base.VerifySET` lookup, as both drivers perform it.

    ``(header, claims)`` of a SET signed by a key of the transmitter; :class:`KeysUnavailable`
    when its JWKS (or configuration) cannot be read; else the :class:`SETError` saying why:
    ``invalid_request`` for what is no compact JWS, ``invalid_key`` for a key or a signature
    the transmitter's key set does not vouch for. Never raises; never names the token.
    """
    if verifier is None:
        return SETError("invalid_issuer", "this receiver accepts no SETs (JWTGUARD_SSF_ISSUER is not set)")
    try:
        return verifier.signed(token)
    except KeySourceUnavailable:
        return KeysUnavailable()
    except UnknownKey as exc:
        return SETError("invalid_key", f"the transmitter's key set has no key for it ({exc})")
    except jwt.InvalidAlgorithmError:
        return SETError("invalid_key", "its alg is not one a transmitter's key may sign with")
    except jwt.InvalidSignatureError:
        return SETError("invalid_key", "its signature does not verify with the transmitter's key")
    except jwt.InvalidKeyError:
        return SETError("invalid_key", "the transmitter's key for it is unusable")
    except Exception as exc:  # every other failure of hostile input: not a SET at all
        logger.debug("jwtguard: SET unreadable: %s", type(exc).__name__)
        return SETError("invalid_request", "the body is no signed JWT (a compact JWS)")


# -- the SET, its event and its subject: pure ------------------------------------------------


def read_set(
    header: Mapping[str, Any], claims: Mapping[str, Any], settings: Settings, now: float
) -> SecurityEvent | SETError:
    """RFC 8417 and SSF 1.0 §4 on a SET whose signature checked out: the event, or why it is refused.

    Pure: *now* is the call's time, nothing is looked up.
    """
    typ = header.get("typ")
    if not isinstance(typ, str) or media_type(typ) != "secevent+jwt":
        return SETError("invalid_request", "typ must be secevent+jwt (RFC 8417 §2.3, SSF 1.0 §4.1.1)")
    iss = claims.get("iss")
    if settings.ssf_issuer is None or iss != settings.ssf_issuer:
        return SETError("invalid_issuer", "iss is not the configured transmitter (JWTGUARD_SSF_ISSUER)")
    audience = settings.ssf_expected_audience
    aud = claims.get("aud")
    listed = [aud] if isinstance(aud, str) else aud
    if audience is None or not isinstance(listed, list) or audience not in listed:
        return SETError("invalid_audience", "aud does not name this receiver (JWTGUARD_SSF_AUDIENCE)")
    if "sub" in claims:
        return SETError("invalid_request", "a SET carries no sub claim (SSF 1.0 §4.1.2): its subject is sub_id")
    if "exp" in claims:
        return SETError("invalid_request", "a SET carries no exp claim (SSF 1.0 §4.1.7)")
    try:
        iat, toe = time_claim(claims, "iat"), time_claim(claims, "toe")
    except ValueError:
        return SETError("invalid_request", "iat and toe must be NumericDates")
    if iat is None:
        return SETError("invalid_request", "iat is required (RFC 8417 §2.2)")
    if iat > now + max(settings.leeway, SET_CLOCK_SKEW):
        return SETError("invalid_request", "iat is in the future")
    jti = claims.get("jti")
    if not is_id(jti):
        return SETError("invalid_request", "jti is required (RFC 8417 §2.2): a string of at most 256 characters")
    events = claims.get("events")
    if not isinstance(events, Mapping) or len(events) != 1:
        return SETError("invalid_request", "events must hold exactly one event (SSF 1.0 §4.2.1)")
    [(event_type, event)] = events.items()
    if not isinstance(event, Mapping):
        return SETError("invalid_request", "the event must be a JSON object (RFC 8417 §2.2)")
    try:
        stamp = time_claim(event, "event_timestamp")
    except ValueError:
        return SETError("invalid_request", "event_timestamp must be a NumericDate")
    at = min(next(t for t in (stamp, toe, iat) if t is not None), iat)
    subject = claims.get("sub_id", event.get("subject"))
    if subject is not None and not isinstance(subject, Mapping):
        return SETError("invalid_request", "sub_id must be a subject identifier: a JSON object (SSF 1.0 §3.1)")
    assert isinstance(iss, str) and isinstance(jti, str)
    return SecurityEvent(iss, jti, iat, str(event_type), event, at, subject)


def subject_format(subject: Mapping[str, Any]) -> str | None:
    """A subject identifier's ``format`` (RFC 9493 §3), or ``subject_type`` as Google's RISC names it."""
    value = subject.get("format", subject.get("subject_type"))
    return value if isinstance(value, str) and value else None


def resolve_target(event: SecurityEvent, context: Context) -> Target | SETError:
    """Whom *event*'s subject names here, through the endpoints' resolver (see the module).

    - a simple subject (``iss_sub``, ``opaque``, ``email``, ...) names a user; but a simple
      ``opaque`` subject of a session event names the *session* (CAEP 1.0's own example), whose
      user jwtguard cannot know: refused, rather than taken as a user id and silently revoking
      nothing;
    - a ``complex`` subject (SSF 1.0 §3.3) is offered to the resolver whole, then by its ``user``
      member; a ``session`` member (an ``opaque`` id: the ``sid`` of the provider's access
      tokens) narrows a session event to that session;
    - a ``jwt_id`` subject (§3.5.1), simple or a member of a complex one, names one token; the
      per-token denylist is kept per user, so its user comes from the resolver (the app's, which
      may know whose token it was) or from the complex subject's ``user``.

    Pure but for the resolver. The issuer a ``session`` belongs to is the guard's
    (``JWTGUARD_ISSUER``, the ``iss`` of the access tokens that carry the ``sid``), else the
    user's ``iss_sub`` issuer, else the transmitter's.
    """
    settings = context.settings
    subject = event.subject
    if subject is None:
        return SETError("invalid_request", "sub_id is required (SSF 1.0 §3.1)")
    form = subject_format(subject)
    if form is None:
        return SETError("invalid_request", "sub_id needs a format (RFC 9493 §3)")
    if form == "opaque" and EVENTS.get(event.type) == "session":
        return SETError(
            "invalid_request",
            "a simple opaque subject of a session event names a session without its user: send a complex "
            "subject with user and session (SSF 1.0 §3.3)",
        )
    user: Mapping[str, Any] | None = subject
    token: Mapping[str, Any] | None = subject if form == "jwt_id" else None
    sid: str | None = None
    user_id = context.resolve(Subject(form, subject))
    if form == "complex":
        member = subject.get("user")
        user = member if isinstance(member, Mapping) else None
        token = next((m for m in subject.values() if isinstance(m, Mapping) and subject_format(m) == "jwt_id"), None)
        session = subject.get("session")
        if session is not None:
            if not (isinstance(session, Mapping) and subject_format(session) == "opaque" and is_id(session.get("id"))):
                return SETError("invalid_request", "the session subject must be an opaque id (SSF 1.0 §3.3)")
            sid = session["id"]
        for candidate in (user, token):
            if user_id is None and candidate is not None and (named := subject_format(candidate)) is not None:
                user_id = context.resolve(Subject(named, candidate))
    jti: str | None = None
    if token is not None:
        jti = token.get("jti")
        if not (isinstance(token.get("iss"), str) and is_id(jti)):
            return SETError("invalid_request", "a jwt_id subject needs iss and jti (SSF 1.0 §3.5.1)")
    if user_id is None:
        if token is not None:
            return SETError(
                "invalid_request",
                "the jwt_id subject names no user here: send it in a complex subject with user, "
                "or resolve token ids to users in the app's subject resolver",
            )
        return SETError("invalid_request", "the subject names no user here")
    key = user_key(user_id, settings.user_id_type, settings.max_user_id_length)
    if key is None:
        return SETError("invalid_request", "the subject's user id is not usable here")
    user_iss = user.get("iss") if user is not None and subject_format(user) == "iss_sub" else None
    if token is not None:
        iss = token["iss"]  # the issuer of the token it names
    else:
        iss = settings.issuer or (user_iss if isinstance(user_iss, str) else None) or event.iss
    return Target(user_id, key, iss, sid, jti)


# -- the flows -------------------------------------------------------------------------------


def receive(token: str, context: Context) -> ReceiveFlow:
    """One SET, pushed or polled: verified, validated, applied once. Its outcome (see the module)."""
    counts = context.signals
    received = yield from _receive(token, context)
    if isinstance(received, SETError):
        counts[f"ssf.refused.{received.err}"] += 1
        logger.info("jwtguard: SET refused (%s: %s)", received.err, received.description)
    elif isinstance(received, Unavailable):
        counts["ssf.unavailable"] += 1
    else:
        counts[f"ssf.{received.outcome}"] += 1
        if received.outcome == "applied":
            counts[f"ssf.applied.{received.event}"] += 1
    return received


def _receive(token: str, context: Context) -> ReceiveFlow:
    settings = context.settings
    if settings.ssf_issuer is None:
        return SETError("invalid_issuer", "this receiver accepts no SETs (JWTGUARD_SSF_ISSUER is not set)")
    if settings.ssf_expected_audience is None:
        return SETError("invalid_audience", "this receiver has no audience (JWTGUARD_SSF_AUDIENCE is not set)")
    checked = yield VerifySET(token)
    if isinstance(checked, KeysUnavailable):
        return Unavailable("the transmitter's key set")
    if isinstance(checked, SETError):
        return checked
    header, claims = checked
    event = read_set(header, claims, settings, context.now)
    if isinstance(event, SETError):
        return event
    name = event.type.rsplit("/", 1)[-1][:64]
    action = EVENTS.get(event.type)
    if action is None:
        # SSF 1.0 §4.2.3 is about members; an event type this receiver does not act on is still
        # delivered (a 400 would make the transmitter retry it forever): taken, counted, logged.
        logger.info(
            "jwtguard: SET %s of an event type jwtguard does not act on (%s): ignored", _shown(event.jti), _shown(name)
        )
        return Accepted("ignored", name)
    if action in _STREAM:
        noted = yield Records(signals.note_stream(event.iss, _stream_fields(event, action), now=context.now))
        if isinstance(noted, StoreDown):
            return Unavailable("the store")
        if action == "verification":
            logger.info("jwtguard: SSF stream of %s verified (SET %s)", _shown(event.iss), _shown(event.jti))
        else:
            status = _shown(event.event.get("status"))
            logger.warning(
                "jwtguard: SSF stream of %s is now %s (SET %s)", _shown(event.iss), status, _shown(event.jti)
            )
        return Accepted("stream", name)
    target = resolve_target(event, context)
    if isinstance(target, SETError):
        return target
    done = yield Records(signals.seen(event.iss, event.jti))
    if isinstance(done, StoreDown):
        return Unavailable("the store")
    if done:
        return Accepted("duplicate", name)  # processed already: transmitters retry
    changed = yield Records(_apply(event, action, name, target, context))
    yield Forget(target.key)
    if isinstance(changed, StoreDown):
        return Unavailable("the store")
    logger.info("jwtguard: SET %s applied: %s for user %r", _shown(event.jti), name, target.user_id)
    return Accepted("applied", name)


def _apply(event: SecurityEvent, action: str, name: str, target: Target, context: Context) -> RecordFlow[bool]:
    """The event's change for *target* (see the module's table), then its ``jti`` noted."""
    settings, now, user_id = context.settings, context.now, target.user_id
    source = f"ssf:{name}"
    if target.jti is not None and action in _REVOKING:
        yield from signals.deny_token(
            target.iss,
            user_id,
            target.jti,
            expires=now + record_lifetime(settings),
            now=now,
            settings=settings,
            source=source,
        )
    elif action == "session" and target.sid is not None:
        yield from signals.end_provider_session(
            target.iss, target.sid, user_id, now=now, settings=settings, source=source
        )
    elif action in _REVOKING:
        yield from signals.cut_off(
            event.iss, user_id, event.at, unique=event.jti, now=now, settings=settings, source=source
        )
    else:
        enabled = action == "enabled"
        purged = action == "purged"
        yield from signals.set_account(
            event.iss,
            user_id,
            enabled=enabled,
            at=event.at,
            unique=event.jti,
            now=now,
            settings=settings,
            source=source,
            purged=purged,
        )
        if purged:
            yield from signals.cut_off(
                event.iss, user_id, event.at, unique=event.jti, now=now, settings=settings, source=source
            )
    noted: bool = yield from signals.mark_seen(event.iss, event.jti, now=now)
    return noted


def _stream_fields(event: SecurityEvent, action: str) -> dict[str, Any]:
    """What a stream event records: when the stream last verified (and its ``state``), or its status."""
    body = event.event
    if action == "verification":
        return {"verified_at": event.iat, "verification_jti": event.jti, "verification_state": _text(body.get("state"))}
    return {"status": _text(body.get("status")), "status_reason": _text(body.get("reason")), "status_at": event.iat}


def _text(value: object) -> str | None:
    return value[:_MAX_TEXT] if isinstance(value, str) else None


def _shown(value: object) -> str:
    """A SET's text as a log line shows it: at most 64 characters, printable ASCII (no forged lines)."""
    text = value[:64] if isinstance(value, str) else "-"
    return "".join(c if " " <= c <= "~" else "?" for c in text)


# -- the push endpoint -------------------------------------------------------------------------


def set_error(status: int, err: str, description: str, *headers: tuple[str, str]) -> Answer:
    """RFC 8935 §2.3: ``{"err", "description"}`` as ``application/json``."""
    return answer(status, {"err": err, "description": description}, *headers)


def _not_allowed() -> Answer:
    return set_error(405, "invalid_request", "use POST", ("allow", "POST"))


def _too_large() -> Answer:
    # RFC 8935 §2.3: a SET that cannot be parsed is a 400, and no SET is this large.
    return set_error(400, "invalid_request", "the body is larger than any SET (64 KiB)")


def _failed() -> Answer:
    return set_error(400, "invalid_request", "the SET could not be processed")


#: The translators' own refusals, in RFC 8935's shape.
REFUSALS: Final = Refusals(_not_allowed, _too_large, _failed)


def ssf_events(call: Call, context: Context) -> EndpointFlow:
    """The flow of one pushed SET (RFC 8935; see the module)."""
    settings = context.settings
    refused = _authorization(call, settings)
    if refused is not None:
        context.signals["ssf.refused.authorization"] += 1
        return refused
    if call.media_type != SET_MEDIA_TYPE:
        return set_error(400, "invalid_request", f"the body must be {SET_MEDIA_TYPE} (RFC 8935 §2)")
    try:
        token = call.body.decode("ascii").strip()
    except UnicodeDecodeError:
        token = ""
    if not token:
        return set_error(400, "invalid_request", "the body is no signed JWT (a compact JWS)")
    received = yield from receive(token, context)
    return push_answer(received, settings)


def push_answer(received: Received, settings: Settings) -> Answer:
    """RFC 8935 §2.2-§2.3: ``202`` (empty), ``400`` with the error, or ``503`` with ``Retry-After``.

    The 503 is "a general HTTP error condition" (§2.3): its status and ``Retry-After`` say it all,
    and its body is empty (RFC 8935 registers no ``err`` for an outage; an unregistered one could
    read, to a transmitter, as a SET refused for good).
    """
    if isinstance(received, Accepted):
        return answer(202)
    if isinstance(received, SETError):
        return set_error(400, received.err, received.description)
    return answer(503, None, ("retry-after", str(settings.retry_after)))


def _authorization(call: Call, settings: Settings) -> Answer | None:
    """``JWTGUARD_SSF_PUSH_AUTHORIZATION``, compared in constant time; the answer refusing the push, or None."""
    expected = settings.ssf_push_authorization
    if expected is None:
        return None
    given = call.headers.get("authorization", "")
    if not given:
        scheme = expected.partition(" ")[0] or "Bearer"
        return set_error(
            401,
            "authentication_failed",
            "the push carries no Authorization",
            ("www-authenticate", f'{scheme} realm="{settings.realm}"'),
        )
    if not hmac.compare_digest(_digest(given), _digest(expected)):
        return set_error(403, "access_denied", "the push's Authorization is not the configured one")
    return None


def _digest(value: str) -> bytes:
    # Digests of equal length: the comparison says nothing about the value's length either.
    return hashlib.sha256(value.encode("utf-8", "surrogatepass")).digest()
