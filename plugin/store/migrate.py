"""Schema revisions: created fresh, upgraded at start or by `escalator db upgrade`, or refused when behind."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import Connection, Engine

from ..domain.errors import EscalatorError
from ..settings import mask_password
from . import drills, simulation_runs, users  # noqa: F401  (their tables are part of the schema)
from .schema import metadata

BASELINE = "0001"   # what every release before migrations made with `metadata.create_all`
_LOCK = 0x65736361  # the PostgreSQL advisory lock every process takes while it checks or changes the schema


class SchemaOutOfDate(EscalatorError):
    """The database is at an older revision than the code needs."""


class SchemaTooNew(EscalatorError):
    """The database was migrated by a newer release than this one."""


def config() -> Config:
    """Alembic's configuration, built in code so that no alembic.ini has to ship."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).with_name("migrations")))
    return cfg


@cache
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


HEAD: str = _scripts().get_current_head()


def current_revision(engine_or_url: Engine | str) -> str | None:
    """The database's revision, None when it is empty; unversioned tables count as the revision they match."""
    with _engine_for(engine_or_url) as engine, engine.connect() as conn:
        return _versioned(conn) or _unversioned(conn)


def upgrade(engine_or_url: Engine | str) -> str:
    """Bring the database to HEAD (creating the schema if it is empty); returns HEAD."""
    with _engine_for(engine_or_url) as engine:
        prepare_schema(engine, upgrade=True)
    return HEAD


def prepare_schema(engine: Engine, *, upgrade: bool) -> None:
    """Make the schema HEAD: create it when empty, else upgrade it or raise SchemaOutOfDate."""
    with engine.begin() as conn:
        _serialize(conn)
        versioned = _versioned(conn)
        current = versioned or _unversioned(conn)
        if current is None:
            _create(conn)
            return
        _check_known(conn, current)
        if current != HEAD and not upgrade:
            raise SchemaOutOfDate(f"the database {_shown(conn)} is at schema revision {current}; this release "
                                  f"needs {HEAD}: run `escalator db upgrade`")
        if versioned is None:
            _context(conn).stamp(_scripts(), current)
        if current != HEAD:
            _upgrade(conn)


def _versioned(conn: Connection) -> str | None:
    return _context(conn).get_current_revision()


def _unversioned(conn: Connection) -> str | None:
    # Our tables without a version table were made by create_all: by a release before migrations,
    # or by code at HEAD that was never stamped (then they already match the metadata).
    if not set(inspect(conn).get_table_names()) & set(metadata.tables):
        return None
    return BASELINE if compare_metadata(_context(conn), metadata) else HEAD


def _context(conn: Connection) -> MigrationContext:
    # Tables that are not ours (another application's, in a shared database) are no difference.
    return MigrationContext.configure(conn, opts={"include_name": _ours})


def _ours(name, type_, _parents) -> bool:
    return type_ != "table" or name in metadata.tables


def _create(conn: Connection) -> None:
    # Straight to HEAD: replaying every revision would slow down each fresh test database.
    metadata.create_all(conn, checkfirst=False)
    _context(conn).stamp(_scripts(), HEAD)


def _upgrade(conn: Connection) -> None:
    cfg = config()
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, HEAD)


def _check_known(conn: Connection, current: str) -> None:
    if current != HEAD and current not in {script.revision for script in _scripts().walk_revisions()}:
        raise SchemaTooNew(f"the database {_shown(conn)} is at schema revision {current}, which this release "
                           f"(at {HEAD}) does not know: it was upgraded by a newer release")


def _serialize(conn: Connection) -> None:
    # Two processes starting on one empty database must not both create it. SQLite's store engine
    # begins with BEGIN IMMEDIATE, which already serializes; PostgreSQL needs a lock.
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK})


def _shown(conn: Connection) -> str:
    return mask_password(conn.engine.url.render_as_string(hide_password=False))


@contextmanager
def _engine_for(target: Engine | str) -> Iterator[Engine]:
    if isinstance(target, Engine):
        yield target
        return
    engine = create_engine(target)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_autocommit_driver)
        event.listen(engine, "begin", _sqlite_begin)
    try:
        yield engine
    finally:
        engine.dispose()


def _sqlite_autocommit_driver(dbapi_connection, _record) -> None:
    # pysqlite begins a transaction only before DML, so DDL would run outside it; an upgrade must be
    # all or nothing, so SQLAlchemy's BEGIN takes over.
    dbapi_connection.isolation_level = None


def _sqlite_begin(conn) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")
