"""Films of scripts: costed before they start, then followed while the grid makes them.

Who may make a film: an admin, of any script; the author, of their script once a round
selected it. A film is planned and costed first (`estimate`, status `estimated`: its jobs
per kind, the grid's compute seconds and current ETA) and runs only once confirmed
(`confirm`; films.flows runs it). Costing the same script with the same options again
gives the same film, so an estimate cannot be multiplied by asking twice.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import events
from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.errors import Conflict, Forbidden, InvalidInput, NotFound
from atelier.core.flows import run_of
from atelier.films import planning, service
from atelier.films import repository as repo
from atelier.films.events import FilmChanged, FilmViewed
from atelier.films.models import JobState, Movie, MovieJob, MovieStatus, Script, ScriptStatus
from atelier.films.schemas import MovieIn, MovieOptions, ProgressIn
from atelier.films.screenplay import Screenplay
from atelier.grid import service as grid
from atelier.grid.specs import build_spec
from atelier.identity.principal import Principal
from atelier.provenance import service as provenance
from atelier.storage.blobs import store_for

MAKE_FILM_FLOW = "films:make"
MAX_JOBS = 2000  # a feature film's plan is ~800 jobs
MAX_TRIES = 3  # grid requests per job before the film fails
RENDER_SHARE = 90.0  # percent of the progress bar the grid's jobs fill; assembly the rest
RUNNING = (MovieStatus.GENERATING, MovieStatus.ASSEMBLING)


def cache_key(kind: str, fields: dict[str, Any]) -> str:
    """A job's content: the same kind and normalised parameters are the same result."""
    spec = build_spec(kind, dict(fields))
    described = {"kind": spec.kind, "params": spec.params, "model": spec.model}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()


def _refusal(principal: Principal, script: Script) -> Forbidden | None:
    """Why the caller may not film the script (None: they may)."""
    if films_any_script(principal):
        return None
    if script.status != ScriptStatus.SELECTED:
        return Forbidden(
            "only an admin may film a script no round has selected", slug="script-not-selected"
        )
    if script.author_id != principal.user_id:
        return Forbidden("only its author or an admin may film this script", slug="not-your-script")
    return None


def films_any_script(principal: Principal) -> bool:
    """Admins film any script, a round's choice or not (so one just submitted, at once);
    others film their own once a round selects it."""
    return principal.has_role("admin")


def may_make(principal: Principal | None, script: Script) -> bool:
    """Whether to offer the film form (the service decides again when it is sent)."""
    return principal is not None and _refusal(principal, script) is None


def _may_make(principal: Principal, script: Script) -> None:
    refused = _refusal(principal, script)
    if refused is not None:
        raise refused


def _work(film: planning.Plan) -> dict[str, grid.Work]:
    work: dict[str, grid.Work] = {}
    for job in film.jobs:
        spec = build_spec(job.kind, dict(job.fields))
        had = work.get(job.kind, grid.Work(0.0, 0, 0.0))
        work[job.kind] = grid.Work(
            had.seconds + job.estimate_s,
            max(had.pixels, spec.pixels),
            max(had.duration_s, spec.duration_s),
        )
    return work


async def costed(
    session: AsyncSession, settings: Settings, play: Screenplay, options: MovieOptions
) -> tuple[planning.Plan, float | None]:
    """The film of a screenplay planned (its jobs) and when the grid could make it (None:
    no live worker takes some kind); 422 when there is nothing to film or too much."""
    plan_options = planning.PlanOptions(
        width=options.width,
        height=options.height,
        shot_seconds=options.shot_seconds,
        video=options.video,
    )
    film = planning.plan(play, plan_options)
    if not film.shots:
        raise InvalidInput("the screenplay has no scene to film", slug="nothing-to-film")
    if len(film.jobs) > MAX_JOBS:
        raise InvalidInput(
            f"the film would take {len(film.jobs)} grid jobs, more than {MAX_JOBS}; "
            "film a shorter script",
            slug="film-too-large",
        )
    return film, await grid.eta_for(session, settings, _work(film))


async def estimate(
    session: AsyncSession, settings: Settings, principal: Principal, body: MovieIn
) -> tuple[Movie, bool]:
    """The film of `body.script_id` with `body.options`, planned and costed (and whether
    it is new): 404 unknown script, 403 not the caller's to film, 422 nothing to film or
    more than `MAX_JOBS` jobs."""
    script = await repo.script(session, body.script_id)
    if script is None:
        raise NotFound("no such script", slug="script-not-found")
    _may_make(principal, script)
    options = body.options.model_dump()
    existing = await repo.movie_like(session, script.id, options)
    if existing is not None:
        return existing, False
    film, eta_s = await costed(
        session, settings, Screenplay.from_dict(script.structure), body.options
    )
    movie = Movie(
        script_id=script.id,
        requested_by=principal.user_id,
        title=film.title,
        status=MovieStatus.ESTIMATED,
        options=options,
        jobs_by_kind=film.jobs_by_kind,
        compute_seconds=film.compute_seconds,
        eta_s=eta_s,
        stage="planned and costed; waiting for confirmation",
    )
    jobs = [
        MovieJob(
            position=position,
            kind=job.kind,
            scene=job.scene,
            shot=job.shot,
            character=job.character,
            fields=job.fields,
            estimate_s=job.estimate_s,
            cache_key=cache_key(job.kind, job.fields),
        )
        for position, job in enumerate(film.jobs)
    ]
    return await repo.add_movie(session, movie, jobs), True


async def confirm(session: AsyncSession, principal: Principal, movie_id: uuid.UUID) -> bool:
    """Start a costed film (True), or leave one already started as it is (False)."""
    movie = await repo.movie(session, movie_id, for_update=True)
    if movie is None:
        raise NotFound("no such film", slug="movie-not-found")
    script = await repo.script(session, movie.script_id)
    assert script is not None
    _may_make(principal, script)
    if movie.status != MovieStatus.ESTIMATED:
        return False
    movie.status = MovieStatus.GENERATING
    movie.started_at = now_utc()
    await record_progress(session, movie, 0.0, "queueing its jobs on the grid")
    return True


async def record_progress(session: AsyncSession, movie: Movie, progress: float, stage: str) -> None:
    """Where a film is, in percent (never backwards) and in words; its viewers are told."""
    movie.progress = max(movie.progress, min(100.0, progress))
    movie.stage = stage[:200]
    movie.updated_at = now_utc()
    await announce(session, movie)


async def record_failure(session: AsyncSession, movie: Movie, error: str) -> None:
    movie.status, movie.error, movie.finished_at = MovieStatus.FAILED, error[:2000], now_utc()
    movie.updated_at = now_utc()
    await announce(session, movie)


async def viewed(session: AsyncSession, movie_id: uuid.UUID, viewer: Principal) -> None:
    """A signed-in member opened the film's viewer: the first time today is a view
    (`FilmViewed`); reloading adds nothing."""
    at = now_utc()
    if await repo.first_view_today(session, movie_id, viewer.user_id, at.date()):
        await events.emit(session, FilmViewed(movie_id=movie_id, viewer_id=viewer.user_id, at=at))


async def announce_signed(session: AsyncSession, movie_id: uuid.UUID) -> None:
    movie = await repo.movie(session, movie_id)
    if movie is not None:
        await announce(session, movie)


async def announce(session: AsyncSession, movie: Movie) -> None:
    changed = FilmChanged(
        movie_id=movie.id, status=movie.status, progress=movie.progress, stage=movie.stage
    )
    await events.emit(session, changed)


async def report_progress(
    session: AsyncSession, principal: Principal, movie_id: uuid.UUID, body: ProgressIn
) -> Movie:
    """The seed's progress route, for an orchestrator: admins only, while the film runs."""
    if not principal.has_role("admin"):
        raise Forbidden("only an orchestrator (admin) reports a film's progress", slug="forbidden")
    movie = await repo.movie(session, movie_id, for_update=True)
    if movie is None:
        raise NotFound("no such film", slug="movie-not-found")
    if movie.status not in RUNNING:
        raise Conflict(f"the film is {movie.status}, not being made", slug="movie-not-running")
    await record_progress(session, movie, body.progress, body.stage)
    return movie


def rendered_share(jobs: list[MovieJob]) -> float:
    """The part of the progress bar the film's done jobs fill (by their estimated size)."""
    total = sum(job.estimate_s for job in jobs) or 1.0
    done = sum(job.estimate_s for job in jobs if job.state == JobState.DONE)
    return RENDER_SHARE * done / total


@dataclass(frozen=True)
class MovieView:
    movie: Movie
    status: str  # the movie's, or `signing` between acceptance and the signed copy
    progress: float
    jobs: dict[str, dict[str, int]]
    reused: int
    steps: dict[str, str]
    cid: str | None
    signed_key: str | None


async def view(session: AsyncSession, movie_id: uuid.UUID, viewer: Principal | None) -> MovieView:
    """A film as `viewer` may see it: the film of a script the moderators hid is hidden
    with it (404 `script-hidden`) from all but the script's author and admins."""
    movie = await repo.movie(session, movie_id)
    if movie is None:
        raise NotFound("no such film", slug="movie-not-found")
    await service.get(session, movie.script_id, viewer)
    jobs: dict[str, dict[str, int]] = {}
    reused = 0
    for kind, state, count in await repo.job_counts(session, movie_id):
        if state == "reused":
            reused += count
            state = JobState.DONE
        by_state = jobs.setdefault(kind, {})
        by_state[state] = by_state.get(state, 0) + count
    run = await run_of(session, MAKE_FILM_FLOW, str(movie.id))
    steps = {name: step.shown for name, step in run.steps.items()} if run else {}
    status, cid, signed_key = movie.status, None, None
    if movie.status == MovieStatus.COMPLETED and movie.artifact_id is not None:
        delivery = (await provenance.trail_of(session, movie.artifact_id)).delivery
        if delivery.state == "signing":
            status = "signing"
        cid, signed_key = delivery.cid, delivery.storage_key
    return MovieView(movie, status, movie.progress, jobs, reused, steps, cid, signed_key)


async def movies_of(
    session: AsyncSession, script_id: uuid.UUID, viewer: Principal | None
) -> list[Movie]:
    await service.get(session, script_id, viewer)
    return await repo.movies_of(session, script_id)


FILES = {
    "video": ("video/mp4", "film.mp4"),
    "poster.jpg": ("image/jpeg", "poster.jpg"),
    "subtitles.srt": ("application/x-subrip", "film.srt"),
    "subtitles.vtt": ("text/vtt", "film.vtt"),
}


async def file_of(
    session: AsyncSession,
    settings: Settings,
    movie_id: uuid.UUID,
    name: str,
    viewer: Principal | None,
) -> tuple[Path, str, str]:
    """A made film's file (path, media type, download name): the video is the signed copy
    (the one whose C2PA manifest and CID the film's page shows); 409 until it is signed."""
    if name not in FILES:
        raise NotFound("no such file of a film", slug="movie-file-not-found")
    shown = await view(session, movie_id, viewer)
    movie = shown.movie
    keys = {"poster.jpg": movie.poster_key, "subtitles.srt": movie.srt_key}
    keys |= {"subtitles.vtt": movie.vtt_key, "video": shown.signed_key}
    key = keys[name]
    if key is None:
        if name == "video" and shown.status in ("signing", MovieStatus.COMPLETED):
            raise Conflict("the film is being signed; try again shortly", slug="movie-signing")
        raise NotFound(
            f"the film has no {name} (it is {shown.status})", slug="movie-file-not-found"
        )
    media_type, filename = FILES[name]
    return store_for(settings.blobs_dir).path(key), media_type, filename
