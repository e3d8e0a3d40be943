"""Studio queries: prompts with their versions, agent runs."""

from __future__ import annotations

import uuid

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.studio.models import AgentRun, Prompt, PromptVersion


async def add(session: AsyncSession, row: Prompt | PromptVersion | AgentRun) -> None:
    session.add(row)
    await session.flush()


async def prompt(
    session: AsyncSession, prompt_id: uuid.UUID, *, lock: bool = False
) -> Prompt | None:
    """A prompt by id, whoever's (the service decides who may use it)."""
    query = select(Prompt).where(Prompt.id == prompt_id)
    return await session.scalar(query.with_for_update() if lock else query)


async def prompts_of(
    session: AsyncSession, owner_id: uuid.UUID, studio_ids: list[uuid.UUID], tag: str | None
) -> list[Prompt]:
    """The user's own prompts and those shared with their studios, newest first."""
    mine = Prompt.owner_id == owner_id
    shared = Prompt.studio_id.in_(studio_ids) if studio_ids else None
    query = select(Prompt).where(mine if shared is None else or_(mine, shared))
    query = query.order_by(Prompt.updated_at.desc())
    if tag:
        query = query.where(Prompt.tags.contains([tag]))
    return list(await session.scalars(query))


async def versions(session: AsyncSession, prompt_id: uuid.UUID) -> list[PromptVersion]:
    query = (
        select(PromptVersion)
        .where(PromptVersion.prompt_id == prompt_id)
        .order_by(PromptVersion.version.desc())
    )
    return list(await session.scalars(query))


async def version(session: AsyncSession, prompt_id: uuid.UUID, number: int) -> PromptVersion | None:
    return await session.scalar(
        select(PromptVersion).where(
            PromptVersion.prompt_id == prompt_id, PromptVersion.version == number
        )
    )


async def run(
    session: AsyncSession,
    run_id: uuid.UUID,
    owner_id: uuid.UUID | None = None,
    *,
    lock: bool = False,
) -> AgentRun | None:
    query = select(AgentRun).where(AgentRun.id == run_id)
    if owner_id is not None:
        query = query.where(AgentRun.owner_id == owner_id)
    return await session.scalar(query.with_for_update() if lock else query)


async def runs_of(session: AsyncSession, owner_id: uuid.UUID, limit: int = 20) -> list[AgentRun]:
    query = (
        select(AgentRun)
        .where(AgentRun.owner_id == owner_id)
        .order_by(AgentRun.created_at.desc())
        .limit(limit)
    )
    return list(await session.scalars(query))


async def runs_waiting_on(session: AsyncSession, request_id: uuid.UUID) -> list[uuid.UUID]:
    """Running agents that submitted this job (a job ending wakes them)."""
    rows = await session.scalars(
        select(AgentRun.id).where(
            AgentRun.status == "running", AgentRun.job_ids.contains([request_id])
        )
    )
    return list(rows)


async def runs_filming(session: AsyncSession, movie_id: uuid.UUID) -> list[uuid.UUID]:
    """Running short-film agents waiting on this film."""
    rows = await session.scalars(
        select(AgentRun.id).where(
            AgentRun.status == "running", AgentRun.params["movie_id"].astext == str(movie_id)
        )
    )
    return list(rows)
