"""Issue 10: signing keys that can be rotated: key lists, kids, the overlap, rotate-key and the JWKS."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import stat
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from functools import cache
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from harness import flask_app, starlette_app

from jwtguard import Admin, ConfigError, JWTGuardASGI, JWTGuardWSGI, Settings, issue_token, tokens
from jwtguard.config import MAX_KEYS, pem_blocks, split_secrets
from jwtguard.endpoints.jwks import JWKS_PATH, JWKSASGI, JWKSWSGI, MEDIA_TYPE
from jwtguard.keyring import hmac_key_id, jwk_set, key_id, public_jwk, thumbprint
from jwtguard.tokens import TokenVerifier

from conftest import SECRET, bearer

#: The secret in use before the rotation, and the one rotated in (both long enough for HS384).
OLD = SECRET
NEW = "rotated-secret-9876543210-ZYXWVUTSRQPONMLKJIHGFEDCBA"
#: A third secret, configured nowhere: what an attacker (or a long-retired key) signs with.
STRANGER = "nobody-configures-this-secret-0123456789-abcdefghij"
NOW = 1_900_000_000.0


@cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def ec_key(name: str) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@cache
def ed_key(name: str) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def public_pem(key: Any) -> str:
    data: bytes = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return data.decode()


def private_pem(key: Any) -> str:
    data: bytes = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return data.decode()


def claims(**extra: Any) -> dict[str, Any]:
    return {"sub": "alice", "iat": NOW, "exp": NOW + 600, **extra}


def hs_token(secret: str, *, kid: str | None = None) -> str:
    """An HS256 token signed with *secret*, with *kid* in its header (none: as before kids existed)."""
    return jwt.encode(claims(), secret, algorithm="HS256", headers={"kid": kid} if kid is not None else None)


def outcome(verifier: TokenVerifier, token: str) -> str:
    """``ok`` when the signature checks out, else the exception's name."""
    try:
        verifier.verify(token)
    except Exception as exc:
        return type(exc).__name__
    return "ok"


# -- the lists -----------------------------------------------------------------------------

SPLITS = [
    ("one", OLD, (OLD,)),
    ("two", f"{NEW},{OLD}", (NEW, OLD)),
    ("spaces-around-commas", f" {NEW} ,  {OLD} ,", (NEW, OLD)),
    (
        "a-passphrase-keeps-its-spaces",
        "correct horse battery staple and some more words",
        ("correct horse battery staple and some more words",),
    ),
    ("empty", "", ()),
]


@pytest.mark.parametrize(("text", "expected"), [row[1:] for row in SPLITS], ids=[row[0] for row in SPLITS])
def test_secrets_split_on_commas_only(text: str, expected: tuple[str, ...]) -> None:
    assert split_secrets(text) == expected


def test_a_secret_list_signs_with_the_first_and_keeps_all() -> None:
    """Settings.secret stays the signing secret for existing callers; Settings.secrets holds the list."""
    from_env = Settings.from_env({"JWTGUARD_SECRET": f"{NEW}, {OLD}"})
    assert (from_env.secret, from_env.secrets) == (NEW, (NEW, OLD))
    assert from_env == Settings(secret=f"{NEW},{OLD}") == Settings(secrets=(NEW, OLD))
    assert Settings(secret=OLD).secrets == (OLD,)
    # A copy keeps the list; changing either name replaces it.
    assert from_env.replace(cache_ttl=1).secrets == (NEW, OLD)
    assert from_env.replace(secret=OLD).secrets == (OLD,)
    assert from_env.replace(secrets=(OLD, NEW)).secret == OLD
    # In code, secrets= takes each secret as it is, a comma included, and copies keep it so.
    with_comma = Settings(secrets=(f"{NEW},{OLD}",))
    assert with_comma.replace(cache_ttl=1).secrets == with_comma.secrets == (f"{NEW},{OLD}",)
    assert TokenVerifier(with_comma).verify(hs_token(f"{NEW},{OLD}"))[1]["sub"] == "alice"
    with pytest.raises(ConfigError) as raised:
        Settings(secret=OLD, secrets=(NEW, OLD))
    assert raised.value.variable == "JWTGUARD_SECRET"
    for secret in (OLD, NEW):
        assert secret not in repr(from_env) and secret not in str(from_env.describe())


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (f"{NEW},hunter2-short", "JWTGUARD_SECRET: secret 2 of 2: too short for HS256"),
        (f"{NEW},{OLD},{NEW}", "JWTGUARD_SECRET: secrets 1 and 3 of 3 are the same"),
        (",".join(f"{i}-{OLD}" for i in range(MAX_KEYS + 1)), f"at most {MAX_KEYS}"),
        (f"{NEW},-----BEGIN PUBLIC KEY-----{OLD}-----END PUBLIC KEY-----", "secret 2 of 2: not a usable key"),
    ],
    ids=["one-too-short", "listed-twice", "too-many", "a-pem-key-as-secret"],
)
def test_every_secret_of_the_list_is_checked_and_never_shown(value: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        TokenVerifier(Settings.from_env({"JWTGUARD_SECRET": value}))
    assert raised.value.variable == "JWTGUARD_SECRET"
    assert message in str(raised.value)
    for shown in ("hunter2", OLD, NEW):
        assert shown not in str(raised.value)


def test_pem_settings_hold_several_keys(tmp_path: Path) -> None:
    """Several PEM blocks in one value or file, in order; text between them and EC parameters are no keys."""
    first, second = public_pem(rsa_key("a")), public_pem(ec_key("b"))
    parameters = "-----BEGIN EC PARAMETERS-----\nBggqhkjOPQMBBw==\n-----END EC PARAMETERS-----\n"
    text = f"# the current key\n{first}\nretired next month:\n{parameters}{second}"
    assert pem_blocks(text) == (first.strip(), second.strip())
    path = tmp_path / "keys.pem"
    path.write_text(text)
    settings = Settings.from_env({"JWTGUARD_ALGORITHMS": "RS256,ES256", "JWTGUARD_PUBLIC_KEY_FILE": str(path)})
    assert settings.public_keys == (first.strip(), second.strip())
    assert pem_blocks("ssh-ed25519 AAAAC3Nza... one OpenSSH key") == ("ssh-ed25519 AAAAC3Nza... one OpenSSH key",)
    # Every key is checked: a weak second key is named by its position, never shown.
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    with pytest.raises(ConfigError) as raised:
        Settings(algorithms=("RS256",), public_key=first + public_pem(weak))
    assert raised.value.variable == "JWTGUARD_PUBLIC_KEY"
    assert str(raised.value).startswith("JWTGUARD_PUBLIC_KEY: key 2 of 2: an RSA key of 1024 bits is too weak")
    with pytest.raises(ConfigError) as raised:
        Settings(algorithms=("RS256",), public_key=first, private_key=private_pem(rsa_key("a")) + private_pem(weak))
    assert raised.value.variable == "JWTGUARD_PRIVATE_KEY"
    assert "key 2 of 2" in str(raised.value)
    assert private_pem(weak).splitlines()[1] not in str(raised.value)
    # A key serving none of the allowed algorithms is refused (RFC 8725 §3.1: no key of another family).
    with pytest.raises(ConfigError) as raised:
        TokenVerifier(Settings(algorithms=("RS256",), public_key=first + second))
    assert str(raised.value) == "JWTGUARD_PUBLIC_KEY: key 2 of 2: not a usable key for RS256"


def test_key_lists_refuse_what_they_cannot_use() -> None:
    """Too many keys, values of the wrong type: refused at start-up, naming the variable."""
    pem = public_pem(ec_key("many"))
    with pytest.raises(ConfigError) as raised:
        Settings(algorithms=("ES256",), public_key=pem * (MAX_KEYS + 1))
    assert (
        str(raised.value)
        == f"JWTGUARD_PUBLIC_KEY: holds {MAX_KEYS + 1} keys; at most {MAX_KEYS}: drop the retired ones"
    )
    bad_values: list[dict[str, Any]] = [{"secret": b"bytes-are-no-text-0123456789-abcdefghij"}, {"secrets": (NEW, 42)}]
    for bad in bad_values:
        with pytest.raises(ConfigError) as raised:
            Settings(**bad)
        assert raised.value.variable == "JWTGUARD_SECRET"
    assert Settings(secrets=f"{NEW},{OLD}").secrets == (NEW, OLD)  # type: ignore[arg-type]


# -- kids ------------------------------------------------------------------------------------


def test_rfc7638_thumbprint_of_the_rfcs_own_example() -> None:
    """RFC 7638 §3.1: the example RSA key's SHA-256 thumbprint."""
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiF"
        "V4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9"
        "c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF"
        "44-csFCur-kEgU8awapJzKnqDKgw"
    )
    example = {"kty": "RSA", "n": n, "e": "AQAB", "alg": "RS256", "kid": "2011-04-29"}
    assert thumbprint(example) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


def test_issued_tokens_carry_the_kid_of_their_signing_key() -> None:
    hs = Settings(secret=f"{NEW},{OLD}")
    header = jwt.get_unverified_header(issue_token(hs, "alice"))
    assert header["kid"] == hmac_key_id(NEW) != hmac_key_id(OLD)
    # The HMAC kid is keyed by the secret under a label of its own: not a plain hash of the secret.
    plain = base64.urlsafe_b64encode(hashlib.sha256(NEW.encode()).digest()).rstrip(b"=").decode()
    assert len(header["kid"]) == 16 and header["kid"] not in plain and header["kid"] not in NEW
    signer, other = ec_key("signer"), rsa_key("other")
    es = Settings(
        algorithms=("ES256", "RS256"),
        public_key=public_pem(other) + public_pem(signer),
        private_key=private_pem(signer) + private_pem(other),
    )
    token = issue_token(es, "alice")
    assert jwt.get_unverified_header(token) == {"alg": "ES256", "kid": key_id(signer), "typ": "JWT"}
    assert key_id(signer) == key_id(signer.public_key()) == thumbprint(public_jwk(signer))
    assert TokenVerifier(es).verify(token)[1]["sub"] == "alice"
    # No private key of the algorithm's type: PyJWT's own refusal, as before lists.
    with pytest.raises(jwt.InvalidKeyError):
        issue_token(es.replace(private_key=private_pem(signer)), "alice", algorithm="RS256")
    # Keys of two types: each algorithm signs with the first key of its own type.
    assert jwt.get_unverified_header(issue_token(es, "alice", algorithm="RS256"))["kid"] == key_id(other)


# -- verifying during a rotation -------------------------------------------------------------

#: (step, JWTGUARD_SECRET, token signed with, kid in its header, verifies?)
TIMELINE: list[tuple[str, str, str, str | None, bool]] = [
    ("before", OLD, OLD, hmac_key_id(OLD), True),
    ("step-1-old-signs", f"{OLD},{NEW}", OLD, hmac_key_id(OLD), True),
    ("step-1-a-process-already-at-step-2", f"{OLD},{NEW}", NEW, hmac_key_id(NEW), True),
    ("step-2-new-signs", f"{NEW},{OLD}", NEW, hmac_key_id(NEW), True),
    ("step-2-old-token-still-verifies", f"{NEW},{OLD}", OLD, hmac_key_id(OLD), True),
    ("step-2-old-token-from-before-kids", f"{NEW},{OLD}", OLD, None, True),
    ("step-2-new-token-without-kid", f"{NEW},{OLD}", NEW, None, True),
    ("step-2-unknown-kid-tries-each-key", f"{NEW},{OLD}", OLD, "an-idp-names-keys-its-own-way", True),
    ("step-2-unknown-key", f"{NEW},{OLD}", STRANGER, None, False),
    ("step-2-unknown-key-unknown-kid", f"{NEW},{OLD}", STRANGER, "k1", False),
    ("step-2-kid-of-new-signed-with-old", f"{NEW},{OLD}", OLD, hmac_key_id(NEW), False),
    ("step-3-old-dropped", NEW, OLD, hmac_key_id(OLD), False),
    ("step-3-old-dropped-no-kid", NEW, OLD, None, False),
    ("step-3-new", NEW, NEW, hmac_key_id(NEW), True),
]


@pytest.mark.parametrize(
    ("configured", "signer", "kid", "verifies"), [row[1:] for row in TIMELINE], ids=[row[0] for row in TIMELINE]
)
def test_rotation_timeline(configured: str, signer: str, kid: str | None, verifies: bool) -> None:
    """A token of the old key verifies while the old key is listed, and only then.

    A kid the guard knows selects that key alone (a token naming the new key but signed with the
    old one is refused although the old key is listed); no kid, or a kid of no configured key,
    tries each key in order: see TokenVerifier's docstring for why an unknown kid is not refused.
    """
    verifier = TokenVerifier(Settings(secret=configured))
    assert outcome(verifier, hs_token(signer, kid=kid)) == ("ok" if verifies else "InvalidSignatureError")


def test_unknown_kids_cost_one_check_per_listed_key() -> None:
    """The fallback is bounded by the list; a known kid costs one check, as does a single key."""
    verifier = TokenVerifier(Settings(secret=f"{NEW},{OLD},{STRANGER[::-1]}"))
    checks: list[object] = []

    def counted(check: Callable[[bytes, bytes], bool]) -> Callable[[bytes, bytes], bool]:
        def count(signing_input: bytes, signature: bytes) -> bool:
            checks.append(check)
            return check(signing_input, signature)

        return count

    verifier._keys["HS256"] = tuple(counted(check) for check in verifier._keys["HS256"])
    verifier._by_kid["HS256"] = {kid: counted(check) for kid, check in verifier._by_kid["HS256"].items()}
    for token, expected, tries in (
        (hs_token(STRANGER, kid="forged"), "InvalidSignatureError", 3),
        (hs_token(STRANGER), "InvalidSignatureError", 3),
        (hs_token(OLD), "ok", 2),
        (hs_token(OLD, kid=hmac_key_id(OLD)), "ok", 1),
        (hs_token(STRANGER, kid=hmac_key_id(NEW)), "InvalidSignatureError", 1),
    ):
        checks.clear()
        assert outcome(verifier, token) == expected
        assert len(checks) == tries


def test_the_header_is_read_once_whatever_the_number_of_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """issue 11: one read of the token (read_compact) serves the algorithm, the kid and the signature."""
    read: list[str] = []
    original = tokens._json_object

    def spy(data: bytes, name: str) -> Any:
        read.append(name)
        return original(data, name)

    monkeypatch.setattr(tokens, "_json_object", spy)
    single, pair = TokenVerifier(Settings(secret=OLD)), TokenVerifier(Settings(secret=f"{NEW},{OLD}"))
    token = hs_token(OLD, kid="whatever")
    for verifier in (single, pair):
        read.clear()
        assert outcome(verifier, token) == "ok"
        assert read == ["header", "payload"]


def test_key_families_never_mix_during_a_rotation() -> None:
    """RFC 8725 §3.1 with lists: HS* tokens meet only secrets, other algorithms only public keys."""
    current, rotated, attacker = rsa_key("current"), rsa_key("rotated"), rsa_key("attacker")
    settings = Settings(
        algorithms=("HS256", "RS256"),
        secret=f"{NEW},{OLD}",
        public_key=public_pem(rotated) + public_pem(current),
    )
    verifier = TokenVerifier(settings)
    rs = jwt.encode(claims(), current, algorithm="RS256")  # no kid: tries both public keys
    assert outcome(verifier, rs) == "ok"
    for name, token in (
        # The classic confusion: an HS256 token whose "secret" is a configured public key's text.
        ("public-key-as-hmac-secret", _hmac_over(public_pem(current), {"alg": "HS256", "kid": key_id(current)})),
        # An RS256 token naming an HMAC secret's kid: only the public keys are tried.
        ("rs-token-with-an-hmac-kid", jwt.encode(claims(), attacker, "RS256", headers={"kid": hmac_key_id(NEW)})),
        ("rs-token-with-a-known-kid", jwt.encode(claims(), attacker, "RS256", headers={"kid": key_id(current)})),
        ("not-allowed", jwt.encode(claims(), NEW, algorithm="HS384")),
    ):
        assert outcome(verifier, token) != "ok", name


def _hmac_over(key_text: str, header: dict[str, Any]) -> str:
    import hmac

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    signing_input = f"{b64(json.dumps(header).encode())}.{b64(json.dumps(claims()).encode())}"
    signature = hmac.new(key_text.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


# -- the JWK Set -----------------------------------------------------------------------------

#: Members of a JWK that hold private or secret key material (RFC 7518 §6.2.2, §6.3.2, §6.4.1; RFC 8037 §2).
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "oth", "k"}


def test_the_jwk_set_holds_public_parts_only() -> None:
    """One member per public key, with kid, alg and use; no private or secret member ever."""
    signer, other, ed = rsa_key("jwks-signer"), ec_key("jwks-other"), ed_key("jwks-ed")
    settings = Settings(
        algorithms=("RS256", "ES256", "EdDSA", "HS256"),
        secret=f"{NEW},{OLD}",
        # A private key given as a public one (PyJWT reads it): only its public half is published.
        public_key=private_pem(signer) + public_pem(other) + public_pem(ed),
        private_key=private_pem(signer),
    )
    document = jwk_set(settings)
    members = document["keys"]
    assert [(m["kty"], m["alg"], m["use"]) for m in members] == [
        ("RSA", "RS256", "sig"),
        ("EC", "ES256", "sig"),
        ("OKP", "EdDSA", "sig"),
    ]
    assert [set(m) for m in members] == [
        {"kty", "n", "e", "kid", "alg", "use"},
        {"kty", "crv", "x", "y", "kid", "alg", "use"},
        {"kty", "crv", "x", "kid", "alg", "use"},
    ]
    assert not any(PRIVATE_MEMBERS & set(member) for member in members)
    text = json.dumps(document)
    for secret in (NEW, OLD, *private_pem(signer).splitlines()[1:3]):
        assert secret not in text
    # Another service verifies jwtguard's tokens with it, picking the key by the token's kid.
    token = issue_token(settings, "alice")
    kid = jwt.get_unverified_header(token)["kid"]
    assert [m["kid"] for m in members] == [key_id(signer), key_id(other), key_id(ed)]
    found = jwt.PyJWKSet.from_dict(document)[kid]
    assert jwt.decode(token, found, algorithms=["RS256"])["sub"] == "alice"


def test_a_key_listed_twice_is_published_once() -> None:
    pem = public_pem(ec_key("twice"))
    assert [m["kid"] for m in jwk_set(Settings(algorithms=("ES256",), public_key=pem + pem))["keys"]] == [
        key_id(ec_key("twice"))
    ]


def test_hmac_only_publishes_an_empty_set() -> None:
    assert jwk_set(Settings(secret=f"{NEW},{OLD}")) == {"keys": []}
    assert jwk_set(Settings(algorithms=("RS256",), jwks_url="https://idp.example/jwks")) == {"keys": []}


def _jwks_settings() -> Settings:
    return Settings(
        algorithms=("ES256",), public_key=public_pem(ec_key("served")), private_key=private_pem(ec_key("served"))
    )


def _wsgi_get(app: Any, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    from werkzeug.test import Client

    response = Client(app).open(path, method=method)
    return response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.get_data()


def _asgi_get(app: Any, method: str, path: str) -> tuple[int, dict[str, str], bytes]:
    async def call() -> httpx.Response:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return await client.request(method, path)

    response = asyncio.run(call())
    return response.status_code, dict(response.headers), response.content


SERVERS: dict[str, tuple[Callable[..., Any], Callable[[Any, str, str], tuple[int, dict[str, str], bytes]]]] = {
    "wsgi": (JWKSWSGI, _wsgi_get),
    "asgi": (JWKSASGI, _asgi_get),
}


@pytest.mark.parametrize("kind", SERVERS)
def test_the_jwks_apps_answer_get_and_head_only(kind: str) -> None:
    make, request = SERVERS[kind]
    settings = _jwks_settings()
    app = make(settings=settings, max_age=120)
    status, headers, body = request(app, "GET", JWKS_PATH)
    assert status == 200
    assert headers["content-type"] == MEDIA_TYPE == "application/jwk-set+json"
    assert headers["cache-control"] == "public, max-age=120"
    assert json.loads(body) == jwk_set(settings) and json.loads(body)["keys"][0]["kid"] == key_id(ec_key("served"))
    assert headers["content-length"] == str(len(body))
    head = request(app, "HEAD", JWKS_PATH)
    assert (head[0], head[1]["content-length"], head[2]) == (200, str(len(body)), b"")
    for method in ("POST", "PUT", "DELETE", "OPTIONS"):
        refused = request(app, method, JWKS_PATH)
        assert (refused[0], refused[1]["allow"]) == (405, "GET, HEAD"), method
    assert request(app, "GET", "/elsewhere")[0] == 404
    assert request(make(settings=settings, path="/keys"), "GET", "/keys")[0] == 200
    with pytest.raises(ValueError, match="max_age"):
        make(settings=settings, max_age=-1)


def test_flask_serves_the_jwks_in_front_of_the_guard(tmp_path: Path) -> None:
    """README "Publishing the public keys", Flask: the keys need no token; every other route still does."""
    from werkzeug.test import Client

    settings = _jwks_settings().replace(store_url=f"sqlite:///{tmp_path / 'jwtguard.db'}")
    app = flask_app()
    guard = JWTGuardWSGI(app.wsgi_app, settings=settings)
    app.wsgi_app = JWKSWSGI(guard, settings=settings)
    try:
        client = Client(app)
        keys = client.get(JWKS_PATH)
        assert (keys.status_code, keys.headers["Content-Type"]) == (200, MEDIA_TYPE)
        assert client.get("/api/me").status_code == 401
        token = Admin(settings).issue_token("alice")
        me = client.get("/api/me", headers=bearer(token))
        assert (me.status_code, me.get_json()["user"]) == (200, "alice")
    finally:
        guard.close()


def test_starlette_serves_the_jwks_in_front_of_the_guard(tmp_path: Path) -> None:
    """README "Publishing the public keys", Starlette: the first middleware is the outermost."""
    from starlette.applications import Starlette
    from starlette.middleware import Middleware

    settings = _jwks_settings().replace(store_url=f"sqlite:///{tmp_path / 'jwtguard.db'}")
    routes = starlette_app().routes
    app = Starlette(
        routes=routes,
        middleware=[Middleware(JWKSASGI, settings=settings), Middleware(JWTGuardASGI, settings=settings)],
    )
    token = Admin(settings).issue_token("alice")

    async def requests() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            return [
                await client.get(JWKS_PATH),
                await client.get("/api/me"),
                await client.get("/api/me", headers=bearer(token)),
            ]

    keys, anonymous, me = asyncio.run(requests())
    assert (keys.status_code, keys.headers["content-type"]) == (200, MEDIA_TYPE)
    assert keys.json() == jwk_set(settings)
    assert anonymous.status_code == 401
    assert (me.status_code, me.json()["user"]) == (200, "alice")


# -- jwtguard rotate-key -----------------------------------------------------------------------


def run_cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("JWTGUARD_")}
    return subprocess.run(
        [sys.executable, "-m", "jwtguard", "rotate-key", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_rotate_key_prints_a_new_secret_never_a_configured_one(tmp_path: Path) -> None:
    result = run_cli(JWTGUARD_SECRET=f"{NEW},{OLD}", JWTGUARD_STORE_URL=f"sqlite:///{tmp_path / 'none.db'}")
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    for secret in (NEW, OLD):
        assert secret not in output
    assert f"JWTGUARD_SECRET now: kid {hmac_key_id(NEW)} (signs), kid {hmac_key_id(OLD)}" in result.stdout
    lines = result.stdout.splitlines()
    fresh = lines[1]
    assert lines[0] == f"new secret for HS256, kid {hmac_key_id(fresh)}:"
    assert "," not in fresh and len(fresh.encode()) >= 32
    # The three steps, in this order, each a valid configuration that keeps old tokens working.
    steps = [line.strip() for line in lines if line.strip().startswith("JWTGUARD_SECRET=")]
    assert steps == ["JWTGUARD_SECRET=<current>,<new>", "JWTGUARD_SECRET=<new>,<current>", "JWTGUARD_SECRET=<new>"]
    old_token = issue_token(Settings(secret=f"{NEW},{OLD}"), "alice")
    for step in steps[:2]:
        configured = step.partition("=")[2].replace("<current>", f"{NEW},{OLD}").replace("<new>", fresh)
        assert outcome(TokenVerifier(Settings(secret=configured)), old_token) == "ok", step
    assert "at least 3600 s after step 2 (JWTGUARD_TOKEN_TTL" in result.stdout
    assert not (tmp_path / "none.db").exists()  # no store is opened
    # The wait follows the configuration: a bound on token lifetimes, sessions' refresh tokens.
    bounded = run_cli(JWTGUARD_SECRET=OLD, JWTGUARD_MAX_TOKEN_LIFETIME="900", JWTGUARD_LEEWAY="5")
    assert "at least 905 s after step 2 (JWTGUARD_MAX_TOKEN_LIFETIME, plus JWTGUARD_LEEWAY)" in bounded.stdout


def test_rotate_key_writes_a_new_private_key_and_prints_no_configured_one(tmp_path: Path) -> None:
    current = ec_key("cli-current")
    env = {
        "JWTGUARD_ALGORITHMS": "ES256",
        "JWTGUARD_PUBLIC_KEY": public_pem(current),
        "JWTGUARD_PRIVATE_KEY": private_pem(current),
    }
    path = tmp_path / "new.pem"
    result = run_cli("--private-key-out", str(path), **env)
    assert result.returncode == 0, result.stderr
    for line in private_pem(current).splitlines()[1:-1]:
        assert line not in result.stdout + result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    written = serialization.load_pem_private_key(path.read_bytes(), password=None)
    assert isinstance(written, ec.EllipticCurvePrivateKey)
    assert (
        written.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()
        not in result.stdout
    )
    assert f"new ES256 private key, kid {key_id(written)}, written to {path}" in result.stdout
    assert public_pem(written) in result.stdout
    assert f"JWTGUARD_PUBLIC_KEY now: kid {key_id(current)}" in result.stdout
    assert f"JWTGUARD_PRIVATE_KEY now: kid {key_id(current)} (signs)" in result.stdout
    # Step 1 then step 2 of its output: the new key signs, the old key's tokens still verify.
    old_token = issue_token(Settings.from_env(env), "alice")
    step2 = Settings(
        algorithms=("ES256",), public_key=public_pem(current) + public_pem(written), private_key=path.read_text()
    )
    assert outcome(TokenVerifier(step2), old_token) == "ok"
    assert jwt.get_unverified_header(issue_token(step2, "alice"))["kid"] == key_id(written)
    # Never over an existing file; the algorithm must fit.
    again = run_cli("--private-key-out", str(path), **env)
    assert again.returncode == 2 and "exists" in again.stderr
    assert serialization.load_pem_private_key(path.read_bytes(), password=None).public_key() == written.public_key()
    assert run_cli(**env).returncode == 2  # an ES256 setup has no secret to rotate
    assert run_cli("--private-key-out", str(tmp_path / "hs.pem"), "--algorithm", "HS256", **env).returncode == 2
    rsa_out = tmp_path / "rsa.pem"
    made = run_cli("--private-key-out", str(rsa_out), "--algorithm", "PS256", **env)
    assert made.returncode == 0, made.stderr
    assert "note: PS256 is not in JWTGUARD_ALGORITHMS" in made.stdout
    assert isinstance(serialization.load_pem_private_key(rsa_out.read_bytes(), password=None), rsa.RSAPrivateKey)


# -- through both adapters -------------------------------------------------------------------


@pytest.fixture
def rotation(tmp_path: Path) -> Iterator[Callable[[str], Settings]]:
    """Settings on one embedded store, differing only in JWTGUARD_SECRET."""
    base = Settings(secret=OLD, store_url=f"sqlite:///{tmp_path / 'jwtguard.db'}", token_cache_ttl=0)
    admin = Admin(base)
    admin.create_user("alice")
    admin.close()
    yield lambda secret: base.replace(secret=secret)


def test_an_old_key_token_passes_during_the_overlap(make_client: Any, rotation: Callable[[str], Settings]) -> None:
    """Both adapters: tokens of the old key pass while it is listed second, and are refused once it is dropped."""
    before = rotation(OLD)
    old_token = issue_token(before, "alice")
    now = int(time.time())
    legacy = jwt.encode({"sub": "alice", "iat": now - 10, "exp": now + 600}, OLD, algorithm="HS256")  # no kid
    overlap = rotation(f"{NEW},{OLD}")
    new_token = issue_token(overlap, "alice")
    during = make_client(overlap)
    for token in (old_token, legacy, new_token):
        reply = during("GET", "/api/me", bearer(token))
        assert (reply.status, reply.json()["user"]) == (200, "alice")
    after = make_client(rotation(NEW))
    for token in (old_token, legacy):
        refused = after("GET", "/api/me", bearer(token))
        assert (refused.status, refused.json()["reason"]) == (401, "invalid")
        assert "x-user-enabled" not in refused.headers  # no account signal for a token that does not verify
    assert after("GET", "/api/me", bearer(new_token)).status == 200


@pytest.mark.parametrize(
    ("env", "args", "message"),
    [
        ({"JWTGUARD_SECRET": OLD}, ("--algorithm", "XS256"), "--algorithm: not a signing algorithm: 'XS256'"),
        ({"JWTGUARD_SECRET": OLD}, ("--algorithm", "ES256"), "--algorithm ES256 signs with a private key"),
        (
            {"JWTGUARD_SECRET": OLD},
            ("--private-key-out", "{tmp}/new.pem"),
            "JWTGUARD_ALGORITHMS=HS256 has no asymmetric",
        ),
        (
            {"JWTGUARD_SECRET": OLD},
            ("--private-key-out", "{tmp}/missing/new.pem", "--algorithm", "EdDSA"),
            "cannot create",
        ),
        ({"JWTGUARD_SECRET": f"{OLD},hunter2-short"}, (), "JWTGUARD_SECRET: secret 2 of 2: too short"),
    ],
    ids=[
        "unknown-algorithm",
        "asymmetric-without-a-file",
        "no-asymmetric-algorithm",
        "no-such-directory",
        "bad-config",
    ],
)
def test_rotate_key_refusals(
    env: dict[str, str],
    args: tuple[str, ...],
    message: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """Exit code 2 and a message naming what to change; never a configured secret, never a file left."""
    from jwtguard.cli import main

    for name in [name for name in os.environ if name.startswith("JWTGUARD_")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["rotate-key", *(arg.format(tmp=tmp_path) for arg in args)]) == 2
    output = capsys.readouterr()
    assert output.out == ""
    assert message in output.err
    assert OLD not in output.err and "hunter2" not in output.err
    assert list(tmp_path.iterdir()) == []


def test_the_asgi_jwks_app_alone_answers_lifespan_and_refuses_other_scopes() -> None:
    app = JWKSASGI(settings=_jwks_settings())
    sent: list[dict[str, Any]] = []
    incoming = iter([{"type": "lifespan.startup"}, {"type": "lifespan.shutdown"}])

    async def receive() -> dict[str, Any]:
        return next(incoming)

    async def send(message: Any) -> None:
        sent.append(dict(message))

    asyncio.run(app({"type": "lifespan"}, receive, send))
    assert sent == [{"type": "lifespan.startup.complete"}, {"type": "lifespan.shutdown.complete"}]
    with pytest.raises(RuntimeError, match="HTTP only"):
        asyncio.run(app({"type": "websocket", "path": JWKS_PATH}, receive, send))
    # In front of an app, every other scope type is the app's.
    seen: list[str] = []

    async def inner(scope: Any, receive: Any, send: Any) -> None:
        seen.append(scope["type"])

    asyncio.run(JWKSASGI(inner, settings=_jwks_settings())({"type": "websocket", "path": JWKS_PATH}, receive, send))
    assert seen == ["websocket"]
