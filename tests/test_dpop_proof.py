"""The pure DPoP proof checks (jwtguard.sansio.dpop): RFC 9449 §4.3, item by item, with real keys.

Proofs are signed for real (``cryptography`` keys, PyJWT's ``jwt.encode``); a few are forged by
hand where PyJWT would not write them (an ``alg`` its key does not fit). Each row names the RFC
MUST it covers. The RFC's own vectors come first: RFC 9449's example proofs (Figures 2, 7, 13),
its ``jkt`` (Figure 9) and ``ath`` (Figure 14); RFC 7638 §3.1's and RFC 8037 §A.3's thumbprints.

Not here, on purpose: replay (§11.1, a cache of seen ``jti``) and the binding of the proof's key
to the token's ``cnf.jkt`` (§4.3 #12, second bullet) are the engine's, which holds the state;
:func:`test_the_same_proof_passes_twice` pins that this module keeps none.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, get_default_algorithms
from jwt.warnings import InsecureKeyLengthWarning

from jwtguard import Settings
from jwtguard.sansio.dpop import (
    ASYMMETRIC,
    INVALID_PROOF,
    USE_NONCE,
    Proof,
    ProofRefused,
    bound_key,
    check_proof,
    mint_nonce,
    nonce_valid,
    normal_url,
    read_header,
    thumbprint,
    token_hash,
)

#: ``JWTGUARD_DPOP_ALGORITHMS``' default: the two WebCrypto offers everywhere.
DEFAULT_ALGORITHMS: Final = Settings(secret="s" * 32).dpop_algorithms
NOW: Final = 1_800_000_000
URL: Final = "https://api.example.com/v1/things"
TOKEN: Final = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLW9mLWFuLWFjY2Vzcy10b2tlbg"
ALGORITHMS: Final = ("ES256", "EdDSA", "RS256")
MAX_AGE: Final = 60
LEEWAY: Final = 5
NONCE_KEY: Final = b"n" * 32
NONCE_PERIOD: Final = 300

Key = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey | rsa.RSAPrivateKey

EC_KEY: Final = ec.generate_private_key(ec.SECP256R1())
OTHER_EC_KEY: Final = ec.generate_private_key(ec.SECP256R1())
P384_KEY: Final = ec.generate_private_key(ec.SECP384R1())
ED_KEY: Final = ed25519.Ed25519PrivateKey.generate()
ED448_KEY: Final = ed448.Ed448PrivateKey.generate()
RSA_KEY: Final = rsa.generate_private_key(public_exponent=65537, key_size=2048)
RSA_1024: Final = rsa.generate_private_key(public_exponent=65537, key_size=1024)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwk_of(key: Key, *, private: bool = False) -> dict[str, Any]:
    """The JWK of *key*'s public half (or of the private key itself, for the hostile rows)."""
    material: Any = key if private else key.public_key()
    if isinstance(key, rsa.RSAPrivateKey):
        return RSAAlgorithm.to_jwk(material, as_dict=True)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return ECAlgorithm.to_jwk(material, as_dict=True)
    return OKPAlgorithm.to_jwk(material, as_dict=True)


#: A claim or header member left out.
DROP: Final = "<drop>"


def claims(**changes: object) -> dict[str, object]:
    base: dict[str, object] = {"jti": "proof-1", "htm": "GET", "htu": URL, "iat": NOW, "ath": token_hash(TOKEN)}
    base.update(changes)
    return {name: value for name, value in base.items() if value != DROP}


def proof(key: Any = EC_KEY, alg: str = "ES256", *, header: dict[str, object] | None = None, **changes: object) -> str:
    """A proof signed by *key* with PyJWT: ``typ`` dpop+jwt, *key*'s public ``jwk``, the claims
    of a GET of :data:`URL` with :data:`TOKEN` at :data:`NOW`, then *header* and *changes*."""
    headers: dict[str, object] = {"typ": "dpop+jwt", "jwk": jwk_of(key) if alg not in ("none", "HS256") else {}}
    headers.update(header or {})
    headers = {name: value for name, value in headers.items() if value != DROP}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureKeyLengthWarning)  # the 1024-bit row
        return jwt.encode(claims(**changes), key, algorithm=alg, headers=headers)


def forge(header: object, payload: object, key: Any, signing_alg: str) -> str:
    """A compact JWS of exactly *header* and *payload*, signed with PyJWT's *signing_alg* object,
    whatever the header says (PyJWT's encoder writes its own ``alg``)."""
    segments = [b64(json.dumps(part, separators=(",", ":")).encode()) for part in (header, payload)]
    signing_input = ".".join(segments).encode()
    return ".".join([*segments, b64(get_default_algorithms()[signing_alg].sign(signing_input, key))])


@dataclass(frozen=True)
class Request:
    """What the server passes :func:`check_proof` besides the proof."""

    method: str = "GET"
    url: str = URL
    access_token: str | None = TOKEN
    now: float = NOW
    algorithms: tuple[str, ...] = ALGORITHMS
    nonce_ok: Callable[[str | None], bool] | None = None
    max_bytes: int = 8192


def check(value: str, request: Request = Request()) -> Proof | ProofRefused:
    return check_proof(
        value,
        method=request.method,
        url=request.url,
        access_token=request.access_token,
        now=request.now,
        max_age=MAX_AGE,
        leeway=LEEWAY,
        algorithms=request.algorithms,
        nonce_ok=request.nonce_ok,
        max_bytes=request.max_bytes,
    )


def current_nonce(value: str | None) -> bool:
    return nonce_valid(NONCE_KEY, value, NOW, NONCE_PERIOD)


NONCES: Final = Request(nonce_ok=current_nonce)
SECRET: Final = b"s" * 32


# -- the RFC's vectors ----------------------------------------------------------------------------

#: RFC 9449 Figure 13: the proof of a protected resource request (decoded in Figure 14).
RFC9449_FIGURE_13: Final = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik"
    "VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR"
    "nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE"
    "QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiJlMWozVl9iS2ljOC1MQUVCIiwiaHRtIj"
    "oiR0VUIiwiaHR1IjoiaHR0cHM6Ly9yZXNvdXJjZS5leGFtcGxlLm9yZy9wcm90ZWN0Z"
    "WRyZXNvdXJjZSIsImlhdCI6MTU2MjI2MjYxOCwiYXRoIjoiZlVIeU8ycjJaM0RaNTNF"
    "c05yV0JiMHhXWG9hTnk1OUlpS0NBcWtzbVFFbyJ9.2oW9RP35yRqzhrtNP86L-Ey71E"
    "OptxRimPPToA1plemAgR6pxHF8y6-yqyVnmcw6Fy1dqd-jfxSYoMxhAJpLjA"
)
#: RFC 9449 Figure 2 (and Figure 5): the proof of a token request (decoded in Figure 4).
RFC9449_FIGURE_2: Final = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik"
    "VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR"
    "nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE"
    "QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIj"
    "oiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwia"
    "WF0IjoxNTYyMjYyNjE2fQ.2-GxA6T8lP4vfrg8v-FdWP0A0zdrj8igiMLvqRMUvwnQg"
    "4PtFLbdLXiOSsX0x7NVY-FNyJK70nfbV37xRZT3Lg"
)
#: RFC 9449 Figure 7: the proof of a refresh token request (same key, same jti, later iat).
RFC9449_FIGURE_7: Final = (
    "eyJ0eXAiOiJkcG9wK2p3dCIsImFsZyI6IkVTMjU2IiwiandrIjp7Imt0eSI6Ik"
    "VDIiwieCI6Imw4dEZyaHgtMzR0VjNoUklDUkRZOXpDa0RscEJoRjQyVVFVZldWQVdCR"
    "nMiLCJ5IjoiOVZFNGpmX09rX282NHpiVFRsY3VOSmFqSG10NnY5VERWclUwQ2R2R1JE"
    "QSIsImNydiI6IlAtMjU2In19.eyJqdGkiOiItQndDM0VTYzZhY2MybFRjIiwiaHRtIj"
    "oiUE9TVCIsImh0dSI6Imh0dHBzOi8vc2VydmVyLmV4YW1wbGUuY29tL3Rva2VuIiwia"
    "WF0IjoxNTYyMjY1Mjk2fQ.pAqut2IRDm_De6PR93SYmGBPXpwrAk90e8cP2hjiaG5Qs"
    "GSuKDYW7_X620BxqhvYC8ynrrvZLTk41mSRroapUA"
)
#: RFC 9449 Figure 6: the access token; Figure 14: its ath; Figure 9: the key's jkt.
RFC9449_TOKEN: Final = "Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"
RFC9449_ATH: Final = "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
RFC9449_JKT: Final = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I"
#: RFC 9449 Figure 4: the proofs' public key.
RFC9449_JWK: Final = {
    "kty": "EC",
    "x": "l8tFrhx-34tV3hRICRDY9zCkDlpBhF42UQUfWVAWBFs",
    "y": "9VE4jf_Ok_o64zbTTlcuNJajHmt6v9TDVrU0CdvGRDA",
    "crv": "P-256",
}


def test_rfc9449_figure_13_protected_resource_request() -> None:
    """RFC 9449 §7.1 Figure 13: the RFC's own proof passes every §4.3 check, ath (#12) included."""
    result = check_proof(
        RFC9449_FIGURE_13,
        method="GET",
        url="https://resource.example.org/protectedresource",
        access_token=RFC9449_TOKEN,
        now=1562262618 + 1,
        max_age=MAX_AGE,
        leeway=LEEWAY,
        algorithms=DEFAULT_ALGORITHMS,
    )
    assert result == Proof(jkt=RFC9449_JKT, jti="e1j3V_bKic8-LAEB", iat=1562262618, nonce=None)


@pytest.mark.parametrize(
    ("value", "iat"),
    [
        pytest.param(RFC9449_FIGURE_2, 1562262616, id="figure-2-authorization-code"),
        pytest.param(RFC9449_FIGURE_7, 1562265296, id="figure-7-refresh-token"),
    ],
)
def test_rfc9449_token_request_proofs(value: str, iat: int) -> None:
    """RFC 9449 §5 Figures 2 and 7: token requests carry no access token, so no ath is needed."""
    result = check_proof(
        value,
        method="POST",
        url="https://server.example.com/token",
        access_token=None,
        now=iat,
        max_age=MAX_AGE,
        leeway=LEEWAY,
        algorithms=("ES256",),
    )
    assert result == Proof(jkt=RFC9449_JKT, jti="-BwC3ESc6acc2lTc", iat=iat, nonce=None)


@pytest.mark.parametrize(
    ("changes", "error"),
    [
        pytest.param({"access_token": "another-token"}, INVALID_PROOF, id="4.3#12-ath-of-another-token"),
        pytest.param({"now": 1562262618 + MAX_AGE + 1}, INVALID_PROOF, id="4.3#11-too-old"),
        pytest.param({"method": "POST"}, INVALID_PROOF, id="4.3#8-another-method"),
        pytest.param({"url": "https://resource.example.org/other"}, INVALID_PROOF, id="4.3#9-another-url"),
        pytest.param({"algorithms": ("EdDSA",)}, INVALID_PROOF, id="4.3#5-es256-not-allowed"),
    ],
)
def test_rfc9449_figure_13_refused_elsewhere(changes: dict[str, Any], error: str) -> None:
    """The same RFC proof, one request detail changed: refused."""
    arguments: dict[str, Any] = {
        "method": "GET",
        "url": "https://resource.example.org/protectedresource",
        "access_token": RFC9449_TOKEN,
        "now": 1562262618,
        "max_age": MAX_AGE,
        "leeway": LEEWAY,
        "algorithms": DEFAULT_ALGORITHMS,
        **changes,
    }
    result = check_proof(RFC9449_FIGURE_13, **arguments)
    assert isinstance(result, ProofRefused)
    assert result.error == error


def test_rfc9449_jkt_and_ath_examples() -> None:
    """RFC 9449 §6.1 Figure 9 (jkt of Figure 4's key) and §7.1 Figure 14 (ath of Figure 6's token)."""
    assert thumbprint(RFC9449_JWK) == RFC9449_JKT
    assert token_hash(RFC9449_TOKEN) == RFC9449_ATH


#: RFC 7638 §3.1: the example RSA key (with its alg and kid) and its thumbprint.
RFC7638_JWK: Final = {
    "kty": "RSA",
    "n": (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc"
        "_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQ"
        "R0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bF"
        "TWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    ),
    "e": "AQAB",
    "alg": "RS256",
    "kid": "2011-04-29",
}


def test_rfc7638_example_thumbprint() -> None:
    """RFC 7638 §3.1: required members only (alg and kid ignored), sorted, SHA-256, base64url."""
    assert thumbprint(RFC7638_JWK) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


#: RFC 8037 §A.1: the example Ed25519 key; §A.3: its thumbprint.
RFC8037_D: Final = "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
RFC8037_X: Final = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
RFC8037_JKT: Final = "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"


def test_rfc8037_ed25519_key_signs_a_proof_with_its_thumbprint() -> None:
    """RFC 8037 §A.1-A.3: the example key's public x and thumbprint; a proof it signs gets that jkt."""
    key = ed25519.Ed25519PrivateKey.from_private_bytes(base64.urlsafe_b64decode(RFC8037_D + "="))
    assert jwk_of(key)["x"] == RFC8037_X
    assert thumbprint({"kty": "OKP", "crv": "Ed25519", "x": RFC8037_X}) == RFC8037_JKT
    result = check(proof(key, "EdDSA"))
    assert isinstance(result, Proof)
    assert result.jkt == RFC8037_JKT


# -- the §4.3 table ------------------------------------------------------------------------------------

_GOOD: Final = proof()
_HEADER, _PAYLOAD, _SIGNATURE = _GOOD.split(".")
_OTHER_PAYLOAD: Final = proof(htm="POST").split(".")[1]
_EC_HEADER: Final = {"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk_of(EC_KEY)}
_HUGE: Final = proof(padding="x" * 9000)

CASES: Final = [
    # Accepted: the request's own proof, each key type.
    pytest.param(_GOOD, Request(), None, id="accepted-ec-p256-es256"),
    pytest.param(proof(ED_KEY, "EdDSA"), Request(), None, id="accepted-ed25519-eddsa"),
    pytest.param(proof(ED448_KEY, "EdDSA"), Request(), None, id="accepted-ed448-eddsa"),
    pytest.param(proof(RSA_KEY, "RS256"), Request(), None, id="accepted-rsa2048-rs256"),
    pytest.param(proof(RSA_KEY, "PS256"), Request(algorithms=("PS256",)), None, id="accepted-rsa2048-ps256"),
    pytest.param(proof(P384_KEY, "ES384"), Request(algorithms=("ES384",)), None, id="accepted-ec-p384-es384"),
    pytest.param(proof(header={"kid": "k1", "x5u": "x"}), Request(), None, id="accepted-4.2-other-headers"),
    pytest.param(proof(extra={"a": 1}), Request(), None, id="accepted-4.2-other-claims"),
    # §4.3 #2: a single, well-formed JWT.
    pytest.param("not-a-jws", Request(), INVALID_PROOF, id="4.3#2-not-a-jws"),
    pytest.param("@@@.@@@.@@@", Request(), INVALID_PROOF, id="4.3#2-garbage-base64"),
    pytest.param("eyJ!.e30.e30", Request(), INVALID_PROOF, id="4.3#2-bad-base64-character"),
    pytest.param(_GOOD + "." + _SIGNATURE, Request(), INVALID_PROOF, id="4.3#2-four-segments"),
    pytest.param(_GOOD + " " + _GOOD, Request(), INVALID_PROOF, id="4.3#2-two-proofs-in-one-value"),
    pytest.param("", Request(), INVALID_PROOF, id="4.3#2-empty"),
    pytest.param(b64(b"[1]") + "." + _PAYLOAD + "." + _SIGNATURE, Request(), INVALID_PROOF, id="4.3#2-header-a-list"),
    pytest.param(forge(_EC_HEADER, [1, 2], EC_KEY, "ES256"), Request(), INVALID_PROOF, id="4.3#2-payload-a-list"),
    pytest.param(
        proof(header={"crit": ["exp"], "exp": 1}), Request(), INVALID_PROOF, id="4.3#2-unknown-critical-header"
    ),
    pytest.param(_HUGE, Request(), INVALID_PROOF, id="4.3#2-longer-than-max-bytes"),
    pytest.param(_GOOD, Request(max_bytes=len(_GOOD) - 1), INVALID_PROOF, id="4.3#2-max-bytes-is-a-bound"),
    pytest.param(_GOOD, Request(max_bytes=len(_GOOD)), None, id="4.3#2-max-bytes-inclusive"),
    # §4.3 #4 and §11.5: typ is dpop+jwt.
    pytest.param(proof(header={"typ": None}), Request(), INVALID_PROOF, id="4.3#4-typ-missing"),
    pytest.param(proof(header={"typ": "JWT"}), Request(), INVALID_PROOF, id="4.3#4-typ-jwt"),
    pytest.param(proof(header={"typ": "at+jwt"}), Request(), INVALID_PROOF, id="4.3#4-typ-access-token"),
    pytest.param(proof(header={"typ": "DPOP+JWT"}), Request(), INVALID_PROOF, id="4.3#4-typ-upper-case"),
    pytest.param(
        proof(header={"typ": "application/dpop+jwt"}), Request(), INVALID_PROOF, id="4.3#4-typ-application-prefix"
    ),
    # §4.3 #5, §4.2 and §11.6: alg asymmetric, not none, allowed.
    pytest.param(
        proof(SECRET, "HS256", header={"jwk": {"kty": "oct", "k": b64(SECRET)}}),
        Request(algorithms=("HS256", "ES256")),
        INVALID_PROOF,
        id="4.3#5-hs256-symmetric-even-if-allowed",
    ),
    pytest.param(
        proof(None, "none", header={"jwk": jwk_of(EC_KEY)}),
        Request(algorithms=("none", "ES256")),
        INVALID_PROOF,
        id="4.3#5-alg-none-even-if-allowed",
    ),
    pytest.param(proof(RSA_KEY, "RS256"), Request(algorithms=("ES256",)), INVALID_PROOF, id="4.3#5-rs256-not-allowed"),
    pytest.param(proof(RSA_KEY, "RS256"), Request(algorithms=()), INVALID_PROOF, id="4.3#5-empty-allow-list"),
    pytest.param(
        forge({**_EC_HEADER, "alg": ["ES256"]}, claims(), EC_KEY, "ES256"),
        Request(),
        INVALID_PROOF,
        id="4.3#5-alg-not-a-string",
    ),
    pytest.param(
        forge({**_EC_HEADER, "alg": "ES521"}, claims(), EC_KEY, "ES256"),
        Request(algorithms=("ES521", "ES256")),
        INVALID_PROOF,
        id="4.3#5-unregistered-es521",
    ),
    # The key fits the alg (RFC 7518 §3.4, RFC 8037 §3.1).
    pytest.param(
        forge({**_EC_HEADER, "jwk": jwk_of(P384_KEY)}, claims(), P384_KEY, "ES256"),
        Request(),
        INVALID_PROOF,
        id="4.3#5-es256-with-a-p384-key",
    ),
    pytest.param(
        forge({**_EC_HEADER, "alg": "ES384"}, claims(), EC_KEY, "ES384"),
        Request(algorithms=("ES384",)),
        INVALID_PROOF,
        id="4.3#5-es384-with-a-p256-key",
    ),
    pytest.param(
        forge({**_EC_HEADER, "alg": "RS256"}, claims(), EC_KEY, "ES256"),
        Request(),
        INVALID_PROOF,
        id="4.3#5-rs256-with-an-ec-key",
    ),
    pytest.param(
        forge({**_EC_HEADER, "alg": "EdDSA", "jwk": jwk_of(RSA_KEY)}, claims(), ED_KEY, "EdDSA"),
        Request(),
        INVALID_PROOF,
        id="4.3#5-eddsa-with-an-rsa-key",
    ),
    pytest.param(
        proof(header={"jwk": {**jwk_of(EC_KEY), "kty": "RSA"}}), Request(), INVALID_PROOF, id="4.3#5-ec-key-as-rsa"
    ),
    pytest.param(proof(RSA_1024, "RS256"), Request(), INVALID_PROOF, id="4.3#5-rsa-1024-bits"),
    # §4.3 #6: the signature verifies with the header's jwk.
    pytest.param(
        proof(header={"jwk": jwk_of(OTHER_EC_KEY)}), Request(), INVALID_PROOF, id="4.3#6-signed-by-another-key"
    ),
    pytest.param(
        f"{_HEADER}.{_OTHER_PAYLOAD}.{_SIGNATURE}", Request(method="POST"), INVALID_PROOF, id="4.3#6-payload-swapped"
    ),
    pytest.param(f"{_HEADER}.{_PAYLOAD}.", Request(), INVALID_PROOF, id="4.3#6-no-signature"),
    pytest.param(proof(header={"jwk": DROP}), Request(), INVALID_PROOF, id="4.3#6-jwk-missing"),
    pytest.param(proof(header={"jwk": "key"}), Request(), INVALID_PROOF, id="4.3#6-jwk-a-string"),
    pytest.param(proof(header={"jwk": [jwk_of(EC_KEY)]}), Request(), INVALID_PROOF, id="4.3#6-jwk-a-list"),
    pytest.param(
        proof(header={"jwk": {**jwk_of(EC_KEY), "x": "AAAA"}}), Request(), INVALID_PROOF, id="4.3#6-jwk-not-on-curve"
    ),
    pytest.param(
        proof(header={"jwk": {**jwk_of(EC_KEY), "x": 1}}), Request(), INVALID_PROOF, id="4.3#6-jwk-x-not-a-string"
    ),
    # §4.3 #7: no private key in the jwk.
    pytest.param(proof(header={"jwk": jwk_of(EC_KEY, private=True)}), Request(), INVALID_PROOF, id="4.3#7-ec-d"),
    pytest.param(
        proof(ED_KEY, "EdDSA", header={"jwk": jwk_of(ED_KEY, private=True)}),
        Request(),
        INVALID_PROOF,
        id="4.3#7-okp-d",
    ),
    pytest.param(
        proof(RSA_KEY, "RS256", header={"jwk": jwk_of(RSA_KEY, private=True)}),
        Request(),
        INVALID_PROOF,
        id="4.3#7-rsa-private-members",
    ),
    pytest.param(
        proof(RSA_KEY, "RS256", header={"jwk": {**jwk_of(RSA_KEY), "p": "AQAB"}}),
        Request(),
        INVALID_PROOF,
        id="4.3#7-rsa-p-alone",
    ),
    pytest.param(proof(header={"jwk": {**jwk_of(EC_KEY), "k": "AA"}}), Request(), INVALID_PROOF, id="4.3#7-k-member"),
    # §4.3 #3: the required claims of §4.2.
    pytest.param(proof(jti=DROP), Request(), INVALID_PROOF, id="4.3#3-jti-missing"),
    pytest.param(proof(jti=123), Request(), INVALID_PROOF, id="4.3#3-jti-a-number"),
    pytest.param(proof(jti=""), Request(), INVALID_PROOF, id="4.3#3-jti-empty"),
    pytest.param(proof(jti="j" * 257), Request(), INVALID_PROOF, id="11.1-jti-too-long"),
    pytest.param(proof(jti="j" * 256), Request(), None, id="11.1-jti-of-256-characters"),
    pytest.param(proof(htm=DROP), Request(), INVALID_PROOF, id="4.3#3-htm-missing"),
    pytest.param(proof(htu=DROP), Request(), INVALID_PROOF, id="4.3#3-htu-missing"),
    pytest.param(proof(iat=DROP), Request(), INVALID_PROOF, id="4.3#3-iat-missing"),
    # §4.3 #8: htm is the request's method, case-sensitively.
    pytest.param(proof(htm="POST"), Request(), INVALID_PROOF, id="4.3#8-another-method"),
    pytest.param(proof(htm="get"), Request(), INVALID_PROOF, id="4.3#8-lower-case-method"),
    pytest.param(proof(htm=["GET"]), Request(), INVALID_PROOF, id="4.3#8-htm-a-list"),
    pytest.param(proof(htm="POST"), Request(method="POST"), None, id="4.3#8-post-for-post"),
    # §4.3 #9: htu is the request's URL, normalised, query and fragment ignored.
    pytest.param(proof(htu=URL.replace("things", "other")), Request(), INVALID_PROOF, id="4.3#9-another-path"),
    pytest.param(proof(htu=URL.replace("api.", "evil.")), Request(), INVALID_PROOF, id="4.3#9-another-host"),
    pytest.param(proof(htu=URL.replace("https", "http")), Request(), INVALID_PROOF, id="4.3#9-another-scheme"),
    pytest.param(proof(htu=URL.replace(".com", ".com:8443")), Request(), INVALID_PROOF, id="4.3#9-another-port"),
    pytest.param(proof(htu="/v1/things"), Request(), INVALID_PROOF, id="4.3#9-relative-htu"),
    pytest.param(proof(htu=42), Request(), INVALID_PROOF, id="4.3#9-htu-a-number"),
    pytest.param(proof(htu="not a url"), Request(url="not a url"), INVALID_PROOF, id="4.3#9-two-non-urls-never-match"),
    pytest.param(proof(htu=URL + "?page=2#top"), Request(), None, id="4.3#9-query-and-fragment-of-htu-ignored"),
    pytest.param(proof(), Request(url=URL + "?page=2"), None, id="4.3#9-query-of-request-ignored"),
    pytest.param(proof(htu="HTTPS://API.Example.COM:443/v1/things"), Request(), None, id="4.3#9-case-and-default-port"),
    pytest.param(
        proof(htu="https://api.example.com/v1/%7ethings/caf%c3%a9"),
        Request(url="https://api.example.com/v1/~things/caf%C3%A9"),
        None,
        id="4.3#9-percent-encoding-normalised",
    ),
    # §4.3 #11 and §11.1: iat within the window.
    pytest.param(proof(iat=NOW - MAX_AGE - 1), Request(), INVALID_PROOF, id="4.3#11-stale-iat"),
    pytest.param(proof(iat=NOW - MAX_AGE), Request(), None, id="4.3#11-iat-at-max-age"),
    pytest.param(proof(iat=NOW + LEEWAY + 1), Request(), INVALID_PROOF, id="4.3#11-future-iat-beyond-leeway"),
    pytest.param(proof(iat=NOW + LEEWAY), Request(), None, id="4.3#11-future-iat-within-leeway"),
    pytest.param(proof(iat=NOW + 0.5), Request(), None, id="4.3#11-fractional-iat"),
    pytest.param(proof(iat=str(NOW)), Request(), INVALID_PROOF, id="4.3#3-iat-a-string"),
    pytest.param(proof(iat=True), Request(now=1), INVALID_PROOF, id="4.3#3-iat-a-bool"),
    pytest.param(proof(iat=float("nan")), Request(), INVALID_PROOF, id="4.3#3-iat-nan"),
    pytest.param(proof(iat=10**400), Request(), INVALID_PROOF, id="4.3#3-iat-huge"),
    # §4.3 #12 and §7: ath is the presented token's hash.
    pytest.param(proof(ath=token_hash("another-token")), Request(), INVALID_PROOF, id="4.3#12-wrong-ath"),
    pytest.param(proof(ath=DROP), Request(), INVALID_PROOF, id="4.3#12-ath-missing-with-a-token"),
    pytest.param(proof(ath=7), Request(), INVALID_PROOF, id="4.3#12-ath-a-number"),
    pytest.param(proof(ath=TOKEN), Request(), INVALID_PROOF, id="4.3#12-ath-the-token-itself"),
    pytest.param(proof(ath=DROP), Request(access_token=None), None, id="4.2-no-ath-without-a-token"),
    pytest.param(proof(), Request(access_token="tökén"), INVALID_PROOF, id="4.2-non-ascii-token"),
    # §4.3 #10, §8, §9 and §11.3: the server's nonce.
    pytest.param(proof(), NONCES, USE_NONCE, id="8-nonce-required-and-missing"),
    pytest.param(proof(nonce=mint_nonce(NONCE_KEY, NOW, NONCE_PERIOD)), NONCES, None, id="8-nonce-current"),
    pytest.param(
        proof(nonce=mint_nonce(NONCE_KEY, NOW - NONCE_PERIOD, NONCE_PERIOD)), NONCES, None, id="8-nonce-previous"
    ),
    pytest.param(
        proof(nonce=mint_nonce(NONCE_KEY, NOW - 2 * NONCE_PERIOD, NONCE_PERIOD)), NONCES, USE_NONCE, id="8-nonce-stale"
    ),
    pytest.param(proof(nonce=mint_nonce(b"k" * 32, NOW, NONCE_PERIOD)), NONCES, USE_NONCE, id="8-nonce-of-another-key"),
    pytest.param(proof(nonce=["x"]), NONCES, USE_NONCE, id="8-nonce-a-list"),
    pytest.param(proof(nonce="whatever"), Request(), None, id="8-nonce-ignored-when-not-required"),
    pytest.param(proof(htm="POST"), NONCES, INVALID_PROOF, id="8-invalid-proof-before-nonce"),
]


@pytest.mark.parametrize(("value", "request_", "error"), CASES)
def test_check_proof(value: str, request_: Request, error: str | None) -> None:
    """Each row: the outcome of RFC 9449 §4.3 for one proof and request (the id names the MUST)."""
    result = check(value, request_)
    if error is None:
        assert isinstance(result, Proof), result
        header = json.loads(base64.urlsafe_b64decode(value.split(".")[0] + "=="))
        assert result.jkt == thumbprint(header["jwk"])
        return
    assert isinstance(result, ProofRefused), result
    assert result.error == error
    # Safe to send: never the proof (nor a part of it), never the token; fit for an error_description.
    for secret in (value, *value.split("."), TOKEN, token_hash(TOKEN)):
        assert len(secret) < 8 or secret not in result.description
    assert re.fullmatch(r"[\x20\x21\x23-\x5b\x5d-\x7e]+", result.description)  # RFC 6750 §3's characters


def test_refusals_say_why() -> None:
    """The description names the failed check: a few pinned, and a huge value is refused unparsed."""
    too_large = check(_HUGE)
    assert isinstance(too_large, ProofRefused)
    assert check("x" * 9000) == too_large  # bounded before parsing: not even read as a JWS
    assert check("x") != too_large
    descriptions = {
        check(proof(htm="POST")),
        check(proof(htu=URL + "/x")),
        check(proof(iat=NOW - 3600)),
        check(proof(iat=NOW + 3600)),
        check(proof(ath=DROP)),
        check(proof(header={"typ": "JWT"})),
        check(proof(header={"jwk": jwk_of(OTHER_EC_KEY)})),
        check(proof(header={"jwk": jwk_of(EC_KEY, private=True)})),
        too_large,
    }
    assert len(descriptions) == 9
    assert check(proof(ath=DROP)) != check(proof(ath=token_hash("another-token")))


def test_a_mac_is_refused_as_an_algorithm_not_as_a_key() -> None:
    """RFC 9449 §4.3 #5: HS256 is refused for its alg, before its key is looked at, allow-listed or not."""
    hs256 = proof(SECRET, "HS256", header={"jwk": {"kty": "oct", "k": b64(SECRET)}})
    not_allowed = check(proof(RSA_KEY, "RS256"), Request(algorithms=("ES256",)))
    assert check(hs256, Request(algorithms=("HS256", "ES256"))) == not_allowed
    assert check(proof(None, "none"), Request(algorithms=("none",))) == not_allowed


def test_proof_carries_its_claims() -> None:
    """A Proof: the jwk's thumbprint, jti, iat as given, nonce."""
    result = check(proof(ED_KEY, "EdDSA", jti="id-7", iat=NOW - 1, nonce="n-1"))
    assert result == Proof(thumbprint(jwk_of(ED_KEY)), "id-7", NOW - 1, "n-1")
    assert type(result.iat) is int


def test_the_same_proof_passes_twice() -> None:
    """RFC 9449 §11.1: replay is refused by the engine's jti cache, not here (no state at all)."""
    assert check(_GOOD) == check(_GOOD)
    assert isinstance(check(_GOOD), Proof)


def test_nonce_ok_sees_the_nonce_and_runs_last() -> None:
    """§4.3 #10: nonce_ok gets the nonce claim (None unless a string), only for an otherwise valid proof."""
    seen: list[str | None] = []

    def record(value: str | None) -> bool:
        seen.append(value)
        return True

    for value in (proof(nonce="abc"), proof(nonce=5), proof(), proof(htm="POST")):
        check(value, Request(nonce_ok=record))
    assert seen == ["abc", None, None]


def test_no_exception_escapes() -> None:
    """Hostile input: every one-character change of a valid proof, and non-text, is refused."""
    for position in range(len(_GOOD)):
        for replacement in ("A", ".", "=", "é"):
            if _GOOD[position] != replacement:
                changed = _GOOD[:position] + replacement + _GOOD[position + 1 :]
                assert isinstance(check(changed), ProofRefused), position
    wrong: Any = _GOOD.encode()
    assert check(wrong) == check("not-a-jws")


# -- thumbprint (RFC 7638) ----------------------------------------------------------------------------


def test_thumbprint_is_over_the_sorted_required_members() -> None:
    """RFC 7638 §3: member order and extra members change nothing; the hash input is exact."""
    jwk = jwk_of(EC_KEY)
    shuffled = {"y": jwk["y"], "x": jwk["x"], "kty": "EC", "kid": "k1", "use": "sig", "alg": "ES256", "crv": "P-256"}
    assert thumbprint(shuffled) == thumbprint(jwk)
    canonical = f'{{"crv":"P-256","kty":"EC","x":"{jwk["x"]}","y":"{jwk["y"]}"}}'
    assert thumbprint(jwk) == b64(hashlib.sha256(canonical.encode()).digest())
    assert thumbprint(jwk_of(EC_KEY)) != thumbprint(jwk_of(OTHER_EC_KEY))


@pytest.mark.parametrize(
    "jwk",
    [
        pytest.param({"kty": "oct", "k": "AAAA"}, id="oct-symmetric"),
        pytest.param({"x": "AAAA", "crv": "Ed25519"}, id="kty-missing"),
        pytest.param({"kty": "ec", "crv": "P-256", "x": "AA", "y": "AA"}, id="kty-lower-case"),
        pytest.param({"kty": "RSA", "e": "AQAB"}, id="rsa-n-missing"),
        pytest.param({"kty": "EC", "crv": "P-256", "x": "AA"}, id="ec-y-missing"),
        pytest.param({"kty": "EC", "crv": "P-192", "x": "AA", "y": "AA"}, id="ec-unknown-curve"),
        pytest.param({"kty": "OKP", "crv": "X25519", "x": "AA"}, id="okp-key-agreement-curve"),
        pytest.param({"kty": "OKP", "crv": "Ed25519", "x": 5}, id="member-a-number"),
        pytest.param({"kty": "OKP", "crv": "Ed25519", "x": "AA=="}, id="member-padded"),
        pytest.param({"kty": "OKP", "crv": "Ed25519", "x": ""}, id="member-empty"),
    ],
)
def test_thumbprint_refuses(jwk: dict[str, Any]) -> None:
    """RFC 7638 §3.2: a thumbprint needs every required member of a supported public key type."""
    with pytest.raises(ValueError):
        thumbprint(jwk)


# -- normal_url (RFC 9449 §4.3 #9, RFC 3986 §6.2.2 and §6.2.3) ---------------------------


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        pytest.param("https://api.example.com/v1", "https://api.example.com/v1", id="already-normal"),
        pytest.param("HTTPS://API.EXAMPLE.COM/V1", "https://api.example.com/V1", id="6.2.2.1-scheme-host-case"),
        pytest.param("https://api.example.com:443/", "https://api.example.com/", id="6.2.3-default-https-port"),
        pytest.param("http://api.example.com:80/", "http://api.example.com/", id="6.2.3-default-http-port"),
        pytest.param("http://api.example.com:443/", "http://api.example.com:443/", id="6.2.3-other-port-kept"),
        pytest.param("https://api.example.com:/x", "https://api.example.com/x", id="6.2.3-empty-port"),
        pytest.param("https://api.example.com", "https://api.example.com/", id="6.2.3-empty-path"),
        pytest.param("https://a.example/%7e%41%2f%2F", "https://a.example/~A%2F%2F", id="6.2.2.2-percent-encoding"),
        pytest.param("https://a.example/caf%c3%a9", "https://a.example/caf%C3%A9", id="6.2.2.1-percent-hex-case"),
        pytest.param("https://a.example/a/./b/../c", "https://a.example/a/c", id="6.2.2.3-dot-segments"),
        pytest.param("https://a.example/a/..", "https://a.example/", id="6.2.2.3-dot-dot-at-end"),
        pytest.param("https://a.example/../../x", "https://a.example/x", id="6.2.2.3-above-the-root"),
        pytest.param("https://a.example/%2E%2E/x", "https://a.example/x", id="6.2.2.3-encoded-dots"),
        pytest.param("https://a.example/x?q=1#f", "https://a.example/x", id="4.2-query-and-fragment-dropped"),
        pytest.param("https://a.example/a//b/", "https://a.example/a//b/", id="empty-segments-kept"),
        pytest.param('https://a.example/"x"', "https://a.example/%22x%22", id="unsafe-characters-encoded"),
        pytest.param("http://[::1]:8080/x", "http://[::1]:8080/x", id="ipv6-literal"),
        pytest.param("ftp://a.example/x", None, id="not-http"),
        pytest.param("//a.example/x", None, id="no-scheme"),
        pytest.param("/x", None, id="relative"),
        pytest.param("https:///x", None, id="no-host"),
        pytest.param("https://user:pw@a.example/x", None, id="user-information"),
        pytest.param("https://a.example:99999/x", None, id="port-out-of-range"),
        pytest.param("https://a.example:abc/x", None, id="port-not-a-number"),
        pytest.param("https://[::1/x", None, id="bad-ipv6-literal"),
        pytest.param("https://a.example/x y", None, id="space"),
        pytest.param("https://a.exa\nmple/x", None, id="control-character"),
        pytest.param("https://a.example/é", None, id="non-ascii"),
        pytest.param("", None, id="empty"),
    ],
)
def test_normal_url(url: str, normal: str | None) -> None:
    assert normal_url(url) == normal


# -- bound_key (RFC 9449 §6.1, RFC 7800 §3.1) ------------------------------------------------------------


@pytest.mark.parametrize(
    ("claims_", "jkt"),
    [
        pytest.param({"sub": "alice", "cnf": {"jkt": RFC9449_JKT}}, RFC9449_JKT, id="6.1-cnf-jkt"),
        pytest.param({"sub": "alice"}, None, id="no-cnf-not-bound"),
        pytest.param({"cnf": {}}, None, id="cnf-without-jkt"),
        pytest.param(
            {"cnf": {"x5t#S256": "bN7qLJ6KZWv-ggUZlr8V8oZc3IcVjIcjOi8Qq8E6J0A"}}, None, id="rfc8705-mtls-bound"
        ),
        pytest.param({"cnf": {"jkt": RFC9449_JKT, "x5t#S256": "x"}}, RFC9449_JKT, id="jkt-and-x5t"),
    ],
)
def test_bound_key(claims_: dict[str, Any], jkt: str | None) -> None:
    assert bound_key(claims_) == jkt


@pytest.mark.parametrize(
    "cnf",
    [
        pytest.param(None, id="cnf-null"),
        pytest.param("jkt", id="cnf-a-string"),
        pytest.param([RFC9449_JKT], id="cnf-a-list"),
        pytest.param({"jkt": None}, id="jkt-null"),
        pytest.param({"jkt": 5}, id="jkt-a-number"),
        pytest.param({"jkt": ""}, id="jkt-empty"),
        pytest.param({"jkt": RFC9449_JKT[:-1]}, id="jkt-too-short"),
        pytest.param({"jkt": RFC9449_JKT + "A"}, id="jkt-too-long"),
        pytest.param({"jkt": RFC9449_JKT + "="}, id="jkt-padded"),
        pytest.param({"jkt": RFC9449_JKT[:-1] + "J"}, id="jkt-non-canonical-last-character"),
        pytest.param({"jkt": "+" + RFC9449_JKT[1:]}, id="jkt-standard-base64"),
    ],
)
def test_bound_key_refuses_a_malformed_cnf(cnf: object) -> None:
    with pytest.raises(ValueError):
        bound_key({"cnf": cnf})


def test_bound_key_reads_frozen_claims() -> None:
    """The engine's claims are FrozenDicts (jwtguard.sansio.claims.freeze)."""
    from jwtguard.sansio.claims import freeze

    assert bound_key(freeze({"cnf": {"jkt": RFC9449_JKT}})) == RFC9449_JKT


# -- server nonces (RFC 9449 §8, §9) --------------------------------------------------------------------


def test_nonce_is_valid_for_the_current_and_previous_period() -> None:
    nonce = mint_nonce(NONCE_KEY, NOW, NONCE_PERIOD)
    start = NOW - NOW % NONCE_PERIOD  # the start of NOW's period
    assert nonce == mint_nonce(NONCE_KEY, start, NONCE_PERIOD) == mint_nonce(NONCE_KEY, start + 299.9, NONCE_PERIOD)
    assert nonce != mint_nonce(NONCE_KEY, start - 0.1, NONCE_PERIOD)
    assert nonce_valid(NONCE_KEY, nonce, start, NONCE_PERIOD)
    assert nonce_valid(NONCE_KEY, nonce, start + 2 * NONCE_PERIOD - 0.1, NONCE_PERIOD)  # the next period too
    assert not nonce_valid(NONCE_KEY, nonce, start + 2 * NONCE_PERIOD, NONCE_PERIOD)  # two periods later
    assert not nonce_valid(NONCE_KEY, nonce, start - 0.1, NONCE_PERIOD)  # from the future
    assert not nonce_valid(b"k" * 32, nonce, NOW, NONCE_PERIOD)  # another key


def test_nonce_syntax() -> None:
    """RFC 9449 §8.1: 1*NQCHAR; ours: 32 base64url characters, bucket then MAC."""
    nonce = mint_nonce(NONCE_KEY, NOW, NONCE_PERIOD)
    assert len(nonce) == 32
    assert set(nonce) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    raw = base64.urlsafe_b64decode(nonce)
    assert int.from_bytes(raw[:8], "big") == NOW // NONCE_PERIOD
    assert mint_nonce(NONCE_KEY, -1, NONCE_PERIOD) != mint_nonce(NONCE_KEY, 0, NONCE_PERIOD)  # before 1970 too


@pytest.mark.parametrize(
    "nonce",
    [
        pytest.param(None, id="none"),
        pytest.param("", id="empty"),
        pytest.param("x", id="short"),
        pytest.param("A" * 32, id="zeros"),
        pytest.param(mint_nonce(NONCE_KEY, NOW, NONCE_PERIOD) + "A", id="too-long"),
        pytest.param(mint_nonce(NONCE_KEY, NOW, NONCE_PERIOD)[:-1] + "=", id="padding-character"),
        pytest.param("+" * 32, id="standard-alphabet"),
        pytest.param("é" * 32, id="non-ascii"),
        pytest.param(5, id="a-number"),
    ],
)
def test_nonce_garbage_is_invalid(nonce: Any) -> None:
    assert nonce_valid(NONCE_KEY, nonce, NOW, NONCE_PERIOD) is False


def test_nonce_mac_bit_flips_are_invalid() -> None:
    raw = bytearray(base64.urlsafe_b64decode(mint_nonce(NONCE_KEY, NOW, NONCE_PERIOD)))
    for position in range(len(raw)):
        flipped = bytearray(raw)
        flipped[position] ^= 1
        assert not nonce_valid(NONCE_KEY, b64(bytes(flipped)), NOW, NONCE_PERIOD), position


@pytest.mark.parametrize(
    ("key", "period"),
    [
        pytest.param(b"short", NONCE_PERIOD, id="short-key"),
        pytest.param(NONCE_KEY, 0, id="zero-period"),
        pytest.param(NONCE_KEY, -1, id="negative-period"),
        pytest.param(NONCE_KEY, float("inf"), id="infinite-period"),
        pytest.param(NONCE_KEY, float("nan"), id="nan-period"),
    ],
)
def test_nonce_configuration_errors(key: bytes, period: float) -> None:
    with pytest.raises(ValueError):
        mint_nonce(key, NOW, period)
    with pytest.raises(ValueError):
        nonce_valid(key, "A" * 32, NOW, period)


def test_asymmetric_is_what_pyjwt_verifies_minus_macs_and_none() -> None:
    """RFC 9449 §4.2 and §11.6: the allow-list can never reach a MAC or none."""
    available = set(get_default_algorithms())
    assert available >= ASYMMETRIC
    assert not {"HS256", "HS384", "HS512", "none"} & ASYMMETRIC
    assert set(DEFAULT_ALGORITHMS) <= ASYMMETRIC  # JWTGUARD_DPOP_ALGORITHMS' default


def test_a_prepared_header_gives_the_same_answers() -> None:
    """The engine prepares each proof header once (``headers=``): the answers are the same as without."""
    prepared: dict[str, Any] = {}

    def remembered(segment: str, header: Any) -> Any:
        if segment not in prepared:
            prepared[segment] = read_header(header, ALGORITHMS)
        return prepared[segment]

    good = proof()
    for value in (good, proof(htm="POST"), proof(header={"typ": "JWT"}), good[:-8] + "AAAAAAAA"):
        assert check(value, Request()) == check_proof(
            value,
            method=Request().method,
            url=Request().url,
            access_token=TOKEN,
            now=NOW,
            max_age=MAX_AGE,
            leeway=LEEWAY,
            algorithms=ALGORITHMS,
            headers=remembered,
        )
    assert len(prepared) == 2  # one key, two header variants (typ)
