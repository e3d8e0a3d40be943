"""Social request and response models."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from atelier.core.schemas import Body, Text
from atelier.social.models import Cast, HubCursor


class AuthorOut(BaseModel):
    fid: int
    username: str | None = None
    display: str | None = None
    pfp: str | None = None


class CastOut(BaseModel):
    """A cast as the feed keeps it; `message` is the hub's JSON, for anyone to verify again
    (BLAKE3 of its data's protobuf bytes = `hash`; ed25519 by `signer`)."""

    hash: str
    author: AuthorOut
    text: str
    cast_at: datetime
    parent_url: str | None
    parent: dict[str, Any] | None
    embeds: list[Any]
    mentions: list[int]
    collection_ids: list[uuid.UUID]
    likes: int
    recasts: int
    message: dict[str, Any]

    @classmethod
    def of(
        cls,
        cast: Cast,
        profile: dict[str, str] | None = None,
        reactions: dict[str, int] | None = None,
    ) -> CastOut:
        profile, reactions = profile or {}, reactions or {}
        parent = None
        if cast.parent_hash is not None:
            parent = {"fid": cast.parent_fid, "hash": "0x" + cast.parent_hash.hex()}
        return cls(
            hash="0x" + cast.hash.hex(),
            author=AuthorOut(
                fid=cast.fid,
                username=profile.get("username"),
                display=profile.get("display"),
                pfp=profile.get("pfp"),
            ),
            text=cast.text,
            cast_at=cast.cast_at,
            parent_url=cast.parent_url,
            parent=parent,
            embeds=cast.embeds,
            mentions=cast.mentions,
            collection_ids=cast.collection_ids,
            likes=reactions.get("like", 0),
            recasts=reactions.get("recast", 0),
            message=cast.message,
        )


class FeedOut(BaseModel):
    casts: list[CastOut]
    next_cursor: str | None


class CastIn(Body):
    text: Text = Field(max_length=320)
    embeds: list[Text] = Field(default_factory=list, max_length=2)


class PostedOut(BaseModel):
    hash: str
    fid: int
    message: dict[str, Any]


class HubStatusOut(BaseModel):
    hub: str
    last_event_id: int
    indexed: int
    refused: int
    backfilled_at: datetime | None
    last_error: str | None
    updated_at: datetime

    @classmethod
    def of(cls, cursor: HubCursor) -> HubStatusOut:
        return cls.model_validate(cursor, from_attributes=True)
