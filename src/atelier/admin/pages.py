"""The admin page: accounts (roles, disabling, quota overrides), moderation (hide with a
reason, decide appeals), indexers and the task queue (dead letters to retry), and the
settings in force with secrets masked. Each form answers beside itself."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.admin import service
from atelier.core.errors import AppError
from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.identity.cookies import PagePrincipal, visitor_for
from atelier.identity.principal import Principal
from atelier.identity.service import accounts
from atelier.moderation import service as moderation
from atelier.web.frame import NavItem, add_templates, check_csrf, redirect, render

add_templates(Path(__file__).parent / "templates", nav=(NavItem("Admin", "/admin", "admin"),))

router = APIRouter(include_in_schema=False)
Csrf = Depends(check_csrf)


def _admin(principal: Principal | None) -> bool:
    return principal is not None and principal.has_role("admin")


async def _page(
    request: Request,
    principal: Principal,
    *,
    q: str = "",
    errors: dict[str, str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    runtime = runtime_of(request)
    async with unit_of_work(runtime) as session:
        visitor = await visitor_for(session, principal)
        users = await accounts.find_users(session, q or None, 50)
        cases = await moderation.queue(session)
        status = await service.system_status(session, runtime)
    return render(
        request,
        "admin/admin.html",
        who=visitor,
        status_code=status_code,
        users=users,
        q=q,
        cases=cases,
        status=status,
        settings=service.masked_settings(runtime.settings),
        errors=errors or {},
        notice=notice,
    )


@router.get("/admin")
async def admin_page(request: Request, principal: PagePrincipal, q: str = "") -> Response:
    if not _admin(principal):
        return redirect(request, "/sign-in")
    assert principal is not None
    return await _page(request, principal, q=q[:100])


Work = Callable[[AsyncSession], Awaitable[None]]


async def _acted(
    request: Request, principal: Principal, where: str, work: Work, notice: str
) -> Response:
    try:
        async with unit_of_work(runtime_of(request)) as session:
            await work(session)
    except AppError as exc:
        return await _page(request, principal, errors={where: exc.detail}, status_code=exc.status)
    return await _page(request, principal, notice=notice)


@router.post("/admin/users/{user_id}", dependencies=[Csrf])
async def change_user(
    user_id: uuid.UUID,
    request: Request,
    principal: PagePrincipal,
    roles: str = Form(""),
    active: str = Form(""),
    daily_quota: str = Form(""),
) -> Response:
    if not _admin(principal):
        return redirect(request, "/sign-in")
    assert principal is not None
    quota_text = daily_quota.strip()
    if quota_text and not quota_text.isdigit():
        errors = {f"user-{user_id}": "the quota is a whole number of generations a day"}
        return await _page(request, principal, errors=errors, status_code=422)

    async def work(session: AsyncSession) -> None:
        await accounts.administer(
            session,
            principal,
            user_id,
            roles=[r.strip() for r in roles.split(",") if r.strip()],
            active=active == "on",
            daily_quota=int(quota_text) if quota_text else None,
            clear_quota=not quota_text,
        )

    return await _acted(request, principal, f"user-{user_id}", work, "Account saved.")


@router.post("/admin/moderation", dependencies=[Csrf])
async def hide(
    request: Request,
    principal: PagePrincipal,
    kind: str = Form("artifact"),
    target_id: str = Form(""),
    reason: str = Form(""),
) -> Response:
    if not _admin(principal):
        return redirect(request, "/sign-in")
    assert principal is not None
    if kind not in moderation.KINDS or not target_id.strip() or len(reason.strip()) < 3:
        problem = "name what to hide (its kind and id) and why (a few words at least)"
        return await _page(request, principal, errors={"hide": problem}, status_code=422)

    async def work(session: AsyncSession) -> None:
        await service.hide(session, principal, kind, target_id.strip()[:80], reason.strip()[:1000])

    return await _acted(request, principal, "hide", work, f"The {kind} is hidden.")


@router.post("/admin/moderation/{case_id}/decide", dependencies=[Csrf])
async def decide(
    case_id: uuid.UUID,
    request: Request,
    principal: PagePrincipal,
    restore: str = Form(""),
    note: str = Form(""),
) -> Response:
    if not _admin(principal):
        return redirect(request, "/sign-in")
    assert principal is not None

    async def work(session: AsyncSession) -> None:
        await moderation.decide(
            session, principal, case_id, restore=restore == "yes", note=note.strip()[:1000] or "-"
        )

    return await _acted(request, principal, f"case-{case_id}", work, "Decision recorded.")


@router.post("/admin/dead-letters/{job_id}/retry", dependencies=[Csrf])
async def retry(job_id: int, request: Request, principal: PagePrincipal) -> Response:
    if not _admin(principal):
        return redirect(request, "/sign-in")
    assert principal is not None
    try:
        await service.retry_dead_letter(runtime_of(request), job_id)
    except AppError as exc:
        errors = {"dead-letters": exc.detail}
        return await _page(request, principal, errors=errors, status_code=exc.status)
    return await _page(request, principal, notice=f"Task job {job_id} queued again.")
