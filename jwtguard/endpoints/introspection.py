"""``POST /oauth/introspect``: OAuth 2.0 Token Introspection (RFC 7662), the guard's own verdict.

A gateway that cannot revoke JWTs itself (Envoy, Kong, Oathkeeper) asks here whether a token
would pass the guard now: the same checks, the same user state and the same caches as a
request carrying it (signature, audience, issuer, time claims, token type, cut-offs, versions,
sessions, denylist, the enabled switch).

The RFC's MUSTs and SHOULDs this covers (tests in ``tests/test_endpoints.py`` name them):

- §2.1: the caller is authenticated (``JWTGUARD_ENDPOINT_CLIENTS``, grant ``introspect``),
  else ``401 invalid_client``; a form with ``token`` (else ``400 invalid_request``);
  ``token_type_hint`` may be ignored (it is).
- §2.2: ``active`` is always present; for a token that is expired, revoked, of a disabled or
  unknown user, of an ended session, not verifiable, or no access token, the answer is
  ``{"active": false}`` and nothing else (§2.2: "SHOULD NOT include any additional
  information about an inactive token"); for an active one the standard members the token
  has (``scope``, ``client_id``, ``username``, ``token_type``, ``exp``, ``iat``, ``nbf``,
  ``sub``, ``aud``, ``iss``, ``jti``), and ``token_type`` ``Bearer``; a DPoP-bound token is ``DPoP``
  with its ``cnf`` (RFC 9449 §6.2).
- §4: ``Cache-Control: no-store`` on every answer.
- Not in the RFC, by design: when the store or the key set cannot answer, ``503`` with
  ``Retry-After``, never ``active: false`` (a gateway would log people out over an outage).

jwtguard's own refresh tokens are opaque to the guard: introspecting one answers whether it can
still be spent (``token_type`` ``refresh_token``, its ``sub`` and ``exp``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..sansio.dpop import bound_key
from ..sessions import flows
from .base import (
    Answer,
    Call,
    Context,
    EndpointFlow,
    Judge,
    Records,
    StoreDown,
    answer,
    token_request,
    unavailable,
)

PATH = "/oauth/introspect"

INACTIVE: Final = {"active": False}

#: RFC 7662 §2.2's members, copied from an active token when it has them (of JSON's types).
_MEMBERS: Final = ("scope", "client_id", "username", "exp", "iat", "nbf", "sub", "aud", "iss", "jti")

#: The guard's refusals that are no verdict on the token: answered 503.
_OUTAGES: Final = frozenset({"store_unavailable", "key_source_unavailable"})


def introspect(call: Call, context: Context) -> EndpointFlow:
    """The flow of one introspection request (see the module)."""
    settings = context.settings
    request = yield from token_request(call, "introspect", settings)
    if isinstance(request, Answer):
        return request
    token, _ = request
    if "." not in token:  # no JWT: perhaps one of jwtguard's refresh tokens
        status = yield Records(flows.refresh_status(token, now=context.now, settings=settings))
        if isinstance(status, StoreDown):
            return unavailable(settings, "the store")
        if status is None:
            return answer(200, INACTIVE)
        user_id, expires = status
        return answer(200, {"active": True, "token_type": "refresh_token", "sub": str(user_id), "exp": int(expires)})
    decision = yield Judge(token)
    if decision.reason in _OUTAGES:
        return unavailable(settings, "the store" if decision.reason == "store_unavailable" else "the key set")
    if decision.kind != "accept" or decision.claims is None:
        return answer(200, INACTIVE)
    return answer(200, active(decision.claims))


def active(claims: Mapping[str, Any]) -> dict[str, Any]:
    """RFC 7662 §2.2's answer for an active token with these claims."""
    document: dict[str, Any] = {"active": True}
    for name in _MEMBERS:
        value = claims.get(name)
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            document[name] = value
        elif name == "aud" and isinstance(value, (list, tuple)) and all(isinstance(item, str) for item in value):
            document[name] = list(value)
    if "client_id" not in document and isinstance(claims.get("azp"), str):
        document["client_id"] = claims["azp"]  # OpenID Connect's authorized party
    if "username" not in document and isinstance(claims.get("preferred_username"), str):
        document["username"] = claims["preferred_username"]
    # RFC 9449 §6.2: a DPoP-bound token's key, and its type (§7.1's scheme). The guard accepted the
    # token, so its cnf reads (Policy.verified refuses one that does not).
    jkt = bound_key(claims)
    if jkt is not None:
        document["cnf"] = {"jkt": jkt}
    document["token_type"] = "Bearer" if jkt is None else "DPoP"
    return document
