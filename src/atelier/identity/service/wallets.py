"""Wallets: Sign-In With Ethereum / Solana, linking by signature, platform-held wallets."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils.address import is_address, to_checksum_address
from solders.pubkey import Pubkey
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import repository as rows
from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthorized
from atelier.identity import custody, signin
from atelier.identity import repository as repo
from atelier.identity.keystore import Chain, address_for, new_secret
from atelier.identity.models import AuthNonce, User, Wallet
from atelier.identity.principal import ClientInfo
from atelier.identity.schemas import TokenPair
from atelier.identity.service import accounts, sessions

SIGNIN_STATEMENT = "Sign in to Atelier."
LINK_STATEMENT = "Link this wallet to my Atelier account."


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
    return await rows.add(session, nonce)


async def evm_sign_in_message(
    session: AsyncSession, settings: Settings, address: str, chain_id: int | None
) -> str:
    """The EIP-4361 message a browser wallet signs to sign in (a fresh nonce, the address
    EIP-55-checksummed as the standard wants, which a page's script cannot compute without
    keccak): the same message `POST /api/v1/auth/siwe` verifies."""
    if not is_address(address):
        raise InvalidInput(f"{address!r} is not an Ethereum address", slug="invalid-wallet")
    nonce = await new_nonce(session, settings, "signin")
    chain = chain_id if chain_id in settings.siwe_chain_ids else settings.siwe_chain_ids[0]
    message = signin.SignInMessage(
        chain="evm",
        domain=settings.domain,
        address=to_checksum_address(address),
        statement=SIGNIN_STATEMENT,
        uri=settings.origin,
        version="1",
        chain_id=str(chain),
        nonce=nonce.nonce,
        issued_at=nonce.expires_at - timedelta(seconds=settings.nonce_ttl_s),
        expiration_time=nonce.expires_at,
    )
    return message.text()


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
        user = await rows.add(session, User(roles=["creator"]))
        if not await rows.add_unique(
            session, Wallet(user_id=user.id, chain=chain, address=address)
        ):
            raise Conflict("this wallet was linked concurrently; retry", slug="wallet-race")
        created = True
    else:
        found = await repo.user_by_id(session, wallet.user_id)
        assert found is not None
        user = found
    sessions.ensure_can_sign_in(user, settings, by_password=False)
    method = "siwe" if chain == "evm" else "siws"
    return await sessions.start_session(
        session, settings, jwt_key, user, method, client, created=created
    )


def development_wallets_allowed(settings: Settings) -> bool:
    """Only in the embedded default: this machine (no public URL) and the embedded chain."""
    return settings.public_url is None and settings.chain_rpc_url == "embedded"


async def development_wallet_sign_in(
    session: AsyncSession, settings: Settings, jwt_key: bytes, client: ClientInfo
) -> TokenPair:
    """A browser without a wallet, on a development machine: a new account whose only wallet
    Atelier holds. Its key signs the EIP-4361 message here and the sign-in is the ordinary
    one; the key is then kept sealed, so the account can sign votes and proofs."""
    if not development_wallets_allowed(settings):
        raise Forbidden(
            "development wallets exist only on a local Atelier (embedded chain, no public URL)",
            slug="no-development-wallets",
        )
    secret = new_secret("evm")
    address = address_for("evm", secret)
    message = await evm_sign_in_message(session, settings, address, None)
    signed = Account.sign_message(encode_defunct(text=message), secret).signature
    pair = await wallet_sign_in(
        session, settings, jwt_key, "evm", message, "0x" + bytes(signed).hex(), client
    )
    wallet = await repo.wallet_by_address(session, "evm", address)
    assert wallet is not None
    wallet.label, wallet.sealed_key = "development wallet", custody.seal(settings, address, secret)
    return pair


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
    if not await rows.add_unique(session, wallet):
        raise Conflict("this wallet is linked to another account", slug="wallet-linked-elsewhere")
    return wallet


async def create_custodial_wallet(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID, chain: Chain, label: str | None
) -> Wallet:
    """A wallet the platform holds for the user (sealed key; see identity/custody.py)."""
    secret = new_secret(chain)
    address = address_for(chain, secret)
    sealed = custody.seal(settings, address, secret)
    wallet = Wallet(user_id=user_id, chain=chain, address=address, label=label, sealed_key=sealed)
    return await rows.add(session, wallet)


async def sign_typed_data_for(
    session: AsyncSession,
    settings: Settings,
    user_id: uuid.UUID,
    address: str,
    typed: dict[str, Any],
) -> str | None:
    """Sign EIP-712 data with `address` if the platform holds it for `user_id`; else None."""
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


async def wallet_of_user(
    session: AsyncSession, user_id: uuid.UUID, chain: Chain, address: str
) -> bool:
    wallet = await repo.wallet_by_address(session, chain, address)
    return wallet is not None and wallet.user_id == user_id


async def unlink_wallet(session: AsyncSession, user_id: uuid.UUID, wallet_id: uuid.UUID) -> None:
    user = await accounts.get_user(session, user_id)
    wallets = await repo.wallets_of(session, user_id)
    target = next((w for w in wallets if w.id == wallet_id), None)
    if target is None:
        raise NotFound("no such wallet on this account", slug="wallet-not-found")
    if user.password_hash is None and len(wallets) == 1:
        raise Conflict(
            "this is the account's only way to sign in; link another wallet first",
            slug="last-sign-in-method",
        )
    await rows.remove(session, target)


@dataclass(frozen=True)
class SolanaWallet:
    """A user's Solana wallet: `secret` (the 32-byte seed, in memory only) when the platform
    holds it, else None (the user signs in their own wallet)."""

    address: str
    secret: bytes | None


async def solana_wallet(
    session: AsyncSession, settings: Settings, user_id: uuid.UUID
) -> SolanaWallet | None:
    """The user's Solana wallet for the market: one the platform holds first (it can sign
    here), else the first they linked."""
    linked = [w for w in await repo.wallets_of(session, user_id) if w.chain == "solana"]
    held = next((w for w in linked if w.sealed_key is not None), None)
    if held is not None and held.sealed_key is not None:
        return SolanaWallet(held.address, custody.unseal(settings, held.address, held.sealed_key))
    return SolanaWallet(linked[0].address, None) if linked else None


async def solana_address(session: AsyncSession, user_id: uuid.UUID) -> str | None:
    """The address `solana_wallet` would sign with, without opening its key."""
    linked = [w for w in await repo.wallets_of(session, user_id) if w.chain == "solana"]
    held = next((w for w in linked if w.sealed_key is not None), None)
    return (held or linked[0]).address if linked else None


async def owner_of(session: AsyncSession, chain: Chain, address: str) -> uuid.UUID | None:
    """The account a wallet is linked to, if any (verified or not)."""
    wallet = await repo.wallet_by_address(session, chain, address)
    return wallet.user_id if wallet else None
