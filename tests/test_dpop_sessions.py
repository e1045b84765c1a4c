"""Issue 13: DPoP (RFC 9449) in jwtguard's own sessions: a login and a refresh bind to the proof's key.

Through both admins (blocking and async) on both real stores (the MongoDB-wire server and an SQLite
file), each pair judged by the guard's own engine on the same store; then both example apps
(Flask, Starlette) through their test clients. The proofs are signed by real keys
(:mod:`dpop_keys`); each test names the rules of RFC 9449 it covers. The resource server's side
has its own tests (``tests/test_dpop.py``).
"""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from dpop_keys import ProofKey
from test_examples import running

from jwtguard import Admin, AsyncAdmin, Settings
from jwtguard.engine import Engine
from jwtguard.errors import InvalidGrant
from jwtguard.invalidation import InvalidationBus
from jwtguard.sansio.dpop import Proof, nonce_valid
from jwtguard.sansio.request import Request
from jwtguard.sessions.dpop import DPoPProofRefused, TokenRequest, token_proof, token_request
from jwtguard.sessions.flows import digest
from jwtguard.stores import open_store
from jwtguard.stores import records as r
from jwtguard.stores.records import RecordFlow

from conftest import SECRET, Reply

ORIGIN = "https://app.example"
LOGIN = ORIGIN + "/login"
TOKEN = ORIGIN + "/token"
API = ORIGIN + "/api/me"
NONCE_KEY = "n" * 40
KEY = ProofKey()
THIEF = ProofKey()


def dpop_settings(store_url: str, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "secret": SECRET,
        "sessions": True,
        "issuer": "https://app.example",
        "store_url": store_url,
        "cache_ttl": 0,  # every request reads the store: the tests judge what it holds
        "store_timeout": 2.0,
        "refresh_grace": 10.0,
        "dpop": "allow",
        "external_origin": ORIGIN,
    }
    return Settings(**{**values, **changes})


def at(url: str, key: ProofKey = KEY, method: str = "POST", htu: str | None = None, **claims: Any) -> TokenRequest:
    """A POST to *url* with one proof of *key* (RFC 9449 §4.2: htm *method*, htu *htu* or *url*, no ath)."""
    return TokenRequest((key.proof(method, htu or url, **claims),), "POST", url)


def claims(token: str) -> dict[str, Any]:
    decoded: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return decoded


def get(table: r.Table, record_id: str) -> RecordFlow[Any]:
    return (yield r.Get(table, record_id))


class Api:
    """One admin API (blocking, or async made blocking here) and a guard reading the same store."""

    def __init__(self, settings: Settings, mode: str) -> None:
        self.settings = settings
        self._loop = asyncio.new_event_loop() if mode == "async" else None
        self.admin: Any = AsyncAdmin(settings) if mode == "async" else Admin(settings)
        self._guard_store = open_store(settings)
        self.engine = Engine(settings, store=self._guard_store, bus=InvalidationBus())
        self.create_user("alice")

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.admin, name)
        if self._loop is None or not inspect.iscoroutinefunction(method):
            return method  # type: ignore[no-any-return]
        loop = self._loop

        def blocking(*args: Any, **kwargs: Any) -> Any:
            return loop.run_until_complete(method(*args, **kwargs))

        return blocking

    def judge(self, token: str, key: ProofKey | None = KEY) -> str:
        """The guard's verdict on ``GET /api/me`` with *token*: with the DPoP scheme and a fresh proof of
        *key* (§7.1), or as Bearer when *key* is None."""
        if key is None:
            request = Request("GET", "/api/me", (f"Bearer {token}",))
        else:
            proof = key.proof("GET", API, token)
            request = Request("GET", "/api/me", (f"DPoP {token}",), target="/api/me", dpop=(proof,))
        return self.engine.handle(request).reason

    def record(self, table: r.Table, record_id: str) -> Any:
        return self.run(get(table, record_id))

    def close(self) -> None:
        self.__getattr__("close")()
        self._guard_store.close()
        if self._loop is not None:
            self._loop.close()


@pytest.fixture(params=["sync", "async"])
def open_api(request: pytest.FixtureRequest, store_url: str) -> Iterator[Callable[..., Api]]:
    opened: list[Api] = []

    def build(**changes: Any) -> Api:
        api = Api(dpop_settings(store_url, **changes), str(request.param))
        opened.append(api)
        return api

    yield build
    for api in opened:
        api.close()


@pytest.fixture
def api(open_api: Callable[..., Api]) -> Api:
    return open_api()


def refused(call: Callable[[], Any]) -> DPoPProofRefused:
    with pytest.raises(DPoPProofRefused) as caught:
        call()
    return caught.value


# -- the login (§5, §6.1) -------------------------------------------------------------------------


def test_a_login_with_a_proof_binds_the_session_to_its_key(api: Api) -> None:
    """§5: a token request with a valid proof gets a pair bound to its key: the access token names it
    (§6.1 ``cnf.jkt``), the answer says ``token_type: DPoP``; the session and its refresh token record
    the thumbprint. At the guard the token passes only with a proof of that key (§7.1)."""
    pair = api.login("alice", description="phone", dpop=at(LOGIN))
    assert pair.jkt == KEY.jkt
    assert claims(pair.access_token)["cnf"] == {"jkt": KEY.jkt}
    assert pair.body()["token_type"] == "DPoP"
    assert api.record("records", r.session_id(pair.session_id))["jkt"] == KEY.jkt
    assert api.record("refresh", r.refresh_id(digest(pair.refresh_token)))["jkt"] == KEY.jkt
    assert api.judge(pair.access_token) == "accepted"
    assert api.judge(pair.access_token, key=None) == "dpop_required"  # a copy sent as Bearer
    assert api.judge(pair.access_token, key=THIEF) == "dpop_binding"  # a proof of another key
    assert [info.description for info in api.sessions("alice")] == ["phone"]


def replayed_login(api: Api) -> TokenRequest:
    """A login proof already used once, at a login that succeeded."""
    spent = at(LOGIN)
    api.login("alice", dpop=spent)
    return spent


BAD_LOGINS = [
    pytest.param(
        lambda api: at(LOGIN, htu=TOKEN), "DPoP proof htu does not match the request URL", id="§4.3 #9: htu of /token"
    ),
    pytest.param(
        lambda api: at(LOGIN, htu="https://evil.example/login"),
        "DPoP proof htu does not match the request URL",
        id="§4.3 #9: another origin",
    ),
    pytest.param(
        lambda api: at(LOGIN, method="GET"), "DPoP proof htm does not match the request method", id="§4.3 #8: htm"
    ),
    pytest.param(
        lambda api: TokenRequest((KEY.proof("POST", LOGIN), KEY.proof("POST", LOGIN)), "POST", LOGIN),
        "exactly one DPoP field is allowed",
        id="§4.3 #1: two DPoP fields",
    ),
    pytest.param(
        lambda api: TokenRequest((KEY.proof("POST", LOGIN) + "," + KEY.proof("POST", LOGIN),), "POST", LOGIN),
        "exactly one DPoP field is allowed",
        id="§4.3 #1: two fields joined by a WSGI server",
    ),
    pytest.param(
        lambda api: at(LOGIN, iat=int(time.time()) - 3600), "DPoP proof is too old", id="§4.3 #11: an old proof"
    ),
    pytest.param(
        lambda api: at(LOGIN, key=ProofKey("RS256")),
        "DPoP proof alg is not an accepted asymmetric algorithm",
        id="§4.3 #5: an alg not allowed",
    ),
    pytest.param(
        lambda api: TokenRequest(("not-a-proof",), "POST", LOGIN),
        "DPoP proof is not a well-formed JWS",
        id="§4.3 #2: no JWS",
    ),
    pytest.param(replayed_login, "DPoP proof was already used", id="§11.1: a replayed proof"),
]


@pytest.mark.parametrize(("request_of", "description"), BAD_LOGINS)
def test_a_login_with_a_bad_proof_opens_nothing(
    api: Api, request_of: Callable[[Api], TokenRequest], description: str
) -> None:
    """§5 and §4.3: a token request whose proof fails a check is answered ``invalid_dpop_proof`` (never
    a Bearer pair in its place); no session is opened; the description is fixed, never the proof."""
    dpop = request_of(api)
    before = api.sessions("alice")
    refusal = refused(lambda: api.login("alice", dpop=dpop))
    assert refusal.body() == {"error": "invalid_dpop_proof", "error_description": description}
    assert refusal.headers == ()
    assert api.sessions("alice") == before


# -- the refresh (§5: the refresh token is bound to the key) ------------------------------------


def test_a_refresh_with_the_same_key_rotates_and_stays_bound(api: Api) -> None:
    """§5: the client presents a proof of the same key each time it uses the refresh token; it gets a
    new pair bound to it. Rotation stays (RFC 9700 §4.14.2): the spent refresh token buys nothing."""
    first = api.login("alice", dpop=at(LOGIN))
    second = api.refresh(first.refresh_token, dpop=at(TOKEN))
    assert (second.jkt, second.session_id) == (KEY.jkt, first.session_id)
    assert second.refresh_token != first.refresh_token
    assert claims(second.access_token)["cnf"] == {"jkt": KEY.jkt} and second.body()["token_type"] == "DPoP"
    assert api.record("refresh", r.refresh_id(digest(second.refresh_token)))["jkt"] == KEY.jkt
    assert api.judge(second.access_token) == "accepted"
    with pytest.raises(InvalidGrant, match="token already rotated"):
        api.refresh(first.refresh_token, dpop=at(TOKEN))
    third = api.refresh(second.refresh_token, dpop=at(TOKEN))
    assert third.jkt == KEY.jkt and api.judge(third.access_token) == "accepted"


def replayed_refresh(api: Api) -> TokenRequest:
    """A refresh proof already used once, by a refresh of another session that succeeded."""
    spent = at(TOKEN)
    api.refresh(api.login("alice", dpop=at(LOGIN)).refresh_token, dpop=spent)
    return spent


BAD_REFRESHES = [
    pytest.param(lambda api: TokenRequest((), "POST", TOKEN), "invalid_dpop_proof", id="§5: no proof"),
    pytest.param(lambda api: None, "invalid_dpop_proof", id="§5: no request at all"),
    pytest.param(
        lambda api: TokenRequest((KEY.proof("POST", TOKEN), KEY.proof("POST", TOKEN)), "POST", TOKEN),
        "invalid_dpop_proof",
        id="§4.3 #1: two DPoP fields",
    ),
    pytest.param(lambda api: at(TOKEN, htu=LOGIN), "invalid_dpop_proof", id="§4.3 #9: a login proof at /token"),
    pytest.param(lambda api: at(TOKEN, method="PUT"), "invalid_dpop_proof", id="§4.3 #8: htm"),
    pytest.param(lambda api: at(TOKEN, iat=int(time.time()) + 3600), "invalid_dpop_proof", id="§4.3 #11: future"),
    pytest.param(lambda api: at(TOKEN, key=THIEF), "invalid_grant", id="§5: a proof of another key"),
    pytest.param(replayed_refresh, "invalid_dpop_proof", id="§11.1: a replayed proof"),
]


@pytest.mark.parametrize(("request_of", "error"), BAD_REFRESHES)
def test_a_bound_refresh_token_without_its_key_buys_nothing_and_spends_nothing(
    api: Api, request_of: Callable[[Api], TokenRequest | None], error: str
) -> None:
    """§5: the binding is checked when the refresh token is presented. A missing or failed proof is
    ``invalid_dpop_proof``, a proof of another key ``invalid_grant``; either way the refresh token is
    not spent and the session lives: the right key refreshes after, the access token still passes."""
    pair = api.login("alice", dpop=at(LOGIN))
    dpop = request_of(api)
    with pytest.raises((DPoPProofRefused, InvalidGrant)) as caught:
        api.refresh(pair.refresh_token, dpop=dpop)
    assert isinstance(caught.value, (DPoPProofRefused, InvalidGrant))
    body = caught.value.body()
    assert body["error"] == error and set(body) == {"error", "error_description"}
    if isinstance(caught.value, InvalidGrant):
        assert body["error_description"] == "the refresh token is bound to another DPoP key"
        assert caught.value.session_ended is False
    assert api.judge(pair.access_token) == "accepted"
    fresh = api.refresh(pair.refresh_token, dpop=at(TOKEN))
    assert fresh.jkt == KEY.jkt and api.judge(fresh.access_token) == "accepted"


def test_a_thief_without_the_key_cannot_end_the_session(api: Api) -> None:
    """§5 with RFC 9700 §4.14.2: a spent refresh token presented again ends its session (theft), but
    only with a proof of the session's key: without it (a thief's copy), the presentation is refused
    before the reuse check, and the real device's session lives. The device's own reuse still ends it."""
    first = api.login("alice", dpop=at(LOGIN))
    second = api.refresh(first.refresh_token, dpop=at(TOKEN))
    third = api.refresh(second.refresh_token, dpop=at(TOKEN))  # first's successor is spent: first is stale
    assert refused(lambda: api.refresh(first.refresh_token)).error == "invalid_dpop_proof"
    with pytest.raises(InvalidGrant) as other_key:
        api.refresh(first.refresh_token, dpop=at(TOKEN, key=THIEF))
    assert other_key.value.session_ended is False
    assert api.judge(third.access_token) == "accepted"
    with pytest.raises(InvalidGrant) as reuse:
        api.refresh(first.refresh_token, dpop=at(TOKEN))
    assert reuse.value.session_ended is True
    assert api.judge(third.access_token) == "session_revoked"


# -- server nonces (§8) ---------------------------------------------------------------------------


def test_the_token_endpoint_asks_for_a_nonce_then_binds(open_api: Callable[..., Api]) -> None:
    """§8: with nonces required, a token request whose proof has none is answered ``use_dpop_nonce``
    with the nonce in ``DPoP-Nonce``; the retry with it is bound. At a refresh the same, and the
    refresh token is not spent by the first try."""
    api = open_api(dpop_nonce=True, dpop_nonce_key=NONCE_KEY)
    first = refused(lambda: api.login("alice", dpop=at(LOGIN)))
    assert first.body() == {
        "error": "use_dpop_nonce",
        "error_description": "the authorization server requires a current nonce in the DPoP proof",
    }
    (name, nonce), *_ = first.headers
    assert name == "DPoP-Nonce" and nonce_valid(NONCE_KEY.encode(), nonce, time.time(), 60.0)
    assert api.sessions("alice") == []
    pair = api.login("alice", dpop=at(LOGIN, nonce=nonce))
    assert pair.jkt == KEY.jkt
    assert refused(lambda: api.refresh(pair.refresh_token, dpop=at(TOKEN))).error == "use_dpop_nonce"
    assert refused(lambda: api.refresh(pair.refresh_token, dpop=at(TOKEN, nonce="A" * 32))).error == "use_dpop_nonce"
    assert api.refresh(pair.refresh_token, dpop=at(TOKEN, nonce=nonce)).jkt == KEY.jkt


# -- unbound sessions, and the modes ------------------------------------------------------------


def test_without_a_proof_a_login_is_what_it_was(api: Api) -> None:
    """No proof, no binding (§5: ``Bearer``): without a request, or one without a ``DPoP`` field under
    ``allow``, the pair is a Bearer pair as before issue 13, and its refresh needs no proof."""
    for dpop in (None, TokenRequest((), "POST", LOGIN)):
        pair = api.login("alice", dpop=dpop)
        assert pair.jkt is None and "cnf" not in claims(pair.access_token)
        assert pair.body()["token_type"] == "Bearer"
        assert "jkt" not in api.record("records", r.session_id(pair.session_id))
        assert api.judge(pair.access_token, key=None) == "accepted"
        assert api.judge(pair.access_token) == "dpop_binding"  # §7.1: an unbound token with the DPoP scheme
        again = api.refresh(pair.refresh_token, dpop=TokenRequest((), "POST", TOKEN))
        assert again.jkt is None and api.judge(again.access_token, key=None) == "accepted"


def test_an_unbound_session_refreshed_with_a_proof_is_bound_from_then_on(api: Api) -> None:
    """§5: a refresh token issued to a client that presents a valid proof is bound to its key. Each
    rotation issues one, so a session opened unbound (before DPoP was on, or by a client without a
    key yet) is bound at its first refresh with a proof, and needs that key from then on."""
    pair = api.login("alice")
    bound = api.refresh(pair.refresh_token, dpop=at(TOKEN))
    assert bound.jkt == KEY.jkt and claims(bound.access_token)["cnf"] == {"jkt": KEY.jkt}
    assert api.record("records", r.session_id(pair.session_id))["jkt"] == KEY.jkt
    assert api.judge(bound.access_token) == "accepted"
    assert refused(lambda: api.refresh(bound.refresh_token)).error == "invalid_dpop_proof"
    with pytest.raises(InvalidGrant):
        api.refresh(bound.refresh_token, dpop=at(TOKEN, key=THIEF))
    assert api.refresh(bound.refresh_token, dpop=at(TOKEN)).jkt == KEY.jkt


def test_a_thief_who_binds_a_stolen_unbound_session_is_still_caught_by_rotation(api: Api) -> None:
    """Binding at refresh weakens no reuse check: the binding checked is the presented refresh
    token's own. A thief who refreshes a stolen unbound token with their key binds only the tokens
    that follow it; the device's copy stays unbound, so presenting it (spent) ends the session
    (RFC 9700 §4.14.2), the thief's bound tokens with it."""
    stolen = api.login("alice")
    taken = api.refresh(stolen.refresh_token, dpop=at(TOKEN, key=THIEF))
    kept = api.refresh(taken.refresh_token, dpop=at(TOKEN, key=THIEF))  # the stolen token is stale now
    assert kept.jkt == THIEF.jkt and api.judge(kept.access_token, key=THIEF) == "accepted"
    with pytest.raises(InvalidGrant) as reuse:
        api.refresh(stolen.refresh_token)  # the device, which has no key
    assert reuse.value.session_ended is True
    assert api.judge(kept.access_token, key=THIEF) == "session_revoked"


def test_require_refuses_a_token_request_without_a_proof(open_api: Callable[..., Api]) -> None:
    """``JWTGUARD_DPOP=require``: a token request without a proof is ``invalid_dpop_proof`` (the guard
    would refuse its Bearer pair); one with a proof is bound. A caller with no request (None: a
    script) still gets a pair."""
    api = open_api(dpop="require")
    refusal = refused(lambda: api.login("alice", dpop=TokenRequest((), "POST", LOGIN)))
    assert refusal.body() == {
        "error": "invalid_dpop_proof",
        "error_description": "a DPoP proof is required (JWTGUARD_DPOP=require)",
    }
    assert api.sessions("alice") == []
    pair = api.login("alice", dpop=at(LOGIN))
    assert api.judge(pair.access_token) == "accepted"
    unbound = api.login("alice")
    assert refused(lambda: api.refresh(unbound.refresh_token, dpop=TokenRequest((), "POST", TOKEN))).error == (
        "invalid_dpop_proof"
    )


def test_off_reads_no_proof(open_api: Callable[..., Api]) -> None:
    """``JWTGUARD_DPOP=off``: the guard reads no proof and refuses a bound token, so a token request's
    proof binds nothing (not even a bad one is looked at)."""
    api = open_api(dpop="off")
    for dpop in (at(LOGIN), TokenRequest(("not-a-proof",), "POST", LOGIN)):
        pair = api.login("alice", dpop=dpop)
        assert pair.jkt is None and pair.body()["token_type"] == "Bearer"
        assert api.judge(pair.access_token, key=None) == "accepted"


# -- the pieces shared with the guard ------------------------------------------------------------


def test_the_token_request_url_is_the_guards() -> None:
    """§4.3 #9: the URL a token request's proof names is built as the guard builds a resource
    request's: ``JWTGUARD_EXTERNAL_ORIGIN`` or the request's scheme and ``Host``, then the target as
    the client sent it (a mount prefix included)."""
    request = Request("POST", "/login", scheme="http", host="app.test:8000", target="/app/login", dpop=("p",))
    plain = Settings(secret=SECRET, dpop="allow")
    assert token_request(plain, request) == TokenRequest(("p",), "POST", "http://app.test:8000/app/login")
    behind = Settings(secret=SECRET, dpop="allow", external_origin="https://APP.example")
    assert token_request(behind, request).url == "https://app.example/app/login"


def test_a_token_request_proof_is_checked_without_ath() -> None:
    """§4.3 for a token request: no access token, so ``ath`` is not looked at."""
    settings = Settings(secret=SECRET, dpop="allow")
    proof = token_proof(
        TokenRequest((KEY.proof("POST", LOGIN, ath="x"),), "POST", LOGIN), settings=settings, now=time.time()
    )
    assert isinstance(proof, Proof) and proof.jkt == KEY.jkt


# -- the example apps (Flask, Starlette): the browser helper's contract ---------------------------


def example_dpop_settings(url: str, **changes: Any) -> Settings:
    from examples.common import DEMO_ALERT_SECRET, DEMO_EXEMPT_PATHS, DEMO_ISSUER

    values: dict[str, Any] = {
        "secret": SECRET,
        "store_url": url,
        "exempt_paths": DEMO_EXEMPT_PATHS,
        "sessions": True,
        "issuer": DEMO_ISSUER,
        "alert_secret": DEMO_ALERT_SECRET,
        "dpop": "allow",
        "external_origin": ORIGIN,
    }
    return Settings(**{**values, **changes})


@pytest.fixture
def example_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # the demo accounts file
    return tmp_path


def sqlite_in(directory: Path) -> str:
    return f"sqlite:///{directory / 'jwtguard.db'}"


CREDENTIALS = {"username": "alice", "password": "alice-password"}


def log_in(call: Callable[..., Reply], key: ProofKey | None = KEY, **claims: Any) -> Reply:
    headers = {} if key is None else {"DPoP": key.proof("POST", LOGIN, **claims)}
    return call("POST", "/login", json=CREDENTIALS, **headers)


def refresh_at(call: Callable[..., Reply], refresh_token: str, *proofs: str) -> Reply:
    form = f"grant_type=refresh_token&refresh_token={refresh_token}".encode()
    return call("POST", "/token", form=form, **({"DPoP": proofs[0]} if proofs else {}))


def resource(call: Callable[..., Reply], token: str, key: ProofKey | None = KEY) -> Reply:
    if key is None:
        return call("GET", "/api/me", token)
    return call("GET", "/api/me", Authorization=f"DPoP {token}", DPoP=key.proof("GET", API, token))


def token_error(reply: Reply) -> tuple[int, str]:
    body = reply.json()
    assert set(body) == {"error", "error_description"}
    assert (reply.headers["cache-control"], reply.headers["pragma"]) == ("no-store", "no-cache")
    return reply.status, str(body["error"])


@pytest.mark.parametrize("framework", ["flask", "starlette"])
@pytest.mark.parametrize("store", ["sqlite", "mongo"])
def test_an_example_binds_its_sessions_at_login_and_refresh(
    request: pytest.FixtureRequest, framework: str, store: str, example_dir: Path
) -> None:
    """The contract the browser helper relies on: ``POST /login`` with a ``DPoP`` proof (htm POST, htu
    the origin + /login, no ath) answers a pair with token_type DPoP, bound (§5, §6.1); ``POST /token``
    with a proof of the key rotates it, bound; without a proof it is 400 ``invalid_dpop_proof``, with
    another key's 400 ``invalid_grant``, and the refresh token is still good after both."""
    url = str(request.getfixturevalue("mongo_uri")) if store == "mongo" else sqlite_in(example_dir)
    with running(framework, example_dpop_settings(url)) as call:
        login = log_in(call)
        assert login.status == 200, login.body
        pair = login.json()
        assert (pair["token_type"], claims(pair["access_token"])["cnf"]) == ("DPoP", {"jkt": KEY.jkt})
        assert resource(call, pair["access_token"]).status == 200
        assert resource(call, pair["access_token"], key=None).json()["reason"] == "dpop_required"
        assert token_error(refresh_at(call, pair["refresh_token"])) == (400, "invalid_dpop_proof")
        assert token_error(refresh_at(call, pair["refresh_token"], THIEF.proof("POST", TOKEN))) == (
            400,
            "invalid_grant",
        )
        rotated = refresh_at(call, pair["refresh_token"], KEY.proof("POST", TOKEN))
        assert rotated.status == 200, rotated.body
        fresh = rotated.json()
        assert fresh["token_type"] == "DPoP" and fresh["refresh_token"] != pair["refresh_token"]
        assert resource(call, fresh["access_token"]).status == 200
        plain = log_in(call, key=None)  # allow: a login without a proof is a Bearer one, as before
        assert plain.json()["token_type"] == "Bearer"
        assert resource(call, plain.json()["access_token"], key=None).status == 200


@pytest.mark.parametrize("framework", ["flask", "starlette"])
def test_an_example_refuses_a_login_proof_for_another_request(framework: str, example_dir: Path) -> None:
    """§4.3 #8, #9 at ``POST /login``: a proof for /token, or for GET, is 400 ``invalid_dpop_proof``;
    two DPoP fields too (§4.3 #1)."""
    with running(framework, example_dpop_settings(sqlite_in(example_dir))) as call:
        for proof in (KEY.proof("POST", TOKEN), KEY.proof("GET", LOGIN), KEY.proof("POST", ORIGIN + "/login/x")):
            reply = call("POST", "/login", json=CREDENTIALS, DPoP=proof)
            assert token_error(reply) == (400, "invalid_dpop_proof")
        spent = KEY.proof("POST", LOGIN)
        assert call("POST", "/login", json=CREDENTIALS, DPoP=spent).status == 200
        assert token_error(call("POST", "/login", json=CREDENTIALS, DPoP=spent)) == (400, "invalid_dpop_proof")


@pytest.mark.parametrize("framework", ["flask", "starlette"])
def test_an_example_asks_for_a_nonce_then_binds(framework: str, example_dir: Path) -> None:
    """§8 at the token endpoint: 400 ``use_dpop_nonce`` with ``DPoP-Nonce``; the retry with it is 200."""
    settings = example_dpop_settings(sqlite_in(example_dir), dpop_nonce=True, dpop_nonce_key=NONCE_KEY)
    with running(framework, settings) as call:
        first = log_in(call)
        assert token_error(first) == (400, "use_dpop_nonce")
        nonce = first.headers["dpop-nonce"]
        retry = log_in(call, nonce=nonce)
        assert retry.status == 200 and retry.json()["token_type"] == "DPoP"
        refresh_token = retry.json()["refresh_token"]
        asked = refresh_at(call, refresh_token, KEY.proof("POST", TOKEN))
        assert token_error(asked) == (400, "use_dpop_nonce") and "dpop-nonce" in asked.headers
        assert refresh_at(call, refresh_token, KEY.proof("POST", TOKEN, nonce=nonce)).status == 200


@pytest.mark.parametrize("framework", ["flask", "starlette"])
def test_an_example_under_require_refuses_a_login_without_a_proof(framework: str, example_dir: Path) -> None:
    """``JWTGUARD_DPOP=require``: ``POST /login`` without a proof is 400 ``invalid_dpop_proof``."""
    with running(framework, example_dpop_settings(sqlite_in(example_dir), dpop="require")) as call:
        assert token_error(log_in(call, key=None)) == (400, "invalid_dpop_proof")
        pair = log_in(call).json()
        assert resource(call, pair["access_token"]).status == 200


@pytest.mark.parametrize("framework", ["flask", "starlette"])
def test_an_example_in_cookie_mode_binds_nothing(framework: str, example_dir: Path) -> None:
    """Cookie mode: the cookie travels without a proof, so a bound token in it would be refused by
    the guard (``dpop_required``); the examples bind nothing there, whatever DPoP field comes."""
    settings = example_dpop_settings(sqlite_in(example_dir), token_location="cookie")
    with running(framework, settings) as call:
        login = log_in(call)
        assert login.status == 200 and login.json()["token_type"] == "Bearer"
        assert "access_token" not in login.json()
