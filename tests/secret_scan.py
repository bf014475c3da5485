"""A pytest plugin: over the whole run, no configured secret may appear in a log record or in a response
Flask serves (test clients and live servers alike); one that does fails the run at its end.

Secrets are learnt as they are made: every settings section's secret fields and URL passwords, each
dashboard's session key, every password hashed. Checking is a substring test per record and per
response against the secrets of that app, so the whole run pays well under a second for it.
"""
from __future__ import annotations

import logging
import threading
from dataclasses import fields
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask import request_finished

MIN_LENGTH = 8          # shorter test values ("tok", "s3cret") would match ordinary text by chance
SHOWN_FINDINGS = 20

_secrets: set[str] = set()        # every secret seen so far, for the log records
_passwords: set[str] = set()      # passwords hashed so far, checked in every response
_findings: list[str] = []
_lock = threading.Lock()
_current_test = "(outside a test)"


# -- learning the secrets ------------------------------------------------------------------------------

def secrets_of(section) -> set[str]:
    """The secret values a settings section holds: secret fields, URL passwords and credential URLs."""
    found = set()
    for f in fields(section):
        value, kind = getattr(section, f.name), f.metadata.get("url")
        if f.metadata.get("secret"):
            found.add(value)
        elif kind == "credential":
            found.update(value.values() if isinstance(value, dict) else [value])
        elif kind == "password" and isinstance(value, str) and value:
            found.update(_url_passwords(value))
    return {s for s in found if isinstance(s, str) and len(s) >= MIN_LENGTH}


def _url_passwords(url: str) -> set[str]:
    parts = urlsplit(url)
    query = {v for k, v in parse_qsl(parts.query) if any(w in k.lower() for w in ("password", "secret", "token"))}
    return query | ({parts.password} if parts.password else set())


def learn(*values: str) -> None:
    with _lock:
        _secrets.update(v for v in values if isinstance(v, str) and len(v) >= MIN_LENGTH)


def _wrap_settings() -> None:
    from plugin.settings import Section
    original = Section.__post_init__

    def post_init(self) -> None:
        original(self)
        learn(*secrets_of(self))
    Section.__post_init__ = post_init


def _wrap_session_keys() -> None:
    from plugin.store.users import UserStore
    original = UserStore.secret

    def secret(self, name: str) -> str:
        value = original(self, name)
        if name == "session_key":       # the setup token is meant to be shown once, as a link
            learn(value)
        return value
    UserStore.secret = secret


def _wrap_passwords() -> None:
    from argon2 import PasswordHasher
    original = PasswordHasher.hash

    def hashed(self, password, *args, **kwargs):
        if isinstance(password, str) and len(password) >= MIN_LENGTH:
            with _lock:
                _passwords.add(password)
        return original(self, password, *args, **kwargs)
    PasswordHasher.hash = hashed


# -- looking for them ----------------------------------------------------------------------------------

def _report(where: str, text: str, candidates) -> None:
    leaked = [s for s in candidates if s in text]
    if leaked:
        with _lock:
            _findings.append(f"{_current_test}: {where} shows {', '.join(_masked(s) for s in leaked)}")


def _masked(secret: str) -> str:
    return f"{secret[:3]}…({len(secret)} characters)"


class _LogScan(logging.Handler):
    """Every record that any logger lets through (the run's own levels decide which; none are changed)."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = record.getMessage()
            if record.exc_info:
                text += logging.Formatter().formatException(record.exc_info)
        except Exception:       # a record that cannot be formatted is the logging call's problem, not ours
            return
        with _lock:
            candidates = list(_secrets | _passwords)
        _report(f"a {record.levelname} record of {record.name}", text, candidates)


def _app_secrets(app) -> set[str]:
    """This app's secrets: its settings and its session key (cached on the app)."""
    cached = app.extensions.get("secret_scan")
    if cached is None:
        container = app.extensions.get("escalator")
        cached = set(secrets_of(container.settings)) if container is not None else set()
        if isinstance(app.secret_key, str) and len(app.secret_key) >= MIN_LENGTH:
            cached.add(app.secret_key)
        app.extensions["secret_scan"] = cached
    return cached


def _scan_response(app, response, **_extra) -> None:
    from flask import request
    with _lock:
        candidates = _app_secrets(app) | _passwords
    where = f"the response to {request.method} {request.path}"
    _report(f"{where} (headers)", str(response.headers), candidates)
    if not (response.is_streamed or response.direct_passthrough):      # never consume a stream or a file
        _report(where, response.get_data(as_text=True), candidates)


# -- pytest hooks --------------------------------------------------------------------------------------

def pytest_configure(config) -> None:
    _wrap_settings()
    _wrap_session_keys()
    _wrap_passwords()
    logging.getLogger().addHandler(_LogScan())
    request_finished.connect(_scan_response, weak=False)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    global _current_test
    _current_test = item.nodeid
    try:
        return (yield)
    finally:
        _current_test = "(between tests)"


def pytest_sessionfinish(session, exitstatus) -> None:
    if _findings:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter) -> None:
    if _findings:
        terminalreporter.section("secrets shown or logged", sep="=", red=True, bold=True)
        for finding in _findings[:SHOWN_FINDINGS]:
            terminalreporter.write_line(finding)
        if len(_findings) > SHOWN_FINDINGS:
            terminalreporter.write_line(f"... and {len(_findings) - SHOWN_FINDINGS} more")


def findings() -> list[str]:
    """What the scan found so far (for the plugin's own test)."""
    with _lock:
        return list(_findings)


def forget(count: int) -> None:
    """Drop findings after the first `count`: a test that leaks on purpose to prove the scan works."""
    with _lock:
        del _findings[count:]
