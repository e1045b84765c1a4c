"""A DPoP client for the tests: a key pair and the proofs it signs (RFC 9449 §4.2).

Real keys (``cryptography``), real signatures (PyJWT): every DPoP test proves its requests with
these, and may spoil any part of a proof (*header* and *claims* overrides, None drops a member).
"""

from __future__ import annotations

import base64
import hashlib
import json
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import get_default_algorithms


def ath(token: str) -> str:
    """The ``ath`` of an access token: base64url SHA-256 of its ASCII bytes."""
    return base64.urlsafe_b64encode(hashlib.sha256(token.encode("ascii")).digest()).rstrip(b"=").decode()


class ProofKey:
    """A client's DPoP key: ``ES256`` (P-256) by default, ``EdDSA`` (Ed25519) or ``RS256``."""

    def __init__(self, alg: str = "ES256") -> None:
        self.alg = alg
        if alg == "ES256":
            self.private: Any = ec.generate_private_key(ec.SECP256R1())
        elif alg == "EdDSA":
            self.private = ed25519.Ed25519PrivateKey.generate()
        elif alg == "RS256":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        else:
            raise ValueError(alg)
        algorithm = get_default_algorithms()[alg]
        self.jwk: dict[str, Any] = json.loads(algorithm.to_jwk(self.private.public_key()))

    @property
    def jkt(self) -> str:
        """The RFC 7638 thumbprint of the public key: what a bound token's ``cnf.jkt`` holds."""
        required = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}
        members = {name: self.jwk[name] for name in required[self.jwk["kty"]]}
        canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
        return base64.urlsafe_b64encode(hashlib.sha256(canonical).digest()).rstrip(b"=").decode()

    def proof(
        self,
        method: str,
        url: str,
        token: str | None = None,
        *,
        nonce: str | None = None,
        header: dict[str, Any] | None = None,
        **claims: Any,
    ) -> str:
        """A proof for *method* and *url* (and *token*'s ``ath``), signed now with a fresh ``jti``."""
        body: dict[str, Any] = {"jti": uuid.uuid4().hex, "htm": method, "htu": url, "iat": int(time.time())}
        if token is not None:
            body["ath"] = ath(token)
        if nonce is not None:
            body["nonce"] = nonce
        body.update(claims)
        fields: dict[str, Any] = {"typ": "dpop+jwt", "jwk": self.jwk, **(header or {})}
        body = {name: value for name, value in body.items() if value is not None}
        fields = {name: value for name, value in fields.items() if value is not None}
        return jwt.encode(body, self.private, algorithm=self.alg, headers=fields)
