"""`Idempotency-Key` on the POSTs that create things (IETF draft-ietf-httpapi-idempotency-key).

A client that did not get an answer (a timeout, a dropped connection) sends the same request
with the same key again, and must not create the thing twice. The key is claimed by an INSERT
in the request's own transaction, and the answer is stored in that same transaction, so:

- the first request creates, and its answer is kept with the key;
- a retry after it committed gets the kept answer (header `Idempotent-Replayed: true`);
- a retry while the first is still running waits on the key's row (the unique index) and then
  gets its answer, or, if the first failed and rolled back, runs itself;
- the same key with another request (method, path or body) is a 422: the client has a bug.

Keys belong to the account that sent them and are kept 24 hours. An answer that carries a
secret (a new API key) is kept without it: its replay says the secret was shown once.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import DateTime, Integer, String, delete, func, select
from sqlalchemy.dialects.postgresql import JSONB, UUID, insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from atelier.core.db import Base
from atelier.core.errors import PROBLEM_JSON, Conflict, InvalidInput

HEADER = "idempotency-key"
KEPT = timedelta(hours=24)
_KEY_RE = re.compile(r"^[\x21-\x7e]{1,255}$")


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    user_id: Mapped[uuid.UUID] = mapped_column(UUID(as_uuid=True), primary_key=True)
    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request: Mapped[str] = mapped_column(String(64))  # sha256 of method, path and body
    status: Mapped[int | None] = mapped_column(Integer)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    created_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), index=True
    )


@dataclass
class Claim:
    """A request's hold on its key: `replay` is the answer to give instead of running it."""

    user_id: uuid.UUID
    key: str | None
    replay: JSONResponse | None = None


def key_of(request: Request) -> str | None:
    value = request.headers.get(HEADER)
    if value is None:
        return None
    value = value.strip().strip('"')  # the draft's examples quote it (a structured string)
    if not _KEY_RE.match(value):
        raise InvalidInput(
            "Idempotency-Key is 1 to 255 visible ASCII characters", slug="invalid-idempotency-key"
        )
    return value


async def _fingerprint(request: Request) -> str:
    body = await request.body()
    return hashlib.sha256(
        request.method.encode() + b" " + request.url.path.encode() + b"\n" + body
    ).hexdigest()


async def claim(session: AsyncSession, request: Request, user_id: uuid.UUID) -> Claim:
    """Claim the request's Idempotency-Key (if it sent one) in `session`'s transaction."""
    key = key_of(request)
    if key is None:
        return Claim(user_id, None)
    fingerprint = await _fingerprint(request)
    await session.execute(
        delete(IdempotencyKey).where(
            IdempotencyKey.user_id == user_id,
            IdempotencyKey.key == key,
            IdempotencyKey.created_at < func.now() - KEPT,
        )
    )
    inserted = await session.scalar(
        insert(IdempotencyKey)
        .values(user_id=user_id, key=key, request=fingerprint)
        .on_conflict_do_nothing()
        .returning(IdempotencyKey.key)
    )
    if inserted is not None:
        return Claim(user_id, key)
    stored = await session.scalar(
        select(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    )
    assert stored is not None  # the row we collided with, now committed
    if stored.status is None:  # committed without an answer: its request did not finish
        raise Conflict(
            "a request with this Idempotency-Key did not finish; use a new key",
            slug="idempotency-key-in-use",
        )
    if stored.request != fingerprint:
        raise InvalidInput(
            "this Idempotency-Key was used for another request; use a new key for a new request",
            slug="idempotency-key-reused",
        )
    body = stored.response or {}
    media = PROBLEM_JSON if stored.status >= 400 else "application/json"
    replay = JSONResponse(
        body, status_code=stored.status, media_type=media, headers={"Idempotent-Replayed": "true"}
    )
    return Claim(user_id, key, replay)


async def keep(session: AsyncSession, claim: Claim, status: int, body: dict[str, Any]) -> None:
    """Store the answer with the claimed key, in the same transaction as what it created."""
    if claim.key is None:
        return
    row = await session.get(IdempotencyKey, (claim.user_id, claim.key))
    assert row is not None
    row.status, row.response = status, body


async def prune(session: AsyncSession) -> None:
    await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < func.now() - KEPT)
    )
