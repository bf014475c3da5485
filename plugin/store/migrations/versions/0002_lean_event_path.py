"""lean event path: deliveries are stored first and decided later; tickets carry a version; timers a next_at

Revision ID: 0002
Revises: 0001
Create Date: 2026-01-12
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

RECEIVED = sa.text("status = 'received'")

deliveries = sa.table("deliveries", sa.column("status", sa.String), sa.column("received_at", sa.DateTime),
                      sa.column("decided_at", sa.DateTime))
timers = sa.table("timers", sa.column("state", sa.String), sa.column("due_at", sa.DateTime),
                  sa.column("warn_at", sa.DateTime), sa.column("warned", sa.Boolean),
                  sa.column("next_at", sa.DateTime))


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("decided_at", sa.DateTime(), nullable=True))
    # Before this revision a delivery was decided (or ignored) in the request that stored it.
    op.execute(deliveries.update().where(deliveries.c.status == "accepted")
               .values(status="decided", decided_at=deliveries.c.received_at))
    op.execute(deliveries.update().where(deliveries.c.status == "ignored")
               .values(decided_at=deliveries.c.received_at))
    op.create_index("ix_deliveries_received", "deliveries", ["id"], sqlite_where=RECEIVED, postgresql_where=RECEIVED)
    with op.batch_alter_table("tickets") as batch:
        batch.add_column(sa.Column("version", sa.Integer(), nullable=False, server_default="0"))
    with op.batch_alter_table("timers") as batch:
        batch.add_column(sa.Column("next_at", sa.DateTime(), nullable=True))
        batch.create_index("ix_timers_next_at", ["next_at"])
    op.execute(timers.update().where(timers.c.state == "running").values(next_at=_next_wakeup()))


def _next_wakeup():
    # A running timer next wakes for its warning if that is still to come, else when it is due.
    pending_warning = sa.and_(timers.c.warn_at.is_not(None), sa.not_(timers.c.warned))
    return sa.case((pending_warning, timers.c.warn_at), else_=timers.c.due_at)


def downgrade() -> None:
    with op.batch_alter_table("timers") as batch:
        batch.drop_index("ix_timers_next_at")
        batch.drop_column("next_at")
    with op.batch_alter_table("tickets") as batch:
        batch.drop_column("version")
    op.drop_index("ix_deliveries_received", table_name="deliveries")
    # The previous release knows only `accepted`; it will not decide a delivery still `received`.
    op.execute(deliveries.update().where(deliveries.c.status.in_(["received", "decided"]))
               .values(status="accepted"))
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("decided_at")
