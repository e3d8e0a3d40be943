"""grid canaries: canary requests for one worker, workers' canary record

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-01 05:53:44
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "grid_requests",
        sa.Column("canary", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column("grid_requests", sa.Column("only_worker", sa.UUID(), nullable=True))
    op.create_index(
        "ix_grid_requests_only_worker",
        "grid_requests",
        ["only_worker"],
        postgresql_where=sa.text("only_worker IS NOT NULL"),
    )
    op.add_column(
        "grid_workers",
        sa.Column("canaries_passed", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column(
        "grid_workers",
        sa.Column("canaries_failed", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )
    op.add_column("grid_workers", sa.Column("canary_failure", sa.Text(), nullable=True))
    op.add_column(
        "grid_workers",
        sa.Column("canary_due_at", sa.Integer(), server_default=sa.text("0"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("grid_workers", "canary_due_at")
    op.drop_column("grid_workers", "canary_failure")
    op.drop_column("grid_workers", "canaries_failed")
    op.drop_column("grid_workers", "canaries_passed")
    op.drop_index("ix_grid_requests_only_worker", table_name="grid_requests")
    op.drop_column("grid_requests", "only_worker")
    op.drop_column("grid_requests", "canary")
