"""grid: requests, workers, attempts, artifacts

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 16:14:07.636435
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "grid_requests",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("pixels", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("duration_s", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("estimate_s", sa.Float(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("wallet", sa.String(length=64), nullable=True),
        sa.Column(
            "options",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column(
            "state", sa.String(length=12), server_default=sa.text("'queued'"), nullable=False
        ),
        sa.Column("priority", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("queue_key", sa.Float(), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("max_attempts", sa.Integer(), nullable=False),
        sa.Column(
            "excluded_workers",
            postgresql.ARRAY(sa.UUID()),
            server_default=sa.text("'{}'::uuid[]"),
            nullable=False,
        ),
        sa.Column("current_attempt_id", sa.UUID(), nullable=True),
        sa.Column("progress", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("fault_reason", sa.Text(), nullable=True),
        sa.Column("is_possible", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("impossible_reason", sa.Text(), nullable=True),
        sa.Column("quota_reservation_id", sa.UUID(), nullable=True),
        sa.Column("artifact_id", sa.UUID(), nullable=True),
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
        sa.CheckConstraint(
            "state IN ('queued', 'assigned', 'processing', 'done', 'faulted', 'cancelled')",
            name=op.f("ck_grid_requests_known_state"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_grid_requests_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_requests")),
    )
    op.create_index(
        "ix_grid_requests_queue",
        "grid_requests",
        [sa.literal_column("queue_key DESC")],
        unique=False,
        postgresql_where=sa.text("state = 'queued'"),
    )
    op.create_index(op.f("ix_grid_requests_user_id"), "grid_requests", ["user_id"], unique=False)
    op.create_table(
        "grid_workers",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("owner_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("kinds", postgresql.ARRAY(sa.String(length=10)), nullable=False),
        sa.Column("models", postgresql.ARRAY(sa.String(length=100)), nullable=False),
        sa.Column("max_pixels", sa.BigInteger(), nullable=False),
        sa.Column("max_duration_s", sa.Float(), nullable=False),
        sa.Column("version", sa.String(length=50), nullable=True),
        sa.Column(
            "state", sa.String(length=12), server_default=sa.text("'active'"), nullable=False
        ),
        sa.Column("maintenance_reason", sa.Text(), nullable=True),
        sa.Column(
            "last_seen_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column(
            "consecutive_failures", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("jobs_done", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("jobs_failed", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("jobs_dropped", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("compute_seconds", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column("bytes_delivered", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "state IN ('active', 'offline', 'maintenance', 'retired')",
            name=op.f("ck_grid_workers_known_state"),
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["users.id"],
            name=op.f("fk_grid_workers_owner_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_workers")),
        sa.UniqueConstraint("owner_id", "name", name="uq_grid_workers_owner_name"),
    )
    op.create_table(
        "grid_attempts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("request_id", sa.UUID(), nullable=False),
        sa.Column("worker_id", sa.UUID(), nullable=False),
        sa.Column(
            "state", sa.String(length=12), server_default=sa.text("'active'"), nullable=False
        ),
        sa.Column(
            "leased_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "state IN ('active', 'accepted', 'rejected', 'expired', 'released', 'cancelled')",
            name=op.f("ck_grid_attempts_known_state"),
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["grid_requests.id"],
            name=op.f("fk_grid_attempts_request_id_grid_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["grid_workers.id"], name=op.f("fk_grid_attempts_worker_id_grid_workers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_grid_attempts")),
    )
    op.create_index(
        "ix_grid_attempts_active_expiry",
        "grid_attempts",
        ["expires_at"],
        unique=False,
        postgresql_where=sa.text("state = 'active'"),
    )
    op.create_index(
        op.f("ix_grid_attempts_request_id"), "grid_attempts", ["request_id"], unique=False
    )
    op.create_index(
        op.f("ix_grid_attempts_worker_id"), "grid_attempts", ["worker_id"], unique=False
    )
    op.create_table(
        "artifacts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("request_id", sa.UUID(), nullable=False),
        sa.Column("attempt_id", sa.UUID(), nullable=False),
        sa.Column("worker_id", sa.UUID(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("mime", sa.String(length=50), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("width", sa.Integer(), nullable=True),
        sa.Column("height", sa.Integer(), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("compute_seconds", sa.Float(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["attempt_id"], ["grid_attempts.id"], name=op.f("fk_artifacts_attempt_id_grid_attempts")
        ),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["grid_requests.id"],
            name=op.f("fk_artifacts_request_id_grid_requests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["worker_id"], ["grid_workers.id"], name=op.f("fk_artifacts_worker_id_grid_workers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_artifacts")),
        sa.UniqueConstraint("request_id", name=op.f("uq_artifacts_request_id")),
    )
    op.create_index(op.f("ix_artifacts_sha256"), "artifacts", ["sha256"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_artifacts_sha256"), table_name="artifacts")
    op.drop_table("artifacts")
    op.drop_index(op.f("ix_grid_attempts_worker_id"), table_name="grid_attempts")
    op.drop_index(op.f("ix_grid_attempts_request_id"), table_name="grid_attempts")
    op.drop_index(
        "ix_grid_attempts_active_expiry",
        table_name="grid_attempts",
        postgresql_where=sa.text("state = 'active'"),
    )
    op.drop_table("grid_attempts")
    op.drop_table("grid_workers")
    op.drop_index(op.f("ix_grid_requests_user_id"), table_name="grid_requests")
    op.drop_index(
        "ix_grid_requests_queue",
        table_name="grid_requests",
        postgresql_where=sa.text("state = 'queued'"),
    )
    op.drop_table("grid_requests")
