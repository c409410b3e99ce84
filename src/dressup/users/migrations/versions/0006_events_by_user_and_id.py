"""A user's newest event id is read from an index: a feed checks it on every request to know whether what it kept of
the user's events still holds, at the same cost for a user with a handful of events as for one with 100,000.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("events_user_id", "events", ["user_id", "id"])


def downgrade() -> None:
    op.drop_index("events_user_id", table_name="events")
