"""End to end in headless Chromium (Debian's package, driven by Playwright): the page logs out on the spot.

Each example is served for real on 127.0.0.1 by its own process, on the embedded store; the revocation
comes from outside the page, through the `jwtguard` CLI in another process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from conftest import SECRET
from mongo_server import free_port

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ROOT = Path(__file__).resolve().parent.parent
TOKEN_KEY = "jwtguard.token"
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not os.access(CHROMIUM, os.X_OK):
        message = f"{CHROMIUM} is missing: scripts/get-browser.sh installs Debian's chromium"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(params=["flask_app", "starlette_app"])
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """(base URL, environment) of an example app running in its own process."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("JWTGUARD_")}
    env.update(
        JWTGUARD_SECRET=SECRET,
        JWTGUARD_STORE_URL=f"sqlite:///{tmp_path / 'jwtguard.db'}",
        JWTGUARD_CACHE_TTL="0.5",
        PYTHONPATH=str(ROOT),
    )
    log = open(tmp_path / "server.log", "wb")  # noqa: SIM115 - the server's output, kept for failures
    server = subprocess.Popen(
        [sys.executable, "-m", f"examples.{request.param}", "--port", str(port)],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=1):
                break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError((tmp_path / "server.log").read_text()) from None
            time.sleep(0.1)
    yield url, env
    server.terminate()
    server.wait(10)
    log.close()


def cli(env: dict[str, str], *args: str) -> None:
    subprocess.run([sys.executable, "-m", "jwtguard", *args], env=env, check=True, timeout=60, capture_output=True)


def log_in(page: Any, url: str, user: str = "alice") -> None:
    page.goto(url)
    page.fill("#username", user)
    page.fill("#password", f"{user}-password")
    page.click("#login-button")
    page.wait_for_selector("#app:not([hidden])", timeout=15_000)
    assert page.inner_text("#who") == user
    assert page.evaluate(f"localStorage.getItem('{TOKEN_KEY}')")


def assert_logged_out(page: Any) -> None:
    """The page's own polling meets the revocation: token gone, login form back."""
    page.wait_for_function(f"localStorage.getItem('{TOKEN_KEY}') === null", timeout=20_000)
    page.wait_for_selector("#login-form:not([hidden])", timeout=5_000)
    assert page.is_hidden("#app")


def test_disabled_user_is_logged_out_on_the_spot(browser: Any, served: Any, tmp_path: Path) -> None:
    url, env = served
    context = browser.new_context()
    page = context.new_page()
    log_in(page, url)
    assert "Buy milk" in page.inner_text("#notes")
    page.screenshot(path=str(tmp_path / "1-logged-in.png"))

    cli(env, "disable", "alice")
    assert_logged_out(page)
    assert "disabled" in page.inner_text("#message")
    page.screenshot(path=str(tmp_path / "2-disabled.png"))
    context.close()


def test_logout_everywhere_reaches_both_devices(browser: Any, served: Any, tmp_path: Path) -> None:
    url, env = served
    phone, laptop = browser.new_context(), browser.new_context()
    phone_page, laptop_page = phone.new_page(), laptop.new_page()
    log_in(phone_page, url)
    log_in(laptop_page, url)

    cli(env, "logout-all", "alice")
    for name, page in (("phone", phone_page), ("laptop", laptop_page)):
        assert_logged_out(page)
        assert "session ended" in page.inner_text("#message")
        page.screenshot(path=str(tmp_path / f"{name}-logged-out.png"))

    log_in(phone_page, url)  # a fresh login after the logout works
    phone.close()
    laptop.close()
