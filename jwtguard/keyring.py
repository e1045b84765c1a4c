"""jwtguard's own keys: the configured secrets and PEM keys, prepared once, each with its key id.

Issue 10 (signing keys that can be rotated): ``JWTGUARD_SECRET``, ``JWTGUARD_PUBLIC_KEY`` and
``JWTGUARD_PRIVATE_KEY`` each hold an ordered list; the first secret and the first private key
sign, every listed secret and public key verifies. Every key has a key id (``kid``, RFC 7515
§4.1.4) derived from the key itself, so every process names a key alike without being told:

- an asymmetric key's kid is its RFC 7638 JWK thumbprint (SHA-256), which other services can
  recompute from the published JWK;
- an HMAC secret's kid is an HMAC-SHA-256, keyed by the secret, of a fixed label, cut to 96
  bits. Nothing of the secret can be learnt from it: checking a guessed secret against the kid
  is no easier than against any token's signature, which an attacker holds anyway.

Here too: :func:`jwk_set`, the public JWK Set (RFC 7517) of the verification keys that
:mod:`jwtguard.endpoints.jwks` serves, and the new keys of ``jwtguard rotate-key``.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwt.algorithms import (
    ECAlgorithm,
    HMACAlgorithm,
    OKPAlgorithm,
    RSAAlgorithm,
    RSAPSSAlgorithm,
    get_default_algorithms,
)

from .config import Settings, key_position, pem_blocks
from .errors import ConfigError

#: What an HMAC kid is computed over (keyed by the secret): a label of its own, so the kid is no
#: signature or MAC that jwtguard makes anywhere else.
_HMAC_KID_LABEL = b"jwtguard HMAC key id, v1"

#: RFC 7638 §3.2 (RSA, EC) and RFC 8037 §2 (OKP): the members a thumbprint covers, which are
#: also every member a public JWK needs: nothing else of a key is ever published.
_PUBLIC_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}

_PRIVATE_TYPES = (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)

#: RSA keys that ``rotate-key`` makes: above the 2048-bit floor, as NIST SP 800-57 asks past 2030.
NEW_RSA_BITS = 3072

_NEW_EC_CURVES: dict[str, type[ec.EllipticCurve]] = {
    "ES256": ec.SECP256R1,
    "ES384": ec.SECP384R1,
    "ES512": ec.SECP521R1,
    "ES256K": ec.SECP256K1,
}

#: Bytes of randomness in a new HMAC secret for each algorithm: the hash's output size (RFC 7518 §3.2).
HMAC_SECRET_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def hmac_key_id(secret: str) -> str:
    """The kid of an HMAC secret: 16 base64url characters that reveal nothing of it."""
    return _b64(hmac.new(secret.encode(), _HMAC_KID_LABEL, hashlib.sha256).digest()[:12])


def public_jwk(key: Any) -> dict[str, str]:
    """The public JWK of *key* (a ``cryptography`` RSA, EC or EdDSA key, public or private).

    Only the members RFC 7638 lists for its type (``kty`` and the public numbers): never a
    private part, whatever *key* holds.
    """
    if isinstance(key, _PRIVATE_TYPES):
        key = key.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
    elif isinstance(key, ec.EllipticCurvePublicKey):
        jwk = ECAlgorithm.to_jwk(key, as_dict=True)
    elif isinstance(key, (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey)):
        jwk = OKPAlgorithm.to_jwk(key, as_dict=True)
    else:
        raise TypeError(f"not an asymmetric key: {type(key).__name__}")
    return {member: str(jwk[member]) for member in _PUBLIC_MEMBERS[str(jwk["kty"])]}


def thumbprint(jwk: Mapping[str, str]) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of a public JWK."""
    required = {member: jwk[member] for member in _PUBLIC_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(required, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    return _b64(hashlib.sha256(canonical.encode()).digest())


def key_id(key: Any) -> str:
    """The kid of an asymmetric key (public or private): its RFC 7638 thumbprint."""
    return thumbprint(public_jwk(key))


@dataclass(frozen=True, slots=True)
class LocalKey:
    """One configured key, prepared for PyJWT once.

    :param kid: its key id (see the module's docstring).
    :param position: where it is listed in its setting, from 1; the first one signs.
    :param prepared: for each allow-listed algorithm it serves (in the allow-list's order),
        the key object PyJWT signs or verifies with.
    """

    kid: str
    position: int
    prepared: Mapping[str, Any]

    @property
    def algorithms(self) -> tuple[str, ...]:
        """The allow-listed algorithms this key serves."""
        return tuple(self.prepared)


#: A prepared key's signature check: ``check(signing_input, signature)`` is True when the signature is good.
SignatureCheck = Callable[[bytes, bytes], bool]


def signature_check(algorithm: str, prepared: Any) -> SignatureCheck:
    """The signature check of *algorithm* with the key *prepared* for it (a :class:`LocalKey`'s).

    What PyJWT's algorithm ``verify`` does, with everything that does not depend on the token
    made once: HMAC keeps the keyed hash's state after the key block (:meth:`hmac.HMAC.copy`)
    and compares in constant time; RSA and RSA-PSS keep their padding and hash objects; ECDSA
    its curve's size (a JWS signature is ``r || s``, RFC 7518 §3.4, turned into DER) and its
    ``ECDSA`` object; EdDSA calls the key. A test holds each to PyJWT's verdict.
    """
    loader = get_default_algorithms()[algorithm]
    if isinstance(loader, HMACAlgorithm):
        keyed = hmac.new(prepared, digestmod=loader.hash_alg)
        compare = hmac.compare_digest

        def check_mac(signing_input: bytes, signature: bytes) -> bool:
            mac = keyed.copy()
            mac.update(signing_input)
            return compare(mac.digest(), signature)

        return check_mac
    if isinstance(loader, (ECAlgorithm, OKPAlgorithm)) and isinstance(prepared, _PRIVATE_TYPES):
        prepared = prepared.public_key()  # what PyJWT verifies with when given a private key
    if isinstance(prepared, rsa.RSAPrivateKey):  # PyJWT fails on it, token by token: so do we
        return _general_check(loader, prepared)
    verify = prepared.verify
    if isinstance(loader, RSAPSSAlgorithm):
        hashed = loader.hash_alg()
        arguments: tuple[Any, ...] = (padding.PSS(mgf=padding.MGF1(hashed), salt_length=hashed.digest_size), hashed)
    elif isinstance(loader, RSAAlgorithm):
        arguments = (padding.PKCS1v15(), loader.hash_alg())
    elif isinstance(loader, ECAlgorithm):
        size = (prepared.curve.key_size + 7) // 8
        ecdsa = ec.ECDSA(loader.hash_alg())

        def check_ecdsa(signing_input: bytes, signature: bytes) -> bool:
            if len(signature) != 2 * size:
                return False
            r = int.from_bytes(signature[:size], "big")
            s = int.from_bytes(signature[size:], "big")
            try:
                verify(encode_dss_signature(r, s), signing_input, ecdsa)
            except InvalidSignature:
                return False
            return True

        return check_ecdsa
    elif isinstance(loader, OKPAlgorithm):
        arguments = ()
    else:  # pragma: no cover - every algorithm PyJWT signs with is one of the above
        return _general_check(loader, prepared)

    def check(signing_input: bytes, signature: bytes) -> bool:
        try:
            if arguments:
                verify(signature, signing_input, *arguments)
            else:
                verify(signature, signing_input)
        except InvalidSignature:
            return False
        return True

    return check


def _general_check(loader: Any, prepared: Any) -> SignatureCheck:
    """PyJWT's own ``verify``, for the keys it does not verify with directly."""
    return lambda signing_input, signature: bool(loader.verify(signing_input, prepared, signature))


def hmac_keys(settings: Settings) -> tuple[LocalKey, ...]:
    """The HMAC secrets (``JWTGUARD_SECRET``), prepared for the allow-listed ``HS*`` algorithms.

    :raises ConfigError: naming ``JWTGUARD_SECRET`` (and the secret's position, never its
        text) for a secret PyJWT refuses, such as a PEM key given as a secret.
    """
    algorithms = settings.hmac_algorithms
    if not algorithms:
        return ()
    count = len(settings.secrets)
    keys = []
    for position, secret in enumerate(settings.secrets, 1):
        prepared = {}
        for name in algorithms:
            try:
                prepared[name] = get_default_algorithms()[name].prepare_key(secret)
            except Exception:
                raise ConfigError(
                    "JWTGUARD_SECRET", f"{key_position(position, count, 'secret')}not a usable key for {name}"
                ) from None
        keys.append(LocalKey(hmac_key_id(secret), position, prepared))
    return tuple(keys)


def verification_keys(settings: Settings) -> tuple[LocalKey, ...]:
    """The public keys (``JWTGUARD_PUBLIC_KEY(_FILE)``), each bound to the allow-listed algorithms it fits.

    A key serves the asymmetric algorithms whose PyJWT loader takes it (its type, and for EC its
    curve: RFC 8725 §3.1), in any format PyJWT reads (PEM, OpenSSH).

    :raises ConfigError: naming ``JWTGUARD_PUBLIC_KEY`` when an allowed asymmetric algorithm has
        no key, a key serves none of them, or a key is too weak (RSA under 2048 bits).
    """
    algorithms = [name for name in settings.algorithms if name not in settings.hmac_algorithms]
    blocks = settings.public_keys
    if not algorithms or not blocks:
        return ()
    available = get_default_algorithms()
    variable = "JWTGUARD_PUBLIC_KEY"
    keys = []
    for position, block in enumerate(blocks, 1):
        where = key_position(position, len(blocks))
        prepared = {}
        for name in algorithms:
            try:
                prepared[name] = available[name].prepare_key(block)
            except Exception:  # noqa: S112 - another type (or curve): the key does not serve that algorithm
                continue
            # Any format PyJWT reads: a weak key is refused here, at start-up, rather than on
            # every request (enforce_minimum_key_length, NIST SP 800-131A).
            if available[name].check_key_length(prepared[name]):
                raise ConfigError(variable, f"{where}the key is too weak for {name} (RSA needs at least 2048 bits)")
        keys.append(LocalKey(key_id(next(iter(prepared.values()))) if prepared else "", position, prepared))
    for name in algorithms:
        if not any(name in key.prepared for key in keys):
            raise ConfigError(variable, f"not a usable key for {name}")
    for key in keys:
        if not key.prepared:
            raise ConfigError(
                variable, f"{key_position(key.position, len(keys))}not a usable key for {', '.join(algorithms)}"
            )
    return tuple(keys)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """What :func:`jwtguard.issue_token` signs with, prepared once (see :func:`signing_key`).

    :param key: the key PyJWT takes (the secret's bytes, or a ``cryptography`` private key);
        never in ``repr()``.
    :param kid: the key id the header names.
    :param algorithm: the algorithm it signs.
    :param header: the JOSE header's base64url segment and its ``.``, as ``jwt.encode`` writes
        it (``{"alg":…,"kid":…,"typ":"JWT"}``, keys sorted).
    :param sign: the signature of a signing input.
    :param weak: PyJWT's warning about a key below its recommended size, else None (start-up
        checks refuse such keys: kept for keys given past them).
    """

    key: Any = field(repr=False)
    kid: str
    algorithm: str
    header: bytes = field(repr=False)
    sign: Callable[[bytes], bytes] = field(repr=False)
    weak: str | None = None


def _signer(algorithm: str, prepared: Any, kid: str) -> SigningKey:
    loader = get_default_algorithms()[algorithm]
    header = json.dumps({"alg": algorithm, "kid": kid, "typ": "JWT"}, separators=(",", ":"), sort_keys=True)
    if isinstance(loader, HMACAlgorithm):
        keyed = hmac.new(prepared, digestmod=loader.hash_alg)

        def sign_mac(signing_input: bytes) -> bytes:
            mac = keyed.copy()
            mac.update(signing_input)
            return mac.digest()

        sign = sign_mac
    else:
        sign = functools.partial(_sign_with, loader.sign, prepared)
    return SigningKey(
        prepared, kid, algorithm, _b64(header.encode()).encode() + b".", sign, loader.check_key_length(prepared)
    )


def _sign_with(sign: Callable[[bytes, Any], bytes], key: Any, signing_input: bytes) -> bytes:
    return sign(signing_input, key)


def signing_key(settings: Settings, algorithm: str) -> SigningKey:
    """The first secret (``HS*``), or the first private key that serves *algorithm*, with its kid.

    Private keys of one type are rotated by their order (the first signs); a list holding keys
    of two types (a move from RSA to EC) signs each algorithm with the first key of its type.

    Prepared once: the key is parsed (an RSA PEM block takes tens of milliseconds) and its kid
    computed on the first call for this key material and algorithm, then kept in a small
    process-wide cache keyed by that material (the settings hold it already; nothing of it is
    logged or shown).

    :raises ConfigError: naming ``JWTGUARD_PRIVATE_KEY`` when an asymmetric algorithm has no
        private key. When no key serves *algorithm*, PyJWT's own error for the first key is
        raised, as before lists.
    """
    # Settings' derived properties (hmac_algorithms, private_keys) are computed on each read:
    # every token would pay for them, so the cache below is keyed by the raw values.
    if algorithm in HMAC_SECRET_BYTES and algorithm in settings.algorithms:
        assert settings.secret is not None  # Settings requires one for HS* algorithms
        return _prepared_signer(algorithm, settings.secret)
    if not settings.private_key:
        raise _no_private_key(algorithm)
    return _prepared_signer(algorithm, settings.private_key)


def _no_private_key(algorithm: str) -> ConfigError:
    return ConfigError("JWTGUARD_PRIVATE_KEY", f"issuing {algorithm} tokens needs a private key")


@functools.lru_cache(maxsize=16)
def _prepared_signer(algorithm: str, material: str) -> SigningKey:
    """:func:`signing_key`'s work for *algorithm* and a secret or ``JWTGUARD_PRIVATE_KEY``'s text.

    An exception is never cached: a key that cannot be used is refused again on every call.
    """
    loader = get_default_algorithms()[algorithm]
    if isinstance(loader, HMACAlgorithm):
        return _signer(algorithm, loader.prepare_key(material), hmac_key_id(material))
    blocks = pem_blocks(material)
    if not blocks:
        raise _no_private_key(algorithm)
    refused: Exception | None = None
    for block in blocks:
        try:
            prepared = loader.prepare_key(block)
        except Exception as exc:  # another type (or unreadable): the next key may serve it
            refused = refused or exc
            continue
        return _signer(algorithm, prepared, key_id(prepared))
    assert refused is not None
    raise refused


def private_key_ids(settings: Settings) -> tuple[str | None, ...]:
    """The kid of each private key, in order (``None`` for one that cannot be read)."""
    kids: list[str | None] = []
    for block in settings.private_keys:
        try:
            kids.append(key_id(serialization.load_pem_private_key(block.encode(), password=None)))
        except Exception:
            kids.append(None)
    return tuple(kids)


def jwk_set(settings: Settings) -> dict[str, list[dict[str, str]]]:
    """The public JWK Set (RFC 7517 §5) of the configured verification keys, in their order.

    One member per public key of ``JWTGUARD_PUBLIC_KEY(_FILE)``: its public numbers only (RFC
    7638's members), ``kid`` (its thumbprint, the kid :func:`jwtguard.issue_token` writes),
    ``use: sig`` and ``alg``, the first allow-listed algorithm it serves (RFC 8725 §3.1: a key,
    one algorithm; jwtguard signs with the first). HMAC secrets are never published, and
    private parts never: a private key given as a public key publishes its public half. With
    HMAC only (or ``JWTGUARD_JWKS_URL``: someone else's keys), the set is empty.

    :raises ConfigError: as :func:`verification_keys`, for keys the guard would refuse.
    """
    members: list[dict[str, str]] = []
    seen: set[str] = set()
    for key in verification_keys(settings):
        if key.kid in seen:
            continue  # the same key listed twice is published once
        seen.add(key.kid)
        alg, prepared = next(iter(key.prepared.items()))
        members.append({**public_jwk(prepared), "kid": key.kid, "use": "sig", "alg": alg})
    return {"keys": members}


# -- new keys, for `jwtguard rotate-key` ----------------------------------------------------


def new_secret(algorithms: Iterable[str]) -> str:
    """A new HMAC secret for every ``HS*`` algorithm of *algorithms*: as many random bytes as the
    largest hash's output (RFC 7518 §3.2), base64url, so never a comma."""
    size = max((HMAC_SECRET_BYTES[name] for name in algorithms if name in HMAC_SECRET_BYTES), default=32)
    return secrets.token_urlsafe(size)


def new_private_key(algorithm: str) -> Any:
    """A new private key for the asymmetric *algorithm*: RSA (3072 bits), an EC curve, or Ed25519.

    :raises ValueError: for an HMAC or unknown algorithm.
    """
    if algorithm.startswith(("RS", "PS")) and algorithm[2:] in ("256", "384", "512"):
        return rsa.generate_private_key(public_exponent=65537, key_size=NEW_RSA_BITS)
    if algorithm in _NEW_EC_CURVES:
        return ec.generate_private_key(_NEW_EC_CURVES[algorithm]())
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"{algorithm} is no asymmetric signing algorithm")


def private_pem(key: Any) -> str:
    """*key* as an unencrypted PKCS #8 PEM block (what ``JWTGUARD_PRIVATE_KEY_FILE`` reads)."""
    data: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return data.decode("ascii")


def public_pem(key: Any) -> str:
    """The public half of *key* as a PEM block (what ``JWTGUARD_PUBLIC_KEY(_FILE)`` reads)."""
    data: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data.decode("ascii")
