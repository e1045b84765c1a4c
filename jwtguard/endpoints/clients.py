"""Clients that sign their calls: JWT client authentication (RFC 7523), for the ``clients=`` hook.

Two ways of presenting the same proof, both read here:

- ``private_key_jwt`` (RFC 7523 §2.2, OpenID Connect Core §9): the form parameters
  ``client_assertion_type=urn:ietf:params:oauth:client-assertion-type:jwt-bearer`` and
  ``client_assertion=<JWT>`` (revocation, introspection);
- ``Authorization: Bearer <JWT>``: how Okta's Universal Logout calls global token revocation,
  whose body is JSON.

The JWT's checks, RFC 7523 §3: ``iss`` and ``sub`` are the client's id (§3 items 1, 2: "for client
authentication, the subject MUST be the client_id"); ``aud`` names this server (§3 item 3: the
*audience* given here, e.g. the endpoint's URL); ``exp`` is present and has not passed (§3 item 4),
and lies at most *max_lifetime* ahead; ``nbf``, when present, has passed; the signature checks
out with the client's own keys (a JWKS URL or PEM public keys; §3 item 9), its ``alg`` from the
client's allow-list. A ``jti`` is used once (§3 item 7's replay defence) within this process: a
replay cache per process, bounded by *max_lifetime* (a worker that did not see the first use
accepts a replay within that window; keep *max_lifetime* short).

Combine it with HTTP Basic clients: ``clients=either(BasicClients(settings), SignedClients(...))``.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from ..config import Settings
from ..tokens import TokenVerifier, read_compact
from .base import Authenticator, Call, Client

#: RFC 7523 §2.2.
JWT_BEARER: Final = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
#: Longest assertion read (a signed JWT of a few claims is well under 1 KiB).
MAX_ASSERTION: Final = 8192
#: Most replay-cache entries kept; beyond it every assertion is refused until old ones expire.
MAX_SEEN: Final = 100_000


@dataclass(frozen=True, slots=True)
class SignedClient:
    """A client that signs JWTs: its id, what it may call, and its public keys.

    :param keys: a JWKS URL (``https://...``) or PEM public keys.
    :param algorithms: the algorithms its assertions may use (asymmetric only).
    """

    id: str
    grants: frozenset[str]
    keys: str
    algorithms: tuple[str, ...] = ("RS256", "ES256")


class SignedClients:
    """The ``clients=`` hook for JWT-authenticated clients (see the module).

    :param clients: the clients.
    :param audience: what the assertions' ``aud`` must name (one value, or any of several).
    :param leeway: seconds of clock skew allowed.
    :param max_lifetime: the farthest ``exp`` ahead accepted, in seconds (and the replay window).
    """

    #: A JWKS may be read: the async driver calls it in a worker thread.
    needs_io = True

    def __init__(
        self,
        clients: Iterable[SignedClient],
        *,
        audience: str | Iterable[str],
        leeway: float = 30.0,
        max_lifetime: float = 300.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._audience = frozenset([audience] if isinstance(audience, str) else audience)
        if not self._audience:
            raise ValueError("audience names no value")
        self._leeway, self._max_lifetime, self._clock = leeway, max_lifetime, clock
        self._clients: dict[str, tuple[SignedClient, TokenVerifier]] = {}
        for client in clients:
            if any(name.startswith("HS") for name in client.algorithms):
                raise ValueError(f"client {client.id!r}: only asymmetric algorithms sign assertions")
            if client.keys.startswith(("https://", "http://")):
                keys = Settings(algorithms=client.algorithms, jwks_url=client.keys)
            else:
                keys = Settings(algorithms=client.algorithms, public_key=client.keys)
            self._clients[client.id] = (client, TokenVerifier(keys))
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def __call__(self, call: Call, form: Mapping[str, str] | None) -> Client | None:
        assertion = _assertion(call, form)
        if assertion is None or len(assertion) > MAX_ASSERTION:
            return None
        try:
            payload = json.loads(read_compact(assertion)[1])
        except Exception:
            return None
        issuer = payload.get("iss") if isinstance(payload, dict) else None
        known = self._clients.get(issuer) if isinstance(issuer, str) else None
        if known is None:
            return None
        client, verifier = known
        try:
            _, claims = verifier.signed(assertion)
        except Exception:  # a bad signature, an unknown key, an unreadable key set: no client
            return None
        if not self._valid(client.id, claims):
            return None
        return Client(client.id, client.grants)

    def _valid(self, client_id: str, claims: Mapping[str, Any]) -> bool:
        now = self._clock()
        if claims.get("iss") != client_id or claims.get("sub") != client_id:
            return False
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud
        if not isinstance(audiences, list) or not self._audience.intersection(
            a for a in audiences if isinstance(a, str)
        ):
            return False
        exp, nbf = _number(claims.get("exp")), claims.get("nbf")
        if exp is None or exp <= now - self._leeway or exp > now + self._max_lifetime + self._leeway:
            return False
        if nbf is not None and ((start := _number(nbf)) is None or start > now + self._leeway):
            return False
        jti = claims.get("jti")
        if jti is None:
            return True
        if not isinstance(jti, str) or not 0 < len(jti) <= 256:
            return False
        return self._first_use(f"{client_id}\0{jti}", exp + self._leeway, now)

    def _first_use(self, key: str, until: float, now: float) -> bool:
        with self._lock:
            if len(self._seen) >= MAX_SEEN:
                for old in [k for k, expires in self._seen.items() if expires <= now]:
                    del self._seen[old]
            if key in self._seen and self._seen[key] > now:
                return False
            if len(self._seen) >= MAX_SEEN:
                return False  # full of live entries: refuse rather than forget one
            self._seen[key] = until
            return True


def _number(value: object) -> float | None:
    """A NumericDate (RFC 7519 §2) as a float, or None."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float: no date
        return None
    return number if math.isfinite(number) else None


def _assertion(call: Call, form: Mapping[str, str] | None) -> str | None:
    if form is not None and "client_assertion" in form:
        if form.get("client_assertion_type") != JWT_BEARER:
            return None
        return form["client_assertion"]
    scheme, _, value = call.headers.get("authorization", "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def either(*hooks: Authenticator) -> Authenticator:
    """The first client any of *hooks* authenticates (Basic clients beside signed ones)."""
    io = any(getattr(hook, "needs_io", True) for hook in hooks)

    class _Either:
        needs_io = io

        def __call__(self, call: Call, form: Mapping[str, str] | None) -> Client | None:
            for hook in hooks:
                client = hook(call, form)
                if client is not None:
                    return client
            return None

    return _Either()
