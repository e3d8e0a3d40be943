"""music styles per wallet

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21 17:22:53.698494
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "music_styles",
        sa.Column("wallet", sa.String(length=64), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("truck_style", sa.String(length=30), nullable=False),
        sa.Column("mood", sa.String(length=30), nullable=True),
        sa.Column("genre", sa.String(length=40), nullable=False),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_music_styles_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("wallet", name=op.f("pk_music_styles")),
    )
    op.create_index(op.f("ix_music_styles_user_id"), "music_styles", ["user_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_music_styles_user_id"), table_name="music_styles")
    op.drop_table("music_styles")
