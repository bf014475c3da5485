"""drill sessions: drills played through the API, and the trainees' history of finished drills

Revision ID: 0004
Revises: 0003
Create Date: 2026-01-20
"""
import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "drill_sessions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("scenario", sa.String(200), nullable=False),
        sa.Column("trainees", sa.JSON(), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("speed", sa.Float(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("offset_seconds", sa.Float(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("result", sa.JSON(), nullable=True),
        sa.Column("finished_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_drill_sessions_finished_at", "drill_sessions", ["finished_at"])


def downgrade() -> None:
    op.drop_index("ix_drill_sessions_finished_at", table_name="drill_sessions")
    op.drop_table("drill_sessions")
