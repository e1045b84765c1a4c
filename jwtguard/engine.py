"""The engine: caches, keys, store, metrics and logging around the pure policy, in one flow.

:meth:`Engine._flow` is the request's whole story as a generator (httpx's
``auth_flow`` is the model): it asks the :class:`~jwtguard.sansio.policy.Policy`
at every step and *yields* the lookups that may need I/O, a signature check
(:class:`VerifyToken`: a JWKS may have to be read) and a user's state
(:class:`LoadState`: a store query), which a driver performs:
:meth:`Engine.handle` (blocking, for WSGI) or :meth:`Engine.ahandle` (async,
for ASGI: the store's own async client, JWKS reads in a thread). The flow is
written as two halves, cut at its first lookup: :meth:`Engine._start` decides
from memory (plain calls) and :meth:`Engine._lookups` is the generator for the
rest, so a request whose token and user are both cached is one synchronous
call on both drivers, without even a generator (issue 11: that is about a
tenth of the repeat request's cost).

Flow::

    Request -> policy.screen (Bearer | cookie + CSRF) -> [token cache | VerifyToken] -> policy.times
            -> [state cache | LoadState] -> policy.decide / policy.store_error
            -> (another issuer's token with a sid: [session cache | LoadSession] -> policy.provider_session)
            -> (a cookie token: policy.for_cookie) -> Decision
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
import weakref
from collections.abc import Awaitable, Callable, Collection, Generator, Iterator, Mapping
from functools import partial
from sys import getsizeof
from typing import Any, Final, NamedTuple, TypeVar, cast

from .cache import SeenOnce, StateCache, TokenCache
from .config import Settings
from .errors import ConfigError, StoreError
from .feed import Follower, feed_source, follower_for
from .invalidation import InvalidationBus, default_bus
from .keys import KeySourceUnavailable
from .metrics import Metrics
from .sansio.claims import ANY_TOKEN_TYPE, ProviderSession, Verified
from .sansio.credentials import TOKEN68, CookieToken
from .sansio.decision import Decision
from .sansio.dpop import Proof, ProofHeader, ProofRefused, read_header, replay_name
from .sansio.policy import UNGUARDED, DPoPRequest, Policy, looks_like_login, route_decision
from .sansio.request import Request
from .sansio.state import UserState, user_state
from .sessions.flows import spend_proof
from .sessions.signals import provider_session_ended
from .stores import AsyncStore, Store
from .stores import records as r
from .tokens import TokenVerifier
from .userid import UserId, UserKey

logger = logging.getLogger("jwtguard")

T = TypeVar("T")

#: Distinct paths a process names in login hints at most (the paths come from clients).
_MAX_HINTS = 16


class VerifyToken(NamedTuple):
    """A lookup the flow needs: check this token's signature (may read the JWKS)."""

    token: str


class LoadState(NamedTuple):
    """A lookup the flow needs: this user's state, through the state cache (may query the store)."""

    key: UserKey
    user_id: UserId


class LoadSession(NamedTuple):
    """A lookup the flow needs: whether this identity provider's session was ended (a logout token
    that named only its ``sid``), through its own cache (may query the store)."""

    session: ProviderSession


class SpendProof(NamedTuple):
    """A lookup the flow needs: note this DPoP proof as used, in the store (``JWTGUARD_DPOP_REPLAY=store``):
    answered True the first time only."""

    proof: Proof


#: How a request sent its token: its refusals differ (a cookie's expire the cookies, a DPoP
#: request's carry the DPoP challenge); INSPECT is a token handed to the endpoints (introspection),
#: which judge it as presented by its holder: no proof is asked of a DPoP-bound one.
BEARER, COOKIE, DPOP, INSPECT = 0, 1, 2, 3

#: The lookups left, in the flow's order: the proof's use (shared replay), the user's state,
#: the provider session.
_REPLAY, _STATE, _SESSION = 0, 1, 2


class _Needs(NamedTuple):
    """Where :meth:`Engine._start` stopped: the token to verify (``verified`` None), or the verified
    token and the first lookup left (``stage``); the request's clock reading, how the token came,
    and for the DPoP scheme its request and (once checked) its proof."""

    token: str
    verified: Verified | None
    now: float
    via: int
    stage: int = _STATE
    dpop: DPoPRequest | None = None
    proof: Proof | None = None


Step = VerifyToken | SpendProof | LoadState | LoadSession
#: What a driver sends back: the verification's outcome, the state, whether a provider session
#: ended (a StoreError when the store failed).
Answer = Verified | Decision | UserState | bool | StoreError | None
Flow = Generator[Step, Answer, Decision]


class Engine:
    """One guard's state and its one request flow, for either adapter.

    :param settings: the validated settings.
    :param store: the blocking store (WSGI, :meth:`handle`).
    :param async_store: the non-blocking store (ASGI, :meth:`ahandle`).
    :param clock: wall-clock seconds, for the time claims.
    :param timer: monotonic seconds, for every cache and the JWKS key source.
    :param bus: where admin changes arrive (:data:`~jwtguard.invalidation.default_bus`).

    Security: verified signatures are remembered for ``JWTGUARD_TOKEN_CACHE_TTL``
    (a key the JWKS dropped stops verifying within its lifespan plus that),
    user states for ``JWTGUARD_CACHE_TTL``; time claims and the user's state
    are checked on every request.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        store: Store | None = None,
        async_store: AsyncStore | None = None,
        clock: Callable[[], float] = time.time,
        timer: Callable[[], float] = time.monotonic,
        bus: InvalidationBus = default_bus,
        verifier: TokenVerifier | None = None,
    ) -> None:
        self.settings = settings
        self.policy = Policy(settings)
        self.verifier = verifier or TokenVerifier(settings, timer=timer)
        self.store = store
        self.async_store = async_store
        self._clock = clock
        # A zero token_cache_ttl (or token_cache_bytes) means: check every signature, remember none.
        self._remember_tokens = settings.token_cache_ttl > 0 and settings.token_cache_bytes > 0
        #: Verified tokens by their digest (issue 11: no token is held), bounded by entries and bytes.
        self._tokens: TokenCache[Verified] = TokenCache(
            maxsize=settings.cache_maxsize,
            maxbytes=settings.token_cache_bytes,
            ttl=settings.token_cache_ttl or 1,
            timer=timer,
        )
        #: User states by canonical id; admin changes published on *bus* drop entries at once.
        self.states: StateCache[UserState | None] = StateCache(
            maxsize=settings.cache_maxsize,
            ttl=settings.cache_ttl,
            keep_last_known=settings.on_store_error == "stale",
            timer=timer,
            bus=bus,
        )
        #: Whether an identity provider's session ``(iss, sid)`` was ended by a logout token naming no
        #: ``sub`` (issue 12): the feed's event for the session drops its entry, as for a user.
        self.provider_sessions: StateCache[bool] = StateCache(
            maxsize=settings.cache_maxsize,
            ttl=settings.cache_ttl,
            keep_last_known=settings.on_store_error == "stale",
            timer=timer,
            bus=bus,
        )
        #: DPoP proofs seen (RFC 9449 §11.1): in memory, or in the store when several processes serve.
        self._shared_replay = settings.dpop_replay == "store"
        if self._shared_replay and any(
            each is not None and not callable(getattr(each, "run", None)) for each in (store, async_store)
        ):
            raise ConfigError(
                "JWTGUARD_DPOP_REPLAY", "store needs one of jwtguard's stores (MongoDB or SQLite), which keep records"
            )
        self._proofs = SeenOnce(settings.dpop_max_age + settings.leeway, timer=timer)
        #: Proof headers prepared (their key and its thumbprint), by the header's segment: a client
        #: signs every proof with one key (issue 13: the key is prepared once, each signature checked).
        self._proof_headers: dict[str, ProofHeader] = {}
        self._spent = 0
        #: Counters for operators (see :mod:`jwtguard.metrics`).
        self.metrics = Metrics(self.states, self._tokens)
        self._bus = bus
        #: The process's follower of this store's invalidation feed, once a request started it.
        self.feed: Follower | None = None
        self._feeding = False  # reset in a forked child: its follower starts at its first request
        _engines.add(self)
        self._store_down = False
        self._hinted: set[str] = set()  # login-looking paths already named in a hint
        if settings.exempt_methods:
            logger.warning(
                "jwtguard: JWTGUARD_EXEMPT_METHODS=%s: every request with these methods reaches the app "
                "WITHOUT a token, on every route that accepts them (CORS preflights pass without it)",
                ",".join(sorted(settings.exempt_methods)),
            )
        if settings.mode == "optional":
            logger.warning(
                "jwtguard: JWTGUARD_MODE=optional: requests WITHOUT a token reach the app with no claims; "
                "every route without a per-route check (jwt_required, require_claims) is PUBLIC"
            )
        if settings.jwks_url and self.policy.token_type == ANY_TOKEN_TYPE:
            logger.warning(
                "jwtguard: JWTGUARD_JWKS_URL is set and JWTGUARD_TOKEN_TYPE=any: any token the provider "
                "signs for this audience passes as an access token, an ID token too (RFC 8725 §3.11); set "
                "JWTGUARD_TOKEN_TYPE=at+jwt (RFC 9068) or claim:NAME=VALUE (claim:typ=Bearer for Keycloak)"
            )
        if settings.on_store_error == "allow":
            logger.warning(
                "jwtguard: JWTGUARD_ON_STORE_ERROR=allow: while the store is unreachable, revoked and "
                "disabled users' tokens are ACCEPTED. Do not use this where revocation matters."
            )

    # -- the flow ---------------------------------------------------------------------------

    def _flow(self, request: Request) -> Flow:
        """The request's whole story as one generator: what :meth:`_start` decides from memory, then
        the lookups it still needs (:meth:`_lookups`). The drivers call the two themselves, so a
        request that needs no lookup never starts a generator."""
        first = self._start(request)
        if type(first) is _Needs:
            return (yield from self._lookups(first))
        assert isinstance(first, Decision)
        return first

    # Every refusal leaves through _refused or _counted with `cookie`: a token read from the
    # cookie gets the answers that expire the cookies (policy.for_cookie).

    def _start(self, request: Request, proved: bool = False) -> Decision | _Needs:
        """The request's decision from what is in memory, or the first lookup it needs. *proved*: the
        connection proved its DPoP key already (at a WebSocket's handshake): no proof is asked again."""
        screened = self.policy.screen(request)
        kind = type(screened)
        if kind is str:
            return self._begin(screened, BEARER)  # type: ignore[arg-type]
        if kind is CookieToken:
            return self._begin(screened.token, COOKIE)  # type: ignore[union-attr]
        if kind is DPoPRequest:
            if proved:
                return self._begin(screened.token, INSPECT)  # type: ignore[union-attr]
            return self._begin(screened.token, DPOP, screened)  # type: ignore[union-attr,arg-type]
        decision = cast(Decision, screened)
        if decision.kind == "refuse":
            self._refused(decision, None)
            if decision.reason == "missing_token" and not request.authorization:
                self._hint_login(request)
        return decision

    def _begin(self, token: str, via: int, dpop: DPoPRequest | None = None) -> Decision | _Needs:
        """The decision on *token* from what is in memory, or the first lookup it needs."""
        now = self._clock()
        verified = self._tokens.get(token)
        if verified is None:
            self.metrics.token_cache_misses += 1
            # Only tokens that passed this check are ever cached: a hit needs no regex.
            if TOKEN68.fullmatch(token) is None:
                return self._refused(self.policy.refusals["malformed"], None, via)
            return _Needs(token, None, now, via, _STATE, dpop)
        self.metrics.token_cache_hits += 1
        return self._judge(token, verified, now, via, dpop)

    def _judge(
        self, token: str, verified: Verified, now: float, via: int, dpop: DPoPRequest | None
    ) -> Decision | _Needs:
        """The decision on a verified token from its time claims, its DPoP proof and its user's
        cached state, or the next lookup."""
        policy = self.policy
        refused = policy.times(verified, now)
        if refused is not None:
            return self._refused(refused, verified.user_id, via)
        proof = None
        if dpop is not None:
            checked = policy.proof(dpop, verified, now, self._proof_header)
            if type(checked) is not Proof:
                return self._refused(cast(Decision, checked), verified.user_id, via)
            proof = checked
            if self._shared_replay:
                return _Needs(token, verified, now, via, _REPLAY, dpop, proof)
            if not self._proofs.first(replay_name(proof)):
                return self._refused(policy.refusals["invalid_dpop_proof"], verified.user_id, via)
        elif verified.jkt is not None and via != INSPECT:
            # RFC 9449 §7.1: a DPoP-bound token sent as Bearer (a copy without its key) is refused.
            return self._refused(policy.refusals["dpop_required"], verified.user_id, via)
        return self._state(token, verified, now, via, dpop, proof)

    def _state(
        self, token: str, verified: Verified, now: float, via: int, dpop: DPoPRequest | None, proof: Proof | None
    ) -> Decision | _Needs:
        """The decision on a verified token (its proof checked) from its user's cached state, or the
        state's lookup."""
        policy = self.policy
        key = verified.key
        if not self._feeding:
            self._start_feed()
        cached = self.states.peek(key)
        if cached is not None:
            decision = policy.decide(verified, cached[0], now)
            if decision.kind == "accept":
                if verified.provider_session is not None:
                    return self._session(token, verified, now, via, dpop, proof)
                self.metrics.accepted += 1  # the repeat request's end: _counted, without its call
                return decision if proof is None else policy.fresh_nonce(decision, proof, now)
            if not policy.predates(verified, cached[0], now):
                return self._refused(decision, verified.user_id, via)
            # Its session may have been opened in another process after the state was cached
            # (issue 10): only the store's answer may refuse it.
            self.states.invalidate(key)
        return _Needs(token, verified, now, via, _STATE, dpop, proof)

    def _proof_header(self, segment: str, header: Mapping[str, Any]) -> ProofHeader | ProofRefused:
        """A proof header prepared once (:func:`~jwtguard.sansio.dpop.read_header`); refusals are not kept."""
        prepared = self._proof_headers.get(segment)
        if prepared is None:
            read = read_header(header, self.settings.dpop_algorithms)
            if type(read) is not ProofHeader:
                return read
            prepared = read
            if len(self._proof_headers) >= _MAX_PROOF_HEADERS:
                self._proof_headers.clear()  # bounded; the next proofs prepare their keys again
            self._proof_headers[segment] = prepared
        return prepared

    def _session(
        self, token: str, verified: Verified, now: float, via: int, dpop: DPoPRequest | None, proof: Proof | None
    ) -> Decision | _Needs:
        """The decision on a token its user's state accepted, from its provider session's cached
        answer, or that lookup."""
        session = verified.provider_session
        assert session is not None
        cached = self.provider_sessions.peek(session)
        if cached is None:
            return _Needs(token, verified, now, via, _SESSION, dpop, proof)
        return self._counted(self.policy.provider_session(verified, cached[0]), verified, via, proof, now)

    def _lookups(self, needs: _Needs) -> Flow:
        """The rest of the flow from where :meth:`_start` stopped: it yields each lookup it needs."""
        policy = self.policy
        token, verified, now, via, stage, dpop, proof = needs
        if verified is None:
            outcome = yield VerifyToken(token)
            if not isinstance(outcome, Verified):
                return self._refused(cast(Decision, outcome), None, via)
            verified = outcome
            if self._remember_tokens:
                self._tokens.set(token, verified, footprint(verified))
            judged = self._judge(token, verified, now, via, dpop)
            if type(judged) is not _Needs:
                return cast(Decision, judged)
            stage, proof = judged.stage, judged.proof
        if stage == _REPLAY:
            assert proof is not None
            first = yield SpendProof(proof)
            if isinstance(first, StoreError):
                self._store_failed(first)
                if self.settings.on_store_error != "allow":  # a proof's single use cannot be known
                    return self._refused(policy.refusals["store_unavailable"], verified.user_id, via)
            elif first is not True:
                return self._refused(policy.refusals["invalid_dpop_proof"], verified.user_id, via)
            judged = self._state(token, verified, now, via, dpop, proof)
            if type(judged) is not _Needs:
                return cast(Decision, judged)
            stage = judged.stage
        if stage == _STATE:
            key = verified.key
            loaded = yield LoadState(key, verified.user_id)
            if isinstance(loaded, StoreError):
                self._store_failed(loaded)
                known = self.states.last_known(key, self.settings.stale_max_age)
                return self._counted(policy.store_error(verified, known, now), verified, via, proof, now)
            decision = policy.decide(verified, cast("UserState | None", loaded), now)
            if decision.kind != "accept" or verified.provider_session is None:
                return self._counted(decision, verified, via, proof, now)
            judged = self._session(token, verified, now, via, dpop, proof)
            if type(judged) is not _Needs:
                return cast(Decision, judged)
        provider = verified.provider_session
        assert provider is not None
        ended = yield LoadSession(provider)
        if isinstance(ended, StoreError):
            self._store_failed(ended)
            last = self.provider_sessions.last_known(provider, self.settings.stale_max_age)
            return self._counted(policy.provider_session_error(verified, last), verified, via, proof, now)
        return self._counted(policy.provider_session(verified, ended is True), verified, via, proof, now)

    def _start_feed(self) -> None:
        """Follow the store's invalidation feed (:mod:`jwtguard.feed`), once per process.

        Lazily, at the first request that may cache a state: after a pre-fork
        server's fork (gunicorn ``--preload``), never in the parent alone. Until
        its first read succeeds, states are remembered for at most
        ``JWTGUARD_FEED_FALLBACK_TTL``.
        """
        self._feeding = True
        if not self.settings.feed or self.settings.cache_ttl == 0:
            return
        source = feed_source(self.settings, self.store, self.async_store)
        if source is None:
            return
        store, identity, owned = source
        follower = follower_for(self.settings, store, self._bus, identity, owns_store=owned)
        follower.watch(self.states)
        follower.watch(self.provider_sessions)
        follower.start()
        self.feed = self.metrics.feed = follower

    def stop_feed(self) -> None:
        """This engine no longer follows the feed (its guard is closed); a follower serving no one ends."""
        if self.feed is not None:
            self.feed.unwatch(self.states)
            self.feed.unwatch(self.provider_sessions)
            self.feed = self.metrics.feed = None

    def _hint_login(self, request: Request) -> None:
        """Say once per route that a login route without a token needs JWTGUARD_EXEMPT_PATHS."""
        path = request.path
        if path in self._hinted or len(self._hinted) >= _MAX_HINTS or not looks_like_login(path):
            return
        self._hinted.add(path)
        logger.warning(
            "jwtguard: %s %.100r was refused without a token (missing_token); if it is your login route, "
            "list it in JWTGUARD_EXEMPT_PATHS (e.g. JWTGUARD_EXEMPT_PATHS=%.100r)",
            request.method[:16],
            path,
            path,
        )

    def _counted(
        self, decision: Decision, verified: Verified, via: int, proof: Proof | None = None, now: float = 0.0
    ) -> Decision:
        if decision.kind == "accept":
            self.metrics.accepted += 1
            return decision if proof is None else self.policy.fresh_nonce(decision, proof, now)
        return self._refused(decision, verified.user_id, via)

    def _refused(self, decision: Decision, user_id: UserId | None, via: int = BEARER) -> Decision:
        if via == COOKIE:
            decision = self.policy.for_cookie(decision)
        elif via == DPOP:
            decision = self.policy.for_dpop(decision)
        self.metrics.reject(decision.reason)
        if user_id is None:
            logger.debug("jwtguard: rejected (%s) before any user lookup", decision.reason)
        else:
            logger.debug("jwtguard: rejected (%s) for user %r", decision.reason, user_id)
        return decision

    # -- the lookups ------------------------------------------------------------------------

    def verify(self, token: str) -> Verified | Decision:
        """Check *token*'s signature, audience and issuer, then read it by the policy."""
        try:
            header, claims = self.verifier.verify(token)
            return self.policy.verified(header, claims)
        except KeySourceUnavailable as exc:
            # Not a verdict on the token: 503, nothing cached, no logout signal.
            logger.debug("jwtguard: token not checked: %s", exc)
            return self.policy.refusals["key_source_unavailable"]
        except Exception as exc:  # every failure of hostile input is a 401, never a 500
            logger.debug("jwtguard: token rejected: %s", type(exc).__name__)
            return self.policy.refusals["invalid"]

    def read_state(self, document: Mapping[str, Any] | None) -> UserState | None:
        """Turn what the store answered into a state; notes that the store is back."""
        self._store_answers()
        state = user_state(document, self.settings)
        if state is not None and state.unreadable is not None:
            user = document.get("_id") if document is not None else None
            logger.warning("jwtguard: user %r has an unreadable %s; refusing its tokens", user, state.unreadable)
        return state

    def _store_answers(self) -> None:
        if self._store_down:
            self._store_down = False
            logger.warning("jwtguard: the store answers again")

    def _store_failed(self, error: StoreError) -> None:
        if not self._store_down:
            self._store_down = True
            logger.warning("jwtguard: the store is unreachable (%s)", error)

    @contextlib.contextmanager
    def _timed_load(self) -> Iterator[None]:
        """Counts the store read it wraps among the metrics' loads: its seconds, and whether it failed."""
        started = time.perf_counter()  # only real store queries are timed
        try:
            yield
        except StoreError:
            self.metrics.store_load(time.perf_counter() - started, failed=True)
            raise
        self.metrics.store_load(time.perf_counter() - started, failed=False)

    def _load(self, user_id: UserId) -> UserState | None:
        assert self.store is not None, "this engine has no blocking store"
        with self._timed_load():
            document = self.store.load(user_id)
        return self.read_state(document)

    async def _aload(self, user_id: UserId) -> UserState | None:
        assert self.async_store is not None, "this engine has no async store"
        with self._timed_load():
            document = await self.async_store.load(user_id)
        return self.read_state(document)

    def _spend_flow(self, proof: Proof) -> r.RecordFlow[bool]:
        """Note *proof* as used in the store (one unique insert), and now and then drop the expired ones."""
        now = self._clock()
        first: bool = yield from spend_proof(proof, now=now, settings=self.settings)
        self._spent += 1
        if self._spent % _PRUNE_PROOFS_EVERY == 0:
            yield r.Prune("refresh", now)
        return first

    def _run(self, flow: r.RecordFlow[T]) -> T:
        """Perform a records flow on the blocking store (a provider session's read, a proof's note)."""
        assert self.store is not None, "this engine has no blocking store"
        run = cast(Callable[[r.RecordFlow[T]], T], getattr(self.store, "run", _no_records))
        result = run(flow)
        self._store_answers()
        return result

    async def _arun(self, flow: r.RecordFlow[T]) -> T:
        """:meth:`_run` on the async store."""
        assert self.async_store is not None, "this engine has no async store"
        run = cast(Callable[[r.RecordFlow[T]], Awaitable[T]], getattr(self.async_store, "run", _ano_records))
        result = await run(flow)
        self._store_answers()
        return result

    def _ended(self, session: ProviderSession) -> bool:
        """Whether a logout token ended *session* (a read, counted among the store's loads)."""
        with self._timed_load():
            return self._run(provider_session_ended(*session))

    async def _aended(self, session: ProviderSession) -> bool:
        with self._timed_load():
            return await self._arun(provider_session_ended(*session))

    # -- the drivers ------------------------------------------------------------------------

    def handle(self, request: Request) -> Decision:
        """The decision on *request*, performing lookups in this thread (the WSGI driver)."""
        return self._drive(self._start(request))

    def handle_token(self, token: str) -> Decision:
        """The guard's decision on *token* as if its holder presented it (RFC 7662 introspection): a
        DPoP-bound token is judged without a proof (RFC 9449 §6.2: the answer names its key)."""
        return self._drive(self._begin(token, INSPECT))

    async def ahandle_token(self, token: str) -> Decision:
        """:meth:`handle_token` without blocking the loop."""
        return await self._adrive(self._begin(token, INSPECT))

    def _drive(self, first: Decision | _Needs) -> Decision:
        if type(first) is not _Needs:
            return first  # type: ignore[return-value]  # a Decision: nothing to look up
        flow = self._lookups(first)
        try:
            step = next(flow)
            while True:
                if type(step) is VerifyToken:
                    answer: Answer = self.verify(step.token)
                else:
                    try:
                        if type(step) is LoadState:
                            answer = self.states.load(step.key, partial(self._load, step.user_id))
                        elif type(step) is SpendProof:
                            answer = self._run(self._spend_flow(step.proof))
                        else:
                            assert isinstance(step, LoadSession)
                            answer = self.provider_sessions.load(step.session, partial(self._ended, step.session))
                    except StoreError as exc:
                        answer = exc
                step = flow.send(answer)
        except StopIteration as done:
            decision: Decision = done.value  # the flow's return value (no cast call: the hot path)
            return decision

    async def ahandle(self, request: Request, *, proved: bool = False) -> Decision:
        """The decision on *request* without blocking the loop (the ASGI driver).

        Signatures that may need a JWKS read are checked in a worker thread;
        the store is awaited on its own async client. *proved*: the request is a connection's
        again (``still_valid``): its DPoP proof, single-use, was checked at the handshake.
        """
        return await self._adrive(self._start(request, proved))

    async def _adrive(self, first: Decision | _Needs) -> Decision:
        if type(first) is not _Needs:
            return first  # type: ignore[return-value]  # a Decision: nothing to look up
        flow = self._lookups(first)
        try:
            step = next(flow)
            while True:
                if type(step) is VerifyToken:
                    if self.verifier.needs_io:
                        answer: Answer = await asyncio.to_thread(self.verify, step.token)
                    else:
                        answer = self.verify(step.token)
                else:
                    try:
                        if type(step) is LoadState:
                            answer = await self.states.aload(step.key, partial(self._aload, step.user_id))
                        elif type(step) is SpendProof:
                            answer = await self._arun(self._spend_flow(step.proof))
                        else:
                            assert isinstance(step, LoadSession)
                            answer = await self.provider_sessions.aload(
                                step.session, partial(self._aended, step.session)
                            )
                    except StoreError as exc:
                        answer = exc
                step = flow.send(answer)
        except StopIteration as done:
            decision: Decision = done.value  # the flow's return value (no cast call: the hot path)
            return decision


def _no_records(flow: r.RecordFlow[Any]) -> bool:
    """A store of the app's own keeps no records: no logout token ended anything there (a store
    without records cannot serve ``JWTGUARD_DPOP_REPLAY=store``: the engine refuses it at start-up)."""
    flow.close()
    return False


async def _ano_records(flow: r.RecordFlow[Any]) -> bool:
    return _no_records(flow)


#: Proof headers (client keys) an engine keeps prepared at most.
_MAX_PROOF_HEADERS: Final = 4096

#: Every this many proofs noted in the store, the expired notes are deleted.
_PRUNE_PROOFS_EVERY: Final = 1024


def footprint(verified: Verified) -> int:
    """About the bytes a cached *verified* holds: what :class:`~jwtguard.cache.TokenCache` weighs it.

    Its claims walked to the last nested value (``sys.getsizeof`` of each, keys included: a
    token of many small values holds far more than its length suggests), the
    :class:`~jwtguard.sansio.claims.Verified`, its accept decision and its user key. The time
    claims, ids and user id are the claims' own objects, counted once. Shared singletons
    (small integers, ``True``) are counted too: an estimate on the safe side.
    """
    return _frozen_size(verified.claims) + _VERIFIED + _frozen_size(verified.key.value)


def _frozen_size(value: Any) -> int:
    """``sys.getsizeof`` of a frozen JSON value and everything in it, with the common cases
    (ASCII strings, 64-bit integers, floats) computed instead of asked: ``getsizeof`` is a
    method lookup per object, about a tenth of a first sight's own cost for a typical payload."""
    kind = type(value)
    if kind is str:
        return _STR + len(value) if value.isascii() else getsizeof(value)
    if kind is int:
        return _INT if -_BIG < value < _BIG else getsizeof(value)
    if kind is float:
        return _FLOAT
    if kind is tuple:
        return getsizeof(value) + sum(map(_frozen_size, value))
    if not isinstance(value, dict):
        return getsizeof(value)  # True, False, None: shared, counted anyway
    size = getsizeof(value)
    for key, item in value.items():
        size += _STR + len(key) if key.isascii() else getsizeof(key)
        kind = type(item)
        if kind is str:
            size += _STR + len(item) if item.isascii() else getsizeof(item)
        elif kind is int and -_BIG < item < _BIG:
            size += _INT
        else:
            size += _frozen_size(item)
    return size


#: What getsizeof says of an ASCII string without its characters, of any integer below 2**60
#: in magnitude (at most), and of a float: this interpreter's own sizes.
_STR: Final = getsizeof("")
_INT: Final = getsizeof(2**60 - 1)
_BIG: Final = 2**60
_FLOAT: Final = getsizeof(0.0)


#: A Verified, its accept Decision and its UserKey tuple (their value slots; what they point to is counted apart).
_VERIFIED: Final = (
    getsizeof(Verified({}, "", 0, 0, None, UserKey("str", ""), Decision("accept", "accepted")))
    + getsizeof(Decision("accept", "accepted"))
    + getsizeof(UserKey("str", ""))
)

_WARNED: set[str] = set()

#: Every engine of the process, for the fork hook below.
_engines: weakref.WeakSet[Engine] = weakref.WeakSet()


def _after_fork() -> None:
    # The parent's follower thread is not in the child: each engine starts its own again.
    for engine in list(_engines):
        engine._feeding = False
        engine.feed = engine.metrics.feed = None


os.register_at_fork(after_in_child=_after_fork)


def route_refusal(
    verdict: Mapping[str, Any],
    route: object,
    *,
    optional: bool,
    scopes: Collection[str],
    roles: Collection[str],
) -> Decision | None:
    """A per-route check: :func:`~jwtguard.sansio.policy.route_decision` on the environ, scope or
    ``request.META`` *verdict*, logging once per *route* (a view, an endpoint) when the guard did not
    decide on its request (a set-up mistake; once per route, never per request, so requests to a
    misconfigured route cannot flood the log). Every framework helper calls this one function.
    """
    refused = route_decision(verdict, optional=optional, scopes=scopes, roles=roles)
    if refused is UNGUARDED:
        name = f"{getattr(route, '__module__', '?')}.{getattr(route, '__qualname__', '?')}"
        if name not in _WARNED:
            _WARNED.add(name)
            logger.warning(
                "jwtguard: %s checks the guard's verdict, but the guard did not decide on its request "
                "(middleware not installed, or an exempt path): refused with 401",
                name,
            )
    return refused
