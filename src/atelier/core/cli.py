"""What every domain's CLI shares: a clear error exit, the server and API-key options, one
call to the HTTP API that turns every failure into a message, and one transaction for
operator commands that run where the database is reachable."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import httpx
import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession

from atelier.core.config import Settings
from atelier.core.db import create_engine, resolve_database_url, session_factory
from atelier.core.errors import AppError
from atelier.core.logging import is_sensitive

T = TypeVar("T")
err = Console(stderr=True)


def settings_or_exit(**overrides: Any) -> Settings:
    """The settings, or one line per bad one (the variable, and what it accepts) and exit 2:
    never a traceback for a typo in the environment."""
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as exc:
        for problem in exc.errors():
            name = "ATELIER_" + "_".join(str(part) for part in problem["loc"][:1]).upper()
            shown = "" if is_sensitive(name) else f"={str(problem.get('input'))[:60]!r}"
            err.print(f"[red]error:[/] {name}{shown} is not valid: {problem['msg']}")
        raise typer.Exit(2) from None


def default_server() -> str:
    """ATELIER_SERVER, else this installation's own address: ATELIER_PUBLIC_URL, or
    http://localhost:$ATELIER_PORT."""
    return os.environ.get("ATELIER_SERVER") or settings_or_exit().origin


def _server(value: str) -> str:
    return (value or default_server()).rstrip("/")


DEFAULT_SERVER = ""  # resolved by default_server() when the command runs
ServerOption = Annotated[
    str,
    typer.Option(
        envvar="ATELIER_SERVER",
        callback=_server,
        help="Atelier URL",
        show_default="$ATELIER_SERVER, else http://localhost:$ATELIER_PORT",
    ),
]
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
        raise fail(unreachable(url, exc)) from None
    try:
        body = response.json()
    except ValueError:
        raise fail(f"{response.status_code} from {url}, not JSON") from None
    if response.is_error:
        detail = body.get("detail", body) if isinstance(body, dict) else body
        raise fail(f"{detail} ({response.status_code})")
    return body


def unreachable(url: str, exc: Exception) -> str:
    where = str(getattr(getattr(exc, "request", None), "url", "") or url)
    return (
        f"cannot reach {where}: {exc or type(exc).__name__} (is Atelier running there? "
        "--server or ATELIER_SERVER chooses another)"
    )


def with_session(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run `work` in one committed transaction; an AppError becomes a clear message."""
    settings = settings_or_exit()

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
