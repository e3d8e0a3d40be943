"""provenance records

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 16:35:24.949748
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "provenance_records",
        sa.Column("artifact_id", sa.UUID(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("cid_v1", sa.String(length=100), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("signed_storage_key", sa.String(length=200), nullable=True),
        sa.Column("signed_sha256", sa.String(length=64), nullable=True),
        sa.Column("signed_cid_v1", sa.String(length=100), nullable=True),
        sa.Column(
            "manifest_state",
            sa.String(length=20),
            server_default=sa.text("'pending'"),
            nullable=False,
        ),
        sa.Column("signer", sa.String(length=200), nullable=True),
        sa.Column(
            "steps",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
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
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name=op.f("fk_provenance_records_artifact_id_artifacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("artifact_id", name=op.f("pk_provenance_records")),
    )
    op.create_index(
        op.f("ix_provenance_records_cid_v1"), "provenance_records", ["cid_v1"], unique=False
    )
    op.create_index(
        op.f("ix_provenance_records_sha256"), "provenance_records", ["sha256"], unique=False
    )
    op.create_index(
        op.f("ix_provenance_records_signed_sha256"),
        "provenance_records",
        ["signed_sha256"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_provenance_records_signed_sha256"), table_name="provenance_records")
    op.drop_index(op.f("ix_provenance_records_sha256"), table_name="provenance_records")
    op.drop_index(op.f("ix_provenance_records_cid_v1"), table_name="provenance_records")
    op.drop_table("provenance_records")
