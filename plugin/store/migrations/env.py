"""Alembic's entry point: runs the revisions on the connection `plugin.store.migrate` hands over."""
from alembic import context
from sqlalchemy import create_engine

from plugin.store.schema import metadata


def run(connection) -> None:
    # SQLite alters little in place; batch mode rebuilds a table when a change needs it.
    context.configure(connection=connection, target_metadata=metadata,
                      render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_with_url(url: str) -> None:
    # Only the plain `alembic` command takes this path (writing a revision); the service passes a connection.
    engine = create_engine(url)
    try:
        with engine.begin() as connection:
            run(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise SystemExit("offline (--sql) migrations are not supported; run `escalator db upgrade`")
connection = context.config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    run_with_url(context.config.get_main_option("sqlalchemy.url"))
