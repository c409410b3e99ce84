"""Access tokens expire: each token's expiry time. Tokens issued before this migration expire 90 days after it.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE: a batch rebuild of "users" would cascade-delete every event on SQLite
    op.add_column("users", sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True))
    users = sa.table("users", sa.column("token_digest", sa.String), sa.column("token_expires_at", sa.DateTime(timezone=True)))
    op.execute(users.update().where(users.c.token_digest.is_not(None))
               .values(token_expires_at=datetime.now(UTC) + timedelta(days=90)))


def downgrade() -> None:
    op.drop_column("users", "token_expires_at")
