"""Studio logic: the prompt library (versions, variables, tags) and agents' plans, with
their cost shown before anything runs (the grid's estimate of the compute, when the queue
would be through it, and what it takes of the owner's daily quota)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.errors import Conflict, InvalidInput, NotFound
from atelier.films import logline as films_logline
from atelier.films import movies, scripts
from atelier.films.schemas import MovieOptions
from atelier.grid import service as grid
from atelier.grid.specs import build_spec
from atelier.identity.principal import Principal
from atelier.identity.service import quota
from atelier.market import studios as market
from atelier.market.models import Role
from atelier.studio import repository as repo
from atelier.studio import templates
from atelier.studio.models import AgentRun, AgentStatus, Prompt, PromptVersion


def _invalid(message: str, where: str) -> InvalidInput:
    return InvalidInput.on_field(where, message, slug="invalid-studio-input")


def _checked_text(text: str, defaults: dict[str, str]) -> dict[str, str]:
    cleaned = text.strip()
    if not cleaned:
        raise _invalid("a prompt needs some text", "text")
    if len(cleaned) > templates.MAX_PROMPT:
        raise _invalid(f"a prompt is at most {templates.MAX_PROMPT} characters", "text")
    names = templates.variables_in(cleaned)
    unknown = sorted(set(defaults) - set(names))
    if unknown:
        raise _invalid(f"the text has no variable {unknown[0]!r} to give a default", "variables")
    return {name: defaults.get(name, "") for name in names}


async def save_prompt(
    session: AsyncSession,
    principal: Principal,
    *,
    name: str,
    text: str,
    tags: list[str],
    defaults: dict[str, str],
    studio_id: uuid.UUID | None = None,
) -> tuple[Prompt, PromptVersion]:
    """A new prompt, the caller's own or shared with a market studio they edit for."""
    variables = _checked_text(text, defaults)
    if studio_id is not None:
        await market.studio_for(session, studio_id, principal, Role.EDITOR)
    found = Prompt(
        id=uuid.uuid4(),
        owner_id=principal.user_id,
        studio_id=studio_id,
        name=name.strip() or "untitled",
        tags=sorted({t.strip().lower() for t in tags if t.strip()}),
        latest=1,
    )
    await repo.add(session, found)
    first = PromptVersion(prompt_id=found.id, version=1, text=text.strip(), variables=variables)
    await repo.add(session, first)
    return found, first


async def prompt_for(
    session: AsyncSession,
    principal: Principal,
    prompt_id: uuid.UUID,
    *,
    revising: bool = False,
    lock: bool = False,
) -> Prompt:
    """A prompt the caller may use: their own, or one shared with a studio they belong to
    (revising one takes the studio's editor role: 403 otherwise). 404 for anyone else's."""
    found = await repo.prompt(session, prompt_id, lock=lock)
    if found is not None and found.owner_id == principal.user_id:
        return found
    studio = found.studio_id if found is not None else None
    if found is None or studio is None or await market.role_in(session, studio, principal) is None:
        raise NotFound("no such prompt of yours or your studios'", slug="prompt-not-found")
    if revising:
        await market.studio_for(session, studio, principal, Role.EDITOR)
    return found


async def revise(
    session: AsyncSession,
    principal: Principal,
    prompt_id: uuid.UUID,
    text: str,
    defaults: dict[str, str],
) -> PromptVersion:
    """A new version (the old ones stay, for agents that used them)."""
    found = await prompt_for(session, principal, prompt_id, revising=True, lock=True)
    variables = _checked_text(text, defaults)
    found.latest += 1
    found.updated_at = now_utc()
    revised = PromptVersion(
        prompt_id=found.id, version=found.latest, text=text.strip(), variables=variables
    )
    await repo.add(session, revised)
    return revised


async def prompts(
    session: AsyncSession, principal: Principal, tag: str | None = None
) -> list[Prompt]:
    studios = [s.id for s, _ in await market.studios_of(session, principal)]
    return await repo.prompts_of(session, principal.user_id, studios, tag)


async def versions(
    session: AsyncSession, principal: Principal, prompt_id: uuid.UUID
) -> list[PromptVersion]:
    await prompt_for(session, principal, prompt_id)
    return await repo.versions(session, prompt_id)


async def render(
    session: AsyncSession,
    principal: Principal,
    prompt_id: uuid.UUID,
    values: dict[str, str],
    version: int | None = None,
) -> str:
    found = await prompt_for(session, principal, prompt_id)
    chosen = await repo.version(session, found.id, version or found.latest)
    if chosen is None:
        raise NotFound(f"the prompt has no version {version}", slug="version-not-found")
    text, missing = templates.fill(chosen.text, values, chosen.variables)
    if missing:
        raise _invalid(f"give a value for {', '.join(missing)}", "variables")
    return text


@dataclass(frozen=True)
class AgentRequest:
    template: str
    prompt: str
    n: int | None
    keep: int | None
    studio_id: uuid.UUID | None
    collection_name: str | None
    cast: bool


async def plan(
    session: AsyncSession, settings: Settings, principal: Principal, asked: AgentRequest
) -> AgentRun:
    """An agent run, planned and costed; it runs once started."""
    template = templates.TEMPLATES.get(asked.template)
    if template is None:
        known = ", ".join(templates.TEMPLATES)
        raise _invalid(f"{asked.template!r} is not a template ({known})", "template")
    n = 1 if template.kind == templates.FILM else asked.n or template.n
    keep = min(asked.keep or template.keep, n)
    if asked.cast and not principal.has_role("admin"):
        raise _invalid("only an admin's agent may cast as the platform", "cast")
    if asked.studio_id is not None and not asked.collection_name:
        raise _invalid("name the collection the agent drafts", "collection_name")
    if not asked.prompt.strip():
        raise _invalid("give the agent a prompt (or one of yours)", "prompt")
    if template.kind == templates.FILM:
        costs = await _film_costs(session, settings, principal, asked.prompt)
    else:
        costs = await _job_costs(session, settings, template.kind, asked.prompt, n)
    usage = await quota.usage(session, settings, principal.user_id, list(principal.roles))
    costs["quota_left"] = usage.remaining
    run = AgentRun(
        id=uuid.uuid4(),
        owner_id=principal.user_id,
        template=template.name,
        params={
            "prompt": asked.prompt,
            "kind": template.kind,
            "n": n,
            "keep": keep,
            "studio_id": str(asked.studio_id) if asked.studio_id else None,
            "collection_name": asked.collection_name,
            "cast": asked.cast,
        },
        plan=costs,
        status=AgentStatus.ESTIMATED,
        job_ids=[],
        ranked=[],
        nft_ids=[],
    )
    await repo.add(session, run)
    return run


async def _job_costs(
    session: AsyncSession, settings: Settings, kind: str, prompt: str, n: int
) -> dict[str, Any]:
    """`n` jobs of `kind`, as the grid estimates them; each takes one of the day's quota."""
    spec = build_spec(kind, {"prompt": prompt})
    each = spec.estimate_s()
    work = {kind: grid.Work(each * n, spec.pixels, spec.duration_s)}
    return {
        "jobs": n,
        "kind": kind,
        "compute_seconds": round(each * n, 1),
        "eta_s": await grid.eta_for(session, settings, work),
        "quota_needed": n,
    }


def screenplay_of(logline: str) -> scripts.Prepared:
    """The screenplay a short-film agent writes from its logline, read as the portal would."""
    try:
        return scripts.prepare(films_logline.screenplay(logline), "fountain", None)
    except ValueError as exc:
        raise _invalid(str(exc), "prompt") from None


async def _film_costs(
    session: AsyncSession, settings: Settings, principal: Principal, logline: str
) -> dict[str, Any]:
    """The film of the screenplay the logline makes, costed like any film (films are the
    platform's work: no quota). Made at once for those who may film any script; for
    others the screenplay goes to the portal, and a round that selects it lets them film it."""
    prepared = screenplay_of(logline)
    film, eta_s = await movies.costed(session, settings, prepared.play, MovieOptions())
    return {
        "jobs": len(film.jobs),
        "kind": templates.FILM,
        "compute_seconds": round(film.compute_seconds, 1),
        "eta_s": eta_s,
        "quota_needed": 0,
        "scenes": prepared.play.count("scene_heading"),
        "films_now": movies.films_any_script(principal),
    }


async def owned_run(
    session: AsyncSession, principal: Principal, run_id: uuid.UUID, *, lock: bool = False
) -> AgentRun:
    found = await repo.run(session, run_id, principal.user_id, lock=lock)
    if found is None:
        raise NotFound("no such agent run of yours", slug="agent-not-found")
    return found


async def mark_started(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> AgentRun:
    found = await owned_run(session, principal, run_id, lock=True)
    if found.status != AgentStatus.ESTIMATED:
        raise Conflict(f"this agent is already {found.status}", slug="agent-started")
    if found.plan["quota_needed"] > found.plan["quota_left"]:
        raise Conflict(
            "your daily quota does not cover this agent's jobs; lower how many it makes",
            slug="quota-too-small",
        )
    found.status, found.started_at = AgentStatus.RUNNING, now_utc()
    return found


async def runs(session: AsyncSession, principal: Principal) -> list[AgentRun]:
    return await repo.runs_of(session, principal.user_id)


def ranked(candidates: list[dict[str, Any]], keep: int) -> list[dict[str, Any]]:
    """Best first by originality (0 to 1, 0.6 of the score) and quality (0 to 1, 0.4); a
    missing measure counts as 0.5."""

    def score(c: dict[str, Any]) -> float:
        originality = c.get("originality")
        quality = c.get("quality")
        return 0.6 * (0.5 if originality is None else originality) + 0.4 * (
            0.5 if quality is None else quality
        )

    ordered = sorted(candidates, key=score, reverse=True)
    return [{**c, "score": round(score(c), 4), "kept": i < keep} for i, c in enumerate(ordered)]
