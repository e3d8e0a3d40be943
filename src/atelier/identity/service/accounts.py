"""Accounts: registration without enumeration, email verification, profiles, roles."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events
from atelier.core import repository as rows
from atelier.core.clock import now_utc
from atelier.core.config import ROLES
from atelier.core.errors import Conflict, InvalidInput, NotFound
from atelier.identity import repository as repo
from atelier.identity import tokens
from atelier.identity.events import RegistrationRepeated, UserRegistered
from atelier.identity.models import EmailVerification, User, Wallet
from atelier.identity.passwords import hash_password, password_problems
from atelier.identity.principal import Principal


async def wallets_of(session: AsyncSession, user: User) -> list[Wallet]:
    """The wallets linked to (or held for) the account."""
    return await repo.wallets_of(session, user.id)


async def register(
    session: AsyncSession, email: str, password: str, display_name: str | None
) -> None:
    """Create the account and email a verification link, or, if the address already has an
    account, email its owner instead. Both look the same to the caller (and cost the same
    password hashing): registration does not reveal who has an account here."""
    email = email.lower()
    problems = password_problems(password, email)
    if problems:
        raise InvalidInput(
            "password is too weak: " + "; ".join(problems),
            slug="weak-password",
            extra={"errors": [{"loc": ["body", "password"], "msg": p} for p in problems]},
        )
    password_hash = await hash_password(password)
    existing = await repo.user_by_email(session, email)
    if existing is None:
        user = User(
            email=email, password_hash=password_hash, display_name=display_name, roles=["creator"]
        )
        if await rows.add_unique(session, user):
            await events.emit(session, UserRegistered(user_id=user.id, email=email))
            return
        existing = await repo.user_by_email(session, email)  # registered concurrently
    assert existing is not None
    await events.emit(session, RegistrationRepeated(user_id=existing.id))


async def create_email_verification(session: AsyncSession, user: User, ttl_s: int) -> str | None:
    """A fresh single-use verification token for `user` (None if nothing to verify)."""
    if user.email is None or user.email_verified_at is not None:
        return None
    raw, digest = tokens.new_opaque_token()
    expires_at = now_utc() + timedelta(seconds=ttl_s)
    verification = EmailVerification(
        user_id=user.id, email=user.email, token_hash=digest, expires_at=expires_at
    )
    await rows.add(session, verification)
    return raw


async def verify_email(session: AsyncSession, token: str) -> User:
    record = await repo.consume_verification(session, tokens.sha256_hex(token))
    if record is None:
        raise InvalidInput(
            "verification link is invalid, expired or already used",
            slug="invalid-verification-token",
        )
    user = await repo.user_by_id(session, record.user_id)
    if user is None or user.email != record.email:
        raise InvalidInput(
            "this link is for an email the account no longer has",
            slug="invalid-verification-token",
        )
    if user.email_verified_at is None:
        user.email_verified_at = now_utc()
    return user


async def request_verification_resend(session: AsyncSession, email: str) -> None:
    """Queue a new verification email; silent for unknown or verified addresses."""
    user = await repo.user_by_email(session, email)
    if user is not None and user.email_verified_at is None:
        await events.emit(session, UserRegistered(user_id=user.id, email=user.email))


async def update_profile(
    session: AsyncSession, user_id: uuid.UUID, display_name: str | None
) -> User:
    user = await get_user(session, user_id)
    user.display_name = display_name
    return user


async def get_user(session: AsyncSession, user_id: uuid.UUID) -> User:
    user = await repo.user_by_id(session, user_id)
    if user is None:
        raise NotFound("account not found", slug="user-not-found")
    return user


async def principal_for(session: AsyncSession, user_id: uuid.UUID, via: str) -> Principal:
    """The user as a principal, for work done on their behalf by an event (not a request)."""
    user = await get_user(session, user_id)
    return Principal(user.id, tuple(user.roles), user.email_verified_at is not None, via)


async def set_role(session: AsyncSession, email: str, role: str, *, grant: bool) -> User:
    if role not in ROLES:
        raise InvalidInput(
            f"unknown role {role!r}; roles are {', '.join(ROLES)}", slug="unknown-role"
        )
    user = await repo.user_by_email(session, email)
    if user is None:
        raise NotFound(f"no account with email {email}", slug="user-not-found")
    roles = set(user.roles)
    roles = roles | {role} if grant else roles - {role}
    user.roles = sorted(roles)
    return user


async def system_account(session: AsyncSession, email: str, roles: list[str]) -> User:
    """An account the platform itself uses (no password: it cannot sign in)."""
    user = await repo.user_by_email(session, email)
    if user is None:
        user = User(email=email, roles=roles, email_verified_at=now_utc())
        if not await rows.add_unique(session, user):
            raise Conflict("the system account was created concurrently; retry")
    return user


async def is_verified(session: AsyncSession, user_id: uuid.UUID) -> bool:
    user = await repo.user_by_id(session, user_id)
    return user is not None and user.is_active and user.email_verified_at is not None


async def find_users(session: AsyncSession, query: str | None, limit: int) -> list[User]:
    """Accounts for an admin: those whose email or name contains `query`, else the newest."""
    return await repo.find_users(session, query, limit)


async def administer(
    session: AsyncSession,
    admin: Principal,
    user_id: uuid.UUID,
    *,
    roles: list[str] | None = None,
    active: bool | None = None,
    daily_quota: int | None = None,
    clear_quota: bool = False,
) -> User:
    """An admin's changes to an account: its roles, whether it may sign in (a disabled
    account's sessions and keys stop working at once: every request checks), its daily
    quota override. An admin cannot take their own admin role or disable themselves."""
    user = await get_user(session, user_id)
    if roles is not None:
        unknown = sorted(set(roles) - set(ROLES))
        if unknown:
            raise InvalidInput(
                f"unknown roles {', '.join(unknown)}; roles are {', '.join(ROLES)}",
                slug="unknown-role",
            )
        if user.id == admin.user_id and "admin" not in roles:
            raise Conflict("you cannot take away your own admin role", slug="own-admin-role")
        user.roles = sorted(set(roles))
    if active is not None:
        if user.id == admin.user_id and not active:
            raise Conflict("you cannot disable your own account", slug="own-account")
        user.is_active = active
    if clear_quota:
        user.daily_quota = None
    elif daily_quota is not None:
        user.daily_quota = daily_quota
    return user
