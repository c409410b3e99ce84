"""Users, their events and the record of imported files.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(128), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("item_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("kind IN ('view', 'like', 'dislike', 'rating', 'cart', 'purchase')", name="event_kind"),
        sa.CheckConstraint("kind != 'rating' OR (value >= 1 AND value <= 5)", name="rating_value"),
    )
    op.create_index("events_user_time", "events", ["user_id", "timestamp"])
    op.create_index("ix_events_item_id", "events", ["item_id"])
    op.create_index("ix_events_timestamp", "events", ["timestamp"])
    op.create_table(
        "event_imports",
        sa.Column("digest", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(1024), nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("event_imports")
    op.drop_index("ix_events_timestamp", "events")
    op.drop_index("ix_events_item_id", "events")
    op.drop_index("events_user_time", "events")
    op.drop_table("events")
    op.drop_table("users")
