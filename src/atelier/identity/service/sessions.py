"""Sessions: password sign-in, access and refresh tokens, rotation with reuse detection."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import repository as rows
from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.db import HotConnection
from atelier.core.errors import Forbidden, Unauthorized
from atelier.identity import repository as repo
from atelier.identity import tokens
from atelier.identity.models import AuthSession, RefreshToken, User
from atelier.identity.passwords import burn_verify_time, verify_password
from atelier.identity.principal import ClientInfo, Principal
from atelier.identity.schemas import TokenPair


async def start_session(
    session: AsyncSession,
    settings: Settings,
    jwt_key: bytes,
    user: User,
    method: str,
    client: ClientInfo,
    *,
    created: bool = False,
) -> TokenPair:
    auth_session = AuthSession(
        user_id=user.id,
        method=method,
        ip=client.ip,
        user_agent=(client.user_agent or "")[:300] or None,
    )
    await rows.add(session, auth_session)
    return await _issue_pair(session, settings, jwt_key, user.id, auth_session.id, created=created)


async def _issue_pair(
    session: AsyncSession,
    settings: Settings,
    jwt_key: bytes,
    user_id: uuid.UUID,
    session_id: uuid.UUID,
    *,
    created: bool = False,
) -> TokenPair:
    raw, digest = tokens.new_opaque_token()
    expires_at = now_utc() + timedelta(seconds=settings.refresh_token_ttl_s)
    await rows.add(
        session, RefreshToken(session_id=session_id, token_hash=digest, expires_at=expires_at)
    )
    access, _ = tokens.issue_access_token(
        jwt_key,
        user_id=user_id,
        session_id=session_id,
        issuer=settings.origin,
        ttl_s=settings.access_token_ttl_s,
    )
    return TokenPair(
        access_token=access,
        expires_in=settings.access_token_ttl_s,
        refresh_token=raw,
        refresh_expires_in=settings.refresh_token_ttl_s,
        user_id=user_id,
        created=created,
    )


def ensure_can_sign_in(user: User, settings: Settings, *, by_password: bool) -> None:
    if not user.is_active:
        raise Forbidden("this account is disabled", slug="account-disabled")
    if by_password and settings.require_email_verification and user.email_verified_at is None:
        raise Forbidden(
            "verify your email first: follow the link we sent, or ask for a new one at "
            "POST /api/v1/auth/resend-verification",
            slug="email-not-verified",
        )


async def login(
    session: AsyncSession,
    settings: Settings,
    jwt_key: bytes,
    email: str,
    password: str,
    client: ClientInfo,
) -> TokenPair:
    user = await repo.user_by_email(session, email)
    if user is None or user.password_hash is None:
        await burn_verify_time(password)
        raise Unauthorized("email or password is wrong", slug="invalid-credentials")
    if not await verify_password(user.password_hash, password):
        raise Unauthorized("email or password is wrong", slug="invalid-credentials")
    ensure_can_sign_in(user, settings, by_password=True)
    return await start_session(session, settings, jwt_key, user, "password", client)


async def refresh(
    session: AsyncSession, settings: Settings, jwt_key: bytes, refresh_token: str
) -> TokenPair:
    """Rotate a refresh token. Presenting one that was already rotated revokes its session.

    A rotated token can only come back if it was copied: the thief and the owner now share
    a family, and ending the whole family is the only safe answer (RFC 9700 section 4.14).
    """
    row = await repo.refresh_token_for_update(session, tokens.sha256_hex(refresh_token))
    if row is None:
        raise Unauthorized("refresh token is not valid", slug="invalid-refresh-token")
    token, auth_session = row
    if auth_session.revoked_at is not None:
        raise Unauthorized("this session has ended; sign in again", slug="session-revoked")
    if token.used_at is not None:
        await repo.revoke_session(session, auth_session.id, "refresh-token-reuse")
        raise Unauthorized(
            "refresh token was already used; the session is revoked, sign in again",
            slug="refresh-token-reused",
            commit=True,
        )
    if token.expires_at <= now_utc():
        raise Unauthorized("refresh token has expired", slug="invalid-refresh-token")
    user = await repo.user_by_id(session, auth_session.user_id)
    if user is None or not user.is_active:
        raise Forbidden("this account is disabled", slug="account-disabled")
    token.used_at = now_utc()
    return await _issue_pair(session, settings, jwt_key, user.id, auth_session.id)


async def logout(session: AsyncSession, principal: Principal, refresh_token: str | None) -> None:
    if principal.session_id is not None:
        await repo.revoke_session(session, principal.session_id, "logout")
    if refresh_token:
        row = await repo.refresh_token_for_update(session, tokens.sha256_hex(refresh_token))
        if row is not None and row[1].user_id == principal.user_id:
            await repo.revoke_session(session, row[1].id, "logout")


async def principal_from_access_token(
    conn: HotConnection, jwt_key: bytes, issuer: str, token: str
) -> Principal:
    try:
        claims = tokens.decode_access_token(jwt_key, token, issuer=issuer)
    except tokens.InvalidAccessToken as exc:
        raise Unauthorized(str(exc), slug="invalid-access-token") from None
    row = await repo.principal_for_session(conn, claims.user_id, claims.session_id)
    if row is None:
        raise Unauthorized("this session has ended; sign in again", slug="session-revoked")
    user_id, roles, is_active, verified_at = row
    if not is_active:
        raise Forbidden("this account is disabled", slug="account-disabled")
    return Principal(
        user_id=user_id,
        roles=tuple(roles),
        email_verified=verified_at is not None,
        via="jwt",
        session_id=claims.session_id,
    )
