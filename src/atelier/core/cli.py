"""What every domain's CLI shares: a clear error exit, the server and API-key options, one
call to the HTTP API that turns every failure into a message, and one transaction for
operator commands that run where the database is reachable."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import httpx
import typer
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.config import Settings
from atelier.core.db import create_engine, resolve_database_url, session_factory
from atelier.core.errors import AppError

T = TypeVar("T")
err = Console(stderr=True)

ServerOption = Annotated[str, typer.Option(envvar="ATELIER_SERVER", help="Atelier URL")]
KeyOption = Annotated[
    str,
    typer.Option(envvar="ATELIER_API_KEY", help="Your API key (atl_live_…)", show_default=False),
]


def fail(message: str, code: int = 2) -> typer.Exit:
    """Print `message` as an error; raise the returned Exit."""
    err.print(f"[red]error:[/] {message}")
    return typer.Exit(code)


def api_call(method: str, url: str, *, timeout: float = 60, **kwargs: Any) -> Any:
    """The JSON answer of one API request; unreachable servers, answers that are not JSON
    (a proxy's HTML page) and problem+json errors all end the command with a message."""
    try:
        response = httpx.request(method, url, timeout=timeout, **kwargs)
    except httpx.HTTPError as exc:
        raise fail(f"cannot reach the server: {exc}") from None
    try:
        body = response.json()
    except ValueError:
        raise fail(f"{response.status_code} from {url}, not JSON") from None
    if response.is_error:
        detail = body.get("detail", body) if isinstance(body, dict) else body
        raise fail(f"{detail} ({response.status_code})")
    return body


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
