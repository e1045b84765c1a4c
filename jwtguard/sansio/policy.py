"""The rules, in the order the engine applies them: each a function of values.

:class:`Policy` is built once from the settings; every answer that does not
depend on the request is built then. It never locks, caches, reads a clock
or does I/O: the engine (:mod:`jwtguard.engine`) feeds it what it looked up.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from typing import Any, Final, NamedTuple

from ..config import Settings
from ..userid import user_key
from .claims import (
    ProviderSession,
    TokenType,
    Verified,
    freeze,
    is_access_token,
    is_stale_token,
    time_claim,
    time_reason,
)
from .credentials import (
    SAFE_METHODS,
    CookieToken,
    DPoPToken,
    NoToken,
    bearer_token,
    cross_site,
    csrf_reason,
    expiring_cookies,
    own_cookies,
)
from .decision import ANONYMOUS, EXEMPT, RAW_SIGNAL, REASONS, SIGNAL, Decision, refusal, with_headers
from .dpop import HeaderReader, Proof, ProofRefused, ProofRules, bound_key
from .request import Request
from .state import UserState, is_id, is_version, session_alive

#: ``JWTGUARD_ON_STORE_ERROR`` values.
REJECT: Final = "reject"
STALE: Final = "stale"
ALLOW: Final = "allow"

#: ``JWTGUARD_MODE`` values.
REQUIRE: Final = "require"
OPTIONAL: Final = "optional"

#: ``JWTGUARD_DPOP`` values (besides ``allow`` and ``require``).
OFF: Final = "off"

#: ``JWTGUARD_TOKEN_LOCATION`` values.
HEADER: Final = "header"
COOKIE: Final = "cookie"
BOTH: Final = "both"

#: Where an adapter leaves its verdict for the app, in the WSGI environ or the ASGI scope:
#: the claims (None: optional mode, no token), the user id, and the policy that decided
#: (its refusals answer the per-route checks). A request the guard never saw has none of them.
CLAIMS_KEY: Final = "jwtguard.claims"
USER_ID_KEY: Final = "jwtguard.user_id"
POLICY_KEY: Final = "jwtguard.policy"


#: Last path segments that name a login route: a request to one without credentials is
#: usually the app's own login, which needs listing in JWTGUARD_EXEMPT_PATHS.
_LOGIN_SEGMENTS: Final = frozenset(
    {"login", "signin", "sign-in", "sign_in", "token", "auth", "authenticate", "register", "signup", "sign-up"}
)


def looks_like_login(path: str) -> bool:
    """Whether *path* looks like an app's login route (``/login``, ``/api/auth/token``, ``/signin/``)."""
    return path.rstrip("/").rpartition("/")[2].lower() in _LOGIN_SEGMENTS


class Policy:
    """Which requests pass, and the exact answer to those that don't.

    :param settings: the validated settings; nothing else is read.

    ``refusals[reason]`` holds the prebuilt answer for every reason of
    :data:`~jwtguard.sansio.decision.REASONS`. In cookie mode, the answers
    that end a login (``clears``) are prebuilt a second time with the
    ``Set-Cookie`` expiries of jwtguard's cookies, for tokens read from the
    cookie (:meth:`for_cookie`). ``reads_cookies`` tells the adapters whether
    to read the cookie-mode fields of a request at all.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.leeway = settings.leeway
        self.max_header = settings.max_header_bytes
        self._user_claim = settings.user_claim
        self._id_type = settings.user_id_type
        self._max_user_id = settings.max_user_id_length
        self._max_lifetime = settings.max_token_lifetime
        self._exempt_methods = frozenset(settings.exempt_methods)
        # "/login" exempts "/login" and "/login/..."; "/static/" exempts what is under it.
        self._exempt_exact = frozenset(p for p in settings.exempt_paths if p == "/" or not p.endswith("/"))
        self._exempt_prefixes = tuple(p if p.endswith("/") else p + "/" for p in settings.exempt_paths if p != "/")
        #: ``JWTGUARD_DPOP``: whether the ``DPoP`` scheme and field are read at all, and the
        #: challenges offered (RFC 9449 §7.1, §7.2): Bearer's alone, both, or DPoP's alone.
        self.reads_dpop = settings.dpop != OFF
        self._dpop_only = settings.dpop == REQUIRE
        algs = " ".join(settings.dpop_algorithms)
        schemes = {OFF: ("Bearer",), "allow": ("Bearer", "DPoP"), REQUIRE: ("DPoP",)}[settings.dpop]
        self.refusals: dict[str, Decision] = {
            name: refusal(
                name,
                realm=settings.realm,
                retry_after=settings.retry_after,
                clear_site_data=settings.clear_site_data,
                schemes=schemes,
                algs=algs,
            )
            for name in REASONS
        }
        #: The answers to a request that used the DPoP scheme: the error in the DPoP challenge.
        self._dpop_refusals: dict[str, Decision] = (
            {
                name: refusal(
                    name,
                    realm=settings.realm,
                    retry_after=settings.retry_after,
                    clear_site_data=settings.clear_site_data,
                    schemes=("DPoP",) if self._dpop_only else ("DPoP", "Bearer"),
                    algs=algs,
                )
                for name in REASONS
            }
            if self.reads_dpop
            else {}
        )
        self._external_origin = settings.external_origin
        #: What every proof must meet, server nonces included (JWTGUARD_DPOP_NONCE).
        self.proof_rules = ProofRules.of(settings)
        self._on_store_error = settings.on_store_error
        self._optional = settings.mode == OPTIONAL
        self._version_claim = settings.version_claim
        self._sessions = settings.sessions
        self._issuer = settings.issuer
        self._header = settings.token_location != COOKIE
        self._cookie = self.reads_cookies = settings.token_location != HEADER
        expiries = expiring_cookies(settings.refresh_path)
        #: Refusals of a cookie token that end the login: jwtguard's three cookies are expired
        #: with them, with the Path each was set with. Never `Clear-Site-Data: "cookies"`.
        self._ending: dict[str, Decision] = {
            name: refusal(
                name,
                realm=settings.realm,
                retry_after=settings.retry_after,
                clear_site_data=settings.clear_site_data,
                set_cookies=expiries,
            )
            for name, reason in REASONS.items()
            if reason.clears and self._cookie
        }
        self._cache_ttl = settings.cache_ttl
        self._allow_unknown = settings.unknown_users == ALLOW
        #: ``JWTGUARD_TOKEN_TYPE``: what a verified token must carry to be taken for an access token.
        self.token_type = TokenType.parse(settings.token_type)

    # -- the request --------------------------------------------------------------------

    def exempt(self, method: str, path: str, preflight: bool = False) -> bool:
        """True for requests that pass untouched: CORS preflights, exempt methods and paths.

        *path* is the path as the wrapped app routes it (:class:`Request`).
        """
        if preflight or method in self._exempt_methods:
            return True
        if path in self._exempt_exact:
            return True
        if self._exempt_prefixes and path.startswith(self._exempt_prefixes):
            # "/static/../api" must not ride on the "/static/" exemption.
            return "/." not in path or not any(seg in (".", "..") for seg in path.split("/"))
        return False

    def screen(self, request: Request) -> str | CookieToken | DPoPRequest | Decision:
        """The request's token, or its final decision (exempt, anonymous, or refused before any lookup).

        A Bearer token comes as a ``str``, a token from the cookie as a
        :class:`~jwtguard.sansio.credentials.CookieToken` (its refusals may
        expire the cookies: :meth:`for_cookie`), one sent with the DPoP scheme
        (``JWTGUARD_DPOP`` not ``off``) as a :class:`DPoPRequest` with its proof
        (:meth:`dpop_request`); under ``require`` any other credentials are ``dpop_required``.
        ``JWTGUARD_TOKEN_LOCATION`` says where to look: ``header``, ``cookie`` (an ``Authorization`` field
        is ignored), or ``both``, where a request with Bearer credentials uses
        them (a malformed header is refused, never passed over for the
        cookie) and one without (no field, or another scheme) uses the cookie.

        ``JWTGUARD_MODE=optional`` passes a request without credentials (no
        ``Authorization``, or another scheme such as Basic: RFC 6750 §3.1's
        "lacks any authentication information"; in cookie mode, no access
        cookie) as ``anonymous``. Anything else is screened as in
        ``require``: a malformed header, two credentials, a failed CSRF check
        or a token that fails later are refused, never taken for anonymous.
        """
        method = request.method
        if self.exempt(method, request.path, method == "OPTIONS" and request.preflight):
            return EXEMPT
        token = bearer_token(request.authorization, self.max_header, self.reads_dpop) if self._header else _NO_HEADER
        if type(token) is str:
            return self.refusals["dpop_required"] if self._dpop_only else token
        if type(token) is DPoPToken:
            return self.dpop_request(token.token, request)
        assert isinstance(token, NoToken)
        if token.reason == "missing_token":
            if self._cookie:
                return self.refusals["dpop_required"] if self._dpop_only else self.cookie_token(request)
            if self._optional:
                return ANONYMOUS
        return self.refusals[token.reason]

    def dpop_request(self, token: str, request: Request) -> DPoPRequest | Decision:
        """A token sent with the DPoP scheme, and what its proof must match (RFC 9449 §7.1), or the answer.

        §4.3 #1: exactly one ``DPoP`` field (a WSGI server joins two with a comma, which no
        compact JWS holds), else ``invalid_dpop_proof``. The URL is the one the client used:
        ``JWTGUARD_EXTERNAL_ORIGIN`` (or the request's scheme and ``Host``) and the request target.
        """
        proofs = request.dpop
        if len(proofs) != 1 or "," in proofs[0] or len(proofs[0]) > self.max_header:
            return self._dpop_refusals["invalid_dpop_proof"]
        return DPoPRequest(token, proofs[0], request.method, request.url(self._external_origin))

    def cookie_token(self, request: Request) -> CookieToken | Decision:
        """The access token of the ``__Host-jwtguard-at`` cookie, once the CSRF checks passed, or the answer.

        In this order: jwtguard's cookies are read (``header_too_large``,
        ``multiple_credentials``: :func:`~jwtguard.sansio.credentials.own_cookies`);
        no access cookie is ``missing_token`` (``anonymous`` when optional);
        then the Fetch Metadata resource-isolation policy (``csrf_cross_site``,
        on every method: a cross-site ``<img>`` or ``fetch`` is no navigation)
        and, on unsafe methods (RFC 9110 §9.2.1), the ``X-CSRF-Token`` field
        against the CSRF cookie (``csrf_missing_token``, ``csrf_mismatch``).
        The CSRF checks come before the token is looked at: a forged request
        learns nothing of it and cannot make the guard expire the cookies.
        """
        jar = own_cookies(request.cookie, self.max_header)
        if isinstance(jar, NoToken):
            return self.refusals[jar.reason]
        if jar.access is None:
            return ANONYMOUS if self._optional else self.refusals["missing_token"]
        method = request.method
        if cross_site(request.sec_fetch_site, request.sec_fetch_mode, request.sec_fetch_dest, method):
            return self.refusals["csrf_cross_site"]
        if method not in SAFE_METHODS:
            failed = csrf_reason(request.csrf_token, jar.csrf)
            if failed is not None:
                return self.refusals[failed]
        return CookieToken(jar.access)

    def for_cookie(self, decision: Decision) -> Decision:
        """The answer to a request whose token came from the cookie.

        A refusal that ends the login (``revoked``, ``disabled``,
        ``unknown_user``, ``session_revoked``: ``clears`` in
        :data:`~jwtguard.sansio.decision.REASONS`) also expires jwtguard's three
        cookies (``Max-Age=0``, each with the ``Path`` it was set with), so the
        browser stops sending a dead token. Any other answer is *decision*
        itself: ``expired`` keeps them all (the page refreshes with the refresh
        cookie, and an expiry racing a refresh in another tab would delete the
        fresh token), as do 503s and ``invalid`` (a key rotation is no logout).
        """
        return self._ending.get(decision.reason, decision)

    def refresh_token(self, request: Request) -> str | Decision:
        """The refresh token of the ``__Secure-jwtguard-rt`` cookie for a refresh endpoint, or the answer.

        Stricter than :meth:`cookie_token`, since a refresh always changes
        state: the CSRF token is needed whatever the method, and no cross-site
        request passes, navigations included. Refusals: ``header_too_large``,
        ``multiple_credentials``, ``missing_token`` (no refresh cookie), then
        ``csrf_cross_site``, ``csrf_missing_token``, ``csrf_mismatch``.
        """
        jar = own_cookies(request.cookie, self.max_header)
        if isinstance(jar, NoToken):
            return self.refusals[jar.reason]
        if jar.refresh is None:
            return self.refusals["missing_token"]
        if cross_site(
            request.sec_fetch_site, request.sec_fetch_mode, request.sec_fetch_dest, request.method, navigation=False
        ):
            return self.refusals["csrf_cross_site"]
        failed = csrf_reason(request.csrf_token, jar.csrf)
        if failed is not None:
            return self.refusals[failed]
        return jar.refresh

    # -- the token ----------------------------------------------------------------------

    def verified(self, header: Mapping[str, Any], claims: Mapping[str, Any]) -> Verified | Decision:
        """What jwtguard reads from a token whose signature, audience and issuer checked out.

        Refused as ``invalid``: a ``crit`` header (RFC 7515 §4.1.11: no
        extension is implemented), a token that is no access token (the
        token-type rule, :func:`~jwtguard.sansio.claims.is_access_token`: a
        logout token, a security event, a DPoP proof, or not what
        ``JWTGUARD_TOKEN_TYPE`` asks for; RFC 8725 §3.11), a user claim that names nobody under
        ``JWTGUARD_USER_ID_TYPE`` (checked before it can reach a query), time
        claims that are not dates, ``exp - iat`` above ``JWTGUARD_MAX_TOKEN_LIFETIME``.
        Raises only for claims a verifier should never hand over (callers map
        every exception to ``invalid``).
        """
        invalid = self.refusals["invalid"]
        if "crit" in header or not is_access_token(header, claims, self.token_type):
            return invalid
        user_id = claims.get(self._user_claim)
        key = user_key(user_id, self._id_type, self._max_user_id)
        if key is None:
            return invalid
        try:
            iat = time_claim(claims, "iat")
            exp = time_claim(claims, "exp")
            nbf = time_claim(claims, "nbf")
        except ValueError:
            return invalid
        if iat is None or exp is None:
            return invalid
        if self._max_lifetime is not None and exp - iat > self._max_lifetime:
            return invalid
        jti, sid, version = claims.get("jti"), claims.get("sid"), claims.get(self._version_claim)
        # Checked before they are compared with anything stored: ids are bounded strings, the
        # version a 63-bit integer; a claim of another type refuses the token.
        if (jti is not None and not is_id(jti)) or (sid is not None and not is_id(sid)):
            return invalid
        if version is not None and not is_version(version):
            return invalid
        try:
            jkt = bound_key(claims)  # RFC 9449 §6.1: cnf.jkt, a DPoP-bound token
        except ValueError:
            return invalid
        iss = claims.get("iss")
        own = self._sessions and iss == self._issuer
        # Another issuer's session may have been ended by a logout token naming only its sid.
        provider = ProviderSession(iss, sid) if sid is not None and not own and isinstance(iss, str) else None
        frozen = freeze(claims)
        assert isinstance(user_id, (str, int))  # user_key admits nothing else
        accept = Decision("accept", "accepted", None, SIGNAL, RAW_SIGNAL, b"", True, frozen, user_id)
        return Verified(frozen, user_id, iat, exp, nbf, key, accept, jti, sid, version, own, provider, jkt)

    def times(self, verified: Verified, now: float) -> Decision | None:
        """The refusal of a token whose time claims fail at *now*, or None (every request)."""
        reason = time_reason(verified, now, self.leeway)
        return None if reason is None else self.refusals[reason]

    # -- DPoP (RFC 9449) ----------------------------------------------------------------

    def proof(
        self, request: DPoPRequest, verified: Verified, now: float, headers: HeaderReader | None = None
    ) -> Proof | Decision:
        """The checked proof of a token sent with the DPoP scheme, or the refusal (RFC 9449 §7.1).

        ``dpop_binding`` (``invalid_token``): the token is bound to no key, or to another
        than the proof's (§4.3 #12, §6.1); ``invalid_dpop_proof``: any check of §4.3 failed
        (:func:`~jwtguard.sansio.dpop.check_proof`, with ``JWTGUARD_DPOP_ALGORITHMS`` and
        ``JWTGUARD_DPOP_MAX_AGE``); ``use_dpop_nonce``: ``JWTGUARD_DPOP_NONCE`` is on and the
        proof lacks a current nonce (§9), answered with one (:meth:`nonce_refusal`). The
        replay of a good proof is the engine's to refuse: it remembers the ``jti``. *headers*:
        how proof headers are prepared (the engine remembers them, :func:`~jwtguard.sansio.dpop.read_header`).
        """
        refusals = self._dpop_refusals
        if verified.jkt is None:
            return refusals["dpop_binding"]
        checked = self.proof_rules.check(
            request.proof, method=request.method, url=request.url, access_token=request.token, now=now, headers=headers
        )
        if isinstance(checked, ProofRefused):
            return self.nonce_refusal(now) if checked.error == "use_dpop_nonce" else refusals["invalid_dpop_proof"]
        if checked.jkt != verified.jkt:
            return refusals["dpop_binding"]
        return checked

    def nonce_refusal(self, now: float) -> Decision:
        """``use_dpop_nonce`` with the current nonce in ``DPoP-Nonce`` (RFC 9449 §9)."""
        nonce = self.proof_rules.nonce(now)
        assert nonce is not None
        return with_headers(self._dpop_refusals["use_dpop_nonce"], (("DPoP-Nonce", nonce),))

    def fresh_nonce(self, decision: Decision, proof: Proof, now: float) -> Decision:
        """An accepted DPoP request's answer: with a new ``DPoP-Nonce`` when its proof's nonce is
        of the previous period (RFC 9449 §8.2: the client uses it from then on)."""
        current = self.proof_rules.nonce(now)
        if current is None or decision.kind != "accept" or proof.nonce == current:
            return decision
        return with_headers(decision, (("DPoP-Nonce", current),))

    def for_dpop(self, decision: Decision) -> Decision:
        """The answer to a request that used the DPoP scheme: the error in the DPoP challenge. A
        refusal built for it already (a nonce's, with its ``DPoP-Nonce``) stays as it is."""
        if decision.kind != "refuse" or decision is not self.refusals.get(decision.reason):
            return decision
        return self._dpop_refusals[decision.reason]

    # -- the user -----------------------------------------------------------------------

    def decide(self, verified: Verified, state: UserState | None, now: float) -> Decision:
        """The verdict on a verified, timely token given its user's state at *now*.

        ``revoked``: older than the user's version or cut-off
        (:func:`~jwtguard.sansio.claims.is_stale_token`), or its ``jti`` denied.
        ``session_revoked``: its ``sid`` names an ended session, or, for
        jwtguard's own tokens, no live session (:func:`~jwtguard.sansio.state.session_alive`).
        """
        if state is None:
            if not self._allow_unknown:
                return self.refusals["unknown_user"]
            state = _NO_STATE  # JWTGUARD_UNKNOWN_USERS=allow: the users live in an identity provider
        if state.malformed:
            return self.refusals["revoked"]
        if not state.enabled:
            return self.refusals["disabled"]
        if is_stale_token(verified.version, verified.iat, state.version, state.not_before):
            return self.refusals["revoked"]
        if verified.jti is not None and verified.jti in state.denied:
            return self.refusals["revoked"]
        sid = verified.sid
        if sid is not None:
            if sid in state.ended:
                return self.refusals["session_revoked"]
            if state.provider_ended and (verified.claims.get("iss"), sid) in state.provider_ended:
                return self.refusals["session_revoked"]  # an identity provider ended it (issue 12)
            if verified.own and not session_alive(state, sid, now):
                return self.refusals["session_revoked"]
        return verified.accept

    def provider_session(self, verified: Verified, ended: bool) -> Decision:
        """The verdict on a token the user's state accepted, given whether its provider session
        (:attr:`~jwtguard.sansio.claims.Verified.provider_session`) was ended by a logout token
        that named only its ``sid``: ``session_revoked`` if so."""
        return self.refusals["session_revoked"] if ended else verified.accept

    def provider_session_error(self, verified: Verified, known: tuple[bool, float] | None) -> Decision:
        """:meth:`store_error` for the provider-session lookup: *known* is its last answer and age."""
        if self._on_store_error == ALLOW:
            return verified.accept
        if self._on_store_error == STALE and known is not None:
            return self.provider_session(verified, known[0])
        return self.refusals["store_unavailable"]

    def predates(self, verified: Verified, state: UserState | None, now: float) -> bool:
        """Whether a cached *state* may be older than *verified*'s session, so must be read again.

        jwtguard writes a session before it signs the session's first token, so a state read
        after the token's ``iat`` knows it. A cached state is at most ``JWTGUARD_CACHE_TTL``
        old: when it knows nothing of the session of a token younger than that (plus the
        leeway, for another server's clock), the login may simply have happened after it was
        read, in another worker or process (issue 10), and only a fresh read may refuse the
        token. An ended session, a raised version or a cut-off never needs one: a newer state
        only refuses more.
        """
        if not verified.own or verified.iat <= now - self._cache_ttl - self.leeway:
            return False
        if state is None:
            return True  # the login made the user (the embedded store) after "unknown" was cached
        sid = verified.sid
        return sid is not None and sid not in state.sessions and sid not in state.ended

    def store_error(self, verified: Verified, known: tuple[UserState | None, float] | None, now: float) -> Decision:
        """The verdict when the store could not answer, by ``JWTGUARD_ON_STORE_ERROR``.

        *known* is the state this process last read for the user and its age,
        when younger than ``JWTGUARD_STALE_MAX_AGE`` (the engine's cache says).
        ``reject``: 503. ``stale``: the verdict on *known*, else 503.
        ``allow``: accept (unsafe; warned at start-up).
        """
        if self._on_store_error == ALLOW:
            return verified.accept
        if self._on_store_error == STALE and known is not None:
            return self.decide(verified, known[0], now)
        return self.refusals["store_unavailable"]


# -- per-route checks over the guard's verdict ------------------------------------------


def requirement(value: str | Iterable[str] | None) -> frozenset[str]:
    """A route's required scopes or roles: one space-separated string (as a ``scope`` claim) or strings."""
    if value is None:
        return frozenset()
    items = value.split(" ") if isinstance(value, str) else value
    return frozenset(item for item in items if item)


def granted_scopes(claims: Mapping[str, Any]) -> frozenset[str]:
    """The token's scopes: its ``scope`` claim, a space-separated string (RFC 8693 §4.2, RFC 6749 §3.3).

    Any other type grants nothing (no guessing at lists or substrings).
    """
    value = claims.get("scope")
    return frozenset(value.split(" ")) - {""} if isinstance(value, str) else frozenset()


def granted_roles(claims: Mapping[str, Any]) -> frozenset[str]:
    """The token's roles: its ``roles`` claim, an array of strings (a tuple once frozen).

    A role is an element, never a substring: ``"admin"`` is not in ``["superadmin"]``,
    and a ``roles`` claim that is a string or an object grants nothing.
    """
    value = claims.get("roles")
    if not isinstance(value, (tuple, list)):
        return frozenset()
    return frozenset(item for item in value if isinstance(item, str))


def route_decision(
    verdict: Mapping[str, Any],
    *,
    optional: bool = False,
    scopes: Collection[str] = frozenset(),
    roles: Collection[str] = frozenset(),
) -> Decision | None:
    """The refusal a per-route check gives, or None when the route may run.

    :param verdict: the WSGI environ or ASGI scope the guard left its verdict in.
    :param optional: the route also runs for a request without a token
        (``JWTGUARD_MODE=optional``), with no claims.
    :param scopes: every one of these must be in the token's ``scope`` claim.
    :param roles: every one of these must be in the token's ``roles`` claim.

    Fails closed: a request the guard did not decide on (middleware not
    installed, or an exempt path) is refused with :data:`UNGUARDED` (401),
    even for an optional route, since nothing checked the token it may carry.
    A missing scope or role is 403 ``insufficient_scope`` (RFC 6750 §3.1).
    """
    policy = verdict.get(POLICY_KEY)
    if CLAIMS_KEY not in verdict or not isinstance(policy, Policy):
        return UNGUARDED
    claims = verdict[CLAIMS_KEY]
    if claims is None:
        return None if optional and not scopes and not roles else policy.refusals["missing_token"]
    if not granted_scopes(claims).issuperset(scopes) or not granted_roles(claims).issuperset(roles):
        return policy.refusals["insufficient_scope"]
    return None


class DPoPRequest(NamedTuple):
    """A token sent with the DPoP scheme (``Authorization: DPoP``), its one proof, and what the proof
    must name: the request's method and the URL the client used (RFC 9449 §4.3 #8, #9)."""

    token: str
    proof: str
    method: str
    url: str


#: A header-less location (``cookie``): what the header would have said.
_NO_HEADER: Final = NoToken("missing_token")
#: The state of a user nothing is stored about, under JWTGUARD_UNKNOWN_USERS=allow.
_NO_STATE: Final = UserState()

#: The answer of a per-route check on a request the guard never decided on (fail closed).
UNGUARDED: Final = refusal("missing_token", realm="api", retry_after=0, clear_site_data=False)
