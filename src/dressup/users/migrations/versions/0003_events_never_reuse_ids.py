"""SQLite: event ids are never reused (AUTOINCREMENT), as PostgreSQL's are not, so that (number of events, largest
id) changes with every write: deleting a user's newest events and adding as many no longer looks like no change.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

EVENT_KINDS = ("view", "like", "dislike", "rating", "cart", "purchase")


def events_table(autoincrement: bool) -> sa.Table:
    """The events table as migration 0001 made it, with or without SQLite's AUTOINCREMENT."""
    return sa.Table(
        "events", sa.MetaData(),
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(128), sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("item_id", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(f"kind IN ({', '.join(repr(k) for k in EVENT_KINDS)})", name="event_kind"),
        sa.CheckConstraint("kind != 'rating' OR (value >= 1 AND value <= 5)", name="rating_value"),
        sa.Index("events_user_time", "user_id", "timestamp"),
        sa.Index("ix_events_item_id", "item_id"),
        sa.Index("ix_events_timestamp", "timestamp"),
        sqlite_autoincrement=autoincrement,
    )


def rebuild(autoincrement: bool) -> None:
    if op.get_bind().dialect.name != "sqlite":  # PostgreSQL's sequences never hand out an id twice
        return
    # a copy of the table, in the migration's transaction: nothing references events, so nothing cascades
    with op.batch_alter_table("events", recreate="always", copy_from=events_table(not autoincrement),
                              table_kwargs={"sqlite_autoincrement": autoincrement}):
        pass


def upgrade() -> None:
    rebuild(autoincrement=True)


def downgrade() -> None:
    rebuild(autoincrement=False)
