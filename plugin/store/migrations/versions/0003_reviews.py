"""after-action reviews: a review per significant ticket, and its action items

Revision ID: 0003
Revises: 0002
Create Date: 2026-02-02
"""
import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

OPEN = sa.text("status = 'open'")


def upgrade() -> None:
    # Tickets that were already significant get their review at their next logged decision.
    op.create_table(
        "reviews",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("platform", sa.String(16), nullable=False),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("trigger", sa.Text(), nullable=False),
        sa.Column("matrix_version", sa.String(32), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.Column("frozen", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("final_at", sa.DateTime(), nullable=True),
        sa.UniqueConstraint("platform", "key", name="uq_review_ticket"),
    )
    op.create_index("ix_reviews_status", "reviews", ["status"])
    op.create_table(
        "review_actions",
        sa.Column("review_id", sa.Integer(), primary_key=True),
        sa.Column("number", sa.Integer(), primary_key=True),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("owner", sa.String(64), nullable=False),
        sa.Column("due_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("link", sa.String(500), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("closed_at", sa.DateTime(), nullable=True),
        sa.Column("last_reminded_at", sa.DateTime(), nullable=True),
    )
    op.create_index("ix_review_actions_open_due", "review_actions", ["due_at"], sqlite_where=OPEN,
                    postgresql_where=OPEN)


def downgrade() -> None:
    op.drop_index("ix_review_actions_open_due", table_name="review_actions")
    op.drop_table("review_actions")
    op.drop_index("ix_reviews_status", table_name="reviews")
    op.drop_table("reviews")
