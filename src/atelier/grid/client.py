"""A typed client for the grid's HTTP API, for workers and for creators' tools.

    async with GridClient("https://atelier.example", api_key) as grid:
        job = await grid.generate({"kind": "music", "prompt": "late-night synthwave"})
        done = await grid.wait(job.id)
        path = await grid.download(job.id, Path("out"))

Errors come back as `GridError` carrying the server's problem+json (`slug`, `detail`).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from atelier.grid.schemas import ClusterOut, JobPayload, PopOut, StatusOut, SubmitOut, WorkerOut
from atelier.grid.states import TERMINAL_STATES


class GridError(Exception):
    def __init__(self, status: int, slug: str, detail: str, body: dict[str, Any]) -> None:
        super().__init__(f"{status} {slug}: {detail}")
        self.status = status
        self.slug = slug
        self.detail = detail
        self.body = body


@dataclass(frozen=True)
class WorkerCapabilities:
    name: str
    kinds: list[str]
    models: list[str]
    max_pixels: int = 4096 * 4096
    max_duration_s: float = 600.0
    version: str | None = None
    backends: list[dict[str, Any]] = field(default_factory=list)

    def body(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kinds": self.kinds,
            "models": self.models,
            "max_pixels": self.max_pixels,
            "max_duration_s": self.max_duration_s,
            "version": self.version,
            "backends": self.backends,
        }


class GridClient:
    def __init__(
        self,
        server: str,
        api_key: str,
        *,
        timeout_s: float = 60.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.server = server.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=server.rstrip("/"),
            headers={"User-Agent": "atelier-grid-client"}
            | ({"Authorization": f"Bearer {api_key}"} if api_key else {}),
            timeout=timeout_s,
            transport=transport,
        )

    async def __aenter__(self) -> GridClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        response = await self._http.request(method, url, **kwargs)
        if response.is_error:
            try:
                body = response.json()
            except ValueError:
                body = {"detail": response.text[:500]}
            slug = str(body.get("type", "")).removeprefix("/problems/") or "http-error"
            raise GridError(response.status_code, slug, str(body.get("detail", "")), body)
        return response

    # creators

    async def generate(self, body: dict[str, Any]) -> StatusOut:
        response = await self._call("POST", "/api/v1/generate", json=body)
        return StatusOut.model_validate(response.json())

    async def status(self, request_id: uuid.UUID | str) -> StatusOut:
        response = await self._call("GET", f"/api/v1/generate/status/{request_id}")
        return StatusOut.model_validate(response.json())

    async def cancel(self, request_id: uuid.UUID | str) -> StatusOut:
        response = await self._call("DELETE", f"/api/v1/generate/status/{request_id}")
        return StatusOut.model_validate(response.json())

    async def events(self, request_id: uuid.UUID | str) -> AsyncIterator[StatusOut]:
        """Status updates as the server streams them (SSE), until the job ends."""
        async with self._http.stream(
            "GET", f"/api/v1/generate/status/{request_id}/events", timeout=None
        ) as response:
            if response.is_error:
                await response.aread()
                await self._call("GET", f"/api/v1/generate/status/{request_id}")
            async for line in response.aiter_lines():
                if line.startswith("data: "):
                    yield StatusOut.model_validate(json.loads(line[6:]))

    async def wait(
        self, request_id: uuid.UUID | str, on_update: Callable[[StatusOut], None] | None = None
    ) -> StatusOut:
        last: StatusOut | None = None
        async for update in self.events(request_id):
            last = update
            if on_update is not None:
                on_update(update)
            if update.state in TERMINAL_STATES:
                return update
        return last or await self.status(request_id)

    async def download(
        self, request_id: uuid.UUID | str, directory: Path, *, part: str = "result"
    ) -> Path:
        """Save the signed result (or, with part="manifest", its sidecar manifest)."""
        await asyncio.to_thread(directory.mkdir, parents=True, exist_ok=True)
        url = f"/api/v1/generate/{request_id}/{part}"
        async with self._http.stream("GET", url) as response:
            if response.is_error:
                await response.aread()
                await self._call("GET", url)
            disposition = response.headers.get("content-disposition", "")
            name = (
                disposition.split("filename=")[-1].strip('"')
                if "filename=" in disposition
                else str(request_id)
            )
            target = directory / Path(name).name
            with target.open("wb") as handle:
                async for chunk in response.aiter_bytes():
                    handle.write(chunk)
        return target

    # workers

    async def register(self, caps: WorkerCapabilities) -> WorkerOut:
        response = await self._call("POST", "/api/v1/workers/register", json=caps.body())
        return WorkerOut.model_validate(response.json())

    async def heartbeat(self, name: str) -> WorkerOut:
        response = await self._call("POST", "/api/v1/workers/heartbeat", json={"name": name})
        return WorkerOut.model_validate(response.json())

    async def pop(self, caps: WorkerCapabilities) -> PopOut:
        response = await self._call("POST", "/api/v1/workers/pop", json=caps.body())
        return PopOut.model_validate(response.json())

    async def progress(self, job: JobPayload, percent: float) -> None:
        await self._call("POST", job.progress_url, json={"progress": percent})

    async def release(
        self, job: JobPayload, reason: str, *, failed: bool = False, job_at_fault: bool = False
    ) -> None:
        """Give a job back: `failed` when it could not be done (counts as a failure, unless
        `job_at_fault`: the job's parameters were unusable)."""
        body = {"reason": reason, "failed": failed, "cause": "job" if job_at_fault else "worker"}
        await self._call("POST", job.release_url, json=body)

    async def submit(
        self, job: JobPayload, path: Path, mime: str, compute_seconds: float, model: str
    ) -> SubmitOut:
        """Upload the result, naming the model that made it."""
        with path.open("rb") as handle:
            response = await self._call(
                "POST",
                job.submit_url,
                files={"file": (path.name, handle, mime)},
                data={"compute_seconds": f"{compute_seconds:.3f}", "model": model},
                timeout=600,
            )
        return SubmitOut.model_validate(response.json())

    async def cluster(self) -> ClusterOut:
        response = await self._call("GET", "/api/v1/workers/status")
        return ClusterOut.model_validate(response.json())

    async def unregister(self, worker_id: uuid.UUID | str) -> None:
        await self._call("DELETE", f"/api/v1/workers/{worker_id}")


async def poll_until(
    client: GridClient, request_id: uuid.UUID | str, interval_s: float = 0.5
) -> StatusOut:
    """The same as `wait`, by polling (for proxies that break SSE)."""
    while True:
        current = await client.status(request_id)
        if current.state in TERMINAL_STATES:
            return current
        await asyncio.sleep(interval_s)
