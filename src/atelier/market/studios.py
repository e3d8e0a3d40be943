"""Studios, their members and roles, collections and NFT drafts: who may see and change what.

- owner: everything, members included (a studio always keeps one owner).
- editor: collections, drafts, minting, listing the studio's NFTs.
- viewer: sees the drafts.
Anyone else sees only what is published: collections with a minted NFT, minted NFTs. A
draft of another studio answers 404, as if it did not exist.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import repository as rows
from atelier.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from atelier.grid import service as grid
from atelier.identity.principal import Principal
from atelier.identity.service import wallets
from atelier.market import repository as repo
from atelier.market.models import Collection, Member, Nft, NftStatus, Role, Sponsorship, Studio
from atelier.moderation import service as moderation
from atelier.provenance import service as provenance

_RANK = {Role.VIEWER: 0, Role.EDITOR: 1, Role.OWNER: 2}
_SLUG = re.compile(r"[^a-z0-9]+")


def slug_of(name: str) -> str:
    return _SLUG.sub("-", name.lower()).strip("-")[:60] or "studio"


async def create_studio(
    session: AsyncSession,
    principal: Principal,
    name: str,
    description: str,
    settings: dict[str, Any],
) -> Studio:
    base = slug_of(name)
    slug = base
    for attempt in range(2, 50):
        if await repo.studio_by_slug(session, slug) is None:
            break
        slug = f"{base}-{attempt}"
    studio = await rows.add(
        session,
        Studio(
            name=name,
            slug=slug,
            description=description,
            settings=settings,
            created_by=principal.user_id,
        ),
        refresh=True,
    )
    await rows.add(session, Member(studio_id=studio.id, user_id=principal.user_id, role="owner"))
    return studio


async def update_studio(
    session: AsyncSession,
    principal: Principal,
    studio_id: uuid.UUID,
    *,
    name: str | None,
    description: str | None,
    settings: dict[str, Any] | None,
) -> tuple[Studio, Role | None]:
    """Owners rename, describe and set a studio's preferences (its slug stays)."""
    studio, role = await studio_for(session, studio_id, principal, Role.OWNER)
    if name is not None:
        studio.name = name
    if description is not None:
        studio.description = description
    if settings is not None:
        studio.settings = settings
    return studio, role


async def role_in(
    session: AsyncSession, studio_id: uuid.UUID, principal: Principal | None
) -> Role | None:
    if principal is None:
        return None
    if principal.has_role("admin"):
        return Role.OWNER
    found = await repo.member(session, studio_id, principal.user_id)
    return Role(found.role) if found else None


async def studio_for(
    session: AsyncSession, studio_id: uuid.UUID, principal: Principal | None, at_least: Role | None
) -> tuple[Studio, Role | None]:
    """The studio and the caller's role in it; 403 when the role is below `at_least`."""
    studio = await repo.studio(session, studio_id)
    if studio is None:
        raise NotFound("no such studio", slug="studio-not-found")
    role = await role_in(session, studio_id, principal)
    if at_least is not None and (role is None or _RANK[role] < _RANK[at_least]):
        raise Forbidden(
            f"this needs the {at_least.value} role in the studio", slug="studio-role-required"
        )
    return studio, role


async def set_member(
    session: AsyncSession,
    principal: Principal,
    studio_id: uuid.UUID,
    user_id: uuid.UUID,
    role: Role | None,
) -> None:
    """Add, change or (role None) remove a member; the last owner cannot step down."""
    await studio_for(session, studio_id, principal, Role.OWNER)
    current = await repo.member(session, studio_id, user_id)
    losing_owner = current is not None and current.role == "owner" and role != Role.OWNER
    if losing_owner and await repo.owners(session, studio_id) <= 1:
        raise Conflict("a studio keeps at least one owner", slug="last-owner")
    if role is None:
        if current is None:
            raise NotFound("not a member of this studio", slug="member-not-found")
        await rows.remove(session, current)
    elif current is None:
        if not await rows.add_unique(
            session, Member(studio_id=studio_id, user_id=user_id, role=role)
        ):
            raise NotFound("no such user", slug="user-not-found")
    else:
        current.role = role.value


@dataclass(frozen=True)
class CollectionView:
    collection: Collection
    studio: Studio
    role: Role | None


async def collection_for(
    session: AsyncSession,
    collection_id: uuid.UUID,
    principal: Principal | None,
    at_least: Role | None = None,
) -> CollectionView:
    collection = await repo.collection(session, collection_id)
    if collection is None:
        raise NotFound("no such collection", slug="collection-not-found")
    studio, role = await studio_for(session, collection.studio_id, principal, None)
    if role is None and not collection.published:
        raise NotFound("no such collection", slug="collection-not-found")
    if at_least is not None and (role is None or _RANK[role] < _RANK[at_least]):
        raise Forbidden(
            f"this needs the {at_least.value} role in the studio", slug="studio-role-required"
        )
    return CollectionView(collection, studio, role)


async def nft_for(
    session: AsyncSession,
    nft_id: uuid.UUID,
    principal: Principal | None,
    at_least: Role | None = None,
) -> tuple[Nft, CollectionView]:
    """An NFT the caller may see: minted ones and drops are public, drafts their studio's."""
    nft = await repo.nft(session, nft_id)
    if nft is None:
        raise NotFound("no such NFT", slug="nft-not-found")
    collection = await repo.collection(session, nft.collection_id)
    assert collection is not None
    studio, role = await studio_for(session, collection.studio_id, principal, None)
    if nft.status == NftStatus.DRAFT and nft.drop_price is None and role is None:
        raise NotFound("no such NFT", slug="nft-not-found")
    await moderation.refuse_if_hidden(session, "nft", str(nft.id), may_see=role is not None)
    if at_least is not None and (role is None or _RANK[role] < _RANK[at_least]):
        raise Forbidden(
            f"this needs the {at_least.value} role in the studio", slug="studio-role-required"
        )
    return nft, CollectionView(collection, studio, role)


async def hidden_nfts(session: AsyncSession) -> set[uuid.UUID]:
    """NFTs the moderators hid: the public listings leave them out (their studio still
    sees them, and why)."""
    return {uuid.UUID(n) for n in await moderation.all_hidden(session, "nft")}


async def assets(
    session: AsyncSession, principal: Principal, studio_id: uuid.UUID
) -> list[grid.Made]:
    """Artifacts the studio's members made (what its NFTs can be made from)."""
    await studio_for(session, studio_id, principal, Role.VIEWER)
    members = [m.user_id for m in await repo.members(session, studio_id)]
    return await grid.made_by(session, members)


async def artifact_attributes(
    session: AsyncSession, artifact_id: uuid.UUID
) -> list[dict[str, Any]]:
    """What provenance knows, as NFT attributes: CID, C2PA state, originality, kind."""
    made = await grid.made(session, artifact_id)
    trail = await provenance.trail_of(session, artifact_id)
    summary = trail.summary
    attributes: list[dict[str, Any]] = []
    if made is not None:
        attributes.append({"trait_type": "Kind", "value": made.kind})
        if made.artifact.model:
            attributes.append({"trait_type": "Model", "value": made.artifact.model})
    if trail.delivery.cid:
        attributes.append({"trait_type": "CID", "value": trail.delivery.cid})
    if summary.get("original_cid"):
        attributes.append({"trait_type": "Original CID", "value": summary["original_cid"]})
    attributes.append({"trait_type": "C2PA", "value": str(summary.get("manifest_state"))})
    score = (summary.get("originality") or {}).get("score")
    if score is not None:
        attributes.append({"trait_type": "Originality", "value": round(float(score), 4)})
    return attributes


async def draft_nft(
    session: AsyncSession,
    principal: Principal,
    collection_id: uuid.UUID,
    artifact_id: uuid.UUID,
    name: str,
    description: str,
) -> Nft:
    """An NFT draft from an artifact a member of the studio made and provenance signed."""
    view = await collection_for(session, collection_id, principal, Role.EDITOR)
    made = await grid.made(session, artifact_id)
    members = {m.user_id for m in await repo.members(session, view.studio.id)}
    if made is None or made.user_id not in members:
        raise NotFound(
            "no such artifact among this studio's members' work", slug="artifact-not-found"
        )
    await moderation.refuse_if_hidden(session, "artifact", str(artifact_id), may_see=False)
    trail = await provenance.trail_of(session, artifact_id)
    if trail.delivery.state != "signed":
        raise Conflict(
            f"the artifact's provenance is {trail.delivery.state}: only a signed artifact "
            "becomes an NFT",
            slug="artifact-not-signed",
        )
    attributes = await artifact_attributes(session, artifact_id)
    return await rows.add(
        session,
        Nft(
            collection_id=collection_id,
            artifact_id=artifact_id,
            name=name,
            description=description,
            attributes=attributes,
            created_by=principal.user_id,
        ),
        refresh=True,
    )


def check_creators(creators: list[dict[str, Any]]) -> None:
    if not 1 <= len(creators) <= 5:
        raise InvalidInput("a collection has one to five creators", slug="invalid-creators")
    if sum(int(c["share"]) for c in creators) != 100:
        raise InvalidInput("creator shares sum to 100", slug="invalid-creators")
    if len({c["address"] for c in creators}) != len(creators):
        raise InvalidInput("a creator is listed twice", slug="invalid-creators")


async def create_collection(
    session: AsyncSession,
    principal: Principal,
    studio_id: uuid.UUID,
    *,
    name: str,
    symbol: str,
    description: str,
    seller_fee_basis_points: int,
    creators: list[dict[str, Any]] | None,
) -> Collection:
    """A collection in the studio; its creators default to the caller's Solana wallet."""
    await studio_for(session, studio_id, principal, Role.EDITOR)
    if creators is None:
        address = await wallets.solana_address(session, principal.user_id)
        if address is None:
            raise Conflict(
                "name the collection's creators, or make a market wallet first "
                "(POST /api/market/wallet)",
                slug="solana-wallet-required",
            )
        creators = [{"address": address, "share": 100}]
    check_creators(creators)
    return await rows.add(
        session,
        Collection(
            studio_id=studio_id,
            name=name,
            symbol=symbol,
            description=description,
            seller_fee_basis_points=seller_fee_basis_points,
            creators=creators,
            created_by=principal.user_id,
        ),
        refresh=True,
    )


async def create_sponsorship(
    session: AsyncSession,
    principal: Principal,
    studio_id: uuid.UUID,
    *,
    collection_id: uuid.UUID | None,
    sponsor_name: str,
    sponsor_address: str,
    amount: int,
    revenue_share_bps: int,
    starts_at: datetime,
    ends_at: datetime,
) -> Sponsorship:
    """A sponsor's agreement (studio owners sign them): from `starts_at` to `ends_at`, the
    sponsor receives `revenue_share_bps` of each sale in its scope, at settlement."""
    await studio_for(session, studio_id, principal, Role.OWNER)
    if collection_id is not None:
        collection = await repo.collection(session, collection_id)
        if collection is None or collection.studio_id != studio_id:
            raise NotFound("no such collection in this studio", slug="collection-not-found")
    if ends_at <= starts_at:
        raise InvalidInput(
            "the agreement ends after it starts",
            slug="invalid-sponsorship",
            extra={"errors": [{"loc": ["body", "ends_at"], "msg": "after starts_at"}]},
        )
    return await rows.add(
        session,
        Sponsorship(
            studio_id=studio_id,
            collection_id=collection_id,
            sponsor_name=sponsor_name,
            sponsor_address=sponsor_address,
            amount=amount,
            revenue_share_bps=revenue_share_bps,
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=principal.user_id,
        ),
        refresh=True,
    )


async def sponsorship_reports(
    session: AsyncSession, principal: Principal, studio_id: uuid.UUID
) -> list[tuple[Sponsorship, dict[str, int]]]:
    """Every agreement of the studio with what it shared in (its members see them)."""
    await studio_for(session, studio_id, principal, Role.VIEWER)
    return [
        (agreement, await repo.sponsorship_report(session, agreement.id))
        for agreement in await repo.sponsorships_of(session, studio_id)
    ]


async def artifact_of_nft(session: AsyncSession, nft_id: uuid.UUID) -> uuid.UUID | None:
    """The artifact an NFT is of (whose creator a moderation case concerns)."""
    nft = await repo.nft(session, nft_id)
    return nft.artifact_id if nft is not None else None


async def sales_between(session: AsyncSession, start: datetime, end: datetime) -> tuple[int, int]:
    """Sales settled and distinct buyers in [start, end) (the product's analytics)."""
    return await repo.sales_between(session, start, end)


async def studios_of(session: AsyncSession, principal: Principal) -> list[tuple[Studio, str]]:
    """The caller's studios, each with their role in it."""
    return await repo.studios_of(session, principal.user_id)
