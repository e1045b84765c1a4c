"""Why a token passes or fails: each check the guard makes, its verdict and a short detail.

``explain(token, settings, store)`` answers the operator's question "why was
this token refused?" without a debugger::

    for check, verdict, detail in explain(token, settings, store):
        print(f"{check:<12} {verdict:<5} {detail}")

The last row is the guard's own verdict: the same
:class:`~jwtguard.engine.Engine` flow the middleware runs, on the state read
here once, so the explanation cannot drift from the decision. The rows above
it judge each claim and stored value with the policy's own rules (the
engine's verifier, :func:`~jwtguard.userid.user_key`,
:func:`~jwtguard.sansio.claims.time_claim_fails`,
:func:`~jwtguard.sansio.state.user_state`,
:func:`~jwtguard.sansio.claims.is_stale`), adding only the details. Nothing
printed here holds the token, its signature, a key or a secret: details name
claims, times and stored states.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any, NamedTuple

import jwt

from .config import Settings
from .engine import Engine
from .errors import StoreError
from .invalidation import InvalidationBus
from .keys import KeySourceUnavailable
from .sansio.claims import (
    EARLIEST_DATE,
    LATEST_DATE,
    NOT_ACCESS_TOKEN_TYPES,
    ProviderSession,
    TokenType,
    Verified,
    is_access_token,
    is_stale,
    media_type,
    time_claim_fails,
)
from .sansio.decision import Decision
from .sansio.dpop import bound_key
from .sansio.policy import HEADER
from .sansio.request import Request
from .sansio.state import UserState, is_id, is_version, session_alive, user_state
from .sessions.signals import provider_session_ended
from .stores import Document, Store
from .stores.base import CUTOFF_RECORDS, UNREADABLE
from .userid import user_key

OK = "pass"
FAIL = "fail"
SKIP = "skip"
INFO = "info"
ERROR = "error"

#: Header parameters that jwtguard never uses to find or trust a key (RFC 8725 §3.10).
_IGNORED_HEADERS = ("jku", "x5u", "jwk", "x5c")


class Check(NamedTuple):
    """One line of an explanation: what was checked, the verdict, and why."""

    check: str
    verdict: str
    detail: str


def explain(token: str, settings: Settings, store: Store | None, *, now: float | None = None) -> list[Check]:
    """Every check the guard makes on *token*, in order, ending with its verdict.

    :param token: the compact JWT (a leading ``Bearer`` is accepted and dropped).
    :param settings: the guard's settings (keys, algorithms, claims, leeway).
    :param store: where user states live; None skips the user checks.
    :param now: wall-clock seconds, default ``time.time()``.

    Verdicts are ``pass``, ``fail``, ``skip`` (not reached, or not configured),
    ``info`` and ``error`` (the store could not answer). Claims of a token whose
    signature fails are still shown, marked "unverified"; its user is never
    looked up, as the guard never looks it up either. Never raises on any token:
    anyone can build an unsigned one, so a detail that cannot be rendered is a
    ``fail`` row naming the kind of problem, and the guard's own verdict follows.
    """
    now = time.time() if now is None else now
    token = token.strip()
    if token[:7].lower() == "bearer ":
        token = token[7:].strip()
    try:
        return _explain(token, settings, store, now)
    except Exception as exc:
        rows = [Check("explain", FAIL, f"this token cannot be explained further ({type(exc).__name__})")]
        rows.append(Check("verdict", *_final(_Replay.engine(settings, now), token)))
        return rows


def _explain(token: str, settings: Settings, store: Store | None, now: float) -> list[Check]:
    rows: list[Check] = []
    engine = _Replay.engine(settings, now)
    verifier = engine.verifier

    # -- header and algorithm ---------------------------------------------------
    try:
        header = jwt.get_unverified_header(token)
    except Exception as exc:
        rows.append(Check("header", FAIL, f"not a signed JWT ({_reason(exc, token)})"))
        rows.append(Check("verdict", *_final(engine, token)))
        return rows
    alg = header.get("alg")
    kid = header.get("kid")
    shown = ", ".join(f"{name}={_short(header[name])}" for name in ("alg", "typ", "kid") if name in header)
    ignored = [name for name in _IGNORED_HEADERS if name in header]
    if ignored:
        shown += f"; {', '.join(ignored)} present and ignored (keys come from configuration only)"
    if "crit" in header:
        rows.append(Check("header", FAIL, f"{shown}; 'crit' extensions are not supported (RFC 7515 §4.1.11)"))
    else:
        rows.append(Check("header", OK, shown or "no parameters"))
    allowed = ", ".join(settings.algorithms)
    if isinstance(alg, str) and alg in settings.algorithms:
        rows.append(Check("algorithm", OK, f"{alg} is allowed ({allowed})"))
    elif isinstance(alg, str) and alg.lower() == "none":
        rows.append(Check("algorithm", FAIL, f"unsigned tokens are never accepted (allowed: {allowed})"))
    else:
        rows.append(Check("algorithm", FAIL, f"{_short(alg)} is not in JWTGUARD_ALGORITHMS ({allowed})"))

    # -- signature, audience, issuer, required claims -----------------------------
    verified_header: Mapping[str, Any] = {}
    verified_claims: Mapping[str, Any] | None = None
    signature_ok = True
    try:
        verified_header, verified_claims = verifier.verify(token)
    except jwt.InvalidAudienceError as exc:
        rows.append(Check("signature", OK, _key_source(settings, alg)))
        rows.append(Check("audience", FAIL, f"{_reason(exc, token)}; accepted: {', '.join(settings.audience)}"))
    except jwt.InvalidIssuerError as exc:
        rows.append(Check("signature", OK, _key_source(settings, alg)))
        rows.append(Check("issuer", FAIL, f"{_reason(exc, token)}; required: {settings.issuer}"))
    except jwt.MissingRequiredClaimError as exc:
        rows.append(Check("signature", OK, _key_source(settings, alg)))
        rows.append(Check("claims", FAIL, f"the {exc.claim!r} claim is required (exp, iat, {settings.user_claim})"))
    except KeySourceUnavailable as exc:
        # Not a verdict on the token: the guard answers 503 until the JWKS can be read.
        rows.append(Check("signature", ERROR, f"not checked: {exc}"))
        signature_ok = False
    except Exception as exc:
        rows.append(Check("signature", FAIL, _reason(exc, token)))
        signature_ok = False
    else:
        rows.append(Check("signature", OK, _key_source(settings, alg, kid)))
        if settings.audience:
            rows.append(Check("audience", OK, f"one of {', '.join(settings.audience)}"))
        if settings.issuer:
            rows.append(Check("issuer", OK, settings.issuer))
        rows.append(_token_type_check(verified_header, verified_claims, engine.policy.token_type, settings))
        binding = _dpop_check(verified_claims)
        if binding is not None:
            rows.append(binding)

    claims = verified_claims
    mark = ""
    if claims is None:
        try:
            claims = jwt.decode(token, options={"verify_signature": False})
        except Exception:
            claims = None
        mark = "" if signature_ok else " (unverified)"

    # -- time claims and the user claim --------------------------------------------
    user_id: Any = None
    user_ok = False
    iat: float | None = None
    if claims is not None:
        rows += _time_checks(claims, now, settings.leeway, mark)
        iat = _number(claims.get("iat"))
        user_id = claims.get(settings.user_claim)
        user_ok = user_key(user_id, settings.user_id_type, settings.max_user_id_length) is not None
        if user_id is None:
            rows.append(Check("user claim", FAIL, f"no {settings.user_claim!r} claim{mark}"))
        elif user_ok:
            rows.append(Check("user claim", OK, f"{settings.user_claim} = {_short(user_id)}{mark}"))
        else:
            rows.append(
                Check(
                    "user claim",
                    FAIL,
                    f"{settings.user_claim} is a {type(user_id).__name__}: only a printable string of at most "
                    f"{settings.max_user_id_length} characters or a 64-bit integer reaches a query{mark}"
                    + (
                        f", mapped by JWTGUARD_USER_ID_TYPE={settings.user_id_type}"
                        if settings.user_id_type != "auto"
                        else ""
                    ),
                )
            )

    # -- the user's state ---------------------------------------------------------------
    replay = engine.store
    assert isinstance(replay, _Replay)
    if verified_claims is None:
        rows.append(Check("user state", SKIP, "not looked up: the guard only looks up users of verified tokens"))
    elif not user_ok:
        rows.append(Check("user state", SKIP, "not looked up: the user claim is not acceptable"))
    elif store is None:
        rows.append(Check("user state", SKIP, "no store given"))
    else:
        try:
            document = store.load(user_id)
        except StoreError as exc:
            replay.error = exc
            policy = settings.on_store_error
            rows.append(Check("user state", ERROR, f"{exc}; JWTGUARD_ON_STORE_ERROR={policy} decides"))
        else:
            replay.error, replay.document = None, document
            state = user_state(document, settings)
            rows += _state_checks(document, state, iat, settings)
            if state is not None and not state.malformed and verified_claims is not None:
                rows += _session_checks(verified_claims, state, now, settings)
                read = engine.policy.verified(verified_header, verified_claims)
                if isinstance(read, Verified) and read.provider_session is not None:
                    row = _provider_session_check(read.provider_session, store, replay, settings)
                    rows += [] if row is None else [row]
                else:
                    replay.session_error = None  # the engine looks no provider session up for it

    rows.append(Check("verdict", *_final(engine, token)))
    return rows


def format_report(rows: list[Check]) -> str:
    """The rows as aligned text, one check per line."""
    width = max((len(row.check) for row in rows), default=0)
    return "\n".join(f"{row.check:<{width}}  {row.verdict:<5}  {row.detail}" for row in rows)


def accepted(rows: list[Check]) -> bool:
    """True when the explanation's verdict is that the guard lets the token through."""
    return bool(rows) and rows[-1].check == "verdict" and rows[-1].verdict == OK


# -- pieces ------------------------------------------------------------------------------


def _time_checks(claims: Mapping[str, Any], now: float, leeway: float, mark: str) -> list[Check]:
    rows = []
    for name in ("exp", "nbf", "iat"):
        raw = claims.get(name)
        if raw is None:
            if name == "nbf":
                continue
            rows.append(Check(name, FAIL, f"missing: {name} is required{mark}"))
            continue
        value = _number(raw)
        if value is None:
            what = "not a date: outside the years 1 to 9999" if _is_number(raw) else "not a number"
            what += "" if _is_number(raw) else f" ({type(raw).__name__})"
            rows.append(Check(name, FAIL, f"{what}{mark}"))
            continue
        when = f"{_iso(value)} ({_relative(value - now)})"
        ok = not time_claim_fails(name, value, now, leeway)  # the policy's own rule
        if name == "exp":
            detail = f"expires {when}" if ok else f"expired {when}"
        elif name == "nbf":
            detail = f"valid from {when}" if ok else f"not valid before {when}"
        else:
            detail = f"issued {when}" if ok else f"issued in the future: {when}"
        if leeway:
            detail += f", leeway {leeway:g} s"
        rows.append(Check(name, OK if ok else FAIL, detail + mark))
    return rows


#: What each header type that is never an access token is (:data:`NOT_ACCESS_TOKEN_TYPES`).
_NOT_ACCESS_KINDS = {
    "logout+jwt": "a logout token (OpenID Connect Back-Channel Logout)",
    "secevent+jwt": "a security event token (RFC 8417)",
    "dpop+jwt": "a DPoP proof (RFC 9449)",
}
assert set(_NOT_ACCESS_KINDS) == NOT_ACCESS_TOKEN_TYPES


def _token_type_check(
    header: Mapping[str, Any], claims: Mapping[str, Any], rule: TokenType, settings: Settings
) -> Check:
    """The token-type row: the verdict is the policy's rule (:func:`is_access_token`), the detail says why."""
    setting = f"JWTGUARD_TOKEN_TYPE={settings.token_type}"
    if is_access_token(header, claims, rule):
        return Check("token type", OK, f"an access token ({setting})")
    typ = header.get("typ")
    if typ is not None and not isinstance(typ, str):
        return Check(
            "token type", FAIL, f"the header typ is a {type(typ).__name__}, not a media type (RFC 7515 §4.1.9)"
        )
    kind = _NOT_ACCESS_KINDS.get(media_type(typ)) if typ is not None else None
    if kind is not None:
        return Check("token type", FAIL, f"typ {_short(typ)}: {kind}, never an access token")
    if "events" in claims:
        return Check("token type", FAIL, "an events claim: a logout or security event token, never an access token")
    if rule.header is not None:
        shown = _short(typ) if typ is not None else "absent"
        return Check("token type", FAIL, f"{setting} needs the header typ at+jwt (RFC 9068 §2.1); it is {shown}")
    value = claims.get(rule.claim) if rule.claim is not None else None
    shown = _short(value) if value is not None else "absent"
    return Check("token type", FAIL, f"{setting} needs the claim {rule.claim} = {rule.value}; it is {shown}")


def _state_checks(
    document: Mapping[str, Any] | None, state: UserState | None, iat: float | None, settings: Settings
) -> list[Check]:
    if state is None:
        return [Check("user exists", FAIL, "no such user in the store: every token of it is refused")]
    rows = [Check("user exists", OK, f"found in {settings.users_collection}")]
    assert document is not None
    if UNREADABLE in document:
        detail = f"the stored document could not be decoded ({document[UNREADABLE]}): every token is refused"
        return [*rows, Check("user state", FAIL, detail)]
    field = settings.enabled_field
    if field not in document:
        rows.append(Check("user enabled", OK, f"no {field} field: enabled"))
    elif state.enabled:
        rows.append(Check("user enabled", OK, f"{field} = true"))
    else:
        rows.append(Check("user enabled", FAIL, f"{field} = {_short(document[field])}: disabled"))
    fields = ", ".join(settings.not_before_fields)
    if CUTOFF_RECORDS in document:
        fields += f" and {len(document[CUTOFF_RECORDS])} cut-off record(s) of jwtguard's"
    if state.malformed:
        rows.append(Check("not before", FAIL, f"an unreadable value in {fields}: every token is refused"))
    elif state.not_before is None:
        rows.append(Check("not before", OK, f"no cut-off set ({fields})"))
    elif iat is not None and is_stale(iat, state.not_before):
        rows.append(
            Check("not before", FAIL, f"issued {_iso(iat)}, before the cut-off {_iso(state.not_before)} ({fields})")
        )
    else:
        rows.append(Check("not before", OK, f"issued after the cut-off {_iso(state.not_before)} ({fields})"))
    return rows


def _session_checks(claims: Mapping[str, Any], state: UserState, now: float, settings: Settings) -> list[Check]:
    """The version, denylist and session rows (issue 10), by the rules of :meth:`Policy.decide`."""
    rows: list[Check] = []
    name = settings.version_claim
    version: Any = claims.get(name)
    if not is_version(version):
        pass  # no version claim: the not-before row above decides (a bad one refused the token as invalid)
    elif version < state.version:
        rows.append(Check("version", FAIL, f"{name} = {version}, below the user's version {state.version}"))
    else:
        rows.append(Check("version", OK, f"{name} = {version}; the user's version is {state.version}"))
    jti = claims.get("jti")
    if is_id(jti) and jti in state.denied:
        rows.append(Check("denylist", FAIL, f"jti {_short(jti)} is denied until the token expires"))
    elif state.denied:
        rows.append(Check("denylist", OK, f"not among the user's {len(state.denied)} denied token id(s)"))
    sid: Any = claims.get("sid")
    if not is_id(sid):
        return rows
    own = settings.sessions and claims.get("iss") == settings.issuer
    if sid in state.ended:
        rows.append(Check("session", FAIL, f"sid {_short(sid)} was ended"))
    elif (claims.get("iss"), sid) in state.provider_ended:
        rows.append(Check("session", FAIL, f"sid {_short(sid)} was ended by the identity provider"))
    elif own and not session_alive(state, sid, now):
        why = "no such session" if sid not in state.sessions else "ended by a newer cut-off or version, or lapsed"
        rows.append(Check("session", FAIL, f"jwtguard's session {_short(sid)}: {why}"))
    else:
        kind = "a live session of jwtguard's" if own else "not ended (another issuer's session)"
        rows.append(Check("session", OK, f"sid {_short(sid)}: {kind}"))
    return rows


def _dpop_check(claims: Mapping[str, Any]) -> Check | None:
    """The DPoP binding row (issue 13), for a token with a ``cnf``: as explain sends it (Bearer), a
    bound token is refused; with ``Authorization: DPoP`` and a proof of its key it may pass."""
    try:
        jkt = bound_key(claims)
    except ValueError:
        return Check("dpop", FAIL, "a cnf that is no DPoP binding (RFC 9449 §6.1): the token is invalid")
    if jkt is None:
        return None
    return Check(
        "dpop",
        INFO,
        f"bound to the key {_short(jkt)} (cnf.jkt): refused as Bearer (dpop_required), accepted only with "
        "Authorization: DPoP and a proof of that key (RFC 9449 §7.1)",
    )


def _provider_session_check(
    session: ProviderSession, store: Store, replay: _Replay, settings: Settings
) -> Check | None:
    """The row of another issuer's session (the policy's ``Verified.provider_session``) ended by a
    logout token naming its sid alone (issue 12), read once from *store* and handed to the engine's
    own lookup through *replay*."""
    run = getattr(store, "run", None)
    if run is None:
        replay.session_error = None  # a store of the app's own keeps no records: nothing ended there
        return None
    try:
        ended = bool(run(provider_session_ended(*session)))
    except StoreError as exc:
        replay.session_error = exc
        return Check("provider session", ERROR, f"{exc}; JWTGUARD_ON_STORE_ERROR={settings.on_store_error} decides")
    replay.session_error, replay.ended = None, ended
    if ended:
        return Check("provider session", FAIL, f"sid {_short(session.sid)} was ended by a logout token naming only it")
    return Check("provider session", OK, f"sid {_short(session.sid)}: no logout token ended it")


class _NotRead(StoreError):
    """The user's state was not read by explain (no store, or the claim names nobody)."""


class _Replay:
    """A store that answers the engine with what explain already read (the store is read once)."""

    def __init__(self) -> None:
        self.document: Document | None = None
        self.error: StoreError | None = _NotRead("not read")
        self.asked = False
        #: The provider session's answer (issue 12), as explain read it.
        self.ended = False
        self.session_error: StoreError | None = _NotRead("not read")

    @staticmethod
    def engine(settings: Settings, now: float) -> Engine:
        # A bus of its own: an explanation's cache never hears of (or holds up) admin changes.
        # The token is judged, not how it travelled: in cookie mode it is read as a Bearer token
        # (same checks, same verdict; the CSRF checks are the request's, not the token's).
        if settings.token_location != HEADER:
            settings = settings.replace(token_location=HEADER)
        return Engine(settings, store=_Replay(), clock=lambda: now, bus=InvalidationBus())

    def load(self, user_id: object) -> Document | None:
        self.asked = True
        if self.error is not None:
            raise self.error
        return self.document

    def run(self, flow: Any) -> bool:
        """The engine's one records flow here: the provider-session lookup, answered as read."""
        flow.close()
        if self.session_error is not None:
            raise self.session_error
        return self.ended

    def apply(self, user_id: object, change: object) -> bool:
        raise NotImplementedError("explain never writes")

    def close(self) -> None:
        pass


#: A request no exemption can match (paths start with "/", methods are tokens):
#: the engine judges exactly the token.
_NEVER_EXEMPT = ("", "")


def _final(engine: Engine, token: str) -> tuple[str, str]:
    """The middleware's own answer: the engine's flow on this token (the store was read once, above)."""
    replay = engine.store
    assert isinstance(replay, _Replay)
    decision = engine.handle(Request(*_NEVER_EXEMPT, (f"Bearer {token}",)))
    if replay.asked and isinstance(replay.error, _NotRead):
        return INFO, "the token checks out; the answer depends on the user's state, which was not read"
    if decision.kind == "refuse":
        return FAIL, _answer(decision)
    return OK, "accepted: the request reaches the app (X-User-Enabled: true)"


def _answer(decision: Decision) -> str:
    text = f"{decision.status} {decision.reason}"
    if decision.user_enabled is not None:
        text += f" (X-User-Enabled: {'true' if decision.user_enabled else 'false'})"
    return text


def _key_source(settings: Settings, alg: object, kid: object = None) -> str:
    if alg in settings.hmac_algorithms:
        return f"verified with JWTGUARD_SECRET ({alg})"
    if settings.jwks_url and not settings.public_key:
        return f"verified with the JWTGUARD_JWKS_URL key kid={_short(kid)} bound to {alg}"
    return f"verified with the public key ({alg})"


def _reason(exc: Exception, token: str) -> str:
    """The exception's kind and message, unless the message repeats any part of the token."""
    message = str(exc)
    parts = [part for part in token.split(".") if len(part) >= 8]
    if not message or any(part in message for part in parts) or len(message) > 200:
        return type(exc).__name__
    return f"{type(exc).__name__}: {message}"


def _number(value: object) -> float | None:
    """A time claim as the guard reads it: an int stays an int (its resolution decides
    :func:`~jwtguard.sansio.claims.is_stale`); None for what is no date at all, which no
    datetime can represent included (an int of hundreds of digits, NaN, -10^18)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not EARLIEST_DATE <= value <= LATEST_DATE:
        return None
    return value


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _iso(seconds: float) -> str:
    try:
        return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        return f"{seconds:g} (out of range)"


def _relative(delta: float) -> str:
    size = abs(delta)
    if size < 120:
        amount = f"{size:.0f} s"
    elif size < 7200:
        amount = f"{size / 60:.0f} min"
    elif size < 172800:
        amount = f"{size / 3600:.0f} h"
    else:
        amount = f"{size / 86400:.0f} days"
    return f"in {amount}" if delta >= 0 else f"{amount} ago"


def _short(value: object, limit: int = 64) -> str:
    text = repr(value) if not isinstance(value, str) else value
    text = text if text.isprintable() else repr(text)
    return text if len(text) <= limit else text[: limit - 3] + "..."
