"""`atelier camera`: the whole camera node (camera, vault, Solana middleware) in one process."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated

import typer
from rich.console import Console

from atelier.camera.faces import ModelMissing
from atelier.camera.runner import SERVICES, port_of, serve
from atelier.core.cli import settings_or_exit
from atelier.core.logging import configure_logging
from atelier.core.ports import PortInUse, ensure_port_free

console = Console(stderr=True)


def run_services(services: list[str], **overrides: object) -> None:
    """Serve some of the node's services (the rest are reached at their configured URLs)."""
    settings = settings_or_exit(**overrides)
    configure_logging(settings.log_level, settings.json_logs)
    for name in services:
        try:
            ensure_port_free(settings.camera_host, port_of(settings, name))
        except PortInUse as exc:
            console.print(f"[red]error:[/] {exc}")
            raise typer.Exit(2) from None
    shown = ", ".join(f"{n} on {settings.camera_host}:{port_of(settings, n)}" for n in services)
    console.print(f"[bold green]camera node[/] {settings.camera_name}: {shown}. Ctrl-C stops it.")
    try:
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(serve(settings, services))
    except ModelMissing as exc:
        console.print(f"[red]error:[/] a model file is missing: {exc}")
        raise typer.Exit(2) from None


def camera(
    source: Annotated[
        str | None,
        typer.Option(help="V4L2 device, RTSP/HTTP URL or video file (ATELIER_CAMERA_SOURCE)"),
    ] = None,
    name: Annotated[str | None, typer.Option(help="This camera's name")] = None,
) -> None:
    """Run the camera node on this machine: the camera (5002), its biometric vault (5003) and
    its Solana middleware (5001), all on loopback unless ATELIER_CAMERA_HOST says otherwise."""
    run_services(list(SERVICES), camera_source=source, camera_name=name)
