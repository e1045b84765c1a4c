"""Settings: every ``JWTGUARD_*`` variable, declared once and parsed once into a frozen object.

Each setting is declared once, as a field of :class:`Settings`: its name, type and
default are the field's, and the field's metadata (:func:`_declare`) holds the
parser for the environment's text, the one-line description and how
``check-config`` shows it. :data:`SETTINGS` lists these declarations; ``from_env``,
:meth:`Settings.describe`, the report of unknown variables and the README's table
(:func:`settings_table`, checked by a test) are all derived from it.

``Settings.from_env()`` reads the environment; ``Settings(...)`` takes the same
values as keyword arguments (a list setting also as one comma-separated string,
as in the environment). Both validate everything at start-up and raise
:class:`~jwtguard.errors.ConfigError` naming the variable and what it accepts.
"""

from __future__ import annotations

import difflib
import logging
import math
import os
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any, Final, Literal
from urllib.parse import urlsplit, urlunsplit

import jwt

from .errors import ConfigError
from .userid import USER_ID_TYPES, UserIdType

PREFIX = "JWTGUARD_"

_log = logging.getLogger("jwtguard")

#: Minimum HMAC key length in bytes: RFC 7518 §3.2 asks for a key at least as
#: long as the hash output.
_HMAC_MIN_KEY_BYTES = {"HS256": 32, "HS384": 48, "HS512": 64}

#: Minimum RSA modulus in bits: RFC 7518 §3.3 and §3.5 ("2048 bits or larger MUST be used").
_RSA_MIN_BITS = 2048

#: Most keys one key setting may list (``JWTGUARD_SECRET``, ``JWTGUARD_PUBLIC_KEY``,
#: ``JWTGUARD_PRIVATE_KEY``). A token without a kid the guard knows is tried against each key
#: of its algorithm in turn, so the list bounds the work a forged token can cause; a rotation
#: needs two (three while one is being dropped).
MAX_KEYS = 8

#: One PEM block (RFC 7468 §2): the label of its END line repeats the BEGIN line's.
_PEM_BLOCK = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----.*?-----END \1-----", re.DOTALL)

#: PEM blocks that are no key of their own: ``openssl ecparam -genkey`` writes the curve's
#: parameters before the EC key, which names its curve itself.
_NOT_KEYS = frozenset({"EC PARAMETERS"})

StoreErrorPolicy = Literal["reject", "stale", "allow"]
_STORE_ERROR_POLICIES: tuple[StoreErrorPolicy, ...] = ("reject", "stale", "allow")

Mode = Literal["require", "optional"]
_MODES: tuple[Mode, ...] = ("require", "optional")

TokenLocation = Literal["header", "cookie", "both"]
_TOKEN_LOCATIONS: tuple[TokenLocation, ...] = ("header", "cookie", "both")
UnknownUsers = Literal["refuse", "allow"]
_UNKNOWN_USERS: tuple[UnknownUsers, ...] = ("refuse", "allow")
DPoPMode = Literal["off", "allow", "require"]
_DPOP_MODES: tuple[DPoPMode, ...] = ("off", "allow", "require")
DPoPReplay = Literal["process", "store"]
_DPOP_REPLAYS: tuple[DPoPReplay, ...] = ("process", "store")
#: ``JWTGUARD_EXTERNAL_ORIGIN``: scheme and authority only (RFC 6454 §6.2's serialisation).
_ORIGIN: Final = re.compile(r"https?://[A-Za-z0-9.\-]+(:[0-9]{1,5})?|https?://\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?")
#: What an endpoint client may call (issue 12); ``gtr`` (global token revocation) only when named.
ENDPOINT_GRANTS: Final = ("revoke", "introspect", "gtr")
#: The grants of a client listed without any (``id:secret``): never ``gtr``.
DEFAULT_ENDPOINT_GRANTS: Final = ("revoke", "introspect")

#: RFC 6265 §5.2.4: a cookie's Path is any CHAR but CTLs and ";" (spaces left out: trimmed by browsers).
_COOKIE_PATH = re.compile(r"/[\x21-\x3A\x3C-\x7E]*")

#: Variables of jwtguard's own test harness and scripts: they share the prefix but are no
#: setting, so they are never reported as unknown.
_RESERVED = frozenset(
    {
        "JWTGUARD_FERRETDB",
        "JWTGUARD_CACHE_DIR",
        # scripts/get-keycloak.sh and tests/keycloak.py: the identity provider the tests start.
        "JWTGUARD_KEYCLOAK_HOME",
        "JWTGUARD_KEYCLOAK_JAVA",
        "JWTGUARD_KEYCLOAK_VERSION",
    }
)
_RESERVED_PREFIXES = ("JWTGUARD_TEST_",)


#: ``JWTGUARD_TOKEN_TYPE``: ``any``, ``at+jwt`` (RFC 9068 §2.1), or ``claim:NAME=VALUE``, a
#: payload claim that must be the string VALUE (NAME without ``=`` or white space, VALUE printable),
#: or one of the strings VALUE lists between ``|`` (``claim:typ=Bearer|DPoP``).
TOKEN_TYPE_SYNTAX = re.compile(r"any|at\+jwt|claim:([^=\s]+)=([^\x00-\x1f\x7f|]+(?:\|[^\x00-\x1f\x7f|]+)*)")

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
    # User-info ends at the last "@" of the authority, which runs to the first "/": drivers such
    # as pymongo read a "#" or "?" before it as part of the password. An "@" further on, before
    # the query, makes the split ambiguous: everything up to it is masked.
    head, slash, tail = rest.partition("/")
    in_path = (slash + tail).partition("?")[0].partition("#")[0].rfind("@")
    if in_path >= 0:
        prefix, rest = "***@", rest[len(head) + in_path + 1 :]
    elif (at := head.rfind("@")) >= 0:
        user, colon, _ = head[:at].partition(":")
        prefix, rest = (f"{user}:***@" if colon else "***@"), rest[at + 1 :]
    else:
        prefix = ""
    rest, hash_, fragment = rest.partition("#")
    end = next((i for i, c in enumerate(rest) if c in "/?"), len(rest))
    hosts, tail = rest[:end], rest[end:]
    path, question, query = tail.partition("?")
    if question:
        parts = []
        for part in query.split("&"):
            name, equals, value = part.partition("=")
            if equals and _SECRET_NAME.search(name) and name.lower() not in _PLAIN_NAMES:
                value = "***"
            parts.append(f"{name}{equals}{value}")
        tail = f"{path}?{'&'.join(parts)}"
    return f"{scheme}{sep}{prefix}{hosts}{tail}" + ("#***" if hash_ and fragment else hash_)


def ssf_configuration_url(issuer: str) -> str:
    """The transmitter configuration of *issuer* (SSF 1.0 §7.2): ``/.well-known/ssf-configuration``
    inserted between the host and the path, the path's trailing ``/`` removed.

    ``https://tr.example`` and ``https://tr.example/`` give
    ``https://tr.example/.well-known/ssf-configuration``; ``https://tr.example/issuer1`` gives
    ``https://tr.example/.well-known/ssf-configuration/issuer1``.
    """
    parts = urlsplit(issuer)
    path = "/.well-known/ssf-configuration" + parts.path.rstrip("/")
    return urlunsplit((parts.scheme, parts.netloc, path, "", ""))


def _supported_algorithms() -> frozenset[str]:
    return frozenset(jwt.algorithms.get_default_algorithms()) - {"none"}


def _error(name: str, message: str) -> ConfigError:
    return ConfigError(PREFIX + name.upper(), message)


# -- parsers: (field name, the variable's non-empty text) -> value ------------------------
# Each names the variable in its error and never repeats a secret's text. Ranges and
# cross-setting rules are checked once, in Settings.__post_init__, so values given in code
# meet the same rules.

Parser = Callable[[str, str], Any]


def _text(name: str, raw: str) -> str:
    return raw


def _csv(name: str, raw: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in raw.split(",") if part.strip())


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


EndpointClient = tuple[str, str, tuple[str, ...]]


def _endpoint_clients(name: str, raw: str) -> tuple[EndpointClient, ...]:
    """``JWTGUARD_ENDPOINT_CLIENTS``: ``id:secret[:grant+grant]`` items, comma-separated.

    Client ids and secrets hold no ``:`` or ``,`` (RFC 6749 §2.3.1's Basic scheme joins the two
    with a ``:``); messages name an item by its position and id, never its secret.
    """
    clients: list[EndpointClient] = []
    items = [item.strip() for item in raw.split(",") if item.strip()]
    for index, item in enumerate(items, 1):
        parts = item.split(":")
        where = f"client {index} of {len(items)}"
        if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
            raise _error(name, f"{where}: accepts id:secret or id:secret:grants (no ':' inside an id or secret)")
        client_id, secret = parts[0], parts[1]
        grants = tuple(parts[2].split("+")) if len(parts) == 3 else DEFAULT_ENDPOINT_GRANTS
        clients.append((client_id, secret, grants))
    return tuple(clients)


def endpoint_clients(text: str) -> tuple[EndpointClient, ...]:
    """``JWTGUARD_ENDPOINT_CLIENTS``'s syntax read into what ``Settings(endpoint_clients=...)`` takes."""
    return _checked_clients(_endpoint_clients("endpoint_clients", text))


def _checked_clients(value: Any) -> tuple[EndpointClient, ...]:
    """Endpoint clients given in code (the variable's text, or ``(id, secret, grants)`` triples), checked."""
    if isinstance(value, str):
        value = _endpoint_clients("endpoint_clients", value)
    clients: list[EndpointClient] = []
    seen: set[str] = set()
    for index, client in enumerate(value, 1):
        where = f"client {index} of {len(value)}"
        if not (isinstance(client, tuple | list) and len(client) == 3):
            raise _error("endpoint_clients", f"{where}: accepts (id, secret, grants)")
        client_id, secret, grants = client[0], client[1], tuple(client[2])
        if not isinstance(client_id, str) or not _header_text(client_id) or ":" in client_id or "," in client_id:
            raise _error("endpoint_clients", f"{where}: the id must be printable ASCII without ':' or ','")
        if not isinstance(secret, str) or len(secret.encode()) < 8 or ":" in secret or "," in secret:
            raise _error(
                "endpoint_clients",
                f"{where} ({client_id}): the secret must be at least 8 bytes, without ':' or ','",
            )
        unknown = [grant for grant in grants if grant not in ENDPOINT_GRANTS]
        if not grants or unknown:
            raise _error(
                "endpoint_clients",
                f"{where} ({client_id}): grants are {'+'.join(ENDPOINT_GRANTS)} joined by '+', "
                f"got {'+'.join(map(str, grants))!r}",
            )
        if client_id in seen:
            raise _error("endpoint_clients", f"{where}: the id {client_id!r} is listed twice")
        seen.add(client_id)
        clients.append((client_id, secret, tuple(dict.fromkeys(grants))))
    return tuple(clients)


def split_secrets(text: str) -> tuple[str, ...]:
    """``JWTGUARD_SECRET``'s ordered list: comma-separated secrets, the first one signs.

    A comma never occurs in a generated secret (``secrets.token_urlsafe``, ``openssl rand
    -base64``, ``-hex``), and spaces do occur in passphrases, so commas separate and spaces
    stay part of a secret. Around commas, spaces are dropped, as are empty items; a text
    without a comma is one secret exactly as given (as before lists existed).
    """
    parts = text.split(",")
    if len(parts) == 1:
        return (text,) if text else ()
    return tuple(part for part in (part.strip() for part in parts) if part)


def pem_blocks(text: str) -> tuple[str, ...]:
    """The keys of a PEM key setting, in order: each PEM block of *text* (RFC 7468).

    Text outside the blocks (RFC 7468 §5.2's explanatory text, comments) is ignored, as are
    ``EC PARAMETERS`` blocks. A text holding no PEM block at all (an OpenSSH public key,
    or something unreadable) is one key, as given: the key's loader reports what it is.
    """
    blocks = tuple(m.group(0) for m in _PEM_BLOCK.finditer(text) if m.group(1) not in _NOT_KEYS)
    return blocks or ((text,) if text.strip() else ())


def key_position(index: int, count: int, noun: str = "key") -> str:
    """``"key 2 of 3: "`` for messages about one key of a list; nothing for a single key."""
    return f"{noun} {index} of {count}: " if count > 1 else ""


def _read_file(name: str, path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise _error(name, f"cannot read {path!r}: {exc.strerror}") from None


# -- how describe() (check-config) shows a value ------------------------------------------

Shown = Callable[[Any], str]


def _shown(value: Any) -> str:
    if isinstance(value, tuple):
        return ",".join(value) or "(none)"
    return str(value)


def _clients_shown(value: Any) -> str:
    """Endpoint clients as ``check-config`` shows them: ids and grants, never a secret."""
    return ",".join(f"{client[0]}:***:{'+'.join(client[2])}" for client in value) or "(none)"


def _hidden(value: Any) -> str:
    return "(set, hidden)" if value else "(unset)"


def _presence(value: Any) -> str:
    # A public key is no secret, but a PEM block is noise in a listing: say whether it is set.
    return "(set)" if value else "(unset)"


def _masked_url(unset: str) -> Shown:
    def show(value: Any) -> str:
        return mask_url(value) if value else unset

    return show


def _seconds_or_off(value: Any) -> str:
    return "(off)" if value is None else f"{value:g}"


def _same(item: str) -> str:
    return item


def _upper(item: str) -> str:
    # RFC 9110 §9.1: method names are case-sensitive, but every registered one is upper case.
    return item.upper()


# -- the declarations ---------------------------------------------------------------------

_METADATA_KEY = "jwtguard"
#: Marks a field that is no setting of its own but derived from one (named by its value).
_DERIVED_KEY = "jwtguard-derived"


@dataclass(frozen=True, slots=True)
class Setting:
    """One ``JWTGUARD_*`` setting, as declared beside its :class:`Settings` field.

    :param name: the field name; the variable is ``JWTGUARD_<NAME>``.
    :param default: the field's default value.
    :param parse: turns the variable's (stripped, non-empty) text into a value,
        raising :class:`ConfigError` naming the variable.
    :param description: the README table's "meaning" cell (Markdown, one line).
    :param show: renders the value for ``check-config``; secrets are masked here.
    :param documented_default: the README's default cell when the value alone
        does not say it (``off``, the embedded store); else derived from *default*.
    :param from_file: a ``JWTGUARD_<NAME>_FILE`` variable may name a file holding
        the value (a PEM key mounted as a file); the direct variable wins.
    :param secret: the value may hold a credential: never in ``repr()``, messages
        or ``describe()`` unmasked.
    :param item: for a list setting, how each item is normalised; ``None`` for
        a single value. A list given as one string (in the environment or in
        code) is split on commas.
    """

    name: str
    default: Any
    parse: Parser
    description: str
    show: Shown = _shown
    documented_default: str | None = None
    from_file: bool = False
    secret: bool = False
    item: Callable[[str], str] | None = None

    @property
    def variable(self) -> str:
        """The environment variable, e.g. ``JWTGUARD_EXEMPT_PATHS``."""
        return PREFIX + self.name.upper()

    @property
    def file_variable(self) -> str | None:
        """``JWTGUARD_<NAME>_FILE`` for a setting that may be read from a file, else ``None``."""
        return f"{self.variable}_FILE" if self.from_file else None

    @property
    def variables(self) -> tuple[str, ...]:
        """Every variable that sets this setting."""
        return (self.variable,) if self.file_variable is None else (self.variable, self.file_variable)

    @property
    def default_text(self) -> str:
        """The default as the README shows it: `` `300` ``, `` `HS256` ``, ``(none)``."""
        if self.documented_default is not None:
            return self.documented_default
        value = self.default
        if value is None or value == ():
            return "(none)"
        if isinstance(value, bool):
            return f"`{str(value).lower()}`"
        if isinstance(value, float):
            return f"`{value:g}`"
        if isinstance(value, tuple):
            return f"`{','.join(value)}`"
        return f"`{value}`"

    def table_row(self) -> str:
        """This setting's row of the README's settings table."""
        names = " / ".join(f"`{variable}`" for variable in self.variables)
        return f"| {names} | {self.default_text} | {self.description} |"

    def coerce(self, value: Any) -> Any:
        """A value given in code, in the form the field holds (lists become tuples)."""
        if self.item is None:
            return value
        # One string means what it means in the environment: "a,b" is ("a", "b") and "api"
        # is ("api",), never ("a", "p", "i").
        items = _csv(self.name, value) if isinstance(value, str) else tuple(value)
        return tuple(self.item(item) for item in items)


def _declare(
    description: str,
    parse: Parser = _text,
    *,
    show: Shown = _shown,
    documented_default: str | None = None,
    from_file: bool = False,
    secret: bool = False,
    item: Callable[[str], str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The field metadata declaring a setting; see :class:`Setting` for the parameters."""
    declared = {
        "parse": _csv if item is not None else parse,
        "description": description,
        "show": show,
        "documented_default": documented_default,
        "from_file": from_file,
        "secret": secret,
        "item": item,
    }
    return {_METADATA_KEY: declared}


def _list(description: str, *, item: Callable[[str], str] = _same) -> dict[str, dict[str, Any]]:
    """The metadata of a comma-separated list setting."""
    return _declare(description, item=item)


@dataclass(frozen=True, kw_only=True, slots=True)
class Settings:
    """Everything jwtguard needs, validated on construction.

    Each field is read from the environment variable ``JWTGUARD_<FIELD>`` in
    upper case by :meth:`from_env`; the README lists them with their defaults
    (the table is :func:`settings_table`). Secrets (``secret``, ``private_key``,
    ``store_url``, ``jwks_url``) are left out of ``repr()`` and masked by
    :meth:`describe`.

    Keys can be rotated (issue 10): ``secret`` takes a comma-separated list
    (or give ``secrets``, a sequence), and ``public_key`` / ``private_key``
    several PEM blocks; the first secret and the first private key sign, every
    listed key verifies. ``secret`` is then the first (signing) secret and
    ``secrets`` all of them; ``public_keys`` and ``private_keys`` are the PEM
    blocks, in order.

    Security: ``algorithms`` is an allow-list taken from configuration only,
    never from a token's header (RFC 8725 §3.1); ``none`` can never be enabled.
    HMAC algorithms verify with ``secret``; every other algorithm verifies with
    ``public_key`` or the keys at ``jwks_url``, so one key can never serve two
    algorithm families (the HS/RS key-confusion attack).
    """

    secret: str | None = field(
        default=None,
        repr=False,
        metadata=_declare(
            "HMAC keys, comma-separated: the first signs, each one verifies (see [Rotating signing "
            "keys](#rotating-signing-keys)); required by `HS*` algorithms; each at least 32/48/64 bytes "
            "for HS256/384/512",
            _text,
            show=_hidden,
            secret=True,
        ),
    )
    #: Every HMAC secret, the signing one first: ``JWTGUARD_SECRET`` split on commas. Not a
    #: setting of its own: derived from ``secret``, or given instead of it in code.
    secrets: tuple[str, ...] = field(default=(), repr=False, metadata={_DERIVED_KEY: "secret"})
    public_key: str | None = field(
        default=None,
        repr=False,
        metadata=_declare(
            "PEM public keys for `RS*`, `PS*`, `ES*`, `EdDSA`: several PEM blocks, each one verifies; "
            "an RSA key needs at least 2048 bits",
            show=_presence,
            from_file=True,
        ),
    )
    private_key: str | None = field(
        default=None,
        repr=False,
        metadata=_declare(
            "PEM private keys, only for `issue_token` with an asymmetric algorithm: the first PEM block "
            "signs; an RSA key needs at least 2048 bits",
            _text,
            show=_hidden,
            from_file=True,
            secret=True,
        ),
    )
    # Out of repr(): a JWKS URL can carry an API key or basic-auth credentials.
    jwks_url: str | None = field(
        default=None,
        repr=False,
        metadata=_declare(
            "JWKS endpoint instead of a public key; jwtguard keeps the key set itself "
            "(see [When the JWKS is unreachable](#when-the-jwks-is-unreachable))",
            show=_masked_url("(unset)"),
            secret=True,
        ),
    )
    jwks_lifespan: float = field(
        default=300.0,
        metadata=_declare(
            "seconds (1 to 86400) a read key set is used before it is read again; with "
            "`JWTGUARD_TOKEN_CACHE_TTL` it bounds how long a key removed from the JWKS still verifies",
            _float,
        ),
    )
    algorithms: tuple[str, ...] = field(
        default=("HS256",),
        metadata=_list("comma-separated allow-list; `none` can never be enabled"),
    )
    user_claim: str = field(
        default="sub",
        metadata=_declare("claim holding the user id (a string, as RFC 7519 says of `sub`; an integer is read too)"),
    )
    leeway: float = field(
        default=0.0, metadata=_declare("seconds of clock skew allowed on `exp`, `nbf`, `iat`", _float)
    )
    audience: tuple[str, ...] = field(
        default=(), metadata=_list("comma-separated accepted `aud` values; when set, `aud` is required")
    )
    issuer: str | None = field(default=None, metadata=_declare("required `iss`"))
    token_type: str = field(
        default="any",
        metadata=_declare(
            "which verified tokens are access tokens: `any`, `at+jwt` (RFC 9068's header `typ`) or "
            "`claim:NAME=VALUE` (a payload claim, e.g. `claim:typ=Bearer` for Keycloak; `VALUE` may list "
            "several strings, with a vertical bar between them); logout tokens, "
            "security events and DPoP proofs are refused whatever it says (see [Tokens that are not access "
            "tokens](#tokens-that-are-not-access-tokens)); `any` with `JWTGUARD_JWKS_URL` warns at start-up"
        ),
    )
    realm: str = field(
        default="api",
        metadata=_declare('realm in `WWW-Authenticate`: printable ASCII without `"` or `\\`'),
    )
    exempt_paths: tuple[str, ...] = field(
        default=(),
        metadata=_list(
            "comma-separated paths that pass untouched: `/login` covers `/login` and `/login/...`, "
            "`/static/` what is under it"
        ),
    )
    exempt_methods: tuple[str, ...] = field(
        default=(),
        metadata=_list(
            "comma-separated methods that pass untouched on *every* route, with a start-up warning. "
            "CORS preflights (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) always pass "
            "without being listed; any other `OPTIONS` request is authenticated. Listing `OPTIONS` "
            "restores the earlier default: every route that answers `OPTIONS` then answers it without a token",
            item=_upper,
        ),
    )
    mode: Mode = field(
        default="require",
        metadata=_declare(
            "`require`: every request needs a good token; `optional`: a request with no `Authorization` "
            "(or another scheme) reaches the app with no claims, so **every route without a per-route check "
            "is public** (warns at start-up; see [Add it to your app](#add-it-to-your-app)); a token sent is "
            "always checked",
            _lower,
        ),
    )
    max_header_bytes: int = field(
        default=8192,
        metadata=_declare(
            "longest `Authorization` value (in cookie mode, also `Cookie` value) accepted, checked before any decoding",
            _int,
        ),
    )
    max_user_id_length: int = field(default=256, metadata=_declare("longest string user id accepted", _int))
    user_id_type: UserIdType = field(
        default="auto",
        metadata=_declare(
            "how a user claim maps to a stored id: `auto`, `str`, `int` or `objectid` "
            "(case-insensitive; see [What the guard decides](#what-the-guard-decides))",
            _lower,
        ),
    )
    token_ttl: float = field(
        default=3600.0, metadata=_declare("lifetime in seconds of tokens made by `issue_token`", _float)
    )
    max_token_lifetime: float | None = field(
        default=None,
        metadata=_declare(
            "seconds, or `off`: a token whose `exp - iat` is longer is refused (401 `invalid`), "
            "however it was signed (as Envoy's `max_lifetime`)",
            _optional_float,
            show=_seconds_or_off,
            documented_default="`off`",
        ),
    )
    # Out of repr() and masked: a MongoDB URL usually holds a password.
    store_url: str | None = field(
        default=None,
        repr=False,
        metadata=_declare(
            "`mongodb://` or `mongodb+srv://` URL (database from its path, default `jwtguard`), "
            "or `sqlite:///relative.db` / `sqlite:////absolute.db`",
            _text,
            show=_masked_url("(unset: embedded store)"),
            documented_default="(unset: embedded `jwtguard.db`)",
            secret=True,
        ),
    )
    users_collection: str = field(
        default="users",
        metadata=_declare(
            "collection of user documents, matched on `_id` by `JWTGUARD_USER_ID_TYPE`; jwtguard's cut-off "
            "records live beside it in `<name>_revocations`; the table's name in the embedded store"
        ),
    )
    not_before_fields: tuple[str, ...] = field(
        default=("destroyAnyJWTbefore",),
        metadata=_list(
            "comma-separated date fields; the latest wins (with jwtguard's records on MongoDB); "
            "the first is the embedded store's column that `logout_everywhere` writes"
        ),
    )
    enabled_field: str = field(default="user_enabled", metadata=_declare("the admin switch"))
    store_timeout: float = field(
        default=2.0,
        metadata=_declare(
            "seconds to connect, select a server, or wait for a reply; for the embedded store, "
            "to wait for another process's lock",
            _float,
        ),
    )
    cache_ttl: float = field(default=5.0, metadata=_declare("seconds (0 to 3600) a user's state is remembered", _float))
    token_cache_ttl: float = field(
        default=5.0,
        metadata=_declare(
            "seconds (0 to 3600) a verified signature is remembered (time claims and user state are "
            "still checked on every request); `0` checks every signature",
            _float,
        ),
    )
    token_cache_bytes: int = field(
        default=32 * 1024 * 1024,
        metadata=_declare(
            "bytes (32 MiB) the remembered verified tokens may take, each weighed by its size (its claims "
            "and the entry around them; tokens are held by SHA-256 digest only); the oldest go first; "
            "`0` remembers none",
            _int,
        ),
    )
    cache_maxsize: int = field(default=10_000, metadata=_declare("users (and tokens) remembered", _int))
    retry_after: int = field(default=5, metadata=_declare("`Retry-After` seconds on a 503", _int))
    on_store_error: StoreErrorPolicy = field(
        default="reject",
        metadata=_declare(
            "`reject` (503), `stale` (last known state up to `JWTGUARD_STALE_MAX_AGE`), `allow` "
            "(unsafe: accepts revoked tokens while the store is down; warns at start-up)"
        ),
    )
    stale_max_age: float = field(
        default=300.0,
        metadata=_declare(
            "seconds a last known state may serve under `stale`; also how long past its lifespan the "
            "last good JWKS key set keeps verifying known keys while the JWKS is unreachable",
            _float,
        ),
    )
    clear_site_data: bool = field(
        default=False,
        metadata=_declare('add `Clear-Site-Data: "storage"` to revoked/disabled/unknown-user answers', _bool),
    )
    # -- sessions (issue 10) ---------------------------------------------------------------
    sessions: bool = field(
        default=False,
        metadata=_declare(
            "`true`: logins create sessions with refresh tokens (see [Sessions](#sessions)); jwtguard's "
            "own tokens carry `sid` and `tv`, and need `JWTGUARD_ISSUER`",
            _bool,
        ),
    )
    refresh_ttl: float = field(
        default=1_209_600.0,
        metadata=_declare(
            "seconds a refresh token stays usable (and a session without a refresh lives); "
            "each refresh starts it again",
            _float,
        ),
    )
    refresh_grace: float = field(
        default=10.0,
        metadata=_declare(
            "seconds after a rotation in which the spent predecessor answers `invalid_grant` "
            '("token already rotated") without ending the session: tabs racing to refresh',
            _float,
        ),
    )
    refresh_reuse: Literal["end_session", "logout_everywhere"] = field(
        default="end_session",
        metadata=_declare(
            "what the reuse of a spent refresh token ends: `end_session` (its session, RFC 9700 "
            "§4.14.2) or `logout_everywhere` (every session and token of the user)",
            _lower,
        ),
    )
    single_session: bool = field(
        default=False, metadata=_declare("`true`: each login ends the user's earlier sessions", _bool)
    )
    version_claim: str = field(
        default="tv",
        metadata=_declare(
            "claim carrying the user's token version in jwtguard's tokens; a token whose version is "
            "below the stored one is revoked"
        ),
    )
    records_collection: str | None = field(
        default=None,
        metadata=_declare(
            "collection (table) of jwtguard's per-user records: cut-offs, versions, sessions, ended "
            "sessions, denied token ids",
            documented_default="(unset: `<users>_revocations`)",
        ),
    )
    alert_secret: str | None = field(
        default=None,
        repr=False,
        metadata=_declare(
            'HMAC key (at least 32 bytes, never the token key) that signs login alerts\' "not me" links; '
            "unset: no links (see [Login alerts](#login-alerts))",
            _text,
            show=_hidden,
            secret=True,
        ),
    )
    refresh_collection: str | None = field(
        default=None,
        metadata=_declare(
            "collection (table) of refresh-token hashes, spent marks and used one-time links",
            documented_default="(unset: `<users>_tokens`)",
        ),
    )
    # -- cookie mode (issue 10) ------------------------------------------------------------
    token_location: TokenLocation = field(
        default="header",
        metadata=_declare(
            "where the access token is read: `header` (`Authorization: Bearer`), `cookie` (the "
            "`__Host-jwtguard-at` cookie, with CSRF checks; see [Cookie mode](#cookie-mode)) or `both` "
            "(a request carrying both uses the header)",
            _lower,
        ),
    )
    refresh_path: str = field(
        default="/token",
        metadata=_declare(
            "`Path` of the refresh-token cookie `__Secure-jwtguard-rt`: the refresh endpoint's URL path "
            "as the browser sends it (a mount prefix included)"
        ),
    )
    # -- the invalidation feed (issue 11) --------------------------------------------------
    feed: bool = field(
        default=True,
        metadata=_declare(
            "`true`: every write jwtguard makes also records an event, and each process follows them and "
            "forgets what they name within `JWTGUARD_FEED_INTERVAL` (see [Propagation](#propagation))",
            _bool,
        ),
    )
    feed_interval: float = field(
        default=0.25,
        metadata=_declare("seconds (0.05 to 10) between two reads of the event feed by each process", _float),
    )
    feed_fallback_ttl: float = field(
        default=5.0,
        metadata=_declare(
            "seconds (0 to 3600) a user's state is remembered while the feed cannot be read (store down, "
            "before its first read): the bound that holds when events may have been missed",
            _float,
        ),
    )
    events_collection: str | None = field(
        default=None,
        metadata=_declare(
            "collection (table) of the feed's events, pruned by the feed itself",
            documented_default="(unset: `<users>_events`)",
        ),
    )
    # -- identity providers and the standard endpoints (issue 12) -----------------------------
    unknown_users: UnknownUsers = field(
        default="refuse",
        metadata=_declare(
            "`refuse`: a token whose user has no stored state is refused (`unknown_user`); `allow`: it "
            "passes (the users live in an identity provider), and every signal that arrives creates the "
            "state it needs (see [Connect your identity provider](#connect-your-identity-provider))",
            _lower,
        ),
    )
    state_collection: str = field(
        default="jwtguard_state",
        metadata=_declare(
            "collection (table) of what identity providers and the standard endpoints said about users "
            "(ended provider sessions, cut-offs, disabled accounts, denied token ids), keyed by issuer and "
            "`sub` and read with the user's state; jwtguard never writes into the users collection for them"
        ),
    )
    oidc_client_id: str | None = field(
        default=None,
        metadata=_declare(
            "this application's client id at the identity provider: the `aud` that back-channel logout "
            "tokens (and, by default, security event tokens) must carry; unset: `/oidc/backchannel-logout` "
            "refuses every logout token"
        ),
    )
    endpoint_clients: tuple[tuple[str, str, tuple[str, ...]], ...] = field(
        default=(),
        repr=False,
        metadata=_declare(
            "clients of `/oauth/revoke`, `/oauth/introspect` and `/global-token-revocation` (HTTP Basic), "
            "comma-separated `id:secret:grants`, grants `+`-joined from `revoke`, `introspect`, `gtr` "
            "(e.g. `gw:s3cret:introspect,okta:x9:gtr`); `id:secret` alone grants `revoke+introspect`, never "
            "`gtr`",
            _endpoint_clients,
            show=_clients_shown,
            secret=True,
        ),
    )
    logout_token_max_age: float = field(
        default=300.0,
        metadata=_declare(
            "seconds (1 to 86400): how old (by its `iat`) a back-channel logout token may be; with "
            "`JWTGUARD_LEEWAY` for clocks",
            _float,
        ),
    )
    # -- OpenID Shared Signals: the security event tokens a transmitter sends (issue 12) ----------
    ssf_issuer: str | None = field(
        default=None,
        metadata=_declare(
            "the Shared Signals transmitter's issuer: the `iss` every security event token (SET) must carry "
            "(SSF 1.0 §4.1.6); unset: `/ssf/events` and the poll client refuse every SET (see "
            "[Shared Signals](#shared-signals-caep-and-risc))"
        ),
    )
    # Out of repr(): URLs can carry an API key or basic-auth credentials.
    ssf_jwks_url: str | None = field(
        default=None,
        repr=False,
        metadata=_declare(
            "the transmitter's JWKS, whose keys verify SETs (never the guard's own keys); unset: the "
            "`jwks_uri` of the transmitter's configuration (`JWTGUARD_SSF_CONFIG_URL`)",
            show=_masked_url("(unset)"),
            secret=True,
        ),
    )
    ssf_config_url: str | None = field(
        default=None,
        repr=False,
        metadata=_declare(
            "the transmitter's configuration (SSF 1.0 §7.2), read once for its `jwks_uri` when "
            "`JWTGUARD_SSF_JWKS_URL` is unset; its `issuer` must be `JWTGUARD_SSF_ISSUER`",
            show=_masked_url("(unset)"),
            documented_default="(unset: `/.well-known/ssf-configuration` of `JWTGUARD_SSF_ISSUER`)",
            secret=True,
        ),
    )
    ssf_audience: str | None = field(
        default=None,
        metadata=_declare(
            "the `aud` every SET must carry (a string, or one item of an array)",
            documented_default="(unset: `JWTGUARD_OIDC_CLIENT_ID`)",
        ),
    )
    ssf_push_authorization: str | None = field(
        default=None,
        repr=False,
        metadata=_declare(
            "the exact `Authorization` value the transmitter sends with each push to `/ssf/events` (the "
            "stream's `authorization_header`, e.g. `Bearer <random>`, at least 16 characters); unset: "
            "pushes are not authenticated (SETs are still verified)",
            show=_hidden,
            secret=True,
        ),
    )
    ssf_poll_url: str | None = field(
        default=None,
        repr=False,
        metadata=_declare(
            "the transmitter's RFC 8936 poll endpoint (the stream's `endpoint_url`), for "
            "`jwtguard.endpoints.poll.SSFPoller`",
            show=_masked_url("(unset)"),
            secret=True,
        ),
    )
    ssf_poll_authorization: str | None = field(
        default=None,
        repr=False,
        metadata=_declare(
            "the `Authorization` value the poll client sends to `JWTGUARD_SSF_POLL_URL` (e.g. `Bearer <token>`)",
            show=_hidden,
            secret=True,
        ),
    )

    dpop: DPoPMode = field(
        default="off",
        metadata=_declare(
            "DPoP (RFC 9449) sender-constrained tokens: `off`, `allow` (`Authorization: DPoP` with a `DPoP` "
            "proof, or Bearer for unbound tokens) or `require` (DPoP only); in every mode a token bound to "
            "a key (`cnf.jkt`) is refused without its proof (see [DPoP](#dpop-stolen-tokens-are-worth-nothing))",
            _lower,
        ),
    )
    dpop_algorithms: tuple[str, ...] = field(
        default=("ES256", "EdDSA"),
        metadata=_list(
            "comma-separated `alg` values a DPoP proof may use: asymmetric only (`ES*`, `EdDSA`, `RS*`, `PS*`)"
        ),
    )
    dpop_max_age: float = field(
        default=60.0,
        metadata=_declare(
            "seconds (1 to 3600) a DPoP proof is accepted after its `iat`; each proof's `jti` is remembered "
            "that long to refuse its replay",
            _float,
        ),
    )
    dpop_replay: DPoPReplay = field(
        default="process",
        metadata=_declare(
            "where used DPoP proofs are remembered: `process` (this process's memory) or `store` (one "
            "insert per proof in `JWTGUARD_STATE_COLLECTION`, shared by every worker: use it when several "
            "processes serve one app, or a proof replays against another worker)",
            _lower,
        ),
    )
    dpop_nonce: bool = field(
        default=False,
        metadata=_declare(
            "`true`: every DPoP proof must carry a nonce this server gave (`DPoP-Nonce`, RFC 9449 §8); a "
            "proof without a fresh one is answered `use_dpop_nonce`; needs `JWTGUARD_DPOP_NONCE_KEY`",
            _bool,
        ),
    )
    dpop_nonce_key: str | None = field(
        default=None,
        repr=False,
        metadata=_declare(
            "secret (at least 32 characters) the server nonces are derived from; the same in every "
            "process of the app, so a nonce from one worker is good at the others",
            _text,
            show=_hidden,
            secret=True,
        ),
    )
    external_origin: str | None = field(
        default=None,
        metadata=_declare(
            "the origin clients use, `https://HOST[:PORT]`, when a proxy in front changes the scheme or "
            "host: DPoP proofs' `htu` is compared with it and the request's path",
            documented_default="(unset: the request's own scheme and `Host`)",
        ),
    )

    def __post_init__(self) -> None:
        # Lists given to the constructor become tuples, and one string is split on commas
        # as in the environment: audience="api" means ("api",), "a, b" means ("a", "b").
        for setting in _LISTS:
            object.__setattr__(self, setting.name, setting.coerce(getattr(self, setting.name)))
        self._settle_secrets()
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
                    f"unknown algorithm {name!r}; accepts a comma-separated list of " + ", ".join(sorted(supported)),
                )
        hmac = [name for name in algorithms if name in _HMAC_MIN_KEY_BYTES]
        if hmac:
            if not self.secrets:
                raise _error("secret", f"required by {', '.join(hmac)}")
            count = len(self.secrets)
            if count > MAX_KEYS:
                raise _error("secret", f"lists {count} secrets; at most {MAX_KEYS}: drop the retired ones")
            needed = max(_HMAC_MIN_KEY_BYTES[name] for name in hmac)
            for index, secret in enumerate(self.secrets, 1):
                if len(secret.encode()) < needed:
                    raise _error(
                        "secret",
                        f"{key_position(index, count, 'secret')}too short for {', '.join(hmac)}: use at least "
                        f"{needed} bytes (RFC 7518 §3.2), e.g. python -c 'import secrets; "
                        "print(secrets.token_urlsafe(48))'",
                    )
            if len(set(self.secrets)) < count:
                # Named by position only: the value is a secret.
                first, second = _repeated(self.secrets)
                raise _error("secret", f"secrets {first} and {second} of {count} are the same: list each once")
        asymmetric = [name for name in algorithms if name not in _HMAC_MIN_KEY_BYTES]
        if asymmetric and not (self.public_key or self.jwks_url):
            raise _error("public_key", f"{', '.join(asymmetric)} needs JWTGUARD_PUBLIC_KEY(_FILE) or JWTGUARD_JWKS_URL")
        if self.public_key and self.jwks_url:
            raise _error("jwks_url", "set either JWTGUARD_PUBLIC_KEY(_FILE) or JWTGUARD_JWKS_URL, not both")
        if self.jwks_url and not self.jwks_url.startswith(("https://", "http://")):
            raise _error("jwks_url", "accepts an https:// (or http://) URL")
        for name, pem in (("public_key", self.public_key), ("private_key", self.private_key)):
            if pem:
                blocks = pem_blocks(pem)
                if len(blocks) > MAX_KEYS:
                    raise _error(name, f"holds {len(blocks)} keys; at most {MAX_KEYS}: drop the retired ones")
                for index, block in enumerate(blocks, 1):
                    _check_rsa_size(name, block, key_position(index, len(blocks)))
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
        _check_int("token_cache_bytes", self.token_cache_bytes, minimum=0)
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
            ("version_claim", (self.version_claim,)),
            ("records_collection", (self.records_collection,) if self.records_collection is not None else ()),
            ("refresh_collection", (self.refresh_collection,) if self.refresh_collection is not None else ()),
        ):
            for name in names:
                if not name or name.startswith("$") or "\0" in name or "." in name:
                    raise _error(variable, f"{name!r} is not a usable name (no '$' prefix, no '.')")
        if self.user_id_type not in USER_ID_TYPES:
            raise _error("user_id_type", "accepts auto, str, int or objectid")
        if self.mode not in _MODES:
            raise _error("mode", "accepts require or optional")
        if self.on_store_error not in _STORE_ERROR_POLICIES:
            raise _error("on_store_error", "accepts reject, stale or allow")
        if self.store_url is not None and not self.store_url.startswith(("mongodb://", "mongodb+srv://", "sqlite://")):
            # The value may hold a password: name the variable, not the value.
            raise _error("store_url", "accepts a mongodb://, mongodb+srv:// or sqlite:/// URL")
        if not _header_text(self.realm) or '"' in self.realm or "\\" in self.realm:
            # The realm is sent in every WWW-Authenticate field (RFC 9110 §11.6.1, a quoted-string).
            raise _error("realm", "accepts printable ASCII text without quotes or backslashes, e.g. api")
        for method in self.exempt_methods:
            if not _TOKEN.fullmatch(method):
                raise _error("exempt_methods", f"accepts HTTP method names such as GET, got {method!r}")
        _check_number("refresh_ttl", self.refresh_ttl, minimum=60, maximum=365 * 86400)
        _check_number("refresh_grace", self.refresh_grace, minimum=0, maximum=300)
        if self.refresh_reuse not in ("end_session", "logout_everywhere"):
            raise _error("refresh_reuse", "accepts end_session or logout_everywhere")
        if self.alert_secret is not None:
            if len(self.alert_secret.encode()) < 32:
                raise _error("alert_secret", "too short: use at least 32 bytes (RFC 7518 §3.2)")
            if self.alert_secret in self.secrets:
                # A link signed with the token key would be a token: keep the two apart.
                raise _error("alert_secret", "must differ from every JWTGUARD_SECRET key")
        _check_number("feed_interval", self.feed_interval, minimum=0.05, maximum=10)
        _check_number("feed_fallback_ttl", self.feed_fallback_ttl, minimum=0, maximum=3600)
        if self.events_collection is not None and (
            not self.events_collection or self.events_collection.startswith("$") or "." in self.events_collection
        ):
            name = self.events_collection
            raise _error("events_collection", f"{name!r} is not a usable name (no '$' prefix, no '.')")
        if self.token_location not in _TOKEN_LOCATIONS:
            raise _error("token_location", "accepts header, cookie or both")
        if not _COOKIE_PATH.fullmatch(self.refresh_path):
            raise _error("refresh_path", "accepts a URL path starting with '/', without spaces or ';', e.g. /token")
        if self.unknown_users not in _UNKNOWN_USERS:
            raise _error("unknown_users", "accepts refuse or allow")
        if not self.state_collection or self.state_collection.startswith("$") or "." in self.state_collection:
            raise _error("state_collection", f"{self.state_collection!r} is not a usable name (no '$' prefix, no '.')")
        _check_number("logout_token_max_age", self.logout_token_max_age, minimum=1, maximum=86400)
        if self.oidc_client_id is not None and not _header_text(self.oidc_client_id):
            raise _error("oidc_client_id", "accepts a client id: printable ASCII")
        object.__setattr__(self, "endpoint_clients", _checked_clients(self.endpoint_clients))
        if TOKEN_TYPE_SYNTAX.fullmatch(self.token_type) is None:
            raise _error(
                "token_type",
                "accepts any, at+jwt or claim:NAME=VALUE (a payload claim that must hold that string, "
                "e.g. claim:typ=Bearer for Keycloak's access tokens)",
            )
        self._check_ssf()
        self._check_dpop()
        if self.sessions and not self.issuer:
            # Sessions tell jwtguard's own tokens from other issuers' by `iss` (a missing session
            # refuses only jwtguard's own): without an issuer there is no telling them apart.
            raise _error("issuer", "required by JWTGUARD_SESSIONS=true, e.g. JWTGUARD_ISSUER=https://app.example")

    def _check_dpop(self) -> None:
        """The DPoP settings (issue 13): a mode, asymmetric algorithms, a nonce key when nonces are on."""
        if self.dpop not in _DPOP_MODES:
            raise _error("dpop", "accepts off, allow or require")
        if self.dpop_replay not in _DPOP_REPLAYS:
            raise _error("dpop_replay", "accepts process or store")
        if not self.dpop_algorithms:
            raise _error("dpop_algorithms", "at least one algorithm is required, e.g. ES256,EdDSA")
        from .sansio.dpop import ASYMMETRIC  # the proof checker's own list (it imports this module)

        proof_algorithms = ASYMMETRIC & _supported_algorithms()
        for name in self.dpop_algorithms:
            if name not in proof_algorithms:
                raise _error(
                    "dpop_algorithms",
                    f"{name!r} is not an asymmetric algorithm a proof may use (RFC 9449 §4.2); accepts "
                    + ", ".join(sorted(proof_algorithms)),
                )
        _check_number("dpop_max_age", self.dpop_max_age, minimum=1, maximum=3600)
        key = self.dpop_nonce_key
        if key is not None and len(key) < 32:
            raise _error("dpop_nonce_key", "needs at least 32 characters (e.g. `openssl rand -hex 32`)")
        if self.dpop_nonce and key is None:
            raise _error(
                "dpop_nonce_key", "required by JWTGUARD_DPOP_NONCE=true, e.g. the output of openssl rand -hex 32"
            )
        origin = self.external_origin
        if origin is not None:
            if _ORIGIN.fullmatch(origin) is None:
                raise _error("external_origin", "accepts an origin, https://HOST or https://HOST:PORT (no path)")
            object.__setattr__(self, "external_origin", origin.lower())

    def _check_ssf(self) -> None:
        """The Shared Signals settings: printable values, URLs where URLs go, one source of keys."""
        for name in ("ssf_jwks_url", "ssf_config_url", "ssf_poll_url"):
            value = getattr(self, name)
            if value is not None and not (_header_text(value) and value.startswith(("https://", "http://"))):
                raise _error(name, "accepts an https:// (or http://) URL")
        if self.ssf_jwks_url and self.ssf_config_url:
            raise _error("ssf_config_url", "set either JWTGUARD_SSF_JWKS_URL or JWTGUARD_SSF_CONFIG_URL, not both")
        if self.ssf_issuer is not None:
            if not _header_text(self.ssf_issuer):
                raise _error("ssf_issuer", "accepts an issuer identifier: printable ASCII, e.g. https://idp.example")
            if not (self.ssf_jwks_url or self.ssf_config_url or self.ssf_issuer.startswith(("https://", "http://"))):
                raise _error(
                    "ssf_issuer",
                    "is no URL, so its configuration cannot be found: set JWTGUARD_SSF_JWKS_URL or "
                    "JWTGUARD_SSF_CONFIG_URL",
                )
        if self.ssf_audience is not None and not _header_text(self.ssf_audience):
            raise _error("ssf_audience", "accepts an audience: printable ASCII")
        for name in ("ssf_push_authorization", "ssf_poll_authorization"):
            value = getattr(self, name)
            # Named, never shown: the value is a credential.
            if value is not None and not _header_text(value):
                raise _error(name, "accepts an Authorization field value: printable ASCII, e.g. Bearer <token>")
        if self.ssf_push_authorization is not None and len(self.ssf_push_authorization) < 16:
            raise _error("ssf_push_authorization", "too short: use at least 16 characters, e.g. Bearer <random>")

    @property
    def ssf_expected_audience(self) -> str | None:
        """The ``aud`` a SET must carry: ``JWTGUARD_SSF_AUDIENCE``, else ``JWTGUARD_OIDC_CLIENT_ID``."""
        return self.ssf_audience or self.oidc_client_id

    @property
    def ssf_configuration(self) -> str | None:
        """Where the transmitter's configuration is read (without ``JWTGUARD_SSF_JWKS_URL``):
        ``JWTGUARD_SSF_CONFIG_URL``, else the issuer's well-known location (SSF 1.0 §7.2)."""
        if self.ssf_jwks_url:
            return None
        if self.ssf_config_url:
            return self.ssf_config_url
        return None if self.ssf_issuer is None else ssf_configuration_url(self.ssf_issuer)

    def _settle_secrets(self) -> None:
        """``secret`` and ``secrets`` as one list: ``secret`` the first (signing) one, ``secrets`` all.

        ``secret`` may be the environment's comma-separated list; ``secrets`` a sequence
        (or such a string). Given both, they must name the same list (a copy made by
        :meth:`replace` or :func:`dataclasses.replace` carries both).
        """
        secret, listed = self.secret, self.secrets
        if secret is not None and not isinstance(secret, str):
            raise _error("secret", "accepts text: one secret, or a comma-separated list")
        if isinstance(listed, str):
            listed = split_secrets(listed)
        elif not all(isinstance(item, str) for item in listed):
            raise _error("secret", "secrets= accepts a sequence of strings")
        listed = tuple(listed)
        if secret is not None:
            if not listed:
                listed = split_secrets(secret)
            elif secret != listed[0] and split_secrets(secret) != listed:
                raise _error("secret", "secret= and secrets= name different keys: give one of them")
        object.__setattr__(self, "secrets", listed)
        object.__setattr__(self, "secret", listed[0] if listed else None)

    @property
    def public_keys(self) -> tuple[str, ...]:
        """``public_key``'s keys, in order: its PEM blocks (one OpenSSH key stays one key)."""
        return pem_blocks(self.public_key) if self.public_key else ()

    @property
    def private_keys(self) -> tuple[str, ...]:
        """``private_key``'s keys, in order: its PEM blocks; the first one signs."""
        return pem_blocks(self.private_key) if self.private_key else ()

    @property
    def records_table(self) -> str:
        """jwtguard's per-user records (cut-offs, versions, sessions, denied ids): ``<users>_revocations``."""
        return self.records_collection or f"{self.users_collection}_revocations"

    @property
    def events_table(self) -> str:
        """The invalidation feed's events: ``<users>_events``."""
        return self.events_collection or f"{self.users_collection}_events"

    @property
    def refresh_table(self) -> str:
        """Refresh-token hashes, spent marks and used one-time links: ``<users>_tokens``."""
        return self.refresh_collection or f"{self.users_collection}_tokens"

    @property
    def hmac_algorithms(self) -> tuple[str, ...]:
        """The configured algorithms that sign with ``secret`` and verify with ``secrets``."""
        return tuple(name for name in self.algorithms if name in _HMAC_MIN_KEY_BYTES)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read the ``JWTGUARD_*`` variables of *environ* (default ``os.environ``).

        Unset or empty variables keep their defaults; *overrides* win over both.
        ``JWTGUARD_PUBLIC_KEY_FILE`` and ``JWTGUARD_PRIVATE_KEY_FILE`` name PEM
        files read here, once (the direct variable wins when both are set).

        A ``JWTGUARD_*`` variable that is no setting (a misspelling such as
        ``JWTGUARD_EXEMPT_PATH``) is ignored, and reported once per process as a
        ``WARNING`` of the ``jwtguard`` logger naming the nearest setting; the
        test harness's own variables are not reported. Never a Python warning:
        an application run with ``-W error`` must still start.
        """
        env = os.environ if environ is None else environ
        _report_unknown(env)
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = env.get(setting.variable, "").strip()
            if raw:
                values[setting.name] = setting.parse(setting.name, raw)
                continue
            path = env.get(setting.file_variable, "").strip() if setting.file_variable else ""
            if path:
                values[setting.name] = _read_file(f"{setting.name}_file", path)
        values.update(overrides)
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        """A copy with *changes* applied and validated again.

        ``secret`` and ``secrets`` are one list: changing either replaces it.
        """
        if "secret" in changes and "secrets" not in changes:
            changes["secrets"] = ()
        elif "secrets" in changes and "secret" not in changes:
            changes["secret"] = None
        return replace(self, **changes)

    def describe(self) -> dict[str, str]:
        """The effective settings as text, secrets masked, for ``check-config``.

        Keys are the variables, in declaration order; secrets show as
        ``(set, hidden)`` and URLs through :func:`mask_url`.
        """
        return {setting.variable: setting.show(getattr(self, setting.name)) for setting in SETTINGS}


#: Every setting, in the order of the README's table: the one list the rest is derived from.
SETTINGS: tuple[Setting, ...] = tuple(
    Setting(name=f.name, default=f.default, **f.metadata[_METADATA_KEY])
    for f in fields(Settings)
    if _METADATA_KEY in f.metadata
)

#: Fields of :class:`Settings` that are no setting of their own, each with the setting it comes from.
DERIVED: dict[str, str] = {f.name: f.metadata[_DERIVED_KEY] for f in fields(Settings) if _DERIVED_KEY in f.metadata}

_LISTS = tuple(setting for setting in SETTINGS if setting.item is not None)

#: Every variable jwtguard reads, ``*_FILE`` variants included.
VARIABLES: frozenset[str] = frozenset(variable for setting in SETTINGS for variable in setting.variables)


def _check_number(name: str, value: float, *, minimum: float, maximum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise _error(name, "accepts a number")
    if value < minimum or value > maximum:
        raise _error(name, f"accepts a number from {minimum:g} to {maximum:g}, got {value:g}")


def _check_int(name: str, value: int, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _error(name, f"accepts a whole number of at least {minimum}")


def _repeated(items: tuple[str, ...]) -> tuple[int, int]:
    """The 1-based positions of the first item listed twice."""
    seen: dict[str, int] = {}
    for index, item in enumerate(items, 1):
        if item in seen:
            return seen[item], index
        seen[item] = index
    raise ValueError("no item is repeated")


def _check_rsa_size(name: str, pem: str, position: str = "") -> None:
    """Refuse an RSA key under 2048 bits (RFC 7518 §3.3); other PEM problems are left to the verifier.

    Only the size (and *position*, ``"key 2 of 3: "``) is named, never the key.
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
            f"{position}an RSA key of {key.key_size} bits is too weak: use at least {_RSA_MIN_BITS} bits "
            "(RFC 7518 §3.3, NIST SP 800-131A)",
        )


# -- unknown variables --------------------------------------------------------------------

_UNKNOWN = "jwtguard: %s is not a jwtguard setting%s; it is ignored"

#: The variables without the shared prefix, which would make every name look close to every other.
_SUFFIXES = sorted(variable[len(PREFIX) :] for variable in VARIABLES)

#: Names already reported by from_env in this process: the middleware, the admin API and
#: a second adapter each read the environment, and one note per misspelling is enough.
_REPORTED: set[str] = set()
_REPORTED_LOCK = threading.Lock()


def _unknown(environ: Mapping[str, str]) -> list[tuple[str, str]]:
    """``(name, hint)`` for each variable of *environ* that looks like a setting but is none.

    The hint names the nearest setting (" (did you mean JWTGUARD_X?)") or is empty.
    Names are compared in upper case, so ``jwtguard_secret`` is caught too; only
    names are looked at, never values (a misspelt secret stays unseen).
    """
    found: list[tuple[str, str]] = []
    for name in sorted(environ):
        upper = name.upper()
        if not upper.startswith(PREFIX) or name in VARIABLES:
            continue
        if upper in _RESERVED or upper.startswith(_RESERVED_PREFIXES):
            continue
        nearest = difflib.get_close_matches(upper[len(PREFIX) :], _SUFFIXES, n=1)
        found.append((name, f" (did you mean {PREFIX}{nearest[0]}?)" if nearest else ""))
    return found


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """A note for each ``JWTGUARD_*`` variable of *environ* that jwtguard does not read.

    E.g. ``jwtguard: JWTGUARD_EXEMPT_PATH is not a jwtguard setting (did you mean
    JWTGUARD_EXEMPT_PATHS?); it is ignored``. The test harness's variables
    (``JWTGUARD_TEST_*``, ``JWTGUARD_FERRETDB``, ``JWTGUARD_CACHE_DIR``,
    ``JWTGUARD_KEYCLOAK_HOME``, ``_JAVA``, ``_VERSION``) are reserved and never
    listed. Used by the ``jwtguard`` command.
    """
    return [_UNKNOWN % found for found in _unknown(environ)]


def _report_unknown(environ: Mapping[str, str]) -> None:
    for name, hint in _unknown(environ):
        with _REPORTED_LOCK:
            if name in _REPORTED:
                continue
            _REPORTED.add(name)
        _log.warning(_UNKNOWN, name, hint)


# -- the README's table ---------------------------------------------------------------------


def settings_table() -> str:
    """The README's settings table, in Markdown, from the declarations.

    A test compares it with README.md; after changing a declaration, paste
    ``python -c "from jwtguard.config import settings_table; print(settings_table())"``.
    """
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    rows += [setting.table_row() for setting in SETTINGS]
    return "\n".join(rows) + "\n"
