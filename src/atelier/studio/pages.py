"""The studio pages: the prompt library (save, version, tag), agents planned with their
cost before they start, and each agent's steps as they happen (live)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import Response

from atelier.core import events
from atelier.core import flows as core_flows
from atelier.core.errors import AppError
from atelier.core.http import runtime_of
from atelier.core.transactions import unit_of_work
from atelier.identity.cookies import PagePrincipal, visitor_for
from atelier.identity.principal import Principal
from atelier.market import studios as market
from atelier.studio import flows, service, templates
from atelier.studio.service import AgentRequest
from atelier.web.frame import (
    NavItem,
    add_templates,
    check_csrf,
    field_errors,
    fragment_response,
    redirect,
    render,
)

add_templates(Path(__file__).parent / "templates", nav=(NavItem("Studio", "/studio", "members"),))

router = APIRouter(include_in_schema=False)
Csrf = Depends(check_csrf)


def _tags(raw: str) -> list[str]:
    return [t for t in (p.strip()[:40] for p in raw.split(",")) if t][:10]


async def _page(
    request: Request,
    principal: Principal,
    *,
    errors: dict[str, str] | None = None,
    values: dict[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    async with unit_of_work(runtime_of(request)) as session:
        visitor = await visitor_for(session, principal)
        prompts = await service.prompts(session, principal)
        versions = {p.id: await service.versions(session, principal, p.id) for p in prompts}
        runs = await service.runs(session, principal)
        studios = await market.studios_of(session, principal)
    return render(
        request,
        "studio/studio.html",
        who=visitor,
        status_code=status_code,
        prompts=prompts,
        versions=versions,
        runs=runs,
        studios=studios,
        studio_names={studio.id: studio.name for studio, _ in studios},
        templates=templates.TEMPLATES,
        is_admin=principal.has_role("admin"),
        errors=errors or {},
        values=values or {},
    )


@router.get("/studio")
async def studio_page(request: Request, principal: PagePrincipal) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    return await _page(request, principal)


@router.post("/studio/prompts", dependencies=[Csrf])
async def save_prompt(
    request: Request,
    principal: PagePrincipal,
    name: str = Form(""),
    text: str = Form(""),
    tags: str = Form(""),
    shared_with: str = Form(""),
) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    values = {"name": name, "text": text, "tags": tags, "shared_with": shared_with}
    try:
        studio_id = uuid.UUID(shared_with) if shared_with else None
    except ValueError:
        errors = {"shared_with": "choose one of your studios"}
        return await _page(request, principal, errors=errors, values=values, status_code=422)
    try:
        async with unit_of_work(runtime_of(request)) as session:
            await service.save_prompt(
                session,
                principal,
                name=name[:100],
                text=text,
                tags=_tags(tags),
                defaults={},
                studio_id=studio_id,
            )
    except AppError as exc:
        return await _page(
            request, principal, errors=field_errors(exc), values=values, status_code=exc.status
        )
    return redirect(request, "/studio")


@router.post("/studio/prompts/{prompt_id}/versions", dependencies=[Csrf])
async def revise(
    prompt_id: uuid.UUID, request: Request, principal: PagePrincipal, text: str = Form("")
) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    try:
        async with unit_of_work(runtime_of(request)) as session:
            await service.revise(session, principal, prompt_id, text, {})
    except AppError as exc:
        errors = {f"prompt-{prompt_id}": exc.detail}
        return await _page(request, principal, errors=errors, status_code=exc.status)
    return redirect(request, "/studio")


@router.post("/studio/agents", dependencies=[Csrf])
async def plan_agent(
    request: Request,
    principal: PagePrincipal,
    template: str = Form("variations"),
    prompt: str = Form(""),
    prompt_id: str = Form(""),
    n: str = Form(""),
    keep: str = Form(""),
    studio_id: str = Form(""),
    collection_name: str = Form(""),
    cast: str = Form(""),
) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    values = {"template": template, "prompt": prompt, "n": n, "keep": keep}
    values |= {"collection_name": collection_name}
    runtime = runtime_of(request)
    try:
        async with unit_of_work(runtime) as session:
            text = prompt
            if prompt_id:
                text = await service.render(session, principal, uuid.UUID(prompt_id), {})
            asked = AgentRequest(
                template=template,
                prompt=text,
                n=max(1, min(24, int(n))) if n.isdigit() else None,
                keep=max(1, min(24, int(keep))) if keep.isdigit() else None,
                studio_id=uuid.UUID(studio_id) if studio_id else None,
                collection_name=collection_name.strip()[:32] or None,
                cast=cast == "on",
            )
            run = await service.plan(session, runtime.settings, principal, asked)
    except (AppError, ValueError) as exc:
        errors = field_errors(exc) if isinstance(exc, AppError) else {"_": "a choice is not valid"}
        status = exc.status if isinstance(exc, AppError) else 422
        return await _page(request, principal, errors=errors, values=values, status_code=status)
    return redirect(request, f"/studio/agents/{run.id}")


async def _agent(request: Request, principal: Principal, run_id: uuid.UUID) -> dict[str, Any]:
    async with unit_of_work(runtime_of(request)) as session:
        run = await service.owned_run(session, principal, run_id)
        view = await core_flows.run_of(session, flows.AGENT.name, str(run.id))
    steps = {name: step.shown for name, step in view.steps.items()} if view else {}
    names = [name for name, _ in flows.AGENT.steps]
    return {"run": run, "steps": steps, "step_names": names}


@router.get("/studio/agents/{run_id}")
async def agent_page(
    run_id: uuid.UUID,
    request: Request,
    principal: PagePrincipal,
    problem: str | None = None,
) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    async with unit_of_work(runtime_of(request)) as session:
        live_after = await events.newest_id(session)
        visitor = await visitor_for(session, principal)
    try:
        context = await _agent(request, principal, run_id)
    except AppError as exc:
        return render(
            request, "missing.html", who=visitor, detail=exc.detail, status_code=exc.status
        )
    return render(
        request, "studio/agent.html", who=visitor, errors={}, live_after=live_after, **context
    )


@router.get("/studio/agents/{run_id}/steps")
async def agent_steps(run_id: uuid.UUID, request: Request, principal: PagePrincipal) -> Response:
    """The run's steps alone (the page fetches them again when one of its jobs moves)."""
    if principal is None:
        return redirect(request, "/sign-in")
    context = await _agent(request, principal, run_id)
    return fragment_response("studio/steps.html", **context)


@router.post("/studio/agents/{run_id}/start", dependencies=[Csrf])
async def start_agent(run_id: uuid.UUID, request: Request, principal: PagePrincipal) -> Response:
    if principal is None:
        return redirect(request, "/sign-in")
    try:
        async with unit_of_work(runtime_of(request)) as session:
            run = await service.mark_started(session, principal, run_id)
            await flows.start(session, run)
    except AppError as exc:
        async with unit_of_work(runtime_of(request)) as session:
            live_after = await events.newest_id(session)
            visitor = await visitor_for(session, principal)
        context = await _agent(request, principal, run_id)
        return render(
            request,
            "studio/agent.html",
            who=visitor,
            errors={"start": exc.detail},
            live_after=live_after,
            status_code=exc.status,
            **context,
        )
    return redirect(request, f"/studio/agents/{run_id}")
