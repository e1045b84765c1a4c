"""The rules, in the order the engine applies them: each a function of values.

:class:`Policy` is built once from the settings; every answer that does not
depend on the request is built then. It never locks, caches, reads a clock
or does I/O: the engine (:mod:`jwtguard.engine`) feeds it what it looked up.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from ..config import Settings
from ..userid import user_key
from .claims import Verified, freeze, is_stale, time_claim, time_reason
from .credentials import NoToken, bearer_token
from .decision import EXEMPT, RAW_SIGNAL, REASONS, SIGNAL, Decision, refusal
from .request import Request
from .state import UserState

#: ``JWTGUARD_ON_STORE_ERROR`` values.
REJECT: Final = "reject"
STALE: Final = "stale"
ALLOW: Final = "allow"


class Policy:
    """Which requests pass, and the exact answer to those that don't.

    :param settings: the validated settings; nothing else is read.

    ``refusals[reason]`` holds the prebuilt answer for every reason of
    :data:`~jwtguard.sansio.decision.REASONS`.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.leeway = settings.leeway
        self.max_header = settings.max_header_bytes
        self._user_claim = settings.user_claim
        self._id_type = settings.user_id_type
        self._max_user_id = settings.max_user_id_length
        self._max_lifetime = settings.max_token_lifetime
        self._exempt_methods = frozenset(settings.exempt_methods)
        # "/login" exempts "/login" and "/login/..."; "/static/" exempts what is under it.
        self._exempt_exact = frozenset(p for p in settings.exempt_paths if p == "/" or not p.endswith("/"))
        self._exempt_prefixes = tuple(p if p.endswith("/") else p + "/" for p in settings.exempt_paths if p != "/")
        self.refusals: dict[str, Decision] = {
            name: refusal(
                name,
                realm=settings.realm,
                retry_after=settings.retry_after,
                clear_site_data=settings.clear_site_data,
            )
            for name in REASONS
        }
        self._on_store_error = settings.on_store_error

    # -- the request --------------------------------------------------------------------

    def exempt(self, method: str, path: str, preflight: bool = False) -> bool:
        """True for requests that pass untouched: CORS preflights, exempt methods and paths.

        *path* is the path as the wrapped app routes it (:class:`Request`).
        """
        if preflight or method in self._exempt_methods:
            return True
        if path in self._exempt_exact:
            return True
        if self._exempt_prefixes and path.startswith(self._exempt_prefixes):
            # "/static/../api" must not ride on the "/static/" exemption.
            return "/." not in path or not any(seg in (".", "..") for seg in path.split("/"))
        return False

    def screen(self, request: Request) -> str | Decision:
        """The request's Bearer token, or its final decision (exempt, or refused before any lookup)."""
        method = request.method
        if self.exempt(method, request.path, method == "OPTIONS" and request.preflight):
            return EXEMPT
        token = bearer_token(request.authorization, self.max_header)
        if isinstance(token, NoToken):
            return self.refusals[token.reason]
        return token

    # -- the token ----------------------------------------------------------------------

    def verified(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> Verified | Decision:
        """What jwtguard reads from a token whose signature, audience and issuer checked out.

        Refused as ``invalid``: a ``crit`` header (RFC 7515 §4.1.11: no
        extension is implemented), a user claim that names nobody under
        ``JWTGUARD_USER_ID_TYPE`` (checked before it can reach a query), time
        claims that are not dates, ``exp - iat`` above ``JWTGUARD_MAX_TOKEN_LIFETIME``.
        Raises only for claims a verifier should never hand over (callers map
        every exception to ``invalid``).
        """
        invalid = self.refusals["invalid"]
        if "crit" in header:
            return invalid
        user_id = claims.get(self._user_claim)
        key = user_key(user_id, self._id_type, self._max_user_id)
        if key is None:
            return invalid
        try:
            iat = time_claim(claims, "iat")
            exp = time_claim(claims, "exp")
            nbf = time_claim(claims, "nbf")
        except ValueError:
            return invalid
        if iat is None or exp is None:
            return invalid
        if self._max_lifetime is not None and exp - iat > self._max_lifetime:
            return invalid
        frozen = freeze(claims)
        assert isinstance(user_id, (str, int))  # user_key admits nothing else
        accept = Decision("accept", "accepted", None, SIGNAL, RAW_SIGNAL, b"", True, frozen, user_id)
        return Verified(frozen, user_id, iat, exp, nbf, key, accept)

    def times(self, verified: Verified, now: float) -> Decision | None:
        """The refusal of a token whose time claims fail at *now*, or None (every request)."""
        reason = time_reason(verified, now, self.leeway)
        return None if reason is None else self.refusals[reason]

    # -- the user -----------------------------------------------------------------------

    def decide(self, verified: Verified, state: UserState | None) -> Decision:
        """The verdict on a verified, timely token given its user's state."""
        if state is None:
            return self.refusals["unknown_user"]
        if state.malformed:
            return self.refusals["revoked"]
        if not state.enabled:
            return self.refusals["disabled"]
        if state.not_before is not None and is_stale(verified.iat, state.not_before):
            return self.refusals["revoked"]
        assert verified.accept is not None
        return verified.accept

    def store_error(self, verified: Verified, known: tuple[UserState | None, float] | None) -> Decision:
        """The verdict when the store could not answer, by ``JWTGUARD_ON_STORE_ERROR``.

        *known* is the state this process last read for the user and its age,
        when younger than ``JWTGUARD_STALE_MAX_AGE`` (the engine's cache says).
        ``reject``: 503. ``stale``: the verdict on *known*, else 503.
        ``allow``: accept (unsafe; warned at start-up).
        """
        if self._on_store_error == ALLOW:
            assert verified.accept is not None
            return verified.accept
        if self._on_store_error == STALE and known is not None:
            return self.decide(verified, known[0])
        return self.refusals["store_unavailable"]
