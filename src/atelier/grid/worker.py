"""The worker program: pull a job, run a backend, upload the result, repeat.

Pull only (no inbound connections), so a volunteer behind NAT can serve. The first stop
signal finishes the job in hand and exits; a second one releases it to the queue at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from atelier.core.logging import get_logger
from atelier.generators.base import Backend, JobUnsuitable
from atelier.generators.registry import CatalogLoader, pick
from atelier.grid.client import GridClient, GridError, WorkerCapabilities
from atelier.grid.schemas import JobPayload

log = get_logger("atelier.worker")

PROGRESS_EVERY_S = 1.0
SUBMIT_TRIES = 6


def default_name() -> str:
    return f"{socket.gethostname()}-worker"[:100].replace(" ", "-")


def capabilities_of(
    name: str,
    backends: list[Backend],
    kinds: list[str] | None,
    max_pixels: int,
    max_duration_s: float,
) -> WorkerCapabilities:
    offered = sorted({k for b in backends for k in b.kinds})
    chosen = [k for k in offered if kinds is None or k in kinds]
    models = sorted({m for b in backends for m in b.models})
    offered_by = [
        {"name": b.name, "kinds": [k for k in b.kinds if k in chosen], "models": list(b.models)}
        for b in backends
        if any(k in chosen for k in b.kinds)
    ]
    return WorkerCapabilities(
        name, chosen, models, max_pixels, max_duration_s, "atelier/0.1", offered_by
    )


Refresh = Callable[[], tuple[list[Backend], WorkerCapabilities]]


@dataclass
class WorkerLoop:
    """`refresh`, when given, is called (in a thread) every `refresh_every_s` between jobs:
    the backends and capabilities it returns replace the worker's (a model version dropped
    into the catalog is offered without a restart)."""

    client: GridClient
    caps: WorkerCapabilities
    backends: list[Backend]
    workdir: Path = field(default_factory=lambda: Path(tempfile.gettempdir()))
    idle_poll_s: float = 2.0
    max_jobs: int | None = None
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    release_now: asyncio.Event = field(default_factory=asyncio.Event)
    done: int = 0
    refresh: Refresh | None = None
    refresh_every_s: float = 30.0
    _refreshed_at: float = field(default_factory=time.monotonic)

    def request_stop(self) -> None:
        """First call: finish the current job, then exit. Second: give it back now."""
        if self.stop.is_set():
            self.release_now.set()
        self.stop.set()

    async def run(self) -> None:
        backoff = 1.0
        while not self.stop.is_set():
            await self._maybe_refresh()
            try:
                popped = await self.client.pop(self.caps)
                backoff = 1.0
            except GridError as exc:
                wait = 30.0 if exc.slug == "worker-in-maintenance" else min(60.0, backoff)
                log.warning("worker.pop_refused", reason=exc.detail, retry_in_s=wait)
                await self._sleep(wait)
                backoff = min(60.0, backoff * 2)
                continue
            except httpx.HTTPError as exc:
                log.warning("worker.server_unreachable", error=str(exc), retry_in_s=backoff)
                await self._sleep(backoff)
                backoff = min(60.0, backoff * 2)
                continue
            if popped.job is None:
                await self._sleep(max(self.idle_poll_s, popped.retry_after_s))
                continue
            await self.run_job(popped.job)
            self.done += 1
            if self.max_jobs is not None and self.done >= self.max_jobs:
                return

    async def _maybe_refresh(self) -> None:
        if self.refresh is None or time.monotonic() - self._refreshed_at < self.refresh_every_s:
            return
        self._refreshed_at = time.monotonic()
        try:
            self.backends, self.caps = await asyncio.to_thread(self.refresh)
        except Exception as exc:  # a bad catalog must not stop the worker
            log.warning("worker.refresh_failed", error=str(exc))

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.stop.wait(), timeout=seconds)

    async def run_job(self, job: JobPayload) -> None:
        backend = pick(self.backends, job.kind, job.model)
        if backend is None:
            await self._give_back(job, f"no backend for {job.kind}/{job.model}", failed=True)
            return
        jobdir = Path(tempfile.mkdtemp(prefix="job-", dir=self.workdir))
        loop = asyncio.get_running_loop()
        latest: dict[str, float] = {"value": 0.0}

        def progress(percent: float) -> None:  # called from the backend's thread
            loop.call_soon_threadsafe(latest.__setitem__, "value", float(percent))

        reporter = asyncio.create_task(self._report_progress(job, latest))
        started = time.monotonic()
        log.info("worker.job_started", lease_id=str(job.lease_id), kind=job.kind)
        generation = asyncio.create_task(
            asyncio.to_thread(backend.generate, job.kind, dict(job.params), jobdir, progress)
        )
        released = asyncio.create_task(self.release_now.wait())
        try:
            finished, _ = await asyncio.wait(
                {generation, released}, return_when=asyncio.FIRST_COMPLETED
            )
            if generation not in finished:
                await self._give_back(job, "worker stopped before finishing", failed=False)
                return
            try:
                output = generation.result()
            except JobUnsuitable as exc:
                await self._give_back(
                    job, f"unusable job: {exc}"[:480], failed=True, job_at_fault=True
                )
                return
            except Exception as exc:
                await self._give_back(job, f"{backend.name} failed: {exc}"[:480], failed=True)
                return
            reporter.cancel()
            await self._deliver(
                job, output.path, output.mime, time.monotonic() - started, output.model
            )

        finally:
            reporter.cancel()
            released.cancel()
            shutil.rmtree(jobdir, ignore_errors=True)

    async def _deliver(
        self, job: JobPayload, path: Path, mime: str, compute_s: float, model: str
    ) -> None:
        """Upload the result; a server that does not answer (restarting) is tried again, and
        a submit that was accepted before the answer was lost comes back as a 409."""
        for attempt in range(SUBMIT_TRIES):
            try:
                result = await self.client.submit(job, path, mime, compute_s, model)
                log.info("worker.job_accepted", lease_id=str(job.lease_id), sha256=result.sha256)
                return
            except GridError as exc:
                log.warning(
                    "worker.job_not_accepted",
                    lease_id=str(job.lease_id),
                    status=exc.status,
                    reason=exc.detail,
                )
                if exc.status not in (409, 422):  # not judged by the server: let it retry now
                    await self._give_back(job, f"upload failed: {exc.detail}"[:480], failed=True)
                return
            except httpx.HTTPError as exc:
                wait = 2.0 * (attempt + 1)
                log.warning(
                    "worker.submit_unreachable",
                    lease_id=str(job.lease_id),
                    error=str(exc),
                    retry_in_s=wait,
                )
                await asyncio.sleep(wait)
        log.warning(
            "worker.job_abandoned",
            lease_id=str(job.lease_id),
            reason="the server did not answer; the lease will return the job",
        )

    async def _report_progress(self, job: JobPayload, latest: dict[str, float]) -> None:
        sent = -1.0
        while True:
            if latest["value"] != sent:
                sent = latest["value"]
                try:
                    await self.client.progress(job, min(99.0, sent))
                except (GridError, httpx.HTTPError) as exc:
                    log.info("worker.progress_not_sent", reason=str(exc))
            await asyncio.sleep(PROGRESS_EVERY_S)

    async def _give_back(
        self, job: JobPayload, reason: str, *, failed: bool, job_at_fault: bool = False
    ) -> None:
        try:
            await self.client.release(job, reason, failed=failed, job_at_fault=job_at_fault)
        except (GridError, httpx.HTTPError) as exc:
            log.warning("worker.release_failed", lease_id=str(job.lease_id), reason=str(exc))
        log.info("worker.job_given_back", lease_id=str(job.lease_id), reason=reason, failed=failed)


def catalog_refresh(
    name: str,
    builtins: list[Backend],
    loader: CatalogLoader,
    kinds: list[str] | None,
    max_pixels: int,
    max_duration_s: float,
) -> Refresh:
    """A `refresh` offering the built-in backends and the catalog's current versions."""

    def refresh() -> tuple[list[Backend], WorkerCapabilities]:
        found, problems = loader.load()
        for problem in problems:
            log.warning("worker.catalog_version_skipped", reason=problem)
        backends = [*builtins, *found]
        return backends, capabilities_of(name, backends, kinds, max_pixels, max_duration_s)

    return refresh
