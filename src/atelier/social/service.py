"""Social logic: what the feed keeps of a hub's messages, the feeds, and cross-posting
through the platform's signer.

The feed keeps the casts of the accounts it follows (`ATELIER_FARCASTER_FIDS` and the
platform's own) and any cast that links one of our collections, each only after its hash
and signature checked; profile data of followed accounts; removals by a cast's author; the
likes and recasts of the casts it keeps, from anyone (a reaction to a cast it does not keep,
or to a URL, is not kept: a reaction that arrives before its cast is lost, as the stream
carries a cast before the reactions to it).
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events
from atelier.core.config import Settings
from atelier.core.errors import InvalidInput, NotFound, ServiceUnavailable
from atelier.core.secrets import seal, unseal, write_private_file
from atelier.moderation import service as moderation
from atelier.social import farcaster
from atelier.social import repository as repo
from atelier.social.events import CastIndexed, CastReacted
from atelier.social.farcaster import MessageRefused, Verified
from atelier.social.hub import HubClient, HubError
from atelier.social.models import Cast, HubCursor, Reaction

EMBEDDED = "embedded"
STANDIN_PATH = "/farcaster/hub"
COLLECTION_LINK = re.compile(
    r"/market/collections/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})", re.I
)
MAX_CAST_BYTES = 320  # a plain cast's limit on Farcaster
NETWORKS = {
    "mainnet": "FARCASTER_NETWORK_MAINNET",
    "testnet": "FARCASTER_NETWORK_TESTNET",
    "devnet": "FARCASTER_NETWORK_DEVNET",
}


class Indexed(StrEnum):
    STORED = "stored"
    DUPLICATE = "duplicate"
    REMOVED = "removed"
    PROFILE = "profile"
    REACTION = "reaction"
    IGNORED = "ignored"  # valid, but not something the feed follows
    UNSUPPORTED = "unsupported"  # a message type the platform does not read
    REFUSED = "refused"  # its hash or signature did not check, or it is malformed


def enabled(settings: Settings) -> bool:
    return bool(settings.farcaster_hub_url)


def hub_url(settings: Settings) -> str:
    if settings.farcaster_hub_url == EMBEDDED:
        return settings.origin + STANDIN_PATH
    return settings.farcaster_hub_url.rstrip("/")


def hub_client(settings: Settings) -> HubClient:
    if not enabled(settings):
        raise ServiceUnavailable("Farcaster is off (ATELIER_FARCASTER_HUB_URL is empty)")
    return HubClient(hub_url(settings))


def followed(settings: Settings) -> list[int]:
    return sorted({*settings.farcaster_fids, settings.farcaster_fid})


def linked_collections(body: dict[str, Any]) -> list[uuid.UUID]:
    """Our collections a cast links, in its text, embedded URLs or parent URL."""
    places = [str(body.get("text", "")), str(body.get("parentUrl") or "")]
    places += [str(e.get("url", "")) for e in body.get("embeds", []) if isinstance(e, dict)]
    found = {uuid.UUID(m) for place in places for m in COLLECTION_LINK.findall(place)}
    return sorted(found)


async def index(
    session: AsyncSession, settings: Settings, messages: Iterable[tuple[Any, bool]]
) -> list[Indexed]:
    """Keep what the feed follows of hub messages, each checked first, with whether the hub
    revoked it (its signer was revoked, or it was pruned: a stored cast leaves the feed). A
    cast whose likes or recasts changed is announced once, with its counts after them all:
    a page of a thousand likes is not a thousand events."""
    reacted: set[bytes] = set()
    outcomes = [
        await _index(session, settings, message, revoked=revoked, reacted=reacted)
        for message, revoked in messages
    ]
    if reacted:
        await _announce_counts(session, sorted(reacted))
    return outcomes


async def _index(
    session: AsyncSession, settings: Settings, message: Any, *, revoked: bool, reacted: set[bytes]
) -> Indexed:
    data = message.get("data") if isinstance(message, dict) else None
    if isinstance(data, dict) and data.get("type") not in farcaster.MESSAGE_TYPES:
        return Indexed.UNSUPPORTED
    try:
        verified = farcaster.verify(message)
    except MessageRefused:
        return Indexed.REFUSED
    when = datetime.fromtimestamp(verified.unix_time, UTC)
    if revoked and verified.kind == farcaster.CAST_ADD:
        await repo.remove_cast(session, verified.hash, verified.fid, when)
        return Indexed.REMOVED
    if verified.kind == farcaster.CAST_REMOVE:
        target = bytes.fromhex(str(verified.body["targetHash"])[2:])
        await repo.remove_cast(session, target, verified.fid, when)
        return Indexed.REMOVED
    if verified.kind in (farcaster.REACTION_ADD, farcaster.REACTION_REMOVE):
        return await _index_reaction(session, verified, when, revoked=revoked, reacted=reacted)
    if verified.kind == farcaster.USER_DATA_ADD:
        if verified.fid not in followed(settings):
            return Indexed.IGNORED
        kind = str(verified.body["type"]).removeprefix("USER_DATA_TYPE_").lower()
        await repo.set_user_data(session, verified.fid, kind, str(verified.body["value"]), when)
        return Indexed.PROFILE
    return await _index_cast(session, settings, verified, when)


REACTION_KINDS = {"REACTION_TYPE_LIKE": "like", "REACTION_TYPE_RECAST": "recast"}


async def _index_reaction(
    session: AsyncSession, verified: Verified, when: datetime, *, revoked: bool, reacted: set[bytes]
) -> Indexed:
    if revoked:
        withdrawn = await repo.withdraw_reaction(session, verified.hash)
        if withdrawn is None:
            return Indexed.IGNORED
        reacted.add(withdrawn)
        return Indexed.REMOVED
    target_id = verified.body.get("targetCastId")
    if not isinstance(target_id, dict):
        return Indexed.IGNORED  # a URL's reactions: not a cast the feed keeps
    target = bytes.fromhex(str(target_id["hash"])[2:])
    if await repo.cast(session, target) is None:
        return Indexed.IGNORED
    reaction = Reaction(
        fid=verified.fid,
        target_hash=target,
        kind=REACTION_KINDS[str(verified.body["type"])],
        active=verified.kind == farcaster.REACTION_ADD,
        reacted_at=when,
        hash=verified.hash,
        message=verified.raw,
    )
    if not await repo.set_reaction(session, reaction):
        return Indexed.DUPLICATE  # an older or repeated message: the state stands
    reacted.add(target)
    return Indexed.REACTION


async def _announce_counts(session: AsyncSession, targets: list[bytes]) -> None:
    counts = await repo.reaction_counts(session, targets)
    for target in targets:
        kinds = counts.get(target, {})
        await events.emit(
            session,
            CastReacted(
                hash="0x" + target.hex(),
                likes=kinds.get("like", 0),
                recasts=kinds.get("recast", 0),
            ),
        )


async def _index_cast(
    session: AsyncSession, settings: Settings, verified: Verified, when: datetime
) -> Indexed:
    body = verified.body
    collections = linked_collections(body)
    if verified.fid not in followed(settings) and not collections:
        return Indexed.IGNORED
    parent = body.get("parentCastId") or {}
    cast = Cast(
        hash=verified.hash,
        fid=verified.fid,
        signer=verified.signer,
        text=str(body.get("text", "")),
        cast_at=when,
        parent_fid=parent.get("fid"),
        parent_hash=bytes.fromhex(parent["hash"][2:]) if parent.get("hash") else None,
        parent_url=body.get("parentUrl"),
        embeds=list(body.get("embeds", [])),
        mentions=[int(m) for m in body.get("mentions", [])],
        collection_ids=collections,
        message=verified.raw,
    )
    if not await repo.add_cast(session, cast):
        return Indexed.DUPLICATE
    indexed = CastIndexed(hash="0x" + verified.hash.hex(), fid=verified.fid, text=cast.text)
    await events.emit(session, indexed)
    return Indexed.STORED


@dataclass(frozen=True)
class FeedPage:
    casts: list[Cast]
    profiles: dict[int, dict[str, str]]
    next_cursor: str | None
    reactions: dict[bytes, dict[str, int]]  # by cast hash: {"like": n, "recast": m}


def _cursor_of(cast: Cast) -> str:
    return f"{cast.cast_at.timestamp():.6f}.{cast.hash.hex()}"


def _parse_cursor(cursor: str | None) -> tuple[datetime, bytes] | None:
    if not cursor:
        return None
    try:
        seconds, digest = cursor.rsplit(".", 1)
        return datetime.fromtimestamp(float(seconds), UTC), bytes.fromhex(digest)
    except (ValueError, OverflowError, OSError):
        raise InvalidInput("the cursor is not one this feed gave", slug="invalid-cursor") from None


async def feed(
    session: AsyncSession,
    *,
    fid: int | None = None,
    collection_id: uuid.UUID | None = None,
    cursor: str | None = None,
    limit: int = 30,
) -> FeedPage:
    """Casts newest first: one account's, those linking a collection, or (neither given)
    everything the feed keeps."""
    hidden = await moderation.all_hidden(session, "cast")
    casts = await repo.feed(
        session,
        fids=[fid] if fid is not None else None,
        collection_id=collection_id,
        before=_parse_cursor(cursor),
        limit=limit + 1,
        hidden=[bytes.fromhex(h.removeprefix("0x")) for h in hidden],
    )
    following = _cursor_of(casts[limit - 1]) if len(casts) > limit else None
    casts = casts[:limit]
    profiles = await repo.names(session, sorted({c.fid for c in casts}))
    reactions = await repo.reaction_counts(session, [c.hash for c in casts])
    return FeedPage(casts, profiles, following, reactions)


async def cast(session: AsyncSession, hash_hex: str) -> FeedPage:
    """One cast the feed shows, as a page of one (with its author's profile and its
    reactions); 404 when it was removed or hidden."""
    try:
        digest = bytes.fromhex(hash_hex.removeprefix("0x"))
    except ValueError:
        raise InvalidInput("a cast hash is 0x and 40 hex digits", slug="invalid-hash") from None
    found = await repo.cast(session, digest) if len(digest) == farcaster.HASH_BYTES else None
    hidden = found is not None and await moderation.hidden(session, "cast", [hash_hex.lower()])
    if found is None or found.removed_at is not None or hidden:
        raise NotFound("no such cast in the feed", slug="cast-not-found")
    profiles = await repo.names(session, [found.fid])
    reactions = await repo.reaction_counts(session, [found.hash])
    return FeedPage([found], profiles, None, reactions)


# -- cross-posting -----------------------------------------------------------------------------


def signer_key(settings: Settings) -> Ed25519PrivateKey:
    """The platform's Farcaster signer: `ATELIER_FARCASTER_SIGNER_KEY`, else one generated
    once and kept sealed in $ATELIER_HOME/farcaster (never in plain text at rest)."""
    if settings.farcaster_signer_key is not None:
        try:
            seed = bytes.fromhex(settings.farcaster_signer_key.get_secret_value())
            return Ed25519PrivateKey.from_private_bytes(seed)
        except ValueError:
            raise ValueError("ATELIER_FARCASTER_SIGNER_KEY must be 64 hex characters") from None
    path = settings.home / "farcaster" / "signer.sealed"
    bound = f"farcaster-signer:{settings.farcaster_fid}"
    if path.exists():
        sealed = json.loads(path.read_text())
        return Ed25519PrivateKey.from_private_bytes(
            unseal(settings, bound, bytes.fromhex(sealed["sealed"]))
        )
    key = Ed25519PrivateKey.generate()
    secret = key.private_bytes_raw()
    record = {"public_key": key.public_key().public_bytes_raw().hex()}
    record["sealed"] = seal(settings, bound, secret).hex()
    write_private_file(path, json.dumps(record).encode())
    return key


def cast_text(text: str) -> str:
    cleaned = text.strip()
    problem = None
    if not cleaned:
        problem = "a cast needs some text"
    elif len(cleaned.encode()) > MAX_CAST_BYTES:
        problem = f"a cast is at most {MAX_CAST_BYTES} bytes of text"
    if problem is not None:
        raise InvalidInput.on_field("text", problem, slug="invalid-cast")
    return cleaned


async def post_cast(
    settings: Settings,
    client: HubClient,
    text: str,
    embeds: list[str] | None = None,
    *,
    timestamp: int | None = None,
) -> dict[str, Any]:
    """Sign a cast as the platform's account and submit it to the hub; the hub's JSON of
    it. Slow (a network call): call it with no transaction open. The same text and
    `timestamp` make the same message (a retry sends what the hub already has)."""
    data = farcaster.cast_data(
        settings.farcaster_fid,
        cast_text(text),
        embeds=(embeds or [])[: farcaster.MAX_EMBEDS],
        network=NETWORKS[settings.farcaster_network],
        timestamp=timestamp,
    )
    message, wire = farcaster.signed_message(signer_key(settings), data)
    try:
        await client.submit(wire)
    except HubError as exc:
        raise ServiceUnavailable(f"the Farcaster hub refused or missed the cast: {exc}") from None
    return message


async def hub_status(session: AsyncSession) -> list[HubCursor]:
    """Where the indexer is in each hub's stream, with its counts and last error."""
    return await repo.cursors(session)
