"""films: validations

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-01 07:04:21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "film_validations",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("script_id", sa.UUID(), nullable=False),
        sa.Column("validator_id", sa.UUID(), nullable=False),
        sa.Column("scores", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("comments", sa.Text(), nullable=False),
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
            ["script_id"],
            ["film_scripts.id"],
            name=op.f("fk_film_validations_script_id_film_scripts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["validator_id"],
            ["users.id"],
            name=op.f("fk_film_validations_validator_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_film_validations")),
        sa.UniqueConstraint(
            "script_id", "validator_id", name=op.f("uq_film_validations_script_id")
        ),
    )
    op.create_index(
        op.f("ix_film_validations_script_id"), "film_validations", ["script_id"], unique=False
    )
    op.create_index(
        op.f("ix_film_validations_validator_id"), "film_validations", ["validator_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_film_validations_validator_id"), table_name="film_validations")
    op.drop_index(op.f("ix_film_validations_script_id"), table_name="film_validations")
    op.drop_table("film_validations")
