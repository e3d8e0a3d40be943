"""provenance: records, corpus, PDQ hashes, audio prints, CLIP embeddings

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21 16:54:22.741310
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


class Vector(sa.types.UserDefinedType):  # type: ignore[type-arg]
    """pgvector's vector, any dimension (as in atelier.provenance.models)."""

    cache_ok = True

    def get_col_spec(self, **kw: object) -> str:
        return "vector"


def upgrade() -> None:
    op.create_table(
        "corpus_items",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("artifact_id", sa.UUID(), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=300), nullable=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("media", sa.String(length=10), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name=op.f("fk_corpus_items_artifact_id_artifacts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_corpus_items")),
        sa.UniqueConstraint("artifact_id", name=op.f("uq_corpus_items_artifact_id")),
    )
    op.create_index(op.f("ix_corpus_items_sha256"), "corpus_items", ["sha256"], unique=False)
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
        sa.Column("creator_id", sa.UUID(), nullable=True),
        sa.Column("wallet", sa.String(length=64), nullable=True),
        sa.Column("wallet_proof", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("generation", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=True),
        sa.Column("fingerprint_quality", sa.Integer(), nullable=True),
        sa.Column("originality", sa.Float(), nullable=True),
        sa.Column("semantic_note", sa.Text(), nullable=True),
        sa.Column("published", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("neighbours", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
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
    op.create_table(
        "audio_prints",
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("fingerprint", postgresql.ARRAY(sa.BigInteger()), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["corpus_items.id"],
            name=op.f("fk_audio_prints_item_id_corpus_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_audio_prints")),
    )
    op.create_table(
        "clip_embeddings",
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("embedding", Vector(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["corpus_items.id"],
            name=op.f("fk_clip_embeddings_item_id_corpus_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("item_id", name=op.f("pk_clip_embeddings")),
    )
    op.create_index(op.f("ix_clip_embeddings_model"), "clip_embeddings", ["model"], unique=False)
    op.create_table(
        "pdq_hashes",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("item_id", sa.BigInteger(), nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("quality", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["item_id"],
            ["corpus_items.id"],
            name=op.f("fk_pdq_hashes_item_id_corpus_items"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdq_hashes")),
    )
    op.create_index(op.f("ix_pdq_hashes_item_id"), "pdq_hashes", ["item_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_pdq_hashes_item_id"), table_name="pdq_hashes")
    op.drop_table("pdq_hashes")
    op.drop_index(op.f("ix_clip_embeddings_model"), table_name="clip_embeddings")
    op.drop_table("clip_embeddings")
    op.drop_table("audio_prints")
    op.drop_index(op.f("ix_provenance_records_signed_sha256"), table_name="provenance_records")
    op.drop_index(op.f("ix_provenance_records_sha256"), table_name="provenance_records")
    op.drop_index(op.f("ix_provenance_records_cid_v1"), table_name="provenance_records")
    op.drop_table("provenance_records")
    op.drop_index(op.f("ix_corpus_items_sha256"), table_name="corpus_items")
    op.drop_table("corpus_items")
