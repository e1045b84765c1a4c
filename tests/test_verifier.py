"""Issue 11: the token reader and signer that replace PyJWT's generic path, pinned against PyJWT itself.

:class:`~jwtguard.tokens.TokenVerifier` reads a compact JWS once and verifies with keys prepared at
start-up; :func:`~jwtguard.tokens.issue_token` signs with keys prepared once. Neither may accept a
token PyJWT refuses, nor refuse one it accepts, nor write another token: the differential
properties below feed both the same hostile tokens (edited characters, padding, non-canonical
base64, every header and audience shape), re-signed so that every check after the signature is
reached too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from datetime import datetime, timezone
from typing import Any

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.algorithms import get_default_algorithms

from jwtguard import ConfigError, Settings, issue_token
from jwtguard.keyring import _prepared_signer, new_private_key, private_pem, public_pem, signature_check, signing_key
from jwtguard.tokens import TokenVerifier, read_compact

from conftest import SECRET

NOW = int(time.time())

#: What PyJWT was asked before issue 11 (jwtguard checks the time claims itself).
PYJWT_OPTIONS: Any = {
    "verify_signature": True,
    "verify_exp": False,
    "verify_nbf": False,
    "verify_iat": False,
    "verify_aud": True,
    "verify_iss": True,
    "verify_sub": False,
    "verify_jti": False,
    "enforce_minimum_key_length": True,
}

VARIANTS = {
    "plain": Settings(secret=SECRET),
    "audience-issuer": Settings(secret=SECRET, audience=("api", "admin"), issuer="https://issuer.test"),
}


def pyjwt_outcome(settings: Settings, token: str) -> tuple[Any, ...]:
    """PyJWT's verdict with the options jwtguard used to pass it, and the required claims after it."""
    try:
        decoded = jwt.PyJWT().decode_complete(
            token,
            SECRET,
            algorithms=list(settings.algorithms),
            options=PYJWT_OPTIONS,
            audience=list(settings.audience) or None,
            issuer=settings.issuer,
        )
        for claim in ("exp", "iat", settings.user_claim):
            if decoded["payload"].get(claim) is None:
                raise jwt.MissingRequiredClaimError(claim)
    except Exception as exc:
        return ("refused", _family(exc))
    return ("ok", decoded["header"], decoded["payload"])


def jwtguard_outcome(settings: Settings, token: str) -> tuple[Any, ...]:
    try:
        header, claims = TokenVerifier(settings).verify(token)
    except Exception as exc:
        return ("refused", _family(exc))
    return ("ok", header, claims)


def _family(exc: Exception) -> str:
    """The errors explain tells apart (audience, issuer, a missing claim); the rest is one refusal."""
    for kind in (jwt.InvalidAudienceError, jwt.InvalidIssuerError, jwt.MissingRequiredClaimError):
        if isinstance(exc, kind):
            return kind.__name__ + (f":{exc.claim}" if isinstance(exc, jwt.MissingRequiredClaimError) else "")
    return "invalid"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(signing_input: str) -> str:
    return b64(hmac.new(SECRET.encode(), signing_input.encode(), hashlib.sha256).digest())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=8),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3),
    max_leaves=6,
)

headers = st.one_of(
    st.just({"alg": "HS256"}),
    st.just({"alg": "HS256", "typ": "JWT", "kid": "k1"}),
    st.fixed_dictionaries(
        {"alg": st.sampled_from(["HS256", "HS256", "HS384", "none", "hs256", ""])},
        optional={
            "typ": st.sampled_from(["JWT", "at+jwt", 1]),
            "kid": st.one_of(st.text(max_size=8), st.integers(), st.none(), st.lists(st.text(max_size=2))),
            "crit": st.one_of(
                st.just(["b64"]), st.just([]), st.just(["exp"]), st.just("b64"), st.lists(json_values, max_size=2)
            ),
            "b64": st.one_of(st.booleans(), st.none(), st.just(0)),
        },
    ),
    st.builds(lambda value: {"alg": value}, json_values),
    json_values,  # not even an object
)

audiences = st.one_of(
    st.sampled_from(["api", "admin", "other", "", ["api"], ["other", "admin"], [], ["api", 1]]), json_values
)

GOOD_CLAIMS = {"sub": "alice", "iat": NOW, "exp": NOW + 600}

payloads = st.one_of(
    st.just(GOOD_CLAIMS),
    st.builds(
        lambda aud, iss: {**GOOD_CLAIMS, "aud": aud, "iss": iss},
        st.sampled_from(["api", "admin", ["other", "admin"], "other", ""]),
        st.sampled_from(["https://issuer.test", "https://other.test"]),
    ),
    st.fixed_dictionaries(
        {},
        optional={
            "sub": st.one_of(st.just("alice"), json_values),
            "iat": st.one_of(st.just(NOW), json_values),
            "exp": st.one_of(st.just(NOW + 600), json_values),
            "aud": audiences,
            "iss": st.one_of(st.sampled_from(["https://issuer.test", "https://other.test"]), json_values),
        },
    ),
    json_values,
)


def _text(value: Any, raw: bytes | None) -> bytes:
    return raw if raw is not None else json.dumps(value).encode()


@st.composite
def tokens(draw: st.DrawFn) -> str:
    """A token over any header and payload, re-signed after its segments were spelt in odd ways."""
    odd_header = [b"", b"{", b'{"alg":"HS256"}\x00', b"\xff{}", b' {"alg":"HS256"}', b'{"alg":"HS256"} \r\n\t']
    odd_header += [b'{"alg":"HS256"} x', b'{"alg":"HS256"}{}', b'{"alg":"HS256"}\x0c', b'{"alg":"HS256","alg":"HS384"}']
    header = _text(draw(headers), draw(st.sampled_from([None] * 6 + odd_header)))
    odd_payload = [b"[]", b'{"sub":"alice"', b"\xef\xbb\xbf{}", b'{"sub":"\xed\xa0\x80"}', b"{}\n", b"{} 1"]
    good = json.dumps(GOOD_CLAIMS).encode()
    odd_payload += [good + b" ", good + "\u00a0".encode(), good.replace(b"{", b"{ \n", 1)]
    payload = _text(draw(payloads), draw(st.sampled_from([None] * 6 + odd_payload)))
    encoding = draw(st.sampled_from(["utf-8"] * 6 + ["utf-16", "utf-32", "utf-8-sig"]))
    if encoding != "utf-8":
        payload = payload.decode("utf-8", "replace").encode(encoding)
    segments = [b64(header), b64(payload)]
    for index in draw(st.sampled_from([[], [], [], [0], [1], [0, 1]])):
        segments[index] = respell(draw, segments[index])
    signing_input = ".".join(segments)
    signature = sign(signing_input)
    if draw(st.sampled_from([False, False, False, True])):
        signature = respell(draw, signature)
    token = f"{signing_input}.{signature}"
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 1, 2]))):
        position = draw(st.integers(0, len(token)))
        token = token[:position] + draw(st.sampled_from("A_-.=+/ é")) + token[position + 1 :]
    return token


def respell(draw: st.DrawFn, segment: str) -> str:
    """Padding, spare bits set, a lone character, a character outside the alphabet."""
    how = draw(st.sampled_from(["pad1", "pad2", "pad3", "spare-bits", "extra-char", "plus", "empty"]))
    if how.startswith("pad"):
        return segment + "=" * int(how[-1])
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    if how == "spare-bits" and len(segment) % 4 in (2, 3) and segment[-1:] in alphabet:
        return segment[:-1] + alphabet[alphabet.index(segment[-1]) | 1]
    if how == "extra-char":
        return segment + "A"
    if how == "plus":
        return segment.replace("-", "+").replace("_", "/") + "+"
    return "" if how == "empty" else segment


@settings(max_examples=600, deadline=None)
@given(tokens(), st.sampled_from(sorted(VARIANTS)))
def test_the_verifier_agrees_with_pyjwt(token: str, variant: str) -> None:
    """Every token: accepted by both, with the same header and claims, or refused by both."""
    configured = VARIANTS[variant]
    assert jwtguard_outcome(configured, token) == pyjwt_outcome(configured, token)


HS256_HEADER = b64(b'{"alg":"HS256"}')


@pytest.mark.parametrize("length", [2, 3, 6, 7])
def test_every_last_character_is_read_as_pyjwt_reads_it(length: int) -> None:
    """The spare-bits rule (GHSA-hxm8-2xgr-2p9m) for each of the 64 last characters of a segment."""
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    for last in alphabet:
        segment = "e" * (length - 1) + last
        signing_input = f"{HS256_HEADER}.{segment}"
        token = f"{signing_input}.{sign(signing_input)}"
        try:
            jwt.api_jws.PyJWS().decode_complete(token, SECRET, algorithms=["HS256"])
            theirs = "ok"
        except jwt.DecodeError:
            theirs = "refused"
        try:
            read_compact(token)
            ours = "ok"
        except jwt.DecodeError:
            ours = "refused"
        assert ours == theirs, last


def test_a_genuine_token_with_padding_verifies_as_in_pyjwt() -> None:
    """Padding to a whole quantum is accepted (AWS ALB writes it), and signed as sent."""
    body = b64(json.dumps({"sub": "alice", "iat": NOW, "exp": NOW + 60}).encode())
    head = b64(b'{"alg": "HS256"}')
    padded = head + "=" * (-len(head) % 4)
    assert padded != head
    signing_input = f"{padded}.{body}"
    token = f"{signing_input}.{sign(signing_input)}"
    assert jwtguard_outcome(VARIANTS["plain"], token)[0] == "ok" == pyjwt_outcome(VARIANTS["plain"], token)[0]


# -- issuing --------------------------------------------------------------------------------

ALGORITHMS = ["HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512"]
ALGORITHMS += ["ES256", "ES384", "ES512", "ES256K", "EdDSA"]


def _signing_settings(alg: str) -> tuple[Settings, Any, Any]:
    if alg.startswith("HS"):
        secret = SECRET + "-" + "x" * 20  # 64 bytes: HS512's minimum
        return Settings(secret=secret, algorithms=(alg,)), secret, secret
    key = new_private_key(alg)
    return Settings(algorithms=(alg,), public_key=public_pem(key), private_key=private_pem(key)), key, key.public_key()


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_issued_tokens_are_what_jwt_encode_writes(alg: str) -> None:
    """Byte for byte where the algorithm is deterministic; the same header and payload where it is not."""
    configured, private, public = _signing_settings(alg)
    nbf = datetime.fromtimestamp(NOW - 5, timezone.utc)
    token = issue_token(configured, "alice", jti="fixed", nbf=nbf, scope="read write", roles=["a", "b"])
    header = jwt.get_unverified_header(token)
    claims = jwt.decode(token, public, algorithms=[alg], options={"verify_iat": False})
    assert claims["nbf"] == NOW - 5  # a datetime becomes a NumericDate, as in jwt.encode
    expected = jwt.encode(claims, private, algorithm=alg, headers={"kid": header["kid"]})
    if alg.startswith(("PS", "ES")):  # a random salt or nonce: the signatures differ
        assert token.rsplit(".", 1)[0] == expected.rsplit(".", 1)[0]
    else:
        assert token == expected
    assert TokenVerifier(configured).verify(token)[1] == claims
    with pytest.raises(TypeError):
        issue_token(configured, "alice", iss=42)


def test_private_keys_are_parsed_once_per_key_material() -> None:
    """issue 11: a PEM private key is prepared once, then every token signs with the prepared key."""
    configured, _, _ = _signing_settings("RS256")
    first = signing_key(configured, "RS256")
    assert signing_key(configured.replace(cache_ttl=1), "RS256") is first  # same key material
    hits = _prepared_signer.cache_info().hits
    issue_token(configured, "alice")
    assert _prepared_signer.cache_info().hits == hits + 1
    # Never shown: not the secret, not the key.
    hs = Settings(secret=SECRET)
    assert SECRET not in repr(signing_key(hs, "HS256"))
    assert "PRIVATE" not in repr(first) and repr(first.key) not in repr(first)


def test_issuing_without_a_usable_private_key_names_the_setting() -> None:
    configured, _, _ = _signing_settings("ES256")
    for missing in (None, "   \n"):
        with pytest.raises(ConfigError) as raised:
            issue_token(configured.replace(private_key=missing), "alice")
        assert raised.value.variable == "JWTGUARD_PRIVATE_KEY"
    # A key of another type only: PyJWT's own refusal, as before (and never cached).
    rsa_only = configured.replace(private_key=private_pem(new_private_key("RS256")))
    for _ in range(2):
        with pytest.raises(jwt.InvalidKeyError):
            issue_token(rsa_only, "alice")


@pytest.mark.parametrize("alg", [name for name in ALGORITHMS if not name.startswith("HS")] + ["HS256", "HS512"])
def test_each_signature_check_agrees_with_pyjwts_verify(alg: str) -> None:
    """signature_check keeps what does not depend on the token; its verdict is PyJWT's on every signature."""
    loader = get_default_algorithms()[alg]
    if alg.startswith("HS"):
        key: Any = loader.prepare_key(SECRET + "-" + "x" * 20)
        other: Any = loader.prepare_key(SECRET[::-1] + "-" + "y" * 20)
        public: Any = key
    else:
        key, other = new_private_key(alg), new_private_key(alg)
        public = loader.prepare_key(public_pem(key))
    check = signature_check(alg, public)
    for message in (b"", b"eyJhbGciOiJ9.eyJzdWIiOiJhIn0", b"x" * 1000):
        good = loader.sign(message, key)
        candidates = [
            good,
            good[:-1],
            good + b"\0",
            bytes([good[0] ^ 1]) + good[1:],
            good[:-1] + bytes([good[-1] ^ 0x80]),
            b"",
            b"\0" * len(good),
            b"\xff" * len(good),
            loader.sign(message + b".", key),
            loader.sign(message, other),
        ]
        for signature in candidates:
            try:
                expected: object = loader.verify(message, public, signature)
            except Exception as exc:
                expected = type(exc)
            try:
                ours: object = check(message, signature)
            except Exception as exc:
                ours = type(exc)
            assert ours == expected, (message[:10], signature[:10])
        assert check(message, good) is True


def test_a_private_key_given_as_public_verifies_as_pyjwt_lets_it() -> None:
    """EC and EdDSA verify with its public half (PyJWT does); RSA fails token by token, as in PyJWT."""
    for alg in ("ES256", "EdDSA", "RS256"):
        loader = get_default_algorithms()[alg]
        key = new_private_key(alg)
        prepared = loader.prepare_key(private_pem(key))
        check = signature_check(alg, prepared)
        signature = loader.sign(b"m", key)
        if alg == "RS256":
            with pytest.raises(AttributeError):
                loader.verify(b"m", prepared, signature)
            with pytest.raises(AttributeError):
                check(b"m", signature)
        else:
            assert check(b"m", signature) is loader.verify(b"m", prepared, signature) is True
