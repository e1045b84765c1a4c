"""Issue 9: optional mode, and the per-route helpers over the middleware's one verdict."""

from __future__ import annotations

import logging
from typing import Any

import jwt
import pytest

from jwtguard import MemoryStore, Settings
from jwtguard.engine import Engine
from jwtguard.invalidation import InvalidationBus
from jwtguard.sansio import Policy, Request
from jwtguard.sansio.policy import (
    CLAIMS_KEY,
    POLICY_KEY,
    UNGUARDED,
    granted_roles,
    granted_scopes,
    requirement,
    route_decision,
)

from conftest import SECRET

T = 1_800_000_000.0


def _token(**claims: Any) -> str:
    return jwt.encode({"sub": "alice", "iat": T - 10, "exp": T + 600, **claims}, SECRET, algorithm="HS256")


# -- optional mode: the policy --------------------------------------------------------------

MODE_TABLE: list[tuple[str, str, list[str], tuple[int, str]]] = [
    # (id, mode, Authorization values, (status, reason) or (200, kind))
    ("require-no-header", "require", [], (401, "missing_token")),
    ("require-basic", "require", ["Basic YWxpY2U6cHc="], (401, "missing_token")),
    ("optional-no-header", "optional", [], (200, "anonymous")),
    ("optional-basic", "optional", ["Basic YWxpY2U6cHc="], (200, "anonymous")),
    ("optional-digest", "optional", ['Digest username="alice"'], (200, "anonymous")),
    ("optional-good-token", "optional", [f"Bearer {_token()}"], (200, "accept")),
    ("optional-bearer-alone", "optional", ["Bearer"], (400, "malformed")),
    ("optional-bearer-tab", "optional", [f"Bearer\t{_token()}"], (400, "malformed")),
    ("optional-two-fields", "optional", [f"Bearer {_token()}", "Basic YWxpY2U6cHc="], (400, "multiple_credentials")),
    ("optional-two-joined", "optional", [f"Basic x, Bearer {_token()}"], (400, "multiple_credentials")),
    ("optional-two-empty-fields", "optional", ["", ""], (400, "multiple_credentials")),
    ("optional-too-large", "optional", ["Bearer " + "a" * 9000], (431, "header_too_large")),
    ("optional-bad-signature", "optional", [f"Bearer {_token()}x"], (401, "invalid")),
    ("optional-garbage-token", "optional", ["Bearer not-a-jwt"], (401, "invalid")),
    ("optional-expired", "optional", [f"Bearer {_token(exp=T - 1)}"], (401, "expired")),
    ("optional-unknown-user", "optional", [f"Bearer {_token(sub='mallory')}"], (401, "unknown_user")),
    ("optional-disabled", "optional", [f"Bearer {_token(sub='bob')}"], (401, "disabled")),
    ("optional-revoked", "optional", [f"Bearer {_token(sub='carol')}"], (401, "revoked")),
]


@pytest.mark.parametrize(
    ("mode", "values", "expected"), [row[1:] for row in MODE_TABLE], ids=[r[0] for r in MODE_TABLE]
)
def test_optional_mode_decisions(mode: str, values: list[str], expected: tuple[int, str]) -> None:
    """issue 9: optional mode passes only a request without Bearer credentials; a sent token is fully checked."""
    settings = Settings.from_env({"JWTGUARD_SECRET": SECRET, "JWTGUARD_MODE": mode})
    store = MemoryStore(settings)
    store.put("alice", {})
    store.put("bob", {"user_enabled": False})
    store.put("carol", {"destroyAnyJWTbefore": T})
    engine = Engine(settings, store=store, clock=lambda: T, bus=InvalidationBus())
    decision = engine.handle(Request("GET", "/api", tuple(values)))
    if decision.passes:
        assert (200, decision.kind) == expected
        assert (decision.claims is None) is (decision.kind == "anonymous")
        assert decision.user_id == (None if decision.kind == "anonymous" else "alice")
    else:
        assert (decision.status, decision.reason) == expected


def test_optional_mode_warns_at_start_up(caplog: pytest.LogCaptureFixture) -> None:
    """issue 9: optional mode makes undecorated routes public: a start-up WARNING says so."""
    with caplog.at_level(logging.WARNING, logger="jwtguard"):
        Engine(Settings(secret=SECRET, mode="require"), store=MemoryStore(Settings(secret=SECRET)))
    assert not [r for r in caplog.records if "JWTGUARD_MODE" in r.getMessage()]
    with caplog.at_level(logging.WARNING, logger="jwtguard"):
        Engine(Settings(secret=SECRET, mode="optional"), store=MemoryStore(Settings(secret=SECRET)))
    (record,) = [r for r in caplog.records if "JWTGUARD_MODE=optional" in r.getMessage()]
    assert record.levelno == logging.WARNING and "PUBLIC" in record.getMessage()


def test_mode_setting_is_validated() -> None:
    """issue 9: JWTGUARD_MODE accepts require or optional (any case), nothing else."""
    assert Settings.from_env({"JWTGUARD_SECRET": SECRET, "JWTGUARD_MODE": "OPTIONAL"}).mode == "optional"
    assert Settings(secret=SECRET).mode == "require"
    with pytest.raises(Exception, match="JWTGUARD_MODE"):
        Settings(secret=SECRET, mode="public")  # type: ignore[arg-type]


# -- the claims checks: pure --------------------------------------------------------------

CLAIMS_TABLE: list[tuple[str, dict[str, Any], str, str, bool]] = [
    # (id, claims, required scopes, required roles, granted)
    ("no-requirement", {}, "", "", True),
    ("scope-one-of-several", {"scope": "notes:read notes:write"}, "notes:write", "", True),
    ("scope-all-required", {"scope": "notes:read notes:write"}, "notes:read notes:write", "", True),
    ("scope-one-missing", {"scope": "notes:read"}, "notes:read notes:write", "", False),
    ("scope-no-substring", {"scope": "notes:writer"}, "notes:write", "", False),
    ("scope-absent", {}, "notes:read", "", False),
    ("scope-extra-spaces", {"scope": " notes:read  notes:write "}, "notes:write", "", True),
    ("scope-as-list-grants-nothing", {"scope": ("notes:read",)}, "notes:read", "", False),
    ("scope-as-object-grants-nothing", {"scope": {"notes:read": True}}, "notes:read", "", False),
    ("role-element", {"roles": ("user", "admin")}, "", "admin", True),
    ("role-no-substring", {"roles": ("superadmin",)}, "", "admin", False),
    ("role-string-grants-nothing", {"roles": "admin"}, "", "admin", False),
    ("role-non-strings-ignored", {"roles": (1, None, "admin")}, "", "admin", True),
    ("role-absent", {}, "", "admin", False),
    ("role-and-scope-both-needed", {"roles": ("admin",), "scope": "a"}, "b", "admin", False),
    ("role-and-scope-both-there", {"roles": ("admin",), "scope": "a b"}, "b", "admin", True),
]


def _verdict(claims: dict[str, Any] | None, settings: Settings | None = None) -> dict[str, Any]:
    return {CLAIMS_KEY: claims, POLICY_KEY: Policy(settings or Settings(secret=SECRET))}


@pytest.mark.parametrize(
    ("claims", "scopes", "roles", "granted"), [row[1:] for row in CLAIMS_TABLE], ids=[r[0] for r in CLAIMS_TABLE]
)
def test_scope_and_role_checks(claims: dict[str, Any], scopes: str, roles: str, granted: bool) -> None:
    """issue 9: `scope` is a space-separated string (RFC 8693 §4.2), `roles` an array; all required must be there."""
    decision = route_decision(_verdict(claims), scopes=requirement(scopes), roles=requirement(roles))
    if granted:
        assert decision is None
    else:
        assert decision is not None and decision.status == 403 and decision.reason == "insufficient_scope"
        headers = dict(decision.headers)
        assert headers["WWW-Authenticate"].startswith('Bearer realm="api", error="insufficient_scope"')


def test_claim_readers_and_requirements() -> None:
    """issue 9: the readers of `scope` and `roles`, and a requirement given as a string or strings."""
    assert granted_scopes({"scope": "a b"}) == {"a", "b"}
    assert granted_roles({"roles": ["a", "b"]}) == {"a", "b"}
    assert requirement("a b") == requirement(["a", "b"]) == requirement(("a", "", "b")) == {"a", "b"}
    assert requirement(None) == frozenset()


VERDICT_TABLE: list[tuple[str, dict[str, Any] | None, bool, bool, str | None]] = [
    # (id, what the guard left (None: nothing), optional, with a scope requirement, refusal reason)
    ("unguarded-required", None, False, False, "missing_token"),
    ("unguarded-optional", None, True, False, "missing_token"),
    ("anonymous-required", {"claims": None}, False, False, "missing_token"),
    ("anonymous-optional", {"claims": None}, True, False, None),
    ("anonymous-optional-with-scope", {"claims": None}, True, True, "missing_token"),
    ("accepted-required", {"claims": {"scope": "s"}}, False, False, None),
    ("accepted-optional", {"claims": {"scope": "s"}}, True, False, None),
    ("accepted-with-scope", {"claims": {"scope": "s"}}, False, True, None),
    ("accepted-without-scope", {"claims": {}}, False, True, "insufficient_scope"),
]


@pytest.mark.parametrize(
    ("left", "optional", "scoped", "reason"), [row[1:] for row in VERDICT_TABLE], ids=[r[0] for r in VERDICT_TABLE]
)
def test_route_decision_reads_the_verdict(
    left: dict[str, Any] | None, optional: bool, scoped: bool, reason: str | None
) -> None:
    """issue 9: a route runs only on the guard's verdict; no verdict fails closed (401), even for optional."""
    settings = Settings(secret=SECRET, realm="notes")
    verdict = {} if left is None else _verdict(left["claims"], settings)
    decision = route_decision(verdict, optional=optional, scopes=requirement("s" if scoped else None))
    if reason is None:
        assert decision is None
        return
    assert decision is not None and decision.reason == reason
    if left is None:
        assert decision is UNGUARDED  # no policy to ask: the default realm
    else:
        assert dict(decision.headers)["WWW-Authenticate"].startswith('Bearer realm="notes"')


def test_claims_without_policy_fail_closed() -> None:
    """issue 9: claims some other code put in the environ, without the guard's policy, are not a verdict."""
    assert route_decision({CLAIMS_KEY: {"sub": "alice", "scope": "s"}}) is UNGUARDED
