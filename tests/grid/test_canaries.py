"""Canary jobs: the platform checks a worker by giving it jobs it can render itself. An
honest worker passes them without telling them from real work; a worker that returns
something else is put in maintenance with the reason, shown publicly, and the economy holds
its share. Canaries are not the owner's jobs, not published, not paid."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from atelier.core.config import Settings
from atelier.core.runtime import Runtime
from atelier.core.transactions import unit_of_work
from atelier.economy.models import Contribution, WorkerStanding
from atelier.generators.base import Output, Progress
from atelier.generators.registry import available_backends
from atelier.grid import service
from atelier.grid.models import GenerationRequest, Worker
from atelier.grid.worker import WorkerLoop
from tests.conftest import make_settings
from tests.grid.helpers import account_with_key, asgi_client, caps
from tests.helpers import bearer, drain_tasks


@pytest.fixture(scope="module")
def settings(tmp_path_factory: pytest.TempPathFactory, database_url: str) -> Settings:
    return make_settings(
        tmp_path_factory.mktemp("home"), database_url, grid_canaries_first=2, grid_canary_rate=0.0
    )


class Forger:
    """A worker that claims the procedural model but returns a flat picture of the size."""

    name = "forger"
    kinds: tuple[str, ...] = ("image",)
    models: tuple[str, ...] = ("procedural-v1",)

    def generate(
        self, kind: str, params: dict[str, Any], out_dir: Path, progress: Progress
    ) -> Output:
        path = out_dir / "result.png"
        Image.new("RGB", (int(params["width"]), int(params["height"])), (40, 90, 160)).save(path)
        return Output(path, "image/png", "procedural-v1")


async def _until(check: Callable[[], Awaitable[bool]], seconds: float = 60) -> None:
    for _ in range(int(seconds / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("timed out")


async def _worker(runtime: Runtime, name: str) -> Worker | None:
    async with unit_of_work(runtime) as session:
        return await session.scalar(select(Worker).where(Worker.name == name))


async def _sweep(runtime: Runtime) -> None:
    async with unit_of_work(runtime) as session:
        await service.sweep(session, runtime.settings)


async def _run_canaries(
    client: httpx.AsyncClient,
    runtime: Runtime,
    name: str,
    backends: list[Any],
    tmp_path: Path,
    key: str,
) -> Worker:
    grid = asgi_client(client, key)
    loop = WorkerLoop(grid, caps(name, ["image"]), backends, workdir=tmp_path, idle_poll_s=0.05)
    running = asyncio.create_task(loop.run())
    try:
        await _until(lambda: _registered(runtime, name))
        for expected in (1, 2):
            await _sweep(runtime)

            async def checked(n: int = expected) -> bool:
                worker = await _worker(runtime, name)
                return worker is not None and (
                    worker.canaries_passed + worker.canaries_failed >= n
                    or worker.state == "maintenance"
                )

            await _until(checked)
            worker = await _worker(runtime, name)
            if worker is not None and worker.state == "maintenance":
                break
    finally:
        loop.request_stop()
        loop.request_stop()
        await asyncio.wait_for(running, 30)
        await grid.close()
    found = await _worker(runtime, name)
    assert found is not None
    return found


async def _registered(runtime: Runtime, name: str) -> bool:
    return await _worker(runtime, name) is not None


async def test_an_honest_worker_passes_its_canaries_unpaid_and_unseen(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    owner, key = await account_with_key(runtime)
    backends, _ = available_backends()
    worker = await _run_canaries(client, runtime, "honest-rig", backends, tmp_path, key)
    assert (worker.canaries_passed, worker.canaries_failed, worker.state) == (2, 0, "active")
    assert worker.jobs_done == 0  # a canary is no one's work
    await _sweep(runtime)  # two passed, none due (rate 0): no more canaries
    async with unit_of_work(runtime) as session:
        canaries = list(
            await session.scalars(
                select(GenerationRequest.id).where(GenerationRequest.only_worker == worker.id)
            )
        )
    assert len(canaries) == 2
    for canary in canaries:  # not the worker owner's jobs: they cannot even look at them
        seen = await client.get(f"/api/v1/generate/status/{canary}", headers=bearer(key))
        assert seen.status_code == 404
    await drain_tasks(runtime)  # CanaryChecked → the economy's standing; no contribution
    async with unit_of_work(runtime) as session:
        standing = await session.get(WorkerStanding, worker.id)
        paid = await session.scalar(
            select(func.count())
            .select_from(Contribution)
            .where(Contribution.worker_id == worker.id)
        )
    assert standing is not None and standing.canaries_passed == 2 and standing.owner_id == owner
    assert paid == 0


async def test_a_forging_worker_is_caught_held_and_shown(
    client: httpx.AsyncClient, runtime: Runtime, tmp_path: Path
) -> None:
    _, key = await account_with_key(runtime)
    worker = await _run_canaries(client, runtime, "forging-rig", [Forger()], tmp_path, key)
    assert worker.state == "maintenance" and worker.canaries_failed == 1
    assert "canary output did not match" in (worker.canary_failure or "")
    public = (await client.get("/api/v1/workers/status")).json()
    shown = next(w for w in public["workers"] if w["name"] == "forging-rig")
    assert shown["canaries_failed"] == 1 and "did not match" in shown["canary_failure"]
    await drain_tasks(runtime)
    async with unit_of_work(runtime) as session:
        standing = await session.get(WorkerStanding, worker.id)
    assert standing is not None and "did not match" in (standing.flagged_reason or "")
    # its owner resumes it: it is checked again at once
    resumed = await client.post(f"/api/v1/workers/{worker.id}/resume", headers=bearer(key))
    assert resumed.status_code == 200 and resumed.json()["state"] == "active"
    async with unit_of_work(runtime) as session:
        assert await service.schedule_canaries(session, runtime.settings) >= 1
    assert uuid.UUID(resumed.json()["id"]) == worker.id
