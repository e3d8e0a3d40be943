"""money ledger: accounts, transactions and postings; append-only and balanced by the database

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-01 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

# Postings and transactions are never changed: corrections are reversing transactions.
APPEND_ONLY = """
CREATE FUNCTION money_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the money ledger is append-only: % on % refused', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'raise_exception';
END $$;
CREATE TRIGGER money_postings_append_only BEFORE UPDATE OR DELETE ON money_postings
    FOR EACH ROW EXECUTE FUNCTION money_append_only();
CREATE TRIGGER money_transactions_append_only BEFORE UPDATE OR DELETE ON money_transactions
    FOR EACH ROW EXECUTE FUNCTION money_append_only();
"""

# Checked when the writing transaction commits, whatever wrote the rows: every transaction's
# postings sum to zero in each currency, and it has at least two.
BALANCED = """
CREATE FUNCTION money_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM money_postings WHERE transaction_id = NEW.transaction_id
        GROUP BY currency HAVING sum(amount) <> 0
    ) OR (SELECT count(*) FROM money_postings WHERE transaction_id = NEW.transaction_id) < 2
    THEN
        RAISE EXCEPTION 'money transaction % does not balance', NEW.transaction_id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER money_postings_balanced AFTER INSERT ON money_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION money_balanced();
"""


def upgrade() -> None:
    op.create_table(
        "money_accounts",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=12), nullable=False),
        sa.Column(
            "opened_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_money_accounts")),
        sa.UniqueConstraint("name", name=op.f("uq_money_accounts_name")),
    )
    op.create_table(
        "money_transactions",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("source", sa.String(length=200), nullable=True),
        sa.Column("reverses_id", sa.UUID(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["reverses_id"],
            ["money_transactions.id"],
            name=op.f("fk_money_transactions_reverses_id_money_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_money_transactions")),
        sa.UniqueConstraint("reverses_id", name=op.f("uq_money_transactions_reverses_id")),
        sa.UniqueConstraint("source", name=op.f("uq_money_transactions_source")),
    )
    op.create_table(
        "money_postings",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("transaction_id", sa.UUID(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.CheckConstraint("amount <> 0", name=op.f("ck_money_postings_nonzero")),
        sa.CheckConstraint("currency ~ '^[A-Z]{3}$'", name=op.f("ck_money_postings_currency_code")),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["money_accounts.id"],
            name=op.f("fk_money_postings_account_id_money_accounts"),
        ),
        sa.ForeignKeyConstraint(
            ["transaction_id"],
            ["money_transactions.id"],
            name=op.f("fk_money_postings_transaction_id_money_transactions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_money_postings")),
    )
    op.create_index(
        "ix_money_postings_account", "money_postings", ["account_id", "currency"], unique=False
    )
    op.create_index(
        op.f("ix_money_postings_transaction_id"),
        "money_postings",
        ["transaction_id"],
        unique=False,
    )
    op.execute(APPEND_ONLY)
    op.execute(BALANCED)


def downgrade() -> None:
    op.execute("DROP TRIGGER money_postings_balanced ON money_postings")
    op.execute("DROP TRIGGER money_postings_append_only ON money_postings")
    op.execute("DROP TRIGGER money_transactions_append_only ON money_transactions")
    op.execute("DROP FUNCTION money_balanced()")
    op.execute("DROP FUNCTION money_append_only()")
    op.drop_table("money_postings")
    op.drop_table("money_transactions")
    op.drop_table("money_accounts")
