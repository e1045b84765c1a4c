"""issue 13 in headless Chromium: the browser helper's DPoP (RFC 9449) against the real examples.

The helper's `createSession({ dpop: true })` keeps a non-extractable P-256 key in IndexedDB, signs a proof for
every request (fetch, axios, the login, the refresh), retries once with the server's nonce (`use_dpop_nonce`) or
with a fresh proof (`invalid_dpop_proof`), and logs out on none of DPoP's refusals, only on the real signals.
Each example runs for real on 127.0.0.1 with ``JWTGUARD_DPOP=allow`` (and ``JWTGUARD_DPOP_NONCE`` for the
nonce tests): the guard checks the proofs of resource requests, the examples' POST /login and POST /token bind the
session to the login proof's key (``token_type: "DPoP"``, ``cnf.jkt``) and want a proof of that key for a refresh.
The token endpoint's answers the examples cannot be made to give on demand are tested on test_helper_refresh's
fake of the HTTP contract.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import jwt
import pytest
from dpop_keys import ProofKey, ath
from test_browser import (
    CACHE_TTL,
    ROOT,
    TOKEN_KEY,
    Served,
    assert_logged_out,
    browser,  # noqa: F401 - the module-scoped Chromium fixture
    log_in,
    next_api_call,
    running_example,
)
from test_helper_refresh import Answer, Call, Contract, axios_script, json_answer, serving

from jwtguard.sansio.dpop import mint_nonce

from conftest import SECRET
from mongo_server import free_port

pytestmark = pytest.mark.browser

NONCE_KEY = "dpop-nonce-key-for-the-browser-tests-0123456789"
#: How far the page's clock is off in the fresh-proof tests: far beyond JWTGUARD_DPOP_MAX_AGE (60 s).
SKEW_MS = 10 * 60 * 1000


@pytest.fixture(scope="module")
def served(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """An example app ("flask_app", "starlette_app"; "-nonce" sets JWTGUARD_DPOP_NONCE) on the embedded store with
    JWTGUARD_DPOP=allow, in its own process and temporary directory; one per module and kind (as test_browser's
    `served`, which sets no DPoP variables)."""
    example, *options = request.param.split("-")
    directory = tmp_path_factory.mktemp(request.param)
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGUARD_")}
    env.update(
        JWTGUARD_SECRET=SECRET,
        JWTGUARD_STORE_URL=f"sqlite:///{directory / 'jwtguard.db'}",
        JWTGUARD_CACHE_TTL=str(CACHE_TTL),
        JWTGUARD_DPOP="allow",
        PYTHONPATH=str(ROOT),
        DEMO_PUBLIC_URL=f"http://127.0.0.1:{port}",
    )
    if "nonce" in options:
        env.update(JWTGUARD_DPOP_NONCE="true", JWTGUARD_DPOP_NONCE_KEY=NONCE_KEY)
    with running_example(example, port, directory, env, []) as base:
        yield Served(base, env, "sqlite", directory)


@dataclass
class Seen:
    """One request of the page, as Chromium sent it, and its answer."""

    method: str
    path: str
    headers: dict[str, str]
    status: int
    answer: dict[str, str]

    @property
    def proof(self) -> tuple[dict[str, Any], dict[str, Any]]:
        return read_proof(self.headers["dpop"])


def record(page: Any, path: str) -> list[Seen]:
    """Every answered request of *page* to *path* (its query left out), in order."""
    seen: list[Seen] = []

    def on_response(response: Any) -> None:
        request = response.request
        if request.url.split("?")[0].endswith(path):
            seen.append(Seen(request.method, path, request.headers, response.status, response.headers))

    page.on("response", on_response)
    return seen


def read_proof(proof: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """A proof's header and claims, its signature verified with the key of its own header."""
    header = jwt.get_unverified_header(proof)
    key = jwt.PyJWK(header["jwk"], algorithm="ES256").key
    return header, json.loads(jwt.PyJWS().decode(proof, key, algorithms=["ES256"]))


def thumbprint(jwk: dict[str, Any]) -> str:
    members = json.dumps({name: jwk[name] for name in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(members.encode()).digest()).rstrip(b"=").decode()


def claims_of(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


#: A bare page's session (no demo page polling): records its onLogout reasons.
START = """(options) => {
    window.reasons = [];
    window.session = JWTGuard.createSession(Object.assign({
        dpop: true, onLogout: (reason) => reasons.push(reason),
    }, options));
    return session.signedIn();
}"""
FETCH = "async (path) => { const r = await session.fetch(path); return [r.status, await r.json()]; }"
AXIOS = """async (path) => {
    try {
        const r = await api.get(path);
        return [r.status, r.data];
    } catch (error) {
        return [error.response ? error.response.status : String(error), error.response && error.response.data];
    }
}"""
#: The page's key as it is stored: IndexedDB "jwtguard", store "dpop-keys", under the storage key.
STORED_KEY = """async (name) => {
    const db = await new Promise((resolve, reject) => {
        const request = indexedDB.open("jwtguard");
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
    });
    if (!db.objectStoreNames.contains("dpop-keys")) { db.close(); return null; }
    const record = await new Promise((resolve, reject) => {
        const request = db.transaction("dpop-keys").objectStore("dpop-keys").get(name);
        request.onsuccess = () => resolve(request.result);
        request.onerror = () => reject(request.error);
    });
    db.close();
    if (!record) return null;
    let exported;
    try {
        await crypto.subtle.exportKey("jwk", record.privateKey);
        exported = "exported";
    } catch (error) {
        exported = error.name;
    }
    const key = record.privateKey;
    return {
        jkt: record.jkt,
        jwk: record.jwk,
        private: [key.type, key.extractable, key.algorithm.name, key.algorithm.namedCurve, key.usages],
        public: [record.publicKey.type, record.publicKey.extractable],
        exported: exported,
    };
}"""


def bare_page(context: Any, served: Served, client: str = "fetch", options: dict[str, Any] | None = None) -> Any:
    """A page on the example's origin with the helper (and axios) loaded and a DPoP session started."""
    page = context.new_page()
    page.goto(served.url + "/health")
    page.add_script_tag(url="/static/jwtguard.js")
    page.evaluate(START, options or {})
    if client == "axios":
        page.add_script_tag(path=str(axios_script()))
        page.evaluate("() => { window.api = axios.create(); session.installAxios(api); }")
    return page


#: A login through the helper (no token stored: a proof alone), its answer stored; with `answer`, the answer's
#: fields replaced first (a server that answered another token type). Answers the access token.
LOGIN = """async ([user, replaced]) => {
    const response = await session.fetch("/login", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ username: user, password: user + "-password" }),
    });
    const answer = Object.assign(await response.json(), replaced);
    session.setTokens(answer);
    return answer.access_token;
}"""
AXIOS_LOGIN = """async ([user, replaced]) => {
    const response = await api.post("/login", { username: user, password: user + "-password" });
    const answer = Object.assign(response.data, replaced);
    session.setTokens(answer);
    return answer.access_token;
}"""


def log_in_page(page: Any, client: str = "fetch", user: str = "alice", **replaced: Any) -> str:
    """The page's login with a proof (session.fetch, or axios through the interceptors): a pair bound to the page's
    key; returns its access token, bound to that key (`cnf.jkt`)."""
    token = str(page.evaluate(AXIOS_LOGIN if client == "axios" else LOGIN, [user, replaced]))
    assert claims_of(token)["cnf"] == {"jkt": page.evaluate("session.dpopThumbprint()")}
    return token


def another_device(served: Served, method: str, path: str, **headers: str) -> httpx.Response:
    """A script outside the browser (the thief's), with whatever it copied."""
    return httpx.request(method, served.url + path, headers=headers, timeout=15)


def login_by_dpop(served: Served, key: ProofKey, user: str = "alice") -> dict[str, Any]:
    """A DPoP login from Python with *key*: POST /login with a proof (htm POST, htu origin + /login, no ath)."""
    answer = httpx.post(
        served.url + "/login",
        json={"username": user, "password": f"{user}-password"},
        headers={"DPoP": key.proof("POST", served.url + "/login")},
        timeout=15,
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def assert_login_proof(seen: Seen, served: Served) -> None:
    """The login went with a proof alone: ES256, the public key only, htm POST, htu origin + /login, no ath."""
    assert "authorization" not in seen.headers
    header, claims = seen.proof
    assert header["typ"] == "dpop+jwt" and header["alg"] == "ES256"
    assert set(header["jwk"]) == {"kty", "crv", "x", "y"} and header["jwk"]["crv"] == "P-256"
    assert claims["htm"] == "POST" and claims["htu"] == served.url + "/login"
    assert "ath" not in claims and "nonce" not in claims
    assert len(base64.urlsafe_b64decode(claims["jti"] + "==")) >= 12  # >= 96 random bits
    assert abs(claims["iat"] - time.time()) < 30


# -- the full story ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("served", ["flask_app", "starlette_app"], indirect=True, scope="module")
def test_full_story_tokens_copied_to_another_device_are_refused(browser: Any, served: Served) -> None:  # noqa: F811
    """Log in with DPoP on the demo page, copy the access and refresh tokens out of the page into a script on
    another device: the access token as Bearer is refused (dpop_required), with the DPoP scheme and a proof from
    the thief's key too (dpop_binding), the refresh token at POST /token (400) with no proof and with the thief's;
    the page keeps working: its next request passes, its refresh passes, and nobody is logged out."""
    context = browser.new_context()
    page = context.new_page()
    logins = record(page, "/login")
    log_in(page, served.url)
    assert_login_proof(logins[-1], served)
    assert page.evaluate("session.tokenType()") == "DPoP"
    page.wait_for_function("document.getElementById('token-binding').dataset.type === 'DPoP'")
    jkt = page.evaluate("session.dpopThumbprint()")
    access = page.evaluate(f"localStorage.getItem('{TOKEN_KEY}')")
    refresh = page.evaluate(f"localStorage.getItem('{TOKEN_KEY}.refresh')")
    assert claims_of(access)["cnf"] == {"jkt": jkt}

    # Another device: the copies are worth nothing.
    thief = ProofKey()
    refused = another_device(served, "GET", "/api/me", Authorization=f"Bearer {access}")
    assert (refused.status_code, refused.json()["reason"]) == (401, "dpop_required")
    proof = thief.proof("GET", served.url + "/api/me", access)
    refused = another_device(served, "GET", "/api/me", Authorization=f"DPoP {access}", DPoP=proof)
    assert (refused.status_code, refused.json()["reason"]) == (401, "dpop_binding")
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    for extra in ({}, {"DPoP": thief.proof("POST", served.url + "/token")}):
        grant = httpx.post(
            served.url + "/token",
            content=f"grant_type=refresh_token&refresh_token={refresh}",
            headers={**form, **extra},
            timeout=15,
        )
        assert grant.status_code == 400, grant.text
        assert grant.json()["error"] in ("invalid_grant", "invalid_dpop_proof")

    # The page goes on: its next request, then a refresh (a proof from the same key), then a request again.
    notes = record(page, "/api/notes")
    next_api_call(page)
    wait_for(page, lambda: any(seen.status == 200 for seen in notes))
    assert page.is_visible("#app")
    tokens = record(page, "/token")
    assert page.evaluate("session.refresh()") is True
    assert [seen.status for seen in tokens] == [200]
    header, claims = tokens[0].proof
    assert thumbprint(header["jwk"]) == jkt and claims["htu"] == served.url + "/token" and "ath" not in claims
    renewed = page.evaluate("session.token()")
    assert renewed != access and claims_of(renewed)["cnf"] == {"jkt": jkt}
    assert page.evaluate("session.tokenType()") == "DPoP"
    assert page.evaluate("async () => (await session.fetch('/api/notes')).status") == 200
    assert page.is_visible("#app") and not page.get_attribute("#message", "data-reason")
    context.close()


def wait_for(page: Any, check: Any, timeout: float = 15.0) -> None:
    """Until *check*; waiting in Playwright (its events come in only then), not in time.sleep."""
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        page.wait_for_timeout(50)


# -- the requests, the key -------------------------------------------------------------------------------------


@pytest.mark.parametrize("served", ["flask_app", "starlette_app"], indirect=True, scope="module")
def test_a_bound_token_copied_out_of_the_page_is_refused_elsewhere(browser: Any, served: Served) -> None:  # noqa: F811
    """The demo page logs in with a proof and gets a pair bound to its key; every request goes as
    `Authorization: DPoP` with a proof (htm, htu, ath), and the access token copied out of the page is refused
    elsewhere: as Bearer (dpop_required, the Bearer challenge), with a proof from another key (dpop_binding),
    without a proof, and with a replay of the page's own proof (invalid_dpop_proof). The page keeps working, and
    its refresh carries a proof of the same key (no ath, no Authorization) and gets a pair bound to it again."""
    context = browser.new_context()
    page = context.new_page()
    logins = record(page, "/login")
    log_in(page, served.url)
    assert_login_proof(logins[-1], served)
    jkt = page.evaluate("session.dpopThumbprint()")
    assert thumbprint(logins[-1].proof[0]["jwk"]) == jkt
    assert page.evaluate("session.tokenType()") == "DPoP"
    access = page.evaluate("session.token()")
    assert claims_of(access)["cnf"] == {"jkt": jkt}
    assert page.evaluate(f"localStorage.getItem('{TOKEN_KEY}.type')") == "DPoP"
    notes = record(page, "/api/notes")
    next_api_call(page)
    wait_for(page, lambda: len(notes) > 0)
    sent = notes[0]
    assert sent.status == 200
    assert sent.headers["authorization"] == f"DPoP {access}"
    header, claims = sent.proof
    assert thumbprint(header["jwk"]) == jkt
    assert (claims["htm"], claims["htu"], claims["ath"]) == ("GET", served.url + "/api/notes", ath(access))
    page.wait_for_function("document.getElementById('token-binding').dataset.type === 'DPoP'")

    stolen = page.evaluate(f"localStorage.getItem('{TOKEN_KEY}')")
    assert stolen == access
    refused = another_device(served, "GET", "/api/notes", Authorization=f"Bearer {stolen}")
    assert (refused.status_code, refused.json()["reason"]) == (401, "dpop_required")
    assert refused.headers["www-authenticate"].startswith('Bearer realm="api", error="invalid_token"')
    proof = ProofKey().proof("GET", served.url + "/api/notes", stolen)
    refused = another_device(served, "GET", "/api/notes", Authorization=f"DPoP {stolen}", DPoP=proof)
    assert (refused.status_code, refused.json()["reason"]) == (401, "dpop_binding")
    refused = another_device(served, "GET", "/api/notes", Authorization=f"DPoP {stolen}")
    assert (refused.status_code, refused.json()["reason"]) == (401, "invalid_dpop_proof")
    replayed = another_device(served, "GET", "/api/notes", Authorization=f"DPoP {stolen}", DPoP=sent.headers["dpop"])
    assert (replayed.status_code, replayed.json()["reason"]) == (401, "invalid_dpop_proof")  # its jti was used

    count = len(notes)
    next_api_call(page)
    wait_for(page, lambda: len(notes) > count)
    assert notes[count].status == 200 and notes[count].headers["dpop"] != sent.headers["dpop"]
    assert page.is_visible("#app") and not page.get_attribute("#message", "data-reason")

    tokens = record(page, "/token")
    assert page.evaluate("session.refresh()") is True
    assert [seen.status for seen in tokens] == [200]
    header, claims = tokens[0].proof
    assert thumbprint(header["jwk"]) == jkt
    assert (claims["htm"], claims["htu"]) == ("POST", served.url + "/token") and "ath" not in claims
    assert "authorization" not in tokens[0].headers
    renewed = page.evaluate("session.token()")
    assert renewed != access and claims_of(renewed)["cnf"] == {"jkt": jkt}
    assert page.evaluate("session.tokenType()") == "DPoP"
    assert page.evaluate("async () => (await session.fetch('/api/notes')).status") == 200
    assert page.is_visible("#app")
    context.close()


@pytest.mark.parametrize("served", ["flask_app"], indirect=True, scope="module")
def test_the_key_is_not_extractable_and_kept_across_reloads_and_tabs(browser: Any, served: Served) -> None:  # noqa: F811
    """The private key is a non-extractable ECDSA P-256 CryptoKey for "sign" (exportKey refuses it), kept in
    IndexedDB under the storage key: the same thumbprint after a reload and in another tab. Logging out deletes
    it, and the next login has a new key."""
    context = browser.new_context()
    page = context.new_page()
    log_in(page, served.url)
    stored = page.evaluate(STORED_KEY, TOKEN_KEY)
    assert stored is not None
    assert stored["private"] == ["private", False, "ECDSA", "P-256", ["sign"]]
    assert stored["public"] == ["public", True]
    assert stored["exported"] == "InvalidAccessError"
    assert set(stored["jwk"]) == {"crv", "kty", "x", "y"}
    jkt = page.evaluate("session.dpopThumbprint()")
    assert stored["jkt"] == jkt == thumbprint(stored["jwk"])

    page.reload()
    page.wait_for_selector("#app:not([hidden])")
    assert page.evaluate("session.dpopThumbprint()") == jkt
    other = context.new_page()
    other.goto(served.url + "/health")
    other.add_script_tag(url="/static/jwtguard.js")
    other.evaluate(START, {})
    assert other.evaluate("session.dpopThumbprint()") == jkt

    page.click("#logout")
    page.wait_for_selector("#login-form:not([hidden])")
    page.wait_for_function(f"async () => (await ({STORED_KEY})('{TOKEN_KEY}')) === null")
    log_in(page, served.url)
    assert page.evaluate("session.dpopThumbprint()") not in (None, jkt)
    context.close()


# -- the server's nonce, a fresh proof -------------------------------------------------------------------------


@pytest.mark.parametrize("served", ["flask_app-nonce", "starlette_app-nonce"], indirect=True, scope="module")
@pytest.mark.parametrize("client", ["fetch", "axios"])
def test_use_dpop_nonce_is_retried_once_with_the_servers_nonce(browser: Any, served: Served, client: str) -> None:  # noqa: F811
    """JWTGUARD_DPOP_NONCE: the login's first proof has no nonce, the answer is 400 use_dpop_nonce with DPoP-Nonce,
    the helper sends the login again once with it; the API takes the same nonce at once. A new session (another
    tab: nonces are kept in memory) on the stored pair meets 401 use_dpop_nonce at the API, retries once with the
    nonce (200) and puts it into the next proofs (one request each); nobody is logged out."""
    context = browser.new_context()
    page = bare_page(context, served, client)
    call = AXIOS if client == "axios" else FETCH
    logins, me = record(page, "/login"), record(page, "/api/me")
    token = log_in_page(page, client)
    assert [one.status for one in logins] == [400, 200]
    first, again = logins
    assert "nonce" not in first.proof[1] and first.answer["dpop-nonce"]
    assert again.proof[1]["nonce"] == first.answer["dpop-nonce"] and again.proof[1]["jti"] != first.proof[1]["jti"]
    status, body = page.evaluate(call, "/api/me")
    assert (status, body["user"]) == (200, "alice")
    assert [one.status for one in me] == [200]

    tab = bare_page(context, served, client)
    seen = record(tab, "/api/me")
    assert tab.evaluate(call, "/api/me")[0] == 200
    assert [one.status for one in seen] == [401, 200]
    refusal, retry = seen
    assert "nonce" not in refusal.proof[1]
    assert 'error="use_dpop_nonce"' in refusal.answer["www-authenticate"]
    nonce = refusal.answer["dpop-nonce"]
    assert retry.proof[1]["nonce"] == nonce and retry.proof[1]["jti"] != refusal.proof[1]["jti"]
    assert retry.headers["authorization"] == f"DPoP {token}"
    assert tab.evaluate(call, "/api/notes")[0] == 200
    assert tab.evaluate(call, "/api/me")[0] == 200
    assert [one.status for one in seen] == [401, 200, 200]  # the nonce is kept: no second refusal
    # The same nonce, unless its period (JWTGUARD_DPOP_MAX_AGE) ended meanwhile: then the server's answer
    # carried the new one (RFC 9449 §8.2) and the helper uses that.
    assert seen[2].proof[1]["nonce"] in {nonce, mint_nonce(NONCE_KEY.encode(), time.time(), 60.0)}
    for one in (page, tab):
        assert one.evaluate("[reasons, session.signedIn()]") == [[], True]
    context.close()


@pytest.mark.parametrize("served", ["flask_app-nonce"], indirect=True, scope="module")
def test_dpop_headers_for_a_request_sent_another_way(browser: Any, served: Served) -> None:  # noqa: F811
    """dpopHeaders: a request sent some other way gets the proof (and the stored nonce) and the DPoP token; the
    proof alone without a token, none with a Bearer token."""
    context = browser.new_context()
    page = bare_page(context, served)
    login = page.evaluate("session.dpopHeaders('post', '/login?next=%2F#top')")
    assert set(login) == {"DPoP"}
    claims = read_proof(login["DPoP"])[1]
    assert (claims["htm"], claims["htu"]) == ("POST", served.url + "/login") and "ath" not in claims
    bound = log_in_page(page)  # learns the nonce
    headers = page.evaluate("session.dpopHeaders('GET', '/api/notes')")
    assert headers["Authorization"] == f"DPoP {bound}"
    claims = read_proof(headers["DPoP"])[1]
    assert claims["ath"] == ath(bound) and claims["nonce"]
    answer = httpx.get(served.url + "/api/notes", headers=headers, timeout=15)
    assert answer.status_code == 200, answer.text
    page.evaluate(
        "(answer) => session.setTokens(answer)", {"access_token": "a-token", "expires_in": 300, "token_type": "Bearer"}
    )
    assert page.evaluate("session.dpopHeaders('GET', '/api/notes')") == {}
    context.close()


def skewed(context: Any) -> None:
    """The context's pages get a clock whose lead (`window.clockAhead`, milliseconds) the test sets."""
    context.add_init_script("{ const now = Date.now; window.clockAhead = 0; Date.now = () => now() + clockAhead; }")


@pytest.mark.parametrize("served", ["starlette_app"], indirect=True, scope="module")
@pytest.mark.parametrize("client", ["fetch", "axios"])
def test_invalid_dpop_proof_gets_one_fresh_proof(browser: Any, served: Served, client: str) -> None:  # noqa: F811
    """The page's clock is 10 minutes fast: its first proof is refused (iat in the future), the helper takes the
    server's clock from the answer's Date and sends the request again once with a fresh proof, which passes; the
    next requests pass at once. At the login (400 invalid_dpop_proof from the token endpoint) and at the API (401);
    where the answers carry no Date, the one fresh proof is refused too: two tries, 401, and the session stays."""
    call = AXIOS if client == "axios" else FETCH
    context = browser.new_context()
    skewed(context)
    page = bare_page(context, served, client)
    page.evaluate(f"window.clockAhead = {SKEW_MS}")
    logins, me = record(page, "/login"), record(page, "/api/me")
    log_in_page(page, client)
    assert [one.status for one in logins] == [400, 200]
    assert logins[0].proof[1]["iat"] > time.time() + SKEW_MS / 1000 - 30
    assert abs(logins[1].proof[1]["iat"] - time.time()) < 5
    assert page.evaluate(call, "/api/me")[0] == 200
    assert [one.status for one in me] == [200]  # the clock was set at the login

    tab = bare_page(context, served, client)  # a new session on the stored pair: its clock not set yet
    tab.evaluate(f"window.clockAhead = {SKEW_MS}")
    seen = record(tab, "/api/me")
    assert tab.evaluate(call, "/api/me")[0] == 200
    assert [one.status for one in seen] == [401, 200]
    refusal, retry = seen
    assert 'error="invalid_dpop_proof"' in refusal.answer["www-authenticate"]
    assert refusal.proof[1]["iat"] > time.time() + SKEW_MS / 1000 - 30
    assert abs(retry.proof[1]["iat"] - time.time()) < 5 and retry.proof[1]["jti"] != refusal.proof[1]["jti"]
    assert retry.headers["authorization"] == refusal.headers["authorization"]
    assert tab.evaluate(call, "/api/me")[0] == 200
    assert [one.status for one in seen] == [401, 200, 200]
    context.close()

    dateless = browser.new_context()
    skewed(dateless)

    def without_date(route: Any) -> None:
        answer = route.fetch()
        route.fulfill(response=answer, headers={k: v for k, v in answer.headers.items() if k.lower() != "date"})

    dateless.route("**/api/*", without_date)
    page = bare_page(dateless, served, client)
    log_in_page(page, client)
    page.evaluate(f"window.clockAhead = {SKEW_MS}")
    seen = record(page, "/api/me")
    status, body = page.evaluate(call, "/api/me")
    assert (status, body["reason"]) == (401, "invalid_dpop_proof")
    assert [one.status for one in seen] == [401, 401]
    assert page.evaluate("[reasons, session.signedIn(), session.tokenType()]") == [[], True, "DPoP"]
    dateless.close()


# -- what logs out, what does not --------------------------------------------------------------------------------


@pytest.mark.parametrize("served", ["flask_app", "starlette_app"], indirect=True, scope="module")
@pytest.mark.parametrize("client", ["fetch", "axios"])
def test_dpop_refusals_keep_the_session_real_signals_end_it(browser: Any, served: Served, client: str) -> None:  # noqa: F811
    """401 dpop_binding (a pair bound to another key: a thief's login stored in the page) and 401 dpop_required (a
    bound token the login answer called Bearer, so sent without its proof) say error="invalid_token" but log
    nobody out; an admin disabling the user does (401 disabled, in the DPoP challenge), and the key goes with the
    session."""
    context = browser.new_context()
    page = bare_page(context, served, client)
    call = AXIOS if client == "axios" else FETCH
    page.evaluate("session.dpopThumbprint()")  # the page's own key
    page.evaluate("(answer) => session.setTokens(answer)", login_by_dpop(served, ProofKey()))
    status, body = page.evaluate(call, "/api/me")
    assert (status, body["reason"]) == (401, "dpop_binding")
    page.evaluate("session.clear()")  # log out here, then in again (a login goes with no token stored)
    log_in_page(page, client, token_type="Bearer")
    status, body = page.evaluate(call, "/api/me")
    assert (status, body["reason"]) == (401, "dpop_required")
    assert page.evaluate("[reasons, session.signedIn()]") == [[], True]

    page.evaluate("session.clear()")
    log_in_page(page, client)
    assert page.evaluate(call, "/api/me")[0] == 200
    seen = record(page, "/api/me")
    served.admin_switch("alice", "disable")
    try:
        status, body = page.evaluate(call, "/api/me")
        assert (status, body["reason"]) == (401, "disabled")
        assert seen[-1].answer["x-user-enabled"] == "false"
        assert seen[-1].answer["www-authenticate"].startswith('DPoP realm="api", algs="ES256 EdDSA", error="invalid')
        assert page.evaluate(f"[reasons, session.signedIn(), localStorage.getItem('{TOKEN_KEY}.type')]") == [
            ["disabled"],
            False,
            None,
        ]
        page.wait_for_function(f"async () => (await ({STORED_KEY})('{TOKEN_KEY}')) === null")
    finally:
        served.admin_switch("alice", "enable")
    context.close()


@pytest.mark.parametrize("served", ["flask_app"], indirect=True, scope="module")
def test_demo_page_logs_out_on_logout_everywhere_with_dpop(browser: Any, served: Served) -> None:  # noqa: F811
    """The demo page with a bound pair: "log out everywhere" from the CLI (another process) ends it at its next
    request (401 revoked, in the DPoP challenge), as with Bearer."""
    context = browser.new_context()
    page = context.new_page()
    log_in(page, served.url, "bob")
    assert page.evaluate("session.tokenType()") == "DPoP"
    served.cli("logout-all", "bob")
    time.sleep(CACHE_TTL + 0.2)
    next_api_call(page)
    assert_logged_out(page)
    assert page.get_attribute("#message", "data-reason") == "revoked"
    context.close()


@pytest.mark.parametrize("served", ["flask_app"], indirect=True, scope="module")
def test_without_the_option_nothing_changes(browser: Any, served: Served) -> None:  # noqa: F811
    """Without `dpop: true` the helper sends what it always sent: Bearer, no DPoP field, no key made, no token type
    kept, even on a server that reads DPoP."""
    context = browser.new_context()
    page = bare_page(context, served, options={"dpop": False})
    seen = record(page, "/api/me")
    page.evaluate(
        """async () => {
            const login = await session.fetch("/login", {
                method: "POST",
                headers: { "Content-Type": "application/json" },
                body: JSON.stringify({ username: "alice", password: "alice-password" }),
            });
            session.setTokens(await login.json());
        }"""
    )
    assert page.evaluate(FETCH, "/api/me")[0] == 200
    assert "dpop" not in seen[0].headers and seen[0].headers["authorization"].startswith("Bearer ")
    assert page.evaluate("[session.tokenType(), Object.keys(localStorage).sort()]") == [
        "Bearer",
        [TOKEN_KEY, f"{TOKEN_KEY}.expires", f"{TOKEN_KEY}.refresh"],
    ]
    assert page.evaluate("session.dpopThumbprint()") is None
    assert page.evaluate("async () => (await indexedDB.databases()).map((db) => db.name)") == []
    context.close()


# -- the token endpoint's DPoP answers (RFC 9449 §5, §8), on test_helper_refresh's fake -----------------------


class DPoPContract(Contract):
    """test_helper_refresh's fake of the HTTP contract, with an authorization server's DPoP at POST /login and POST
    /token: a proof required, its nonce the current one (else 400 use_dpop_nonce with DPoP-Nonce), or with
    `refuse_proofs` every proof refused (400 invalid_dpop_proof); a pair answered as token_type DPoP. A refresh's
    answer may carry the next nonce (`next_nonce`), as a server does when its nonce rotates."""

    def reset(self, **options: Any) -> None:
        super().reset(**options)
        with self.lock:
            self.nonce = "nonce-1"
            self.next_nonce: str | None = None
            self.refuse_proofs = False

    def answer(self, call: Call) -> Answer:
        if call.method != "POST" or call.path not in ("/login", "/token"):
            return super().answer(call)
        with self.lock:
            nonce, refuse = self.nonce, self.refuse_proofs
        proof = call.headers.get("dpop")
        if proof is None or refuse:
            return json_answer(400, {"error": "invalid_dpop_proof", "error_description": "the proof is refused"})
        claims = read_proof(proof)[1]
        if claims.get("nonce") != nonce:
            error = {
                "error": "use_dpop_nonce",
                "error_description": "Authorization server requires nonce in DPoP proof",
            }
            return json_answer(400, error, [("DPoP-Nonce", nonce)])
        status, headers, body = super().answer(call)
        if status != 200:
            return status, headers, body
        answer = {**json.loads(body), "token_type": "DPoP"}
        with self.lock:
            if self.next_nonce is not None:
                self.nonce, self.next_nonce = self.next_nonce, None
                headers = [*headers, ("DPoP-Nonce", self.nonce)]
        return status, headers, json.dumps(answer).encode()


@pytest.fixture
def fake() -> Iterator[DPoPContract]:
    with serving(DPoPContract()) as contract:
        yield contract


def test_the_token_endpoints_nonce_and_refused_proofs(browser: Any, fake: DPoPContract) -> None:  # noqa: F811
    """The login (session.fetch with no token: a proof alone) answered 400 use_dpop_nonce is sent again once with
    the nonce, and its DPoP pair kept; a refresh the same (a proof without ath, the new nonce), and a nonce a 200
    answer carries goes into the next refresh's proof at once. A refresh whose proofs are refused (400
    invalid_dpop_proof, twice: a fresh proof once) fails without a logout; a refused refresh token still logs out,
    and the key goes with the session."""
    context = browser.new_context()
    page = context.new_page()
    page.goto(fake.url + "/health")
    page.add_script_tag(url="/static/jwtguard.js")
    page.evaluate(START, {"autoRefresh": False})
    login = """async () => {
        const response = await session.fetch("/login", {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ username: "alice", password: "alice-password" }),
        });
        const body = await response.json();
        session.setTokens(body);
        return [response.status, body.token_type, session.tokenType()];
    }"""
    assert page.evaluate(login) == [200, "DPoP", "DPoP"]
    logins = fake.calls_to("POST", "/login")
    assert [call.status for call in logins] == [400, 200]
    assert "nonce" not in read_proof(logins[0].headers["dpop"])[1]
    retry = read_proof(logins[1].headers["dpop"])[1]
    assert (retry["htm"], retry["htu"], retry["nonce"]) == ("POST", fake.url + "/login", "nonce-1")
    assert logins[1].body == logins[0].body  # the same login, sent again
    jkt = page.evaluate("session.dpopThumbprint()")

    with fake.lock:
        fake.nonce, fake.next_nonce = "nonce-2", "nonce-3"
    assert page.evaluate("session.refresh()") is True
    refreshes = fake.calls_to("POST", "/token")
    assert [call.status for call in refreshes] == [400, 200]
    header, claims = read_proof(refreshes[1].headers["dpop"])
    assert thumbprint(header["jwk"]) == jkt and "ath" not in claims
    assert (claims["htm"], claims["htu"], claims["nonce"]) == ("POST", fake.url + "/token", "nonce-2")
    assert page.evaluate("session.refresh()") is True  # nonce-3, from the 200 answer: no refusal first
    assert [call.status for call in fake.calls_to("POST", "/token")] == [400, 200, 200]
    assert read_proof(fake.calls_to("POST", "/token")[2].headers["dpop"])[1]["nonce"] == "nonce-3"

    with fake.lock:
        fake.refuse_proofs = True
    start = len(fake.calls)
    assert page.evaluate("session.refresh()") is False
    assert fake.since(start) == [("POST", "/token", 400), ("POST", "/token", 400)]
    proofs = [read_proof(call.headers["dpop"])[1]["jti"] for call in fake.calls[start:]]
    assert len(set(proofs)) == 2  # a fresh proof
    assert page.evaluate("[reasons, session.signedIn(), session.tokenType()]") == [[], True, "DPoP"]

    with fake.lock:
        fake.refuse_proofs = False
        fake.refuse_refresh = "the refresh token was already used: the session is ended"
    assert page.evaluate("session.refresh()") is False
    assert page.evaluate("[reasons, session.signedIn(), localStorage.length]") == [["invalid_grant"], False, 0]
    page.wait_for_function(f"async () => (await ({STORED_KEY})('{TOKEN_KEY}')) === null")
    context.close()
