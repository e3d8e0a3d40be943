"""Identity routes: the OBSIDIAN seed's /api/v1/auth/* and /api/v1/user/*, plus SIWE/SIWS."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response, status
from fastapi.responses import JSONResponse

from atelier.core import idempotency
from atelier.core.errors import problem_body
from atelier.core.http import runtime_of
from atelier.core.schemas import Text
from atelier.core.transactions import unit_of_work
from atelier.identity.deps import (
    CurrentPrincipal,
    SessionPrincipal,
    client_info,
    limit_auth,
    limit_writes,
)
from atelier.identity.keystore import Chain
from atelier.identity.schemas import (
    ApiKeyCreatedOut,
    ApiKeyCreateIn,
    ApiKeyOut,
    CustodialWalletIn,
    LinkChallengeIn,
    LinkChallengeOut,
    LinkWalletIn,
    LoginIn,
    LogoutIn,
    NonceOut,
    ProfileUpdateIn,
    RefreshIn,
    RegisterIn,
    RegisterOut,
    ResendVerificationIn,
    TokenPair,
    UsageOut,
    UserOut,
    VerifyEmailIn,
    WalletOut,
    WalletSignInIn,
)
from atelier.identity.service import accounts, api_keys, quota, sessions, wallets

auth_router = APIRouter(prefix="/api/v1/auth", tags=["auth"])
user_router = APIRouter(prefix="/api/v1/user", tags=["user"])

AuthLimited = [Depends(limit_auth)]
WriteLimited = [Depends(limit_writes)]


@auth_router.post(
    "/register",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=RegisterOut,
    dependencies=AuthLimited,
)
async def register(body: RegisterIn, request: Request) -> RegisterOut:
    """Sign up with an email and a password. The answer is the same whether or not the
    address already has an account (its owner gets an email instead of a new account)."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        await accounts.register(session, body.email, body.password, body.display_name)
    required = runtime.settings.require_email_verification
    return RegisterOut(
        verification_required=required,
        detail="check your email to finish signing up"
        + ("; verify the address before signing in" if required else ""),
    )


@auth_router.post("/login", response_model=TokenPair, dependencies=AuthLimited)
async def login(body: LoginIn, request: Request) -> TokenPair:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        return await sessions.login(
            session,
            runtime.settings,
            runtime.jwt_key,
            body.email,
            body.password,
            client_info(request),
        )


@auth_router.post("/refresh", response_model=TokenPair, dependencies=AuthLimited)
async def refresh(body: RefreshIn, request: Request) -> TokenPair:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        return await sessions.refresh(
            session, runtime.settings, runtime.jwt_key, body.refresh_token
        )


@auth_router.get("/me", response_model=UserOut)
async def me(principal: CurrentPrincipal, request: Request) -> UserOut:
    return await _user_out(request, principal.user_id)


@auth_router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, dependencies=WriteLimited)
async def logout(
    principal: CurrentPrincipal, request: Request, body: LogoutIn | None = None
) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        await sessions.logout(session, principal, body.refresh_token if body else None)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@auth_router.post("/verify-email", response_model=UserOut, dependencies=AuthLimited)
async def verify_email_post(body: VerifyEmailIn, request: Request) -> UserOut:
    return await _verify_email(request, body.token)


@auth_router.get("/verify-email", response_model=UserOut, dependencies=AuthLimited)
async def verify_email_link(
    request: Request, token: Annotated[Text, Query(min_length=10, max_length=200)]
) -> UserOut:
    """The link in the verification email lands here."""
    return await _verify_email(request, token)


async def _verify_email(request: Request, token: str) -> UserOut:
    async with unit_of_work(runtime_of(request)) as session:
        user = await accounts.verify_email(session, token)
        return UserOut.of(user, await accounts.wallets_of(session, user))


@auth_router.post(
    "/resend-verification", status_code=status.HTTP_202_ACCEPTED, dependencies=AuthLimited
)
async def resend_verification(body: ResendVerificationIn, request: Request) -> dict[str, str]:
    async with unit_of_work(runtime_of(request)) as session:
        await accounts.request_verification_resend(session, body.email)
    return {"detail": "if that address has an unverified account, a new link is on its way"}


async def _nonce(request: Request, chain: Chain) -> NonceOut:
    runtime = runtime_of(request)
    settings = runtime.settings
    async with unit_of_work(runtime) as session:
        nonce = await wallets.new_nonce(session, settings, "signin")
    chain_ids = (
        [str(c) for c in settings.siwe_chain_ids] if chain == "evm" else settings.siws_chain_ids
    )
    return NonceOut(
        nonce=nonce.nonce,
        domain=settings.domain,
        uri=settings.origin,
        chain_ids=chain_ids,
        statement=wallets.SIGNIN_STATEMENT,
        issued_at=nonce.expires_at - timedelta(seconds=settings.nonce_ttl_s),
        expiration_time=nonce.expires_at,
    )


@auth_router.get("/siwe/nonce", response_model=NonceOut, dependencies=AuthLimited)
async def siwe_nonce(request: Request) -> NonceOut:
    """A single-use nonce (and the fields the message must carry) for Sign-In With Ethereum."""
    return await _nonce(request, "evm")


@auth_router.get("/siws/nonce", response_model=NonceOut, dependencies=AuthLimited)
async def siws_nonce(request: Request) -> NonceOut:
    return await _nonce(request, "solana")


async def _wallet_sign_in(request: Request, chain: Chain, body: WalletSignInIn) -> TokenPair:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        return await wallets.wallet_sign_in(
            session,
            runtime.settings,
            runtime.jwt_key,
            chain,
            body.message,
            body.signature,
            client_info(request),
        )


@auth_router.post("/siwe", response_model=TokenPair, dependencies=AuthLimited)
async def siwe(body: WalletSignInIn, request: Request) -> TokenPair:
    """Sign in with an EIP-4361 message signed by an Ethereum wallet (EIP-191)."""
    return await _wallet_sign_in(request, "evm", body)


@auth_router.post("/siws", response_model=TokenPair, dependencies=AuthLimited)
async def siws(body: WalletSignInIn, request: Request) -> TokenPair:
    """Sign in with the same message shape signed by a Solana wallet (ed25519)."""
    return await _wallet_sign_in(request, "solana", body)


# -- /api/v1/user -----------------------------------------------------------------------------


async def _user_out(request: Request, user_id: uuid.UUID) -> UserOut:
    async with unit_of_work(runtime_of(request)) as session:
        user = await accounts.get_user(session, user_id)
        return UserOut.of(user, await accounts.wallets_of(session, user))


@user_router.get("/profile", response_model=UserOut)
async def get_profile(principal: CurrentPrincipal, request: Request) -> UserOut:
    return await _user_out(request, principal.user_id)


@user_router.put("/profile", response_model=UserOut, dependencies=WriteLimited)
async def put_profile(
    body: ProfileUpdateIn, principal: CurrentPrincipal, request: Request
) -> UserOut:
    async with unit_of_work(runtime_of(request)) as session:
        user = await accounts.update_profile(session, principal.user_id, body.display_name)
        return UserOut.of(user, await accounts.wallets_of(session, user))


@user_router.get("/usage", response_model=UsageOut)
async def usage(principal: CurrentPrincipal, request: Request) -> UsageOut:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        current = await quota.usage(
            session, runtime.settings, principal.user_id, list(principal.roles)
        )
    return UsageOut(
        day=current.day,
        limit=current.limit,
        used=current.used,
        reserved=current.reserved,
        remaining=current.remaining,
        resets_at=current.resets_at,
    )


@user_router.get("/api-keys", response_model=list[ApiKeyOut])
async def list_api_keys(principal: SessionPrincipal, request: Request) -> list[ApiKeyOut]:
    async with unit_of_work(runtime_of(request)) as session:
        keys = await api_keys.list_api_keys(session, principal.user_id)
        return [ApiKeyOut.model_validate(k) for k in keys]


@user_router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreatedOut,
    dependencies=WriteLimited,
)
async def create_api_key(
    principal: SessionPrincipal, request: Request, body: ApiKeyCreateIn | None = None
) -> ApiKeyCreatedOut | JSONResponse:
    """A new key, shown once. With an `Idempotency-Key`, a retry does not make a second key:
    it answers 409 naming the key made (its secret is never kept to be shown again)."""
    async with unit_of_work(runtime_of(request)) as session:
        claim = await idempotency.claim(session, request, principal.user_id)
        if claim.replay is not None:
            return claim.replay
        body = body or ApiKeyCreateIn()
        key, raw = await api_keys.create_api_key(session, principal.user_id, body.name, body.scope)
        shown = ApiKeyOut.model_validate(key)
        replayed = problem_body(
            409,
            "api-key-already-created",
            "Already created",
            f"this Idempotency-Key already created API key {shown.prefix}… ({shown.id}); its "
            "secret was shown once: revoke it and create another if it was lost",
            request.url.path,
            {"api_key": shown.model_dump(mode="json")},
        )
        await idempotency.keep(session, claim, status.HTTP_409_CONFLICT, replayed)
        return ApiKeyCreatedOut(**shown.model_dump(), key=raw)


@user_router.delete(
    "/api-keys/{key_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=WriteLimited
)
async def revoke_api_key(
    key_id: uuid.UUID, principal: SessionPrincipal, request: Request
) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        await api_keys.revoke_api_key(session, principal.user_id, key_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@user_router.get("/wallets", response_model=list[WalletOut])
async def list_wallets(principal: CurrentPrincipal, request: Request) -> list[WalletOut]:
    return (await _user_out(request, principal.user_id)).wallets


@user_router.post("/wallets/challenge", response_model=LinkChallengeOut, dependencies=WriteLimited)
async def wallet_challenge(
    body: LinkChallengeIn, principal: SessionPrincipal, request: Request
) -> LinkChallengeOut:
    """The message to sign with the wallet you want to link (single use, short-lived)."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        message, nonce = await wallets.link_challenge(
            session, runtime.settings, principal.user_id, body.chain, body.address
        )
    return LinkChallengeOut(message=message, nonce=nonce.nonce, expiration_time=nonce.expires_at)


@user_router.post(
    "/wallets",
    status_code=status.HTTP_201_CREATED,
    response_model=WalletOut,
    dependencies=WriteLimited,
)
async def link_wallet(
    body: LinkWalletIn, principal: SessionPrincipal, request: Request
) -> WalletOut | JSONResponse:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        claim = await idempotency.claim(session, request, principal.user_id)
        if claim.replay is not None:
            return claim.replay
        wallet = await wallets.link_wallet(
            session,
            runtime.settings,
            principal.user_id,
            body.chain,
            body.message,
            body.signature,
            body.label,
        )
        out = WalletOut.of(wallet)
        await idempotency.keep(session, claim, status.HTTP_201_CREATED, out.model_dump(mode="json"))
        return out


@user_router.post(
    "/wallets/custodial",
    status_code=status.HTTP_201_CREATED,
    response_model=WalletOut,
    dependencies=WriteLimited,
)
async def create_custodial_wallet(
    principal: SessionPrincipal, request: Request, body: CustodialWalletIn | None = None
) -> WalletOut | JSONResponse:
    """A wallet the platform holds for you (its key sealed with AES-256-GCM, never shown):
    the platform can then sign your artifacts' provenance proofs without a browser wallet."""
    runtime = runtime_of(request)
    body = body or CustodialWalletIn()
    async with unit_of_work(runtime) as session:
        claim = await idempotency.claim(session, request, principal.user_id)
        if claim.replay is not None:
            return claim.replay
        wallet = await wallets.create_custodial_wallet(
            session, runtime.settings, principal.user_id, body.chain, body.label
        )
        out = WalletOut.of(wallet)
        await idempotency.keep(session, claim, status.HTTP_201_CREATED, out.model_dump(mode="json"))
        return out


@user_router.delete(
    "/wallets/{wallet_id}", status_code=status.HTTP_204_NO_CONTENT, dependencies=WriteLimited
)
async def unlink_wallet(
    wallet_id: uuid.UUID, principal: SessionPrincipal, request: Request
) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        await wallets.unlink_wallet(session, principal.user_id, wallet_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
