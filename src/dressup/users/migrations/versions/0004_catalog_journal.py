"""The catalog journal: acknowledged changes to a store's catalog, applied on top of its base generation.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "catalog_changes",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("store", sa.String(64), nullable=False),
        sa.Column("item_id", sa.String(128), nullable=False),
        sa.Column("operation", sa.String(8), nullable=False),
        sa.Column("record", sa.Text, nullable=True),
        sa.Column("embedding", sa.LargeBinary, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index("catalog_changes_store_seq", "catalog_changes", ["store", "seq"])


def downgrade() -> None:
    op.drop_index("catalog_changes_store_seq", "catalog_changes")
    op.drop_table("catalog_changes")
