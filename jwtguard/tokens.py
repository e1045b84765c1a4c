"""Token signatures with PyJWT: verification keys prepared once, and issuing.

Time claims are *not* checked here: :mod:`jwtguard.sansio.claims` checks them against an
injected clock, on every request, cached or not.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable, Mapping
from typing import Any

import jwt

from .config import Settings
from .errors import ConfigError
from .keyring import hmac_keys, signing_key, verification_keys
from .keys import KeySource

# PyJWT checks signature, audience and issuer; jwtguard checks the time claims
# itself, against its own clock, so cached verifications are re-checked too.
_DECODE_OPTIONS: Any = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": True,
    "verify_iss": True,
    "verify_sub": False,  # the user claim may be an integer; the policy checks its type
    "verify_jti": False,
    # RSA keys under 2048 bits are refused, never merely warned about (NIST SP 800-131A).
    "enforce_minimum_key_length": True,
}


class TokenVerifier:
    """Verifies a compact JWS with the configured keys and returns its claims.

    :param settings: algorithms, keys (``secrets``, ``public_keys`` or ``jwks_url``),
        audience and issuer.
    :param timer: monotonic seconds for the JWKS key source (tests pass a fake clock).

    Several configured keys (issue 10, key rotation) verify alike: a token whose ``kid``
    names one of them is checked with that key only; a token without a ``kid`` (issued
    before kids existed) or with one the guard does not know is tried against each key of
    its algorithm, in the configured order (at most ``MAX_KEYS``). An unknown kid is not
    refused outright: jwtguard's kids are derived from the keys, but an identity provider
    whose PEM public keys are configured here names its keys its own way, and such tokens
    verified before kids mattered. Trying costs one signature check per listed key, and a
    token that fails them all is refused ``invalid`` like any bad signature. With one key
    and no JWKS the header is not even parsed.

    Raises a :class:`jwt.PyJWTError` (or any other exception on hostile input),
    or :class:`~jwtguard.keys.KeySourceUnavailable` when the JWKS cannot be
    read; callers map every exception to a rejection. ``needs_io`` is true
    when keys come from a JWKS URL, whose reads (first use, lifespan, key
    rotation) go over HTTP.

    Security: with a JWKS, each key verifies only the algorithms it is bound
    to (its ``alg``, else those fitting its type and curve; RFC 8725 §3.1),
    and PyJWT checks the binding again (a :class:`jwt.PyJWK` is passed).
    """

    def __init__(self, settings: Settings, *, timer: Callable[[], float] = time.monotonic) -> None:
        self._algorithms = list(settings.algorithms)
        self._audience = list(settings.audience) or None
        self._issuer = settings.issuer
        self._require = sorted({"exp", "iat", settings.user_claim})
        self._jwt = jwt.PyJWT()
        #: For each algorithm with configured keys: the prepared keys in their configured order,
        #: and the same keys by kid. HMAC algorithms get only secrets and every other algorithm
        #: only public keys, so no key ever serves two families (RFC 8725 §3.1).
        self._keys: dict[str, tuple[Any, ...]] = {}
        self._by_kid: dict[str, dict[str, Any]] = {}
        for local in hmac_keys(settings) + verification_keys(settings):
            for name, prepared in local.prepared.items():
                self._keys[name] = (*self._keys.get(name, ()), prepared)
                self._by_kid.setdefault(name, {}).setdefault(local.kid, prepared)
        #: The JWKS, kept by jwtguard (see :mod:`jwtguard.keys`); None without JWTGUARD_JWKS_URL.
        self.key_source: KeySource | None = None
        if settings.jwks_url:
            self.key_source = KeySource(
                settings.jwks_url,
                algorithms=[name for name in settings.algorithms if name not in settings.hmac_algorithms],
                lifespan=settings.jwks_lifespan,
                stale_max_age=settings.stale_max_age,
                timeout=settings.store_timeout,
                retry_interval=settings.retry_after,
                timer=timer,
            )
        # One key for every allowed algorithm (the usual single-HS256 setup):
        # no need to read the header before decoding.
        only = next(iter(self._keys.values())) if len(self._keys) == 1 and self.key_source is None else ()
        self._single_key = only[0] if len(only) == 1 else None

    @property
    def needs_io(self) -> bool:
        """Whether verifying may read the JWKS over HTTP (the ASGI driver then verifies in a thread)."""
        return self.key_source is not None

    def verify(self, token: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        """Return ``(header, claims)`` of a token whose signature checks out."""
        if self._single_key is not None:
            return self._decode(token, self._single_key, self._algorithms)
        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if alg not in self._algorithms:
            raise jwt.InvalidAlgorithmError("algorithm not allowed")
        algorithms = [alg]
        keys = self._keys.get(alg)
        if keys is None:
            if self.key_source is None:
                raise jwt.InvalidKeyError("no key for algorithm")
            return self._decode(token, self.key_source.key(header.get("kid"), alg), algorithms)
        kid = header.get("kid")
        named = self._by_kid[alg].get(kid) if isinstance(kid, str) else None
        if named is not None:
            return self._decode(token, named, algorithms)
        # No kid, or one of no configured key: each key of the algorithm, in order (see the class).
        for key in keys[:-1]:
            try:
                return self._decode(token, key, algorithms)
            except jwt.InvalidSignatureError:
                continue
        return self._decode(token, keys[-1], algorithms)

    def _decode(self, token: str, key: Any, algorithms: list[str]) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        decoded = self._jwt.decode_complete(
            token,
            key,
            algorithms=algorithms,
            options=_DECODE_OPTIONS,
            audience=self._audience,
            issuer=self._issuer,
        )
        decoded_claims = decoded["payload"]
        for claim in self._require:
            if decoded_claims.get(claim) is None:
                raise jwt.MissingRequiredClaimError(claim)
        return decoded["header"], decoded_claims


def now_iat(now: float | None = None) -> float:
    """An ``iat`` at millisecond resolution, rounded down.

    BSON dates keep milliseconds; :func:`jwtguard.admin.Admin.logout_everywhere`
    rounds its cut-off *up* to the millisecond and waits for it, so a token made
    here compares exactly against it: one made before the call dies, one made
    after it lives.
    """
    t = time.time() if now is None else now
    return math.floor(t * 1000) / 1000


def standard_subject(settings: Settings, user_id: str | int) -> str | int:
    """The value :func:`issue_token` writes in the user claim for *user_id* (issue 9: ``sub`` is a string).

    :raises ValueError: for an integer id in ``sub`` under ``JWTGUARD_USER_ID_TYPE=auto``, where
        its decimal string would name another user.
    """
    if settings.user_claim != "sub" or not isinstance(user_id, int) or isinstance(user_id, bool):
        return user_id
    if settings.user_id_type == "auto":
        raise ValueError(
            f"user id {user_id} is an integer, but the sub claim is a string (RFC 7519 §4.1.2) and under "
            f"JWTGUARD_USER_ID_TYPE=auto the guard reads {str(user_id)!r} as a string id, another user: "
            "set JWTGUARD_USER_ID_TYPE=int for integer user ids (or str), or pass the id as a string"
        )
    return str(user_id)


def issue_token(
    settings: Settings,
    user_id: str | int,
    *,
    ttl: float | None = None,
    algorithm: str | None = None,
    now: float | None = None,
    **claims: Any,
) -> str:
    """Sign a token for *user_id* with ``iat``, ``exp`` and a random ``jti``: signing only.

    Pure: no store is read or written and no cache is touched (the admin API's
    :meth:`jwtguard.admin.Admin.issue_token` does that work, then calls this).
    Signs with the first configured algorithm unless *algorithm* is given:
    HMAC with the first secret of ``JWTGUARD_SECRET``, any other algorithm with
    the first key of its type in ``JWTGUARD_PRIVATE_KEY(_FILE)``; the header's ``kid`` names
    that key (see :mod:`jwtguard.keyring`), so verifiers holding several keys
    pick it at once. *claims* are added to the payload and may override
    ``aud``/``iss`` (set from the settings when configured).

    issue 9: the standard ``sub`` claim is always a string (RFC 7519 §4.1.2;
    PyJWT and other services refuse an integer ``sub``): an integer *user_id*
    is written ``"42"``, which ``JWTGUARD_USER_ID_TYPE=int`` (or ``str``) maps
    back to the stored id. Under ``auto`` the guard would read ``"42"`` as the
    string id, another user, so an integer *user_id* is refused there
    (:class:`ValueError` naming the setting). A custom ``JWTGUARD_USER_CLAIM``
    carries the id as given, integers included.
    """
    if ttl is not None and not (isinstance(ttl, (int, float)) and 0 < ttl < float("inf")):
        raise ValueError("ttl must be a positive number of seconds")
    subject = standard_subject(settings, user_id)
    alg = algorithm or settings.algorithms[0]
    if alg not in settings.algorithms:
        raise ConfigError("JWTGUARD_ALGORITHMS", f"{alg} is not in the allow-list")
    signer = signing_key(settings, alg)
    iat = now_iat(now)
    payload: dict[str, Any] = {}
    if settings.audience:
        payload["aud"] = settings.audience[0] if len(settings.audience) == 1 else list(settings.audience)
    if settings.issuer:
        payload["iss"] = settings.issuer
    payload.update(claims)
    payload[settings.user_claim] = subject
    payload["iat"] = iat
    payload["exp"] = int(iat + (settings.token_ttl if ttl is None else ttl))
    payload.setdefault("jti", secrets.token_urlsafe(16))
    return jwt.encode(payload, signer.key, algorithm=alg, headers={"kid": signer.kid})
