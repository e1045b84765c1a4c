"""Issue 8: one vocabulary of reasons, read by the policy, the metrics, the README and explain."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from jwtguard import Settings
from jwtguard.metrics import REASONS as METRIC_REASONS
from jwtguard.metrics import Metrics
from jwtguard.sansio import REASONS, Policy

from conftest import SECRET

README = Path(__file__).resolve().parent.parent / "README.md"


def _decision_rows() -> dict[str, tuple[str, str]]:
    """The README's "What the guard decides" rows: reason -> (status, headers cell)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## What the guard decides", 1)[1].split("\n## ", 1)[0]
    rows: dict[str, tuple[str, str]] = {}
    for line in section.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if len(cells) == 4 and (match := re.fullmatch(r"`([a-z_]+)`", cells[2])):
            rows[match.group(1)] = (cells[1], cells[3])
    return rows


def test_the_readme_table_lists_every_reason_with_its_status_and_signals() -> None:
    """issue 8: the README's table is checked against the one table of reasons."""
    rows = _decision_rows()
    assert set(rows) == set(REASONS)
    for name, reason in REASONS.items():
        status, headers = rows[name]
        assert status == str(reason.status), name
        if reason.user_enabled is False:
            assert "X-User-Enabled: false" in headers, name
        if reason.retry:
            assert "Retry-After" in headers, name
        if reason.challenge == "error" and reason.user_enabled is None:
            assert f'error="{reason.error}"' in headers, name
        if reason.body_reason is not None:
            # The CSRF rows: the metrics' name in the reason column, the body's in the last.
            assert f'{{"error": "{reason.error}", "reason": "{reason.body_reason}"}}' in headers, name


def test_metrics_count_by_the_same_reasons() -> None:
    """issue 8: the metrics' reasons are the table's, in its order, each counted from zero."""
    assert tuple(REASONS) == METRIC_REASONS
    assert set(Metrics().snapshot()["rejected"]) == set(REASONS)


@pytest.mark.parametrize("name", list(REASONS))
def test_each_refusal_is_built_from_its_row(name: str) -> None:
    """issue 8: a refusal's status, body, challenge and signals all come from its row (RFC 6750 §3)."""
    reason = REASONS[name]
    decision = Policy(Settings(secret=SECRET, clear_site_data=True, retry_after=7)).refusals[name]
    headers = dict(decision.headers)
    assert decision.kind == "refuse" and decision.status == reason.status and decision.reason == name
    assert decision.body == f'{{"error":"{reason.error}","reason":"{reason.body_reason or name}"}}'.encode()
    assert headers["Cache-Control"] == "no-store"
    assert headers["Content-Length"] == str(len(decision.body))
    challenge = headers.get("WWW-Authenticate")
    if reason.challenge == "none":
        assert challenge is None
    elif reason.challenge == "bare":
        assert challenge == 'Bearer realm="api"'  # RFC 6750 §3.1: no error code without credentials
    else:
        assert challenge == f'Bearer realm="api", error="{reason.error}", error_description="{reason.description}"'
    assert headers.get("X-User-Enabled") == (None if reason.user_enabled is None else "false")
    assert ("Clear-Site-Data" in headers) is reason.clears
    assert "Set-Cookie" not in headers  # a header token's refusal never touches cookies
    assert headers.get("Retry-After") == ("7" if reason.retry else None)
    assert dict(decision.raw_headers) == {k.lower().encode(): v.encode() for k, v in decision.headers}
