"""Analytics: product facts from real sign-ups and jobs, counted once each under a
pseudonym that is not the account, rolled up per day and exposed on /metrics."""

from __future__ import annotations

import uuid

import httpx
from sqlalchemy import select

from atelier.analytics import service
from atelier.analytics.models import ProductEvent
from atelier.core import events
from atelier.core.clock import now_utc
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.films.events import FilmViewed
from atelier.grid.events import JobChanged
from tests.grid.helpers import account_with_key
from tests.helpers import bearer, drain_tasks, register_verified


async def _today(runtime: Runtime) -> dict[str, tuple[int, int]]:
    async with unit_of_work(runtime) as session:
        await service.roll_up(session, now_utc().date())
        return await service.on(session, now_utc().date())


async def test_the_days_activity_is_counted_once_and_pseudonymously(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    before = await _today(runtime)
    address, _ = await register_verified(client, runtime)
    user_id, key = await account_with_key(runtime)
    for kind, prompt in (("image", "a fox"), ("music", "rain"), ("image", "a heron")):
        answer = await client.post(
            "/api/v1/generate", headers=bearer(key), json={"kind": kind, "prompt": prompt}
        )
        assert answer.status_code == 202, answer.text
    job_id = uuid.UUID(answer.json()["id"])
    async with unit_of_work(runtime) as session:  # the same job queued again (a retry)
        again = JobChanged(
            request_id=job_id, owner_id=user_id, kind="image", state="queued", progress=0
        )
        await events.emit(session, again)
        for _ in range(2):  # a member watching a film twice the same day
            await events.emit(session, FilmViewed(movie_id=job_id, viewer_id=user_id, at=now_utc()))
    await drain_tasks(runtime)
    after = await _today(runtime)

    def grew(metric: str) -> tuple[int, int]:
        count, people = after.get(metric, (0, 0))
        was_count, was_people = before.get(metric, (0, 0))
        return count - was_count, people - was_people

    assert grew("signups") == (1, 1)
    assert grew("jobs") == (3, 1)  # three jobs, one person; the retry counted no more
    assert grew("film_views") == (1, 1)
    async with runtime.sessions() as session:
        rows = list(await session.scalars(select(ProductEvent)))
    stored = " ".join(f"{r.metric} {r.ref} {r.subject}" for r in rows)
    assert address not in stored and str(user_id) not in stored  # nobody is named
    assert all(r.subject is None or len(r.subject) == 32 for r in rows)

    scraped = await client.get("/metrics")
    jobs_today = after["jobs"][0]
    assert f'atelier_product_events_today{{metric="jobs"}} {float(jobs_today)}' in scraped.text


async def test_the_analytics_page_is_for_admins(client: httpx.AsyncClient) -> None:
    anonymous = await client.get("/admin/analytics", follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/sign-in"
