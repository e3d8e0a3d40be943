"""An agent run as a flow keyed by its run id: generate → collect → rank → draft → announce.
Each step commits what it made with its completion, so a run killed or failing at a step
resumes there: the jobs it submitted are not submitted again, the collection not drafted
twice. `collect` waits (woken by each of its jobs' `JobEnded` and `ArtifactSigned`) until
every job has ended and every result is signed; after `max_attempts` failures of one step
the run is marked failed with the step's error."""

from __future__ import annotations

import uuid
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events, flows
from atelier.core.clock import now_utc
from atelier.core.flows import Flow, StepContext
from atelier.films import flows as film_flows
from atelier.films import movies
from atelier.films import service as films
from atelier.films.schemas import MovieIn
from atelier.grid import service as grid
from atelier.identity.principal import Principal
from atelier.identity.service import accounts
from atelier.market import studios as market
from atelier.moderation import service as moderation
from atelier.provenance import service as provenance
from atelier.social import farcaster
from atelier.social import service as social
from atelier.studio import repository as repo
from atelier.studio import service, templates
from atelier.studio.events import AgentProgressed
from atelier.studio.models import AgentRun, AgentStatus

SOURCE = "studio"


class AgentStarted(BaseModel):
    run_id: uuid.UUID


class Candidates(BaseModel):
    items: list[dict[str, Any]]


AGENT: Flow[AgentStarted] = Flow("studio.agent", AgentStarted, max_attempts=5)
Ctx = StepContext[AgentStarted]


async def start(session: AsyncSession, run: AgentRun) -> None:
    await flows.start(session, AGENT, str(run.id), AgentStarted(run_id=run.id))


async def _run(session: AsyncSession, ctx: Ctx) -> AgentRun:
    """The run, locked, in the step's closing transaction (which tells its owner)."""
    found = await repo.run(session, ctx.input.run_id, lock=True)
    assert found is not None
    progressed = AgentProgressed(
        run_id=found.id, owner_id=found.owner_id, step=ctx.step, status=found.status
    )
    await events.emit(session, progressed)
    return found


@AGENT.step("generate")
async def generate(ctx: Ctx) -> None:
    """Submit the jobs, charged to the owner's quota, in the step's own transaction (a
    short film: its screenplay, and the film when the owner may film it now)."""
    async with ctx.finish() as session:
        run = await _run(session, ctx)
        owner = await accounts.principal_for(session, run.owner_id, SOURCE)
        if run.params["kind"] == templates.FILM:
            run.params = {**run.params, **await _write_and_film(session, ctx, owner, run)}
            return
        ids = []
        for _ in range(int(run.params["n"])):
            job = await grid.submit(
                session,
                ctx.runtime.settings,
                owner,
                str(run.params["kind"]),
                {"prompt": str(run.params["prompt"])},
                source=SOURCE,
            )
            ids.append(job.id)
        run.job_ids = ids


async def _write_and_film(
    session: AsyncSession, ctx: Ctx, owner: Principal, run: AgentRun
) -> dict[str, str]:
    """The logline's screenplay submitted as the owner's script; filmed at once (costed and
    started) when they may film any script."""
    script = await films.submit(session, owner.user_id, service.screenplay_of(run.params["prompt"]))
    made = {"script_id": str(script.id)}
    if movies.films_any_script(owner):
        body = MovieIn(script_id=script.id, confirm=True)
        movie, _ = await film_flows.estimate(session, ctx.runtime.settings, owner, body)
        made["movie_id"] = str(movie.id)
    return made


async def _film_candidates(
    session: AsyncSession, run: AgentRun
) -> tuple[list[dict[str, Any]], int, str | None]:
    """The film as the one candidate once it is made and signed; (…, 1, None) while it is
    being made; its error when it failed. No film (the screenplay waits for a round): none."""
    if not run.params.get("movie_id"):
        return [], 0, None
    owner = await accounts.principal_for(session, run.owner_id, SOURCE)
    film = await movies.view(session, uuid.UUID(run.params["movie_id"]), owner)
    if film.status == "failed":
        return [], 0, f"the film failed: {film.movie.error}"
    if film.status != "completed" or film.movie.artifact_id is None:
        return [], 1, None
    made = await grid.made(session, film.movie.artifact_id)
    assert made is not None
    candidates, waiting = await _candidates(session, [made.request_id])
    return candidates, waiting, None


@AGENT.step("collect")
async def collect(ctx: Ctx) -> None:
    async with ctx.read() as session:
        run = await repo.run(session, ctx.input.run_id)
        assert run is not None
        error = None
        if run.params["kind"] == templates.FILM:
            candidates, waiting, error = await _film_candidates(session, run)
        else:
            candidates, waiting = await _candidates(session, run.job_ids)
    if error is not None:
        async with ctx.fail(error) as session:
            await _failed(session, ctx, error)
        return
    if run.params["kind"] == templates.FILM and not run.params.get("movie_id"):
        async with ctx.finish(Candidates(items=[])) as session:
            await _run(session, ctx)  # the screenplay is on the portal: nothing to rank
        return
    if waiting:
        async with ctx.wait(f"{len(run.job_ids) - waiting} of {len(run.job_ids)} ready"):
            return
    if not candidates:
        async with ctx.fail("none of the agent's jobs produced a signed result") as session:
            await _failed(session, ctx, "none of the agent's jobs produced a signed result")
        return
    async with ctx.finish(Candidates(items=candidates)) as session:
        await _run(session, ctx)


async def _candidates(
    session: AsyncSession, job_ids: list[uuid.UUID]
) -> tuple[list[dict[str, Any]], int]:
    """The signed results with their measures, and how many jobs are not settled yet."""
    found, waiting = [], 0
    hidden = await grid.jobs_with_hidden_results(session)
    for job_id in job_ids:
        if job_id in hidden:
            continue
        job = await grid.job_of(session, job_id)
        if job is None or job.state in ("faulted", "cancelled"):
            continue
        if job.artifact_id is None:
            waiting += 1
            continue
        trail = await provenance.trail_of(session, job.artifact_id)
        if trail.delivery.state == "signing":
            waiting += 1
            continue
        if trail.delivery.state != "signed":
            continue
        summary = trail.summary
        quality = (summary.get("fingerprint") or {}).get("quality")
        found.append(
            {
                "request_id": str(job_id),
                "artifact_id": str(job.artifact_id),
                "originality": (summary.get("originality") or {}).get("score"),
                "quality": quality / 100 if quality is not None else None,
            }
        )
    return found, waiting


@AGENT.step("rank")
async def rank(ctx: Ctx) -> None:
    candidates = ctx.output("collect", Candidates)
    assert candidates is not None
    async with ctx.finish() as session:
        run = await _run(session, ctx)
        run.ranked = service.ranked(candidates.items, int(run.params["keep"]))


@AGENT.step("draft")
async def draft(ctx: Ctx) -> None:
    """The kept results as NFT drafts of a new collection in the owner's studio."""
    async with ctx.finish() as session:
        run = await _run(session, ctx)
        kept = [c for c in run.ranked if c.get("kept")]
        hidden = await moderation.hidden(session, "artifact", [c["artifact_id"] for c in kept])
        kept = [c for c in kept if c["artifact_id"] not in hidden]  # hidden since they ranked
        if not run.params.get("studio_id") or not kept:
            return
        owner = await accounts.principal_for(session, run.owner_id, SOURCE)
        name = str(run.params["collection_name"])[:32]
        collection = await market.create_collection(
            session,
            owner,
            uuid.UUID(run.params["studio_id"]),
            name=name,
            symbol="".join(w[0] for w in name.split() if w)[:10].upper() or "ATL",
            description=f"Made by an Atelier agent from: {run.params['prompt']}"[:500],
            seller_fee_basis_points=500,
            creators=None,
        )
        nfts = []
        for index, chosen in enumerate(kept, start=1):
            nft = await market.draft_nft(
                session,
                owner,
                collection.id,
                uuid.UUID(chosen["artifact_id"]),
                f"{name} #{index}"[:32],
                f"score {chosen['score']}",
            )
            nfts.append(nft.id)
        run.collection_id, run.nft_ids = collection.id, nfts


@AGENT.step("announce")
async def announce(ctx: Ctx) -> None:
    """A cast about it (an admin's agent), then the run is done."""
    async with ctx.read() as session:
        run = await repo.run(session, ctx.input.run_id)
        assert run is not None
        cast = bool(run.params.get("cast"))
        started = (run.started_at or now_utc()).timestamp()
    cast_hash = None
    if cast:
        settings = ctx.runtime.settings
        text, links = _announcement(run, settings.origin)
        message = await social.post_cast(
            settings,
            social.hub_client(settings),
            text,
            links,
            timestamp=farcaster.farcaster_time(started),
        )
        cast_hash = message["hash"]
    async with ctx.finish() as session:
        found = await _run(session, ctx)
        found.cast_hash = cast_hash
        found.status, found.finished_at = AgentStatus.DONE, now_utc()


def _announcement(run: AgentRun, origin: str) -> tuple[str, list[str]]:
    """The cast's text and links: the film, or the pieces kept and their collection."""
    links = [f"{origin}/market/collections/{run.collection_id}"] if run.collection_id else []
    if run.params["kind"] == templates.FILM:
        movie_id = run.params.get("movie_id")
        film = [f"{origin}/films/movies/{movie_id}"] if movie_id else []
        return "New on Atelier: a short film an agent made from a logline.", film + links
    kept = sum(1 for c in run.ranked if c.get("kept"))
    return f"New on Atelier: {kept} pieces picked by an agent from {run.params['n']} tries.", links


async def _failed(session: AsyncSession, ctx: Ctx, error: str) -> None:
    run = await _run(session, ctx)
    run.status, run.error, run.finished_at = AgentStatus.FAILED, error[:2000], now_utc()


@AGENT.give_up
async def record_failure(session: AsyncSession, ctx: Ctx, error: str) -> None:
    await _failed(session, ctx, f"{ctx.step}: {error}")
