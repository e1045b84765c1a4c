"""The hostile catalogue: malformed and malicious requests, each through both adapters, against the real store.

A real enabled user ``alice`` exists, so a hostile token that wrongly passed verification would get a 200.
Every case must end in a 401 (or 400/431 when the request itself is unacceptable) with an RFC 6750
challenge: never a 200, never a 5xx, never a traceback or the token in the body, never an
``X-User-Enabled`` header (no account-status oracle for unverified tokens).

Exceptions to the last rule, pinned per case: a token whose signature checks out and whose user is
unknown gets ``X-User-Enabled: false`` (the documented signal; it reveals nothing a key holder lacks).

Duplicate JSON keys: PyJWT's parser (Python's json) keeps the lexically last value, which RFC 7519 §4
allows; every decision is made on that same parsed value, so no later reader sees a different one
(``test_duplicate_keys_last_one_wins`` pins it: a duplicate cannot smuggle a second value past a check).

Raw bytes: the ASGI client sends header bytes as they are; Werkzeug's test client takes only ``str``
values, so the WSGI side gets each byte as one latin-1 character, which is exactly what a PEP 3333
server hands an application (``conftest.make_client`` does the decoding).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cache
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from jwtguard import Settings

from conftest import SECRET

#: Every token here is made against this instant, and every guard reads it from a frozen clock,
#: so the catalogue means the same whether it runs first or ten minutes into the suite.
NOW = int(time.time())


def clock() -> float:
    return float(NOW)


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
    return (
        rsa_key().public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
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
    if variant == "leeway":
        return Settings(secret=SECRET, leeway=30, store_url=mongo_uri)
    if variant == "bigheader":  # large enough that the user-id and JSON checks are reached, not the bound
        return Settings(secret=SECRET, max_header_bytes=200_000, store_url=mongo_uri)
    return Settings(secret=SECRET, store_url=mongo_uri)


Request = tuple[str, list[tuple[str, str | bytes]]]


#: The seeded user: enabled, so a token that wrongly verified would get a 200.
ENABLED = "enabled"
#: The same user after "log out everywhere" now: long-lived and back-dated tokens must still die.
LOGGED_OUT = "logged-out"


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[], Request]
    variant: str = "hs"
    statuses: tuple[int, ...] = (401,)
    reason: str = "invalid"
    user: str = ENABLED


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


def hmac_signed(alg: str, digest: str) -> Callable[[], Request]:
    """The right secret under another HMAC hash (by hand: PyJWT warns on a 49-byte HS512 key)."""

    def build() -> Request:
        signing_input = f"{b64(json.dumps({'alg': alg, 'typ': 'JWT'}))}.{b64(json.dumps(claims()))}"
        signature = hmac.new(SECRET.encode(), signing_input.encode(), digest).digest()
        return bearer(f"{signing_input}.{b64(signature)}")()

    return build


NON_UTF8_HEADER = b64(b"\xff\xfe{")
MULTIPLE = "multiple_credentials"


def raw_claims(text: str) -> Callable[[], Request]:
    """Right key, hand-written payload JSON (NaN, 1e400, duplicate keys: what json.dumps won't write)."""
    return lambda: bearer(signed(HS256, text))()


def raw_header(text: str, variant_payload: str | None = None) -> Callable[[], Request]:
    """Right key, hand-written JOSE header JSON."""
    return lambda: bearer(signed(text, variant_payload or json.dumps(claims())))()


def respelled_signature() -> str:
    """A genuinely signed token whose signature is written with "+" and "/" instead of "-" and "_".

    Python's base64 decoder reads both alphabets to the same bytes; PyJWT checks the base64url
    alphabet first (RFC 7515 §2), so one signed token does not get a second spelling.
    """
    for n in range(1000):
        head, payload, signature = good_hs(jti=str(n)).split(".")
        if "-" in signature or "_" in signature:
            return f"{head}.{payload}." + signature.replace("-", "+").replace("_", "/")
    raise AssertionError("no signature with '-' or '_' in 1000 tries")


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


EXTRA = [
    # alg "none" where the header is read to choose a key (HS256 and RS256 both allowed)
    Case("alg-none-mixed-config", none_token("none", ""), "mixed"),
    Case("alg-missing-mixed-config", raw_header('{"typ":"JWT"}'), "mixed"),
    Case("alg-missing", raw_header('{"typ":"JWT"}')),
    Case("alg-null-mixed-config", raw_header('{"alg":null}'), "mixed"),
    Case("alg-list-mixed-config", raw_header('{"alg":["HS256"]}'), "mixed"),
    Case("alg-object-mixed-config", raw_header('{"alg":{"$ne":"none"}}'), "mixed"),
    Case("alg-says-rs256-hmac-signed", lambda: bearer(signed('{"alg":"RS256"}', json.dumps(claims())))(), "mixed"),
    Case("header-json-array-mixed-config", raw_header('["HS256"]'), "mixed"),
    Case("header-json-null-mixed-config", raw_header("null"), "mixed"),
    Case("b64-false-unencoded-payload", raw_header('{"alg":"HS256","b64":false}')),
    Case("kid-sql-rs-config", lambda: with_header({"kid": "1' OR '1'='1"})(), "rs"),
    # more time claims: non-numbers of every JSON type, non-finite, out of range
    Case("iat-bool", bearer(good_hs(iat=True))),
    Case("iat-null", bearer(good_hs(iat=None))),
    Case("iat-object", bearer(good_hs(iat={"$lt": NOW}))),
    Case("iat-infinity", raw_claims(f'{{"sub":"{USER}","iat":-Infinity,"exp":{NOW + 600}}}')),
    Case("iat-milliseconds", bearer(good_hs(iat=NOW * 1000))),  # JavaScript Date.now(): far in the future
    Case("nbf-bool", bearer(good_hs(nbf=False))),
    Case("nbf-object", bearer(good_hs(nbf={"$lt": NOW}))),
    Case("nbf-array", bearer(good_hs(nbf=[0]))),
    Case("nbf-nan", raw_claims(f'{{"sub":"{USER}","iat":{NOW},"exp":{NOW + 600},"nbf":NaN}}')),
    Case("nbf-far-future", bearer(good_hs(nbf=NOW + 10**9))),
    Case("exp-1e400-overflows-to-infinity", raw_claims(f'{{"sub":"{USER}","iat":{NOW},"exp":1e400}}')),
    Case("exp-string-hex", raw_claims(f'{{"sub":"{USER}","iat":{NOW},"exp":"0x7fffffff"}}')),
    Case("exp-far-past", bearer(good_hs(exp=-(10**9))), reason="expired"),
    # issue 7: NumericDates no datetime can represent (before year 1, after 9999) are invalid
    Case("exp-before-year-1", bearer(good_hs(exp=-(10**12)))),
    Case("exp-minus-1e18", bearer(good_hs(exp=-(10**18)))),
    Case("exp-after-year-9999", bearer(good_hs(exp=253_402_300_800))),
    Case("iat-minus-1e18", bearer(good_hs(iat=-(10**18)))),
    Case("iat-hundreds-of-digits", bearer(good_hs(iat=-(10**300)))),
    Case("iat-future-beyond-leeway-30s", bearer(good_hs(iat=NOW + 120)), "leeway"),
    Case("nbf-future-beyond-leeway-30s", bearer(good_hs(nbf=NOW + 120)), "leeway"),
    Case("exp-past-beyond-leeway-30s", bearer(good_hs(exp=NOW - 120)), "leeway", reason="expired"),
    # a good signature is not enough once the user logged out everywhere
    Case("exp-year-33658-after-logout", bearer(good_hs(exp=10**12)), user=LOGGED_OUT),  # no date: invalid
    Case("exp-huge-integer-after-logout", bearer(good_hs(exp=10**400)), user=LOGGED_OUT),
    Case("exp-year-9999-after-logout", bearer(good_hs(exp=253_402_300_799)), user=LOGGED_OUT, reason="revoked"),
    Case("iat-far-past-after-logout", bearer(good_hs(iat=-(10**9))), user=LOGGED_OUT, reason="revoked"),
    Case("exp-far-future-wrong-key", pyjwt_token("HS256", "x" * 64), reason="invalid"),
    # payloads that are not objects, or not JSON at all
    Case("payload-json-string", raw_claims('"alice"')),
    Case("payload-json-number", raw_claims("42")),
    Case("payload-json-null", raw_claims("null")),
    Case("payload-non-utf8", lambda: bearer(signed(HS256, b"\xff" + json.dumps(claims()).encode()))()),
    Case(
        "payload-deeply-nested",
        raw_claims(f'{{"sub":"{USER}","iat":{NOW},"exp":{NOW + 600},"x":{nested(20_000)}}}'),
        "bigheader",
    ),
    Case("header-deeply-nested", raw_header(f'{{"alg":"HS256","x":{nested(20_000)}}}'), "bigheader"),
    Case("sub-from-duplicate-object-key", raw_claims(f'{{"sub":{{"$ne":null}},"iat":{NOW},"exp":{NOW + 600}}}')),
    # encodings a lenient base64 decoder would take: one signed token must have one spelling
    Case("signature-in-standard-base64", lambda: bearer(respelled_signature())()),
    Case("segment-length-1-mod-4", lambda: bearer(good_hs() + "A")()),
    Case("only-dots", bearer("." * 4000)),
    Case("tilde-in-signature", lambda: bearer(good_hs() + "~")()),
    # the user claim, more shapes
    Case("sub-int64-overflow", bearer(good_hs(sub=2**63))),
    Case("sub-negative-int64-overflow", bearer(good_hs(sub=-(2**63) - 1))),
    Case("sub-zero-width-space", bearer(good_hs(sub="ali\u200bce"))),
    Case("sub-lone-surrogate", raw_claims(f'{{"sub":"\\ud800","iat":{NOW},"exp":{NOW + 600}}}')),
    Case("sub-nul", raw_claims(f'{{"sub":"\\u0000","iat":{NOW},"exp":{NOW + 600}}}')),
    Case("sub-missing-null", bearer(good_hs(sub=None))),
    # integers past Python's 4300-digit parsing limit: json raises ValueError, which must still be a 401
    Case("sub-5000-digits", raw_claims(f'{{"sub":{"9" * 5000},"iat":{NOW},"exp":{NOW + 600}}}')),
    Case("exp-5000-digits", raw_claims(f'{{"sub":"{USER}","iat":{NOW},"exp":{"9" * 5000}}}')),
    Case("kid-5000-digits-mixed-config", raw_header(f'{{"alg":"HS256","kid":{"9" * 5000}}}'), "mixed"),
    Case("sub-operator-as-text", bearer(good_hs(sub='{"$ne": null}')), reason="unknown_user"),
    # the Authorization header, more shapes
    Case("non-utf8-bytes-in-value", header(b"Bearer \xff\xfe.\x80\x81.\xc0"), statuses=(400,), reason="malformed"),
    Case("utf8-bytes-in-value", header("Bearer é.é.é".encode()), statuses=(400,), reason="malformed"),
    Case("scheme-comma", lambda: header(f"Bearer,{good_hs()}")(), statuses=(400,), reason="malformed"),
    Case("scheme-only-spaces", header("Bearer     "), statuses=(400,), reason="malformed"),
    Case("trailing-tab", lambda: header(f"Bearer {good_hs()}\t")(), statuses=(400,), reason="malformed"),
    Case("empty-authorization", header(""), reason="missing_token"),
    Case("scheme-token", header("Token abc.def.ghi"), reason="missing_token"),
    Case(
        "basic-and-bearer-headers",
        lambda: ("/api/me", [("Authorization", "Basic YWxpY2U6cHc="), ("Authorization", f"Bearer {good_hs()}")]),
        statuses=(400,),
        reason=MULTIPLE,
    ),
    Case("garbage-500kb", header("Bearer " + "!" * 500_000), statuses=(431,), reason="header_too_large"),
    Case("token-in-cookie", lambda: ("/api/me", [("Cookie", f"access_token={good_hs()}")]), reason="missing_token"),
    Case(
        "token-in-other-header",
        lambda: ("/api/me", [("X-Access-Token", good_hs()), ("Authorization", "")]),
        reason="missing_token",
    ),
]


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
    # the right secret, an algorithm outside the allow-list: the list refuses it, not the key
    Case("alg-hs384-right-secret", hmac_signed("HS384", "sha384")),
    Case("alg-hs512-right-secret", hmac_signed("HS512", "sha512")),
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
    Case("exp-past", bearer(good_hs(exp=NOW - 1)), reason="expired"),
    Case("exp-epoch-zero", bearer(good_hs(exp=0, iat=0)), reason="expired"),
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
    Case("bad-base64-characters", header("Bearer e!J.e$J.s%g"), statuses=(400,), reason="malformed"),
    Case(
        "padding-inside-token",
        lambda: bearer(good_hs().replace(".", "=.", 1))(),
        statuses=(400,),
        reason="malformed",
    ),
    Case("padding-at-end", lambda: bearer(good_hs() + "==")()),
    Case("non-utf8-header-json", lambda: bearer(f"{NON_UTF8_HEADER}.{b64(json.dumps(claims()))}.c2ln")()),
    Case("nul-byte-in-value", header(b"Bearer abc\x00def.ghi.jkl"), statuses=(400,), reason="malformed"),
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
    Case(
        "token-300kb",
        lambda: bearer(signed(HS256, json.dumps(claims(pad="x" * 300_000))))(),
        statuses=(431,),
        reason="header_too_large",
    ),
    # the user claim
    Case("sub-ne-null", bearer(good_hs(sub={"$ne": None}))),
    Case("sub-gt-empty", bearer(good_hs(sub={"$gt": ""}))),
    Case("sub-array", bearer(good_hs(sub=[USER]))),
    Case("sub-bool", bearer(good_hs(sub=True))),
    Case("sub-float", bearer(good_hs(sub=1.0))),
    Case("sub-huge-int", bearer(good_hs(sub=2**80))),
    Case("sub-empty", bearer(good_hs(sub=""))),
    Case("sub-1kb", bearer(good_hs(sub="a" * 1024))),
    Case("sub-10kb", bearer(good_hs(sub="a" * 10_240)), statuses=(431,), reason="header_too_large"),  # the bound first
    Case("sub-10kb-within-bound", bearer(good_hs(sub="a" * 10_240)), "bigheader"),
    Case("sub-control-chars", bearer(good_hs(sub="alice\n\x00"))),
    # the Authorization header itself
    Case("scheme-tab", lambda: header(f"Bearer\t{good_hs()}")(), statuses=(400,), reason="malformed"),
    Case("scheme-no-space", lambda: header(f"Bearer{good_hs()}")(), reason="missing_token"),
    Case("scheme-only", header("Bearer"), statuses=(400,), reason="malformed"),
    Case("two-tokens", lambda: header(f"Bearer {good_hs()} {good_hs()}")(), statuses=(400,), reason=MULTIPLE),
    Case(
        "two-tokens-comma",
        lambda: header(f"Bearer {good_hs()}, Bearer {good_hs()}")(),
        statuses=(400,),
        reason=MULTIPLE,
    ),
    Case("basic-scheme", header("Basic YWxpY2U6cGFzc3dvcmQ="), reason="missing_token"),
    Case(
        "two-authorization-headers",
        lambda: ("/api/me", [("Authorization", f"Bearer {good_hs()}"), ("Authorization", f"Bearer {good_hs()}")]),
        statuses=(400,),
        reason=MULTIPLE,
    ),
    Case("token-in-query-string", lambda: (f"/api/me?access_token={good_hs()}", []), reason="missing_token"),
    *EXTRA,
]


#: Body reasons that mean the request itself is unacceptable (400/431), and their header.
REQUEST_ERRORS = {"malformed", "multiple_credentials", "header_too_large"}


def seed(users: Any, kind: str) -> None:
    document: dict[str, Any] = {"_id": USER, "user_enabled": True}
    if kind == LOGGED_OUT:
        document["destroyAnyJWTbefore"] = datetime.fromtimestamp(NOW, timezone.utc)
    users.insert_one(document)


@pytest.mark.parametrize("case", CATALOGUE, ids=[case.name for case in CATALOGUE])
def test_hostile_request_is_refused(case: Case, make_client: Any, mongo_uri: str, users: Any) -> None:
    seed(users, case.user)
    path, headers = case.build()
    reply = make_client(settings_for(case.variant, mongo_uri), clock=clock)("GET", path, headers)
    assert reply.status in case.statuses, reply.body
    assert reply.status != 200 and reply.status < 500
    body = reply.json()  # a small JSON body, never a traceback page
    assert set(body) == {"error", "reason"}
    assert body["reason"] == case.reason
    assert len(reply.body) < 120 and b"Traceback" not in reply.body
    challenge = reply.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="api"')
    if case.reason == "missing_token":
        assert challenge == 'Bearer realm="api"'  # RFC 6750 §3.1: no error code without credentials
    elif case.reason in REQUEST_ERRORS:
        assert 'error="invalid_request"' in challenge and body["error"] == "invalid_request"
    else:
        assert 'error="invalid_token"' in challenge and body["error"] == "invalid_token"
    assert reply.headers["cache-control"] == "no-store"
    if case.reason in ("unknown_user", "disabled"):
        assert reply.headers["x-user-enabled"] == "false"  # only after the signature checked out
    else:
        assert "x-user-enabled" not in reply.headers
    for _, value in headers:
        text = value.decode("latin-1") if isinstance(value, bytes) else value
        for token in (text, text.partition(" ")[2], text.partition("=")[2]):
            if len(token) > 8:
                assert token not in reply.body.decode("latin-1")
    if "access_token=" in path:
        assert path.partition("=")[2] not in reply.body.decode()


def test_catalogue_is_large_enough() -> None:
    assert len(CATALOGUE) >= 40
    assert len({case.name for case in CATALOGUE}) == len(CATALOGUE)


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_positive_control_scheme_casing_passes(scheme: str, make_client: Any, settings: Settings, users: Any) -> None:
    """The catalogue's tokens fail for their flaw alone: the same construction, unflawed, passes."""
    users.insert_one({"_id": USER, "user_enabled": True})
    reply = make_client(settings, clock=clock)("GET", "/api/me", [("Authorization", f"{scheme} {good_hs()}")])
    assert reply.status == 200


def test_positive_control_rs256(make_client: Any, mongo_uri: str, users: Any) -> None:
    users.insert_one({"_id": USER, "user_enabled": True})
    client = make_client(settings_for("mixed", mongo_uri), clock=clock)
    rs_token = jwt.encode(claims(), rsa_key(), "RS256")
    assert client("GET", "/api/me", [("Authorization", f"Bearer {rs_token}")]).status == 200
    assert client("GET", "/api/me", [("Authorization", f"Bearer {good_hs()}")]).status == 200


def test_duplicate_keys_last_one_wins(make_client: Any, settings: Settings, users: Any) -> None:
    """Python's json keeps the last of duplicate keys; the signature covers the bytes, so only a key holder
    can write them, and every check reads the one parsed value: nothing is checked on one and used on another."""
    users.insert_one({"_id": USER, "user_enabled": True})
    users.insert_one({"_id": "bob", "user_enabled": False})
    client = make_client(settings, clock=clock)
    payload = f'{{"sub":"bob","iat":{NOW - 10},"exp":{NOW + 600},"sub":"{USER}"}}'
    reply = client("GET", "/api/me", [("Authorization", f"Bearer {signed(HS256, payload)}")])
    assert reply.status == 200
    assert reply.json()["user"] == USER  # the last "sub", the same value the state check used
    header_first_none = signed('{"alg":"none","alg":"HS256"}', json.dumps(claims()))
    assert client("GET", "/api/me", [("Authorization", f"Bearer {header_first_none}")]).status == 200
    expired_last = signed(HS256, f'{{"sub":"{USER}","iat":{NOW - 10},"exp":{NOW + 600},"exp":{NOW - 5}}}')
    reply = client("GET", "/api/me", [("Authorization", f"Bearer {expired_last}")])
    assert (reply.status, reply.json()["reason"]) == (401, "expired")


@pytest.mark.parametrize("variant", ["hs", "rs", "mixed"])
def test_key_urls_in_a_token_are_never_fetched(variant: str, make_client: Any, mongo_uri: str, users: Any) -> None:
    """jku and x5u point at a live server on 127.0.0.1 that serves the attacker's key: it gets no request."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from threading import Thread

    attacker = attacker_rsa_key()
    jwk = {**json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(attacker.public_key())), "kid": "k1", "alg": "RS256"}
    body = json.dumps({"keys": [jwk]}).encode()
    requested: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requested.append(self.path)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        users.insert_one({"_id": USER, "user_enabled": True})
        client = make_client(settings_for(variant, mongo_uri), clock=clock)
        hints = [{"jku": f"{base}/jwks.json"}, {"x5u": f"{base}/cert.pem"}, {"jku": f"{base}/j", "x5u": f"{base}/x"}]
        for hint in hints:
            for token in (
                jwt.encode(claims(), attacker, algorithm="RS256", headers={"kid": "k1", **hint}),
                signed(json.dumps({"alg": "HS256", "kid": "k1", **hint}), json.dumps(claims()), b"attacker-key"),
            ):
                reply = client("GET", "/api/me", [("Authorization", f"Bearer {token}")])
                assert (reply.status, reply.json()["reason"]) == (401, "invalid")
        assert requested == []
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_positive_control_key_hints_are_ignored(make_client: Any, settings: Settings, users: Any) -> None:
    """kid/jku/x5u with the right key pass: the hostile cases fail on their key, not on the hint's presence."""
    users.insert_one({"_id": USER, "user_enabled": True})
    hints = {"kid": "../../../../dev/null", "jku": "https://attacker.invalid/jwks.json", "x5u": "https://x.invalid"}
    token = signed(json.dumps({"alg": "HS256", **hints}), json.dumps(claims()))
    assert make_client(settings, clock=clock)("GET", "/api/me", [("Authorization", f"Bearer {token}")]).status == 200


def test_positive_control_iat_within_leeway(make_client: Any, mongo_uri: str, users: Any) -> None:
    users.insert_one({"_id": USER, "user_enabled": True})
    client = make_client(settings_for("leeway", mongo_uri), clock=clock)
    for token in (good_hs(iat=NOW + 10), good_hs(nbf=NOW + 10), good_hs(exp=NOW - 10)):
        assert client("GET", "/api/me", [("Authorization", f"Bearer {token}")]).status == 200


def test_positive_control_big_header_setting(make_client: Any, mongo_uri: str, users: Any) -> None:
    """With the bound raised, a 10 KB token reaches verification and, when its claims are sound, passes."""
    users.insert_one({"_id": USER, "user_enabled": True})
    token = good_hs(pad="x" * 10_240)
    client = make_client(settings_for("bigheader", mongo_uri), clock=clock)
    assert client("GET", "/api/me", [("Authorization", f"Bearer {token}")]).status == 200
