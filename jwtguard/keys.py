"""The JWKS key source: jwtguard's own copy of the identity provider's key set.

PyJWT's :class:`jwt.PyJWKClient` only transports the set here
(:meth:`~jwt.PyJWKClient.fetch_data`); what is kept, for how long, and what an
outage means are decided in :class:`KeySource`:

- the set is re-read after ``lifespan`` seconds, and at once (single-flight,
  at most once per ``cooldown``) when a token names a ``kid`` it does not
  hold, so a re-read that lets a new key in also lets a removed key out;
- while the endpoint is unreachable the last good set keeps verifying for up
  to ``stale_max_age`` seconds past its lifespan; after that, or with no set
  at all, :class:`KeySourceUnavailable` is raised (the guard answers 503,
  never a logout signal);
- each key is bound to the algorithms it may verify (RFC 8725 §3.1).

:class:`TransmitterKeys` finds a Shared Signals transmitter's JWKS through its
configuration (SSF 1.0 §7.2) first, then keeps it as a :class:`KeySource` does.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final
from urllib.error import HTTPError, URLError

import jwt

from .errors import JWTGuardError

logger = logging.getLogger("jwtguard")

#: Algorithms a JWK of each key type may verify when it names none (RFC 7518 §3.3-§3.5,
#: RFC 8037 §3.1). ``oct`` is absent on purpose: HMAC verifies with JWTGUARD_SECRET only.
_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
#: RFC 7518 §3.4 and RFC 8812 §3.2: one algorithm per curve.
_EC_ALGORITHMS = {"P-256": "ES256", "P-384": "ES384", "P-521": "ES512", "secp256k1": "ES256K"}
#: RFC 8037 §3.1: EdDSA over either Edwards curve.
_OKP_CURVES = frozenset({"Ed25519", "Ed448"})

#: PyJWT's default refetch cooldown for unknown key ids.
DEFAULT_COOLDOWN = 30.0


class KeySourceUnavailable(JWTGuardError):
    """No key set good enough to decide on: the JWKS endpoint failed and nothing usable is held.

    Not a verdict on the token: the guard answers 503 ``key_source_unavailable``
    and caches nothing. The message never holds the URL, a key or a token.
    """


class UnknownKey(jwt.InvalidKeyError):
    """The token names no key of a freshly read set (or a key that may not verify its algorithm)."""


def key_algorithms(jwk: Mapping[str, Any], allowed: Collection[str]) -> frozenset[str]:
    """The allow-listed algorithms that the JWK *jwk* may verify.

    :param jwk: one member of a JWK Set, as parsed JSON.
    :param allowed: the configured algorithm allow-list (``JWTGUARD_ALGORITHMS``).

    Security: a JWK that names ``alg`` verifies that algorithm only (RFC 8725
    §3.1); one that names none verifies the allowed algorithms that fit its
    key type and curve. A key whose ``use`` is not ``sig`` (RFC 7517 §4.2),
    whose ``key_ops`` lack ``verify`` (§4.3), or of type ``oct`` (HMAC keys
    verify only with ``JWTGUARD_SECRET``) verifies nothing.
    """
    kty = jwk.get("kty")
    if jwk.get("use", "sig") != "sig":
        return frozenset()
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        return frozenset()
    if kty == "RSA":
        family: frozenset[str] = _RSA_ALGORITHMS
    elif kty == "EC":
        curve = _EC_ALGORITHMS.get(jwk.get("crv"))  # type: ignore[arg-type]
        family = frozenset({curve}) if curve else frozenset()
    elif kty == "OKP":
        family = frozenset({"EdDSA"}) if jwk.get("crv") in _OKP_CURVES else frozenset()
    else:
        return frozenset()
    named = jwk.get("alg")
    if named is not None:
        family = family & {named} if isinstance(named, str) else frozenset()
    return family & frozenset(allowed)


@dataclass(frozen=True, slots=True)
class KeySet:
    """One good read of the JWKS: ``keys[kid][alg]`` is a key bound to *alg*, and when it was read.

    A ``kid`` with an empty mapping is published but verifies nothing here
    (wrong ``use``, a weak or unreadable key, an algorithm not allowed).
    """

    keys: Mapping[str, Mapping[str, jwt.PyJWK]]
    fetched_at: float


class KeySource:
    """The JWKS at *url*, read and kept by jwtguard.

    :param url: the JWKS endpoint (``JWTGUARD_JWKS_URL``).
    :param algorithms: the asymmetric algorithms a key may verify (the allow-list).
    :param lifespan: seconds a read set is used before it is read again
        (``JWTGUARD_JWKS_LIFESPAN``, default 300).
    :param stale_max_age: seconds past its lifespan that the last good set keeps
        verifying known keys while the endpoint fails (``JWTGUARD_STALE_MAX_AGE``).
    :param timeout: seconds for one HTTP request.
    :param retry_interval: seconds between attempts while the endpoint fails
        (the 503's ``Retry-After``, at least 1, at most *cooldown*).
    :param cooldown: least seconds between two reads forced by unknown key ids
        (PyJWT's 30 by default; never more than *lifespan*).
    :param timer: monotonic seconds; tests pass a fake clock.

    Security: reads are single-flight under one lock, so a flood of tokens
    with invented ``kid`` values causes at most one request per *cooldown*.
    Keys come only from *url*; ``jku``/``x5u``/``jwk`` headers are never read.
    Weak keys (RSA under 2048 bits) are dropped when the set is read.
    """

    def __init__(
        self,
        url: str,
        *,
        algorithms: Collection[str],
        lifespan: float = 300.0,
        stale_max_age: float = 300.0,
        timeout: float = 2.0,
        retry_interval: float = 5.0,
        cooldown: float = DEFAULT_COOLDOWN,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = jwt.PyJWKClient(url, cache_jwk_set=False, timeout=timeout)
        self._algorithms = frozenset(algorithms)
        self._lifespan = lifespan
        self._stale_max_age = stale_max_age
        self._cooldown = min(cooldown, lifespan)
        self._retry_interval = min(max(retry_interval, 1.0), self._cooldown)
        self._timer = timer
        self._lock = threading.Lock()
        self._set: KeySet | None = None
        self._last_attempt: float | None = None
        self._last_failed = False
        #: Why the last read failed ("HTTP 503", "connection failed", ...), or None.
        self.last_error: str | None = None

    def key(self, kid: object, alg: str) -> jwt.PyJWK:
        """The key that verifies a token with header ``kid`` and ``alg``.

        Raises :class:`UnknownKey` (a 401) when the set, read after this call
        began or confirmed by a read forced for it, has no such key, or its key
        may not verify *alg*; :class:`KeySourceUnavailable` (a 503) when no
        usable set is held, or the ``kid`` is unknown and the set cannot be
        re-read now (the endpoint fails, or inside the cooldown: a key the
        provider has just rotated in must not log users out).
        """
        if not isinstance(kid, str):
            # RFC 7515 §4.1.4: kid is a string; no read can make anything else known.
            raise UnknownKey("no key id")
        asked = self._timer()
        held = self._set
        if held is not None and asked - held.fetched_at < self._lifespan and kid in held.keys:
            return self._bound(held, kid, alg)
        with self._lock:
            now = self._timer()
            held = self._set
            if (held is None or now - held.fetched_at >= self._lifespan) and self._may_read(now):
                self._read()
                held = self._set
            if held is None:
                raise KeySourceUnavailable(self._why())
            if self._timer() - held.fetched_at >= self._lifespan + self._stale_max_age:
                raise KeySourceUnavailable(self._why())
            if kid in held.keys:
                return self._bound(held, kid, alg)
            if held.fetched_at >= asked:
                # A set read after this request arrived: authoritative.
                raise UnknownKey("no such key id")
            if not self._may_read(self._timer()):
                raise KeySourceUnavailable(self._why() if self._last_failed else "unknown key id inside the cooldown")
            if not self._read():
                raise KeySourceUnavailable(self._why())
            held = self._set
            assert held is not None
            if kid in held.keys:
                return self._bound(held, kid, alg)
            raise UnknownKey("no such key id")

    # -- pieces -------------------------------------------------------------------------

    @staticmethod
    def _bound(held: KeySet, kid: str, alg: str) -> jwt.PyJWK:
        key = held.keys[kid].get(alg)
        if key is None:
            # RFC 8725 §3.1: the key is published for other algorithms (or for none).
            raise UnknownKey("the key may not verify this algorithm")
        return key

    def _may_read(self, now: float) -> bool:
        # After a good read the next one waits for the cooldown (a read for an expired set
        # always passes: cooldown <= lifespan); after a failed one, for the retry interval.
        if self._last_attempt is None:
            return True
        wait = self._retry_interval if self._last_failed else self._cooldown
        return now - self._last_attempt >= wait

    def _why(self) -> str:
        return f"the JWKS could not be read ({self.last_error})" if self.last_error else "no JWKS read yet"

    def _read(self) -> bool:
        """One request to the endpoint (the caller holds the lock); True when a usable set came back."""
        try:
            data = self._client.fetch_data()
            keys = self._parse(data)
        except Exception as exc:  # any failure of the endpoint keeps the last good set
            self._last_attempt = self._timer()
            error = _describe(exc)
            if not self._last_failed:
                logger.warning("jwtguard: the JWKS could not be read (%s); keeping the last good key set", error)
            self._last_failed = True
            self.last_error = error
            return False
        now = self._timer()
        self._set = KeySet(keys, now)
        self._last_attempt = now
        if self._last_failed:
            logger.warning("jwtguard: the JWKS answers again")
        self._last_failed = False
        self.last_error = None
        return True

    def _parse(self, data: Any) -> Mapping[str, Mapping[str, jwt.PyJWK]]:
        members = data.get("keys") if isinstance(data, dict) else None
        if not isinstance(members, list):
            raise ValueError("not a JWK Set")
        keys: dict[str, dict[str, jwt.PyJWK]] = {}
        usable = 0  # (kid, alg) pairs that can verify
        for member in members:
            if not isinstance(member, dict) or not isinstance(member.get("kid"), str):
                continue  # kid selects the key (RFC 7515 §4.1.4); members without one are never chosen
            kid = member["kid"]
            bound = keys.setdefault(kid, {})
            for alg in sorted(key_algorithms(member, self._algorithms)):
                if alg in bound:
                    continue  # the first member published for (kid, alg) wins
                try:
                    key = jwt.PyJWK(member, algorithm=alg)
                except Exception:
                    logger.warning("jwtguard: JWKS key %r is unreadable for %s; not used", kid[:64], alg)
                    break
                weak = key.Algorithm.check_key_length(key.key)
                if weak:
                    logger.warning("jwtguard: JWKS key %r is too weak; not used (%s)", kid[:64], weak)
                    break
                bound[alg] = key
                usable += 1
        if not usable:
            # Still the provider's answer (RFC 7517 §5): every token is refused until it publishes a
            # usable key. Only a failed read keeps the last good set.
            logger.warning("jwtguard: the JWKS holds no usable signing key")
        return MappingProxyType({kid: MappingProxyType(bound) for kid, bound in keys.items()})


def _describe(exc: BaseException) -> str:
    """A short, secret-free reason: the HTTP status or the kind of failure, never the URL."""
    cause = exc.__cause__
    if isinstance(cause, HTTPError):
        return f"HTTP {cause.code}"
    if isinstance(exc, jwt.PyJWKClientConnectionError):
        return "connection failed"
    if isinstance(exc, ValueError) and str(exc) == "not a JWK Set":
        return str(exc)
    return f"unreadable answer ({type(exc).__name__})"


#: The largest transmitter configuration read (SSF 1.0 §7.1: a few hundred bytes of URLs).
MAX_CONFIGURATION_BYTES: Final = 64 * 1024


class TransmitterKeys:
    """A Shared Signals transmitter's keys, its JWKS found through its configuration (SSF 1.0 §7.2).

    :param config_url: the transmitter configuration (``JWTGUARD_SSF_CONFIG_URL``, or the
        issuer's ``/.well-known/ssf-configuration``).
    :param issuer: ``JWTGUARD_SSF_ISSUER``: SSF 1.0 §7.2.4 requires the configuration's
        ``issuer`` to be identical to it; another one, or no ``jwks_uri``, and nothing of the
        configuration is used.
    :param options: the :class:`KeySource` parameters for the JWKS once found.

    The configuration is read once, on the first :meth:`key` call (single-flight, at most one
    attempt per *retry_interval* while it fails: a 503 for the SET, never a verdict on it);
    the JWKS it names is then kept by a :class:`KeySource`. Its ``jwks_uri`` must use https
    (§7.1), or http when the configuration itself was read over http (a transmitter on a test
    machine: TLS would protect nothing the configuration's own read did not).
    """

    def __init__(
        self,
        config_url: str,
        *,
        issuer: str,
        algorithms: Collection[str],
        lifespan: float = 300.0,
        stale_max_age: float = 300.0,
        timeout: float = 2.0,
        retry_interval: float = 5.0,
        timer: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config_url = config_url
        self._issuer = issuer
        self._options: dict[str, Any] = {
            "algorithms": algorithms,
            "lifespan": lifespan,
            "stale_max_age": stale_max_age,
            "timeout": timeout,
            "retry_interval": retry_interval,
            "timer": timer,
        }
        self._timeout = timeout
        self._retry_interval = max(retry_interval, 1.0)
        self._timer = timer
        self._lock = threading.Lock()
        self._source: KeySource | None = None
        self._failed_at: float | None = None
        #: Why the configuration could not be used ("HTTP 404", "another issuer", ...), or None.
        self.last_error: str | None = None

    def key(self, kid: object, alg: str) -> jwt.PyJWK:
        """:meth:`KeySource.key` of the transmitter's JWKS; :class:`KeySourceUnavailable` while
        its configuration cannot be read or used."""
        source = self._source or self._discover()
        return source.key(kid, alg)

    def _discover(self) -> KeySource:
        with self._lock:
            if self._source is not None:
                return self._source
            now = self._timer()
            if self._failed_at is not None and now - self._failed_at < self._retry_interval:
                raise KeySourceUnavailable(f"the transmitter configuration could not be used ({self.last_error})")
            try:
                document = fetch_json(self._config_url, timeout=self._timeout, limit=MAX_CONFIGURATION_BYTES)
                jwks_uri = configured_jwks_uri(document, issuer=self._issuer, config_url=self._config_url)
            except Exception as exc:  # any failure: no keys yet, and no verdict on the SET
                error = str(exc) if isinstance(exc, ConfigurationRefused) else describe_fetch(exc)
                if self._failed_at is None or error != self.last_error:
                    logger.warning("jwtguard: the SSF transmitter configuration could not be used (%s)", error)
                self._failed_at, self.last_error = self._timer(), error
                raise KeySourceUnavailable(f"the transmitter configuration could not be used ({error})") from None
            self._source = KeySource(jwks_uri, **self._options)
            self.last_error = None
            return self._source


class ConfigurationRefused(ValueError):
    """A transmitter configuration that SSF 1.0 §7.2.4 says must not be used; the message names why."""


def configured_jwks_uri(document: object, *, issuer: str, config_url: str) -> str:
    """The ``jwks_uri`` of a transmitter configuration, checked (SSF 1.0 §7.1, §7.2.4).

    :raises ConfigurationRefused: the document is no JSON object, names another ``issuer``, or
        has no usable ``jwks_uri`` (https, or http for a configuration read over http).
    """
    if not isinstance(document, dict):
        raise ConfigurationRefused("not a JSON object")
    if document.get("issuer") != issuer:
        raise ConfigurationRefused("it names another issuer than JWTGUARD_SSF_ISSUER")
    jwks_uri = document.get("jwks_uri")
    schemes = ("https://", "http://") if config_url.startswith("http://") else ("https://",)
    if not isinstance(jwks_uri, str) or not jwks_uri.startswith(schemes):
        raise ConfigurationRefused("no https jwks_uri")
    return jwks_uri


def fetch_json(
    url: str,
    *,
    timeout: float,
    limit: int,
    body: bytes | None = None,
    headers: Mapping[str, str] | None = None,
) -> Any:
    """GET *url* (or POST *body*) and parse its JSON answer of at most *limit* bytes.

    :raises urllib.error.HTTPError: for a status other than 2xx; ``ValueError`` for a body
        that is larger than *limit* or no JSON; ``OSError`` when the server cannot be reached.
    """
    if not url.startswith(("https://", "http://")):
        raise ValueError("not an http(s) URL")  # never file: or a custom scheme
    fields = {"Accept": "application/json", **(headers or {})}
    method = "GET" if body is None else "POST"
    request = urllib.request.Request(url, data=body, headers=fields, method=method)  # noqa: S310 - http(s) only
    with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
        data = response.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"the answer is larger than {limit} bytes")
    if not data.strip():
        return None
    return json.loads(data)


def describe_fetch(exc: BaseException) -> str:
    """A short reason for a failed HTTP exchange: the status or the kind of failure, never the URL."""
    if isinstance(exc, HTTPError):
        return f"HTTP {exc.code}"
    if isinstance(exc, (URLError, OSError)):
        return "connection failed"
    if isinstance(exc, ValueError):
        return "unreadable answer"
    return f"unreadable answer ({type(exc).__name__})"
