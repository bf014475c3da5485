"""What a commit means: on SQLite and on PostgreSQL it is on disk before intake answers 202 or the
outbox records a write-back as sent (docs/RELIABILITY.md, "Durability")."""
from sqlalchemy import make_url

from plugin.store.sql import SqlStore

from .conftest import postgres_admin, scratch_postgres


def test_sqlite_writes_ahead_and_syncs_every_commit(tmp_path):
    store = SqlStore(f"sqlite:///{tmp_path}/escalator.db")
    with store.engine.connect() as conn:
        modes = [conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in ("journal_mode", "synchronous")]
    store.dispose()
    assert modes == ["wal", 2]        # 2 is FULL: NORMAL may lose the last commits on a power loss


def test_postgresql_commits_synchronously_even_where_the_database_says_otherwise():
    with scratch_postgres("escalator_durable") as url:
        postgres_admin(f'ALTER DATABASE "{make_url(url).database}" SET synchronous_commit = off')
        store = SqlStore(url)
        with store.engine.connect() as conn:
            setting = conn.exec_driver_sql("SHOW synchronous_commit").scalar()
        store.dispose()
    assert setting == "on"
