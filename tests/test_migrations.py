"""Schema migrations on SQLite and PostgreSQL: old databases upgraded intact, fresh ones created at HEAD."""
import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import create_engine, insert, inspect, make_url, select, text

from plugin.cli import main
from plugin.store import migrate, schema
from plugin.store.migrate import BASELINE, HEAD, SchemaOutOfDate, SchemaTooNew, prepare_schema
from plugin.store.schema import metadata

from .conftest import POSTGRES_URL, postgres_admin, postgres_or_skip
from .fixtures import schema_v0 as v0

T0 = datetime(2026, 1, 5, 9, 0)    # naive UTC, as the old release stored it


# -- databases -----------------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def new_database(request, tmp_path):
    """A factory of empty databases of one kind; PostgreSQL ones are made and dropped here."""
    made = []

    def make(password: str = "") -> str:
        made.append(f"escalator_mig_{secrets.token_hex(6)}")
        if request.param == "sqlite":
            return f"sqlite:///{tmp_path}/{made[-1]}.db"
        postgres_admin(f'CREATE DATABASE "{made[-1]}"')
        url = make_url(POSTGRES_URL).set(database=made[-1], password=password or None)
        return url.render_as_string(hide_password=False)

    if request.param == "postgresql":
        postgres_or_skip()
    yield make
    for name in made if request.param == "postgresql" else ():
        postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def connect():
    """create_engine for a test, disposed afterwards."""
    engines = []

    def make(url: str):
        engines.append(create_engine(url))
        return engines[-1]
    yield make
    for engine in engines:
        engine.dispose()


# -- a database as the previous release left it --------------------------------------------------

TIMERS = [  # (name, state, warn_at, warned, due_at, the next_at the upgrade must give it)
    ("ack", "running", T0 + timedelta(minutes=12), False, T0 + timedelta(minutes=15), T0 + timedelta(minutes=12)),
    ("plan", "running", T0 + timedelta(minutes=90), True, T0 + timedelta(hours=2), T0 + timedelta(hours=2)),
    ("rca", "running", None, False, T0 + timedelta(hours=24), T0 + timedelta(hours=24)),
    ("update", "stopped", T0 + timedelta(minutes=24), False, T0 + timedelta(minutes=30), None),
    ("regulator_notice", "paused", None, False, None, None),
]


def old_release_database(url: str, connect) -> None:
    """The tables exactly as the previous release created them, with a ticket's worth of history."""
    engine = connect(url)
    v0.metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(v0.deliveries), [_delivery(1, "accepted"), _delivery(2, "accepted"),
                                             _delivery(3, "ignored")])
        conn.execute(insert(v0.tickets), _ticket())
        conn.execute(insert(v0.escalation_log), [_log_entry(1, "created"), _log_entry(2, "updated")])
        conn.execute(insert(v0.timers), [_timer(*row[:5]) for row in TIMERS])
        conn.execute(insert(v0.matrices), {"version": "m1", "files": {"matrix.yaml": "levels: {}"},
                                           "created_at": T0, "activated_at": T0})
        conn.execute(insert(v0.outbox), _outbox_row())


def _delivery(n: int, status: str) -> dict:
    return {"platform": "jira", "dedupe_key": f"d-{n}", "received_at": T0 + timedelta(seconds=n),
            "status": status, "reason": "", "event_kind": "updated", "ticket_key": "OPS-1",
            "authenticated_by": "signature", "headers": {"X-Atlassian-Webhook-Identifier": f"d-{n}"},
            "body": b'{"issue": {"key": "OPS-1"}}'}


def _ticket() -> dict:
    return {"platform": "jira", "key": "OPS-1", "severity": "critical", "level": "L2", "owner": "sre",
            "assignee": "ana", "priority": "Highest", "labels": ["outage"], "matrix_version": "m1",
            "human_severity": "", "snapshot": {"summary": "Checkout is down"}, "created_at": T0,
            "updated_at": T0 + timedelta(minutes=5)}


def _log_entry(n: int, kind: str) -> dict:
    return {"platform": "jira", "key": "OPS-1", "at": T0 + timedelta(minutes=n), "delivery_id": n,
            "event_kind": kind, "actor": "ana", "changes": {"level": ["L1", "L2"]},
            "decision": {"level": "L2", "trace": [{"rule": "outage"}]}, "matrix_version": "m1",
            "communications": [{"channel": "ticket_comment"}]}


def _timer(name, state, warn_at, warned, due_at) -> dict:
    return {"platform": "jira", "key": "OPS-1", "name": name, "seconds": 900, "calendar": "24x7",
            "recurring": name == "update", "state": state, "started_at": T0,
            "stopped_at": T0 + timedelta(minutes=3) if state == "stopped" else None, "segment_start": T0,
            "spent_seconds": 0, "due_at": due_at, "warn_at": warn_at, "warned": warned, "fired_at": None,
            "warn_fraction": 0.8}


def _outbox_row() -> dict:
    return {"platform": "jira", "key": "OPS-1", "kind": "writeback", "data": {"priority": "Highest"},
            "request": [{"method": "PUT", "path": "/rest/api/3/issue/OPS-1"}], "status": "pending",
            "attempts": 1, "next_attempt_at": T0, "last_error": "timeout", "created_at": T0,
            "finished_at": None, "delivery_id": 1, "log_id": 1}


def old_rows(url: str, connect) -> dict[str, list[dict]]:
    """Every row of every old table, read through the old columns only."""
    with connect(url).connect() as conn:
        return {name: [dict(row) for row in conn.execute(select(table).order_by(*table.primary_key)).mappings()]
                for name, table in v0.metadata.tables.items()}


def differences(url: str, connect, target=metadata) -> list:
    with connect(url).connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True, "compare_server_default": True})
        return compare_metadata(context, target)


def alembic(url: str, connect, verb: str, revision: str) -> None:
    """Run one alembic command on the database, through the migration environment we ship."""
    with connect(url).begin() as conn:
        cfg = migrate.config()
        cfg.attributes["connection"] = conn
        getattr(command, verb)(cfg, revision)


# -- upgrading an old database ---------------------------------------------------------------------

def test_an_old_release_database_is_upgraded_with_every_row_intact(new_database, connect):
    url = new_database()
    old_release_database(url, connect)
    before = old_rows(url, connect)
    assert migrate.current_revision(url) == BASELINE

    assert migrate.upgrade(url) == HEAD

    after = old_rows(url, connect)
    for row in before["deliveries"]:
        row["status"] = {"accepted": "decided"}.get(row["status"], row["status"])
    assert after == before
    assert migrate.current_revision(url) == HEAD


def test_old_deliveries_count_as_decided_when_they_were_received(new_database, connect):
    url = new_database()
    old_release_database(url, connect)
    migrate.upgrade(url)
    d = schema.deliveries.c
    with connect(url).connect() as conn:
        rows = conn.execute(select(d.dedupe_key, d.status, d.decided_at, d.received_at).order_by(d.id)).all()
    assert [(key, status) for key, status, *_ in rows] == [("d-1", "decided"), ("d-2", "decided"),
                                                            ("d-3", "ignored")]
    assert all(decided_at == received_at for *_, decided_at, received_at in rows)


def test_the_upgrade_gives_running_timers_their_next_wakeup(new_database, connect):
    url = new_database()
    old_release_database(url, connect)
    migrate.upgrade(url)
    with connect(url).connect() as conn:
        next_at = dict(conn.execute(select(schema.timers.c.name, schema.timers.c.next_at)).all())
    assert next_at == {name: expected and expected.replace(tzinfo=UTC) for name, *_, expected in TIMERS}


def test_upgraded_tickets_start_at_version_zero(new_database, connect):
    url = new_database()
    old_release_database(url, connect)
    migrate.upgrade(url)
    with connect(url).connect() as conn:
        assert conn.execute(select(schema.tickets.c.key, schema.tickets.c.version)).all() == [("OPS-1", 0)]


def test_upgrading_twice_changes_nothing_the_second_time(new_database, connect):
    url = new_database()
    old_release_database(url, connect)
    migrate.upgrade(url)
    once = old_rows(url, connect)
    assert migrate.upgrade(url) == HEAD
    assert old_rows(url, connect) == once
    with connect(url).connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]


# -- the schema a migration produces is the one the code declares -------------------------------------

def test_an_upgraded_database_matches_the_declared_schema(new_database, connect):
    url = new_database()
    old_release_database(url, connect)
    migrate.upgrade(url)
    assert differences(url, connect) == []


def test_an_upgraded_database_has_the_same_indexes_and_defaults_as_a_fresh_one(new_database, connect):
    # compare_metadata does not look at partial-index conditions; the inspector does.
    upgraded, fresh = new_database(), new_database()
    old_release_database(upgraded, connect)
    migrate.upgrade(upgraded)
    migrate.upgrade(fresh)
    assert _reflected(upgraded, connect) == _reflected(fresh, connect)


def _reflected(url: str, connect) -> dict:
    inspector = inspect(connect(url))
    return {table: {"columns": sorted((c["name"], str(c["type"]), c["nullable"], c["default"])
                                      for c in inspector.get_columns(table)),
                    "indexes": sorted(_index(index) for index in inspector.get_indexes(table)),
                    "unique": sorted(repr(unique) for unique in inspector.get_unique_constraints(table))}
            for table in metadata.tables}


def _index(reflected: dict) -> tuple:
    # A partial index's condition comes back as a SQL expression: compare its text.
    options = {name: str(value) for name, value in reflected.get("dialect_options", {}).items()}
    return reflected["name"], reflected["column_names"], reflected["unique"], sorted(options.items())


def test_the_baseline_revision_is_the_previous_release_schema(new_database, connect):
    url = new_database()
    alembic(url, connect, "upgrade", BASELINE)
    assert differences(url, connect, v0.metadata) == []


def test_a_downgrade_returns_to_the_baseline_and_upgrades_again(new_database, connect):
    url = new_database()
    old_release_database(url, connect)
    before = old_rows(url, connect)
    migrate.upgrade(url)
    alembic(url, connect, "downgrade", BASELINE)
    assert differences(url, connect, v0.metadata) == []
    assert old_rows(url, connect) == before
    migrate.upgrade(url)
    assert differences(url, connect) == []


# -- starting the service -----------------------------------------------------------------------------

def test_an_empty_database_gets_the_whole_schema_at_head(new_database, connect):
    engine = connect(new_database())
    prepare_schema(engine, upgrade=False)
    assert migrate.current_revision(engine) == HEAD
    assert set(inspect(engine).get_table_names()) == {*metadata.tables, "alembic_version"}


def test_a_database_at_head_is_left_alone(new_database, connect):
    engine = connect(new_database())
    prepare_schema(engine, upgrade=False)
    prepare_schema(engine, upgrade=False)
    assert migrate.current_revision(engine) == HEAD


def test_tables_made_at_head_without_a_version_are_adopted_beside_another_applications(new_database, connect):
    engine = connect(new_database())
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE other_app (id INTEGER PRIMARY KEY)"))
    prepare_schema(engine, upgrade=False)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]
    assert "other_app" in inspect(engine).get_table_names()


def test_an_old_database_is_refused_with_the_command_that_upgrades_it(new_database, connect):
    url = new_database(password="hunter2")
    old_release_database(url, connect)
    with pytest.raises(SchemaOutOfDate) as refused:
        prepare_schema(connect(url), upgrade=False)
    message = str(refused.value)
    assert f"at schema revision {BASELINE}" in message and f"needs {HEAD}" in message
    assert "run `escalator db upgrade`" in message
    assert "hunter2" not in message
    assert migrate.current_revision(url) == BASELINE
    assert "alembic_version" not in inspect(connect(url)).get_table_names()    # refused means untouched


def test_processes_starting_together_on_an_empty_database_create_it_once(new_database, connect):
    url = new_database()
    with ThreadPoolExecutor(4) as pool:
        assert list(pool.map(migrate.upgrade, [url] * 4)) == [HEAD] * 4
    with connect(url).connect() as conn:
        assert conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all() == [HEAD]


def test_a_database_at_an_older_revision_is_upgraded_when_allowed(new_database, connect):
    url = new_database()
    alembic(url, connect, "upgrade", BASELINE)
    with pytest.raises(SchemaOutOfDate):
        prepare_schema(connect(url), upgrade=False)
    prepare_schema(connect(url), upgrade=True)
    assert migrate.current_revision(url) == HEAD


def test_a_database_from_a_newer_release_is_refused(new_database, connect):
    engine = connect(new_database())
    prepare_schema(engine, upgrade=False)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(SchemaTooNew, match="9999"):
        prepare_schema(engine, upgrade=True)


# -- the command line ------------------------------------------------------------------------------

def test_db_upgrade_upgrades_the_configured_database(new_database, connect):
    url = new_database(password="hunter2")
    old_release_database(url, connect)
    env = {"ESCALATOR_DATABASE_URL": url}
    before = _cli(env, "db", "current")
    upgraded = _cli(env, "db", "upgrade")
    after = _cli(env, "db", "current")
    assert (before.exit_code, before.stdout.strip()) == (0, BASELINE)
    assert "escalator db upgrade" in before.stderr
    assert upgraded.exit_code == 0 and f"is at schema revision {HEAD}" in upgraded.stdout
    assert "hunter2" not in upgraded.stdout
    assert (after.stdout.strip(), after.stderr) == (HEAD, "")


def test_db_upgrade_creates_the_embedded_database_in_the_data_directory(tmp_path):
    data = tmp_path / "fresh" / "data"
    result = _cli({"ESCALATOR_DATA_DIR": str(data), "ESCALATOR_DATABASE_URL": ""}, "db", "upgrade")
    assert result.exit_code == 0, result.output
    assert migrate.current_revision(f"sqlite:///{data}/escalator.db") == HEAD


def test_db_upgrade_refuses_a_database_from_a_newer_release(new_database, connect):
    url = new_database()
    migrate.upgrade(url)
    with connect(url).begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    result = _cli({"ESCALATOR_DATABASE_URL": url}, "db", "upgrade")
    assert result.exit_code == 1 and "9999" in result.stderr and "newer release" in result.stderr


def _cli(env: dict, *args: str):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
