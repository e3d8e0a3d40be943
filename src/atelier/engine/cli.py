"""`atelier models info|update|rollback`: the model registry from the server's shell."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.cli import settings_or_exit, with_session
from atelier.engine import flows, service

console = Console()
app = typer.Typer(
    help="Model versions, A/B tests and rollback (operator commands, run on the server).",
    no_args_is_help=True,
)

Capability = Annotated[str, typer.Argument(help=f"one of {', '.join(service.CAPABILITIES)}")]


@app.command("info")
def info() -> None:
    """Versions per capability with their aliases, status and quality score."""
    found = with_session(service.info)
    table = Table("capability", "version", "aliases", "status", "quality", "why")
    aliases = found.aliases_by_model()
    for version in found.versions:
        quality = (version.scores or {}).get("quality")
        table.add_row(
            version.capability,
            version.model_id,
            ", ".join(sorted(aliases.get(version.model_id, []))),
            version.status,
            "" if quality is None else f"{quality:.4f}",
            (version.status_reason or "")[:80],
        )
    console.print(table)


@app.command("update")
def update() -> None:
    """Check the catalog now (as the periodic check does): new versions are registered and
    their benchmarks start on the grid."""
    settings = settings_or_exit()
    fetched = asyncio.run(flows.fetch_from_provider(settings))
    if fetched is not None:
        for label in fetched.fetched:
            console.print(f"fetched {label} from the provider")
        for label, reason in fetched.refused.items():
            console.print(f"[red]refused[/] {label} from the provider: {reason}")
        if fetched.error:
            console.print(f"[red]provider:[/] {fetched.error}")

    async def check(session: AsyncSession) -> service.UpdateReport:
        return await flows.check_updates(session, settings, service.ENGINE)

    report = with_session(check)
    for model_id in report.found:
        console.print(f"found {model_id}: its benchmark starts on the grid within a minute")
    for model_id, reason in report.rejected.items():
        console.print(f"[red]rejected[/] {model_id}: {reason}")
    for path, reason in report.unreadable.items():
        console.print(f"[yellow]unreadable[/] {path}: {reason}")
    if not (report.found or report.rejected or report.unreadable):
        console.print("no new versions in the catalog")


@app.command("rollback")
def rollback(capability: Capability) -> None:
    """Restore CAPABILITY's previous champion (open for 7 days after a change)."""
    settings = settings_or_exit()

    async def restore(session: AsyncSession) -> tuple[str, str]:
        return await service.rollback(session, settings, capability, "cli")

    restored, replaced = with_session(restore)
    console.print(f"{capability}: {restored} is the champion again (was {replaced})")
