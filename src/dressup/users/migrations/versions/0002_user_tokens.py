"""Access tokens for users registered over the REST API (stored as SHA-256 digests, never in clear).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # plain ALTER TABLE: a batch rebuild of "users" would cascade-delete every event on SQLite
    op.add_column("users", sa.Column("token_digest", sa.String(64), nullable=True))
    op.create_index("ix_users_token_digest", "users", ["token_digest"], unique=True)


def downgrade() -> None:
    op.drop_index("ix_users_token_digest", "users")
    op.drop_column("users", "token_digest")
