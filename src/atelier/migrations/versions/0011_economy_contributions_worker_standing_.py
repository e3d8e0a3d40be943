"""economy: contributions, worker standing, closed months, shares, payouts

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 05:34:30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# What a month's close decided is history: contributions, closes, pools and shares are never
# changed (payouts are not history: their state moves).
FACTS = ("economy_contributions", "economy_months", "economy_month_pools", "economy_shares")


def upgrade() -> None:
    op.create_table(
        "economy_contributions",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("artifact_id", sa.UUID(), nullable=False),
        sa.Column("worker_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("units > 0", name=op.f("ck_economy_contributions_positive_units")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_economy_contributions")),
        sa.UniqueConstraint("artifact_id", name=op.f("uq_economy_contributions_artifact_id")),
    )
    op.create_index(
        "ix_economy_contributions_month_worker",
        "economy_contributions",
        ["month", "worker_id"],
        unique=False,
    )
    op.create_table(
        "economy_months",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column(
            "closed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("contributors", sa.Integer(), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("split_bp", postgresql.ARRAY(sa.Integer()), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("month", name=op.f("pk_economy_months")),
    )
    op.create_table(
        "economy_shares",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("worker_id", sa.UUID(), nullable=False),
        sa.Column("worker_name", sa.String(length=100), nullable=False),
        sa.Column("units", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("escrowed", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("month", "currency", "worker_id", name=op.f("pk_economy_shares")),
    )
    op.create_table(
        "economy_workers",
        sa.Column("worker_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("canaries_passed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("canaries_failed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("flagged_reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("worker_id", name=op.f("pk_economy_workers")),
    )
    op.create_index(
        op.f("ix_economy_workers_owner_id"), "economy_workers", ["owner_id"], unique=False
    )
    op.create_table(
        "economy_month_pools",
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("pool", sa.BigInteger(), nullable=False),
        sa.Column("workers", sa.BigInteger(), nullable=False),
        sa.Column("infrastructure", sa.BigInteger(), nullable=False),
        sa.Column("development", sa.BigInteger(), nullable=False),
        sa.Column("escrowed", sa.BigInteger(), nullable=False),
        sa.Column("transaction_id", sa.UUID(), nullable=True),
        sa.ForeignKeyConstraint(
            ["month"],
            ["economy_months.month"],
            name=op.f("fk_economy_month_pools_month_economy_months"),
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["money_transactions.id"],
            name=op.f("fk_economy_month_pools_transaction_id_money_transactions"),
        ),
        sa.PrimaryKeyConstraint("month", "currency", name=op.f("pk_economy_month_pools")),
    )
    op.create_table(
        "economy_payouts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("worker_id", sa.UUID(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column(
            "state", sa.String(length=10), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("provider", sa.String(length=20), nullable=True),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("transaction_id", sa.UUID(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_economy_payouts_positive_amount")),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["money_transactions.id"],
            name=op.f("fk_economy_payouts_transaction_id_money_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_economy_payouts")),
        sa.UniqueConstraint(
            "month", "currency", "worker_id", name=op.f("uq_economy_payouts_month")
        ),
    )
    op.create_index(
        op.f("ix_economy_payouts_owner_id"), "economy_payouts", ["owner_id"], unique=False
    )
    for table in FACTS:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION money_append_only()"
        )


def downgrade() -> None:
    for table in FACTS:
        op.execute(f"DROP TRIGGER {table}_append_only ON {table}")
    op.drop_index(op.f("ix_economy_payouts_owner_id"), table_name="economy_payouts")
    op.drop_table("economy_payouts")
    op.drop_table("economy_month_pools")
    op.drop_index(op.f("ix_economy_workers_owner_id"), table_name="economy_workers")
    op.drop_table("economy_workers")
    op.drop_table("economy_shares")
    op.drop_table("economy_months")
    op.drop_index("ix_economy_contributions_month_worker", table_name="economy_contributions")
    op.drop_table("economy_contributions")
