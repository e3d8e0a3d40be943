"""films: selections

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-01 07:06:14
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "film_selections",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("closed_by", sa.UUID(), nullable=True),
        sa.Column("rule", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("candidates", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("selected_script_id", sa.UUID(), nullable=False),
        sa.Column(
            "closed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.ForeignKeyConstraint(
            ["closed_by"],
            ["users.id"],
            name=op.f("fk_film_selections_closed_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["selected_script_id"],
            ["film_scripts.id"],
            name=op.f("fk_film_selections_selected_script_id_film_scripts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_film_selections")),
    )


def downgrade() -> None:
    op.drop_table("film_selections")
