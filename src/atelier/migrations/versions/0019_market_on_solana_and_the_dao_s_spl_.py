"""market on solana and the DAO's spl strategy

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-01 11:37:03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


# the DAO's `spl` strategy joins the proposals' strategies
OLD_STRATEGIES = ("one-wallet-one-vote", "verified-wallets", "erc20", "ledger", "quadratic")
NEW_STRATEGIES = (*OLD_STRATEGIES, "spl")


def upgrade() -> None:
    op.drop_constraint(op.f("ck_proposals_known_strategy"), "proposals", type_="check")
    op.create_check_constraint(
        op.f("ck_proposals_known_strategy"), "proposals", f"strategy IN {NEW_STRATEGIES}"
    )
    op.create_table(
        "market_studios",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("slug", sa.String(length=80), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column(
            "settings",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
        sa.Column("created_by", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_market_studios_created_by_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_studios")),
        sa.UniqueConstraint("slug", name=op.f("uq_market_studios_slug")),
    )
    op.create_table(
        "market_collections",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("studio_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("symbol", sa.String(length=10), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("seller_fee_basis_points", sa.Integer(), nullable=False),
        sa.Column("creators", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("published", sa.Boolean(), server_default=sa.text("false"), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_market_collections_created_by_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["studio_id"],
            ["market_studios.id"],
            name=op.f("fk_market_collections_studio_id_market_studios"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_collections")),
    )
    op.create_index(
        op.f("ix_market_collections_studio_id"), "market_collections", ["studio_id"], unique=False
    )
    op.create_table(
        "market_studio_members",
        sa.Column("studio_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.String(length=10), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "role IN ('owner', 'editor', 'viewer')",
            name=op.f("ck_market_studio_members_known_role"),
        ),
        sa.ForeignKeyConstraint(
            ["studio_id"],
            ["market_studios.id"],
            name=op.f("fk_market_studio_members_studio_id_market_studios"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_market_studio_members_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("studio_id", "user_id", name=op.f("pk_market_studio_members")),
    )
    op.create_index(
        op.f("ix_market_studio_members_user_id"), "market_studio_members", ["user_id"], unique=False
    )
    op.create_table(
        "market_sponsorships",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("studio_id", sa.UUID(), nullable=False),
        sa.Column("collection_id", sa.UUID(), nullable=True),
        sa.Column("sponsor_name", sa.String(length=100), nullable=False),
        sa.Column("sponsor_address", sa.String(length=44), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column("revenue_share_bps", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "ends_at > starts_at", name=op.f("ck_market_sponsorships_period_forward")
        ),
        sa.CheckConstraint(
            "revenue_share_bps BETWEEN 0 AND 10000",
            name=op.f("ck_market_sponsorships_share_in_range"),
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["market_collections.id"],
            name=op.f("fk_market_sponsorships_collection_id_market_collections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_market_sponsorships_created_by_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["studio_id"],
            ["market_studios.id"],
            name=op.f("fk_market_sponsorships_studio_id_market_studios"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_sponsorships")),
    )
    op.create_index(
        op.f("ix_market_sponsorships_studio_id"), "market_sponsorships", ["studio_id"], unique=False
    )
    op.create_table(
        "governance_spl_balances",
        sa.Column("proposal_id", sa.UUID(), nullable=False),
        sa.Column("owner", sa.String(length=44), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_governance_spl_balances_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("proposal_id", "owner", name=op.f("pk_governance_spl_balances")),
    )
    op.create_table(
        "market_treasury_actions",
        sa.Column("proposal_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("outcome", sa.String(length=20), nullable=False),
        sa.Column("to_address", sa.String(length=44), nullable=True),
        sa.Column("lamports", sa.Numeric(precision=20, scale=0), nullable=True),
        sa.Column("fee_bps", sa.Integer(), nullable=True),
        sa.Column("signature", sa.String(length=100), nullable=True),
        sa.Column(
            "executed_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["proposals.id"],
            name=op.f("fk_market_treasury_actions_proposal_id_proposals"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("proposal_id", name=op.f("pk_market_treasury_actions")),
    )
    op.create_table(
        "market_nfts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("collection_id", sa.UUID(), nullable=False),
        sa.Column("artifact_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("description", sa.Text(), server_default="", nullable=False),
        sa.Column("attributes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column(
            "status", sa.String(length=10), server_default=sa.text("'draft'"), nullable=False
        ),
        sa.Column("mint", sa.String(length=44), nullable=True),
        sa.Column("metadata_account", sa.String(length=44), nullable=True),
        sa.Column("owner_address", sa.String(length=44), nullable=True),
        sa.Column(
            "primary_sale_happened", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("drop_price", sa.Numeric(precision=20, scale=0), nullable=True),
        sa.Column("sealed_mint_key", sa.LargeBinary(), nullable=True),
        sa.Column("mint_signature", sa.String(length=100), nullable=True),
        sa.Column("minted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["artifact_id"],
            ["artifacts.id"],
            name=op.f("fk_market_nfts_artifact_id_artifacts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["market_collections.id"],
            name=op.f("fk_market_nfts_collection_id_market_collections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["users.id"],
            name=op.f("fk_market_nfts_created_by_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_nfts")),
        sa.UniqueConstraint("mint", name=op.f("uq_market_nfts_mint")),
    )
    op.create_index(
        op.f("ix_market_nfts_collection_id"), "market_nfts", ["collection_id"], unique=False
    )
    op.create_index(
        op.f("ix_market_nfts_owner_address"), "market_nfts", ["owner_address"], unique=False
    )
    op.create_table(
        "market_listings",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("nft_id", sa.UUID(), nullable=False),
        sa.Column("collection_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column(
            "status", sa.String(length=10), server_default=sa.text("'active'"), nullable=False
        ),
        sa.Column("seller_id", sa.UUID(), nullable=False),
        sa.Column("seller_address", sa.String(length=44), nullable=False),
        sa.Column("price", sa.Numeric(precision=20, scale=0), nullable=True),
        sa.Column("reserve", sa.Numeric(precision=20, scale=0), nullable=True),
        sa.Column("min_increment_bps", sa.Integer(), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("extension_s", sa.Integer(), nullable=True),
        sa.Column("start_price", sa.Numeric(precision=20, scale=0), nullable=True),
        sa.Column("end_price", sa.Numeric(precision=20, scale=0), nullable=True),
        sa.Column(
            "starts_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False
        ),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("escrow_signature", sa.String(length=100), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('fixed', 'english', 'dutch')", name=op.f("ck_market_listings_known_kind")
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["market_collections.id"],
            name=op.f("fk_market_listings_collection_id_market_collections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["nft_id"],
            ["market_nfts.id"],
            name=op.f("fk_market_listings_nft_id_market_nfts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["seller_id"],
            ["users.id"],
            name=op.f("fk_market_listings_seller_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_listings")),
    )
    op.create_index(
        op.f("ix_market_listings_collection_id"), "market_listings", ["collection_id"], unique=False
    )
    op.create_index(op.f("ix_market_listings_nft_id"), "market_listings", ["nft_id"], unique=False)
    op.create_index(
        "ix_market_listings_status_price",
        "market_listings",
        ["status", "price", "id"],
        unique=False,
    )
    op.create_index(
        "uq_market_listings_active_nft",
        "market_listings",
        ["nft_id"],
        unique=True,
        postgresql_where=sa.text("status = 'active'"),
    )
    op.create_table(
        "market_offers",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("nft_id", sa.UUID(), nullable=False),
        sa.Column("buyer_id", sa.UUID(), nullable=True),
        sa.Column("buyer_address", sa.String(length=44), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), server_default=sa.text("'open'"), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("refund_signature", sa.String(length=100), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["buyer_id"],
            ["users.id"],
            name=op.f("fk_market_offers_buyer_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["nft_id"],
            ["market_nfts.id"],
            name=op.f("fk_market_offers_nft_id_market_nfts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_offers")),
    )
    op.create_index(op.f("ix_market_offers_nft_id"), "market_offers", ["nft_id"], unique=False)
    op.create_table(
        "market_bids",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("listing_id", sa.UUID(), nullable=False),
        sa.Column("bidder_id", sa.UUID(), nullable=True),
        sa.Column("bidder_address", sa.String(length=44), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column(
            "status", sa.String(length=10), server_default=sa.text("'leading'"), nullable=False
        ),
        sa.Column("signature", sa.String(length=100), server_default="", nullable=False),
        sa.Column("refund_signature", sa.String(length=100), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["bidder_id"],
            ["users.id"],
            name=op.f("fk_market_bids_bidder_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["market_listings.id"],
            name=op.f("fk_market_bids_listing_id_market_listings"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_bids")),
    )
    op.create_index(op.f("ix_market_bids_listing_id"), "market_bids", ["listing_id"], unique=False)
    op.create_table(
        "market_intents",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("listing_id", sa.UUID(), nullable=True),
        sa.Column("nft_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=True),
        sa.Column("account", sa.String(length=44), nullable=False),
        sa.Column("amount", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column(
            "payouts",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'[]'"),
            nullable=False,
        ),
        sa.Column("mint", sa.String(length=44), nullable=True),
        sa.Column("outbids", sa.UUID(), nullable=True),
        sa.Column(
            "status", sa.String(length=10), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("signature", sa.String(length=100), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["market_listings.id"],
            name=op.f("fk_market_intents_listing_id_market_listings"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["nft_id"],
            ["market_nfts.id"],
            name=op.f("fk_market_intents_nft_id_market_nfts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_market_intents_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_intents")),
    )
    op.create_index(
        op.f("ix_market_intents_listing_id"), "market_intents", ["listing_id"], unique=False
    )
    op.create_index(
        "ix_market_intents_status_expires", "market_intents", ["status", "expires_at"], unique=False
    )
    op.create_table(
        "market_sales",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("nft_id", sa.UUID(), nullable=False),
        sa.Column("collection_id", sa.UUID(), nullable=False),
        sa.Column("listing_id", sa.UUID(), nullable=True),
        sa.Column("offer_id", sa.UUID(), nullable=True),
        sa.Column("sponsorship_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("price", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column("buyer_address", sa.String(length=44), nullable=False),
        sa.Column("seller_address", sa.String(length=44), nullable=False),
        sa.Column("fee", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column("royalties", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column("seller_proceeds", sa.Numeric(precision=20, scale=0), nullable=False),
        sa.Column("payouts", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("signature", sa.String(length=100), nullable=False),
        sa.Column("slot", sa.BigInteger(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["collection_id"],
            ["market_collections.id"],
            name=op.f("fk_market_sales_collection_id_market_collections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["listing_id"],
            ["market_listings.id"],
            name=op.f("fk_market_sales_listing_id_market_listings"),
        ),
        sa.ForeignKeyConstraint(
            ["nft_id"],
            ["market_nfts.id"],
            name=op.f("fk_market_sales_nft_id_market_nfts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["offer_id"], ["market_offers.id"], name=op.f("fk_market_sales_offer_id_market_offers")
        ),
        sa.ForeignKeyConstraint(
            ["sponsorship_id"],
            ["market_sponsorships.id"],
            name=op.f("fk_market_sales_sponsorship_id_market_sponsorships"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_market_sales")),
        sa.UniqueConstraint("listing_id", name=op.f("uq_market_sales_listing_id")),
        sa.UniqueConstraint("offer_id", name=op.f("uq_market_sales_offer_id")),
        sa.UniqueConstraint("signature", name=op.f("uq_market_sales_signature")),
    )
    op.create_index(
        "ix_market_sales_collection_at",
        "market_sales",
        ["collection_id", "created_at"],
        unique=False,
    )
    op.create_index(
        op.f("ix_market_sales_sponsorship_id"), "market_sales", ["sponsorship_id"], unique=False
    )
    op.add_column(
        "proposals", sa.Column("action", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.alter_column(
        "votes",
        "voter",
        existing_type=sa.VARCHAR(length=42),
        type_=sa.String(length=44),
        existing_nullable=False,
    )


def downgrade() -> None:
    op.drop_constraint(op.f("ck_proposals_known_strategy"), "proposals", type_="check")
    op.create_check_constraint(
        op.f("ck_proposals_known_strategy"), "proposals", f"strategy IN {OLD_STRATEGIES}"
    )
    op.alter_column(
        "votes",
        "voter",
        existing_type=sa.String(length=44),
        type_=sa.VARCHAR(length=42),
        existing_nullable=False,
    )
    op.drop_column("proposals", "action")
    op.drop_index(op.f("ix_market_sales_sponsorship_id"), table_name="market_sales")
    op.drop_index("ix_market_sales_collection_at", table_name="market_sales")
    op.drop_table("market_sales")
    op.drop_index("ix_market_intents_status_expires", table_name="market_intents")
    op.drop_index(op.f("ix_market_intents_listing_id"), table_name="market_intents")
    op.drop_table("market_intents")
    op.drop_index(op.f("ix_market_bids_listing_id"), table_name="market_bids")
    op.drop_table("market_bids")
    op.drop_index(op.f("ix_market_offers_nft_id"), table_name="market_offers")
    op.drop_table("market_offers")
    op.drop_index(
        "uq_market_listings_active_nft",
        table_name="market_listings",
        postgresql_where=sa.text("status = 'active'"),
    )
    op.drop_index("ix_market_listings_status_price", table_name="market_listings")
    op.drop_index(op.f("ix_market_listings_nft_id"), table_name="market_listings")
    op.drop_index(op.f("ix_market_listings_collection_id"), table_name="market_listings")
    op.drop_table("market_listings")
    op.drop_index(op.f("ix_market_nfts_owner_address"), table_name="market_nfts")
    op.drop_index(op.f("ix_market_nfts_collection_id"), table_name="market_nfts")
    op.drop_table("market_nfts")
    op.drop_table("market_treasury_actions")
    op.drop_table("governance_spl_balances")
    op.drop_index(op.f("ix_market_sponsorships_studio_id"), table_name="market_sponsorships")
    op.drop_table("market_sponsorships")
    op.drop_index(op.f("ix_market_studio_members_user_id"), table_name="market_studio_members")
    op.drop_table("market_studio_members")
    op.drop_index(op.f("ix_market_collections_studio_id"), table_name="market_collections")
    op.drop_table("market_collections")
    op.drop_table("market_studios")
