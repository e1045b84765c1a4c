"""The hostile catalogue: malformed and malicious requests, each through both adapters, against the real store.

A real enabled user ``alice`` exists, so a hostile token that wrongly passed verification would get a 200.
Every case must end in a 401 (or 400/431 when the request itself is unacceptable) with an RFC 6750
challenge: never a 200, never a 5xx, never a traceback or the token in the body, never an
``X-User-Enabled`` header (no account-status oracle for unverified tokens).

Duplicate JSON keys: PyJWT's parser (Python's json) keeps the lexically last value, which RFC 7519 §4
allows; every decision is made on that same parsed value, so no later reader sees a different one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from jwtguard import Settings

from conftest import SECRET

NOW = int(time.time())
USER = "alice"


def b64(data: bytes | str) -> str:
    raw = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(header: str | bytes, payload: str | bytes, key: bytes = SECRET.encode()) -> str:
    """A compact JWS over raw header/payload JSON text, HMAC-SHA256 with *key* (any bytes at all)."""
    signing_input = f"{b64(header)}.{b64(payload)}"
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def claims(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"sub": USER, "iat": NOW - 10, "exp": NOW + 600}
    for name, value in overrides.items():
        if value is _DROP:
            body.pop(name, None)
        else:
            body[name] = value
    return body


_DROP = object()
HS256 = '{"alg":"HS256","typ":"JWT"}'


def good_hs(**overrides: Any) -> str:
    """Signed with the right secret: only the claims make it hostile."""
    return signed(HS256, json.dumps(claims(**overrides)))


@cache
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def attacker_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem() -> bytes:
    return rsa_key().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def settings_for(variant: str, mongo_uri: str) -> Settings:
    if variant == "rs":
        return Settings(algorithms=("RS256",), public_key=public_pem().decode(), store_url=mongo_uri)
    if variant == "mixed":
        return Settings(
            algorithms=("HS256", "RS256"), secret=SECRET, public_key=public_pem().decode(), store_url=mongo_uri
        )
    if variant == "audiss":
        return Settings(secret=SECRET, audience=("api",), issuer="https://issuer.test", store_url=mongo_uri)
    return Settings(secret=SECRET, store_url=mongo_uri)


Request = tuple[str, list[tuple[str, str | bytes]]]


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], Request]
    variant: str = "hs"
    statuses: tuple[int, ...] = (401,)


def bearer(token: str) -> Callable[[], Request]:
    return lambda: ("/api/me", [("Authorization", f"Bearer {token}")])


def header(value: str | bytes) -> Callable[[], Request]:
    return lambda: ("/api/me", [("Authorization", value)])


def none_token(casing: str, signature: str) -> Callable[[], Request]:
    return lambda: bearer(f"{b64(json.dumps({'alg': casing, 'typ': 'JWT'}))}.{b64(json.dumps(claims()))}.{signature}")()


def pyjwt_token(algorithm: str, key: Any) -> Callable[[], Request]:
    return lambda: bearer(jwt.encode(claims(), key, algorithm=algorithm))()


def with_header(extra: dict[str, Any], key: bytes = b"attacker-key") -> Callable[[], Request]:
    return lambda: bearer(signed(json.dumps({"alg": "HS256", "typ": "JWT", **extra}), json.dumps(claims()), key))()


def embedded_jwk() -> Request:
    attacker = attacker_rsa_key()
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(attacker.public_key()))
    return bearer(jwt.encode(claims(), attacker, algorithm="RS256", headers={"jwk": jwk}))()


def public_key_as_hmac_secret() -> Request:
    return bearer(signed(HS256, json.dumps(claims()), key=public_pem()))()


NON_UTF8_HEADER = b64(b"\xff\xfe{")


CATALOGUE = [
    # alg "none" in every casing, with and without a signature
    *(Case(f"alg-{casing}-unsigned", none_token(casing, "")) for casing in ("none", "None", "NONE", "nOnE")),
    *(Case(f"alg-{casing}-signed", none_token(casing, b64(b"sig"))) for casing in ("none", "None", "NONE", "nOnE")),
    # key confusion: the RSA public key used as an HMAC secret
    Case("hs-rs-confusion-rs-only", public_key_as_hmac_secret, "rs"),
    Case("hs-rs-confusion-mixed", public_key_as_hmac_secret, "mixed"),
    # algorithms and keys outside the allow-list
    Case("alg-hs384", pyjwt_token("HS384", SECRET * 2)),
    Case("alg-hs512", pyjwt_token("HS512", SECRET * 2)),
    Case("alg-rs256-when-hs-only", lambda: pyjwt_token("RS256", rsa_key())()),
    Case("alg-es256", lambda: pyjwt_token("ES256", ec.generate_private_key(ec.SECP256R1()))()),
    Case("wrong-secret", pyjwt_token("HS256", "another-secret-that-is-long-enough-0123456789")),
    Case("rs256-attacker-key", lambda: pyjwt_token("RS256", attacker_rsa_key())(), "rs"),
    # headers that must never find or trust a key
    Case("kid-path-traversal-empty-key", with_header({"kid": "../../../../dev/null"}, key=b"")),
    Case("kid-sql", with_header({"kid": "x' UNION SELECT 'attacker-key' --"})),
    Case("kid-not-a-string", with_header({"kid": {"$ne": None}})),
    Case("jku-attacker-url", with_header({"jku": "https://attacker.invalid/jwks.json"})),
    Case("x5u-attacker-url", with_header({"x5u": "https://attacker.invalid/cert.pem"})),
    Case("embedded-jwk", embedded_jwk, "rs"),
    Case("crit-unknown-extension", lambda: bearer(signed('{"alg":"HS256","crit":["exp"]}', json.dumps(claims())))()),
    Case("crit-not-a-list", lambda: bearer(signed('{"alg":"HS256","crit":"b64"}', json.dumps(claims())))()),
    # time claims
    Case("exp-missing", bearer(good_hs(exp=_DROP))),
    Case("iat-missing", bearer(good_hs(iat=_DROP))),
    Case("exp-string", bearer(good_hs(exp="9999999999"))),
    Case("exp-bool", bearer(good_hs(exp=True))),
    Case("exp-null", bearer(good_hs(exp=None))),
    Case("exp-object", bearer(good_hs(exp={"$gt": 0}))),
    Case("exp-nan", lambda: bearer(signed(HS256, f'{{"sub":"{USER}","iat":{NOW},"exp":NaN}}'))()),
    Case("exp-infinity", lambda: bearer(signed(HS256, f'{{"sub":"{USER}","iat":{NOW},"exp":Infinity}}'))()),
    Case("iat-nan", lambda: bearer(signed(HS256, f'{{"sub":"{USER}","iat":NaN,"exp":{NOW + 600}}}'))()),
    Case("iat-string", bearer(good_hs(iat=str(NOW)))),
    Case("exp-past", bearer(good_hs(exp=NOW - 1))),
    Case("exp-epoch-zero", bearer(good_hs(exp=0, iat=0))),
    Case("iat-far-future", bearer(good_hs(iat=NOW + 10**9, exp=NOW + 10**9 + 60))),
    Case("iat-future-beyond-leeway", bearer(good_hs(iat=NOW + 120))),
    Case("nbf-future", bearer(good_hs(nbf=NOW + 3600))),
    Case("nbf-string", bearer(good_hs(nbf="0"))),
    # audience and issuer
    Case("aud-wrong", bearer(good_hs(aud="other", iss="https://issuer.test")), "audiss"),
    Case("aud-missing", bearer(good_hs(iss="https://issuer.test")), "audiss"),
    Case("aud-object", bearer(good_hs(aud={"$in": ["api"]}, iss="https://issuer.test")), "audiss"),
    Case("iss-wrong", bearer(good_hs(aud="api", iss="https://attacker.invalid")), "audiss"),
    Case("iss-missing", bearer(good_hs(aud="api")), "audiss"),
    Case("aud-when-none-expected", bearer(good_hs(aud="api"))),
    # structure and encoding
    Case("one-segment", lambda: bearer(good_hs().split(".")[0])()),
    Case("two-segments", lambda: bearer(".".join(good_hs().split(".")[:2]))()),
    Case("four-segments", lambda: bearer(good_hs() + ".eyJ4IjoxfQ")()),
    Case("five-segments", lambda: bearer(good_hs() + ".a.b")()),
    Case("empty-segments", bearer("..")),
    Case("bad-base64-characters", header("Bearer e!J.e$J.s%g"), statuses=(400,)),
    Case("padding-inside-token", lambda: bearer(good_hs().replace(".", "=.", 1))(), statuses=(400,)),
    Case("padding-at-end", lambda: bearer(good_hs() + "==")()),
    Case("non-utf8-header-json", lambda: bearer(f"{NON_UTF8_HEADER}.{b64(json.dumps(claims()))}.c2ln")()),
    Case("nul-byte-in-value", header(b"Bearer abc\x00def.ghi.jkl"), statuses=(400,)),
    Case("nul-byte-in-json", lambda: bearer(signed('{"alg":"HS256"}\x00', json.dumps(claims())))()),
    Case("header-json-array", lambda: bearer(signed('["HS256"]', json.dumps(claims())))()),
    Case("header-json-string", lambda: bearer(signed('"HS256"', json.dumps(claims())))()),
    Case("header-json-number", lambda: bearer(signed("256", json.dumps(claims())))()),
    Case("payload-json-array", lambda: bearer(signed(HS256, json.dumps([claims()])))()),
    Case("payload-not-json", lambda: bearer(signed(HS256, "sub=alice"))()),
    Case("duplicate-alg-last-none", lambda: bearer(signed('{"alg":"HS256","alg":"none"}', json.dumps(claims())))()),
    Case(
        "duplicate-sub-last-operator",
        lambda: bearer(signed(HS256, f'{{"sub":"{USER}","iat":{NOW},"exp":{NOW + 600},"sub":{{"$ne":null}}}}'))(),
    ),
    Case("token-300kb", lambda: bearer(signed(HS256, json.dumps(claims(pad="x" * 300_000))))(), statuses=(431,)),
    # the user claim
    Case("sub-ne-null", bearer(good_hs(sub={"$ne": None}))),
    Case("sub-gt-empty", bearer(good_hs(sub={"$gt": ""}))),
    Case("sub-array", bearer(good_hs(sub=[USER]))),
    Case("sub-bool", bearer(good_hs(sub=True))),
    Case("sub-float", bearer(good_hs(sub=1.0))),
    Case("sub-huge-int", bearer(good_hs(sub=2**80))),
    Case("sub-empty", bearer(good_hs(sub=""))),
    Case("sub-1kb", bearer(good_hs(sub="a" * 1024))),
    Case("sub-10kb", bearer(good_hs(sub="a" * 10_240)), statuses=(431,)),  # over the header bound first
    Case("sub-control-chars", bearer(good_hs(sub="alice\n\x00"))),
    # the Authorization header itself
    Case("scheme-tab", lambda: header(f"Bearer\t{good_hs()}")(), statuses=(400,)),
    Case("scheme-no-space", lambda: header(f"Bearer{good_hs()}")()),
    Case("scheme-only", header("Bearer"), statuses=(400,)),
    Case("two-tokens", lambda: header(f"Bearer {good_hs()} {good_hs()}")(), statuses=(400,)),
    Case("two-tokens-comma", lambda: header(f"Bearer {good_hs()}, Bearer {good_hs()}")(), statuses=(400,)),
    Case("basic-scheme", header("Basic YWxpY2U6cGFzc3dvcmQ=")),
    Case(
        "two-authorization-headers",
        lambda: ("/api/me", [("Authorization", f"Bearer {good_hs()}"), ("Authorization", f"Bearer {good_hs()}")]),
        statuses=(400,),
    ),
    Case("token-in-query-string", lambda: (f"/api/me?access_token={good_hs()}", [])),
]


@pytest.mark.parametrize("case", CATALOGUE, ids=[case.name for case in CATALOGUE])
def test_hostile_request_is_refused(case: Case, make_client: Any, mongo_uri: str, users: Any) -> None:
    users.insert_one({"_id": USER, "user_enabled": True})
    path, headers = case.build()
    reply = make_client(settings_for(case.variant, mongo_uri))("GET", path, headers)
    assert reply.status in case.statuses, reply.body
    assert reply.headers["www-authenticate"].startswith('Bearer realm="api"')
    assert reply.headers["cache-control"] == "no-store"
    assert "x-user-enabled" not in reply.headers
    body = reply.json()  # a small JSON body, never a traceback page
    assert set(body) == {"error", "reason"}
    for _, value in headers:
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        token = text.partition(" ")[2]
        if len(token) > 8:
            assert token not in reply.body.decode("latin-1")


def test_catalogue_is_large_enough() -> None:
    assert len(CATALOGUE) >= 40
    assert len({case.name for case in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_positive_control_scheme_casing_passes(scheme: str, make_client: Any, settings: Settings, users: Any) -> None:
    """The catalogue's tokens fail for their flaw alone: the same construction, unflawed, passes."""
    users.insert_one({"_id": USER, "user_enabled": True})
    reply = make_client(settings)("GET", "/api/me", [("Authorization", f"{scheme} {good_hs()}")])
    assert reply.status == 200


def test_positive_control_rs256(make_client: Any, mongo_uri: str, users: Any) -> None:
    users.insert_one({"_id": USER, "user_enabled": True})
    client = make_client(settings_for("mixed", mongo_uri))
    rs_token = jwt.encode(claims(), rsa_key(), "RS256")
    assert client("GET", "/api/me", [("Authorization", f"Bearer {rs_token}")]).status == 200
    assert client("GET", "/api/me", [("Authorization", f"Bearer {good_hs()}")]).status == 200
