"""Films end to end: costed before they start, made by real workers through the grid,
joined by stream copy, signed like any artifact, resumed after a crash without a shot made
twice; a shot whose job fails is retried alone, and a worker dying mid-shot costs nothing."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from datetime import timedelta
from pathlib import Path

import av
import httpx
import pytest
from sqlalchemy import func, select, update

from atelier.core import flows
from atelier.core.clock import now_utc
from atelier.core.config import Settings
from atelier.core.events import OutboxEvent
from atelier.core.flows import FlowRun, FlowStep
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.films import flows as film_flows
from atelier.films import movies, watching
from atelier.films.flows import MAKE_FILM
from atelier.films.models import FilmView, MovieJob
from atelier.grid import service as grid_service
from atelier.grid.models import Attempt, GenerationRequest
from atelier.identity.service import accounts
from tests.conftest import make_settings
from tests.grid.helpers import account_with_key, asgi_client, caps, worker_loop
from tests.helpers import bearer, drain_tasks
from tests.servers import atelier_env

STORY = """Title: Two Rooms

INT. KITCHEN - NIGHT

MARA pours tea for two.

MARA
He is late again.

The kettle whistles.

EXT. STREET - NIGHT

JONAH runs through the rain.

JONAH
Wait for me!
"""
SMALL = {"width": 256, "height": 144, "shot_seconds": 2.0}


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("home"), database_url, grid_lease_min_s=1, grid_lease_factor=1.0
    )


async def _script(client: httpx.AsyncClient, key: str, text: str = STORY) -> str:
    made = await client.post("/api/scripts", headers=bearer(key), json={"text": text})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


async def _jobs_done(
    client: httpx.AsyncClient, runtime: Runtime, volunteer: str, tmp: Path, n: int
) -> None:
    tmp.mkdir(parents=True, exist_ok=True)
    async with worker_loop(client, volunteer, f"w-{uuid.uuid4().hex[:6]}", tmp, max_jobs=n) as loop:
        await asyncio.wait_for(loop.run(), timeout=120)
    await drain_tasks(runtime)


async def _film_requests(runtime: Runtime, movie_id: str) -> int:
    async with runtime.sessions() as session:
        count = await session.scalar(
            select(func.count())
            .select_from(GenerationRequest)
            .where(
                GenerationRequest.film_id == uuid.UUID(movie_id),
                GenerationRequest.source == "film",
            )
        )
        return int(count or 0)


async def test_only_an_admin_films_a_script_no_round_selected(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    _, author = await account_with_key(runtime)
    _, stranger = await account_with_key(runtime)
    _, admin = await account_with_key(runtime, ["admin"])
    script_id = await _script(client, author, STORY.replace("tea", "coffee"))
    body = {"script_id": script_id, "options": SMALL}
    for key in (author, stranger):
        refused = await client.post("/api/movies/generate", headers=bearer(key), json=body)
        assert refused.status_code == 403, refused.text
        assert refused.json()["type"] == "/problems/script-not-selected"
    costed = await client.post("/api/movies/generate", headers=bearer(admin), json=body)
    assert costed.status_code == 201, costed.text
    movie = costed.json()
    assert movie["status"] == "estimated"
    assert movie["jobs_by_kind"] == {"image": 3, "speech": 2, "music": 2}
    assert movie["compute_seconds"] > 0
    assert movie["eta_s"] is None  # no live worker: the grid cannot say
    assert movie["jobs"] == {
        "image": {"planned": 3},
        "speech": {"planned": 2},
        "music": {"planned": 2},
    }
    again = await client.post("/api/movies/generate", headers=bearer(admin), json=body)
    assert (again.status_code, again.json()["id"]) == (200, movie["id"])  # not costed twice
    start = await client.post(f"/api/movies/{movie['id']}/start", headers=bearer(stranger))
    assert start.status_code == 403
    assert await _film_requests(runtime, movie["id"]) == 0  # nothing ran unconfirmed
    bad = [
        {"script_id": script_id, "options": {"width": 7}},
        {"script_id": script_id, "options": {"shot_seconds": 1e9}},
        {"script_id": script_id, "options": {"codec": "x"}},
        {"script_id": "nope"},
    ]
    for wrong in bad:
        answer = await client.post("/api/movies/generate", headers=bearer(admin), json=wrong)
        assert answer.status_code == 422, wrong
    missing = {"script_id": str(uuid.uuid4())}
    assert (
        await client.post("/api/movies/generate", headers=bearer(admin), json=missing)
    ).status_code == 404
    progress = {"progress": 10, "stage": "rendering"}
    url = f"/api/movies/{movie['id']}/progress"
    assert (await client.put(url, headers=bearer(author), json=progress)).status_code == 403
    not_running = await client.put(url, headers=bearer(admin), json=progress)
    assert not_running.status_code == 409
    for wrong in ({"progress": 150, "stage": "x"}, {"progress": 5, "stage": ""}, {"progress": 5}):
        assert (await client.put(url, headers=bearer(admin), json=wrong)).status_code == 422
    unknown = await client.post(f"/api/movies/{uuid.uuid4()}/start", headers=bearer(admin))
    assert unknown.status_code == 404 and unknown.json()["type"] == "/problems/movie-not-found"
    assert (await client.get(f"/api/movies/{movie['id']}/video")).status_code == 404
    assert (await client.get(f"/api/movies/{movie['id']}/../../etc")).status_code == 404
    assert (await client.get(f"/api/movies/{uuid.uuid4()}")).status_code == 404


async def test_a_selected_script_is_filmed_by_the_grid_and_plays_with_subtitles(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    author_id, author = await account_with_key(runtime)
    _, volunteer = await account_with_key(runtime)
    script_id = await _script(client, author)
    async with runtime.sessions() as session, session.begin():  # a round selected it
        from atelier.films.models import Script

        await session.execute(
            update(Script).where(Script.id == uuid.UUID(script_id)).values(status="selected")
        )
    grid = asgi_client(client, volunteer)
    await grid.register(caps("eta-worker"))  # a live worker: the estimate has an ETA
    await grid.close()
    body = {"script_id": script_id, "options": {**SMALL, "crossfade_s": 0.5}, "confirm": True}
    started = await client.post("/api/movies/generate", headers=bearer(author), json=body)
    assert started.status_code == 201, started.text
    movie = started.json()
    assert movie["status"] == "generating" and movie["eta_s"] is not None
    await drain_tasks(runtime)  # the flow submits the jobs, then waits for them
    waiting = (await client.get(f"/api/movies/{movie['id']}")).json()
    assert waiting["steps"] == {"submit": "done", "render": "0 of 7 jobs done"}
    assert waiting["jobs"]["image"] == {"queued": 3}
    assert await _film_requests(runtime, movie["id"]) == 7  # each tied to the film
    admin_id, admin = await account_with_key(runtime, ["admin"])
    reported = await client.put(
        f"/api/movies/{movie['id']}/progress",
        headers=bearer(admin),
        json={"progress": 5, "stage": "an orchestrator's report"},
    )
    assert reported.status_code == 200 and reported.json()["stage"] == "an orchestrator's report"
    await _jobs_done(client, runtime, volunteer, tmp_path / "w", 7)
    await drain_tasks(runtime)
    made = (await client.get(f"/api/movies/{movie['id']}")).json()
    assert made["status"] == "completed", made
    assert made["progress"] == 100 and made["cid"]
    assert set(made["steps"]) == {"submit", "render", "assemble", "publish"}
    video = await client.get(made["video_url"])
    assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
    ranged = await client.get(made["video_url"], headers={"Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100
    path = tmp_path / "film.mp4"
    path.write_bytes(video.content)
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (256, 144)
        assert container.streams.audio
        assert abs(container.duration / 1e6 - made["duration_s"]) < 0.05
    vtt = (await client.get(made["subtitles"]["vtt"])).text
    assert vtt.startswith("WEBVTT") and "He is late again." in vtt and "Wait for me!" in vtt
    srt = (await client.get(made["subtitles"]["srt"])).text
    assert srt.startswith("1\n00:00:00,350 --> ")
    poster = await client.get(made["poster_url"])
    assert poster.content[:3] == b"\xff\xd8\xff"
    events = await client.get(f"/api/movies/{movie['id']}/events")
    assert events.text.startswith("event: movie\ndata: ") and '"completed"' in events.text
    async with runtime.sessions() as session:  # the film is a grid artifact of its author
        film = await session.scalar(
            select(GenerationRequest).where(
                GenerationRequest.film_id == uuid.UUID(movie["id"]),
                GenerationRequest.source == "film-assembly",
            )
        )
        assert film is not None and film.user_id == author_id and film.artifact_id is not None
    # filming the same script again (other options) reuses every shot, line and cue made
    again = {"script_id": script_id, "options": SMALL, "confirm": True}
    second = (await client.post("/api/movies/generate", headers=bearer(admin), json=again)).json()
    await drain_tasks(runtime)
    remade = (await client.get(f"/api/movies/{second['id']}")).json()
    assert remade["status"] == "completed" and remade["reused"] == 7, remade
    assert await _film_requests(runtime, second["id"]) == 0
    assert admin_id != author_id


async def test_a_failed_job_is_retried_alone_and_a_dead_worker_costs_nothing(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    _, admin = await account_with_key(runtime, ["admin"])
    _, volunteer = await account_with_key(runtime)
    fresh = {"tea": "wine", "KITCHEN": "CELLAR", "STREET": "ALLEY", "late": "early", "Wait": "Run"}
    story = STORY
    for old, new in fresh.items():  # nothing in common with the films before: no job reused
        story = story.replace(old, new)
    script_id = await _script(client, admin, story)
    body = {"script_id": script_id, "options": SMALL, "confirm": True}
    movie = (await client.post("/api/movies/generate", headers=bearer(admin), json=body)).json()
    await drain_tasks(runtime)
    # a worker takes a shot and dies holding it: its lease runs out, the grid requeues it
    dying, dying_caps = asgi_client(client, volunteer), caps("dies-mid-shot")
    await dying.register(dying_caps)
    taken = (await dying.pop(dying_caps)).job
    assert taken is not None
    await dying.close()
    async with runtime.sessions() as session, session.begin():
        attempt = await session.get(Attempt, taken.lease_id)
        assert attempt is not None
        attempt.expires_at = now_utc()
        held = attempt.request_id
    # and the creator cancels another of the film's jobs: that job alone is submitted again
    _, cancelled_id = await _cancel_one_film_job(runtime, movie["id"], exclude=held)
    async with unit_of_work(runtime) as session:  # what the periodic sweeps do
        await grid_service.sweep(session, runtime.settings)  # the lease expired: requeued
        await film_flows.wake(session, uuid.UUID(movie["id"]))  # the film looks again
    await drain_tasks(runtime)
    await _jobs_done(client, runtime, volunteer, tmp_path / "w", 7)
    await drain_tasks(runtime)
    made = (await client.get(f"/api/movies/{movie['id']}")).json()
    assert made["status"] == "completed", made
    async with runtime.sessions() as session:
        jobs = list(
            await session.scalars(
                select(MovieJob).where(MovieJob.movie_id == uuid.UUID(movie["id"]))
            )
        )
    tries = {job.request_id == cancelled_id or job.tries > 1 for job in jobs}
    assert sorted(job.tries for job in jobs) == [1] * 6 + [2]  # only the cancelled one again
    assert tries == {False, True}
    assert await _film_requests(runtime, movie["id"]) == 8  # 7 jobs + the one resubmitted


async def _cancel_one_film_job(
    runtime: Runtime, movie_id: str, exclude: uuid.UUID
) -> tuple[int, uuid.UUID]:
    async with runtime.sessions() as session, session.begin():
        job = await session.scalar(
            select(MovieJob)
            .where(MovieJob.movie_id == uuid.UUID(movie_id), MovieJob.request_id != exclude)
            .order_by(MovieJob.position)
            .limit(1)
        )
        assert job is not None and job.request_id is not None
        await session.execute(
            update(GenerationRequest)
            .where(GenerationRequest.id == job.request_id)
            .values(state="cancelled", fault_reason="cancelled by its creator")
        )
        return job.position, job.request_id


KILLABLE = textwrap.dedent(
    """
    import asyncio, sys, uuid
    from atelier.core import flows
    from atelier.core.config import Settings
    from atelier.core.startup import close_runtime, open_runtime
    from atelier.server.modules import task_blueprints
    import atelier.films.flows  # registers the flow

    async def main() -> None:
        runtime = await open_runtime(Settings(), blueprints=task_blueprints())
        try:
            print(await flows.run(runtime, uuid.UUID(sys.argv[1])), flush=True)
        finally:
            await close_runtime(runtime)

    asyncio.run(main())
    """
)


async def test_an_orchestrator_killed_mid_film_resumes_without_redoing_a_shot(
    client: httpx.AsyncClient,
    runtime: Runtime,
    settings: Settings,
    database_url: str,
    tmp_path: Path,
) -> None:
    _, admin = await account_with_key(runtime, ["admin"])
    _, volunteer = await account_with_key(runtime)
    scenes = "".join(
        f"INT. ROOM {n} - DAY\n\nANNA waits by door {n}.\n\nBEN opens window {n}.\n\n"
        for n in range(6)
    )
    script_id = await _script(client, admin, "Title: Many Rooms\n\n" + scenes)
    body = {
        "script_id": script_id,
        "options": {**SMALL, "width": 320, "height": 176},
        "confirm": True,
    }
    answer = await client.post("/api/movies/generate", headers=bearer(admin), json=body)
    assert answer.status_code == 201, answer.text
    movie = answer.json()
    total = sum(movie["jobs_by_kind"].values())
    await drain_tasks(runtime)
    # the jobs are made, but no task worker takes them in: the orchestrator below does
    (tmp_path / "w").mkdir()
    async with worker_loop(client, volunteer, "w-kill", tmp_path / "w", max_jobs=total) as loop:
        await asyncio.wait_for(loop.run(), timeout=120)
    async with runtime.sessions() as session:
        run_id = await session.scalar(
            select(FlowRun.id).where(FlowRun.flow == MAKE_FILM.name, FlowRun.key == movie["id"])
        )
    assert run_id is not None
    clips = settings.home / "films" / "clips"
    before = set(clips.glob("*.mp4")) if clips.exists() else set()
    script = tmp_path / "orchestrator.py"
    script.write_text(KILLABLE)
    orchestrator = subprocess.Popen(
        [sys.executable, str(script), str(run_id)],
        env=atelier_env(settings.home, database_url),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and len(set(clips.glob("*.mp4")) - before) < 2:
        assert orchestrator.poll() is None, (
            orchestrator.stdout.read() if orchestrator.stdout else ""
        )
        await asyncio.sleep(0.02)
    orchestrator.send_signal(signal.SIGKILL)  # mid-assembly: some clips encoded, not all
    orchestrator.wait(timeout=30)
    encoded_before_kill = len(set(clips.glob("*.mp4")) - before)
    assert encoded_before_kill >= 2
    assert await flows.run(runtime, run_id) == "succeeded"  # resumed where it died
    async with runtime.sessions() as session:
        step = await session.get(FlowStep, (run_id, "assemble"))
        assert step is not None and step.output is not None
        assert step.output["clips_reused"] >= encoded_before_kill  # nothing encoded twice
    await drain_tasks(runtime)
    made = (await client.get(f"/api/movies/{movie['id']}")).json()
    assert made["status"] == "completed", made
    assert await _film_requests(runtime, movie["id"]) == total  # no shot made twice


async def test_following_films_is_capped(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, admin = await account_with_key(runtime, ["admin"])
    script_id = await _script(client, admin, STORY.replace("tea", "milk"))
    body = {"script_id": script_id, "options": SMALL}
    movie = (await client.post("/api/movies/generate", headers=bearer(admin), json=body)).json()
    monkeypatch.setattr(watching, "MAX_FOLLOWERS", 0)  # a full house
    for path in (f"/api/movies/{movie['id']}/events", f"/films/movies/{movie['id']}/events"):
        refused = await client.get(path)
        assert refused.status_code == 503, path
        assert refused.json()["type"] == "/problems/too-many-watchers"
    assert watching._followers == 0  # the streams that ran gave their places back


async def test_the_same_line_said_twice_is_made_once(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    _, admin = await account_with_key(runtime, ["admin"])
    _, volunteer = await account_with_key(runtime)
    story = (
        "Title: Echo\n\nINT. CAVE - NIGHT\n\nIDA calls out.\n\nIDA\nHello?\n\n"
        "Water drips.\n\nIDA\nHello?\n"
    )
    script_id = await _script(client, admin, story)
    body = {"script_id": script_id, "options": SMALL, "confirm": True}
    movie = (await client.post("/api/movies/generate", headers=bearer(admin), json=body)).json()
    assert movie["jobs_by_kind"] == {"image": 2, "speech": 2, "music": 1}
    await drain_tasks(runtime)
    assert await _film_requests(runtime, movie["id"]) == 4  # one request for both lines
    await _jobs_done(client, runtime, volunteer, tmp_path / "w", 4)
    await drain_tasks(runtime)
    made = (await client.get(f"/api/movies/{movie['id']}")).json()
    assert made["status"] == "completed" and made["jobs"]["speech"] == {"done": 2}, made
    vtt = (await client.get(made["subtitles"]["vtt"])).text
    assert vtt.count("Hello?") == 2


async def test_a_film_viewed_again_the_same_day_is_one_view(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    """Reloading the viewer adds no view (nor an outbox event); the next day is a view."""
    admin_id, admin = await account_with_key(runtime, ["admin"])
    script_id = await _script(client, admin, STORY.replace("tea", "soup"))
    body = {"script_id": script_id, "options": SMALL}
    movie = (await client.post("/api/movies/generate", headers=bearer(admin), json=body)).json()
    movie_id = uuid.UUID(movie["id"])

    async def views() -> int:
        async with runtime.sessions() as session:
            found = await session.scalars(
                select(OutboxEvent.payload).where(OutboxEvent.topic == "films.film_viewed")
            )
            return sum(1 for p in found if p["movie_id"] == movie["id"])

    for _ in range(3):
        async with unit_of_work(runtime) as session:
            viewer = await accounts.principal_for(session, admin_id, "test")
            await movies.viewed(session, movie_id, viewer)
    assert await views() == 1
    async with unit_of_work(runtime) as session:  # it was yesterday
        await session.execute(
            update(FilmView)
            .where(FilmView.movie_id == movie_id)
            .values(day=now_utc().date() - timedelta(days=1))
        )
    async with unit_of_work(runtime) as session:
        await movies.viewed(session, movie_id, viewer)
    assert await views() == 2
