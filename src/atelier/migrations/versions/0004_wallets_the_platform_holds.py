"""wallets the platform holds

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21 16:56:39.971743
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("wallets", sa.Column("sealed_key", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("wallets", "sealed_key")
