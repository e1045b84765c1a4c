"""The operator's view: counters, their Prometheus form, and log lines that never hold a secret."""

from __future__ import annotations

import logging
import subprocess
import sys
import time
from typing import Any

import jwt
import pytest

from jwtguard import Admin, Settings
from jwtguard.metrics import LATENCY_BUCKETS, Metrics, prometheus_text, register, render

from conftest import SECRET, bearer
from mongo_server import free_port


def token_for(user: Any, *, secret: str = SECRET, **claims: Any) -> str:
    now = time.time()
    payload: dict[str, Any] = {"sub": user, "iat": int(now) - 10, "exp": int(now) + 600, **claims}
    return jwt.encode(payload, secret, algorithm="HS256")


def test_counters_follow_what_the_guard_answered(make_client: Any, settings: Settings, users: Any) -> None:
    users.insert_many([{"_id": "alice"}, {"_id": "bob", "user_enabled": False}])
    client = make_client(settings)
    alice = token_for("alice")
    for _ in range(3):
        assert client("GET", "/api/me", bearer(alice)).status == 200
    assert client("GET", "/api/me", bearer(token_for("bob"))).status == 401
    assert client("GET", "/api/me", bearer(token_for("nobody"))).status == 401
    assert client("GET", "/api/me").status == 401
    assert client("GET", "/api/me", bearer("not.a.jwt")).status == 401
    expired = token_for("alice", iat=int(time.time()) - 100, exp=int(time.time()) - 5)
    assert client("GET", "/api/me", bearer(expired)).status == 401
    assert client("GET", "/public").status == 200  # exempt: not counted

    snap = client.guard.metrics.snapshot()
    assert snap["accepted"] == 3
    rejected = {reason: n for reason, n in snap["rejected"].items() if n}
    assert rejected == {"disabled": 1, "unknown_user": 1, "missing_token": 1, "invalid": 1, "expired": 1}
    # alice's state was loaded once, then served from the cache twice.
    assert snap["state_cache"]["misses"] == 3  # alice, bob, nobody
    assert snap["state_cache"]["hits"] == 2
    assert snap["state_cache"]["size"] == 3
    # Signatures: alice's token verified once, then remembered.
    assert snap["token_cache"]["hits"] == 2
    assert snap["token_cache"]["misses"] == 5  # alice, bob, nobody, garbage, expired
    # Only the three real queries were timed.
    store = snap["store"]
    assert store["loads"] == 3
    assert store["errors"] == 0
    assert store["latency_seconds"]["count"] == 3
    assert store["latency_seconds"]["buckets"]["+Inf"] == 3
    assert store["latency_seconds"]["sum"] > 0


def test_store_errors_are_counted_and_timed(make_client: Any) -> None:
    settings = Settings(secret=SECRET, store_url=f"mongodb://127.0.0.1:{free_port()}/x", store_timeout=0.2)
    client = make_client(settings)
    assert client("GET", "/api/me", bearer(token_for("alice"))).status == 503
    snap = client.guard.metrics.snapshot()
    assert snap["store"]["errors"] == 1
    assert snap["store"]["loads"] == 1
    assert snap["rejected"]["store_unavailable"] == 1
    assert snap["accepted"] == 0
    # It waited for the timeout: at least the 0.1 s bucket is reached.
    buckets = snap["store"]["latency_seconds"]["buckets"]
    assert buckets["0.1"] == 0 and buckets["+Inf"] == 1


def test_latency_histogram_buckets() -> None:
    metrics = Metrics()
    for seconds in (0.0005, 0.001, 0.003, 0.2, 30.0):
        metrics.store_load(seconds, failed=False)
    cumulative = dict(metrics.latency_buckets())
    assert cumulative[0.001] == 2  # upper bounds are inclusive, as in Prometheus
    assert cumulative[0.0025] == 2
    assert cumulative[0.005] == 3
    assert cumulative[0.25] == 4
    assert cumulative[LATENCY_BUCKETS[-1]] == 4
    assert cumulative[float("inf")] == 5
    assert metrics.snapshot()["store"]["latency_seconds"]["count"] == 5


def test_prometheus_text_without_the_global_registry(make_client: Any, settings: Settings, users: Any) -> None:
    from prometheus_client import REGISTRY
    from prometheus_client.parser import text_string_to_metric_families

    users.insert_one({"_id": "alice"})
    client = make_client(settings)
    client("GET", "/api/me", bearer(token_for("alice")))
    client("GET", "/api/me")
    body, content_type = prometheus_text(client.guard.metrics)
    assert content_type.startswith("text/plain")
    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
    }
    assert samples[("jwtguard_requests_accepted_total", ())] == 1
    assert samples[("jwtguard_requests_rejected_total", (("reason", "missing_token"),))] == 1
    assert samples[("jwtguard_requests_rejected_total", (("reason", "revoked"),))] == 0
    assert samples[("jwtguard_cache_misses_total", (("cache", "state"),))] == 1
    assert samples[("jwtguard_cache_entries", (("cache", "state"),))] == 1
    assert samples[("jwtguard_store_errors_total", ())] == 0
    assert samples[("jwtguard_store_latency_seconds_count", ())] == 1
    assert samples[("jwtguard_store_latency_seconds_bucket", (("le", "+Inf"),))] == 1
    assert not any(name.startswith("jwtguard") for name in REGISTRY._names_to_collectors)


def test_register_on_a_registry_reads_live_values() -> None:
    from prometheus_client import CollectorRegistry

    metrics = Metrics()
    registry = CollectorRegistry()
    register(metrics, registry)
    assert registry.get_sample_value("jwtguard_requests_accepted_total") == 0
    metrics.accepted += 2
    metrics.reject("expired")
    assert registry.get_sample_value("jwtguard_requests_accepted_total") == 2
    assert registry.get_sample_value("jwtguard_requests_rejected_total", {"reason": "expired"}) == 1
    with pytest.raises(ValueError, match="Duplicated"):
        register(Metrics(), registry)  # one guard per registry and namespace
    register(Metrics(), registry, namespace="other")


def test_json_when_prometheus_client_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    metrics = Metrics()
    metrics.accepted = 7
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import now raises ImportError
    body, content_type = render(metrics)
    assert content_type == "application/json"
    assert json.loads(body)["accepted"] == 7


def test_importing_jwtguard_does_not_import_prometheus_client() -> None:
    code = "import sys, jwtguard, jwtguard.metrics; sys.exit('prometheus_client' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0


# -- logging --------------------------------------------------------------------


def test_no_log_record_holds_a_token_or_the_secret(
    make_client: Any, settings: Settings, users: Any, caplog: pytest.LogCaptureFixture
) -> None:
    users.insert_many(
        [{"_id": "alice"}, {"_id": "bob", "user_enabled": False}, {"_id": "eve", "destroyAnyJWTbefore": "x"}]
    )
    caplog.set_level(logging.DEBUG, logger="jwtguard")
    client = make_client(settings)
    now = int(time.time())
    tokens = [
        token_for("alice"),
        token_for("bob"),
        token_for("eve"),
        token_for("nobody"),
        token_for("alice", exp=now - 5),
        token_for("alice", iat=now + 3600),
        token_for("alice", secret="another-secret-" * 4),
        token_for({"$ne": None}),
        jwt.encode({"sub": "alice", "iat": now, "exp": now + 60}, None, algorithm="none"),  # type: ignore[arg-type]  # PyJWT takes key None for "none"
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl",
        "A" * 9000,
    ]
    for token in tokens:
        client("GET", "/api/me", bearer(token))
        client("GET", "/api/me", [("Authorization", f"Bearer {token} {token}")])
        client("GET", "/api/me", [("Authorization", f"Basic {token}")])
    admin = Admin(settings)
    try:
        admin.logout_everywhere("alice")
    finally:
        admin.close()
    client("GET", "/api/me", bearer(tokens[0]))

    messages = [record.getMessage() for record in caplog.records]
    assert any("rejected (disabled) for user 'bob'" in m for m in messages)
    assert any("rejected (revoked) for user 'alice'" in m for m in messages)
    assert any("rejected (unknown_user) for user 'nobody'" in m for m in messages)
    assert any("rejected (invalid) before any user lookup" in m for m in messages)
    for message in messages:
        assert SECRET not in message
        for token in tokens:
            # Not the token, nor any of its three parts (the signature above all).
            for part in {token, *(p for p in token.split(".") if len(p) > 8)}:
                assert part not in message, message


# -- the examples' /metrics --------------------------------------------------------------


@pytest.fixture
def example_env(monkeypatch: pytest.MonkeyPatch, mongo_uri: str, users: Any) -> None:
    from pathlib import Path

    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1]))
    monkeypatch.setenv("JWTGUARD_SECRET", SECRET)
    monkeypatch.setenv("JWTGUARD_STORE_URL", mongo_uri)
    users.insert_one({"_id": "alice"})


def accepted_total(text: str) -> float:
    from prometheus_client.parser import text_string_to_metric_families

    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "jwtguard_requests_accepted_total":
                return sample.value
    raise AssertionError("no jwtguard_requests_accepted_total")


@pytest.mark.usefixtures("example_env")
def test_flask_example_serves_metrics_without_a_token() -> None:
    from examples.common import DEMO_ISSUER
    from examples.flask_app import create_app

    app = create_app()
    client = app.test_client()
    try:
        assert accepted_total(client.get("/metrics").get_data(as_text=True)) == 0
        assert client.get("/api/me", headers=bearer(token_for("alice", iss=DEMO_ISSUER))).status_code == 200
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.content_type.startswith("text/plain")
        assert accepted_total(response.get_data(as_text=True)) == 1
    finally:
        app.extensions["jwtguard.close"]()


@pytest.mark.usefixtures("example_env")
def test_starlette_example_serves_metrics_without_a_token() -> None:
    from starlette.testclient import TestClient

    from examples.common import DEMO_ISSUER
    from examples.starlette_app import create_app

    app = create_app()
    with TestClient(app) as client:
        assert client.get("/api/me", headers=dict(bearer(token_for("alice", iss=DEMO_ISSUER)))).status_code == 200
        response = client.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        assert accepted_total(response.text) == 1
        client.portal.call(app.close)  # type: ignore[union-attr]


def test_csrf_refusals_are_counted_by_their_row_names(make_client: Any, settings: Settings, users: Any) -> None:
    """issue 10: the three CSRF refusals share the body error csrf_failed, and each has its own counter."""
    from prometheus_client.parser import text_string_to_metric_families

    from jwtguard.cookies import ACCESS_COOKIE, CSRF_COOKIE

    users.insert_one({"_id": "alice"})
    client = make_client(settings.replace(token_location="cookie"))
    cookie = ("Cookie", f"{ACCESS_COOKIE}={token_for('alice')}; {CSRF_COOKIE}=c")
    assert client("POST", "/api/me", [cookie]).json() == {"error": "csrf_failed", "reason": "missing_token"}
    assert client("POST", "/api/me", [cookie, ("X-CSRF-Token", "d")]).json()["reason"] == "mismatch"
    assert client("GET", "/api/me", [cookie, ("Sec-Fetch-Site", "cross-site")]).json()["reason"] == "cross_site"
    assert client("GET", "/api/me", [cookie]).status == 200
    rejected = client.guard.metrics.snapshot()["rejected"]
    assert {reason: n for reason, n in rejected.items() if n} == {
        "csrf_missing_token": 1,
        "csrf_mismatch": 1,
        "csrf_cross_site": 1,
    }
    body, _ = prometheus_text(client.guard.metrics)
    samples = {
        s.labels["reason"]: s.value
        for family in text_string_to_metric_families(body.decode())
        for s in family.samples
        if s.name == "jwtguard_requests_rejected_total"
    }
    assert samples["csrf_cross_site"] == 1 and samples["missing_token"] == 0
