"""hardening: sidecar manifests, signed copy size, API key scopes

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 23:59:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "api_keys",
        sa.Column("scope", sa.String(length=10), server_default=sa.text("'full'"), nullable=False),
    )
    op.create_check_constraint(
        op.f("ck_api_keys_known_scope"), "api_keys", "scope IN ('full', 'worker')"
    )
    op.add_column(
        "provenance_records", sa.Column("signed_size_bytes", sa.BigInteger(), nullable=True)
    )
    op.add_column(
        "provenance_records",
        sa.Column("sidecar_storage_key", sa.String(length=200), nullable=True),
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_api_keys_known_scope"), "api_keys", type_="check")
    op.drop_column("api_keys", "scope")
    op.drop_column("provenance_records", "sidecar_storage_key")
    op.drop_column("provenance_records", "signed_size_bytes")
