"""Alembic revisions of the store's schema; applied through `plugin.store.migrate`."""
