"""Admin logic: who owns what a moderator hides, the settings as an operator may see them
(secrets masked), and the state of the indexers and the task queue, dead letters included."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.chain.evm import indexer as evm_indexer
from atelier.core import events
from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.errors import InvalidInput, NotFound
from atelier.core.runtime import Runtime
from atelier.films import service as films
from atelier.grid import service as grid
from atelier.identity.principal import Principal
from atelier.market import indexing as market_indexing
from atelier.market import studios as market
from atelier.moderation import service as moderation
from atelier.moderation.models import Case
from atelier.social import service as social

SECRET_WORDS = ("secret", "password", "token", "key", "jwt", "database_url", "smtp_url")
DEAD_LETTERS_SHOWN = 100


def masked_settings(settings: Settings) -> dict[str, Any]:
    """Every setting, as an operator may see it: secrets say only whether they are set."""
    shown: dict[str, Any] = {}
    for name, value in sorted(settings.model_dump().items()):
        secret = isinstance(value, SecretStr) or any(w in name for w in SECRET_WORDS)
        if secret:
            shown[name] = "•••••• (set)" if value else "(not set)"
        elif isinstance(value, str | int | float | bool) or value is None:
            shown[name] = value
        else:
            shown[name] = str(value)
    return shown


async def _owner(session: AsyncSession, kind: str, target_id: str) -> uuid.UUID | None:
    """Whose content it is (they are told why it was hidden); casts are Farcaster's."""
    if kind == "cast":
        await social.cast(session, target_id)  # 404 for a cast the feed does not have
        return None
    try:
        ident = uuid.UUID(target_id)
    except ValueError:
        raise InvalidInput(f"an {kind} id is a UUID", slug="invalid-target") from None
    if kind == "script":
        owner = await films.author_of(session, ident)
    else:
        artifact_id = ident if kind == "artifact" else await market.artifact_of_nft(session, ident)
        made = await grid.made(session, artifact_id) if artifact_id is not None else None
        owner = made.user_id if made is not None else None
    if owner is None:
        raise NotFound(f"no such {kind}", slug="target-not-found")
    return owner


async def hide(
    session: AsyncSession, admin: Principal, kind: str, target_id: str, reason: str
) -> Case:
    target = target_id.lower() if kind == "cast" else target_id
    owner = await _owner(session, kind, target)
    return await moderation.hide(session, admin, kind, target, owner, reason)


@dataclass(frozen=True)
class DeadLetter:
    id: int
    task: str
    queue: str
    attempts: int
    scheduled_at: datetime | None


@dataclass(frozen=True)
class IndexerState:
    """One indexer: where it is, when it last moved (its lag: a stalled one ages), what it
    waits for, and its last error."""

    name: str
    position: str
    moved_at: datetime | None
    waiting: str | None = None
    error: str | None = None


async def indexers(session: AsyncSession) -> list[IndexerState]:
    """The Farcaster hubs' cursors, the EVM event indexer per contract, the market's
    intents waiting for the Solana chain."""
    found = [
        IndexerState(
            f"Farcaster hub {hub.hub}",
            f"event {hub.last_event_id} ({hub.indexed} kept, {hub.refused} refused)",
            hub.updated_at,
            error=hub.last_error,
        )
        for hub in await social.hub_status(session)
    ]
    found += [
        IndexerState(f"EVM chain {p.chain_id}, {p.contract[:10]}…", f"block {p.block}", p.read_at)
        for p in await evm_indexer.positions(session)
    ]
    count, oldest = await market_indexing.waiting(session)
    since = f", the oldest since {oldest:%Y-%m-%d %H:%M:%S} UTC" if oldest else ""
    found.append(
        IndexerState("Solana market intents", f"{count} waiting", None, f"{count} waiting{since}")
    )
    return found


@dataclass(frozen=True)
class SystemStatus:
    hubs: list[Any]
    indexers: list[IndexerState]
    outbox_backlog: int
    tasks: list[dict[str, Any]]
    dead_letters: list[DeadLetter]
    checked_at: datetime


async def system_status(session: AsyncSession, runtime: Runtime) -> SystemStatus:
    manager = runtime.tasks.job_manager
    tasks = [dict(t) for t in await manager.list_tasks_async()]
    failed = list(await manager.list_jobs_async(status="failed"))[-DEAD_LETTERS_SHOWN:]
    letters = [
        DeadLetter(j.id, j.task_name, j.queue, j.attempts, j.scheduled_at)
        for j in reversed(failed)
        if j.id is not None
    ]
    return SystemStatus(
        hubs=await social.hub_status(session),
        indexers=await indexers(session),
        outbox_backlog=await events.backlog(session),
        tasks=sorted(tasks, key=lambda t: str(t["name"])),
        dead_letters=letters,
        checked_at=now_utc(),
    )


async def retry_dead_letter(runtime: Runtime, job_id: int) -> None:
    """Queue a failed task job again, now."""
    manager = runtime.tasks.job_manager
    found = list(await manager.list_jobs_async(id=job_id, status="failed"))
    if not found:
        raise NotFound("no failed task job with that id", slug="dead-letter-not-found")
    await manager.retry_job_by_id_async(job_id, retry_at=now_utc())
