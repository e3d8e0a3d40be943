"""Request and response bodies of the identity API."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field

from atelier.core.schemas import Body
from atelier.identity.models import User, Wallet

ChainName = Literal["evm", "solana"]
RoleName = Literal["creator", "validator", "worker", "admin"]


class RegisterIn(Body):
    email: EmailStr = Field(max_length=254)
    password: str = Field(min_length=1, max_length=1024)
    display_name: str | None = Field(default=None, max_length=100)


class LoginIn(Body):
    email: EmailStr = Field(max_length=254)
    password: str = Field(min_length=1, max_length=1024)


class RefreshIn(Body):
    refresh_token: str = Field(min_length=10, max_length=200)


class LogoutIn(Body):
    refresh_token: str | None = Field(default=None, max_length=200)


class VerifyEmailIn(Body):
    token: str = Field(min_length=10, max_length=200)


class ResendVerificationIn(Body):
    email: EmailStr = Field(max_length=254)


class TokenPair(BaseModel):
    token_type: Literal["Bearer"] = "Bearer"  # noqa: S105 - a scheme name
    access_token: str
    expires_in: int
    refresh_token: str
    refresh_expires_in: int
    user_id: uuid.UUID
    created: bool = Field(default=False, description="True when this sign-in created the account")


class WalletOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    chain: ChainName
    address: str
    label: str | None
    created_at: datetime
    custodial: bool = Field(default=False, description="held (encrypted) by the platform")

    @classmethod
    def of(cls, wallet: Wallet) -> WalletOut:
        """Custodial exactly when the platform keeps the wallet's sealed key."""
        out = cls.model_validate(wallet)
        return out.model_copy(update={"custodial": wallet.sealed_key is not None})


class UserOut(BaseModel):
    id: uuid.UUID
    email: str | None
    display_name: str | None
    roles: list[str]
    email_verified: bool
    is_active: bool
    created_at: datetime
    wallets: list[WalletOut]

    @classmethod
    def of(cls, user: User, wallets: list[Wallet]) -> UserOut:
        return cls(
            id=user.id,
            email=user.email,
            display_name=user.display_name,
            roles=list(user.roles),
            email_verified=user.email_verified_at is not None,
            is_active=user.is_active,
            created_at=user.created_at,
            wallets=[WalletOut.of(w) for w in wallets],
        )


class ProfileUpdateIn(Body):
    display_name: str | None = Field(default=None, max_length=100)


class RegisterOut(BaseModel):
    verification_required: bool
    detail: str


class NonceOut(BaseModel):
    nonce: str
    domain: str
    uri: str
    chain_ids: list[str]
    statement: str
    issued_at: datetime
    expiration_time: datetime


class WalletSignInIn(Body):
    message: str = Field(min_length=1, max_length=4000)
    signature: str = Field(min_length=1, max_length=200)


class LinkChallengeIn(Body):
    chain: ChainName
    address: str = Field(min_length=32, max_length=64)


class LinkChallengeOut(BaseModel):
    message: str
    nonce: str
    expiration_time: datetime


class LinkWalletIn(Body):
    chain: ChainName
    message: str = Field(min_length=1, max_length=4000)
    signature: str = Field(min_length=1, max_length=200)
    label: str | None = Field(default=None, max_length=100)


class CustodialWalletIn(Body):
    chain: ChainName = "evm"
    label: str | None = Field(default=None, max_length=100)


class ApiKeyCreateIn(Body):
    name: str = Field(default="default", min_length=1, max_length=100)
    scope: Literal["full", "worker"] = Field(
        default="full",
        description="worker: the key can only run workers (give a volunteer machine this one)",
    )


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    prefix: str
    scope: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreatedOut(ApiKeyOut):
    key: str = Field(description="The secret; shown only in this response")


class UsageOut(BaseModel):
    day: date
    limit: int
    used: int
    reserved: int
    remaining: int
    resets_at: datetime
