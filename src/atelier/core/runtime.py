"""The per-process runtime: settings, database engine, task app and adapters.

API handlers receive it through `request.app.state.runtime`; procrastinate tasks, which
have no request, reach the same object through `current_runtime()`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from psycopg_pool import AsyncConnectionPool
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from atelier.core.config import Settings
from atelier.core.db import HotConnection
from atelier.core.mail import Mailer


@dataclass
class Runtime:
    settings: Settings
    database_url: str
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    # Plain psycopg autocommit connections for the per-request hot paths (authentication,
    # dispatch): one prepared statement each, without the ORM's per-call overhead.
    hot: AsyncConnectionPool[HotConnection]
    tasks: Any  # procrastinate.App (untyped library)
    mailer: Mailer
    jwt_key: bytes
    # Per-process adapters a domain opens lazily and keeps (the EVM chain client), by name.
    adapters: dict[str, Any] = field(default_factory=dict)


_current: Runtime | None = None


def set_current_runtime(runtime: Runtime | None) -> None:
    global _current
    _current = runtime


def current_runtime() -> Runtime:
    if _current is None:
        raise RuntimeError("the Atelier runtime is not started in this process")
    return _current
