"""Identity queries. Every statement that returns a user's data is scoped by that user's id."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import Row, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.db import HotConnection
from atelier.identity.models import (
    ApiKey,
    AuthNonce,
    AuthSession,
    EmailVerification,
    QuotaReservation,
    QuotaUsage,
    RefreshToken,
    User,
    Wallet,
)


async def user_by_email(session: AsyncSession, email: str) -> User | None:
    return await session.scalar(select(User).where(User.email == email.lower()))


async def user_by_id(session: AsyncSession, user_id: uuid.UUID) -> User | None:
    return await session.get(User, user_id)


async def newest_users(session: AsyncSession, limit: int) -> list[User]:
    return list(await session.scalars(select(User).order_by(User.created_at.desc()).limit(limit)))


async def wallets_of(session: AsyncSession, user_id: uuid.UUID) -> list[Wallet]:
    rows = await session.scalars(
        select(Wallet).where(Wallet.user_id == user_id).order_by(Wallet.created_at)
    )
    return list(rows)


async def verified_owner(session: AsyncSession, chain: str, address: str) -> uuid.UUID | None:
    """The active, email-verified account a wallet is linked to (None: no such account)."""
    return await session.scalar(
        select(User.id)
        .join(Wallet, Wallet.user_id == User.id)
        .where(
            Wallet.chain == chain,
            Wallet.address == address,
            User.is_active.is_(True),
            User.email_verified_at.is_not(None),
        )
    )


async def wallet_by_address(session: AsyncSession, chain: str, address: str) -> Wallet | None:
    return await session.scalar(
        select(Wallet).where(Wallet.chain == chain, Wallet.address == address)
    )


# The two lookups behind every authenticated request are single prepared statements on a
# plain psycopg autocommit connection (runtime.hot): they run on every request.
_PRINCIPAL_FOR_SESSION = """
    SELECT u.id, u.roles, u.is_active, u.email_verified_at
    FROM users u JOIN auth_sessions s ON s.user_id = u.id
    WHERE u.id = %(user_id)s AND s.id = %(session_id)s AND s.revoked_at IS NULL
"""
_API_KEY_CANDIDATES = """
    SELECT k.id, k.key_hash, k.revoked_at, k.last_used_at, k.scope,
           u.id, u.roles, u.is_active, u.email_verified_at
    FROM api_keys k JOIN users u ON u.id = k.user_id
    WHERE k.prefix = %(prefix)s
"""


async def principal_for_session(
    conn: HotConnection, user_id: uuid.UUID, session_id: uuid.UUID
) -> tuple[Any, ...] | None:
    """(user id, roles, active, verified at) behind an access token whose session is live."""
    cursor = await conn.execute(
        _PRINCIPAL_FOR_SESSION, {"user_id": user_id, "session_id": session_id}
    )
    return await cursor.fetchone()


async def api_key_candidates(conn: HotConnection, prefix: str) -> list[tuple[Any, ...]]:
    cursor = await conn.execute(_API_KEY_CANDIDATES, {"prefix": prefix})
    return await cursor.fetchall()


async def touch_api_key(conn: HotConnection, key_id: uuid.UUID) -> None:
    await conn.execute("UPDATE api_keys SET last_used_at = now() WHERE id = %(id)s", {"id": key_id})


async def api_keys_of(session: AsyncSession, user_id: uuid.UUID) -> list[ApiKey]:
    rows = await session.scalars(
        select(ApiKey).where(ApiKey.user_id == user_id).order_by(ApiKey.created_at.desc())
    )
    return list(rows)


async def count_active_api_keys(session: AsyncSession, user_id: uuid.UUID) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
    )
    return int(count or 0)


async def revoke_api_keys(session: AsyncSession, user_id: uuid.UUID, at: datetime) -> None:
    """Revoke every live key of `user_id` (keys already revoked keep their date)."""
    await session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=at)
    )


async def api_key_of(session: AsyncSession, user_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
    return await session.scalar(
        select(ApiKey).where(ApiKey.id == key_id, ApiKey.user_id == user_id)
    )


async def refresh_token_for_update(
    session: AsyncSession, token_hash: str
) -> Row[RefreshToken, AuthSession] | None:
    result = await session.execute(
        select(RefreshToken, AuthSession)
        .join(AuthSession, AuthSession.id == RefreshToken.session_id)
        .where(RefreshToken.token_hash == token_hash)
        .with_for_update(of=[RefreshToken, AuthSession])
    )
    return result.first()


async def revoke_session(session: AsyncSession, session_id: uuid.UUID, reason: str) -> None:
    await session.execute(
        update(AuthSession)
        .where(AuthSession.id == session_id, AuthSession.revoked_at.is_(None))
        .values(revoked_at=func.now(), revoked_reason=reason)
    )


async def consume_nonce(
    session: AsyncSession, nonce: str, purpose: str, user_id: uuid.UUID | None
) -> bool:
    """Mark a live nonce used; False if it is unknown, expired, used or someone else's."""
    statement = (
        update(AuthNonce)
        .where(
            AuthNonce.nonce == nonce,
            AuthNonce.purpose == purpose,
            AuthNonce.used_at.is_(None),
            AuthNonce.expires_at > func.now(),
        )
        .values(used_at=func.now())
        .returning(AuthNonce.nonce)
    )
    if user_id is not None:
        statement = statement.where(AuthNonce.user_id == user_id)
    return await session.scalar(statement) is not None


async def consume_verification(session: AsyncSession, token_hash: str) -> EmailVerification | None:
    return await session.scalar(
        update(EmailVerification)
        .where(
            EmailVerification.token_hash == token_hash,
            EmailVerification.used_at.is_(None),
            EmailVerification.expires_at > func.now(),
        )
        .values(used_at=func.now())
        .returning(EmailVerification)
    )


async def reserve_quota(
    session: AsyncSession, user_id: uuid.UUID, day: date, amount: int, limit: int
) -> Row[int, int] | None:
    """Atomically add `amount` to the day's reservations if it still fits under `limit`.

    The conditional UPDATE takes the row lock; a concurrent reservation waits for it and
    then re-evaluates the condition against the committed counts (READ COMMITTED's
    EvalPlanQual), so the limit holds under any concurrency without SERIALIZABLE.
    """
    await session.execute(
        insert(QuotaUsage).values(user_id=user_id, day=day).on_conflict_do_nothing()
    )
    result = await session.execute(
        update(QuotaUsage)
        .where(
            QuotaUsage.user_id == user_id,
            QuotaUsage.day == day,
            QuotaUsage.used + QuotaUsage.reserved + amount <= limit,
        )
        .values(reserved=QuotaUsage.reserved + amount)
        .returning(QuotaUsage.used, QuotaUsage.reserved)
    )
    return result.first()


async def settle_reservation(
    session: AsyncSession, reservation_id: uuid.UUID, new_state: str
) -> QuotaReservation | None:
    """Move a reservation out of `reserved` once; None if it was already settled or unknown."""
    return await session.scalar(
        update(QuotaReservation)
        .where(QuotaReservation.id == reservation_id, QuotaReservation.state == "reserved")
        .values(state=new_state, settled_at=func.now())
        .returning(QuotaReservation)
    )


async def apply_settlement(
    session: AsyncSession, reservation: QuotaReservation, committed: bool
) -> None:
    used_delta = reservation.amount if committed else 0
    await session.execute(
        update(QuotaUsage)
        .where(QuotaUsage.user_id == reservation.user_id, QuotaUsage.day == reservation.day)
        .values(
            reserved=QuotaUsage.reserved - reservation.amount,
            used=QuotaUsage.used + used_delta,
        )
    )


async def quota_usage(session: AsyncSession, user_id: uuid.UUID, day: date) -> QuotaUsage | None:
    return await session.get(QuotaUsage, (user_id, day))


async def daily_quota_of(session: AsyncSession, user_id: uuid.UUID) -> int | None:
    """The user's quota override, if an admin set one."""
    return await session.scalar(select(User.daily_quota).where(User.id == user_id))


async def find_users(session: AsyncSession, query: str | None, limit: int) -> list[User]:
    statement = select(User).order_by(User.created_at.desc()).limit(limit)
    if query:
        pattern = "%" + query.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        statement = statement.where(
            User.email.ilike(pattern, escape="\\") | User.display_name.ilike(pattern, escape="\\")
        )
    return list(await session.scalars(statement))
