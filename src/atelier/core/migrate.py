"""Alembic, driven from code so `atelier db upgrade` works from an installed package."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine as create_sync_engine
from sqlalchemy.ext.asyncio import AsyncEngine

from atelier.core.db import sqlalchemy_url


def alembic_config(libpq_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", "atelier:migrations")
    config.set_main_option("sqlalchemy.url", sqlalchemy_url(libpq_url).replace("%", "%%"))
    return config


def upgrade(libpq_url: str, revision: str = "head") -> None:
    command.upgrade(alembic_config(libpq_url), revision)


def downgrade(libpq_url: str, revision: str) -> None:
    command.downgrade(alembic_config(libpq_url), revision)


def head_revision() -> str | None:
    script = ScriptDirectory.from_config(alembic_config("postgresql://unused/unused"))
    return script.get_current_head()


def current_revision(libpq_url: str) -> str | None:
    engine = create_sync_engine(sqlalchemy_url(libpq_url))
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


async def schema_revision(engine: AsyncEngine) -> str | None:
    """The revision the running database is at, through the process's own pool."""
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda sync_conn: MigrationContext.configure(sync_conn).get_current_revision()
        )
