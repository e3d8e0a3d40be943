"""money ledger: the balance check once per statement and transaction, not per posting

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-01 06:00:00

The check of 0009 ran for every posting row and summed all of its transaction's postings:
quadratic in a transaction's size (a month's distribution to 10,000 workers is one
transaction of 10,000 postings: 10^8 rows read at commit). Now a statement-level trigger
checks the transactions a statement wrote postings for, once each, from its transition
table (a transaction's postings are written in one statement, as `money.record` does), and
a deferred trigger on the transaction checks at commit that it has postings at all.
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

BALANCED = """
CREATE FUNCTION money_postings_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    unbalanced uuid;
BEGIN
    SELECT t.transaction_id INTO unbalanced
    FROM (
        SELECT p.transaction_id, p.currency, sum(p.amount) AS total,
               sum(count(*)) OVER (PARTITION BY p.transaction_id) AS postings
        FROM money_postings p
        WHERE p.transaction_id IN (SELECT DISTINCT transaction_id FROM inserted)
        GROUP BY p.transaction_id, p.currency
    ) t
    WHERE t.total <> 0 OR t.postings < 2
    LIMIT 1;
    IF unbalanced IS NOT NULL THEN
        RAISE EXCEPTION 'money transaction % does not balance', unbalanced
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER money_postings_balanced AFTER INSERT ON money_postings
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION money_postings_balanced();

CREATE FUNCTION money_transaction_posted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT count(*) FROM money_postings WHERE transaction_id = NEW.id) < 2 THEN
        RAISE EXCEPTION 'money transaction % does not balance: it has no postings', NEW.id
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER money_transactions_posted AFTER INSERT ON money_transactions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION money_transaction_posted();
"""

PER_ROW = """
CREATE CONSTRAINT TRIGGER money_postings_balanced AFTER INSERT ON money_postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION money_balanced();
"""


def upgrade() -> None:
    op.execute("DROP TRIGGER money_postings_balanced ON money_postings")
    op.execute(BALANCED)


def downgrade() -> None:
    op.execute("DROP TRIGGER money_transactions_posted ON money_transactions")
    op.execute("DROP FUNCTION money_transaction_posted()")
    op.execute("DROP TRIGGER money_postings_balanced ON money_postings")
    op.execute("DROP FUNCTION money_postings_balanced()")
    op.execute(PER_ROW)
