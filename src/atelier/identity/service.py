"""Accounts, sign-in (password, SIWE, SIWS), sessions and refresh rotation, API keys, wallets.

Functions take the caller's `AsyncSession` and never commit: the API layer owns the
transaction, so each request is one unit of work. Errors are `AppError`s with stable slugs.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from eth_utils.address import is_address, to_checksum_address
from solders.pubkey import Pubkey
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events
from atelier.core.clock import now_utc
from atelier.core.config import ROLES, Settings
from atelier.core.db import HotConnection
from atelier.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from atelier.identity import repository as repo
from atelier.identity import signin, tokens
from atelier.identity.keystore import Chain
from atelier.identity.models import (
    ApiKey,
    AuthNonce,
    AuthSession,
    EmailVerification,
    RefreshToken,
    User,
    Wallet,
)
from atelier.identity.passwords import (
    burn_verify_time,
    hash_password,
    password_problems,
    verify_password,
)
from atelier.identity.schemas import TokenPair, UserOut, WalletOut

USER_REGISTERED = "user.registered"
# Someone tried to register an address that has an account: its owner is told by email (the
# API answers exactly as for a new address, so it does not tell anyone who has an account).
REGISTRATION_REPEATED = "identity.registration_repeated"
SIGNIN_STATEMENT = "Sign in to Atelier."
LINK_STATEMENT = "Link this wallet to my Atelier account."
MAX_ACTIVE_API_KEYS = 20


@dataclass(frozen=True)
class Principal:
    """Who is calling: resolved once per request from a JWT or an API key."""

    user_id: uuid.UUID
    roles: tuple[str, ...]
    email_verified: bool
    via: str  # "jwt" (a signed-in session), "api_key", or what acted for the user
    session_id: uuid.UUID | None = None
    api_key_id: uuid.UUID | None = None
    scope: str = "full"  # an API key's scope: "full" or "worker"

    def has_role(self, role: str) -> bool:
        return role in self.roles or "admin" in self.roles

    @property
    def signed_in(self) -> bool:
        """A person in a session, not a key that may sit on some machine."""
        return self.via == "jwt"


@dataclass(frozen=True)
class ClientInfo:
    ip: str | None
    user_agent: str | None


# -- accounts -------------------------------------------------------------------------------


async def user_out(session: AsyncSession, user: User) -> UserOut:
    wallets = await repo.wallets_of(session, user.id)
    return UserOut(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        roles=list(user.roles),
        email_verified=user.email_verified_at is not None,
        is_active=user.is_active,
        created_at=user.created_at,
        wallets=[WalletOut.of(w) for w in wallets],
    )


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
        user = User(email=email, password_hash=password_hash, display_name=display_name,
                    roles=["creator"])  # fmt: skip
        try:
            async with session.begin_nested():  # a lost race rolls back (and forgets) the row
                session.add(user)
                await session.flush()
        except IntegrityError:  # registered concurrently: that one is the account
            existing = await repo.user_by_email(session, email)
        else:
            await events.emit(session, USER_REGISTERED, {"user_id": str(user.id), "email": email})
            return
    assert existing is not None
    await events.emit(session, REGISTRATION_REPEATED, {"user_id": str(existing.id)})


async def _flush_or_conflict(session: AsyncSession, detail: str, slug: str) -> None:
    """Flush pending rows; a unique-constraint race lost to a concurrent request is a 409."""
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict(detail, slug=slug) from None


async def create_email_verification(session: AsyncSession, user: User, ttl_s: int) -> str | None:
    """A fresh single-use verification token for `user` (None if nothing to verify)."""
    if user.email is None or user.email_verified_at is not None:
        return None
    raw, digest = tokens.new_opaque_token()
    session.add(
        EmailVerification(
            user_id=user.id,
            email=user.email,
            token_hash=digest,
            expires_at=now_utc() + timedelta(seconds=ttl_s),
        )
    )
    await session.flush()
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
        raise InvalidInput("this link is for an email the account no longer has",
                           slug="invalid-verification-token")  # fmt: skip
    if user.email_verified_at is None:
        user.email_verified_at = now_utc()
    return user


async def request_verification_resend(session: AsyncSession, email: str) -> None:
    """Queue a new verification email; silent for unknown or verified addresses."""
    user = await repo.user_by_email(session, email)
    if user is not None and user.email_verified_at is None:
        await events.emit(session, USER_REGISTERED, {"user_id": str(user.id), "email": user.email})


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


# -- sessions and tokens --------------------------------------------------------------------


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
    session.add(auth_session)
    await session.flush()
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
    session.add(
        RefreshToken(
            session_id=session_id,
            token_hash=digest,
            expires_at=now_utc() + timedelta(seconds=settings.refresh_token_ttl_s),
        )
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


def _ensure_can_sign_in(user: User, settings: Settings, *, by_password: bool) -> None:
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
    _ensure_can_sign_in(user, settings, by_password=True)
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


API_KEY_TOUCH_INTERVAL = timedelta(minutes=1)


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


# -- API keys -------------------------------------------------------------------------------


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
            # At most one write a minute per key: a write per request would cost more than
            # the authentication itself.
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
    session.add(key)
    await session.flush()
    await session.refresh(key)
    return key, raw


async def list_api_keys(session: AsyncSession, user_id: uuid.UUID) -> list[ApiKey]:
    return await repo.api_keys_of(session, user_id)


async def revoke_all_api_keys(session: AsyncSession, user_id: uuid.UUID) -> None:
    await session.execute(
        update(ApiKey)
        .where(ApiKey.user_id == user_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now_utc())
    )


async def system_account(session: AsyncSession, email: str, roles: list[str]) -> User:
    """An account the platform itself uses (no password: it cannot sign in)."""
    user = await repo.user_by_email(session, email)
    if user is None:
        user = User(email=email, roles=roles, email_verified_at=now_utc())
        session.add(user)
        await _flush_or_conflict(session, "system account created concurrently", "conflict")
    return user


async def revoke_api_key(session: AsyncSession, user_id: uuid.UUID, key_id: uuid.UUID) -> None:
    key = await repo.api_key_of(session, user_id, key_id)
    if key is None:
        raise NotFound("no such API key", slug="api-key-not-found")
    if key.revoked_at is None:
        key.revoked_at = now_utc()


# -- wallets: sign-in and linking ----------------------------------------------------------


def _chain_ids(settings: Settings, chain: Chain) -> list[str]:
    if chain == "evm":
        return [str(c) for c in settings.siwe_chain_ids]
    return list(settings.siws_chain_ids)


async def new_nonce(
    session: AsyncSession, settings: Settings, purpose: str, user_id: uuid.UUID | None = None
) -> AuthNonce:
    nonce = AuthNonce(
        nonce=secrets.token_hex(16),
        purpose=purpose,
        user_id=user_id,
        expires_at=now_utc() + timedelta(seconds=settings.nonce_ttl_s),
    )
    session.add(nonce)
    await session.flush()
    return nonce


def normalize_address(chain: Chain, address: str) -> str:
    if chain == "evm":
        if not is_address(address):
            raise InvalidInput(f"{address!r} is not an Ethereum address", slug="invalid-address")
        return str(to_checksum_address(address))
    try:
        return str(Pubkey.from_string(address))
    except ValueError:
        raise InvalidInput(f"{address!r} is not a Solana address", slug="invalid-address") from None


async def _verified_wallet_message(
    session: AsyncSession,
    settings: Settings,
    chain: Chain,
    message: str,
    signature: str,
    *,
    purpose: str,
    user_id: uuid.UUID | None,
) -> signin.SignInMessage:
    try:
        parsed = signin.verify(
            chain,
            message,
            signature,
            domain=settings.domain,
            origin=settings.origin,
            allowed_chain_ids=_chain_ids(settings, chain),
            now=now_utc(),
        )
    except signin.SignInError as exc:
        status = InvalidInput if exc.slug == "malformed-sign-in-message" else Unauthorized
        raise status(exc.detail, slug=exc.slug) from None
    if not await repo.consume_nonce(session, parsed.nonce, purpose, user_id):
        raise Unauthorized(
            "nonce is unknown, expired or already used; request a new one", slug="invalid-nonce"
        )
    return parsed


async def wallet_sign_in(
    session: AsyncSession,
    settings: Settings,
    jwt_key: bytes,
    chain: Chain,
    message: str,
    signature: str,
    client: ClientInfo,
) -> TokenPair:
    """SIWE/SIWS: a valid signature over a fresh nonce signs in, creating the account once."""
    parsed = await _verified_wallet_message(
        session, settings, chain, message, signature, purpose="signin", user_id=None
    )
    address = normalize_address(chain, parsed.address)
    wallet = await repo.wallet_by_address(session, chain, address)
    created = False
    if wallet is None:
        user = User(roles=["creator"])
        session.add(user)
        await session.flush()
        session.add(Wallet(user_id=user.id, chain=chain, address=address))
        await _flush_or_conflict(
            session, "this wallet was linked concurrently; retry", "wallet-race"
        )
        created = True
    else:
        found = await repo.user_by_id(session, wallet.user_id)
        assert found is not None
        user = found
    _ensure_can_sign_in(user, settings, by_password=False)
    return await start_session(
        session, settings, jwt_key, user, "siwe" if chain == "evm" else "siws", client,
        created=created,
    )  # fmt: skip


async def link_challenge(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, chain: Chain, address: str
) -> tuple[str, AuthNonce]:
    address = normalize_address(chain, address)
    nonce = await new_nonce(session, settings, "link", user_id)
    message = signin.SignInMessage(
        chain=chain,
        domain=settings.domain,
        address=address,
        statement=LINK_STATEMENT,
        uri=settings.origin,
        version="1",
        chain_id=_chain_ids(settings, chain)[0],
        nonce=nonce.nonce,
        issued_at=now_utc(),
        expiration_time=nonce.expires_at,
        request_id=f"link:{user_id}",
    )
    return message.text(), nonce


async def link_wallet(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    chain: Chain,
    message: str,
    signature: str,
    label: str | None,
) -> Wallet:
    parsed = await _verified_wallet_message(
        session, settings, chain, message, signature, purpose="link", user_id=user_id
    )
    address = normalize_address(chain, parsed.address)
    existing = await repo.wallet_by_address(session, chain, address)
    if existing is not None:
        if existing.user_id != user_id:
            raise Conflict(
                "this wallet is linked to another account", slug="wallet-linked-elsewhere"
            )
        return existing
    wallet = Wallet(user_id=user_id, chain=chain, address=address, label=label)
    session.add(wallet)
    await _flush_or_conflict(
        session, "this wallet is linked to another account", "wallet-linked-elsewhere"
    )
    return wallet


async def create_custodial_wallet(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, chain: Chain, label: str | None
) -> Wallet:
    """A wallet the platform holds for the user (sealed key; see identity/custody.py)."""
    from atelier.identity import custody
    from atelier.identity.keystore import address_for, new_secret

    secret = new_secret(chain)
    address = address_for(chain, secret)
    wallet = Wallet(
        user_id=user_id, chain=chain, address=address, label=label,
        sealed_key=custody.seal(settings, address, secret),
    )  # fmt: skip
    session.add(wallet)
    await session.flush()
    return wallet


async def sign_typed_data_for(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, address: str,
    typed: dict[str, Any],
) -> str | None:  # fmt: skip
    """Sign EIP-712 data with `address` if the platform holds it for `user_id`; else None."""
    from atelier.identity import custody

    wallet = await repo.wallet_by_address(session, "evm", address)
    if wallet is None or wallet.user_id != user_id or wallet.sealed_key is None:
        return None
    return custody.sign_typed(settings, address, wallet.sealed_key, typed)


def chain_and_address(wallet: str) -> tuple[Chain, str]:
    """The chain of a wallet written either way (0x… is EVM) and its canonical address."""
    chain: Chain = "evm" if wallet.startswith("0x") else "solana"
    return chain, normalize_address(chain, wallet)


async def callers_wallet(session: AsyncSession, user_id: uuid.UUID, wallet: str) -> str:
    """The normalised address of `wallet` if it is linked to `user_id`, else 403."""
    chain, address = chain_and_address(wallet)
    if not await wallet_of_user(session, user_id, chain, address):
        raise Forbidden(
            "that wallet is not linked to your account; link it first "
            "(atelier wallet link, or POST /api/v1/user/wallets)",
            slug="wallet-not-linked",
        )
    return address


async def verified_owner(session: AsyncSession, chain: Chain, address: str) -> uuid.UUID | None:
    """The account a wallet belongs to when that account is a verified person (an email
    proven by a link we sent), else None: what sybil-resistant voting and relaying ask."""
    return await repo.verified_owner(session, chain, normalize_address(chain, address))


async def is_verified(session: AsyncSession, user_id: uuid.UUID) -> bool:
    user = await repo.user_by_id(session, user_id)
    return user is not None and user.is_active and user.email_verified_at is not None


async def wallet_of_user(
    session: AsyncSession, user_id: uuid.UUID, chain: Chain, address: str
) -> bool:
    wallet = await repo.wallet_by_address(session, chain, address)
    return wallet is not None and wallet.user_id == user_id


async def unlink_wallet(session: AsyncSession, user_id: uuid.UUID, wallet_id: uuid.UUID) -> None:
    user = await get_user(session, user_id)
    wallets = await repo.wallets_of(session, user_id)
    target = next((w for w in wallets if w.id == wallet_id), None)
    if target is None:
        raise NotFound("no such wallet on this account", slug="wallet-not-found")
    if user.password_hash is None and len(wallets) == 1:
        raise Conflict(
            "this is the account's only way to sign in; link another wallet first",
            slug="last-sign-in-method",
        )
    await session.delete(target)
