"""economy: pledges, payout accounts

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01 05:46:14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "economy_payout_accounts",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("provider", sa.String(length=20), nullable=False),
        sa.Column("destination", sa.String(length=100), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_economy_payout_accounts_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_economy_payout_accounts")),
    )
    op.create_table(
        "economy_pledges",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("message", sa.String(length=500), nullable=False),
        sa.Column(
            "state", sa.String(length=10), server_default=sa.text("'pledged'"), nullable=False
        ),
        sa.Column("transaction_id", sa.UUID(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("amount > 0", name=op.f("ck_economy_pledges_positive_amount")),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["money_transactions.id"],
            name=op.f("fk_economy_pledges_transaction_id_money_transactions"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_economy_pledges_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_economy_pledges")),
    )
    op.create_index(
        op.f("ix_economy_pledges_user_id"), "economy_pledges", ["user_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_economy_pledges_user_id"), table_name="economy_pledges")
    op.drop_table("economy_pledges")
    op.drop_table("economy_payout_accounts")
