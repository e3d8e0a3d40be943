"""Process runners behind `atelier up`, `atelier serve` and `atelier tasks`.

One asyncio loop per process holds the API server and/or the task worker. We own SIGINT and
SIGTERM: both stop the server and the worker gracefully and return normally, so the
embedded PostgreSQL is stopped by pgserver's exit hook instead of being orphaned (uvicorn's
own handling re-raises the signal after shutdown, which for SIGTERM skips exit hooks).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from collections.abc import Callable, Generator
from typing import Any

import uvicorn

from atelier.core.config import Settings
from atelier.core.logging import get_logger
from atelier.core.ports import PortInUse
from atelier.core.runtime import Runtime
from atelier.core.secrets import ensure_private_dir
from atelier.core.startup import close_runtime, open_runtime
from atelier.core.transactions import unit_of_work
from atelier.generators.registry import CatalogLoader, available_backends
from atelier.grid.client import GridClient
from atelier.grid.service import provision_local_worker
from atelier.grid.worker import WorkerLoop, catalog_refresh
from atelier.server.app import create_app, settle_collector
from atelier.server.modules import task_blueprints

log = get_logger("atelier.runner")


class _QuietSignalsServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


def _install_stop_handlers(stop: Callable[[], None]) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop)


async def _run_worker(runtime: Runtime, concurrency: int) -> None:
    await runtime.tasks.run_worker_async(
        concurrency=concurrency,
        install_signal_handlers=False,
        wait=True,
        shutdown_graceful_timeout=20,
        name="atelier-tasks",
    )


async def _stop_worker(task: asyncio.Task[Any]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await asyncio.wait_for(task, timeout=30)


async def _start_local_worker(runtime: Runtime) -> tuple[WorkerLoop, asyncio.Task[None]]:
    """The built-in worker with the offline backends, talking HTTP to this very server."""
    async with unit_of_work(runtime) as session:
        api_key = await provision_local_worker(session)
    builtins, missing = available_backends(runtime.settings.worker_onnx_image_model)
    for reason in missing:
        log.warning("local_worker.backend_missing", reason=reason)
    refresh = catalog_refresh(
        "local",
        builtins,
        CatalogLoader(runtime.settings.catalog_dir),
        None,
        runtime.settings.grid_max_pixels,
        600.0,
    )
    backends, caps = await asyncio.to_thread(refresh)
    client = GridClient(f"http://127.0.0.1:{runtime.settings.port}", api_key)
    loop = WorkerLoop(
        client,
        caps,
        backends,
        workdir=runtime.settings.uploads_dir,
        idle_poll_s=1.0,
        refresh=refresh,
    )
    ensure_private_dir(runtime.settings.uploads_dir)
    return loop, asyncio.create_task(loop.run())


async def run_processes(
    settings: Settings,
    database_url: str,
    *,
    services: list[str] | None,
    serve_http: bool,
    run_tasks: bool,
    local_worker: bool = False,
    on_ready: Callable[[], None] | None = None,
) -> None:
    runtime = await open_runtime(settings, database_url, blueprints=task_blueprints())
    stopping = asyncio.Event()
    _install_stop_handlers(stopping.set)
    worker = (
        asyncio.create_task(_run_worker(runtime, settings.task_concurrency)) if run_tasks else None
    )
    local: tuple[WorkerLoop, asyncio.Task[None]] | None = None
    try:
        if not serve_http:
            if on_ready is not None:
                on_ready()
            await stopping.wait()
            log.info("shutdown.requested")
            return
        app = create_app(settings, services=services, runtime=runtime)
        settle_collector()
        # proxy_headers off: uvicorn would believe X-Forwarded-For from any local peer; the
        # client address is ours to resolve (ATELIER_TRUSTED_PROXIES, core.http).
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_config=None,
            access_log=False,
            lifespan="on",
            server_header=False,
            proxy_headers=False,
            # events are small JSON messages sent to many clients: compressing each one per
            # connection costs more CPU (and ~300 KB of zlib state a client) than it saves
            ws_per_message_deflate=False,
        )
        server = _QuietSignalsServer(config)
        serving = asyncio.create_task(server.serve())
        # uvicorn exposes readiness only as a flag
        while not server.started and not serving.done():  # noqa: ASYNC110
            await asyncio.sleep(0.02)
        if server.started:
            if local_worker:
                local = await _start_local_worker(runtime)
            if on_ready is not None:
                on_ready()
            stop_wait = asyncio.create_task(stopping.wait())
            await asyncio.wait({serving, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
            stop_wait.cancel()
            log.info("shutdown.requested")
            if local is not None:  # hand its job back while the API still answers
                local[0].request_stop()
                local[0].request_stop()
                with contextlib.suppress(asyncio.TimeoutError, Exception):
                    await asyncio.wait_for(local[1], timeout=15)
                await local[0].client.close()
            server.should_exit = True
        try:
            await serving
        except SystemExit:  # uvicorn's way of saying it could not start
            raise PortInUse(f"could not serve on {settings.host}:{settings.port}") from None
    finally:
        if worker is not None:
            await _stop_worker(worker)
        await close_runtime(runtime)
