"""Token signatures: verification and signing keys prepared once, a compact JWS read once.

Time claims are *not* checked here: :mod:`jwtguard.sansio.claims` checks them against an
injected clock, on every request, cached or not.

Why not ``jwt.decode``: PyJWT's generic path prepares the key again on every call (for an
HMAC secret that is a PEM, SSH, DER and JWK sniff, about as long as the rest of the decode),
merges its options dictionaries, and checks the base64url alphabet one character at a time in
Python; with several keys the header was decoded twice. :class:`TokenVerifier` reads the token
once (:func:`read_compact`, exactly as strictly as PyJWT 2.15 reads it, which a differential
test pins) and verifies with PyJWT's own algorithm objects and the keys prepared at start-up.
:func:`issue_token` likewise signs with keys prepared once (see :mod:`jwtguard.keyring`).
"""

from __future__ import annotations

import binascii
import json
import math
import re
import secrets
import time
import warnings
from calendar import timegm
from collections.abc import Callable, Collection, Mapping
from datetime import datetime
from typing import Any, Final, Protocol

import jwt
from jwt.warnings import InsecureKeyLengthWarning

from .config import Settings
from .errors import ConfigError
from .keyring import SignatureCheck, SigningKey, hmac_keys, signature_check, signing_key, verification_keys
from .keys import KeySource

#: A compact JWS (RFC 7515 §7.1) as PyJWT reads one: three base64url segments (RFC 4648 §5),
#: each with at most two "=" of padding at its end. Anything else (a fourth segment, "=" inside
#: a segment, "+" or "/", any non-ASCII character) is no token.
_COMPACT: Final = re.compile(r"([A-Za-z0-9_-]*)(={0,2})\.([A-Za-z0-9_-]*)(={0,2})\.([A-Za-z0-9_-]*)(={0,2})")

#: base64url to the standard alphabet, for :func:`binascii.a2b_base64`, and back.
_TO_STANDARD: Final = bytes.maketrans(b"-_", b"+/")
_TO_URLSAFE: Final = bytes.maketrans(b"+/", b"-_")

#: The last character of a segment whose length is 2 (or 3) modulo 4 carries 4 (or 2) bits that
#: decode to nothing; they must be zero, so each byte string has one encoding only (PyJWT
#: re-encodes and compares: GHSA-hxm8-2xgr-2p9m). The characters whose spare bits are zero:
_CANONICAL_LAST: Final = {2: frozenset(b"AQgw"), 3: frozenset(b"AEIMQUYcgkosw048")}
_PADDING: Final = (b"", b"", b"==", b"=")

_DECODER: Final = json.JSONDecoder()
#: What JSON skips around a value (RFC 8259 §2), as :mod:`json` does.
_JSON_WHITESPACE: Final = " \t\n\r"


def _segment(data: bytes, start: int, end: int, padding: int, name: str) -> bytes:
    """The bytes of the base64url segment ``data[start:end]``, followed by *padding* "=" in the token.

    The caller's regex has checked the alphabet and that at most two "=" follow.
    """
    size = end - start
    rest = size % 4
    # PyJWT: padding only to a whole quantum; never a lone sextet; no bits left over.
    if (padding and (size + padding) % 4) or rest == 1 or (rest and data[end - 1] not in _CANONICAL_LAST[rest]):
        raise jwt.DecodeError(f"Invalid {name} padding")
    return binascii.a2b_base64(data[start:end] + _PADDING[rest])


def _json_object(data: bytes, name: str) -> dict[str, Any]:
    """*data* parsed as PyJWT parses a header or payload (``json.loads`` on bytes): a JSON object."""
    try:
        if data[:1] == b"{" and data[1:2] != b"\0":
            # What json.loads(bytes) does for text that starts with "{" (its encoding sniff says
            # UTF-8 then, and no whitespace precedes the value), without the sniff and the
            # wrappers; anything else takes json.loads itself.
            text = data.decode("utf-8", "surrogatepass")
            value, end = _DECODER.raw_decode(text)
            if end != len(text) and text[end:].strip(_JSON_WHITESPACE):
                raise json.JSONDecodeError("Extra data", text, end)
        else:
            value = json.loads(data)
    except (ValueError, RecursionError) as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise jwt.DecodeError(f"Invalid {name} string: {type(exc).__name__}") from None
    if not isinstance(value, dict):
        raise jwt.DecodeError(f"Invalid {name} string: must be a json object")
    return value


def _check_crit(header: Mapping[str, Any]) -> None:
    """PyJWT's rule for ``crit`` (RFC 7515 §4.1.11): the only extension it knows is ``b64``."""
    crit = header["crit"]
    if not isinstance(crit, list) or not crit:
        raise jwt.InvalidTokenError("Invalid 'crit' header: must be a non-empty list")
    for extension in crit:
        if not isinstance(extension, str):
            raise jwt.InvalidTokenError("Invalid 'crit' header: values must be strings")
        if extension != "b64":
            raise jwt.InvalidTokenError("Unsupported critical extension")
        if extension not in header:
            raise jwt.InvalidTokenError("Critical extension is missing from headers")


def read_compact(token: str) -> tuple[dict[str, Any], bytes, bytes, bytes]:
    """``(header, payload, signing input, signature)`` of a compact JWS, nothing verified yet.

    As strict as PyJWT's reader: three segments of the base64url alphabet, canonical
    (:data:`_CANONICAL_LAST`), padding only at a segment's end and only to a whole quantum;
    a JSON object as header; ``kid``, when present, a string; ``crit`` as PyJWT checks it. A
    ``b64: false`` header (RFC 7797, an unencoded payload) is refused: jwtguard never has a
    detached payload to verify it with, and PyJWT refuses it too then.

    :raises jwt.DecodeError: or another :class:`jwt.InvalidTokenError`, naming what failed
        (never the token).
    """
    match = _COMPACT.fullmatch(token)
    if match is None:
        raise jwt.DecodeError("Not a compact JWS: three base64url segments")
    raw = token.encode("ascii")  # the regex admits nothing else
    data = raw.translate(_TO_STANDARD)
    span = match.span
    start, end = span(1)
    header = _json_object(_segment(data, start, end, span(2)[1] - end, "header"), "header")
    if "kid" in header and not isinstance(header["kid"], str):
        raise jwt.InvalidTokenError("Key ID header parameter must be a string")
    if "crit" in header:
        _check_crit(header)
    if header.get("b64", True) is False:
        raise jwt.DecodeError("An unencoded payload (b64: false) is not accepted")
    start, end = span(3)
    signed_end = span(4)[1]
    payload = _segment(data, start, end, signed_end - end, "payload")
    start, end = span(5)
    signature = _segment(data, start, end, len(token) - end, "crypto")
    return header, payload, raw[:signed_end], signature


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
    token that fails them all is refused ``invalid`` like any bad signature. The token is
    read once (:func:`read_compact`), whatever the number of keys.

    The checks, in PyJWT's order: the token's form and header (:func:`read_compact`); its
    ``alg`` in the allow-list (RFC 8725 §3.1: never the header's choice of key family); the
    signature, with a key of that algorithm (a JWKS key bound to it, RSA keys of at least
    2048 bits); the payload a JSON object; ``iss`` (when configured), ``aud`` (required when
    configured, refused when not); ``exp``, ``iat`` and the user claim present.

    Raises a :class:`jwt.PyJWTError` (or any other exception on hostile input),
    or :class:`~jwtguard.keys.KeySourceUnavailable` when the JWKS cannot be
    read; callers map every exception to a rejection. ``needs_io`` is true
    when keys come from a JWKS URL, whose reads (first use, lifespan, key
    rotation) go over HTTP.

    Security: with a JWKS, each key verifies only the algorithms it is bound
    to (its ``alg``, else those fitting its type and curve; RFC 8725 §3.1),
    and the key's own algorithm must be the token's (PyJWT's rule for a
    :class:`jwt.PyJWK`).
    """

    def __init__(self, settings: Settings, *, timer: Callable[[], float] = time.monotonic) -> None:
        self._algorithms = frozenset(settings.algorithms)
        self._audience = list(settings.audience) or None
        self._issuer = settings.issuer
        self._require = sorted({"exp", "iat", settings.user_claim})
        #: For each algorithm with configured keys: their signature checks in the configured order,
        #: and the same checks by kid. HMAC algorithms get only secrets and every other algorithm
        #: only public keys, so no key ever serves two families (RFC 8725 §3.1).
        self._keys: dict[str, tuple[SignatureCheck, ...]] = {}
        self._by_kid: dict[str, dict[str, SignatureCheck]] = {}
        for local in hmac_keys(settings) + verification_keys(settings):
            for name, prepared in local.prepared.items():
                check = signature_check(name, prepared)
                self._keys[name] = (*self._keys.get(name, ()), check)
                self._by_kid.setdefault(name, {}).setdefault(local.kid, check)
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

    @property
    def needs_io(self) -> bool:
        """Whether verifying may read the JWKS over HTTP (the ASGI driver then verifies in a thread)."""
        return self.key_source is not None

    def verify(self, token: str) -> tuple[Mapping[str, Any], Mapping[str, Any]]:
        """Return ``(header, claims)`` of a token whose signature checks out."""
        header, claims = self.signed(token)
        self._check_claims(claims)
        return header, claims

    def signed(self, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(header, claims)`` of a compact JWS whose signature checks out with the configured keys,
        its ``alg`` allow-listed; no claim is checked (a logout token or a security event token
        has rules of its own, see :mod:`jwtguard.endpoints`)."""
        header, payload, signing_input, signature = read_compact(token)
        alg = header.get("alg")
        if type(alg) is not str or alg not in self._algorithms:
            raise jwt.InvalidAlgorithmError("The specified alg value is not allowed")
        keys = self._keys.get(alg)
        if keys is None:
            if self.key_source is None:
                raise jwt.InvalidKeyError("no key for algorithm")
            _check_jwk(self.key_source.key(header.get("kid"), alg), alg, signing_input, signature)
        else:
            kid = header.get("kid")
            named = self._by_kid[alg].get(kid) if kid is not None else None
            if named is not None:
                keys = (named,)
            # No kid, or one of no configured key: each key of the algorithm, in order (see the class).
            for check in keys:
                if check(signing_input, signature):
                    break
            else:
                raise jwt.InvalidSignatureError("Signature verification failed")
        return header, _json_object(payload, "payload")

    def _check_claims(self, claims: Mapping[str, Any]) -> None:
        """``iss``, ``aud`` and the required claims, as PyJWT checks them (its order, its errors)."""
        issuer = self._issuer
        if issuer is not None:
            if "iss" not in claims:
                raise jwt.MissingRequiredClaimError("iss")
            iss = claims["iss"]
            if not isinstance(iss, str):
                raise jwt.InvalidIssuerError("Payload Issuer (iss) must be a string")
            if iss != issuer:
                raise jwt.InvalidIssuerError("Invalid issuer")
        audience = self._audience
        aud = claims.get("aud")
        if audience is None:
            if aud:
                raise jwt.InvalidAudienceError("Invalid audience")  # a token for someone else
        else:
            if not aud:
                raise jwt.MissingRequiredClaimError("aud")
            listed = [aud] if isinstance(aud, str) else aud
            if not isinstance(listed, list) or not all(isinstance(item, str) for item in listed):
                raise jwt.InvalidAudienceError("Invalid claim format in token")
            if all(item not in listed for item in audience):
                raise jwt.InvalidAudienceError("Audience doesn't match")
        for claim in self._require:
            if claims.get(claim) is None:
                raise jwt.MissingRequiredClaimError(claim)


class KeyLookup(Protocol):
    """A JWKS key source: the key that verifies ``kid`` and ``alg`` (:meth:`jwtguard.keys.KeySource.key`)."""

    def key(self, kid: object, alg: str) -> jwt.PyJWK: ...


class JWKSVerifier:
    """Signatures of one key source's keys only: a Shared Signals transmitter's (:mod:`jwtguard.endpoints.ssf`).

    :param keys: the transmitter's JWKS (:class:`~jwtguard.keys.KeySource` or
        :class:`~jwtguard.keys.TransmitterKeys`).
    :param algorithms: the asymmetric algorithms a key may verify (each key only those of its
        type and curve, or its own ``alg``: RFC 8725 §3.1).

    The guard's secrets and public keys never verify here, nor these keys the guard's tokens:
    a security event token is checked against its transmitter, an access token against its
    issuer. :meth:`signed` checks what :meth:`TokenVerifier.signed` checks (the compact form,
    the allow-listed ``alg``, the signature) and no claim.
    """

    #: Every key comes from a JWKS read over HTTP (the ASGI driver verifies in a thread).
    needs_io: Final = True

    def __init__(self, keys: KeyLookup, algorithms: Collection[str]) -> None:
        self._keys = keys
        self._algorithms = frozenset(algorithms)

    def signed(self, token: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(header, claims)`` of a compact JWS signed by a key of the source; raises as
        :meth:`TokenVerifier.signed` does (:class:`~jwtguard.keys.KeySourceUnavailable` when the
        JWKS cannot be read)."""
        header, payload, signing_input, signature = read_compact(token)
        alg = header.get("alg")
        if type(alg) is not str or alg not in self._algorithms:
            raise jwt.InvalidAlgorithmError("The specified alg value is not allowed")
        _check_jwk(self._keys.key(header.get("kid"), alg), alg, signing_input, signature)
        return header, _json_object(payload, "payload")


def _check_jwk(jwk: jwt.PyJWK, alg: str, signing_input: bytes, signature: bytes) -> None:
    """A JWKS key's check, as PyJWT makes it for a :class:`jwt.PyJWK`: its own algorithm only, no weak key."""
    if jwk.algorithm_name != alg:
        raise jwt.InvalidAlgorithmError("The token's algorithm is not the key's")
    algorithm = jwk.Algorithm
    key = algorithm.prepare_key(jwk.key)
    weak = algorithm.check_key_length(key)
    if weak:
        raise jwt.InvalidKeyError(weak)
    if not algorithm.verify(signing_input, key, signature):
        raise jwt.InvalidSignatureError("Signature verification failed")


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
    return _encode(payload, signer)


def _encode(payload: dict[str, Any], signer: SigningKey) -> str:
    """*payload* signed with the prepared *signer*: what ``jwt.encode(payload, key, alg, headers={"kid": kid})``
    returns, byte for byte, without preparing the key again on every call.

    As PyJWT does: ``datetime`` values of ``exp``, ``iat`` and ``nbf`` become NumericDates, an
    ``iss`` that is no string is refused (:class:`TypeError`), the payload is compact JSON in
    its own order, and a key below PyJWT's recommended size warns.
    """
    for name in ("exp", "iat", "nbf"):
        value = payload.get(name)
        if isinstance(value, datetime):
            payload[name] = timegm(value.utctimetuple())
    if "iss" in payload and not isinstance(payload["iss"], str):
        raise TypeError("Issuer (iss) must be a string.")
    if signer.weak:
        warnings.warn(signer.weak, InsecureKeyLengthWarning, stacklevel=3)
    signing_input = signer.header + _b64(_PAYLOAD_JSON(payload).encode())
    return (signing_input + b"." + _b64(signer.sign(signing_input))).decode()


#: ``json.dumps(payload, separators=(",", ":"))``, as jwt.encode writes a payload, without a new
#: encoder on every call.
_PAYLOAD_JSON: Final = json.JSONEncoder(separators=(",", ":")).encode


def _b64(data: bytes) -> bytes:
    return binascii.b2a_base64(data, newline=False).translate(_TO_URLSAFE).rstrip(b"=")
