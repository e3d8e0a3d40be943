"""Database access: one async SQLAlchemy engine per process over psycopg 3.

The libpq URL is the single source of truth; SQLAlchemy gets it with the `+psycopg`
driver and procrastinate gets it unchanged.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from psycopg import AsyncConnection
from sqlalchemy import DateTime, MetaData
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from atelier.core.config import Settings
from atelier.core.embedded import start_embedded_postgres

# A plain psycopg autocommit connection from `Runtime.hot`, for per-request hot paths.
HotConnection = AsyncConnection[tuple[Any, ...]]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: dict[Any, Any] = {datetime: DateTime(timezone=True)}


def resolve_database_url(settings: Settings) -> str:
    """The libpq URL of the configured database, starting the embedded one if none is set."""
    if settings.database_url is not None:
        return settings.database_url.get_secret_value()
    return start_embedded_postgres(settings.home)


def sqlalchemy_url(libpq_url: str) -> str:
    scheme, _, rest = libpq_url.partition("://")
    if scheme not in {"postgres", "postgresql", "postgresql+psycopg"}:
        raise ValueError("ATELIER_DATABASE_URL must be a postgresql:// URL")
    return f"postgresql+psycopg://{rest}"


def redact_url(libpq_url: str) -> str:
    """A URL fit for a log line: the password, if any, replaced by ***."""
    scheme, sep, rest = libpq_url.partition("://")
    userinfo, at, hostpart = rest.rpartition("@")
    if at and ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{hostpart}"
    return libpq_url


def create_engine(libpq_url: str, *, pool_size: int = 40) -> AsyncEngine:
    """Connections beyond `pool_size` are opened and closed per use, and a PostgreSQL
    connection costs a process fork: size the pool for the expected concurrency."""
    return create_async_engine(
        sqlalchemy_url(libpq_url),
        pool_size=pool_size,
        max_overflow=10,
        pool_pre_ping=False,
    )


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)
