"""Browser tests: a real server (threaded WSGI, a fresh SQLite database per module) and Debian's
Chromium driven by Playwright. Without Chromium they skip on a laptop and fail in CI.

Every page a test opens is watched: a JavaScript dialog, a page error or a Content-Security-Policy
violation fails the test, so escaped customer text and our own scripts are checked on every page.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from plugin import bootstrap
from plugin.app import create_app
from plugin.passwords import hash_password
from plugin.platforms.jira import sign_jira
from plugin.settings import Settings
from plugin.store.users import UserStore

from ..conftest import FIXTURES, RULES

CHROMIUM = os.environ.get("ESCALATOR_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
PASSWORD = "correct horse battery"
SECRET = "browser-test-secret"
# As the machine's probe found: without these Chromium keeps reaching for Google's hosts.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]


def _chromium_or_skip() -> str:
    if shutil.which(CHROMIUM) or Path(CHROMIUM).exists():
        return CHROMIUM
    message = f"no Chromium at {CHROMIUM} (apt install chromium); browser tests need it"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    executable = _chromium_or_skip()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, headless=True, args=FLAGS)
        yield launched
        launched.close()


class LiveServer:
    """The whole app on a free port; `container` is its composition root, to seed data from the test."""

    def __init__(self, tmp: Path, **overrides):
        settings = Settings(**{"rules": str(RULES), "data_dir": str(tmp / "data"), "jira_webhook_secret": SECRET,
                               "zendesk_webhook_secret": SECRET, **overrides})
        self.container = bootstrap.build(settings)
        self.app = create_app(self.container)
        self.server = make_server("127.0.0.1", 0, self.app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.users = UserStore(self.container.store.engine)

    def user(self, role: str, name: str | None = None) -> str:
        """A user with this role (made once); its name."""
        name = name or f"{role}-1"
        if self.users.get(name) is None:
            self.users.add(name, role, hash_password(PASSWORD), self.container.clock.now())
        return name

    def jira(self, payload: dict, delivery: str) -> None:
        """Deliver a signed Jira webhook and let the processor decide it."""
        body = json.dumps(payload).encode()
        client = self.app.test_client()
        answer = client.post("/webhooks/jira", data=body, content_type="application/json",
                             headers={"X-Hub-Signature": sign_jira(body, SECRET),
                                      "X-Atlassian-Webhook-Identifier": delivery})
        assert answer.status_code == 202, answer.json
        self.container.processor.drain()

    def stop(self) -> None:
        self.server.shutdown()
        self.container.store.dispose()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory):
    server = LiveServer(tmp_path_factory.mktemp("live"))
    yield server
    server.stop()


class Watched:
    """What a page did that it must never do: open a dialog, throw, or break the CSP."""

    def __init__(self, page):
        self.problems: list[str] = []
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        page.on("console", self._console)

    def _dialog(self, dialog) -> None:
        self.problems.append(f"a {dialog.type} dialog opened: {dialog.message!r}")
        dialog.dismiss()

    def _console(self, message) -> None:
        if message.type == "error" and re.search(r"Content Security Policy|Refused to", message.text):
            self.problems.append(f"CSP: {message.text}")


@pytest.fixture
def logged_in(browser, live_server):
    """`logged_in(role)`: a Page logged in as a user of that role (a fresh browser context each)."""
    opened: list[tuple] = []

    def open_as(role: str, name: str | None = None):
        name = live_server.user(role, name)
        context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
        page = context.new_page()
        watched = Watched(page)
        opened.append((context, watched))
        page.goto("/login")
        page.fill("input[name=name]", name)
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(lambda url: "/login" not in url)
        return page

    yield open_as
    problems = [p for _, watched in opened for p in watched.problems]
    for context, _ in opened:
        context.close()
    assert not problems, problems


@pytest.fixture
def anonymous(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    watched = Watched(page)
    yield page
    context.close()
    assert not watched.problems, watched.problems


def screenshot(page, name: str) -> Path:
    """Save the whole page as test-artifacts/screenshots/NAME.png (kept by CI as an artifact)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def outage(key: str = "SUP-7", summary: str = "Checkout is down - total outage", **fields) -> dict:
    """A real Jira 'issue created' payload, made an enterprise outage."""
    payload = json.loads((FIXTURES / "jira" / "mattermost__webhook-issue-created.json").read_text())
    payload["issue"]["key"] = key
    payload["issue"]["fields"]["summary"] = summary
    payload["issue"]["fields"]["customfield_10050"] = {"value": "Gold"}
    payload["issue"]["fields"].update(fields)
    return payload
