"""Screenplay and movie queries."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from datetime import date, datetime

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.films.models import (
    FilmView,
    JobState,
    Movie,
    MovieJob,
    MovieStatus,
    Script,
    ScriptStatus,
    Selection,
    Validation,
)


async def add(session: AsyncSession, script: Script) -> Script:
    session.add(script)
    await session.flush()
    await session.refresh(script)
    return script


async def first_with_hash(session: AsyncSession, content_hash: str) -> Script | None:
    return await session.scalar(
        select(Script)
        .where(Script.content_hash == content_hash)
        .order_by(Script.created_at, Script.id)
        .limit(1)
    )


async def signatures(session: AsyncSession) -> list[tuple[uuid.UUID, list[int]]]:
    """Every original script's signature (duplicates of another are left out)."""
    rows = await session.execute(
        select(Script.id, Script.signature).where(Script.duplicate_of.is_(None))
    )
    return [(script_id, list(signature)) for script_id, signature in rows.tuples().all()]


async def script(session: AsyncSession, script_id: uuid.UUID) -> Script | None:
    return await session.get(Script, script_id)


async def page(
    session: AsyncSession,
    *,
    limit: int,
    before: datetime | None,
    status: str | None,
    hidden: Collection[uuid.UUID] = (),
) -> list[Script]:
    statement = select(Script).order_by(Script.created_at.desc(), Script.id).limit(limit)
    if hidden:
        statement = statement.where(Script.id.not_in(hidden))
    if before is not None:
        statement = statement.where(Script.created_at < before)
    if status is not None:
        statement = statement.where(Script.status == status)
    return list(await session.scalars(statement))


async def upsert_validation(
    session: AsyncSession,
    script_id: uuid.UUID,
    validator_id: uuid.UUID,
    scores: dict[str, int],
    comments: str,
) -> Validation:
    """One validation per validator and script: a later one replaces it (concurrent ones
    end as one row, the last to commit)."""
    statement = insert(Validation).values(
        script_id=script_id, validator_id=validator_id, scores=scores, comments=comments
    )
    validation_id = await session.scalar(
        statement.on_conflict_do_update(
            index_elements=["script_id", "validator_id"],
            set_={"scores": scores, "comments": comments, "updated_at": func.now()},
        ).returning(Validation.id)
    )
    found = await session.get(Validation, validation_id, populate_existing=True)
    assert found is not None
    return found


async def lock_script(session: AsyncSession, script_id: uuid.UUID) -> Script | None:
    return await session.get(Script, script_id, with_for_update={"read": True})


async def all_ratings(
    session: AsyncSession,
) -> list[tuple[uuid.UUID, uuid.UUID, dict[str, int]]]:
    """(script, validator, scores) of every validation (the prior and the biases are
    estimated from all of them)."""
    rows = await session.execute(
        select(Validation.script_id, Validation.validator_id, Validation.scores)
    )
    return [tuple(row) for row in rows.tuples().all()]  # type: ignore[misc]


async def pending_scripts(session: AsyncSession) -> list[Script]:
    """Scripts open for scoring, locked: a round closes them all at once."""
    return list(
        await session.scalars(
            select(Script)
            .where(Script.status == ScriptStatus.PENDING_VALIDATION)
            .order_by(Script.created_at, Script.id)
            .with_for_update()
        )
    )


async def add_selection(session: AsyncSession, selection: Selection) -> Selection:
    session.add(selection)
    await session.flush()
    await session.refresh(selection)
    return selection


async def selection(session: AsyncSession, selection_id: uuid.UUID) -> Selection | None:
    return await session.get(Selection, selection_id)


async def add_movie(session: AsyncSession, movie: Movie, jobs: list[MovieJob]) -> Movie:
    session.add(movie)
    await session.flush()
    for job in jobs:
        job.movie_id = movie.id
    session.add_all(jobs)
    await session.flush()
    await session.refresh(movie)
    return movie


async def movie(
    session: AsyncSession, movie_id: uuid.UUID, *, for_update: bool = False
) -> Movie | None:
    return await session.get(
        Movie, movie_id, with_for_update=for_update or None, populate_existing=for_update
    )


async def movie_like(
    session: AsyncSession, script_id: uuid.UUID, options: dict[str, object]
) -> Movie | None:
    """A film of the script made (or being made, or costed) with the same options."""
    return await session.scalar(
        select(Movie)
        .where(
            Movie.script_id == script_id,
            Movie.options == options,
            Movie.status != MovieStatus.FAILED,
        )
        .order_by(Movie.created_at.desc())
        .limit(1)
    )


async def movies_of(session: AsyncSession, script_id: uuid.UUID) -> list[Movie]:
    return list(
        await session.scalars(
            select(Movie).where(Movie.script_id == script_id).order_by(Movie.created_at.desc())
        )
    )


async def jobs(
    session: AsyncSession, movie_id: uuid.UUID, *, for_update: bool = False
) -> list[MovieJob]:
    statement = select(MovieJob).where(MovieJob.movie_id == movie_id).order_by(MovieJob.position)
    if for_update:
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return list(await session.scalars(statement))


async def job_counts(session: AsyncSession, movie_id: uuid.UUID) -> list[tuple[str, str, int]]:
    """(kind, state, jobs) of a film's jobs, and as state `reused` those done without a
    grid request of their own."""
    reused = (MovieJob.state == JobState.DONE) & MovieJob.request_id.is_(None)
    shown = case((reused, "reused"), else_=MovieJob.state)
    rows = await session.execute(
        select(MovieJob.kind, shown, func.count())
        .where(MovieJob.movie_id == movie_id)
        .group_by(MovieJob.kind, shown)
    )
    return [(kind, state, int(count)) for kind, state, count in rows.tuples()]


async def done_results(session: AsyncSession, cache_keys: set[str]) -> dict[str, tuple[str, str]]:
    """For each content key some film has done: that result's blob key and sha256."""
    if not cache_keys:
        return {}
    rows = await session.execute(
        select(MovieJob.cache_key, MovieJob.storage_key, MovieJob.sha256)
        .where(MovieJob.cache_key.in_(cache_keys), MovieJob.state == JobState.DONE)
        .distinct(MovieJob.cache_key)
    )
    return {key: (blob, digest) for key, blob, digest in rows.tuples() if blob and digest}


async def first_view_today(
    session: AsyncSession, movie_id: uuid.UUID, viewer_id: uuid.UUID, day: date
) -> bool:
    """Record that `viewer_id` watched the film on `day`; True only the first time."""
    recorded = await session.scalar(
        insert(FilmView)
        .values(movie_id=movie_id, viewer_id=viewer_id, day=day)
        .on_conflict_do_nothing()
        .returning(FilmView.movie_id)
    )
    return recorded is not None
