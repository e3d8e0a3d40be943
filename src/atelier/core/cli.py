"""What every domain's CLI shares: a clear error exit, and one transaction for operator
commands that run where the database is reachable."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.config import Settings
from atelier.core.db import create_engine, resolve_database_url, session_factory
from atelier.core.errors import AppError

T = TypeVar("T")
err = Console(stderr=True)


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `message` as an error; raise the returned Exit."""
    err.print(f"[red]error:[/] {message}")
    return typer.Exit(code)


def with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction; an AppError becomes a clear message."""
    settings = Settings()

    async def run() -> T:
        engine = create_engine(resolve_database_url(settings), pool_size=1)
        try:
            async with session_factory(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except AppError as exc:
        raise fail(exc.detail) from None
