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
import socket
from collections.abc import Callable, Generator
from typing import Any

import uvicorn

from atelier.core.config import Settings
from atelier.core.logging import get_logger
from atelier.core.runtime import Runtime
from atelier.web.app import close_runtime, create_app, open_runtime

log = get_logger("atelier.runner")


class PortInUse(Exception):
    pass


def ensure_port_free(host: str, port: int) -> None:
    """Fail before starting anything when the port is taken (uvicorn would exit mid-startup)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise PortInUse(f"cannot listen on {host}:{port}: {exc.strerror}") from None


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


async def run_processes(
    settings: Settings,
    database_url: str,
    *,
    services: list[str] | None,
    serve_http: bool,
    run_tasks: bool,
    on_ready: Callable[[], None] | None = None,
) -> None:
    runtime = await open_runtime(settings, database_url)
    stopped = asyncio.Event()
    server: uvicorn.Server | None = None

    def stop() -> None:
        if not stopped.is_set():
            log.info("shutdown.requested")
        stopped.set()
        if server is not None:
            server.should_exit = True

    _install_stop_handlers(stop)
    worker = (
        asyncio.create_task(_run_worker(runtime, settings.task_concurrency)) if run_tasks else None
    )
    try:
        if serve_http:
            app = create_app(settings, services=services, runtime=runtime)
            config = uvicorn.Config(
                app, host=settings.host, port=settings.port, log_config=None,
                access_log=False, lifespan="on", server_header=False,
            )  # fmt: skip
            server = _QuietSignalsServer(config)
            serving = asyncio.create_task(server.serve())
            # uvicorn exposes readiness only as a flag
            while not server.started and not serving.done():  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            if server.started and on_ready is not None:
                on_ready()
            try:
                await serving
            except SystemExit:  # uvicorn's way of saying it could not start
                raise PortInUse(f"could not serve on {settings.host}:{settings.port}") from None
        else:
            if on_ready is not None:
                on_ready()
            await stopped.wait()
    finally:
        if worker is not None:
            await _stop_worker(worker)
        await close_runtime(runtime)
