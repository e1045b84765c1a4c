"""Settings: every ``JWTGUARD_*`` variable, parsed once into a frozen object.

``Settings.from_env()`` reads the environment; ``Settings(...)`` takes the same
values as keyword arguments. Both validate everything at start-up and raise
:class:`~jwtguard.errors.ConfigError` naming the variable and what it accepts.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Literal

import jwt

from .errors import ConfigError
from .userid import USER_ID_TYPES, UserIdType

PREFIX = "JWTGUARD_"

#: Minimum HMAC key length in bytes: RFC 7518 §3.2 asks for a key at least as
#: long as the hash output.
_HMAC_MIN_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}

#: Minimum RSA modulus in bits: RFC 7518 §3.3 and §3.5 ("2048 bits or larger MUST be used").
_RSA_MIN_BITS = 2048

_TUPLE_FIELDS = ("algorithms", "audience", "exempt_paths", "exempt_methods", "not_before_fields")

StoreErrorPolicy = Literal["reject", "stale", "allow"]
_STORE_ERROR_POLICIES: tuple[StoreErrorPolicy, ...] = ("reject", "stale", "allow")


#: RFC 9110 §5.6.2: a method name is a token.
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

#: Names of URL parts whose values are masked wherever a URL is shown: user-info passwords,
#: and query parameters that carry credentials (MongoDB's ``authMechanismProperties`` holds
#: ``AWS_SESSION_TOKEN:...``; ``tlsCertificateKeyFilePassword``; ``api_key``, ``access_token``...).
_SECRET_NAME = re.compile(r"pass|pwd|secret|token|key|sig|cred|auth|session|cookie|bearer|private", re.IGNORECASE)

#: Query parameters that match the pattern above yet only name a method or a database.
_PLAIN_NAMES = frozenset({"authsource", "authmechanism"})


def _header_text(value: str) -> bool:
    """Whether *value* can travel in an HTTP header field as every client reads it: visible ASCII and spaces.

    RFC 9110 §5.5 keeps other octets (obs-text) only for old messages, and clients decode them
    differently (latin-1, UTF-8, or an error); anything outside latin-1 cannot be sent at all.
    """
    return bool(value) and all(0x20 <= ord(c) <= 0x7E for c in value)


def mask_url(url: str) -> str:
    """*url* with every secret-looking part replaced by ``***``: the one rule for every output.

    A user-info password (``user:***@``) or a lone user-info (often a token:
    ``***@``), query values whose names look like credentials, and the fragment
    are masked; scheme, hosts, path and other options stay readable. Used by
    ``check-config``, the CLI and log lines, for MongoDB and JWKS URLs alike.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "***"  # not a URL at all: show nothing of it
    rest, hash_, fragment = rest.partition("#")
    end = next((i for i, c in enumerate(rest) if c in "/?"), len(rest))
    authority, tail = rest[:end], rest[end:]
    credentials, at, hosts = authority.rpartition("@")
    if at:
        user, colon, _ = credentials.partition(":")
        authority = f"{user}:***@{hosts}" if colon else f"***@{hosts}"
    path, question, query = tail.partition("?")
    if question:
        parts = []
        for part in query.split("&"):
            name, equals, value = part.partition("=")
            if equals and _SECRET_NAME.search(name) and name.lower() not in _PLAIN_NAMES:
                value = "***"
            parts.append(f"{name}{equals}{value}")
        tail = f"{path}?{'&'.join(parts)}"
    return f"{scheme}{sep}{authority}{tail}" + ("#***" if hash_ and fragment else hash_)


def _supported_algorithms() -> frozenset[str]:
    return frozenset(jwt.algorithms.get_default_algorithms()) - {"none"}


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """Everything jwtguard needs, validated on construction.

    Each field is read from the environment variable ``JWTGUARD_<FIELD>`` in
    upper case by :meth:`from_env`; the README lists them with their defaults.
    Secrets (``secret``, ``private_key``, ``store_url``) are left out of
    ``repr()`` and of :meth:`describe`.

    Security: ``algorithms`` is an allow-list taken from configuration only,
    never from a token's header (RFC 8725 §3.1); ``none`` can never be enabled.
    HMAC algorithms verify with ``secret``; every other algorithm verifies with
    ``public_key`` or the keys at ``jwks_url``, so one key can never serve two
    algorithm families (the HS/RS key-confusion attack).
    """

    secret: str | None = field(default=None, repr=False)
    public_key: str | None = field(default=None, repr=False)
    private_key: str | None = field(default=None, repr=False)
    jwks_url: str | None = None
    jwks_lifespan: float = 300.0
    algorithms: tuple[str, ...] = ("HS256",)
    user_claim: str = "sub"
    leeway: float = 0.0
    audience: tuple[str, ...] = ()
    issuer: str | None = None
    realm: str = "api"
    exempt_paths: tuple[str, ...] = ()
    exempt_methods: tuple[str, ...] = ()
    max_header_bytes: int = 8192
    max_user_id_length: int = 256
    user_id_type: UserIdType = "auto"
    token_ttl: float = 3600.0
    max_token_lifetime: float | None = None
    store_url: str | None = field(default=None, repr=False)
    users_collection: str = "users"
    not_before_fields: tuple[str, ...] = ("destroyAnyJWTbefore",)
    enabled_field: str = "user_enabled"
    store_timeout: float = 2.0
    cache_ttl: float = 5.0
    token_cache_ttl: float = 5.0
    cache_maxsize: int = 10_000
    retry_after: int = 5
    on_store_error: StoreErrorPolicy = "reject"
    stale_max_age: float = 300.0
    clear_site_data: bool = False

    def __post_init__(self) -> None:
        # Lists and single strings given to the constructor become tuples:
        # audience="api" means ("api",), never ("a", "p", "i").
        for name in _TUPLE_FIELDS:
            value = getattr(self, name)
            normalized = (value,) if isinstance(value, str) else tuple(value)
            if name == "exempt_methods":
                normalized = tuple(method.upper() for method in normalized)
            object.__setattr__(self, name, normalized)
        algorithms = self.algorithms
        if not algorithms:
            raise _error("algorithms", "at least one algorithm is required")
        supported = _supported_algorithms()
        for name in algorithms:
            if name.lower() == "none":
                raise _error("algorithms", "'none' can never be enabled")
            if name not in supported:
                raise _error(
                    "algorithms",
                    f"unknown algorithm {name!r}; accepts a comma-separated list of "
                    + ", ".join(sorted(supported)),
                )
        hmac = [name for name in algorithms if name in _HMAC_MIN_KEY_BYTES]
        if hmac:
            if not self.secret:
                raise _error("secret", f"required by {', '.join(hmac)}")
            needed = max(_HMAC_MIN_KEY_BYTES[name] for name in hmac)
            if len(self.secret.encode()) < needed:
                raise _error(
                    "secret",
                    f"too short for {', '.join(hmac)}: use at least {needed} bytes "
                    "(RFC 7518 §3.2), e.g. python -c 'import secrets; print(secrets.token_urlsafe(48))'",
                )
        asymmetric = [name for name in algorithms if name not in _HMAC_MIN_KEY_BYTES]
        if asymmetric and not (self.public_key or self.jwks_url):
            raise _error(
                "public_key", f"{', '.join(asymmetric)} needs JWTGUARD_PUBLIC_KEY(_FILE) or JWTGUARD_JWKS_URL"
            )
        if self.public_key and self.jwks_url:
            raise _error("jwks_url", "set either JWTGUARD_PUBLIC_KEY(_FILE) or JWTGUARD_JWKS_URL, not both")
        if self.jwks_url and not self.jwks_url.startswith(("https://", "http://")):
            raise _error("jwks_url", "accepts an https:// (or http://) URL")
        for name, pem in (("public_key", self.public_key), ("private_key", self.private_key)):
            if pem:
                _check_rsa_size(name, pem)
        if not self.user_claim:
            raise _error("user_claim", "accepts a claim name")
        _check_number("leeway", self.leeway, minimum=0, maximum=3600)
        _check_number("token_ttl", self.token_ttl, minimum=1, maximum=10 * 365 * 86400)
        if self.max_token_lifetime is not None:
            _check_number("max_token_lifetime", self.max_token_lifetime, minimum=1, maximum=10 * 365 * 86400)
        _check_number("store_timeout", self.store_timeout, minimum=0.01, maximum=120)
        _check_number("cache_ttl", self.cache_ttl, minimum=0, maximum=3600)
        _check_number("token_cache_ttl", self.token_cache_ttl, minimum=0, maximum=3600)
        _check_number("jwks_lifespan", self.jwks_lifespan, minimum=1, maximum=86400)
        _check_number("stale_max_age", self.stale_max_age, minimum=0, maximum=7 * 86400)
        _check_int("cache_maxsize", self.cache_maxsize, minimum=1)
        _check_int("max_header_bytes", self.max_header_bytes, minimum=256)
        _check_int("max_user_id_length", self.max_user_id_length, minimum=1)
        _check_int("retry_after", self.retry_after, minimum=0)
        for path in self.exempt_paths:
            if not path.startswith("/"):
                raise _error("exempt_paths", f"paths must start with '/', got {path!r}")
        if not self.not_before_fields:
            raise _error("not_before_fields", "at least one field name is required")
        for variable, names in (
            ("not_before_fields", self.not_before_fields),
            ("enabled_field", (self.enabled_field,)),
            ("users_collection", (self.users_collection,)),
        ):
            for name in names:
                if not name or name.startswith("$") or "\0" in name or "." in name:
                    raise _error(variable, f"{name!r} is not a usable name (no '$' prefix, no '.')")
        if self.user_id_type not in USER_ID_TYPES:
            raise _error("user_id_type", "accepts auto, str, int or objectid")
        if self.on_store_error not in _STORE_ERROR_POLICIES:
            raise _error("on_store_error", "accepts reject, stale or allow")
        if self.store_url is not None and not self.store_url.startswith(
            ("mongodb://", "mongodb+srv://", "sqlite://")
        ):
            # The value may hold a password: name the variable, not the value.
            raise _error("store_url", "accepts a mongodb://, mongodb+srv:// or sqlite:/// URL")
        if not _header_text(self.realm) or '"' in self.realm or "\\" in self.realm:
            # The realm is sent in every WWW-Authenticate field (RFC 9110 §11.6.1, a quoted-string).
            raise _error("realm", "accepts printable ASCII text without quotes or backslashes, e.g. api")
        for method in self.exempt_methods:
            if not _TOKEN.fullmatch(method):
                raise _error("exempt_methods", f"accepts HTTP method names such as GET, got {method!r}")

    @property
    def hmac_algorithms(self) -> tuple[str, ...]:
        """The configured algorithms that verify with ``secret``."""
        return tuple(name for name in self.algorithms if name in _HMAC_MIN_KEY_BYTES)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the ``JWTGUARD_*`` variables of *environ* (default ``os.environ``).

        Unset or empty variables keep their defaults; *overrides* win over both.
        ``JWTGUARD_PUBLIC_KEY_FILE`` and ``JWTGUARD_PRIVATE_KEY_FILE`` name PEM
        files read here, once.
        """
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(PREFIX + f.name.upper(), "").strip()
            if raw:
                values[f.name] = _PARSERS.get(f.name, _text)(f.name, raw)
        for name in ("public_key", "private_key"):
            path = env.get(f"{PREFIX}{name.upper()}_FILE", "").strip()
            if path and name not in values:
                values[name] = _read_file(f"{name}_file", path)
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with *changes* applied and validated again."""
        return replace(self, **changes)

    def describe(self) -> dict[str, str]:
        """The effective settings as text, secrets masked, for ``check-config``."""
        shown: dict[str, str] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in ("secret", "private_key"):
                text = "(set, hidden)" if value else "(unset)"
            elif f.name == "store_url":
                text = mask_url(value) if value else "(unset: embedded store)"
            elif f.name == "jwks_url":
                text = mask_url(value) if value else "(unset)"
            elif f.name == "max_token_lifetime":
                text = "(off)" if value is None else f"{value:g}"
            elif f.name == "public_key":
                text = "(set)" if value else "(unset)"
            elif isinstance(value, tuple):
                text = ",".join(value) or "(none)"
            else:
                text = str(value)
            shown[PREFIX + f.name.upper()] = text
        return shown


def _error(name: str, message: str) -> ConfigError:
    return ConfigError(PREFIX + name.upper(), message)


def _check_number(name: str, value: float, *, minimum: float, maximum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _error(name, "accepts a number")
    if value < minimum or value > maximum:
        raise _error(name, f"accepts a number from {minimum:g} to {maximum:g}, got {value:g}")


def _check_int(name: str, value: int, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _error(name, f"accepts a whole number of at least {minimum}")


def _check_rsa_size(name: str, pem: str) -> None:
    """Refuse an RSA key under 2048 bits (RFC 7518 §3.3); other PEM problems are left to the verifier.

    Only the size is named, never the key.
    """
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key, load_pem_public_key

    data = pem.encode()
    key: Any
    try:
        key = load_pem_private_key(data, password=None) if name == "private_key" else load_pem_public_key(data)
    except Exception:  # not PEM, encrypted, another format: the verifier (or issuing) reports it
        return
    if isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)) and key.key_size < _RSA_MIN_BITS:
        raise _error(
            name,
            f"an RSA key of {key.key_size} bits is too weak: use at least {_RSA_MIN_BITS} bits "
            "(RFC 7518 §3.3, NIST SP 800-131A)",
        )


def _text(name: str, raw: str) -> str:
    return raw


def _csv(name: str, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


def _upper_csv(name: str, raw: str) -> tuple[str, ...]:
    return tuple(part.upper() for part in _csv(name, raw))


def _lower(name: str, raw: str) -> str:
    return raw.lower()


def _float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise _error(name, f"accepts a number of seconds, got {raw!r}") from None
    return value


def _optional_float(name: str, raw: str) -> float | None:
    return None if raw.lower() in ("off", "none") else _float(name, raw)


def _int(name: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise _error(name, f"accepts a whole number, got {raw!r}") from None


def _bool(name: str, raw: str) -> bool:
    lowered = raw.lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise _error(name, f"accepts true or false, got {raw!r}")


def _secret(name: str, raw: str) -> str:
    # Parsed like text; a separate function so no message ever echoes it.
    return raw


def _read_file(name: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise _error(name, f"cannot read {path!r}: {exc.strerror}") from None


_PARSERS: dict[str, Callable[[str, str], Any]] = {
    "secret": _secret,
    "private_key": _secret,
    "algorithms": _csv,
    "audience": _csv,
    "exempt_paths": _csv,
    "exempt_methods": _upper_csv,
    "not_before_fields": _csv,
    "leeway": _float,
    "token_ttl": _float,
    "max_token_lifetime": _optional_float,
    "store_timeout": _float,
    "cache_ttl": _float,
    "token_cache_ttl": _float,
    "jwks_lifespan": _float,
    "stale_max_age": _float,
    "cache_maxsize": _int,
    "max_header_bytes": _int,
    "max_user_id_length": _int,
    "retry_after": _int,
    "clear_site_data": _bool,
    "user_id_type": _lower,
}
