"""realtime: who may see an outbox event, and a NOTIFY at its commit

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-02 13:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

# The row itself when it fits in a notification (PostgreSQL's limit is 8000 bytes), else
# its id: listeners read the large ones back (core/realtime.py).
NOTIFY_FUNCTION = """
CREATE FUNCTION atelier_notify_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    body text;
BEGIN
    body := json_build_object(
        'id', NEW.id, 'topic', NEW.topic, 'audience', NEW.audience, 'payload', NEW.payload
    )::text;
    IF octet_length(body) > 7000 THEN
        body := json_build_object('id', NEW.id)::text;
    END IF;
    PERFORM pg_notify('atelier_events', body);
    RETURN NULL;
END
$$
"""
NOTIFY_TRIGGER = """
CREATE TRIGGER outbox_events_notify AFTER INSERT ON outbox_events
FOR EACH ROW WHEN (cardinality(NEW.audience) > 0)
EXECUTE FUNCTION atelier_notify_event()
"""


def upgrade() -> None:
    op.add_column(
        "outbox_events",
        sa.Column(
            "audience",
            postgresql.ARRAY(sa.String(length=100)),
            server_default=sa.text("'{}'::varchar[]"),
            nullable=False,
        ),
    )
    op.create_index(
        "ix_outbox_events_visible",
        "outbox_events",
        ["id"],
        unique=False,
        postgresql_where=sa.text("cardinality(audience) > 0"),
    )
    op.execute(NOTIFY_FUNCTION)
    op.execute(NOTIFY_TRIGGER)


def downgrade() -> None:
    op.execute("DROP TRIGGER outbox_events_notify ON outbox_events")
    op.execute("DROP FUNCTION atelier_notify_event()")
    op.drop_index(
        "ix_outbox_events_visible",
        table_name="outbox_events",
        postgresql_where=sa.text("cardinality(audience) > 0"),
    )
    op.drop_column("outbox_events", "audience")
