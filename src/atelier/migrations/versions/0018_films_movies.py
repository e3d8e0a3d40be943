"""films: movies and their jobs; grid requests tied to a film; platform-made artifacts

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-01 08:21:18
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "film_movies",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("script_id", sa.UUID(), nullable=False),
        sa.Column("requested_by", sa.UUID(), nullable=True),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="estimated", nullable=False),
        sa.Column("options", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("jobs_by_kind", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("compute_seconds", sa.Float(), nullable=False),
        sa.Column("eta_s", sa.Float(), nullable=True),
        sa.Column("progress", sa.Float(), server_default="0", nullable=False),
        sa.Column("stage", sa.Text(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("artifact_id", sa.UUID(), nullable=True),
        sa.Column("video_key", sa.String(length=200), nullable=True),
        sa.Column("poster_key", sa.String(length=200), nullable=True),
        sa.Column("srt_key", sa.String(length=200), nullable=True),
        sa.Column("vtt_key", sa.String(length=200), nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"],
            ["users.id"],
            name=op.f("fk_film_movies_requested_by_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["script_id"],
            ["film_scripts.id"],
            name=op.f("fk_film_movies_script_id_film_scripts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_film_movies")),
    )
    op.create_index(op.f("ix_film_movies_script_id"), "film_movies", ["script_id"], unique=False)
    op.create_table(
        "film_jobs",
        sa.Column("movie_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("scene", sa.Integer(), nullable=False),
        sa.Column("shot", sa.Integer(), nullable=True),
        sa.Column("character", sa.String(length=200), nullable=True),
        sa.Column("fields", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("estimate_s", sa.Float(), nullable=False),
        sa.Column("cache_key", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=10), server_default="planned", nullable=False),
        sa.Column("request_id", sa.UUID(), nullable=True),
        sa.Column("tries", sa.Integer(), server_default="0", nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["movie_id"],
            ["film_movies.id"],
            name=op.f("fk_film_jobs_movie_id_film_movies"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("movie_id", "position", name=op.f("pk_film_jobs")),
    )
    op.create_index(
        "ix_film_jobs_cache_done",
        "film_jobs",
        ["cache_key"],
        unique=False,
        postgresql_where="state = 'done'",
    )
    op.create_index(op.f("ix_film_jobs_request_id"), "film_jobs", ["request_id"], unique=False)
    op.alter_column("artifacts", "attempt_id", existing_type=sa.UUID(), nullable=True)
    op.alter_column("artifacts", "worker_id", existing_type=sa.UUID(), nullable=True)
    op.add_column("grid_requests", sa.Column("film_id", sa.UUID(), nullable=True))
    op.create_index(op.f("ix_grid_requests_film_id"), "grid_requests", ["film_id"], unique=False)
    op.create_foreign_key(
        op.f("fk_grid_requests_film_id_film_movies"),
        "grid_requests",
        "film_movies",
        ["film_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade() -> None:
    op.drop_constraint(
        op.f("fk_grid_requests_film_id_film_movies"), "grid_requests", type_="foreignkey"
    )
    op.drop_index(op.f("ix_grid_requests_film_id"), table_name="grid_requests")
    op.drop_column("grid_requests", "film_id")
    op.alter_column("artifacts", "worker_id", existing_type=sa.UUID(), nullable=False)
    op.alter_column("artifacts", "attempt_id", existing_type=sa.UUID(), nullable=False)
    op.drop_index(op.f("ix_film_jobs_request_id"), table_name="film_jobs")
    op.drop_index(
        "ix_film_jobs_cache_done", table_name="film_jobs", postgresql_where="state = 'done'"
    )
    op.drop_table("film_jobs")
    op.drop_index(op.f("ix_film_movies_script_id"), table_name="film_movies")
    op.drop_table("film_movies")
