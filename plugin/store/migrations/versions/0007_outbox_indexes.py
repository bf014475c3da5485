"""outbox indexes a backlog does not slow: due rows in order, and one ticket's unfinished rows

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07
"""
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at", "id"])
    op.create_index("ix_outbox_ticket", "outbox", ["key", "platform", "status", "next_attempt_at"])
    op.drop_index("ix_outbox_status", table_name="outbox")     # both are prefixes of the new ones
    op.drop_index("ix_outbox_key", table_name="outbox")


def downgrade() -> None:
    op.create_index("ix_outbox_key", "outbox", ["key"])
    op.create_index("ix_outbox_status", "outbox", ["status"])
    op.drop_index("ix_outbox_ticket", table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
