"""Identity's pages: register, verify the email address, sign in and out, the dashboard
(daily quota, API keys, wallets, profile). They call the same services as the API and
validate forms with the API's own request models, so a page shows the API's messages."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import JSONResponse, Response
from pydantic import Field, ValidationError

from atelier.core.errors import AppError, Unauthorized
from atelier.core.http import runtime_of
from atelier.core.schemas import Body
from atelier.core.transactions import unit_of_work
from atelier.identity.cookies import (
    PagePrincipal,
    clear_session_cookies,
    set_session_cookies,
    visitor_for,
)
from atelier.identity.deps import client_info, limit_auth
from atelier.identity.schemas import (
    ApiKeyCreateIn,
    LoginIn,
    ProfileUpdateIn,
    RegisterIn,
    WalletSignInIn,
)
from atelier.identity.service import accounts, api_keys, quota, sessions, wallets
from atelier.web.frame import (
    NavItem,
    add_templates,
    check_csrf,
    check_csrf_header,
    field_errors,
    on_response,
    redirect,
    render,
)

add_templates(
    Path(__file__).parent / "templates",
    nav=(
        NavItem("Dashboard", "/dashboard", "members"),
        NavItem("Sign in", "/sign-in", "visitors"),
        NavItem("Register", "/register", "visitors"),
    ),
)

router = APIRouter(include_in_schema=False)
Csrf = Depends(check_csrf)
CsrfHeader = Depends(check_csrf_header)


@router.get("/register")
async def register_page(request: Request, principal: PagePrincipal) -> Response:
    if principal is not None:
        return redirect(request, "/dashboard")
    return render(request, "identity/register.html", errors={}, values={})


@router.post("/register", dependencies=[Csrf, Depends(limit_auth)])
async def register(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    display_name: Annotated[str, Form()] = "",
) -> Response:
    values = {"email": email, "display_name": display_name}
    try:
        body = RegisterIn(email=email, password=password, display_name=display_name or None)
        async with unit_of_work(runtime_of(request)) as session:
            await accounts.register(session, body.email, body.password, body.display_name)
    except (ValidationError, AppError) as exc:
        return render(
            request,
            "identity/register.html",
            errors=field_errors(exc),
            values=values,
            status_code=422,
        )
    return render(request, "identity/registered.html", email=email)


@router.get("/verify-email")
async def verify_page(request: Request, token: str = "") -> Response:
    """The emailed link lands here; the address is verified by the button (a POST), so a mail
    scanner that follows links verifies nothing."""
    return render(request, "identity/verify.html", token=token, errors={})


@router.post("/verify-email", dependencies=[Csrf, Depends(limit_auth)])
async def verify(request: Request, token: Annotated[str, Form()] = "") -> Response:
    try:
        async with unit_of_work(runtime_of(request)) as session:
            await accounts.verify_email(session, token)
    except AppError as exc:
        return render(
            request,
            "identity/verify.html",
            token=token,
            errors=field_errors(exc),
            status_code=exc.status,
        )
    return render(request, "identity/verified.html")


@router.get("/sign-in")
async def sign_in_page(request: Request, principal: PagePrincipal) -> Response:
    if principal is not None:
        return redirect(request, "/dashboard")
    development = wallets.development_wallets_allowed(runtime_of(request).settings)
    return render(request, "identity/sign_in.html", errors={}, values={}, development=development)


@router.post("/sign-in", dependencies=[Csrf, Depends(limit_auth)])
async def sign_in(
    request: Request,
    email: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
) -> Response:
    runtime = runtime_of(request)
    try:
        body = LoginIn(email=email, password=password)
        async with unit_of_work(runtime) as session:
            pair = await sessions.login(
                session,
                runtime.settings,
                runtime.jwt_key,
                body.email,
                body.password,
                client_info(request),
            )
    except (ValidationError, AppError) as exc:
        return render(
            request,
            "identity/sign_in.html",
            errors=field_errors(exc),
            values={"email": email},
            status_code=422 if isinstance(exc, ValidationError) else exc.status,
            development=wallets.development_wallets_allowed(runtime.settings),
        )
    on_response(request, lambda response: set_session_cookies(request, response, pair))
    return redirect(request, "/dashboard")


class WalletMessageIn(Body):
    address: str = Field(min_length=40, max_length=42)
    chain_id: int | None = Field(default=None, ge=1, le=2**63 - 1)


@router.post("/sign-in/wallet/message", dependencies=[CsrfHeader, Depends(limit_auth)])
async def wallet_message(body: WalletMessageIn, request: Request) -> dict[str, str]:
    """The message the page's browser wallet (EIP-1193) signs to sign in."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        message = await wallets.evm_sign_in_message(
            session, runtime.settings, body.address, body.chain_id
        )
    return {"message": message}


@router.post("/sign-in/wallet", dependencies=[CsrfHeader, Depends(limit_auth)])
async def wallet_sign_in(body: WalletSignInIn, request: Request) -> Response:
    """Sign-In With Ethereum from the page: the signed message in, session cookies out (a
    wallet seen for the first time gets a new account, as with the API)."""
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        pair = await wallets.wallet_sign_in(
            session,
            runtime.settings,
            runtime.jwt_key,
            "evm",
            body.message,
            body.signature,
            client_info(request),
        )
    response = JSONResponse({"redirect": "/dashboard"})
    set_session_cookies(request, response, pair)
    return response


@router.post("/sign-in/development-wallet", dependencies=[Csrf, Depends(limit_auth)])
async def development_wallet(request: Request) -> Response:
    """No browser wallet on a development machine: an account with a wallet Atelier holds."""
    runtime = runtime_of(request)
    try:
        async with unit_of_work(runtime) as session:
            pair = await wallets.development_wallet_sign_in(
                session, runtime.settings, runtime.jwt_key, client_info(request)
            )
    except AppError as exc:
        errors = field_errors(exc)
        return render(
            request,
            "identity/sign_in.html",
            errors=errors,
            values={},
            status_code=exc.status,
            development=False,
        )
    on_response(request, lambda response: set_session_cookies(request, response, pair))
    return redirect(request, "/dashboard")


@router.post("/sign-out", dependencies=[Csrf])
async def sign_out(request: Request, principal: PagePrincipal) -> Response:
    if principal is not None:
        async with unit_of_work(runtime_of(request)) as session:
            await sessions.logout(session, principal, request.cookies.get("atelier_refresh"))
    on_response(request, clear_session_cookies)
    return redirect(request, "/")


async def _dashboard(
    request: Request,
    principal: PagePrincipal,
    *,
    errors: dict[str, str] | None = None,
    new_key: str | None = None,
    status_code: int = 200,
) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        user = await accounts.get_user(session, principal.user_id)
        usage = await quota.usage(session, runtime.settings, user.id, list(principal.roles))
        keys = await api_keys.list_api_keys(session, user.id)
        wallets = await accounts.wallets_of(session, user)
        visitor = await visitor_for(session, principal, user)
    return render(
        request,
        "identity/dashboard.html",
        who=visitor,
        user=user,
        usage=usage,
        keys=keys,
        wallets=wallets,
        errors=errors or {},
        new_key=new_key,
        status_code=status_code,
        values={"display_name": user.display_name or ""},
    )


@router.get("/dashboard")
async def dashboard(request: Request, principal: PagePrincipal) -> Response:
    return await _dashboard(request, principal)


@router.post("/dashboard/api-keys", dependencies=[Csrf])
async def create_api_key(
    request: Request,
    principal: PagePrincipal,
    name: Annotated[str, Form()] = "",
    scope: Annotated[str, Form()] = "full",
) -> Response:
    """The key is shown once, on the page this answers with."""
    if principal is None:
        return redirect(request, "/sign-in")
    try:
        body = ApiKeyCreateIn.model_validate({"name": name, "scope": scope})
        async with unit_of_work(runtime_of(request)) as session:
            _, raw = await api_keys.create_api_key(
                session, principal.user_id, body.name, body.scope
            )
    except (ValidationError, AppError) as exc:
        return await _dashboard(request, principal, errors=field_errors(exc), status_code=422)
    return await _dashboard(request, principal, new_key=raw)


@router.post("/dashboard/api-keys/{key_id}/revoke", dependencies=[Csrf])
async def revoke_api_key(request: Request, principal: PagePrincipal, key_id: uuid.UUID) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    try:
        async with unit_of_work(runtime_of(request)) as session:
            await api_keys.revoke_api_key(session, principal.user_id, key_id)
    except AppError as exc:
        return await _dashboard(
            request, principal, errors=field_errors(exc), status_code=exc.status
        )
    return redirect(request, "/dashboard")


class LinkAddressIn(Body):
    address: str = Field(min_length=40, max_length=42)


@router.post("/dashboard/wallets/challenge", dependencies=[CsrfHeader])
async def link_challenge(
    body: LinkAddressIn, request: Request, principal: PagePrincipal
) -> dict[str, str]:
    """The message the browser wallet signs to be linked to the signed-in account."""
    if principal is None:
        raise Unauthorized("sign in first", slug="sign-in-required")
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        message, _ = await wallets.link_challenge(
            session, runtime.settings, principal.user_id, "evm", body.address
        )
    return {"message": message}


@router.post("/dashboard/wallets/link", dependencies=[CsrfHeader])
async def link_wallet(
    body: WalletSignInIn, request: Request, principal: PagePrincipal
) -> dict[str, str]:
    if principal is None:
        raise Unauthorized("sign in first", slug="sign-in-required")
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        await wallets.link_wallet(
            session,
            runtime.settings,
            principal.user_id,
            "evm",
            body.message,
            body.signature,
            "browser wallet",
        )
    return {"redirect": "/dashboard"}


@router.post("/dashboard/wallets/{wallet_id}/unlink", dependencies=[Csrf])
async def unlink_wallet(
    request: Request, principal: PagePrincipal, wallet_id: uuid.UUID
) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    try:
        async with unit_of_work(runtime_of(request)) as session:
            await wallets.unlink_wallet(session, principal.user_id, wallet_id)
    except AppError as exc:
        errors = field_errors(exc)
        return await _dashboard(request, principal, errors=errors, status_code=exc.status)
    return redirect(request, "/dashboard")


@router.post("/dashboard/wallets/custodial", dependencies=[Csrf])
async def create_custodial_wallet(request: Request, principal: PagePrincipal) -> Response:
    """An EVM wallet Atelier holds for you (sealed key): it signs your votes and your
    artifacts' wallet proofs when you have no browser wallet."""
    if principal is None:
        return redirect(request, "/sign-in")
    runtime = runtime_of(request)
    try:
        async with unit_of_work(runtime) as session:
            await wallets.create_custodial_wallet(
                session, runtime.settings, principal.user_id, "evm", "held by Atelier"
            )
    except AppError as exc:
        errors = field_errors(exc)
        return await _dashboard(request, principal, errors=errors, status_code=exc.status)
    return redirect(request, "/dashboard")


@router.post("/dashboard/profile", dependencies=[Csrf])
async def update_profile(
    request: Request, principal: PagePrincipal, display_name: Annotated[str, Form()] = ""
) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    try:
        body = ProfileUpdateIn(display_name=display_name or None)
        async with unit_of_work(runtime_of(request)) as session:
            await accounts.update_profile(session, principal.user_id, body.display_name)
    except (ValidationError, AppError) as exc:
        return await _dashboard(request, principal, errors=field_errors(exc), status_code=422)
    return redirect(request, "/dashboard")
