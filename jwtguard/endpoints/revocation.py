"""``POST /oauth/revoke``: OAuth 2.0 Token Revocation (RFC 7009).

What it revokes: a refresh token of jwtguard's own sessions (its session ends, and the
session's access tokens with it), and any access token that verifies with the guard's keys and
carries a ``jti`` (jwtguard's own, or an identity provider's): that token is refused until its
own ``exp`` (the per-token denylist, in ``JWTGUARD_STATE_COLLECTION``).

The RFC's MUSTs and SHOULDs this covers (tests in ``tests/test_endpoints.py`` name them):

- §2.1: the client is authenticated (``JWTGUARD_ENDPOINT_CLIENTS``, grant ``revoke``); the
  request is a form with ``token``; ``token_type_hint`` is optional, and a value the server
  does not know is ignored (the token is looked up as either type).
- §2.2: ``200`` when the token was revoked, and also for a token that is invalid, unknown,
  expired or already revoked ("invalid tokens do not cause an error response"); the body is
  empty.
- §2.2.1: ``400 unsupported_token_type`` for a token it cannot revoke: a JWT that verifies but
  is no access token (an ID token under ``JWTGUARD_TOKEN_TYPE``, a logout token, a security
  event token), or an access token without a ``jti``, which no denylist can name (revoke its
  user's tokens with global token revocation instead); ``503`` with ``Retry-After`` when the
  store or the key set cannot be read (RFC 7009 §2.2.1 ``temporarily_unavailable``'s status).
- §5: errors carry no token; ``401 invalid_client`` with a ``Basic`` challenge (RFC 6749 §5.2).
"""

from __future__ import annotations

import logging

from ..sansio.claims import is_access_token
from ..sansio.decision import Decision
from ..sessions import flows, signals
from ..userid import user_key
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
    token_request,
    unavailable,
)

PATH = "/oauth/revoke"

logger = logging.getLogger("jwtguard")


def revoke(call: Call, context: Context) -> EndpointFlow:
    """The flow of one revocation request (see the module)."""
    settings = context.settings
    request = yield from token_request(call, "revoke", settings)
    if isinstance(request, Answer):
        return request
    token, client = request
    # token_type_hint (RFC 7009 §2.1) only says where to look first; both kinds are tried, so an
    # unknown or wrong hint changes nothing.
    if "." not in token:  # no JWT: perhaps one of jwtguard's refresh tokens
        ended = yield Records(flows.end_refresh_session(token, now=context.now, settings=settings))
        if isinstance(ended, StoreDown):
            return unavailable(settings, "the store")
        if ended is not None:
            yield Forget(user_key(ended, settings.user_id_type))
            logger.info("jwtguard: RFC 7009: client %s revoked a refresh token of user %r", client.id, ended)
        return answer(200)
    checked = yield Verify(token)
    if isinstance(checked, KeysUnavailable):
        return unavailable(settings, "the key set")
    if checked is None:
        return answer(200)  # not ours to judge, or already invalid: §2.2
    header, claims = checked
    if not is_access_token(header, claims, context.policy.token_type):
        return oauth_error(400, "unsupported_token_type", "this token is no access token")
    verified = context.policy.verified(header, claims)
    if isinstance(verified, Decision):
        return answer(200)  # a token the guard refuses anyway
    if verified.exp <= context.now:
        return answer(200)  # expired: nothing left to revoke
    if verified.jti is None:
        return oauth_error(
            400,
            "unsupported_token_type",
            "an access token without a jti cannot be revoked alone: revoke its user's tokens instead",
        )
    iss = claims.get("iss")
    denied = yield Records(
        signals.deny_token(
            iss if isinstance(iss, str) else "",
            verified.user_id,
            verified.jti,
            expires=verified.exp,
            now=context.now,
            settings=settings,
            source=f"rfc7009:{client.id}",
        )
    )
    yield Forget(verified.key)
    if isinstance(denied, StoreDown):
        return unavailable(settings, "the store")
    logger.info("jwtguard: RFC 7009: client %s revoked token %s of user %r", client.id, verified.jti, verified.user_id)
    return answer(200)
