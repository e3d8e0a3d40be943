"""Making a film, as a flow of persisted steps (core.flows): submit → render → assemble →
publish, keyed by the film.

- submit: every planned job becomes a grid request tied to the film (`film_id`), unless
  some film already made a job with the same content (`MovieJob.cache_key`): that result
  is reused, so a film made again, or a film sharing shots, runs none of them twice; jobs
  of the same content within the film (a line said twice) share one request.
- render: waits (the step is woken by each accepted job, and looked at by the stalled-run
  sweep) until every job is done; a job whose request failed is submitted again alone, up
  to `MAX_TRIES`, then the film fails saying which job.
- assemble: the clips are encoded once each (cached by content: a crash mid-assembly
  re-encodes nothing already encoded) and joined by stream copy, with subtitles and a
  poster (films.assembly), in the task process with no transaction open.
- publish: the MP4 is validated by the grid's own checks in the media sandbox and accepted
  as a grid artifact of the film, which provenance then signs (C2PA, CID, originality).

Killed at any point, the film resumes at the step it was in, with every finished job kept.
"""

from __future__ import annotations

import uuid
import wave
from dataclasses import replace
from functools import partial
from pathlib import Path

import anyio
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core import flows
from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.flows import Flow, StepContext
from atelier.films import assembly, movies
from atelier.films import repository as repo
from atelier.films.models import JobState, Movie, MovieJob, MovieStatus
from atelier.films.schemas import MovieIn
from atelier.grid import service as grid
from atelier.grid.validation import Expectation, inspect
from atelier.identity.principal import Principal
from atelier.identity.service import accounts
from atelier.storage.blobs import sha256_file, store_for
from atelier.storage.media import MediaLimits, MediaRefused
from atelier.storage.sandbox import Budget, run_limited


class FilmStarted(BaseModel):
    movie_id: uuid.UUID


class Assembled(BaseModel):
    video_key: str
    sha256: str
    duration_s: float
    clips_encoded: int
    clips_reused: int


MAKE_FILM: Flow[FilmStarted] = Flow(movies.MAKE_FILM_FLOW, FilmStarted)
ASSEMBLY_MODEL = "atelier-film-assembly-v1"

Ctx = StepContext[FilmStarted]


async def estimate(
    session: AsyncSession, settings: Settings, principal: Principal, body: MovieIn
) -> tuple[Movie, bool]:
    """Plan and cost a film (`movies.estimate`), and start it when `body.confirm`."""
    movie, created = await movies.estimate(session, settings, principal, body)
    if body.confirm:
        await confirm(session, principal, movie.id)
    return movie, created


async def confirm(session: AsyncSession, principal: Principal, movie_id: uuid.UUID) -> None:
    """Start a costed film, once (it runs when the caller commits)."""
    if await movies.confirm(session, principal, movie_id):
        await flows.start(session, MAKE_FILM, str(movie_id), FilmStarted(movie_id=movie_id))


async def wake(session: AsyncSession, movie_id: uuid.UUID) -> None:
    """One of the film's jobs ended: its render step looks again."""
    await flows.wake_run(session, MAKE_FILM, str(movie_id))


async def _locked(session: AsyncSession, movie_id: uuid.UUID) -> tuple[Movie, list[MovieJob]]:
    movie = await repo.movie(session, movie_id, for_update=True)
    assert movie is not None
    return movie, await repo.jobs(session, movie_id, for_update=True)


async def _queue(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    movie: Movie,
    job: MovieJob,
    submitted: dict[str, uuid.UUID],
) -> None:
    """Put the job on the grid, unless a job of the same content was just put there (the
    same line said twice): `submitted` maps content keys to the requests queued for them."""
    request_id = submitted.get(job.cache_key)
    if request_id is None:
        request = await grid.submit(
            session,
            settings,
            principal,
            job.kind,
            dict(job.fields),
            source="film",
            charge_quota=False,
            film_id=movie.id,
        )
        request_id = submitted[job.cache_key] = request.id
    job.request_id, job.state, job.tries = request_id, JobState.QUEUED, job.tries + 1


async def _maker(session: AsyncSession, movie: Movie) -> Principal:
    """Whose jobs these are: who started the film (its script's author if they are gone)."""
    user_id = movie.requested_by
    if user_id is None:
        script = await repo.script(session, movie.script_id)
        assert script is not None
        user_id = script.author_id
    return await accounts.principal_for(session, user_id, via="films")


@MAKE_FILM.step("submit")
async def submit(ctx: Ctx) -> None:
    settings = ctx.runtime.settings
    store = store_for(settings.blobs_dir)
    async with ctx.finish() as session:
        movie, jobs = await _locked(session, ctx.input.movie_id)
        planned = [job for job in jobs if job.state == JobState.PLANNED]
        cached = await repo.done_results(session, {job.cache_key for job in planned})
        principal = await _maker(session, movie)
        reused, submitted = 0, dict[str, uuid.UUID]()
        for job in planned:
            hit = cached.get(job.cache_key)
            if hit is not None and store.exists(hit[0]):
                job.storage_key, job.sha256, job.state = hit[0], hit[1], JobState.DONE
                reused += 1
            else:
                await _queue(session, settings, principal, movie, job, submitted)
        stage = f"{len(planned) - reused} jobs on the grid"
        await movies.record_progress(
            session, movie, movies.rendered_share(jobs), stage + f", {reused} reused"
        )


@MAKE_FILM.step("render")
async def render(ctx: Ctx) -> None:
    """Take in the jobs the grid finished; wait while any is still being made. Outcomes
    that ended (done, failed) stay ended, so what was read decides what is written."""
    settings = ctx.runtime.settings
    async with ctx.read() as session:
        jobs = await repo.jobs(session, ctx.input.movie_id)
        queued = [job.request_id for job in jobs if job.state == JobState.QUEUED]
        found = await grid.outcomes(session, [r for r in queued if r is not None])
    ended = {
        job.position: found[job.request_id]
        for job in jobs
        if job.state == JobState.QUEUED and job.request_id in found and found[job.request_id].ended
    }
    spent = [
        job
        for job in jobs
        if job.position in ended
        and ended[job.position].ended_without_result
        and job.tries >= movies.MAX_TRIES
    ]
    if spent:
        job = spent[0]
        error = (
            f"{job.kind} job {job.position} (scene {job.scene + 1}) failed {job.tries} times; "
            f"last: {ended[job.position].reason}"
        )
        async with ctx.fail(error) as session:
            movie, _ = await _locked(session, ctx.input.movie_id)
            await movies.record_failure(session, movie, error)
        return
    done = sum(
        1
        for job in jobs
        if job.state == JobState.DONE or (job.position in ended and ended[job.position].done)
    )
    waiting = done < len(jobs)
    closing = ctx.wait(f"{done} of {len(jobs)} jobs done") if waiting else ctx.finish()
    async with closing as session:
        movie, jobs = await _locked(session, ctx.input.movie_id)
        principal = await _maker(session, movie)
        submitted = dict[str, uuid.UUID]()
        for job in jobs:
            outcome = ended.get(job.position)
            if outcome is None or job.state != JobState.QUEUED:
                continue
            if outcome.done:
                job.storage_key, job.sha256 = outcome.storage_key, outcome.sha256
                job.state = JobState.DONE
            else:  # the job alone goes back to the grid, as a new request
                job.error = outcome.reason
                await _queue(session, settings, principal, movie, job, submitted)
        if waiting:
            stage = f"{done} of {len(jobs)} jobs done"
            await movies.record_progress(session, movie, movies.rendered_share(jobs), stage)
        else:
            movie.status = MovieStatus.ASSEMBLING
            await movies.record_progress(session, movie, movies.RENDER_SHARE, "joining the shots")


def _seconds(path: Path) -> float:
    with wave.open(str(path)) as audio:
        return float(audio.getnframes()) / float(audio.getframerate())


def segments_of(movie: Movie, jobs: list[MovieJob], settings: Settings) -> list[assembly.Segment]:
    """The film's segments from its done jobs: each shot with the lines heard over it and
    its scene's music cue."""
    store = store_for(settings.blobs_dir)
    shots = [job for job in jobs if job.kind in ("image", "video")]
    music = {job.scene: store.path(str(job.storage_key)) for job in jobs if job.kind == "music"}
    lines: dict[int, list[assembly.Line]] = {}
    for job in jobs:
        if job.kind == "speech" and job.shot is not None:
            path = store.path(str(job.storage_key))
            text = str(job.fields.get("prompt", ""))
            line = assembly.Line(path, _seconds(path), text, job.character or "")
            lines.setdefault(job.shot, []).append(line)
    return [
        assembly.Segment(
            scene=shot.scene,
            picture=store.path(str(shot.storage_key)),
            still=shot.kind == "image",
            lines=tuple(lines.get(index, ())),
            min_seconds=float(movie.options.get("shot_seconds", 4.0)),
            music=music.get(shot.scene),
        )
        for index, shot in enumerate(shots)
    ]


def _assemble(movie: Movie, jobs: list[MovieJob], settings: Settings) -> assembly.Film:
    options = movie.options
    fmt = assembly.Format(width=int(options["width"]), height=int(options["height"]))
    root = settings.home / "films"
    return assembly.assemble(
        segments_of(movie, jobs, settings),
        root / "movies" / str(movie.id),
        root / "clips",
        fmt,
        float(options.get("crossfade_s", 0.0)),
    )


@MAKE_FILM.step("assemble")
async def assemble(ctx: Ctx) -> None:
    settings = ctx.runtime.settings
    async with ctx.read() as session:
        movie = await repo.movie(session, ctx.input.movie_id)
        jobs = await repo.jobs(session, ctx.input.movie_id)
    assert movie is not None
    try:
        film = await anyio.to_thread.run_sync(_assemble, movie, jobs, settings)
    except assembly.AssemblyError as exc:
        async with ctx.fail(str(exc)) as session:
            locked, _ = await _locked(session, ctx.input.movie_id)
            await movies.record_failure(session, locked, str(exc))
        return
    store = store_for(settings.blobs_dir)

    def put(path: Path) -> tuple[str, str]:
        digest = sha256_file(path)
        return store.put_file(path, sha256=digest), digest

    (video_key, digest), (poster_key, _), (srt_key, _), (vtt_key, _) = [
        await anyio.to_thread.run_sync(put, path)
        for path in (film.video, film.poster, film.srt, film.vtt)
    ]
    assembled = Assembled(
        video_key=video_key,
        sha256=digest,
        duration_s=round(film.duration_s, 3),
        clips_encoded=film.clips_encoded,
        clips_reused=film.clips_reused,
    )
    note = f"{film.clips_encoded} clips encoded, {film.clips_reused} reused"
    async with ctx.finish(assembled, note=note) as session:
        locked, _ = await _locked(session, ctx.input.movie_id)
        locked.poster_key, locked.srt_key, locked.vtt_key = poster_key, srt_key, vtt_key
        locked.duration_s = assembled.duration_s
        await movies.record_progress(session, locked, 95.0, "validating the film")


@MAKE_FILM.step("publish")
async def publish(ctx: Ctx) -> None:
    """The joined MP4 through the grid's validation, then accepted as the film's artifact."""
    settings = ctx.runtime.settings
    assembled = ctx.output("assemble", Assembled)
    assert assembled is not None
    async with ctx.read() as session:
        movie = await repo.movie(session, ctx.input.movie_id)
        assert movie is not None
        script = await repo.script(session, movie.script_id)
        assert script is not None
    expected = Expectation(
        format="mp4",
        max_bytes=settings.grid_max_result_bytes,
        limits=replace(MediaLimits.of(settings), max_duration_s=assembled.duration_s + 2),
        width=int(movie.options["width"]),
        height=int(movie.options["height"]),
        duration_s=assembled.duration_s,
    )
    path = store_for(settings.blobs_dir).path(assembled.video_key)
    checked = partial(inspect, path, "video/mp4", expected)
    try:
        media = await run_limited(checked, budget=Budget.of(settings))
    except MediaRefused as exc:
        async with ctx.fail(f"the film failed validation: {exc.reason}") as session:
            locked, _ = await _locked(session, ctx.input.movie_id)
            await movies.record_failure(
                session, locked, f"the film failed validation: {exc.reason}"
            )
        return
    async with ctx.finish() as session:
        locked, _ = await _locked(session, ctx.input.movie_id)
        artifact = await grid.accept_platform_work(
            session,
            media,
            creator_id=script.author_id,
            film_id=locked.id,
            prompt=locked.title,
            model=ASSEMBLY_MODEL,
            sha256=assembled.sha256,
            storage_key=assembled.video_key,
        )
        locked.artifact_id, locked.video_key = artifact.id, assembled.video_key
        locked.status, locked.finished_at = MovieStatus.COMPLETED, now_utc()
        await movies.record_progress(session, locked, 100.0, "made")


@MAKE_FILM.give_up
async def record_failure(session: AsyncSession, ctx: Ctx, error: str) -> None:
    movie, _ = await _locked(session, ctx.input.movie_id)
    await movies.record_failure(session, movie, f"{ctx.step}: {error}")
