"""``POST /oidc/backchannel-logout``: OpenID Connect Back-Channel Logout 1.0, as the relying party.

The identity provider (Keycloak, Okta, Auth0, authentik, ...) POSTs a signed *logout token*
when a person logs out there, or an admin ends their session. jwtguard turns it into the state
the guard already enforces, within the propagation bound (:mod:`jwtguard.feed`):

- with a ``sid``: that provider session ``(iss, sid)`` ends, and every access token carrying
  that ``sid`` is refused (``session_revoked``); the user's other sessions live on;
- with a ``sub`` alone: every token of that user issued before the logout token's ``iat`` dies;
- with a ``sid`` and no ``sub`` (§2.4 allows it): that provider session ends, recorded under
  ``(iss, sid)`` alone; the guard looks the session of every other issuer's token that carries
  a ``sid`` up by that key (cached like a user's state, evicted by the feed's event for it).

Settings: ``JWTGUARD_ISSUER`` (the provider's issuer), ``JWTGUARD_JWKS_URL`` (its keys, as for
its access tokens), ``JWTGUARD_OIDC_CLIENT_ID`` (this app's client id: the logout token's
``aud``), ``JWTGUARD_LOGOUT_TOKEN_MAX_AGE`` and ``JWTGUARD_LEEWAY``.

What the specification requires, and where (tests in ``tests/test_endpoints.py`` name them):

- §2.5: a POST of a form with ``logout_token``.
- §2.6 1–3: the token is signed (a JWE or ``alg: none`` is refused), with a key of the
  provider's JWKS, its ``alg`` allow-listed (``JWTGUARD_ALGORITHMS``).
- §2.6 4: ``iss`` is ``JWTGUARD_ISSUER``; ``aud`` holds ``JWTGUARD_OIDC_CLIENT_ID``; ``iat``
  is no later than now (plus the leeway) and no older than ``JWTGUARD_LOGOUT_TOKEN_MAX_AGE``;
  ``exp`` (§2.4: required) has not passed.
- §2.4: ``jti`` present; the header's ``typ``, when present, is ``logout+jwt`` (or ``JWT``,
  which providers written before §2.4 recommended it send).
- §2.6 5: a ``sub``, a ``sid``, or both. With both, only that session ends (§2.7).
- §2.6 6: ``events`` is an object with the member
  ``http://schemas.openid.net/event/backchannel-logout``, whose value is an object.
- §2.6 7: no ``nonce``.
- §2.6 8: a ``jti`` already processed answers ``200`` and changes nothing (providers retry).
- §2.8: ``200`` on success; ``400`` with ``{"error": "invalid_request"}`` when validation or
  the logout fails; ``Cache-Control: no-store`` on every answer. When the store cannot be
  written: ``503`` with ``Retry-After`` (the provider may retry; a ``400`` would read as a
  logout that can never succeed).

A ``sub`` that names no user here (:class:`~jwtguard.endpoints.subjects.Subject` resolver) is
refused with ``400`` and a description, so the provider reports the failure.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final, NamedTuple

from ..sansio.claims import ProviderSession, media_type, time_claim
from ..sansio.state import is_id
from ..sessions import signals
from ..stores.records import RecordFlow
from ..userid import UserId, user_key
from .base import (
    Answer,
    Call,
    Context,
    EndpointFlow,
    Forget,
    KeysUnavailable,
    Records,
    StoreDown,
    Verify,
    answer,
    oauth_error,
    read_form,
    unavailable,
)
from .subjects import Subject

PATH = "/oidc/backchannel-logout"

logger = logging.getLogger("jwtguard")

#: §2.4: the event a logout token carries.
BACKCHANNEL_EVENT: Final = "http://schemas.openid.net/event/backchannel-logout"
#: §2.4: the ``typ`` a logout token should carry; ``jwt`` as providers written before it send.
_TYPES: Final = frozenset({"logout+jwt", "jwt"})


class LogoutToken(NamedTuple):
    """A logout token that passed §2.6's checks: whom it logs out."""

    iss: str
    jti: str
    iat: float
    sub: str | None
    sid: str | None


def read_logout_token(header: Mapping[str, Any], claims: Mapping[str, Any], context: Context) -> LogoutToken | str:
    """§2.4 and §2.6 on a logout token whose signature checked out: the token, or why it is refused.

    Pure: the time is the context's, nothing is looked up.
    """
    settings = context.settings
    typ = header.get("typ")
    if typ is not None and (not isinstance(typ, str) or media_type(typ) not in _TYPES):
        return "typ must be logout+jwt"
    iss = claims.get("iss")
    if settings.issuer is None or iss != settings.issuer:
        return "iss is not the configured issuer"
    client_id = settings.oidc_client_id
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud
    if client_id is None or not isinstance(audiences, list) or client_id not in audiences:
        return "aud does not name this client"
    try:
        iat, exp = time_claim(claims, "iat"), time_claim(claims, "exp")
    except ValueError:
        return "iat and exp must be NumericDates"
    now, leeway = context.now, settings.leeway
    if iat is None or exp is None:
        return "iat and exp are required"
    if iat > now + leeway or iat < now - settings.logout_token_max_age - leeway:
        return "iat is out of range"
    if exp <= now - leeway:
        return "the logout token has expired"
    jti = claims.get("jti")
    if not is_id(jti):
        return "jti is required"
    events = claims.get("events")
    if not isinstance(events, Mapping) or not isinstance(events.get(BACKCHANNEL_EVENT), Mapping):
        return "events must hold the back-channel logout event"
    if "nonce" in claims:
        return "a logout token carries no nonce"
    sub, sid = claims.get("sub"), claims.get("sid")
    if sub is not None and not is_id(sub):
        return "sub must be a string"
    if sid is not None and not is_id(sid):
        return "sid must be a string"
    if sub is None and sid is None:
        return "sub or sid is required"
    assert isinstance(iss, str) and isinstance(jti, str)
    return LogoutToken(iss, jti, iat, sub, sid)


def refused(description: str) -> Answer:
    """§2.8: ``400 {"error": "invalid_request"}``."""
    return oauth_error(400, "invalid_request", description)


def backchannel_logout(call: Call, context: Context) -> EndpointFlow:
    """The flow of one logout request (see the module)."""
    settings = context.settings
    form = read_form(call)
    if isinstance(form, Answer):
        return form
    token = form.get("logout_token")
    if not token:
        return refused("the logout_token parameter is required")
    if settings.oidc_client_id is None:
        return refused("back-channel logout is not configured (JWTGUARD_OIDC_CLIENT_ID)")
    checked = yield Verify(token)
    if isinstance(checked, KeysUnavailable):
        return unavailable(settings, "the key set")
    if checked is None:
        return refused("the logout token does not verify")
    header, claims = checked
    logout = read_logout_token(header, claims, context)
    if isinstance(logout, str):
        return refused(logout)
    user_id, key = None, None
    if logout.sub is not None:
        user_id = context.resolve(Subject("iss_sub", {"iss": logout.iss, "sub": logout.sub}))
        key = None if user_id is None else user_key(user_id, settings.user_id_type, settings.max_user_id_length)
        if user_id is None or key is None:
            return refused("the logout token's sub names no user here")
    done = yield Records(signals.seen(logout.iss, logout.jti))
    if isinstance(done, StoreDown):
        return unavailable(settings, "the store")
    if done:
        return answer(200)  # §2.6 8: processed already; providers retry
    changed = yield Records(_logout(logout, user_id, context))
    session = None if logout.sid is None else ProviderSession(logout.iss, logout.sid)
    yield Forget(key, session)
    if isinstance(changed, StoreDown):
        return unavailable(settings, "the store")
    if user_id is None:
        logger.info("jwtguard: back-channel logout from %s: session %s ended", logout.iss, logout.sid)
    elif logout.sid is not None:
        logger.info(
            "jwtguard: back-channel logout from %s: session %s of user %r ended", logout.iss, logout.sid, user_id
        )
    else:
        logger.info("jwtguard: back-channel logout from %s: every older token of user %r ended", logout.iss, user_id)
    return answer(200)


def _logout(logout: LogoutToken, user_id: UserId | None, context: Context) -> RecordFlow[bool]:
    """End the session (with ``sid``; *user_id* None when the token names no ``sub``) or every
    older token (``sub`` alone), then note the ``jti``."""
    settings, now = context.settings, context.now
    if logout.sid is not None:
        yield from signals.end_provider_session(
            logout.iss, logout.sid, user_id, now=now, settings=settings, source="backchannel-logout"
        )
    else:
        assert user_id is not None  # read_logout_token: a sub, a sid, or both
        yield from signals.cut_off(
            logout.iss, user_id, logout.iat, unique=logout.jti, now=now, settings=settings, source="backchannel-logout"
        )
    noted: bool = yield from signals.mark_seen(logout.iss, logout.jti, now=now)
    return noted
