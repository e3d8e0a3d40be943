"""governance proposals votes chain logs ledger

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21 19:05:49.334983
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chain_blocks",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("number", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.String(length=66), nullable=False),
        sa.Column(
            "read_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("chain_id", "contract", "number", name=op.f("pk_chain_blocks")),
    )
    op.create_table(
        "chain_logs",
        sa.Column("chain_id", sa.BigInteger(), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=False),
        sa.Column("log_index", sa.Integer(), nullable=False),
        sa.Column("contract", sa.String(length=42), nullable=False),
        sa.Column("block_number", sa.BigInteger(), nullable=False),
        sa.Column("block_hash", sa.String(length=66), nullable=False),
        sa.Column("event", sa.String(length=60), nullable=False),
        sa.Column("args", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "read_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.PrimaryKeyConstraint("chain_id", "tx_hash", "log_index", name=op.f("pk_chain_logs")),
    )
    op.create_index(
        op.f("ix_chain_logs_block_number"), "chain_logs", ["block_number"], unique=False
    )
    op.create_index(op.f("ix_chain_logs_contract"), "chain_logs", ["contract"], unique=False)
    op.create_table(
        "ledger_entries",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("wallet", sa.String(length=64), nullable=False),
        sa.Column("amount", sa.Numeric(precision=78, scale=0), nullable=False),
        sa.Column("memo", sa.String(length=200), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ledger_entries")),
    )
    op.create_index(
        "ix_ledger_entries_wallet_at", "ledger_entries", ["wallet", "created_at"], unique=False
    )
    op.create_table(
        "proposals",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("job_id", sa.UUID(), nullable=True),
        sa.Column("author_id", sa.UUID(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("chain_key", sa.LargeBinary(length=32), nullable=False),
        sa.Column("choices", postgresql.ARRAY(sa.String(length=40)), nullable=False),
        sa.Column("strategy", sa.String(length=30), nullable=False),
        sa.Column(
            "strategy_params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("snapshot_block", sa.BigInteger(), nullable=True),
        sa.Column("snapshot_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("quorum", sa.Numeric(), server_default="0", nullable=False),
        sa.Column("majority", sa.String(length=20), server_default="simple", nullable=False),
        sa.Column(
            "allow_vote_change", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("chain_status", sa.String(length=10), server_default="off", nullable=False),
        sa.Column("chain_vote_end", sa.DateTime(timezone=True), nullable=True),
        sa.Column("chain_outcome", sa.String(length=10), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "chain_status IN ('off', 'pending', 'mirrored')", name=op.f("ck_proposals_chain_status")
        ),
        sa.CheckConstraint(
            "majority IN ('simple', 'two-thirds')", name=op.f("ck_proposals_known_majority")
        ),
        sa.CheckConstraint(
            "strategy IN ('one-wallet-one-vote', 'erc20', 'ledger', 'quadratic')",
            name=op.f("ck_proposals_known_strategy"),
        ),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_proposals_window_order")),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_proposals_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["job_id"],
            ["grid_requests.id"],
            name=op.f("fk_proposals_job_id_grid_requests"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_proposals")),
        sa.UniqueConstraint("chain_key", name=op.f("uq_proposals_chain_key")),
        sa.UniqueConstraint("job_id", name=op.f("uq_proposals_job_id")),
    )
    op.create_index(op.f("ix_proposals_author_id"), "proposals", ["author_id"], unique=False)
    op.create_index(op.f("ix_proposals_ends_at"), "proposals", ["ends_at"], unique=False)
    op.create_table(
        "votes",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("proposal_id", sa.UUID(), nullable=False),
        sa.Column("voter", sa.String(length=42), nullable=False),
        sa.Column("choice", sa.String(length=40), nullable=False),
        sa.Column("reason", sa.Text(), server_default="", nullable=False),
        sa.Column("signed_timestamp", sa.BigInteger(), nullable=True),
        sa.Column("signature", sa.String(length=132), nullable=True),
        sa.Column("power", sa.Numeric(), nullable=False),
        sa.Column("source", sa.String(length=10), server_default="offchain", nullable=False),
        sa.Column("relay_status", sa.String(length=10), server_default="off", nullable=False),
        sa.Column("relay_tx_hash", sa.String(length=66), nullable=True),
        sa.Column("relay_error", sa.String(length=200), nullable=True),
        sa.Column("chain_tx_hash", sa.String(length=66), nullable=True),
        sa.Column("chain_block", sa.BigInteger(), nullable=True),
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
        sa.CheckConstraint(
            "relay_status IN ('off', 'pending', 'sent', 'confirmed', 'failed')",
            name=op.f("ck_votes_relay_status"),
        ),
        sa.CheckConstraint("source IN ('offchain', 'chain')", name=op.f("ck_votes_vote_source")),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_votes_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_votes")),
        sa.UniqueConstraint("proposal_id", "voter", name="one_vote_per_voter"),
    )
    op.create_index(
        "ix_votes_relay_pending",
        "votes",
        ["proposal_id"],
        unique=False,
        postgresql_where=sa.text("relay_status = 'pending'"),
    )
    op.create_index(
        "ix_votes_tally",
        "votes",
        ["proposal_id", "choice"],
        unique=False,
        postgresql_include=["power"],
    )


def downgrade() -> None:
    op.drop_index("ix_votes_tally", table_name="votes", postgresql_include=["power"])
    op.drop_index(
        "ix_votes_relay_pending",
        table_name="votes",
        postgresql_where=sa.text("relay_status = 'pending'"),
    )
    op.drop_table("votes")
    op.drop_index(op.f("ix_proposals_ends_at"), table_name="proposals")
    op.drop_index(op.f("ix_proposals_author_id"), table_name="proposals")
    op.drop_table("proposals")
    op.drop_index("ix_ledger_entries_wallet_at", table_name="ledger_entries")
    op.drop_table("ledger_entries")
    op.drop_index(op.f("ix_chain_logs_contract"), table_name="chain_logs")
    op.drop_index(op.f("ix_chain_logs_block_number"), table_name="chain_logs")
    op.drop_table("chain_logs")
    op.drop_table("chain_blocks")
