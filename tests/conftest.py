from pathlib import Path

import pytest

from plugin.matrix import load_matrix

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "rules"
FIXTURES = Path(__file__).resolve().parent / "fixtures"

pytest_plugins = ["tests.cluster", "tests.secret_scan"]     # fixtures of the fake platforms; the secret scan of the run


@pytest.fixture(scope="session")
def shipped_matrix():
    return load_matrix(RULES)


# -- the service -------------------------------------------------------------------------------

import os  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from datetime import UTC, datetime  # noqa: E402

from plugin.domain.clock import FixedClock  # noqa: E402

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
POSTGRES_URL = os.environ.get("ESCALATOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


@pytest.fixture
def clock():
    return FixedClock(START)


@pytest.fixture
def settings_for(tmp_path):
    from plugin.settings import Settings

    def make(**values):
        values.setdefault("rules", str(RULES))
        values.setdefault("data_dir", str(tmp_path / "data"))
        return Settings(**values)
    return make


@pytest.fixture
def make_app(settings_for, clock):
    from plugin import bootstrap
    from plugin.app import create_app

    def make(clients=None, start_worker=False, store=None, **settings):
        container = bootstrap.build(settings_for(**settings), clock=clock, clients=clients, store=store)
        app = create_app(container, start_worker=start_worker)
        app.config["TESTING"] = True
        return app
    return make


def fresh_postgres_store():
    """A SqlStore on the test PostgreSQL database, emptied first (our tables and Alembic's version)."""
    import sqlalchemy

    from plugin.store.schema import metadata
    from plugin.store.sql import SqlStore
    url = postgres_or_skip()
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as conn:
        metadata.drop_all(conn)
        conn.execute(sqlalchemy.text("DROP TABLE IF EXISTS alembic_version"))
    engine.dispose()
    return SqlStore(url)


def postgres_or_skip():
    """A PostgreSQL URL; in CI a missing server fails the run instead of skipping."""
    import sqlalchemy
    try:
        engine = sqlalchemy.create_engine(POSTGRES_URL)
        with engine.connect():
            pass
        engine.dispose()
    except Exception as exc:
        if os.environ.get("CI"):
            raise RuntimeError(f"PostgreSQL is required in CI at {POSTGRES_URL}: {exc}") from exc
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES_URL}")
    return POSTGRES_URL


def postgres_admin(statement: str) -> None:
    """Run one statement outside a transaction on the test server (CREATE or DROP DATABASE)."""
    import sqlalchemy
    engine = sqlalchemy.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(statement)
    engine.dispose()


@contextmanager
def scratch_postgres(prefix: str):
    """The URL of a new, empty database on the test server, dropped afterwards."""
    import secrets

    from sqlalchemy import make_url
    postgres_or_skip()
    name = f"{prefix}_{secrets.token_hex(6)}"
    postgres_admin(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')



# -- ticket events through the production path -----------------------------------------------------

import itertools  # noqa: E402
import json  # noqa: E402

_EVENTS: dict = {}
_SERIAL = itertools.count()


@pytest.fixture
def stand_in_parser(monkeypatch):
    """A Jira parser that hands each stored delivery the TicketEvent `deliver_event` stored it for."""
    from plugin import platforms
    monkeypatch.setitem(platforms.PARSERS, "jira", lambda payload, headers: _EVENTS[payload["event"]])


def deliver_event(container, event) -> int:
    """Store `event` through the real intake and let the processor decide; the number decided.
    Needs the `stand_in_parser` fixture: everything after parsing is the production path."""
    from plugin.intake import ingest
    number = next(_SERIAL)
    _EVENTS[number] = event
    ingest(container.store, "jira", json.dumps({"event": number}).encode(),
           {"X-Atlassian-Webhook-Identifier": f"event-{number}"}, container.clock.now())
    return container.processor.drain()
