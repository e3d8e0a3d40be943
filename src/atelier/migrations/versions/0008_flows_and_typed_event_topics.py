"""flows: persisted runs and steps; event topics derived from their typed models

Provenance's steps move from `provenance_records.steps` (a JSON map written in one locked
transaction) to `flow_steps` rows, one committed per step. Existing records become runs:
finished ones with their steps, unfinished ones as running runs (the flow runner resumes
them from the accepted event, which the outbox still holds).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 03:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

RENAMED_TOPICS = (
    ("artifact.accepted", "grid.artifact_accepted"),
    ("user.registered", "identity.user_registered"),
)
SIGN_ARTIFACT = "provenance.sign_artifact"


def upgrade() -> None:
    op.create_table(
        "flow_runs",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("flow", sa.String(length=100), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("input", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
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
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flow_runs")),
        sa.UniqueConstraint("flow", "key", name=op.f("uq_flow_runs_flow")),
    )
    op.create_index(op.f("ix_flow_runs_state"), "flow_runs", ["state"], unique=False)
    op.create_table(
        "flow_steps",
        sa.Column("run_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("output", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "finished_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["flow_runs.id"],
            name=op.f("fk_flow_steps_run_id_flow_runs"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("run_id", "name", name=op.f("pk_flow_steps")),
    )
    for old, new in RENAMED_TOPICS:
        op.execute(
            sa.text("UPDATE outbox_events SET topic = :new WHERE topic = :old").bindparams(
                old=old, new=new
            )
        )
    _runs_from_provenance_steps()
    op.drop_column("provenance_records", "steps")


def _runs_from_provenance_steps() -> None:
    """One run per provenance record, its input the accepted event's payload. A record whose
    signing ended (signed or failed) becomes a finished run with the steps it recorded; any
    other resumes at its first step not done."""
    op.execute(
        sa.text(
            """
            INSERT INTO flow_runs (id, flow, key, input, state, error, finished_at)
            SELECT gen_random_uuid(), :flow, r.artifact_id::text,
                   COALESCE(e.payload, '{}'::jsonb),
                   CASE r.manifest_state WHEN 'signed' THEN 'succeeded'
                                         WHEN 'failed' THEN 'failed' ELSE 'running' END,
                   CASE WHEN r.manifest_state = 'failed' THEN r.error END,
                   CASE WHEN r.manifest_state IN ('signed', 'failed') THEN now() END
            FROM provenance_records r
            LEFT JOIN LATERAL (
                SELECT payload FROM outbox_events
                WHERE topic = 'grid.artifact_accepted'
                  AND payload->>'artifact_id' = r.artifact_id::text
                ORDER BY id DESC LIMIT 1
            ) e ON true
            """
        ).bindparams(flow=SIGN_ARTIFACT)
    )
    op.execute(
        sa.text(
            """
            INSERT INTO flow_steps (run_id, name, state, note, attempts)
            SELECT f.id, s.key,
                   CASE WHEN s.value #>> '{}' LIKE 'failed%' THEN 'failed' ELSE 'done' END,
                   CASE WHEN s.value #>> '{}' NOT IN ('done', 'failed') THEN s.value #>> '{}' END,
                   0
            FROM provenance_records r
            JOIN flow_runs f ON f.flow = :flow AND f.key = r.artifact_id::text
            CROSS JOIN LATERAL jsonb_each(r.steps) s
            WHERE s.key IN ('hash', 'fingerprint', 'originality', 'sign', 'publish')
            """
        ).bindparams(flow=SIGN_ARTIFACT)
    )


def downgrade() -> None:
    op.add_column(
        "provenance_records",
        sa.Column(
            "steps",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.execute(
        sa.text(
            """
            UPDATE provenance_records r SET steps = (
                SELECT COALESCE(jsonb_object_agg(s.name, COALESCE(s.note, s.state)), '{}')
                FROM flow_runs f JOIN flow_steps s ON s.run_id = f.id
                WHERE f.flow = :flow AND f.key = r.artifact_id::text
            )
            """
        ).bindparams(flow=SIGN_ARTIFACT)
    )
    for old, new in RENAMED_TOPICS:
        op.execute(
            sa.text("UPDATE outbox_events SET topic = :old WHERE topic = :new").bindparams(
                old=old, new=new
            )
        )
    op.drop_table("flow_steps")
    op.drop_index(op.f("ix_flow_runs_state"), table_name="flow_runs")
    op.drop_table("flow_runs")
