"""hardening: sidecar manifests, signed copy size, API key scopes, verified-wallets strategy,
idempotency keys

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 23:59:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


OLD_STRATEGIES = "('one-wallet-one-vote', 'erc20', 'ledger', 'quadratic')"
NEW_STRATEGIES = "('one-wallet-one-vote', 'verified-wallets', 'erc20', 'ledger', 'quadratic')"


def upgrade() -> None:
    op.create_table(
        "idempotency_keys",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("key", sa.String(length=255), nullable=False),
        sa.Column("request", sa.String(length=64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("response", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("user_id", "key", name=op.f("pk_idempotency_keys")),
    )
    op.create_index(
        op.f("ix_idempotency_keys_created_at"), "idempotency_keys", ["created_at"], unique=False
    )
    op.drop_constraint(op.f("ck_proposals_known_strategy"), "proposals", type_="check")
    op.create_check_constraint(
        op.f("ck_proposals_known_strategy"), "proposals", f"strategy IN {NEW_STRATEGIES}"
    )
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
    op.drop_index(op.f("ix_idempotency_keys_created_at"), table_name="idempotency_keys")
    op.drop_table("idempotency_keys")
    op.drop_constraint(op.f("ck_proposals_known_strategy"), "proposals", type_="check")
    op.create_check_constraint(
        op.f("ck_proposals_known_strategy"), "proposals", f"strategy IN {OLD_STRATEGIES}"
    )
    op.drop_constraint(op.f("ck_api_keys_known_scope"), "api_keys", type_="check")
    op.drop_column("api_keys", "scope")
    op.drop_column("provenance_records", "sidecar_storage_key")
    op.drop_column("provenance_records", "signed_size_bytes")
