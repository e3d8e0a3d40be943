"""`atelier up | serve | tasks | db …`: starting the platform and its parts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from atelier.core import migrate
from atelier.core.cli import settings_or_exit
from atelier.core.config import Settings
from atelier.core.db import redact_url, resolve_database_url
from atelier.core.logging import configure_logging
from atelier.core.ports import PortInUse, ensure_port_free
from atelier.server.runner import run_processes
from atelier.server.services import SERVICES

console = Console(stderr=True)
db_app = typer.Typer(help="The database: migrations and backups.", no_args_is_help=True)


def _check_port(settings: Settings) -> None:
    try:
        ensure_port_free(settings.host, settings.port)
    except PortInUse as exc:
        console.print(f"[red]error:[/] {exc}; choose another with --port or ATELIER_PORT")
        raise typer.Exit(2) from None


def _run(
    settings: Settings,
    url: str,
    *,
    services: list[str] | None,
    serve_http: bool,
    run_tasks: bool,
    on_ready: Callable[[], None],
    local_worker: bool = False,
) -> None:
    try:
        asyncio.run(
            run_processes(
                settings,
                url,
                services=services,
                serve_http=serve_http,
                run_tasks=run_tasks,
                local_worker=local_worker,
                on_ready=on_ready,
            )
        )
    except PortInUse as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None


def load_settings(**overrides: object) -> Settings:
    settings = settings_or_exit(**overrides)
    configure_logging(settings.log_level, settings.json_logs)
    return settings


def up(
    port: Annotated[int | None, typer.Option(help="HTTP port (default 8080)")] = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default 127.0.0.1)")] = None,
) -> None:
    """Start everything: database, migrations, every service's API, a task worker."""
    settings = load_settings(port=port, host=host)
    _check_port(settings)
    url = resolve_database_url(settings)
    migrate.upgrade(url)

    def ready() -> None:
        console.print(
            f"[bold green]Atelier is up[/] on {settings.origin}  "
            f"(API docs: {settings.origin}/docs; "
            f"data: {settings.home.resolve()}; database: {redact_url(url)}). Ctrl-C stops it."
        )

    _run(
        settings,
        url,
        services=None,
        serve_http=True,
        run_tasks=True,
        on_ready=ready,
        local_worker=settings.local_worker,
    )
    console.print("Atelier stopped.")


def serve(
    service: Annotated[list[str], typer.Argument(help=f"One or more of: {', '.join(SERVICES)}")],
    port: Annotated[int | None, typer.Option(help="HTTP port (default: the service's own)")] = None,
    host: Annotated[str | None, typer.Option(help="Bind address")] = None,
    migrate_db: Annotated[
        bool, typer.Option("--migrate/--no-migrate", help="Apply migrations first")
    ] = False,
) -> None:
    """Serve the routers of some services (no task worker: run `atelier tasks` for that)."""
    unknown = [s for s in service if s not in SERVICES]
    if unknown:
        console.print(f"[red]unknown service {', '.join(unknown)}[/]; known: {', '.join(SERVICES)}")
        raise typer.Exit(2)
    edge = [s for s in service if SERVICES[s].edge]
    if edge:
        if len(edge) != len(service):
            console.print("[red]camera, vault and solana (the camera node) are served apart[/]")
            raise typer.Exit(2)
        from atelier.camera.cli import run_services

        run_services(edge, camera_host=host)
        return
    settings = load_settings(port=port or SERVICES[service[0]].port, host=host)
    _check_port(settings)
    url = resolve_database_url(settings)
    if migrate_db or settings.database_url is None:
        migrate.upgrade(url)
    _run(
        settings,
        url,
        services=service,
        serve_http=True,
        run_tasks=False,
        on_ready=lambda: console.print(f"serving {', '.join(service)} on {settings.origin}"),
    )


def tasks(
    concurrency: Annotated[int | None, typer.Option(help="Jobs run at once")] = None,
) -> None:
    """Run a background task worker (outbox dispatch, emails, sweeps…)."""
    settings = load_settings(task_concurrency=concurrency)
    url = resolve_database_url(settings)
    if settings.database_url is None:
        migrate.upgrade(url)
    _run(
        settings,
        url,
        services=None,
        serve_http=False,
        run_tasks=True,
        on_ready=lambda: console.print("task worker running; Ctrl-C stops it"),
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Apply migrations up to REVISION (default: head)."""
    url = resolve_database_url(load_settings())
    migrate.upgrade(url, revision)
    console.print(f"database at {migrate.current_revision(url)}")


@db_app.command("downgrade")
def db_downgrade(revision: Annotated[str, typer.Argument()]) -> None:
    """Revert migrations down to REVISION ('base' for an empty schema)."""
    url = resolve_database_url(load_settings())
    migrate.downgrade(url, revision)
    console.print(f"database at {migrate.current_revision(url)}")


@db_app.command("current")
def db_current() -> None:
    """Show the database's revision and the code's head."""
    url = resolve_database_url(load_settings())
    console.print(
        f"database: {migrate.current_revision(url)}  code head: {migrate.head_revision()}"
    )


@db_app.command("backup")
def db_backup(
    out: Annotated[
        Path | None,
        typer.Option(help="Where to write it (default: $ATELIER_HOME/backups/atelier-<time>.dump)"),
    ] = None,
) -> None:
    """Back the whole database up with pg_dump (custom format: `pg_restore` reads it), the
    embedded one or ATELIER_DATABASE_URL's; the file is readable by its owner only."""
    import os
    import subprocess

    from atelier.core.clock import now_utc
    from atelier.core.embedded import libpq_environment, postgres_tool
    from atelier.core.secrets import ensure_private_dir

    settings = load_settings()
    url = resolve_database_url(settings)
    if out is None:
        ensure_private_dir(settings.home / "backups")
        out = settings.home / "backups" / f"atelier-{now_utc():%Y%m%d-%H%M%S}.dump"
    env = {**os.environ, **libpq_environment(url)}
    try:
        dump, restore = postgres_tool("pg_dump"), postgres_tool("pg_restore")
    except FileNotFoundError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(2) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as target:
        done = subprocess.run(  # noqa: S603 - PostgreSQL's own program, list argv
            [dump, "--format=custom", "--no-owner"],
            env=env,
            stdout=target,
            stderr=subprocess.PIPE,
            check=False,
        )
    if done.returncode != 0:
        out.unlink(missing_ok=True)
        console.print(
            f"[red]error:[/] pg_dump failed: {done.stderr.decode(errors='replace')[-500:]}"
        )
        raise typer.Exit(1)
    listed = subprocess.run(  # noqa: S603 - PostgreSQL's own program, list argv
        [restore, "--list", str(out)], capture_output=True, check=False
    )
    if listed.returncode != 0:
        problem = listed.stderr.decode(errors="replace")[-300:]
        console.print(f"[red]error:[/] the backup does not read back: {problem}")
        raise typer.Exit(1)
    tables = sum(1 for line in listed.stdout.decode().splitlines() if " TABLE DATA " in line)
    console.print(
        f"backed up {redact_url(url)} to {out} ({out.stat().st_size:,} bytes, {tables} tables)"
    )
