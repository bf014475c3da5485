"""Revision 0003 adds the review tables on top of 0002, on SQLite and PostgreSQL, and takes them away again."""
from sqlalchemy import inspect, select

from plugin.store import migrate, schema

from .test_migrations import alembic, connect, new_database, old_release_database, old_rows  # noqa: F401

REVIEW_TABLES = {"reviews", "review_actions"}


def test_revision_0003_follows_0002():
    script = migrate._scripts().get_revision("0003")
    assert (script.revision, script.down_revision) == ("0003", "0002")


def test_a_database_at_0002_gains_the_review_tables_with_every_row_intact(new_database, connect):  # noqa: F811
    url = new_database()
    old_release_database(url, connect)
    alembic(url, connect, "stamp", migrate.BASELINE)
    alembic(url, connect, "upgrade", "0002")
    before = old_rows(url, connect)
    assert not REVIEW_TABLES & set(inspect(connect(url)).get_table_names())

    alembic(url, connect, "upgrade", "0003")

    assert set(inspect(connect(url)).get_table_names()) >= REVIEW_TABLES
    assert old_rows(url, connect) == before
    with connect(url).connect() as conn:
        assert conn.execute(select(schema.reviews)).all() == []
        assert conn.execute(select(schema.review_actions)).all() == []
    indexes = {i["name"] for i in inspect(connect(url)).get_indexes("review_actions")}
    assert "ix_review_actions_open_due" in indexes


def test_a_downgrade_from_0003_drops_only_the_review_tables(new_database, connect):  # noqa: F811
    url = new_database()
    old_release_database(url, connect)
    alembic(url, connect, "stamp", migrate.BASELINE)
    alembic(url, connect, "upgrade", "0003")
    before = old_rows(url, connect)
    alembic(url, connect, "downgrade", "0002")
    tables = set(inspect(connect(url)).get_table_names())
    assert not REVIEW_TABLES & tables and {"tickets", "escalation_log", "outbox"} <= tables
    assert old_rows(url, connect) == before
