"""API keys: created once and shown once, stored as SHA-256 under an indexed prefix."""

from __future__ import annotations

import secrets
import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import repository as rows
from atelier.core.clock import now_utc
from atelier.core.db import HotConnection
from atelier.core.errors import Conflict, Forbidden, NotFound, Unauthorized
from atelier.identity import repository as repo
from atelier.identity import tokens
from atelier.identity.models import ApiKey
from atelier.identity.principal import Principal

MAX_ACTIVE_API_KEYS = 20
# At most one write a minute per key: a write per request would cost more than the
# authentication itself.
API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


async def principal_from_api_key(conn: HotConnection, credential: str) -> Principal:
    if not tokens.API_KEY_RE.fullmatch(credential):
        raise Unauthorized(
            "API key is malformed: expected atl_live_ followed by 48 lowercase hex characters",
            slug="invalid-api-key",
        )
    digest = tokens.sha256_hex(credential)
    prefix = credential[: tokens.API_KEY_DISPLAY_CHARS]
    for row in await repo.api_key_candidates(conn, prefix):
        (
            key_id,
            key_hash,
            revoked_at,
            last_used_at,
            scope,
            user_id,
            roles,
            is_active,
            verified_at,
        ) = row
        if not secrets.compare_digest(key_hash, digest):
            continue
        if revoked_at is not None:
            raise Unauthorized("this API key has been revoked", slug="api-key-revoked")
        if not is_active:
            raise Forbidden("this account is disabled", slug="account-disabled")
        if last_used_at is None or last_used_at < now_utc() - API_KEY_TOUCH_INTERVAL:
            await repo.touch_api_key(conn, key_id)
        return Principal(
            user_id=user_id,
            roles=tuple(roles),
            email_verified=verified_at is not None,
            via="api_key",
            api_key_id=key_id,
            scope=scope,
        )
    raise Unauthorized("unknown API key", slug="invalid-api-key")


async def create_api_key(
    session: AsyncSession, user_id: uuid.UUID, name: str, scope: str = "full"
) -> tuple[ApiKey, str]:
    if await repo.count_active_api_keys(session, user_id) >= MAX_ACTIVE_API_KEYS:
        raise Conflict(
            f"at most {MAX_ACTIVE_API_KEYS} active API keys; revoke one first",
            slug="too-many-api-keys",
        )
    raw, prefix, digest = tokens.new_api_key()
    key = ApiKey(user_id=user_id, name=name, prefix=prefix, key_hash=digest, scope=scope)
    return await rows.add(session, key, refresh=True), raw


async def list_api_keys(session: AsyncSession, user_id: uuid.UUID) -> list[ApiKey]:
    return await repo.api_keys_of(session, user_id)


async def revoke_all_api_keys(session: AsyncSession, user_id: uuid.UUID) -> None:
    await repo.revoke_api_keys(session, user_id, now_utc())


async def revoke_api_key(session: AsyncSession, user_id: uuid.UUID, key_id: uuid.UUID) -> None:
    key = await repo.api_key_of(session, user_id, key_id)
    if key is None:
        raise NotFound("no such API key", slug="api-key-not-found")
    if key.revoked_at is None:
        key.revoked_at = now_utc()
