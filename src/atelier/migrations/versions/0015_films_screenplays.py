"""films: screenplays

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-01 06:58:11
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "film_scripts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("author_id", sa.UUID(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("source_format", sa.String(length=10), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("structure", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("signature", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.Column("scenes", sa.Integer(), nullable=False),
        sa.Column("speeches", sa.Integer(), nullable=False),
        sa.Column("words", sa.Integer(), nullable=False),
        sa.Column(
            "status", sa.String(length=20), server_default="pending_validation", nullable=False
        ),
        sa.Column("duplicate_of", sa.UUID(), nullable=True),
        sa.Column("similar_to", sa.UUID(), nullable=True),
        sa.Column("similarity", sa.Float(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_film_scripts_author_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["duplicate_of"],
            ["film_scripts.id"],
            name=op.f("fk_film_scripts_duplicate_of_film_scripts"),
        ),
        sa.ForeignKeyConstraint(
            ["similar_to"],
            ["film_scripts.id"],
            name=op.f("fk_film_scripts_similar_to_film_scripts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_film_scripts")),
    )
    op.create_index(op.f("ix_film_scripts_author_id"), "film_scripts", ["author_id"], unique=False)
    op.create_index(
        op.f("ix_film_scripts_content_hash"), "film_scripts", ["content_hash"], unique=False
    )
    op.create_index(
        "ix_film_scripts_status_created", "film_scripts", ["status", "created_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_film_scripts_status_created", table_name="film_scripts")
    op.drop_index(op.f("ix_film_scripts_content_hash"), table_name="film_scripts")
    op.drop_index(op.f("ix_film_scripts_author_id"), table_name="film_scripts")
    op.drop_table("film_scripts")
