"""Studio routes: the prompt library and agents (planned and costed first, then started)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import flows as core_flows
from atelier.core.http import runtime_of
from atelier.core.schemas import Text
from atelier.core.transactions import unit_of_work
from atelier.identity.deps import CurrentPrincipal, limit_writes
from atelier.identity.principal import Principal
from atelier.studio import flows, service, templates
from atelier.studio.schemas import (
    AgentIn,
    AgentOut,
    PromptIn,
    PromptOut,
    RenderIn,
    TemplateOut,
    VersionIn,
    VersionOut,
)
from atelier.studio.service import AgentRequest

router = APIRouter(prefix="/api/studio", tags=["studio"])
WriteLimited = [Depends(limit_writes)]


@router.get("/templates", response_model=list[TemplateOut])
async def agent_templates() -> list[TemplateOut]:
    return [TemplateOut(**t.__dict__) for t in templates.TEMPLATES.values()]


@router.post("/prompts", status_code=201, response_model=PromptOut, dependencies=WriteLimited)
async def save_prompt(body: PromptIn, principal: CurrentPrincipal, request: Request) -> PromptOut:
    async with unit_of_work(runtime_of(request)) as session:
        found, first = await service.save_prompt(
            session,
            principal,
            name=body.name,
            text=body.text,
            tags=list(body.tags),
            defaults=dict(body.defaults),
            studio_id=body.studio_id,
        )
        return PromptOut.of(found, [first])


@router.get("/prompts", response_model=list[PromptOut])
async def prompts(
    principal: CurrentPrincipal,
    request: Request,
    tag: Annotated[Text | None, Query(max_length=40)] = None,
) -> list[PromptOut]:
    async with unit_of_work(runtime_of(request)) as session:
        return [PromptOut.of(p) for p in await service.prompts(session, principal, tag)]


@router.get("/prompts/{prompt_id}", response_model=PromptOut)
async def prompt(prompt_id: uuid.UUID, principal: CurrentPrincipal, request: Request) -> PromptOut:
    async with unit_of_work(runtime_of(request)) as session:
        found = await service.prompt_for(session, principal, prompt_id)
        return PromptOut.of(found, await service.versions(session, principal, prompt_id))


@router.post(
    "/prompts/{prompt_id}/versions",
    status_code=201,
    response_model=VersionOut,
    dependencies=WriteLimited,
)
async def revise(
    prompt_id: uuid.UUID, body: VersionIn, principal: CurrentPrincipal, request: Request
) -> VersionOut:
    async with unit_of_work(runtime_of(request)) as session:
        revised = await service.revise(
            session, principal, prompt_id, body.text, dict(body.defaults)
        )
        return VersionOut.of(revised)


@router.post("/prompts/{prompt_id}/render")
async def render(
    prompt_id: uuid.UUID, body: RenderIn, principal: CurrentPrincipal, request: Request
) -> dict[str, str]:
    async with unit_of_work(runtime_of(request)) as session:
        text = await service.render(session, principal, prompt_id, dict(body.values), body.version)
    return {"text": text}


async def _planned(
    session: AsyncSession, request: Request, principal: Principal, body: AgentIn
) -> AgentOut:
    text = body.prompt or ""
    if body.prompt_id is not None:
        text = await service.render(session, principal, body.prompt_id, dict(body.values))
    asked = AgentRequest(
        template=body.template,
        prompt=text,
        n=body.n,
        keep=body.keep,
        studio_id=body.studio_id,
        collection_name=body.collection_name,
        cast=body.cast,
    )
    run = await service.plan(session, runtime_of(request).settings, principal, asked)
    return AgentOut.of(run)


@router.post("/agents", status_code=201, response_model=AgentOut, dependencies=WriteLimited)
async def plan_agent(body: AgentIn, principal: CurrentPrincipal, request: Request) -> AgentOut:
    """The agent's plan and cost (status `estimated`): nothing runs until it is started."""
    async with unit_of_work(runtime_of(request)) as session:
        return await _planned(session, request, principal, body)


@router.post("/agents/{run_id}/start", response_model=AgentOut, dependencies=WriteLimited)
async def start_agent(run_id: uuid.UUID, principal: CurrentPrincipal, request: Request) -> AgentOut:
    async with unit_of_work(runtime_of(request)) as session:
        run = await service.mark_started(session, principal, run_id)
        await flows.start(session, run)
        return AgentOut.of(run)


@router.get("/agents/{run_id}", response_model=AgentOut)
async def agent(run_id: uuid.UUID, principal: CurrentPrincipal, request: Request) -> AgentOut:
    async with unit_of_work(runtime_of(request)) as session:
        run = await service.owned_run(session, principal, run_id)
        view = await core_flows.run_of(session, flows.AGENT.name, str(run.id))
    steps = {name: step.shown for name, step in view.steps.items()} if view else {}
    return AgentOut.of(run, steps)
