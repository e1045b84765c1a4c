"""DPoP proofs (RFC 9449): the checks of §4.3 on values, no I/O, no clock, no cache.

:func:`check_proof` runs every check of RFC 9449 §4.3 that needs nothing but the proof and the
request; what needs state stays with the caller (the engine):

- §4.3 #1, one ``DPoP`` field: the caller hands over one string, and refuses two fields;
- §11.1, replay: a :class:`Proof`'s ``jti`` is unique per proof, so the caller keeps the ones it
  has seen for ``max_age`` (plus the leeway) and refuses a second use; this module has no cache;
- §4.3 #12 and §6, the binding: the caller compares :attr:`Proof.jkt` with the token's
  ``cnf.jkt`` (:func:`bound_key`);
- §8 and §9, nonces: the caller decides when one is required (``nonce_ok``);
  :func:`mint_nonce` and :func:`nonce_valid` make and check stateless ones.

Also here: :func:`normal_url` (the §4.3 #9 comparison), :func:`thumbprint` (RFC 7638) and
:func:`token_hash` (``ath``, §4.2). The request's URL is the adapters' (``Request.target``) and the
``WWW-Authenticate: DPoP`` challenge the policy's (:func:`jwtguard.sansio.decision.refusal`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Final, NamedTuple
from urllib.parse import quote, urlsplit

from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import get_default_algorithms

from ..config import Settings
from ..keyring import thumbprint as _canonical_thumbprint
from ..tokens import read_compact
from .claims import time_claim

#: For each asymmetric JWS algorithm PyJWT verifies, the (``kty``, ``crv``) its key must have:
#: RFC 7518 §3.4 (ES256/384/512 on P-256/384/521), RFC 8812 §3.2 (ES256K), RFC 8037 §3.1
#: (EdDSA), RFC 7518 §3.3 and §3.5 (RS*, PS*). PyJWT's ``ES521`` (no registered name), the HMACs
#: and ``none`` are absent: RFC 9449 §4.2 and §11.6 allow no MAC and never ``none``.
_KEY_TYPES: Final[Mapping[str, frozenset[tuple[object, object]]]] = {
    "ES256": frozenset({("EC", "P-256")}),
    "ES384": frozenset({("EC", "P-384")}),
    "ES512": frozenset({("EC", "P-521")}),
    "ES256K": frozenset({("EC", "secp256k1")}),
    "EdDSA": frozenset({("OKP", "Ed25519"), ("OKP", "Ed448")}),
    **{f"{family}{bits}": frozenset({("RSA", None)}) for family in ("RS", "PS") for bits in (256, 384, 512)},
}

#: Asymmetric JWS algorithms a proof may ever use, whatever the allow-list says (never HS*, never none).
ASYMMETRIC: Final = frozenset(_KEY_TYPES)

#: RFC 9449 §4.2: the header ``typ`` of a proof, compared exactly as written there.
PROOF_TYPE: Final = "dpop+jwt"

#: The error codes (RFC 9449 §7.1, §9, §12.2).
INVALID_PROOF: Final = "invalid_dpop_proof"
USE_NONCE: Final = "use_dpop_nonce"

#: RFC 9449 §4.2 asks for >= 96 random bits (16 base64url characters, a UUID is 36); §11.1 asks
#: to refuse "unnecessarily large" ones, so a replay cache never holds more than this per proof.
MAX_JTI: Final = 256

#: RSA moduli a proof's key may have: NIST SP 800-131A's floor; the ceiling bounds the work a
#: hostile key can cost (with a public exponent of at most 64 bits).
MIN_RSA_BITS: Final = 2048
MAX_RSA_BITS: Final = 8192

#: RFC 7517 §4 and RFC 7518 §6: members that only a private (or symmetric) key has.
_PRIVATE_MEMBERS: Final = frozenset({"d", "p", "q", "dp", "dq", "qi", "k", "oth"})

#: RFC 7638 §3.2 and RFC 8037 §2: the members a thumbprint covers, besides ``kty``.
_REQUIRED: Final = {"RSA": ("e", "n"), "EC": ("crv", "x", "y"), "OKP": ("crv", "x")}
_CURVES: Final = {"EC": frozenset({"P-256", "P-384", "P-521", "secp256k1"}), "OKP": frozenset({"Ed25519", "Ed448"})}
_BASE64URL: Final = re.compile(r"[A-Za-z0-9_-]+")
#: A SHA-256 thumbprint: 43 base64url characters, the last with its 2 spare bits zero (canonical).
_JKT: Final = re.compile(r"[A-Za-z0-9_-]{42}[AEIMQUYcgkosw048]")


class Proof(NamedTuple):
    """A DPoP proof that passed :func:`check_proof`: what the caller still checks and remembers."""

    #: RFC 7638 SHA-256 thumbprint (base64url, no padding) of the proof's ``jwk``: a bound
    #: token's ``cnf.jkt`` must equal it (RFC 9449 §6.1).
    jkt: str
    #: The proof's id, for the caller's replay cache (RFC 9449 §11.1).
    jti: str
    #: Its creation time, as given (an ``int`` stays one).
    iat: float
    #: The ``nonce`` claim when it is a string, else None.
    nonce: str | None


class ProofRefused(NamedTuple):
    """Why a proof was refused: an RFC 9449 error code and a fixed description.

    ``description`` is safe to send (an ``error_description``, RFC 6750 §3): it never echoes
    the proof, the token or the exception.
    """

    error: str
    description: str


def _refused(description: str) -> ProofRefused:
    return ProofRefused(INVALID_PROOF, description)


_MALFORMED: Final = _refused("DPoP proof is not a well-formed JWS")
_TOO_LARGE: Final = _refused("DPoP proof is too large")
_NEEDS_NONCE: Final = ProofRefused(USE_NONCE, "Resource server requires a current nonce in the DPoP proof")


def check_proof(
    proof: str,
    *,
    method: str,
    url: str,
    access_token: str | None,
    now: float,
    max_age: float,
    leeway: float,
    algorithms: Collection[str],
    nonce_ok: Callable[[str | None], bool] | None = None,
    max_bytes: int = 8192,
    headers: HeaderReader | None = None,
) -> Proof | ProofRefused:
    """The RFC 9449 §4.3 checks of one DPoP proof (the value of the request's one ``DPoP`` field).

    :param method: the request's method; ``htm`` must equal it, case-sensitively (§4.3 #8,
        RFC 9110 §9.1).
    :param url: the URL the client used (the origin and ``Request.target``); ``htu`` must equal it once both
        are in :func:`normal_url` form, query and fragment ignored (§4.3 #9).
    :param access_token: the token presented with the proof (§7): the proof's ``ath`` must be
        :func:`token_hash` of it (§4.3 #12). None for a request without one (a token
        request): ``ath`` is then not looked at.
    :param now: the caller's clock, in seconds since the epoch.
    :param max_age: how long after its ``iat`` a proof is accepted; *leeway*: how far in the
        future its ``iat`` may be (clock skew, §11.1).
    :param algorithms: the allow-list (§4.3 #5 "acceptable per local policy"); only its
        members of :data:`ASYMMETRIC` count.
    :param nonce_ok: when given, called with the proof's ``nonce`` claim (None when absent or
        no string) after every other check passed; False refuses with ``use_dpop_nonce``
        (§8, §9, §11.3). Its exceptions propagate: they are the caller's.
    :param max_bytes: a longer proof is refused before any parsing.
    :param headers: how the header is prepared (:func:`read_header` with *algorithms* unless given):
        the engine's remembers each header, by its segment, for the next proof signed with that key.

    The other checks: a compact JWS read as strictly as access tokens are
    (:func:`jwtguard.tokens.read_compact`, §4.3 #2); ``typ`` exactly ``dpop+jwt`` (#4, §11.5);
    ``alg`` asymmetric and allowed (#5, §11.6); ``jwk`` a public key (#7) of the ``kty`` and
    curve ``alg`` names, RSA of :data:`MIN_RSA_BITS` to :data:`MAX_RSA_BITS`, that verifies the
    signature (#6); ``jti`` a string of 1 to :data:`MAX_JTI` characters, ``htm``, ``htu`` and a
    NumericDate ``iat`` (#3); ``iat`` no older than *max_age*, at most *leeway* ahead (#11).

    Never raises for hostile input: every failure is a :class:`ProofRefused`.
    """
    if not isinstance(proof, str):
        return _MALFORMED
    if len(proof) > max_bytes:  # bounded before any parsing
        return _TOO_LARGE
    try:
        checked = _check(proof, method, url, access_token, now, max_age, leeway, algorithms, headers)
    except Exception:  # hostile input: a refusal, never a 500 (as Engine.verify does)
        return _MALFORMED
    if isinstance(checked, Proof) and nonce_ok is not None and not nonce_ok(checked.nonce):
        return _NEEDS_NONCE
    return checked


class ProofHeader(NamedTuple):
    """A proof's header that passed §4.3 #4 to #7: its algorithm, its key prepared, the key's thumbprint.

    The same header bytes always give the same one, so a caller may remember it by the header's
    segment (the engine does: a client signs every proof with one key, and preparing it is a
    tenth of a proof's check). The signature is checked with it on every proof.
    """

    alg: str
    jkt: str
    key: Any
    algorithm: Any


#: Prepares a proof's header: its base64url segment (a cache key) and its decoded JSON.
HeaderReader = Callable[[str, Mapping[str, Any]], "ProofHeader | ProofRefused"]


def read_header(header: Mapping[str, Any], algorithms: Collection[str]) -> ProofHeader | ProofRefused:
    """§4.3 #4 to #7 on a proof's decoded header: ``typ``, an allowed asymmetric ``alg``, a public
    ``jwk`` of the type and curve *alg* names (RSA of :data:`MIN_RSA_BITS` to :data:`MAX_RSA_BITS`).

    Raises nothing for hostile input that :func:`check_proof` did not already catch.
    """
    if header.get("typ") != PROOF_TYPE:
        return _refused("DPoP proof typ must be dpop+jwt")
    alg = header.get("alg")
    if type(alg) is not str or alg not in ASYMMETRIC or alg not in algorithms:
        return _refused("DPoP proof alg is not an accepted asymmetric algorithm")
    jwk = header.get("jwk")
    if type(jwk) is not dict:
        return _refused("DPoP proof header has no jwk object")
    if not _PRIVATE_MEMBERS.isdisjoint(jwk):
        return _refused("DPoP proof jwk must not contain a private key")
    if (jwk.get("kty"), jwk.get("crv")) not in _KEY_TYPES[alg]:
        return _refused("DPoP proof jwk does not fit its alg")
    algorithm = get_default_algorithms()[alg]
    try:
        jkt = thumbprint(jwk)
        key = algorithm.from_jwk(jwk)
    except Exception:
        return _refused("DPoP proof jwk is not a valid public key")
    if isinstance(key, rsa.RSAPublicKey) and (
        not MIN_RSA_BITS <= key.key_size <= MAX_RSA_BITS or key.public_numbers().e.bit_length() > 64
    ):
        return _refused("DPoP proof RSA key must have 2048 to 8192 bits")
    return ProofHeader(alg, jkt, key, algorithm)


def _check(
    proof: str,
    method: str,
    url: str,
    access_token: str | None,
    now: float,
    max_age: float,
    leeway: float,
    algorithms: Collection[str],
    headers: HeaderReader | None,
) -> Proof | ProofRefused:
    header, payload, signing_input, signature = read_compact(proof)
    if headers is None:
        prepared = read_header(header, algorithms)
    else:
        prepared = headers(proof[: proof.index(".")], header)
    if isinstance(prepared, ProofRefused):
        return prepared
    jkt = prepared.jkt
    if not prepared.algorithm.verify(signing_input, prepared.key, signature):
        return _refused("DPoP proof signature does not verify with its jwk")

    claims = json.loads(payload)
    if type(claims) is not dict:
        return _refused("DPoP proof payload is not a JSON object")
    jti = claims.get("jti")
    if type(jti) is not str or not 1 <= len(jti) <= MAX_JTI:
        return _refused("DPoP proof jti must be a string of 1 to 256 characters")
    if claims.get("htm") != method:
        return _refused("DPoP proof htm does not match the request method")
    htu = claims.get("htu")
    expected = _normal(url)
    if type(htu) is not str or expected is None or _normal(htu) != expected:
        return _refused("DPoP proof htu does not match the request URL")
    try:
        iat = time_claim(claims, "iat")
    except ValueError:
        iat = None
    if iat is None:
        return _refused("DPoP proof iat must be a NumericDate")
    if iat < now - max_age:
        return _refused("DPoP proof is too old")
    if iat > now + leeway:
        return _refused("DPoP proof iat is in the future")
    if access_token is not None:
        ath = claims.get("ath")
        if ath is None:
            return _refused("DPoP proof has no ath for the access token")
        # Nothing secret here (the client sent the token): a plain comparison.
        if ath != token_hash(access_token):
            return _refused("DPoP proof ath does not match the access token")
    nonce = claims.get("nonce")
    return Proof(jkt, jti, iat, nonce if type(nonce) is str else None)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 §3 JWK SHA-256 thumbprint of a public key (base64url, no padding).

    Only the required members (§3.2: ``e``, ``kty``, ``n`` for RSA; ``crv``, ``kty``, ``x``,
    ``y`` for EC; ``crv``, ``kty``, ``x`` for OKP, RFC 8037 §2), in lexicographic order, no
    whitespace (:func:`jwtguard.keyring.thumbprint` writes it); other members change nothing.

    :raises ValueError: for another ``kty`` (``oct`` included: no public key), an unknown
        curve, or a required member missing or not base64url.
    """
    kty = jwk.get("kty")
    if type(kty) is not str or kty not in _REQUIRED:
        raise ValueError("unsupported JWK kty")
    for member in _REQUIRED[kty]:
        value = jwk.get(member)
        if type(value) is not str:
            raise ValueError(f"JWK member {member} must be a string")
        if member == "crv" and value not in _CURVES[kty]:
            raise ValueError("unsupported JWK curve")
        if member != "crv" and not _BASE64URL.fullmatch(value):
            raise ValueError(f"JWK member {member} must be base64url")
    return _canonical_thumbprint({member: jwk[member] for member in ("kty", *_REQUIRED[kty])})


def token_hash(access_token: str) -> str:
    """The ``ath`` of *access_token* (RFC 9449 §4.2): base64url SHA-256 of its ASCII encoding.

    :raises ValueError: (:class:`UnicodeEncodeError`) for a token that is not ASCII.
    """
    return _b64(hashlib.sha256(access_token.encode("ascii")).digest())


# -- the URL (RFC 9449 §4.3 #9, RFC 3986 §6) ----------------------------------------------------------

_DEFAULT_PORTS: Final = {"http": 80, "https": 443}
#: RFC 3986 §2.2 and §3.3: what a path segment holds unencoded besides unreserved characters.
_PATH_SAFE: Final = "/:@!$&'()*+,;="
_UNRESERVED: Final = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_PERCENT: Final = re.compile(r"%([0-9A-Fa-f]{2})")
#: Printable ASCII only: a URL with a space, a control character or non-ASCII text is none.
_URL: Final = re.compile(r"[\x21-\x7e]+")


def _percent(match: re.Match[str]) -> str:
    char = chr(int(match.group(1), 16))
    return char if char in _UNRESERVED else "%" + match.group(1).upper()


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 §5.2.4 for an absolute path: ``.`` and ``..`` segments resolved."""
    segments = path.split("/")
    out: list[str] = []
    for position, segment in enumerate(segments):
        if segment in (".", ".."):
            if segment == ".." and len(out) > 1:
                out.pop()
            if position == len(segments) - 1:
                out.append("")  # "/a/." is "/a/"
        else:
            out.append(segment)
    return "/".join(out)


def normal_url(url: str) -> str | None:
    """*url* in the form RFC 9449 §4.3 #9 compares: ``scheme://host[:port]/path``, or None.

    RFC 3986 §6.2.2 (syntax-based): scheme and host lower-cased, percent-encodings upper-cased
    and decoded where they encode an unreserved character, characters a path may not hold
    percent-encoded, dot segments removed; §6.2.3 (scheme-based): the default port and an
    empty port dropped, an empty path is ``/``. Query and fragment are dropped (§4.2: ``htu``
    has none). None for anything but an absolute ``http``/``https`` URL of printable ASCII
    with a host and no user information.
    """
    if type(url) is not str or not _URL.fullmatch(url):
        return None
    try:
        parts = urlsplit(url)
        scheme, host, port = parts.scheme.lower(), parts.hostname, parts.port
    except ValueError:  # a port that is no number or out of range, a bad IPv6 literal
        return None
    if scheme not in _DEFAULT_PORTS or not host or "@" in parts.netloc:
        return None
    netloc = f"[{host}]" if ":" in host else host
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        netloc += f":{port}"
    path = _PERCENT.sub(_percent, quote(parts.path, safe=_PATH_SAFE + "%"))
    return f"{scheme}://{netloc}{_remove_dot_segments(path) or '/'}"


#: :func:`normal_url` remembered: a client proves the same few URLs over and over (bounded).
_normal: Final = lru_cache(maxsize=4096)(normal_url)


def bound_key(claims: Mapping[str, Any]) -> str | None:
    """The ``cnf.jkt`` of a token's claims (RFC 9449 §6.1, RFC 7800 §3.1): its DPoP key's thumbprint.

    None when the token has no ``cnf`` or its ``cnf`` has no ``jkt``: not DPoP-bound. A token
    bound by another method (RFC 8705's ``x5t#S256``, a certificate) is not DPoP-bound either
    and gets None too: the caller, which cannot check that binding, decides whether to refuse.

    :raises ValueError: for a ``cnf`` that is no object or a ``jkt`` that is no thumbprint (43
        base64url characters), so that the caller refuses the token.
    """
    if "cnf" not in claims:
        return None
    cnf = claims["cnf"]
    if not isinstance(cnf, Mapping):
        raise ValueError("cnf must be a JSON object")
    if "jkt" not in cnf:
        return None
    jkt = cnf["jkt"]
    if type(jkt) is not str or not _JKT.fullmatch(jkt):
        raise ValueError("cnf.jkt must be a SHA-256 JWK thumbprint")
    return jkt


# -- server nonces (RFC 9449 §8, §9) --------------------------------------------------------------

#: A nonce: 8 bytes of time bucket and 16 of MAC, 32 base64url characters (RFC 9449 §8.1 NQCHARs).
_NONCE: Final = re.compile(r"[A-Za-z0-9_-]{32}")
MIN_NONCE_KEY_BYTES: Final = 16


def _bucket_mac(key: bytes, bucket: int) -> bytes:
    data = bucket.to_bytes(8, "big", signed=True)
    return data + hmac.new(key, data, hashlib.sha256).digest()[:16]


def _bucket(key: bytes, now: float, period: float) -> int:
    if len(key) < MIN_NONCE_KEY_BYTES or not (math.isfinite(period) and period > 0):
        raise ValueError("nonces need a key of at least 16 bytes and a positive, finite period")
    return int(now // period)


def mint_nonce(key: bytes, now: float, period: float) -> str:
    """A server nonce for *now*: base64url(bucket as 8 bytes || HMAC-SHA256(key, bucket)[:16]).

    ``bucket = int(now // period)``. Stateless: every worker holding *key* mints the same nonce
    in a period and accepts the others' (:func:`nonce_valid`); unpredictable without the key
    (§8: "MUST be unpredictable"). One nonce serves every client: §11.1 allows that, the
    ``jti`` cache prevents replay.

    :raises ValueError: for a key under :data:`MIN_NONCE_KEY_BYTES` or a period that is not a
        positive finite number (configuration errors).
    """
    return _b64(_bucket_mac(key, _bucket(key, now, period)))


def nonce_valid(key: bytes, nonce: str | None, now: float, period: float) -> bool:
    """Whether *nonce* is :func:`mint_nonce`'s for the current or the previous period.

    So a nonce lives between one and two periods. Anything else (None, another key's, an
    older one, garbage) is False; the MAC is compared in constant time.

    :raises ValueError: as :func:`mint_nonce`, for the key or the period only.
    """
    current = _bucket(key, now, period)
    if type(nonce) is not str or not _NONCE.fullmatch(nonce):
        return False
    raw = base64.urlsafe_b64decode(nonce)  # 32 characters: 24 bytes exactly, no padding
    bucket = int.from_bytes(raw[:8], "big", signed=True)
    if bucket not in (current, current - 1):
        return False
    return hmac.compare_digest(raw, _bucket_mac(key, bucket))


# -- the settings' rules, for the guard's resource requests and the sessions' token requests ------


def replay_name(proof: Proof) -> str:
    """A proof's id for the replay check: its ``jti`` under its key (RFC 9449 §11.1), as a digest.

    One name wherever a proof is spent (the guard's memory or store, a token request's store
    note): a proof spent at the token endpoint is spent for the resource requests too.
    """
    return "dpop:" + hashlib.sha256(f"{proof.jkt}:{proof.jti}".encode("utf-8", "surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class ProofRules:
    """What the settings ask of every proof: ``JWTGUARD_DPOP_ALGORITHMS``, ``JWTGUARD_DPOP_MAX_AGE``
    (also the nonces' period), ``JWTGUARD_LEEWAY``, ``JWTGUARD_MAX_HEADER_BYTES`` and, with
    ``JWTGUARD_DPOP_NONCE=true``, the key of ``JWTGUARD_DPOP_NONCE_KEY``."""

    algorithms: frozenset[str]
    max_age: float
    leeway: float
    max_bytes: int
    nonce_key: bytes | None = field(default=None, repr=False)

    @classmethod
    def of(cls, settings: Settings) -> ProofRules:
        key = settings.dpop_nonce_key.encode() if settings.dpop_nonce and settings.dpop_nonce_key else None
        return cls(
            frozenset(settings.dpop_algorithms), settings.dpop_max_age, settings.leeway, settings.max_header_bytes, key
        )

    def check(
        self,
        proof: str,
        *,
        method: str,
        url: str,
        access_token: str | None,
        now: float,
        headers: HeaderReader | None = None,
    ) -> Proof | ProofRefused:
        """:func:`check_proof` by these rules (a current nonce asked for when nonces are on)."""
        key, period = self.nonce_key, self.max_age
        return check_proof(
            proof,
            method=method,
            url=url,
            access_token=access_token,
            now=now,
            max_age=period,
            leeway=self.leeway,
            algorithms=self.algorithms,
            nonce_ok=None if key is None else (lambda nonce: nonce_valid(key, nonce, now, period)),
            max_bytes=self.max_bytes,
            headers=headers,
        )

    def nonce(self, now: float) -> str | None:
        """The server nonce of *now*'s period, or None when nonces are off."""
        return None if self.nonce_key is None else mint_nonce(self.nonce_key, now, self.max_age)
