"""`atelier worker`, `atelier job submit|status|cancel`, `atelier workers`."""

from __future__ import annotations

import asyncio
import contextlib
import signal
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from atelier.core.cli import (
    DEFAULT_SERVER,
    KeyOption,
    ServerOption,
    err,
    fail,
    settings_or_exit,
    unreachable,
)
from atelier.core.logging import configure_logging
from atelier.generators.registry import CatalogLoader, available_backends
from atelier.grid.client import GridClient, GridError, WorkerCapabilities
from atelier.grid.schemas import StatusOut, WorkerOut
from atelier.grid.specs import KINDS
from atelier.grid.worker import WorkerLoop, catalog_refresh, default_name

console = Console()
job_app = typer.Typer(help="Submit generation jobs and follow them.", no_args_is_help=True)


def _run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except GridError as exc:
        raise fail(f"{exc.detail} ({exc.status} {exc.slug})") from None
    except httpx.HTTPError as exc:
        raise fail(unreachable("the server", exc)) from None


async def _register(
    client: GridClient, caps: WorkerCapabilities, loop: WorkerLoop
) -> WorkerOut | None:
    """Register, waiting out a server that is down or restarting (a volunteer's worker runs
    unattended); a refusal (a bad key, too many workers) ends the command. None: stopped."""
    wait = 1.0
    while not loop.stop.is_set():
        try:
            return await client.register(caps)
        except httpx.HTTPError as exc:
            err.print(f"[yellow]{unreachable(client.server, exc)}; retrying in {wait:g} s[/]")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(loop.stop.wait(), timeout=wait)
            wait = min(60.0, wait * 2)
    return None


def worker(
    server: ServerOption = DEFAULT_SERVER,
    api_key: KeyOption = "",
    name: Annotated[str | None, typer.Option(help="Worker name (default: host-worker)")] = None,
    kinds: Annotated[
        list[str] | None, typer.Option("--kinds", help=f"Only these kinds ({', '.join(KINDS)})")
    ] = None,
    max_pixels: Annotated[int, typer.Option(help="Largest image/frame, in pixels")] = 4096 * 4096,
    max_duration: Annotated[float, typer.Option(help="Longest audio/video, seconds")] = 600.0,
    max_jobs: Annotated[int | None, typer.Option(help="Exit after this many jobs")] = None,
    onnx_image_model: Annotated[
        Path | None,
        typer.Option(envvar="ATELIER_WORKER_ONNX_IMAGE_MODEL", help="ONNX image model to offer"),
    ] = None,
    catalog_dir: Annotated[
        Path | None,
        typer.Option(
            "--catalog",
            envvar="ATELIER_MODEL_CATALOG",
            help="Model catalog: offer its versions whose weights match their sha256",
        ),
    ] = None,
) -> None:
    """Run a volunteer worker: pull jobs from SERVER, generate, upload. Ctrl-C finishes the
    current job and exits; a second Ctrl-C gives it back to the queue at once."""
    if not api_key:
        raise fail("an API key is required: --api-key or ATELIER_API_KEY")
    settings = settings_or_exit()
    configure_logging(settings.log_level, settings.json_logs)
    unknown = [k for k in kinds or [] if k not in KINDS]
    if unknown:
        raise fail(f"unknown kinds {', '.join(unknown)}; kinds are {', '.join(KINDS)}")
    try:
        builtins, missing = available_backends(onnx_image_model)
    except (FileNotFoundError, ValueError) as exc:
        raise fail(str(exc)) from None
    refresh = catalog_refresh(
        name or default_name(),
        builtins,
        CatalogLoader(catalog_dir),
        kinds,
        max_pixels,
        max_duration,
    )
    backends, caps = refresh()
    for reason in missing:
        err.print(f"[yellow]note:[/] {reason}")
    if not caps.kinds:
        raise fail("this machine can offer none of the requested kinds")

    async def main() -> int:
        async with GridClient(server, api_key) as client:
            loop = WorkerLoop(client, caps, backends, max_jobs=max_jobs, refresh=refresh)
            running = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                running.add_signal_handler(sig, loop.request_stop)
            registered = await _register(client, caps, loop)
            if registered is None:
                return 0
            console.print(
                f"worker [bold]{caps.name}[/] ({registered.id}) serving {', '.join(caps.kinds)} "
                f"for {server}; Ctrl-C to stop"
            )
            await loop.run()
            console.print(f"worker stopped after {loop.done} job(s)")
            return loop.done

    _run(main())


@job_app.command("submit")
def job_submit(
    prompt: Annotated[str, typer.Option(help="What to make")],
    kind: Annotated[str, typer.Option(help=", ".join(KINDS))] = "music",
    server: ServerOption = DEFAULT_SERVER,
    api_key: KeyOption = "",
    out: Annotated[Path, typer.Option(help="Where to save the result")] = Path("outputs"),
    width: Annotated[int | None, typer.Option()] = None,
    height: Annotated[int | None, typer.Option()] = None,
    duration: Annotated[float | None, typer.Option(help="Seconds (music, video)")] = None,
    bpm: Annotated[int | None, typer.Option()] = None,
    genre: Annotated[str | None, typer.Option()] = None,
    voice: Annotated[str | None, typer.Option(help="espeak-ng voice, e.g. en-us")] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="png, jpeg, exr, wav, mp4")] = None,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow until done")] = True,
) -> None:
    """Submit a job, follow it with a progress bar, and download the result."""
    if not api_key:
        raise fail("an API key is required: --api-key or ATELIER_API_KEY")
    body = {
        "kind": kind,
        "prompt": prompt,
        "width": width,
        "height": height,
        "duration_s": duration,
        "bpm": bpm,
        "genre": genre,
        "voice": voice,
        "seed": seed,
        "format": fmt,
    }
    body = {k: v for k, v in body.items() if v is not None}

    async def main() -> None:
        async with GridClient(server, api_key) as client:
            job = await client.generate(body)
            console.print(f"job {job.id} queued (position {job.queue_position})")
            if not job.is_possible:
                err.print(f"[yellow]warning:[/] {job.reason}")
            if not wait:
                return
            final = await _follow(client, job)
            if final.state != "done":
                raise fail(f"job {final.state}: {final.reason or 'no reason given'}")
            result = final.result or {}
            path = await client.download(job.id, out)
            console.print(f"[bold green]done[/] {path}")
            if result.get("manifest_url"):
                sidecar = await client.download(job.id, out, part="manifest")
                console.print(f"  manifest {sidecar} (sidecar: check both with atelier verify)")
            console.print(f"  artifact {result.get('artifact_id')} (atelier sign needs it)")
            console.print(f"  sha256 {result.get('sha256')}")
            if result.get("signing") == "failed":
                err.print(f"[yellow]warning:[/] {final.reason}")

    _run(main())


async def _follow(client: GridClient, job: StatusOut) -> StatusOut:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>5.1f}%"),
        TimeElapsedColumn(),
        console=console,
    ) as bar:
        task = bar.add_task(f"{job.kind} {job.state}", total=100)

        def update(status: StatusOut) -> None:
            where = f" (#{status.queue_position} in queue)" if status.state == "queued" else ""
            bar.update(
                task, completed=status.progress, description=f"{status.kind} {status.state}{where}"
            )

        return await client.wait(job.id, update)


@job_app.command("status")
def job_status(job_id: str, server: ServerOption = DEFAULT_SERVER, api_key: KeyOption = "") -> None:
    """Show a job's state, queue position, progress and result."""

    async def main() -> StatusOut:
        async with GridClient(server, api_key) as client:
            return await client.status(job_id)

    status = _run(main())
    table = Table(show_header=False)
    for key in (
        "id",
        "kind",
        "state",
        "queue_position",
        "eta_s",
        "progress",
        "attempts",
        "is_possible",
        "reason",
        "result_url",
    ):
        table.add_row(key, str(getattr(status, key)))
    if status.result:
        for key in ("artifact_id", "sha256", "signing", "model"):
            table.add_row(key, str(status.result.get(key)))
    console.print(table)


@job_app.command("cancel")
def job_cancel(job_id: str, server: ServerOption = DEFAULT_SERVER, api_key: KeyOption = "") -> None:
    """Cancel a job that has not finished (its quota is given back)."""

    async def main() -> StatusOut:
        async with GridClient(server, api_key) as client:
            return await client.cancel(job_id)

    console.print(f"job {job_id}: {_run(main()).state}")


def workers(server: ServerOption = DEFAULT_SERVER) -> None:
    """The grid's workers and queue, as anyone can see them."""

    async def main() -> Any:
        async with GridClient(server, "") as client:
            return await client.cluster()

    cluster = _run(main())
    table = Table(
        "name",
        "state",
        "kinds",
        "done",
        "failed",
        "dropped",
        "compute s",
        "canaries",
        "last seen",
        title=f"{cluster.active} active · {cluster.queued} queued · "
        f"{cluster.in_progress} in progress",
    )
    for w in cluster.workers:
        state = w.state if not w.maintenance_reason else f"{w.state}: {w.maintenance_reason}"
        table.add_row(
            w.name,
            state,
            ",".join(w.kinds),
            str(w.jobs_done),
            str(w.jobs_failed),
            str(w.jobs_dropped),
            f"{w.compute_seconds:.1f}",
            f"{w.canaries_passed} passed, {w.canaries_failed} failed"
            + (f": {w.canary_failure}" if w.canary_failure else ""),
            w.last_seen_at.isoformat(timespec="seconds"),
        )
    console.print(table)
